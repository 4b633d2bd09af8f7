"""Columns of image rows that hold no Python object per row.

At ten million images a Python ``str`` per id and per path costs some 80 bytes each, and
making them from a snapshot's Arrow columns takes seconds. So the state keeps:

- ids as 64-bit numbers while every id is 16 lowercase hex digits (as ``image_id_for`` makes
  them): :class:`HexColumn`; other ids, and paths, as Arrow's UTF-8 strings, the very buffers
  read from a snapshot: :class:`TextColumn`;
- values shared by many rows (usage, when added) as small integer codes into a table of
  values: :class:`CodedColumn`; values that most rows lack (unknown manifest fields) by row:
  :class:`SparseColumn`.

Each answers what callers of a numpy object array ask: ``len``, ``column[i]`` (one value),
``column[codes]`` / ``column[mask]`` (a numpy object array of those values, made on demand,
at a cost in proportion to the rows asked), ``tolist()``. :meth:`TextColumn.arrow` and
:meth:`HexColumn.arrow` give rows as an Arrow string array without a Python object per value,
for the Parquet and manifest writers. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = [
    "CodedColumn",
    "HexColumn",
    "SparseColumn",
    "StringsColumn",
    "TextColumn",
    "hex_keys",
    "hex_keys_of_text",
    "string_buffers",
    "strings_column",
    "text_column",
]

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# The two hex digits of each byte value, as the bytes of one uint16 (in memory order).
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % v for v in range(256)), dtype=np.uint16)
_NIBBLE = np.full(256, 255, dtype=np.uint8)
_NIBBLE[_HEX_DIGITS] = np.arange(16, dtype=np.uint8)
# Above this many chunks, appending rows merges them (a row's chunk is found by bisection).
_MAX_CHUNKS = 64
# Asked for this many rows or more at once, and a quarter of its rows at least, a column makes
# a Python string of every row once and keeps them (see StringsColumn.__getitem__).
_KEEP_STRINGS_FROM = 1 << 16
# hex_keys reads this many ids at a time.
_HEX_KEYS_CHUNK = 1 << 20


def hex_keys(ids: Sequence[str]) -> np.ndarray | None:
    """Ids of exactly 16 lowercase hex digits as uint64 numbers; None if any id is not."""
    n = len(ids)
    if not n:
        return np.empty(0, dtype=np.uint64)
    if n > _HEX_KEYS_CHUNK:  # bounded temporaries: about 50 bytes an id at a time
        parts = []
        for start in range(0, n, _HEX_KEYS_CHUNK):
            part = hex_keys(ids[start : start + _HEX_KEYS_CHUNK])
            if part is None:
                return None
            parts.append(part)
        return np.concatenate(parts)
    # One pass over the Python strings (they may lie anywhere in memory: each visit is a cache
    # miss), the checks on the bytes after. Every 17th byte must be the separator and every
    # other one a lowercase hex digit: then no id holds a separator, so each has 16 digits.
    try:
        text = "\n".join(ids).encode("ascii") + b"\n"
    except (TypeError, ValueError):
        return None
    if len(text) != 17 * n:
        return None
    rows = np.frombuffer(text, dtype=np.uint8).reshape(n, 17)
    if not (rows[:, 16] == ord("\n")).all():
        return None
    return hex_keys_of_text(np.ascontiguousarray(rows[:, :16]).reshape(-1), n)


def hex_keys_of_text(data: np.ndarray, n: int) -> np.ndarray | None:
    """:func:`hex_keys` of ``n`` ids given as their ``16 * n`` ASCII bytes back to back (the
    data of an Arrow string column whose every value is 16 bytes long): no Python string per
    id. None if some byte is not a lowercase hex digit."""
    if len(data) != 16 * n:
        return None
    nibbles = _NIBBLE[data]
    if n and nibbles.max() == 255:
        return None
    nibbles = nibbles.reshape(n, 16)
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    return np.ascontiguousarray(packed).view(">u8").reshape(n).astype(np.uint64)


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """An Arrow string array's offsets (``len(values) + 1`` of them, int32 or int64) and the
    bytes they point into, read in place; None when some value is missing or the array holds
    no strings."""
    if values.null_count:
        return None
    if pa.types.is_large_string(values.type):
        offset_type: Any = np.int64
    elif pa.types.is_string(values.type):
        offset_type = np.int32
    else:
        return None
    n = len(values)
    buffers = values.buffers()
    if not n or buffers[1] is None:
        return np.zeros(n + 1, dtype=offset_type), np.empty(0, dtype=np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[values.offset : values.offset + n + 1]
    text = buffers[2]
    data = np.frombuffer(text, dtype=np.uint8) if text is not None else np.empty(0, np.uint8)
    return offsets, data


def hex_keys_of_arrow(values: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """:func:`hex_keys` of an Arrow string column, read from its buffers; None when some value
    is missing or is not 16 lowercase hex digits."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    found = string_buffers(values)
    if found is None:
        return None
    offsets, text = found
    n = len(values)
    if not n:
        return np.empty(0, dtype=np.uint64)
    if not (np.diff(offsets) == 16).all():
        return None
    data = text[offsets[0] : offsets[-1]]
    return hex_keys_of_text(data, n)


def _positions(key: Any, n: int) -> np.ndarray:
    """The row numbers that ``key`` (an index array, a boolean mask, a slice or a list) selects
    out of ``n`` rows, as int64."""
    if isinstance(key, slice):
        return np.arange(n, dtype=np.int64)[key]
    key = np.asarray(key)
    if key.dtype == bool:
        if len(key) != n:
            raise IndexError(f"boolean index of {len(key)} for {n} rows")
        return np.flatnonzero(key)
    if not len(key):
        return np.empty(0, dtype=np.int64)
    if key.dtype.kind not in "iu":
        raise IndexError(f"rows are chosen by integers or a mask, not {key.dtype}")
    key = key.astype(np.int64, copy=False)
    low = key.min()
    if low < -n or key.max() >= n:
        raise IndexError(f"row out of range for {n} rows")
    return key if low >= 0 else np.where(key < 0, key + n, key)


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class StringsColumn:
    """What :class:`HexColumn` and :class:`TextColumn` have in common (see the module).

    A selection of many rows (a view of the whole dataset as a pandas Index, which the grid
    asks for again after every change) would make as many strings each time: from
    :data:`_KEEP_STRINGS_FROM` rows on, and a quarter of the column at least, the column makes
    a string of every row once and keeps them, as an object array did (the strings then cost
    memory, such selections no time). Smaller selections (a page, an action on 100,000 of ten
    million images) make only their own strings.
    """

    _strings: np.ndarray | None = None  # every row's value as a str, once made

    def __len__(self) -> int:
        raise NotImplementedError

    def _one(self, i: int) -> str:
        raise NotImplementedError

    def _many(self, rows: np.ndarray) -> list[str]:
        raise NotImplementedError

    def _select(self, rows: np.ndarray) -> np.ndarray:
        return _objects(self._many(rows))

    def arrow(self, rows: Any = None) -> pa.Array:
        """The values of ``rows`` (every row when None) as an Arrow string array."""
        raise NotImplementedError

    def extended(self, values: Sequence[str]) -> StringsColumn:
        """A new column: these rows, then ``values``."""
        raise NotImplementedError

    def _keep_strings(self, before: StringsColumn) -> None:
        """Keep the strings ``before`` (a column these rows start with) made already."""
        if before._strings is not None and len(before._strings) == len(before):
            added = self._select(np.arange(len(before), len(self), dtype=np.int64))
            self._strings = np.concatenate([before._strings, added])

    def _all_strings(self) -> np.ndarray:
        """Every row's value as a str, made a million at a time (no temporary of the size of
        the column beside them)."""
        n = len(self)
        out = np.empty(n, dtype=object)
        step = 1 << 20
        for start in range(0, n, step):
            stop = min(n, start + step)
            out[start:stop] = self._many(np.arange(start, stop, dtype=np.int64))
        return out

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            n = len(self)
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"row {i} out of range for {n} rows")
            if self._strings is not None:
                value: str = self._strings[i]
                return value
            return self._one(i + n if i < 0 else i)
        rows = _positions(key, len(self))
        if self._strings is None and len(rows) >= max(_KEEP_STRINGS_FROM, len(self) // 4):
            self._strings = self._all_strings()
        if self._strings is not None:
            out: np.ndarray = self._strings[rows]
            return out
        return self._select(rows)

    def tolist(self) -> list[str]:
        if self._strings is not None:
            values: list[str] = self._strings.tolist()
            return values
        return self._many(np.arange(len(self), dtype=np.int64))

    def __iter__(self) -> Any:
        return iter(self.tolist())

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(len(self), dtype=np.int64)]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        head = ", ".join(repr(v) for v in self._many(np.arange(min(3, len(self)))))
        return (
            f"<{type(self).__name__} of {len(self)} rows: {head}{', …' if len(self) > 3 else ''}>"
        )


class HexColumn(StringsColumn):
    """Ids of 16 lowercase hex digits, kept as the 64-bit numbers they spell (``keys``)."""

    def __init__(self, keys: np.ndarray | None = None) -> None:
        self.keys = np.empty(0, dtype=np.uint64) if keys is None else keys

    def __len__(self) -> int:
        return len(self.keys)

    def _one(self, i: int) -> str:
        return f"{int(self.keys[i]):016x}"

    def _many(self, rows: np.ndarray) -> list[str]:
        text = self.keys[rows].astype(">u8").tobytes().hex()
        return [text[k : k + 16] for k in range(0, len(text), 16)]

    def arrow(self, rows: Any = None) -> pa.Array:
        keys = self.keys if rows is None else self.keys[_positions(rows, len(self))]
        # Each byte's two digits at once (a table of 256 pairs): one gather, where a gather
        # per digit into every other byte took three times as long.
        text = _HEX_PAIRS[keys.astype(">u8").view(np.uint8)].view(np.uint8)
        if len(text) < 2**31:
            offsets = np.arange(0, len(text) + 1, 16, dtype=np.int32)
            return pa.StringArray.from_buffers(len(keys), pa.py_buffer(offsets), pa.py_buffer(text))
        offsets = np.arange(0, len(text) + 1, 16, dtype=np.int64)  # beyond 134M ids
        return pa.LargeStringArray.from_buffers(
            len(keys), pa.py_buffer(offsets), pa.py_buffer(text)
        )

    def extended(self, values: Sequence[str]) -> StringsColumn:
        keys = hex_keys(values)
        if keys is None:  # an id of another form: every id as text from now on
            text = TextColumn([self.arrow()])
            text._strings = self._strings
            return text.extended(values)
        out = HexColumn(np.concatenate([self.keys, keys]))
        out._keep_strings(self)
        return out


class TextColumn(StringsColumn):
    """Strings as Arrow keeps them (offsets into UTF-8 bytes), in chunks; a row given another
    value later (an image added again from another path) is kept beside them."""

    def __init__(
        self, chunks: Iterable[pa.Array] = (), changed: dict[int, str] | None = None
    ) -> None:
        self.chunks = [c for c in chunks if len(c)]
        sizes = [len(c) for c in self.chunks]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        self._changed = dict(changed or {})

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _one(self, i: int) -> str:
        found = self._changed.get(i)
        if found is not None:
            return found
        k = int(np.searchsorted(self._starts, i, side="right")) - 1
        value: str = self.chunks[k][i - int(self._starts[k])].as_py()
        return value

    def _take(self, rows: np.ndarray) -> pa.Array:
        if len(self.chunks) == 1:
            out = self.chunks[0].take(pa.array(rows, pa.int64()))
        elif not self.chunks:
            out = pa.array([], pa.string())
        else:
            out = self._take_by_chunk(rows)
        if self._changed:
            hit = np.flatnonzero(np.isin(rows, np.fromiter(self._changed, np.int64)))
            if len(hit):
                values = out.to_pylist()
                for j in hit.tolist():
                    values[j] = self._changed[int(rows[j])]
                out = pa.array(values, out.type)
        return out

    def _take_by_chunk(self, rows: np.ndarray) -> pa.Array:
        """``take`` chunk by chunk: Arrow's take over chunks joins them all first (a copy of
        the whole column to show one page)."""
        chunk_of = np.searchsorted(self._starts, rows, side="right") - 1
        in_order = len(rows) < 2 or bool((chunk_of[1:] >= chunk_of[:-1]).all())
        order = np.arange(len(rows)) if in_order else np.argsort(chunk_of, kind="stable")
        bounds = np.searchsorted(chunk_of[order], np.arange(len(self.chunks) + 1))
        parts = [
            chunk.take(pa.array(rows[order[a:b]] - int(self._starts[k]), pa.int64()))
            for k, (chunk, a, b) in enumerate(
                zip(self.chunks, bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            )
            if a < b
        ]
        joined = pa.concat_arrays(parts) if parts else pa.array([], self.chunks[0].type)
        if in_order:
            return joined
        back = np.empty(len(rows), dtype=np.int64)
        back[order] = np.arange(len(rows))
        return joined.take(pa.array(back))

    def _many(self, rows: np.ndarray) -> list[str]:
        values: list[str] = self._take(rows).to_pylist()
        return values

    def _select(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self._take(rows).to_numpy(zero_copy_only=False), dtype=object)

    def arrow(self, rows: Any = None) -> pa.Array:
        if rows is None:
            if not self._changed and self.chunks:
                if len(self.chunks) == 1:
                    return self.chunks[0]
                return pa.chunked_array(self.chunks).combine_chunks()
            rows = np.arange(len(self), dtype=np.int64)
        return self._take(_positions(rows, len(self)))

    def chunked(self) -> pa.ChunkedArray:
        """Every row as a chunked Arrow array: the chunks themselves when no row was given
        another value, without the copy of the whole column that joining them takes (for a
        writer that goes a slice at a time)."""
        if self._changed or len(self.chunks) < 2:
            return pa.chunked_array([self.arrow()])
        return pa.chunked_array(self.chunks)

    def set(self, i: int, value: str) -> None:
        """Give row ``i`` the value ``value``."""
        if self._one(i) != value:
            self._changed[i] = value
            if self._strings is not None:
                self._strings[i] = value

    def extended(self, values: Sequence[str]) -> TextColumn:
        kind = self.chunks[0].type if self.chunks else pa.string()  # chunks share one type
        added = values if isinstance(values, pa.Array) else pa.array(list(values), kind)
        chunks = [*self.chunks, added.cast(kind)]
        if len(chunks) > _MAX_CHUNKS:
            # The small chunks that rows added one action at a time left are merged; big
            # ones (a snapshot's) stay: one string array holds at most 2 GiB of text.
            small = len(chunks)
            while small and len(chunks[small - 1]) < 1 << 20:
                small -= 1
            if len(chunks) - small > 1:
                chunks = [*chunks[:small], pa.chunked_array(chunks[small:]).combine_chunks()]
        out = TextColumn(chunks, self._changed)
        out._keep_strings(self)
        return out

    def positions_of(self, values: Sequence[str]) -> np.ndarray:
        """The rows whose value is one of ``values`` (one pass over the column's bytes)."""
        if not len(self) or not len(values):
            return np.empty(0, dtype=np.int64)
        import pyarrow.compute as pc

        wanted = pa.array(list(values), pa.string())
        hits = [
            np.flatnonzero(pc.is_in(c, value_set=wanted).to_numpy(zero_copy_only=False)) + start
            for c, start in zip(self.chunks, self._starts[:-1].tolist(), strict=True)
        ]
        rows = np.concatenate(hits) if hits else np.empty(0, dtype=np.int64)
        if self._changed:
            rows = rows[~np.isin(rows, np.fromiter(self._changed, np.int64))]
            wanted_set = set(values)
            extra = [r for r, v in self._changed.items() if v in wanted_set]
            rows = np.sort(np.concatenate([rows, np.asarray(extra, dtype=np.int64)]))
        return rows.astype(np.int64, copy=False)


def strings_column(
    values: Sequence[str] | pa.Array | pa.ChunkedArray, *, ids: bool = True
) -> StringsColumn:
    """A column of ids: a :class:`HexColumn` when every value is 16 lowercase hex digits (and
    ``ids``), else a :class:`TextColumn`; a column given is taken as it is."""
    if isinstance(values, StringsColumn):
        return values
    if isinstance(values, pa.Array | pa.ChunkedArray):
        if ids:
            keys = hex_keys_of_arrow(values)
            if keys is not None:
                return HexColumn(keys)
        chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
        return TextColumn(chunks)
    if ids:
        keys = hex_keys(values)
        if keys is not None:
            return HexColumn(keys)
    return text_column(values)


def text_column(values: Sequence[str] | pa.Array | pa.ChunkedArray) -> TextColumn:
    """A :class:`TextColumn` of ``values``."""
    if isinstance(values, pa.ChunkedArray):
        return TextColumn(values.chunks)
    if isinstance(values, pa.Array):
        return TextColumn([values])
    return TextColumn([pa.array(list(values), pa.string())])


def _code_dtype(count: int) -> Any:
    if count <= 1 << 8:
        return np.uint8
    if count <= 1 << 16:
        return np.uint16
    return np.int32


class CodedColumn:
    """Values shared by many rows, each row a small integer code into ``values``."""

    def __init__(self, codes: np.ndarray | None = None, values: Sequence[str] = ()) -> None:
        self.values: list[str] = list(values)
        self._index = {v: i for i, v in enumerate(self.values)}
        if codes is None:
            codes = np.empty(0, dtype=np.uint8)
        self.codes = codes.astype(_code_dtype(len(self.values)), copy=False)
        self._table: np.ndarray | None = None

    @classmethod
    def of(cls, values: Sequence[str]) -> CodedColumn:
        column = cls()
        codes = column._encode(values)
        column.codes = codes.astype(_code_dtype(len(column.values)))
        return column

    @classmethod
    def from_arrow(cls, column: pa.Array | pa.ChunkedArray) -> CodedColumn:
        """From an Arrow column, dictionary-encoded or not (missing values become "")."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        values = [v if isinstance(v, str) else "" for v in column.dictionary.to_pylist()]
        indices = column.indices
        if indices.null_count:
            values.append("")
            indices = indices.fill_null(len(values) - 1)
        codes = indices.to_numpy(zero_copy_only=False)
        return cls(codes.astype(_code_dtype(len(values))), values)

    def __len__(self) -> int:
        return len(self.codes)

    def _table_of_values(self) -> np.ndarray:
        if self._table is None or len(self._table) != len(self.values):
            self._table = _objects(list(self.values))
        return self._table

    def _code(self, value: str) -> int:
        found = self._index.get(value)
        if found is None:
            found = self._index[value] = len(self.values)
            self.values.append(value)
            wider = _code_dtype(len(self.values))
            if np.dtype(wider).itemsize > self.codes.dtype.itemsize:
                self.codes = self.codes.astype(wider)
        return found

    def _encode(self, values: Any) -> np.ndarray:
        if isinstance(values, str):
            return np.full(1, self._code(values), dtype=np.int64)
        values = list(values)
        if values and values.count(values[0]) == len(values):  # one value for all (a sync's time)
            first = values[0]
            return np.full(len(values), self._code(first if isinstance(first, str) else ""))
        distinct = {v: self._code(v if isinstance(v, str) else "") for v in dict.fromkeys(values)}
        return np.fromiter(map(distinct.__getitem__, values), dtype=np.int64, count=len(values))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            return self.values[int(self.codes[key])]
        return self._table_of_values()[self.codes[key]]

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(value, str):
            self.codes[key] = self._code(value)
            return
        codes = self._encode(np.asarray(value, dtype=object).reshape(-1).tolist())
        self.codes[key] = codes if len(codes) != 1 else codes[0]

    def extended(self, values: Sequence[str]) -> CodedColumn:
        out = CodedColumn(self.codes, self.values)
        added = out._encode(values)
        out.codes = np.concatenate([out.codes, added.astype(out.codes.dtype)])
        return out

    def arrow(self, rows: Any = None) -> pa.DictionaryArray:
        """The values of ``rows`` (every row when None), dictionary-encoded."""
        codes = self.codes if rows is None else self.codes[rows]
        return pa.DictionaryArray.from_arrays(
            pa.array(codes.astype(np.int32)), pa.array(self.values, pa.string())
        )

    def tolist(self) -> list[str]:
        values: list[str] = self._table_of_values()[self.codes].tolist()
        return values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._table_of_values()[self.codes]
        return out if dtype is None else out.astype(dtype)


class SparseColumn:
    """Values that most rows lack (None): only the rows that have one are kept."""

    def __init__(self, n: int = 0, values: dict[int, Any] | None = None) -> None:
        self.n = n
        self.values: dict[int, Any] = dict(values or {})

    @classmethod
    def of(cls, values: Sequence[Any]) -> SparseColumn:
        return cls(len(values), {i: v for i, v in enumerate(values) if v is not None})

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            i = int(key)
            return self.values.get(i + self.n if i < 0 else i)
        rows = _positions(key, self.n)
        out = np.full(len(rows), None, dtype=object)
        if self.values:
            have = np.fromiter(self.values, np.int64, len(self.values))
            hit = np.flatnonzero(np.isin(rows, have))
            for j in hit.tolist():
                out[j] = self.values[int(rows[j])]
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        i = int(key)
        if value is None:
            self.values.pop(i, None)
        else:
            self.values[i] = value

    def rows(self) -> np.ndarray:
        """The rows that have a value, sorted."""
        return np.sort(np.fromiter(self.values, np.int64, len(self.values)))

    def extended(self, values: Sequence[Any]) -> SparseColumn:
        out = SparseColumn(self.n + len(values), self.values)
        values = list(values)
        if values.count(None) < len(values):  # most often none has a value: no loop then
            out.values.update((self.n + i, v) for i, v in enumerate(values) if v is not None)
        return out

    def tolist(self) -> list[Any]:
        return [self.values.get(i) for i in range(self.n)]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(self.n)]
        return out if dtype is None else out.astype(dtype)
