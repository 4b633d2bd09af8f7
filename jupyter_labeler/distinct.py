"""Whether the strings of a column are all distinct, without a hash table of the strings.

A manifest's first open asks it of ten million paths. Arrow's hash table of strings takes
seconds there (each probe a cache miss into a table larger than the caches), so here each
string becomes a 64-bit number read from the column's buffers eight bytes at a time, at C speed
and a block at a time; the numbers are sorted, and only strings whose numbers are equal are
compared as strings. Two different strings share a number once in about 2^64 / n^2 pairs: a
comparison that finds them different costs a moment and changes no answer.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

from .columns import string_buffers

__all__ = ["all_distinct", "string_hashes"]

_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_SHIFT = np.uint64(33)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# the low k bytes of a little-endian word, k = 0..8
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)


def _mix(h: np.ndarray) -> np.ndarray:
    """The 64-bit finalizer of MurmurHash3: every input bit moves every output bit."""
    h ^= h >> _SHIFT
    h *= _MIX1
    h ^= h >> _SHIFT
    h *= _MIX2
    h ^= h >> _SHIFT
    return h


def string_hashes(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """A 64-bit hash of each string of ``values`` (equal strings, equal hashes), made from the
    column's bytes; None when some value is missing or the column holds no strings."""
    if isinstance(values, pa.ChunkedArray):
        parts = [string_hashes(chunk) for chunk in values.chunks]
        if any(part is None for part in parts):
            return None
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)  # type: ignore[arg-type]
    found = string_buffers(values)
    if found is None:
        return None
    if not len(values):
        return np.empty(0, dtype=np.uint64)
    offsets = found[0].astype(np.int64)
    raw = found[1][offsets[0] : offsets[-1]]
    starts = offsets[:-1] - offsets[0]
    lengths = np.diff(offsets)
    # eight zero bytes after the last string: a word may be read from any start
    data = np.zeros(len(raw) + 8, dtype=np.uint8)
    data[: len(raw)] = raw
    words = sliding_window_view(data, 8)
    with np.errstate(over="ignore"):
        h = lengths.astype(np.uint64) * _GOLDEN
        longest = int(lengths.max())
        for at in range(0, longest, 8):
            longer = lengths > at
            rows = None if longer.all() else np.flatnonzero(longer)
            first = starts + at if rows is None else starts[rows] + at
            left = lengths - at if rows is None else lengths[rows] - at
            word = np.ascontiguousarray(words[first]).view("<u8").reshape(-1)
            word = word.astype(np.uint64, copy=False)  # native order (a copy on big-endian)
            word &= _LOW_BYTES[np.minimum(left, 8)]
            if rows is None:
                h = _mix((h + word) * _GOLDEN)
            else:
                h[rows] = _mix((h[rows] + word) * _GOLDEN)
        return _mix(h)


def all_distinct(values: pa.Array | pa.ChunkedArray, hashes: np.ndarray | None = None) -> bool:
    """Whether no string of ``values`` is there twice. ``hashes``, when given, are their
    :func:`string_hashes` in any order; runs of them already sorted (each block's, sorted as
    it was read) make the sort here a merge."""
    if hashes is None:
        hashes = string_hashes(values)
        if hashes is None:
            return len(pc.unique(values)) == len(values)
    if len(hashes) < 2:
        return True
    ordered = np.sort(hashes, kind="stable")  # a merge of sorted runs
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return True
    # Strings whose hashes meet: compared as strings (a handful, unless some string repeats).
    shared = np.unique(ordered[1:][same])
    del ordered, same
    in_order = string_hashes(values)
    assert in_order is not None
    rows = np.flatnonzero(np.isin(in_order, shared))
    suspects = values.take(pa.array(rows))
    return len(pc.unique(suspects)) == len(suspects)
