"""The live images of a :class:`~.state.State` and their labels, taken once for a save.

A save writes the same rows twice: as the ModelArts manifest (:mod:`.manifest_write`) and as
the snapshot's Parquet copy (:mod:`.snapshot`). Both start from these columns, taken in one
pass while the caller holds the state's lock: ids and paths become Arrow arrays once (the
state's own columns give them without a Python string each), usage and ``added_at`` become
dictionary arrays of their codes, and the labels become one long table of live rows. What
is taken shares nothing that later actions change, so the text and the Parquet files are then
built and written without the lock, each in its own thread (Arrow releases the GIL).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from .state import LabelSet, State

__all__ = ["LiveColumns", "live_columns"]


@dataclass(frozen=True)
class LiveColumns:
    """The live rows of a state, renumbered 0..n-1 in code order (the display order).

    ``pair_*`` is the long labels table, one entry per (row, label), sorted by row then by
    label order (rows as int32 while they fit); ``pair_extra`` holds the unknown fields of
    foreign annotations by entry.
    """

    codes: np.ndarray  # the state's code of each row
    ids: pa.Array
    paths: pa.Array | pa.ChunkedArray
    sizes: np.ndarray  # int32, or int64 when some size needs it
    usage: pa.DictionaryArray
    added_at: pa.DictionaryArray
    extra: np.ndarray  # object: the fields a row keeps beyond the columns, or None
    pair_rows: np.ndarray
    pair_label: np.ndarray
    pair_by: np.ndarray
    pair_at: np.ndarray
    pair_extra: dict[int, dict[str, object]]
    labels: list[str]
    authors: list[str]
    times: list[str]
    foreign: list[bytes]
    id_order: np.ndarray | None  # the rows in the order of their ids, when known

    def __len__(self) -> int:
        return len(self.codes)


def _pairs(
    state: State, renumber: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, dict[str, object]]]:
    """The long labels table of the live rows, sorted by row then by label order.

    Each label's codes are sorted and unique, so every entry's place is known without a
    sort: a row's entries start where the counts of the rows before it end, and each label
    in turn takes the next free place of each of its rows. ``renumber`` gives each code its
    row (-1 for a removed image); empty when every one of the ``n`` rows is live (the usual
    case): codes are rows then, and nothing is renumbered or filtered.
    """
    every = not len(renumber)
    taken: list[tuple[int, LabelSet, np.ndarray, np.ndarray | None]] = []
    for w, ls in enumerate(state.labels.values()):
        if not len(ls):
            continue
        if every:
            taken.append((w, ls, ls.codes, None))
        else:
            rows = renumber[ls.codes]
            live = rows >= 0
            taken.append((w, ls, rows[live], live))
    # Places and rows in 32 bits while they fit: half the memory to write and read.
    wide = n * max(1, len(taken)) >= 2**31
    counts = np.zeros(n, dtype=np.int64 if wide else np.int32)
    for _, _, rows, _ in taken:
        counts[rows] += 1
    total = sum(len(rows) for _, _, rows, _ in taken)
    place = np.zeros(n, dtype=counts.dtype)
    if n:
        np.cumsum(counts[:-1], out=place[1:])
    del counts
    out_rows = np.empty(total, dtype=place.dtype)
    which = np.empty(total, dtype=np.int32)
    by = np.empty(total, dtype=np.int32)
    at = np.empty(total, dtype=np.int32)
    extra: dict[int, dict[str, object]] = {}
    for w, ls, kept, live in taken:
        where = place[kept]
        out_rows[where] = kept
        which[where] = w
        by[where] = ls.by if live is None else ls.by[live]
        at[where] = ls.at if live is None else ls.at[live]
        place[kept] += 1  # unique within a label: one step each
        if ls.extra:
            entry = np.full(len(ls.codes), -1, dtype=np.int64)
            entry[slice(None) if live is None else live] = where
            for code, more in ls.extra.items():
                j = int(np.searchsorted(ls.codes, code))
                if more and j < len(ls.codes) and ls.codes[j] == code and entry[j] >= 0:
                    extra[int(entry[j])] = dict(more)
    return out_rows, which, by, at, extra


def live_columns(state: State) -> LiveColumns:
    """Take the live rows of ``state`` (call it holding the state's lock)."""
    codes = np.flatnonzero(state.alive)
    # Every row live (the usual case): rows are codes, and each column is copied whole
    # rather than gathered through a renumbering of every row.
    every = len(codes) == state.n_rows
    renumber = np.empty(0, dtype=np.int64)
    if not every:
        renumber = np.full(state.n_rows, -1, dtype=np.int64)
        renumber[codes] = np.arange(len(codes))
    rows = None if every else codes
    extra = state.extra[codes]
    for k in np.flatnonzero(pd.notna(extra)).tolist():
        if isinstance(extra[k], dict):
            extra[k] = dict(extra[k])  # the caller may change a row's fields after the lock
    pair_rows, which, by, at, pair_extra = _pairs(state, renumber, len(codes))
    order = state.ids_in_order()
    if order is not None and not every:
        order = renumber[order]
    return LiveColumns(
        codes=codes,
        ids=state.id_column(rows),
        # every row: the chunks the snapshot was read in, not joined (a copy of every path)
        paths=state.paths.chunked() if every else state.path_column(codes),
        sizes=state.sizes.copy() if every else state.sizes[codes],
        usage=state.usage.arrow(rows),
        added_at=state.added_at.arrow(rows),
        extra=extra,
        pair_rows=pair_rows,
        pair_label=which,
        pair_by=by,
        pair_at=at,
        pair_extra=pair_extra,
        labels=list(state.labels),
        authors=list(state.authors.values),
        times=list(state.times.values),
        foreign=list(state.foreign),
        id_order=order,
    )
