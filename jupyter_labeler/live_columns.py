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

from .state import State

__all__ = ["LiveColumns", "live_columns"]


@dataclass(frozen=True)
class LiveColumns:
    """The live rows of a state, renumbered 0..n-1 in code order (the display order).

    ``pair_*`` is the long labels table, one entry per (row, label), sorted by row then by
    label order; ``pair_extra`` holds the unknown fields of foreign annotations by entry.
    """

    codes: np.ndarray  # the state's code of each row
    ids: pa.Array
    paths: pa.Array
    sizes: np.ndarray
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
    state: State, renumber: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[int, dict[str, object]]]:
    """The long labels table of the live rows, sorted by row then by label order.

    Each label's codes are sorted and unique, so every entry's place is known without a
    sort: a row's entries start where the counts of the rows before it end, and each label
    in turn takes the next free place of each of its rows.
    """
    sets = [(w, ls) for w, ls in enumerate(state.labels.values()) if len(ls)]
    rows_of = [(w, ls, renumber[ls.codes]) for w, ls in sets]
    live_of = [(w, ls, rows, rows >= 0) for w, ls, rows in rows_of]
    n = int(renumber.max()) + 1 if len(renumber) else 0
    counts = np.zeros(n, dtype=np.int64)
    for _, _, rows, live in live_of:
        counts[rows[live]] += 1
    total = int(counts.sum())
    place = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(counts[:-1], out=place[1:])
    out_rows = np.empty(total, dtype=np.int64)
    which = np.empty(total, dtype=np.int32)
    by = np.empty(total, dtype=np.int32)
    at = np.empty(total, dtype=np.int32)
    extra: dict[int, dict[str, object]] = {}
    for w, ls, rows, live in live_of:
        kept = rows[live]
        where = place[kept]
        out_rows[where] = kept
        which[where] = w
        by[where] = ls.by[live]
        at[where] = ls.at[live]
        place[kept] += 1  # unique within a label: one step each
        if ls.extra:
            entry = np.full(len(ls.codes), -1, dtype=np.int64)
            entry[live] = where
            for code, more in ls.extra.items():
                j = int(np.searchsorted(ls.codes, code))
                if more and j < len(ls.codes) and ls.codes[j] == code and entry[j] >= 0:
                    extra[int(entry[j])] = dict(more)
    return out_rows, which, by, at, extra


def live_columns(state: State) -> LiveColumns:
    """Take the live rows of ``state`` (call it holding the state's lock)."""
    codes = np.flatnonzero(state.alive)
    renumber = np.full(state.n_rows, -1, dtype=np.int64)
    renumber[codes] = np.arange(len(codes))
    extra = state.extra[codes]
    for k in np.flatnonzero(pd.notna(extra)).tolist():
        if isinstance(extra[k], dict):
            extra[k] = dict(extra[k])  # the caller may change a row's fields after the lock
    rows, which, by, at, pair_extra = _pairs(state, renumber)
    order = state.ids_in_order()
    every = len(codes) == state.n_rows  # every row: the paths without a copy
    return LiveColumns(
        codes=codes,
        ids=state.id_column(None if every else codes),
        paths=state.path_column(None if every else codes),
        sizes=np.asarray(state.sizes[codes], dtype=np.int64),
        usage=state.usage.arrow(codes),
        added_at=state.added_at.arrow(codes),
        extra=extra,
        pair_rows=rows,
        pair_label=which,
        pair_by=by,
        pair_at=at,
        pair_extra=pair_extra,
        labels=list(state.labels),
        authors=list(state.authors.values),
        times=list(state.times.values),
        foreign=list(state.foreign),
        id_order=renumber[order] if order is not None else None,
    )
