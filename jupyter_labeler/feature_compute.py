"""Computing the features images lack, here or on a Dask cluster, and storing them.

:func:`compute` asks :class:`~.feature_files.FeatureStore` what is stored, computes only the
images with no row yet or whose size changed, a :class:`Batch` at a time, with
:func:`~.embedding.embed`, and stores each batch as one file. Locally the next batch is read
from the store while this one decodes on a thread per core; with a ``dask.distributed`` client
each worker reads its batch itself. See :mod:`.features` for the whole.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .embedding import BUILTIN, Embedder, embed
from .feature_files import Features, FeatureStore, embedder_name
from .images import MAX_FILE_BYTES
from .storage import Store

__all__ = ["BATCH_SIZE", "Batch", "ComputeSummary", "ProgressFn", "compute", "embed_batch"]

# Images per Parquet file (and per task on a cluster): large enough that a million images make
# a few hundred files, small enough that a crash loses little and progress moves.
BATCH_SIZE = 1000

ProgressFn = Callable[[int, int], None]


@dataclass
class Batch:
    """Images to compute: ids, paths and sizes, aligned."""

    ids: list[str]
    paths: list[str]
    sizes: list[int]


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
        """Images computed a second (0 when no time was measured)."""
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
    """Compute the features ``images`` lack and store them (see :mod:`.features`).

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
