"""Features of images: one vector per image, computed once and kept beside the labels.

Vectors live in the output folder, one Parquet file per computed batch::

    features/<embedder>/<time ms>-<random>.parquet    image_id, size, ok, sha, phash, vector

``vector`` is a fixed-size list of float16 (half the bytes of float32; cosine similarity and a
linear model lose nothing measurable at that precision). ``sha`` (the first 128 bits of the
SHA-256 of the bytes) and ``phash`` (a 64-bit DCT perceptual hash) come with every batch
whatever the embedder, for :mod:`jupyter_labeler.duplicates`. ``ok`` is False for an image
that cannot be decoded: it keeps a row (so that it is not tried again) with a zero vector.

Computing is incremental: only images with no row yet, or whose size changed, are computed, so
that a second run after a sync computes the new images only, and every annotator of the dataset
shares what one of them computed. Images that left the dataset are dropped from the files at
the next compaction (:func:`prune`). The journal reads only ``journal/`` and ``snapshots/``:
nothing here can disturb opening, compaction or exports.

The built-in embedder needs no model and no download: a descriptor of a 32x32 reduction of the
image (JPEGs scaled down while decoding): a joint RGB colour histogram (4x4x4 bins), a coarse
grey layout (8x8), and a histogram of gradient orientations (8 orientations in 4x4 cells),
each block L2-normalised, then the whole: 256 numbers. Any callable taking a list of PIL images
and returning a 2-D array plugs in instead, e.g. a torchvision model::

    import torch, torchvision
    weights = torchvision.models.ResNet18_Weights.DEFAULT
    model = torchvision.models.resnet18(weights=weights).eval()
    model.fc = torch.nn.Identity()
    embed = lambda images: model(torch.stack([weights.transforms()(im) for im in images])).detach().numpy()
    ds.compute_features(embed, name="resnet18")

With a ``dask.distributed`` client, the batches run on the cluster: each worker reads its images
from the store itself. The store (and the credentials in its storage options) travels once,
scattered, inside a wrapper whose repr hides it: task graphs name only its key.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from .errors import ImageDecodeError
from .images import MAX_FILE_BYTES, decode_rgb
from .parquet import read_parquet
from .storage import Store

__all__ = [
    "BUILTIN",
    "FEATURES_DIR",
    "ComputeSummary",
    "FeatureStore",
    "Features",
    "builtin_embedder",
    "compute",
    "prune",
]

log = logging.getLogger(__name__)

FEATURES_DIR = "features"
BUILTIN = "builtin"
# Images per Parquet file (and per task on a cluster): large enough that a million images make
# a few hundred files, small enough that a crash loses little and progress moves.
BATCH_SIZE = 1000
# The side of the image a callable embedder gets at most (models resize to ~224 anyway).
MODEL_IMAGE_SIZE = 256
_GRID = 32  # the built-in descriptor and the perceptual hash work on a 32x32 reduction
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FILE = re.compile(r"^[0-9]{13}-[0-9a-f]{32}\.parquet$")

Embedder = Callable[[list[Image.Image]], Any]
ProgressFn = Callable[[int, int], None]


def check_name(name: object) -> str:
    """``name`` if it can name a folder of features; ValueError saying what can otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "name the embedder's features with name=: 1 to 64 letters, digits, '.', '_' or '-' "
            f"(not {name!r})"
        )
    return name


def embedder_name(embedder: str | Embedder, name: str | None = None) -> str:
    """The folder name of an embedder's features: ``name``, "builtin", or the callable's name."""
    if isinstance(embedder, str) and embedder != BUILTIN:
        raise ValueError(f"embedder must be {BUILTIN!r} or a callable, not {embedder!r}")
    if name is None:
        name = embedder if isinstance(embedder, str) else getattr(embedder, "__name__", "")
    return check_name(name)


# -- decoding and the built-in descriptor ----------------------------------------------------------
def _decode(data: bytes | Exception, side: int) -> Image.Image:
    """An RGB image fitting ``side`` x ``side`` at least roughly (JPEGs scaled while decoding)."""
    if isinstance(data, Exception):
        raise ImageDecodeError(f"cannot be read ({data})")
    return decode_rgb(data, side)


def _grid(im: Image.Image) -> np.ndarray:
    """The 32x32x3 uint8 reduction every built-in number comes from."""
    small = im.resize((_GRID, _GRID), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small, dtype=np.uint8)


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def describe(grids: np.ndarray) -> np.ndarray:
    """The built-in descriptor of a batch of 32x32 RGB grids (B, 32, 32, 3) -> (B, 256) float32."""
    b = len(grids)
    if not b:
        return np.zeros((0, 256), np.float32)
    rgb = grids.astype(np.int32)
    # Joint colour histogram, 4 levels a channel; square roots make cosine compare it fairly.
    q = rgb >> 6
    idx = (q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).reshape(b, -1)
    idx += (np.arange(b) * 64)[:, None]
    colour = np.bincount(idx.ravel(), minlength=64 * b).reshape(b, 64).astype(np.float32)
    colour = _l2(np.sqrt(colour))
    grey = grids.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    # Coarse layout: 8x8 block means, centred so that it speaks of shape, not brightness.
    layout = grey.reshape(b, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(b, 64)
    layout = _l2(layout - layout.mean(axis=1, keepdims=True))
    # Gradient orientations (unsigned, 8 bins) weighted by magnitude, in 4x4 cells of 8x8 px.
    padded = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
    gx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    gy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    magnitude = np.sqrt(gx * gx + gy * gy)
    angle = np.arctan2(gy, gx) % np.pi
    ori = np.minimum((angle * (8 / np.pi)).astype(np.int32), 7)
    cell = (np.arange(_GRID)[:, None] // 8) * 4 + (np.arange(_GRID)[None, :] // 8)
    bins = (cell[None] * 8 + ori) + (np.arange(b) * 128)[:, None, None]
    hog = np.bincount(bins.ravel(), weights=magnitude.ravel(), minlength=128 * b)
    hog = _l2(np.sqrt(hog.reshape(b, 128).astype(np.float32)))
    return _l2(np.concatenate([colour, layout, hog], axis=1)).astype(np.float32)


def builtin_embedder(images: Sequence[Image.Image]) -> np.ndarray:
    """The built-in descriptor of PIL images (see the module docstring): (len, 256) float32."""
    grids = np.stack([_grid(im.convert("RGB")) for im in images]) if images else np.zeros(0)
    return describe(grids)


def perceptual_hashes(grids: np.ndarray) -> np.ndarray:
    """64-bit DCT hashes of 32x32 grids: the signs of the 8x8 lowest frequencies vs their median."""
    from scipy.fft import dctn

    if not len(grids):
        return np.zeros(0, np.uint64)
    grey = grids.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    low = dctn(grey, axes=(1, 2), norm="ortho")[:, :8, :8].reshape(len(grids), 64)
    median = np.median(low[:, 1:], axis=1, keepdims=True)  # the DC term would dominate it
    bits = (low > median).astype(np.uint64)
    return (bits << np.arange(64, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


# -- one batch ------------------------------------------------------------------------------------
@dataclass
class Batch:
    """Images to compute: ids, paths and sizes, aligned."""

    ids: list[str]
    paths: list[str]
    sizes: list[int]


def embed(
    blobs: Sequence[bytes | Exception],
    embedder: str | Embedder,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(vectors float16, ok, phash, sha) for the bytes of a batch of images."""
    side = _GRID if embedder == BUILTIN else MODEL_IMAGE_SIZE

    def one(data: bytes | Exception) -> tuple[np.ndarray | None, Image.Image | None]:
        try:
            im = _decode(data, side)
        except ImageDecodeError:
            return None, None
        except Exception:  # an odd Pillow failure: this image gets no vector, the batch goes on
            log.debug("features: an image could not be decoded", exc_info=True)
            return None, None
        grid = _grid(im)
        if embedder != BUILTIN:
            im.thumbnail((MODEL_IMAGE_SIZE, MODEL_IMAGE_SIZE), Image.Resampling.BICUBIC)
            return grid, im
        return grid, None

    decoded = list(pool.map(one, blobs)) if pool is not None else [one(d) for d in blobs]
    ok = np.asarray([g is not None for g, _ in decoded], dtype=bool)
    grids = np.stack([g for g, _ in decoded if g is not None]) if ok.any() else np.zeros(0)
    hashes = np.zeros(len(blobs), np.uint64)
    hashes[ok] = perceptual_hashes(grids)
    if embedder == BUILTIN:
        got = describe(grids)
    else:
        assert callable(embedder)
        got = np.asarray(embedder([im for _, im in decoded if im is not None]), dtype=np.float32)
        if got.ndim != 2 or got.shape[0] != int(ok.sum()):
            raise ValueError(
                f"the embedder must return one row per image: got shape {got.shape} "
                f"for {int(ok.sum())} images"
            )
    vectors = np.zeros((len(blobs), got.shape[1] if got.ndim == 2 else 0), np.float16)
    vectors[ok] = got.astype(np.float16)
    sha = [
        hashlib.sha256(d).hexdigest()[:32] if isinstance(d, bytes | bytearray) else ""
        for d in blobs
    ]
    return vectors, ok, hashes, sha


def _table(
    batch: Batch, vectors: np.ndarray, ok: np.ndarray, phash: np.ndarray, sha: list[str]
) -> pa.Table:
    dim = vectors.shape[1]
    return pa.table(
        {
            "image_id": pa.array(batch.ids, pa.string()),
            "size": pa.array(batch.sizes, pa.int64()),
            "ok": pa.array(ok, pa.bool_()),
            "sha": pa.array(sha, pa.string()),
            "phash": pa.array(phash, pa.uint64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), dim),
        }
    )


def embed_batch(
    source: Store,
    batch: Batch,
    embedder: str | Embedder,
    pool: ThreadPoolExecutor | None = None,
    blobs: dict[str, bytes | Exception] | None = None,
) -> pa.Table:
    """Read a batch's images from ``source`` (unless given) and compute its table."""
    if blobs is None:
        blobs = source.read_many(sorted(set(batch.paths)), limit=MAX_FILE_BYTES)
    vectors, ok, phash, sha = embed([blobs[p] for p in batch.paths], embedder, pool)
    return _table(batch, vectors, ok, phash, sha)


class _Sealed:
    """Holds a Store (with its credentials) for the trip to a worker; its repr shows nothing."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __repr__(self) -> str:
        return "<store, sealed>"

    __str__ = __repr__


def _remote_batch(sealed: _Sealed, batch: Batch, embedder: str | Embedder) -> pa.Table:
    """A cluster task: read the batch from the store and compute it on the worker."""
    return embed_batch(sealed.store, batch, embedder)


# -- storage --------------------------------------------------------------------------------------
@dataclass
class Features:
    """The features of one embedder as loaded: arrays aligned by row (one row per image id)."""

    ids: np.ndarray  # object (str)
    sizes: np.ndarray  # int64
    ok: np.ndarray  # bool
    sha: np.ndarray  # object (str)
    phash: np.ndarray  # uint64
    vectors: np.ndarray  # float16 (n, d)
    files: frozenset[str] = frozenset()
    _row: pd.Index | None = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<Features: {len(self.ids)} images, {self.vectors.shape[1]} numbers each>"

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The row of each id, -1 where it has none."""
        if self._row is None:
            # A pandas hash index: a million lookups take a fraction of a second.
            self._row = pd.Index(self.ids, dtype=object)
        wanted = ids if isinstance(ids, pd.Index | np.ndarray) else list(ids)
        return np.asarray(self._row.get_indexer(wanted), dtype=np.int64)

    @classmethod
    def from_table(cls, table: pa.Table, files: frozenset[str] = frozenset()) -> Features:
        vec = table.column("vector").combine_chunks() if table.num_rows else None
        dim = vec.type.list_size if vec is not None else 0
        flat = np.asarray(vec.flatten()) if vec is not None else np.zeros(0, np.float16)
        return cls(
            ids=np.asarray(table.column("image_id").to_pylist(), dtype=object),
            sizes=table.column("size").to_numpy(),
            ok=table.column("ok").to_numpy(zero_copy_only=False),
            sha=np.asarray(table.column("sha").to_pylist(), dtype=object),
            phash=table.column("phash").to_numpy(),
            vectors=flat.astype(np.float16, copy=False).reshape(-1, dim)
            if dim
            else np.zeros((0, 0), np.float16),
            files=files,
        )


class FeatureStore:
    """The Parquet files of one embedder under ``features/<name>/`` in the output folder."""

    def __init__(self, output: Store, name: str) -> None:
        self.output = output
        self.name = check_name(name)
        self.folder = f"{FEATURES_DIR}/{self.name}"

    def files(self) -> list[str]:
        """This embedder's batch files, oldest first (their names sort by time)."""
        found = self.output.list(self.folder)
        names = [rel.rsplit("/", 1)[-1] for rel in found]
        return sorted(n for n in names if _FILE.match(n))

    def write(self, table: pa.Table) -> str:
        name = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex}.parquet"
        out = io.BytesIO()
        pq.write_table(table, out, compression="zstd")
        self.output.write(f"{self.folder}/{name}", out.getvalue(), durable=False)
        return name

    def read(self, names: list[str], columns: list[str] | None = None) -> pa.Table | None:
        """The rows of these files, the newest row of each image id; None when there are none."""
        if not names:
            return None
        got = self.output.read_many([f"{self.folder}/{n}" for n in names])
        tables = []
        for n in names:
            data = got[f"{self.folder}/{n}"]
            if isinstance(data, Exception):
                # Pruned by another writer meanwhile, or damaged: its images get computed again.
                log.warning("features %s/%s: skipped (%s)", self.folder, n, data)
                continue
            try:
                tables.append(read_parquet(data, columns))
            except Exception as exc:  # a damaged or foreign file must not stop the others
                log.warning("features %s/%s: cannot be read (%s); skipped", self.folder, n, exc)
        if not tables:
            return None
        try:
            table = pa.concat_tables(tables, promote_options="none")
        except pa.ArrowInvalid:
            # Different vector lengths (the embedder changed): keep the newest files' kind.
            wanted = tables[-1].schema
            table = pa.concat_tables([t for t in tables if t.schema.equals(wanted)])
        return _newest_per_id(table)

    def load(self, cached: Features | None = None) -> Features | None:
        """Every stored feature, reading only files that ``cached`` has not read yet."""
        names = self.files()
        if cached is not None and cached.files == frozenset(names):
            return cached
        if cached is not None and cached.files <= frozenset(names):
            new = [n for n in names if n not in cached.files]
            table = self.read(new)
            if table is None:
                return cached
            return _merge(cached, Features.from_table(table), frozenset(names))
        table = self.read(names)
        return Features.from_table(table, frozenset(names)) if table is not None else None


def _newest_per_id(table: pa.Table) -> pa.Table:
    ids = table.column("image_id").to_numpy(zero_copy_only=False)
    if len(ids) == len(set(ids.tolist())):
        return table
    # Later rows (newer files) win: keep the last occurrence of each id.
    reverse = ids[::-1]
    _, first = np.unique(reverse, return_index=True)
    keep = np.sort(len(ids) - 1 - first)
    return table.take(pa.array(keep))


def _merge(old: Features, new: Features, files: frozenset[str]) -> Features:
    if old.vectors.shape[1] != new.vectors.shape[1]:
        return new
    stale = np.isin(old.ids, new.ids)
    keep = ~stale
    return Features(
        ids=np.concatenate([old.ids[keep], new.ids]),
        sizes=np.concatenate([old.sizes[keep], new.sizes]),
        ok=np.concatenate([old.ok[keep], new.ok]),
        sha=np.concatenate([old.sha[keep], new.sha]),
        phash=np.concatenate([old.phash[keep], new.phash]),
        vectors=np.concatenate([old.vectors[keep], new.vectors]),
        files=files,
    )


# -- computing ------------------------------------------------------------------------------------
@dataclass
class ComputeSummary:
    """What :func:`compute` did."""

    embedder: str
    computed: int = 0
    reused: int = 0
    failed: int = 0
    files: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def _todo(images: Batch, existing: Features | None) -> Batch:
    if existing is None or not len(existing):
        return images
    rows = existing.rows(images.ids)
    have = rows >= 0
    same = np.zeros(len(rows), dtype=bool)
    same[have] = existing.sizes[rows[have]] == np.asarray(images.sizes, np.int64)[have]
    keep = np.flatnonzero(~same).tolist()
    return Batch(
        [images.ids[i] for i in keep],
        [images.paths[i] for i in keep],
        [images.sizes[i] for i in keep],
    )


def _chunks(todo: Batch, size: int) -> list[Batch]:
    return [
        Batch(todo.ids[a : a + size], todo.paths[a : a + size], todo.sizes[a : a + size])
        for a in range(0, len(todo.ids), size)
    ]


class _Bar:
    """Progress as a callable(done, total), a tqdm.auto bar (None), or nothing (False)."""

    def __init__(self, progress: ProgressFn | bool | None, total: int, what: str) -> None:
        self._fn: ProgressFn | None = None
        self._bar: Any = None
        self.total = total
        self.done = 0
        if callable(progress):
            self._fn = progress
        elif progress is None or progress is True:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=what, unit="img", leave=False)
        if self._fn:
            self._fn(0, total)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        if self._fn:
            self._fn(self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def compute(
    source: Store,
    output: Store,
    images: Batch,
    embedder: str | Embedder = BUILTIN,
    *,
    name: str | None = None,
    client: Any = None,
    progress: ProgressFn | bool | None = None,
    batch_size: int = BATCH_SIZE,
    existing: Features | None = None,
) -> ComputeSummary:
    """Compute the features ``images`` lack and store them (see the module docstring)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number, 1 or more, not {batch_size!r}")
    if not (isinstance(embedder, str) or callable(embedder)):
        raise TypeError(f"embedder must be {BUILTIN!r} or a callable, not {embedder!r}")
    store = FeatureStore(output, embedder_name(embedder, name))
    existing = store.load(existing)
    todo = _todo(images, existing)
    summary = ComputeSummary(store.name, reused=len(images.ids) - len(todo.ids))
    batches = _chunks(todo, batch_size)
    bar = _Bar(progress, len(todo.ids), f"features ({store.name})")
    started = time.perf_counter()
    try:
        tables = (
            _on_cluster(client, source, batches, embedder)
            if client is not None
            else _locally(source, batches, embedder)
        )
        for batch, table in tables:
            store.write(table)
            summary.files += 1
            summary.computed += len(batch.ids)
            summary.failed += table.num_rows - int(pc.sum(table.column("ok")).as_py() or 0)
            bar.update(len(batch.ids))
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _locally(
    source: Store, batches: list[Batch], embedder: str | Embedder
) -> Iterable[tuple[Batch, pa.Table]]:
    # Pillow and numpy release the GIL: decode with a thread per core, and read the next
    # batch from the store while this one decodes.
    workers = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool, ThreadPoolExecutor(1) as reader:

        def read(b: Batch) -> dict[str, bytes | Exception]:
            return source.read_many(sorted(set(b.paths)), limit=MAX_FILE_BYTES)

        ahead = reader.submit(read, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            assert ahead is not None
            blobs = ahead.result()
            ahead = reader.submit(read, batches[i + 1]) if i + 1 < len(batches) else None
            yield batch, embed_batch(source, batch, embedder, pool, blobs)


def _on_cluster(
    client: Any, source: Store, batches: list[Batch], embedder: str | Embedder
) -> Iterable[tuple[Batch, pa.Table]]:
    from distributed import as_completed

    if not batches:
        return
    # A fresh Store (no thread pool in it) travels once to every worker; tasks name its key.
    sealed = client.scatter(
        _Sealed(Store(source.fs, source.root, source.scheme)), broadcast=True, hash=False
    )
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            _remote_batch, sealed, batch, embedder, key=f"features-{run}-{i}", pure=False
        ): batch
        for i, batch in enumerate(batches)
    }
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.cancel([*futures, sealed])


# -- keeping the files to the dataset ---------------------------------------------------------------
def embedders(output: Store) -> list[str]:
    """The embedders with features stored in ``output``."""
    found = output.list(FEATURES_DIR, recursive=True)
    names = {rel.split("/")[1] for rel in found if rel.count("/") == 2}
    return sorted(n for n in names if _NAME.match(n))


def prune(output: Store, alive_ids: Sequence[str] | np.ndarray) -> int:
    """Drop the rows of images not in ``alive_ids`` from every feature file; rows dropped.

    A file with such rows is rewritten without them (the new file first, then the old one goes),
    so that a reader never misses a row of a live image.
    """
    names = embedders(output)
    if not names:
        return 0
    alive = pa.array(np.asarray(alive_ids, dtype=object), pa.string())
    dropped = 0
    for embedder in names:
        store = FeatureStore(output, embedder)
        for file in store.files():
            # The ids alone first: most files hold no gone image and are not read further.
            ids = store.read([file], columns=["image_id"])
            if ids is None or pc.all(pc.is_in(ids.column("image_id"), value_set=alive)).as_py():
                continue
            table = store.read([file])
            if table is None:
                continue
            keep = pc.is_in(table.column("image_id"), value_set=alive)
            kept = int(pc.sum(keep).as_py() or 0)
            if kept:
                store.write(table.filter(keep))
            output.delete([f"{store.folder}/{file}"])
            dropped += table.num_rows - kept
    return dropped
