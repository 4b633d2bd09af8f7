"""The in-memory state of a dataset: an image table and one sorted code array per label.

Images are rows addressed by an integer *code* (their position); a removed image keeps its row
with ``alive`` False until the next snapshot, so codes stay stable while a session runs. Each
label holds the sorted codes of its images plus, aligned with them, who annotated and when
(as small integer codes into shared string tables). This is the long-format labels table of
DESIGN.md, partitioned by label: counting is ``len``, a bulk edit of 100k images is one
``np.union1d``-like merge, and no Python object exists per (image, label) pair.

Nothing here does I/O or knows about events; :mod:`jupyter_labeler.dataset` drives it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from .columns import (
    CodedColumn,
    HexColumn,
    SparseColumn,
    StringsColumn,
    TextColumn,
    hex_keys,
    strings_column,
    text_column,
)
from .names import annotator_of

__all__ = ["ImageRows", "LabelSet", "State"]

_EMPTY = np.empty(0, dtype=np.int64)


def sorted_unique(codes: np.ndarray) -> np.ndarray:
    """``np.unique`` for int codes, by sorting (several times faster than its hash path)."""
    codes = np.sort(np.asarray(codes, dtype=np.int64))
    if len(codes) > 1:
        keep = np.empty(len(codes), dtype=bool)
        keep[0] = True
        np.not_equal(codes[1:], codes[:-1], out=keep[1:])
        codes = codes[keep]
    return codes


_HEX16 = re.compile(r"[0-9a-f]{16}")


def _row_dtype(n: int) -> Any:
    """The smallest integer type that numbers ``n`` rows (and a few more to come)."""
    return np.int32 if n < 2**31 - 2**20 else np.int64


def _small_ints(values: np.ndarray) -> np.ndarray:
    """Non-negative sizes in as few bytes as they need (int32 below 2 GiB, else int64)."""
    values = np.asarray(values, dtype=np.int64) if values.dtype.kind not in "iu" else values
    if len(values) and (values.max() >= 2**31 or values.min() < -(2**31)):
        return values.astype(np.int64, copy=False)
    return values.astype(np.int32, copy=False)


def _fit(column: np.ndarray, values: Any) -> np.ndarray:
    """``column``, widened when ``values`` do not fit its integer type."""
    values = np.asarray(values, dtype=np.int64)
    if column.dtype == np.int64 or not len(values):
        return column
    if values.max() >= 2**31 or values.min() < -(2**31):
        return column.astype(np.int64)
    return column


def member(codes: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which of ``codes`` are in the sorted array ``sorted_set`` (binary search, no sorting)."""
    if not len(sorted_set):
        return np.zeros(len(codes), dtype=bool)
    pos = np.searchsorted(sorted_set, codes)
    np.minimum(pos, len(sorted_set) - 1, out=pos)
    return sorted_set[pos] == codes


@dataclass
class LabelSet:
    """The images carrying one label: sorted unique codes and aligned annotation data."""

    codes: np.ndarray = field(default_factory=lambda: _EMPTY.copy())
    by: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    at: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    # Unknown fields of foreign annotations, kept so that they are written back: code -> dict.
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, mask: np.ndarray) -> LabelSet:
        codes = self.codes[mask]
        extra = {}
        if self.extra:
            keep = set(codes.tolist())
            extra = {c: e for c, e in self.extra.items() if c in keep}
        return LabelSet(codes, self.by[mask], self.at[mask], extra)


def _plain(values: Any) -> list[Any]:
    """A column as a Python list."""
    if isinstance(values, list):
        return values
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    if isinstance(values, StringsColumn | CodedColumn | SparseColumn | np.ndarray):
        return values.tolist()
    return list(values)


@dataclass
class ImageRows:
    """Columns of image rows to add (all the same length): Python sequences, or (a parsed
    manifest's) the columns a state keeps, which an empty state takes as they are."""

    ids: Sequence[str] | StringsColumn
    paths: Sequence[str]
    sizes: Sequence[int] | np.ndarray
    usage: Sequence[str] | CodedColumn
    added_at: Sequence[str] | CodedColumn
    extra: Sequence[dict[str, Any] | None] | SparseColumn

    def __len__(self) -> int:
        return len(self.ids)

    def plain(self) -> ImageRows:
        """These rows with every column a Python list."""
        return ImageRows(*(_plain(getattr(self, f.name)) for f in fields(self)))

    def to_records(self) -> list[dict[str, Any]]:
        out = []
        for i in range(len(self.ids)):
            row: dict[str, Any] = {
                "id": self.ids[i],
                "path": self.paths[i],
                "size": int(self.sizes[i]),
                "usage": self.usage[i],
                "added_at": self.added_at[i],
            }
            if self.extra[i]:
                row["extra"] = self.extra[i]
            out.append(row)
        return out

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> ImageRows:
        records = list(records)
        return cls(
            ids=[r["id"] for r in records],
            paths=[r["path"] for r in records],
            sizes=[int(r.get("size") or 0) for r in records],
            usage=[r.get("usage") or "" for r in records],
            added_at=[r.get("added_at") or "" for r in records],
            extra=[r.get("extra") or None for r in records],
        )


class _Interner:
    """Strings <-> small integer codes (authors, times)."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def code(self, value: str) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
        return found

    def codes(self, values: Iterable[str]) -> np.ndarray:
        return np.fromiter((self.code(v) for v in values), dtype=np.int32)

    def __contains__(self, value: object) -> bool:
        """Whether ``value`` has a code already (for authors: in a spelling seen before)."""
        return value in self._index

    def find(self, value: str, default: int = -1) -> int:
        """The code of ``value``, or ``default`` when it has none; unlike :meth:`code`, it
        never interns: a rule asking about a name it was given learns nothing new."""
        return self._index.get(value, default)

    def find_all(self, values: Sequence[str], default: int = -1) -> np.ndarray:
        """:meth:`find` of each of ``values`` (int64), in one pass over them."""
        return np.fromiter(
            map(self._index.get, values, itertools.repeat(default)), np.int64, len(values)
        )


class _Authors(_Interner):
    """Annotator names <-> codes. A name spelled as ModelArts writes it in ``annotated-by``
    (``human/alice/alice``) is the same annotator as ``alice``: both spellings find one code,
    and ``values`` holds the plain name (see :func:`~.names.annotator_of`)."""

    def code(self, value: str) -> int:
        found = self._index.get(value)
        if found is None:
            name = annotator_of(value)
            found = self._index.get(name)
            if found is None:
                found = self._index[name] = len(self.values)
                self.values.append(name)
            self._index[value] = found
        return found


class State:
    """Images and labels in memory. Every mutation bumps ``version``.

    The image columns hold no Python object per image (see :mod:`jupyter_labeler.columns`):
    ``ids`` and ``paths`` answer ``column[i]`` (a str), ``column[codes]`` (a numpy object
    array, made for those rows only), ``len`` and ``tolist()``; :meth:`id_column` and
    :meth:`path_column` give rows as Arrow string arrays without making a string each.
    """

    def __init__(self) -> None:
        self.ids: StringsColumn = HexColumn()
        self.paths = TextColumn()
        self.sizes = np.empty(0, dtype=np.int32)  # widened to int64 when a size needs it
        self.usage = CodedColumn()
        self.added_at = CodedColumn()
        self.extra = SparseColumn()
        self.alive = np.empty(0, dtype=bool)
        self.labels: dict[str, LabelSet] = {}
        # Manifest lines whose source is no image of this dataset, kept to be written back.
        self.foreign: list[bytes] = []
        # Assignments, own labels and reviews (jupyter_labeler.team); None while unused.
        self.team: Any = None
        self.authors = _Authors()
        self.times = _Interner()
        self.version = 0
        # id -> code of every row (a live row before a removed one with the same id), built on
        # first need and then kept up to date as rows come and go, so that an action costs
        # time in proportion to the images it names, not to the dataset. Either a dict, or,
        # while every id is 16 hex digits (``ids`` is a HexColumn), _hex_keys: the ids as
        # sorted 64-bit numbers and their codes (the dict is then empty).
        self._id_index: dict[str, int] | None = None
        self._hex_keys: tuple[np.ndarray, np.ndarray] | None = None
        self._cache: dict[Any, Any] = {}

    # -- bookkeeping ------------------------------------------------------------------------------
    def _changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def mark_changed(self) -> None:
        """Say that data kept beside the images and labels changed in place (the team's
        tables, :mod:`jupyter_labeler.team`): like every mutation of the state's own, it bumps
        ``version`` and forgets the views computed so far."""
        self._changed()

    def __len__(self) -> int:
        return int(self.alive.sum())

    @property
    def n_rows(self) -> int:
        return len(self.ids)

    def id_column(self, codes: np.ndarray | None = None) -> pa.Array:
        """The ids of the rows ``codes`` (every row when None) as an Arrow string array, made
        without a Python string per id: for writers (Parquet, the manifest)."""
        return self.ids.arrow(codes)

    def path_column(self, codes: np.ndarray | None = None) -> pa.Array:
        """The paths of the rows ``codes`` (every row when None) as an Arrow string array (the
        snapshot's own buffers when it is every row of one)."""
        return self.paths.arrow(codes)

    def set_images(
        self,
        ids: StringsColumn,
        paths: TextColumn,
        sizes: np.ndarray,
        usage: CodedColumn,
        added_at: CodedColumn,
        extra: SparseColumn,
    ) -> None:
        """Make these columns (all the same length, every row live) the images of this state,
        which has none yet: a snapshot read back."""
        n = len(ids)
        if self.n_rows:
            raise ValueError("set_images() fills an empty state")
        if not (len(paths) == len(sizes) == len(usage) == len(added_at) == len(extra) == n):
            raise ValueError("the image columns differ in length")
        self.ids, self.paths, self.sizes = ids, paths, _small_ints(sizes)
        self.usage, self.added_at, self.extra = usage, added_at, extra
        self.alive = np.ones(n, dtype=bool)
        self._id_index = self._hex_keys = None
        self._changed()

    def lookup(self, ids: Iterable[str]) -> np.ndarray:
        """The code of each id, aligned with ``ids``; -1 where no live image has that id."""
        found = self._row_codes(ids)
        hit = found >= 0
        found[hit] = np.where(self.alive[found[hit]], found[hit], -1)
        return found

    def index_ids(self, order: np.ndarray | None = None) -> None:
        """Build the index of ids now (else the first lookup builds it): opening a dataset
        calls this, so that no action pays for it. ``order``, when known, is the rows in the
        order of their ids as numbers (see :meth:`ids_in_order`); one that does not sort
        them (it is read from a store) is not used."""
        if self._id_index is not None:
            return
        if order is not None and isinstance(self.ids, HexColumn) and self.alive.all():
            keys = self.ids.keys
            n = len(keys)
            order = np.asarray(order)
            if order.dtype.kind in "iu" and len(order) == n and n:
                order = order.astype(np.int64, copy=False)
                if order.min() >= 0 and order.max() < n:
                    sorted_keys = keys[order]
                    # Strictly increasing: a permutation of the rows, and no id twice.
                    if n == 1 or (sorted_keys[1:] > sorted_keys[:-1]).all():
                        self._hex_keys = (sorted_keys, order.astype(_row_dtype(n)))
                        self._id_index = {}
                        return
        self._build_id_index()

    def ids_in_order(self) -> np.ndarray | None:
        """The codes of the live images in the order of their ids as numbers, when every id
        is 16 hex digits and the index of ids is built; else None. Kept beside a snapshot,
        it spares the next reader a sort."""
        if self._id_index is None or self._hex_keys is None:
            return None
        rows = self._hex_keys[1]
        return rows[self.alive[rows]]

    def _row_codes(self, ids: Iterable[str]) -> np.ndarray:
        """The row of each id, live or removed (see ``_id_index``), aligned with ``ids``; -1
        where no row has that id."""
        if isinstance(ids, str):
            ids = [ids]
        ids = cast(
            "Sequence[str]",
            ids if isinstance(ids, list | tuple | pd.Index | np.ndarray) else list(ids),
        )
        if self._id_index is None:
            self._build_id_index()
        if self._hex_keys is not None:
            query = hex_keys(ids)
            if query is None:
                # Some ids are not 16 hex digits, so none of ours: look up only the others.
                ok = [bool(_HEX16.fullmatch(i)) if isinstance(i, str) else False for i in ids]
                where = np.flatnonzero(ok)
                found = np.full(len(ids), -1, dtype=np.int64)
                if len(where):
                    found[where] = self._row_codes([ids[i] for i in where.tolist()])
                return found
            keys, codes = self._hex_keys
            if not len(keys):
                return np.full(len(query), -1, dtype=np.int64)
            # Sorted queries walk the key array in order: far fewer cache misses.
            order = np.argsort(query, kind="stable")
            pos = np.minimum(np.searchsorted(keys, query[order]), len(keys) - 1)
            found = np.empty(len(query), dtype=np.int64)
            found[order] = np.where(keys[pos] == query[order], codes[pos], -1)
            return found
        assert self._id_index is not None
        return np.fromiter(
            map(self._id_index.get, ids, itertools.repeat(-1)), dtype=np.int64, count=len(ids)
        )

    def _build_id_index(self) -> None:
        # Removed rows first, so that where a live row and a removed one share an id (the
        # latest row of an id wins otherwise) the live one is kept.
        rows = np.concatenate([np.flatnonzero(~self.alive), np.flatnonzero(self.alive)])
        if isinstance(self.ids, HexColumn):
            # Ids made by image_id_for are 16 hex digits: as 64-bit numbers they are found by
            # binary search over one sorted array, ten times faster than hashing strings.
            keys = self.ids.keys[rows]
            order = np.argsort(keys, kind="stable")
            keys, rows = keys[order], rows[order]
            last = np.ones(len(keys), dtype=bool)  # of each run of equal keys, the last
            last[:-1] = keys[1:] != keys[:-1]
            self._hex_keys = (keys[last], rows[last].astype(_row_dtype(self.n_rows)))
            self._id_index = {}
        else:
            self._hex_keys = None
            self._id_index = dict(zip(self.ids[rows].tolist(), rows.tolist(), strict=True))

    def _index_rows(self, codes: np.ndarray) -> None:
        """Put the rows ``codes`` (just added or revived) in the index of ids, if it is built:
        the cost follows the rows added (plus one copy of the key array), never a rebuild."""
        if self._id_index is None or not len(codes):
            return
        if self._hex_keys is None:
            self._id_index.update(zip(self.ids[codes].tolist(), codes.tolist(), strict=True))
            return
        if not isinstance(self.ids, HexColumn):  # an id of another form: a dict of every id
            self._id_index = self._hex_keys = None
            return
        new = self.ids.keys[codes]
        keys, rows = self._hex_keys
        order = np.argsort(new, kind="stable")
        new, codes = new[order], np.asarray(codes, dtype=np.int64)[order]
        last = np.ones(len(new), dtype=bool)
        last[:-1] = new[1:] != new[:-1]
        new, codes = new[last], codes[last]
        pos = np.searchsorted(keys, new)
        known = pos < len(keys)
        known[known] = keys[pos[known]] == new[known]
        rows = rows.astype(_row_dtype(self.n_rows), copy=known.any())
        if known.any():
            rows[pos[known]] = codes[known]
        fresh = ~known
        self._hex_keys = (
            np.insert(keys, pos[fresh], new[fresh]),
            np.insert(rows, pos[fresh], codes[fresh]),
        )

    def codes_of(self, ids: Iterable[str]) -> tuple[np.ndarray, list[str]]:
        """Sorted unique codes of the live images with these ids, and the ids not found."""
        ids = [ids] if isinstance(ids, str) else list(ids)
        codes = self.lookup(ids)
        missing = [ids[i] for i in np.flatnonzero(codes < 0).tolist()]
        return sorted_unique(codes[codes >= 0]), missing

    # -- images -----------------------------------------------------------------------------------
    def _live_paths(self, paths: Sequence[str]) -> dict[str, int]:
        """Of ``paths``, those a live image has, with its code: one pass over the paths'
        bytes, never a Python string per image."""
        rows = self.paths.positions_of(paths)
        rows = rows[self.alive[rows]]
        return dict(zip(self.paths[rows].tolist(), rows.tolist(), strict=True))

    def add_images(self, rows: ImageRows, *, unique: bool = False) -> np.ndarray:
        """Append rows (or revive removed rows with the same id); returns their codes.

        Rows whose id is already live are skipped, and so are rows naming a path that a live
        image (or an earlier row) has: two images never share one file. ``unique=True`` says
        the caller made sure that the rows' ids and paths are distinct (a parsed manifest):
        into an empty state they are then added without a Python loop.
        """
        if len(rows) == 0:
            return _EMPTY.copy()
        fresh = unique and not self.n_rows  # no lookups, no Python loop over a million rows
        if not fresh:
            rows = rows.plain()
        ids = list(rows.ids) if not fresh else rows.ids
        taken = {} if fresh else self._live_paths(list(rows.paths))
        claimed: dict[str, int] = {}
        batch_ids: set[str] = set()
        # The row each id has already (live or removed), from the index of ids: no pass over
        # every row.
        existing = self._row_codes(ids).tolist() if self.n_rows and not fresh else []
        new_pos: list[int] = []
        codes: list[int] = []
        for i, image_id in enumerate(() if fresh else ids):
            code = existing[i] if existing else -1
            if code >= 0 and self.alive[code]:
                continue
            path = rows.paths[i]
            if path in taken or path in claimed or image_id in batch_ids:
                continue
            batch_ids.add(image_id)
            claimed[path] = code
            if code >= 0:
                self.paths.set(code, path)
                self.sizes = _fit(self.sizes, [rows.sizes[i]])
                self.sizes[code] = rows.sizes[i]
                self.usage[code] = rows.usage[i]
                self.added_at[code] = rows.added_at[i]
                self.extra[code] = rows.extra[i]
                self.alive[code] = True
                codes.append(code)
            else:
                new_pos.append(i)
        take = np.arange(len(ids)) if fresh else np.asarray(new_pos, dtype=np.int64)
        if len(take):
            start = self.n_rows

            def pick(values: Any) -> Any:
                if fresh:
                    return values
                return [values[k] for k in new_pos]

            if fresh:
                self.ids = strings_column(rows.ids, ids=True)
                self.paths = text_column(rows.paths)
            else:
                self.ids = self.ids.extended(pick(rows.ids))
                self.paths = self.paths.extended(pick(rows.paths))
            sizes = np.asarray(pick(rows.sizes), dtype=np.int64)
            if fresh:
                self.sizes = _small_ints(sizes)
            else:
                fitted = _fit(self.sizes, sizes)
                self.sizes = np.concatenate([fitted, sizes.astype(fitted.dtype)])
            # Columns given as the state keeps them (a parsed manifest) are taken as they are.
            if fresh and isinstance(rows.usage, CodedColumn):  # copied: the codes change
                self.usage = CodedColumn(rows.usage.codes.copy(), rows.usage.values)
            else:
                self.usage = self.usage.extended(pick(rows.usage))
            if fresh and isinstance(rows.added_at, CodedColumn):
                self.added_at = CodedColumn(rows.added_at.codes.copy(), rows.added_at.values)
            else:
                self.added_at = self.added_at.extended(pick(rows.added_at))
            if fresh and isinstance(rows.extra, SparseColumn):
                self.extra = SparseColumn(rows.extra.n, rows.extra.values)
            else:
                self.extra = self.extra.extended(pick(rows.extra))
            self.alive = np.concatenate([self.alive, np.ones(len(take), dtype=bool)])
            if fresh:
                self._id_index = self._hex_keys = None
                self._changed()
                return np.arange(start, start + len(take), dtype=np.int64)
            codes.extend(range(start, start + len(take)))
        added = np.asarray(sorted(codes), dtype=np.int64)
        self._index_rows(added)
        self._changed()
        return added

    def rows(self, codes: np.ndarray) -> ImageRows:
        return ImageRows(
            ids=self.ids[codes].tolist(),
            paths=self.paths[codes].tolist(),
            sizes=self.sizes[codes].tolist(),
            usage=self.usage[codes].tolist(),
            added_at=self.added_at[codes].tolist(),
            extra=self.extra[codes].tolist(),
        )

    def remove_images(self, codes: np.ndarray) -> dict[str, LabelSet]:
        """Mark rows removed and take them out of every label; returns what the labels lost."""
        codes = sorted_unique(codes)
        codes = codes[self.alive[codes]] if len(codes) else codes
        lost: dict[str, LabelSet] = {}
        for name, labelset in self.labels.items():
            hit = member(labelset.codes, codes)
            if hit.any():
                lost[name] = labelset.take(hit)
                self.labels[name] = labelset.take(~hit)
        self.alive[codes] = False
        # The index of ids keeps removed rows: a lookup checks ``alive``, and an image added
        # again is found in its old row.
        self._changed()
        return lost

    def set_usage(self, codes: np.ndarray, usage: str | np.ndarray) -> np.ndarray:
        """Set the usage of the live images ``codes``; returns their usage before."""
        codes = np.asarray(codes, dtype=np.int64)
        before = self.usage[codes].copy()
        live = self.alive[codes]
        values = np.broadcast_to(np.asarray(usage, dtype=object), codes.shape)
        self.usage[codes[live]] = values[live]
        self._changed()
        return before

    # -- labels -----------------------------------------------------------------------------------
    def ensure_label(self, name: str) -> bool:
        """Make the label exist (with no images); True when it is new."""
        if name in self.labels:
            return False
        self.labels[name] = LabelSet()
        self._changed()
        return True

    def add_label(
        self,
        name: str,
        codes: np.ndarray,
        by: int | np.ndarray,
        at: int | np.ndarray,
        extra: dict[int, dict[str, Any]] | None = None,
    ) -> np.ndarray:
        """Give ``name`` to the images ``codes``; returns the codes that did not have it yet."""
        codes = np.asarray(codes, dtype=np.int64)
        by_codes = np.broadcast_to(np.asarray(by, dtype=np.int32), codes.shape)
        at_codes = np.broadcast_to(np.asarray(at, dtype=np.int32), codes.shape)
        if len(codes):
            live = self.alive[codes]
            codes, by_codes, at_codes = codes[live], by_codes[live], at_codes[live]
        current = self.labels.get(name)
        if current is None:
            current = self.labels[name] = LabelSet()
        if not len(codes):
            self._changed()
            return _EMPTY.copy()
        order = np.argsort(codes, kind="stable")
        codes, by_codes, at_codes = codes[order], by_codes[order], at_codes[order]
        first = np.ones(len(codes), dtype=bool)
        first[1:] = codes[1:] != codes[:-1]
        codes, by_codes, at_codes = codes[first], by_codes[first], at_codes[first]
        new = ~member(codes, current.codes)
        added = codes[new]
        if len(added) and not len(current.codes):  # a new label (a manifest read): no merge
            current.codes, current.by, current.at = added, by_codes[new], at_codes[new]
            if extra:
                keep = set(added.tolist())
                current.extra.update({c: e for c, e in extra.items() if c in keep})
        elif len(added):
            # Both sides are sorted: insert in place of a full re-sort of the merged arrays.
            where = np.searchsorted(current.codes, added)
            current.codes = np.insert(current.codes, where, added)
            current.by = np.insert(current.by, where, by_codes[new])
            current.at = np.insert(current.at, where, at_codes[new])
            if extra:
                keep = set(added.tolist())
                current.extra.update({c: e for c, e in extra.items() if c in keep})
        self._changed()
        return added

    def remove_label(self, name: str, codes: np.ndarray) -> LabelSet:
        """Take ``name`` off ``codes``; returns what was removed (for undo)."""
        current = self.labels.get(name)
        if current is None or not len(current):
            return LabelSet()
        hit = member(current.codes, sorted_unique(codes))
        removed = current.take(hit)
        if hit.any():
            self.labels[name] = current.take(~hit)
            self._changed()
        return removed

    def drop_label(self, name: str) -> LabelSet | None:
        """Delete the label itself; returns its images (None when it did not exist)."""
        current = self.labels.pop(name, None)
        self._changed()
        return current

    def rename_label(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` keeping its place; merge into ``new`` when that exists."""
        current = self.labels.get(old)
        if current is None or old == new:
            return
        if new in self.labels:
            self.add_label(new, current.codes, current.by, current.at, current.extra)
            del self.labels[old]
        else:
            self.labels = {(new if k == old else k): v for k, v in self.labels.items()}
        self._changed()

    # -- views ------------------------------------------------------------------------------------
    def labeled_mask(self) -> np.ndarray:
        key = "labeled_mask"
        mask = self._cache.get(key)
        if mask is None:
            mask = np.zeros(self.n_rows, dtype=bool)
            for labelset in self.labels.values():
                mask[labelset.codes] = True
            mask &= self.alive
            self._cache[key] = mask
        return mask

    def view_codes(self, view: str, label: str | None = None) -> np.ndarray:
        key = ("view", view, label)
        codes = self._cache.get(key)
        if codes is None:
            if label is not None:
                labelset = self.labels.get(label)
                base = labelset.codes if labelset is not None else _EMPTY
                if view == "unlabeled":
                    base = _EMPTY
                codes = base
            elif view == "all":
                codes = np.flatnonzero(self.alive)
            elif view == "labeled":
                codes = np.flatnonzero(self.labeled_mask())
            elif view == "unlabeled":
                codes = np.flatnonzero(self.alive & ~self.labeled_mask())
            else:
                raise ValueError(f"view must be 'all', 'labeled' or 'unlabeled', not {view!r}")
            self._cache[key] = codes
        return codes

    def labels_by_code(self, codes: np.ndarray) -> dict[int, list[str]]:
        """The labels of each code (in All Labels order)."""
        want = np.asarray(codes, dtype=np.int64)
        out: dict[int, list[str]] = {int(c): [] for c in want}
        if not len(want):
            return out
        for name, labelset in self.labels.items():
            if not len(labelset):
                continue
            hit = want[member(want, labelset.codes)]
            for c in hit.tolist():
                out[c].append(name)
        return out

    def label_codes_long(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All (code, label index, by, at) pairs, sorted by code then label order."""
        parts = [(i, ls) for i, ls in enumerate(self.labels.values()) if len(ls)]
        if not parts:
            empty32 = np.empty(0, dtype=np.int32)
            return _EMPTY.copy(), empty32, empty32, empty32
        codes = np.concatenate([ls.codes for _, ls in parts])
        which = np.concatenate([np.full(len(ls), i, dtype=np.int32) for i, ls in parts])
        by = np.concatenate([ls.by for _, ls in parts])
        at = np.concatenate([ls.at for _, ls in parts])
        order = np.lexsort((which, codes))
        return codes[order], which[order], by[order], at[order]
