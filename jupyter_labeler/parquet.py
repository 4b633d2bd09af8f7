"""Parquet files read from bytes, with no Python object left inside Arrow's threads.

``pyarrow.parquet.read_table`` scans on Arrow's thread pool, and a worker may drop its last
reference to the input a moment after ``read_table`` returned. When the input is memory that
Python owns (``bytes``, ``io.BytesIO``, or ``pa.BufferReader(bytes)``), dropping it takes the
GIL. If the main thread has meanwhile begun to shut the interpreter down, Python ends that
worker inside the buffer's C++ destructor, and the process aborts ("terminate called without an
active exception", exit status 134) after all its work was done. A process that opens a
dataset (its snapshot and team files) or loads features and then exits at once met it.

So the bytes are first copied into memory Arrow allocated itself: whichever thread frees it
last needs no GIL. The copy costs one pass over the file's bytes, next to nothing beside
decoding it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["parquet_file", "read_parquet"]


def _owned(data: bytes | bytearray | memoryview) -> pa.Buffer:
    view = memoryview(data).cast("B")
    owned = pa.allocate_buffer(view.nbytes)
    pa.FixedSizeBufferWriter(owned).write(view)
    return owned


def parquet_file(data: bytes | bytearray | memoryview) -> pq.ParquetFile:
    """The Parquet file ``data``, to read its metadata before any row (then ``.read()``)."""
    return pq.ParquetFile(pa.BufferReader(_owned(data)))


def read_parquet(
    data: bytes | bytearray | memoryview, columns: Sequence[str] | None = None
) -> pa.Table:
    """The table in the Parquet file ``data`` (only ``columns``, if given).

    Raises what ``pyarrow.parquet.read_table`` raises for a file that is no Parquet file
    (``pa.ArrowInvalid``, ``OSError``)."""
    return pq.read_table(
        pa.BufferReader(_owned(data)), columns=list(columns) if columns is not None else None
    )
