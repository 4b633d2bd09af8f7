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

Anyone who can write to the output folder can put a file here, so each file is checked on its
own when read (:class:`FeatureStore`): its size, its schema, its vectors' length (256 for the
built-in embedder, at most :data:`MAX_DIM` for any; for a callable, the length most images'
vectors have) and that their numbers are finite. A bad file is skipped and named in the
dataset's ``problems`` (so are rows that are not finite); it never replaces another file's
rows, and an image left with no usable row counts as having no features: the next
:func:`compute` computes it again.

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
from .parquet import parquet_file
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

# Anyone who can write to the output folder can put a file under features/: each is checked on
# its own before it is used, and read only when it keeps within these bounds. An honest batch
# file is far below them: 1,000 images of 4,096 numbers are 8 MB.
MAX_DIM = 4096  # numbers a vector, at most
BUILTIN_DIM = 256  # the built-in descriptor's
MAX_FILE_ROWS = 1 << 17
MAX_FILE_NUMBERS = 1 << 25  # rows x numbers a vector: 64 MB of float16
MAX_FEATURES_FILE_BYTES = 1 << 27  # 128 MB as stored...
MAX_FEATURES_FILE_UNPACKED = 1 << 28  # ...and 256 MB once decompressed
_COLUMNS = ("image_id", "size", "ok", "sha", "phash", "vector")
_MB = 1 << 20

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
    if callable(embedder) and name == BUILTIN:
        raise ValueError(f"{BUILTIN!r} names the built-in embedder's features: name yours")
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
        if not 1 <= got.shape[1] <= MAX_DIM:
            raise ValueError(
                f"the embedder must return 1 to {MAX_DIM:,} numbers an image, not {got.shape[1]:,}"
            )
    vectors = np.zeros((len(blobs), got.shape[1] if got.ndim == 2 else 0), np.float16)
    with np.errstate(over="ignore"):
        vectors[ok] = got.astype(np.float16)
    # A vector that is not finite (or too large for float16) would be refused when read:
    # its image counts as one that could not be computed.
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        ok &= finite
        vectors[~finite] = 0
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
    """The features of one embedder as loaded: arrays aligned by row (one row per image id).

    ``files`` are the files taken into account (read, or skipped as bad); ``problems`` says
    what was skipped and why; ``unknown`` holds the ids of rows left out because no image of
    the dataset had them when they were read.
    """

    ids: np.ndarray  # object (str)
    sizes: np.ndarray  # int64
    ok: np.ndarray  # bool
    sha: np.ndarray  # object (str)
    phash: np.ndarray  # uint64
    vectors: np.ndarray  # float16 (n, d)
    files: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()
    unknown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object), repr=False)
    _row: pd.Index | None = field(default=None, repr=False)
    _index: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<Features: {len(self.ids)} images, {self.vectors.shape[1]} numbers each>"

    @property
    def dim(self) -> int:
        """Numbers a vector (0 while there are none)."""
        return int(self.vectors.shape[1]) if len(self.ids) else 0

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The row of each id, -1 where it has none."""
        if self._row is None:
            # A pandas hash index: a million lookups take a fraction of a second.
            self._row = pd.Index(self.ids, dtype=object)
        wanted = ids if isinstance(ids, pd.Index | np.ndarray) else list(ids)
        return np.asarray(self._row.get_indexer(wanted), dtype=np.int64)

    @classmethod
    def empty(cls, files: frozenset[str] = frozenset(), problems: tuple[str, ...] = ()) -> Features:
        """No features (yet): ``files`` were read and gave no usable row."""
        return cls(
            ids=np.zeros(0, dtype=object),
            sizes=np.zeros(0, np.int64),
            ok=np.zeros(0, bool),
            sha=np.zeros(0, dtype=object),
            phash=np.zeros(0, np.uint64),
            vectors=np.zeros((0, 0), np.float16),
            files=files,
            problems=problems,
        )

    @classmethod
    def from_table(cls, table: pa.Table, files: frozenset[str] = frozenset()) -> Features:
        """The features of a table of checked rows (see :meth:`FeatureStore.read`)."""
        if not table.num_rows:
            return cls.empty(files)
        vec = table.column("vector").combine_chunks()
        dim = vec.type.list_size
        flat = np.asarray(vec.flatten())
        return cls(
            ids=np.asarray(table.column("image_id").to_pylist(), dtype=object),
            sizes=table.column("size").to_numpy(),
            ok=table.column("ok").to_numpy(zero_copy_only=False),
            sha=np.asarray(table.column("sha").to_pylist(), dtype=object),
            phash=table.column("phash").to_numpy(),
            vectors=flat.astype(np.float16, copy=False).reshape(-1, dim),
            files=files,
        )


@dataclass
class _Part:
    """One file's checked rows: ``dim`` numbers a vector."""

    name: str
    table: pa.Table
    dim: int


@dataclass
class _Checked:
    """Files read and checked: their rows, what was wrong, and the files to read again."""

    parts: list[_Part] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    unknown: list[np.ndarray] = field(default_factory=list)


def _type_problem(column: str, kind: pa.DataType) -> str | None:
    if column in ("image_id", "sha"):
        good = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        want = "text"
    elif column == "size":
        good, want = pa.types.is_integer(kind), "whole numbers"
    elif column == "ok":
        good, want = pa.types.is_boolean(kind), "true/false"
    elif column == "phash":
        good, want = kind == pa.uint64(), "64-bit unsigned whole numbers"
    else:
        good = pa.types.is_fixed_size_list(kind) and pa.types.is_floating(kind.value_type)
        want = "vectors of one fixed length"
    return None if good else f"its {column} column holds {kind}, not {want}"


def _schema_problem(schema: pa.Schema, dim: int | None, embedder: str) -> str | None:
    """What makes a file's schema unusable for ``embedder`` (``dim`` numbers when known)."""
    missing = [c for c in _COLUMNS if schema.get_field_index(c) < 0]
    if missing:
        return f"no {', '.join(missing)} column"
    for column in _COLUMNS:
        if len(schema.get_all_field_indices(column)) > 1:
            return f"two {column} columns"
        problem = _type_problem(column, schema.field(column).type)
        if problem is not None:
            return problem
    length = schema.field("vector").type.list_size
    if not 1 <= length <= MAX_DIM:
        return f"vectors of {length:,} numbers (at most {MAX_DIM:,})"
    if dim is not None and length != dim:
        return f"vectors of {length:,} numbers, where the {embedder} embedder's have {dim}"
    return None


def _check_file(
    data: bytes, columns: Sequence[str] | None, dim: int | None, embedder: str
) -> tuple[_Part | None, list[str]]:
    """The rows of a features file, checked, in the types this module writes (name unset)."""
    if len(data) > MAX_FEATURES_FILE_BYTES:
        return None, [f"larger than {MAX_FEATURES_FILE_BYTES // _MB} MB"]
    try:
        parquet = parquet_file(data)
        schema, meta = parquet.schema_arrow, parquet.metadata
        unpacked = sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
    except Exception as exc:  # anything pyarrow says of bytes that are no Parquet file
        return None, [f"not a Parquet file ({str(exc)[:200]})"]
    problem = _schema_problem(schema, dim, embedder)
    if problem is not None:
        return None, [problem]
    length = schema.field("vector").type.list_size
    rows = meta.num_rows
    if rows > MAX_FILE_ROWS or rows * length > MAX_FILE_NUMBERS:
        return None, [f"{rows:,} vectors of {length:,} numbers: more than a file may hold"]
    if unpacked > MAX_FEATURES_FILE_UNPACKED:
        return None, [f"larger than {MAX_FEATURES_FILE_UNPACKED // _MB} MB once decompressed"]
    wanted = list(_COLUMNS if columns is None else columns)
    try:
        table = parquet.read(columns=wanted)
    except Exception as exc:  # damaged pages, a bad encoding: the file, not the others
        return None, [f"cannot be read ({str(exc)[:200]})"]
    if table.num_rows != rows:
        return None, [f"holds {table.num_rows:,} rows where it says {rows:,}"]
    empty = [c for c in wanted if table.column(c).null_count]
    if "vector" in wanted and not empty:
        values = table.column("vector").combine_chunks().values
        if values.null_count:
            empty.append("vector")
    if empty:
        return None, [f"empty values in its {', '.join(empty)} column"]
    columns_out = {}
    problems = []
    keep: np.ndarray | None = None
    for column in wanted:
        values = table.column(column).combine_chunks()
        if column == "vector":
            numbers = np.asarray(values.values).astype(np.float16)  # too large for float16: inf
            numbers = numbers.reshape(rows, length)
            finite = np.asarray(np.isfinite(numbers).all(axis=1))
            if not finite.all():
                keep = finite
                problems.append(
                    f"{int((~finite).sum()):,} of {rows:,} vectors hold numbers that are not "
                    "finite; those images' rows were skipped"
                )
            values = pa.FixedSizeListArray.from_arrays(pa.array(numbers.ravel()), length)
        elif column in ("image_id", "sha"):
            values = values.cast(pa.string())
        elif column == "size":
            try:
                values = values.cast(pa.int64())
            except pa.ArrowInvalid:
                return None, ["its sizes do not fit 64 bits"]
        columns_out[column] = values
    checked = pa.table(columns_out)
    if keep is not None:
        checked = checked.filter(pa.array(keep))
    return _Part("", checked, length), problems


def _choose_dim(parts: list[_Part]) -> int:
    """The length most images' vectors have (on a tie, that of the newest file)."""
    ids_of: dict[int, set[str]] = {}
    newest: dict[int, int] = {}
    for i, part in enumerate(parts):
        ids = part.table.column("image_id").to_pylist()
        ids_of.setdefault(part.dim, set()).update(ids)
        newest[part.dim] = i
    return max(ids_of, key=lambda d: (len(ids_of[d]), newest[d]))


class FeatureStore:
    """The Parquet files of one embedder under ``features/<name>/`` in the output folder.

    Each file is checked on its own when read (see :meth:`read`): one that is damaged, too
    large, of another schema, of vectors of another length than the embedder's, or of vectors
    with numbers that are not finite never replaces the rows of the others; it is named in the
    problems of what :meth:`load` returns, and its images count as having no features (so that
    :func:`compute` computes them again).
    """

    def __init__(self, output: Store, name: str) -> None:
        self.output = output
        self.name = check_name(name)
        self.folder = f"{FEATURES_DIR}/{self.name}"
        # The built-in descriptor's length is known; a callable's is the one most images have.
        self.dim: int | None = BUILTIN_DIM if self.name == BUILTIN else None

    def files(self) -> list[str]:
        """This embedder's batch files, oldest first: by the time in their names, but never
        after the store wrote them (a file named in the far future must not outrank every
        file written after it), so the rows of a file written later win."""
        versions = self.output.list_versions(self.folder)
        names = [n for n in versions if _FILE.match(n)]

        def written(name: str) -> tuple[int, str]:
            return min(int(name[:13]), int(versions[name][0] * 1000)), name

        return sorted(names, key=written)

    def write(self, table: pa.Table) -> list[str]:
        """Store ``table`` as one file, or several when it holds more than a file may."""
        dim = max(1, table.schema.field("vector").type.list_size)
        step = max(1, min(MAX_FILE_ROWS, MAX_FILE_NUMBERS // dim))
        names = []
        for start in range(0, max(table.num_rows, 1), step):
            name = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex}.parquet"
            out = io.BytesIO()
            pq.write_table(table.slice(start, step), out, compression="zstd")
            self.output.write(f"{self.folder}/{name}", out.getvalue(), durable=False)
            names.append(name)
        return names

    def check(
        self,
        names: Sequence[str],
        columns: Sequence[str] | None = None,
        known: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> _Checked:
        """Read and check these files one by one; with ``known`` (ids -> bool), rows of other
        ids are left out."""
        out = _Checked()
        if not names:
            return out
        got = self.output.read_many(
            [f"{self.folder}/{n}" for n in names], limit=MAX_FEATURES_FILE_BYTES
        )
        for n in names:
            rel = f"{self.folder}/{n}"
            data = got[rel]
            if isinstance(data, Exception):
                # Pruned by another writer meanwhile, or the store failed: read it next time.
                log.warning("features %s: skipped for now (%s)", rel, data)
                out.unread.append(n)
                continue
            part, problems = _check_file(data, columns, self.dim, self.name)
            where = self.output.url_of(rel)
            skipped = "" if part is not None else "; skipped"
            out.problems += [f"{where}: {p}{skipped}" for p in problems]
            if part is None:
                continue
            part.name = n
            if known is not None and part.table.num_rows:
                ids = np.asarray(part.table.column("image_id").to_pylist(), dtype=object)
                mask = np.asarray(known(ids), dtype=bool)
                if not mask.all():
                    out.unknown.append(ids[~mask])
                    part.table = part.table.filter(pa.array(mask))
            out.parts.append(part)
        return out

    def _combine(self, checked: _Checked, dim: int | None) -> tuple[pa.Table | None, int]:
        """The newest row of each id among the parts of one length: ``dim``, or (unknown) the
        length most images have; parts of another length are named in ``checked.problems``."""
        parts = [p for p in checked.parts if p.table.num_rows]
        if not parts:
            return None, dim or 0
        if dim is None:
            dim = _choose_dim(parts)
        for part in parts:
            if part.dim != dim:
                where = self.output.url_of(f"{self.folder}/{part.name}")
                checked.problems.append(
                    f"{where}: vectors of {part.dim:,} numbers, where most images' have "
                    f"{dim:,}; skipped"
                )
        kept = [p.table for p in parts if p.dim == dim]
        return _newest_per_id(pa.concat_tables(kept, promote_options="none")), dim

    def read(self, names: list[str], columns: list[str] | None = None) -> pa.Table | None:
        """The checked rows of these files, the newest row of each image id; None when there
        are none. Files that are not usable are left out (see the class docstring)."""
        checked = self.check(names, columns)
        for problem in checked.problems:
            log.warning("%s", problem)
        return self._combine(checked, self.dim)[0]

    def load(
        self,
        cached: Features | None = None,
        *,
        known: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Features | None:
        """Every stored feature, reading only files that ``cached`` has not read yet; None when
        there is no file. With ``known`` (ids -> bool: is it an image of the dataset?) rows of
        other ids are left out, and read again once their images come."""
        names = self.files()
        if not names:
            return None
        if cached is not None and known is not None and len(cached.unknown):
            # Images came whose rows were left out: read everything again.
            came = np.asarray(known(cached.unknown), dtype=bool).any()
            cached = None if came else cached
        if cached is not None and cached.files == frozenset(names):
            return cached
        if cached is not None and cached.files <= frozenset(names):
            new = [n for n in names if n not in cached.files]
            checked = self.check(new, known=known)
            lengths = {p.dim for p in checked.parts if p.table.num_rows}
            if not cached.dim or lengths <= {cached.dim} or self.dim is not None:
                table, _ = self._combine(checked, cached.dim or self.dim)
                files = frozenset(names) - frozenset(checked.unread)
                found = Features.from_table(table) if table is not None else Features.empty()
                return _merge(cached, found, files, checked)
            # Vectors of another length came: which length most images have may have changed.
        checked = self.check(names, known=known)
        table, _ = self._combine(checked, self.dim)
        files = frozenset(names) - frozenset(checked.unread)
        found = Features.from_table(table) if table is not None else Features.empty()
        return _merge(Features.empty(), found, files, checked)


def _newest_per_id(table: pa.Table) -> pa.Table:
    ids = table.column("image_id").to_numpy(zero_copy_only=False)
    if len(ids) == len(set(ids.tolist())):
        return table
    # Later rows (newer files) win: keep the last occurrence of each id.
    reverse = ids[::-1]
    _, first = np.unique(reverse, return_index=True)
    keep = np.sort(len(ids) - 1 - first)
    return table.take(pa.array(keep))


def _merge(old: Features, new: Features, files: frozenset[str], checked: _Checked) -> Features:
    """``old`` with ``new``'s rows (which win), and what ``checked`` found besides."""
    problems = tuple(dict.fromkeys([*old.problems, *checked.problems]))
    unknown = np.unique(np.concatenate([old.unknown, *checked.unknown]).astype(str)).astype(object)
    if not len(old):
        merged = new
    elif not len(new):
        merged = old
    else:
        keep = ~np.isin(old.ids, new.ids)
        merged = Features(
            ids=np.concatenate([old.ids[keep], new.ids]),
            sizes=np.concatenate([old.sizes[keep], new.sizes]),
            ok=np.concatenate([old.ok[keep], new.ok]),
            sha=np.concatenate([old.sha[keep], new.sha]),
            phash=np.concatenate([old.phash[keep], new.phash]),
            vectors=np.concatenate([old.vectors[keep], new.vectors]),
        )
    return Features(
        ids=merged.ids,
        sizes=merged.sizes,
        ok=merged.ok,
        sha=merged.sha,
        phash=merged.phash,
        vectors=merged.vectors,
        files=files,
        problems=problems,
        unknown=unknown,
        _row=merged._row if merged is old else None,
        _index=merged._index if merged is old else None,
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
    known: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ComputeSummary:
    """Compute the features ``images`` lack and store them (see the module docstring).

    ``known`` (ids -> bool) tells the images of the dataset, by default ``images``' ids.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number, 1 or more, not {batch_size!r}")
    if not (isinstance(embedder, str) or callable(embedder)):
        raise TypeError(f"embedder must be {BUILTIN!r} or a callable, not {embedder!r}")
    store = FeatureStore(output, embedder_name(embedder, name))
    if known is None:
        index = pd.Index(images.ids, dtype=object)

        def known(ids: np.ndarray) -> np.ndarray:
            return np.asarray(index.get_indexer(ids) >= 0)

    # Rows a bad file held count as missing: computing them again repairs what it hid.
    existing = store.load(existing, known=known)
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
            summary.files += len(store.write(table))
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
