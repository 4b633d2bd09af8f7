"""Reading a manifest's lines into columns (see :mod:`.manifest` for the format).

Most lines of most manifests fit one schema, and Arrow reads them at C speed: the whole file at
once when every line fits (:func:`read_clean`), else in blocks (:func:`read_blocks`). A line
that does not fit (a field of another type, an unknown field, a malformed line) makes its block
fail; the block is halved until the failing lines are few, and those are read one by one with
orjson (:class:`LineByLine`), which says what is wrong with a line. :func:`arrow_columns` then
tells which Arrow-read lines need the line-by-line reader after all. What the lines mean (paths,
ids, merged repeats, refused sources) is :mod:`.manifest_parse`'s business.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as paj

from .manifest_fields import CLASSIFICATION

__all__ = [
    "ODD_SOURCE",
    "SLICE_BYTES",
    "LineByLine",
    "arrow_columns",
    "as_mask",
    "in_file_order",
    "line_bounds",
    "raw_lines",
    "read_blocks",
    "read_clean",
]

_KNOWN_ROW = {"source", "usage", "id", "annotation"}
_KNOWN_ANNOTATION = {
    "type",
    "name",
    "annotated-by",
    "annotated_by",
    "creation-time",
    "creation_time",
}
# The schema most lines of most manifests fit (see the module docstring).
_ANNOTATION = pa.struct(
    [
        ("type", pa.string()),
        ("name", pa.string()),
        ("annotated-by", pa.string()),
        ("creation-time", pa.string()),
    ]
)
_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("usage", pa.string()),
        ("id", pa.string()),
        ("annotation", pa.list_(_ANNOTATION)),
    ]
)
_PARSE = paj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="error")
_BLOCK_LINES = 1 << 16
_ONE_BY_ONE = 32  # a failing block of this many lines or fewer is read line by line
_ONE_THREAD = paj.ReadOptions(use_threads=False)  # see read_clean
SLICE_BYTES = 1 << 24
"""Bytes of a clean manifest read at once (see :func:`read_clean`)."""
ODD_SOURCE = re.compile(r"(^|/)\.\.?(/|$)|(^|[^:])//|/.*://|\\|^\s|\s$|\?|#")
"""Sources whose path key may not simply be the text after the folder's prefix. The ``://`` of
a scheme (every line of a ModelArts manifest has ``s3://``) is not odd; any other ``//`` is."""


@dataclass
class LineByLine:
    """Lines read one by one (orjson), in columns like Arrow's."""

    line: list[int] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    id: list[str | None] = field(default_factory=list)
    usage: list[str | None] = field(default_factory=list)
    extra: dict[int, dict[str, Any]] = field(default_factory=dict)  # line -> unknown fields
    others: dict[int, list[Any]] = field(default_factory=dict)  # line -> other annotations
    a_line: list[int] = field(default_factory=list)
    a_name: list[str] = field(default_factory=list)
    a_by: list[str] = field(default_factory=list)
    a_at: list[str] = field(default_factory=list)
    a_extra: dict[int, dict[str, Any]] = field(default_factory=dict)  # entry -> unknown fields

    def read(self, index: int, raw: bytes, where: str, problems: list[tuple[int, str]]) -> None:
        """Read line ``index`` (0-based) the way every line used to be read."""
        number = index + 1
        line = raw.strip()
        if not line:
            return
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(
                (number, f"{where} line {number}: not valid JSON ({exc}); line skipped")
            )
            return
        if not isinstance(record, dict):
            problems.append((number, f"{where} line {number}: not a JSON object; line skipped"))
            return
        source = record.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append((number, f"{where} line {number}: no 'source'; line skipped"))
            return
        annotations = record.get("annotation") or []
        if not isinstance(annotations, list):
            problems.append(
                (
                    number,
                    f"{where} line {number}: 'annotation' is not a list; its labels were skipped",
                )
            )
            annotations = []
        image_id = record.get("id")
        usage = record.get("usage")
        self.line.append(index)
        self.source.append(source.strip())
        self.id.append(image_id if isinstance(image_id, str) else None)
        self.usage.append(usage if isinstance(usage, str) else None)
        unknown = {k: v for k, v in record.items() if k not in _KNOWN_ROW}
        if unknown:
            self.extra[index] = unknown
        others: list[Any] = []
        for item in annotations:
            if not isinstance(item, dict):
                problems.append(
                    (number, f"{where} line {number}: an annotation is not an object; skipped")
                )
                continue
            kind = item.get("type", CLASSIFICATION)
            name = item.get("name")
            if kind != CLASSIFICATION or not isinstance(name, str):
                others.append(item)
                continue
            by = item.get("annotated-by", item.get("annotated_by", ""))
            at = item.get("creation-time", item.get("creation_time", ""))
            more = {k: v for k, v in item.items() if k not in _KNOWN_ANNOTATION}
            if more:
                self.a_extra[len(self.a_line)] = more
            self.a_line.append(index)
            self.a_name.append(name.strip())
            self.a_by.append(str(by or ""))
            self.a_at.append(str(at or ""))
        if others:
            self.others[index] = others


def line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line (without its line feed)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    feeds = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], feeds + 1))
    ends = np.concatenate((feeds, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def read_clean(data: bytes) -> list[tuple[np.ndarray, pa.Table]] | None:
    """The whole manifest read by Arrow, when every line is an object that fits the schema
    (the common case: no line to find, no block to halve); else None.

    It is read in slices of about :data:`SLICE_BYTES` bytes, on this thread alone: the caller
    reads blocks on threads of its own (Arrow's threads would hold three times a table's size
    while parsing, and, with the caller's, ask for more cores than there are).
    """
    if not data.startswith(b"{"):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    out: list[tuple[np.ndarray, pa.Table]] = []
    start = line = 0
    while start < len(buf):
        end = data.find(b"\n", start + SLICE_BYTES)
        end = len(buf) if end < 0 else end + 1
        # Every line starts with "{": no blank line, which Arrow would skip. Then, as each
        # line gives one row at least, as many rows as lines means row k is line k.
        following = np.flatnonzero(buf[start : end - 1] == 10) + (start + 1)
        if not (buf[following] == ord("{")).all():
            return None
        lines = len(following) + 1
        try:
            table = paj.read_json(
                pa.BufferReader(pa.py_buffer(data).slice(start, end - start)),  # no copy
                read_options=_ONE_THREAD,
                parse_options=_PARSE,
            )
        except pa.ArrowInvalid:
            return None
        if table.num_rows != lines:
            return None
        out.append((np.arange(line, line + lines, dtype=np.int64), table))
        start, line = end, line + lines
    return out


def read_blocks(
    data: bytes, starts: np.ndarray, ends: np.ndarray
) -> tuple[list[tuple[np.ndarray, pa.Table]], list[int]]:
    """Arrow tables of the blocks of lines it reads (with their line indexes), and the
    indexes of the lines left to read one by one."""
    n = len(starts)
    buf = np.frombuffer(data, dtype=np.uint8)
    length = ends - starts
    first = buf[np.minimum(starts, max(len(buf) - 1, 0))] if len(buf) else np.empty(0, np.uint8)
    is_object = (length > 0) & (first == ord("{"))
    blank = (length == 0) | ((length == 1) & (first == 13))
    odd = ~is_object & ~blank
    longest = int(length.max()) if n else 0
    options = paj.ReadOptions(block_size=max(1 << 20, longest + 16))
    tables: list[tuple[np.ndarray, pa.Table]] = []
    slow: list[int] = []
    pending = [(lo, min(lo + _BLOCK_LINES, n)) for lo in range(0, n, _BLOCK_LINES)][::-1]
    while pending:
        lo, hi = pending.pop()
        if hi - lo <= _ONE_BY_ONE:
            slow.extend(i for i in range(lo, hi) if not blank[i])
            continue
        table = None
        if not odd[lo:hi].any():
            chunk = io.BytesIO(memoryview(data)[starts[lo] : ends[hi - 1]])
            try:
                table = paj.read_json(chunk, read_options=options, parse_options=_PARSE)
            except pa.ArrowInvalid:
                table = None
        rows = np.flatnonzero(is_object[lo:hi]) + lo
        if table is None or table.num_rows != len(rows):
            mid = (lo + hi) // 2
            pending += [(mid, hi), (lo, mid)]
            continue
        tables.append((rows, table))
    return tables, slow


def arrow_columns(
    tables: list[tuple[np.ndarray, pa.Table]],
) -> tuple[np.ndarray, pa.Table, np.ndarray, np.ndarray]:
    """All Arrow-read lines: their indexes, their table (chunked as read: no copy), a mask of
    the lines that must be read one by one after all (no usable source, or annotations of
    another kind), and a mask of the sources whose path is not simply the text after the
    folder's prefix (see :data:`ODD_SOURCE`)."""
    if not tables:
        empty = np.empty(0, bool)
        return np.empty(0, np.int64), _SCHEMA.empty_table(), empty, empty
    lines = np.concatenate([rows for rows, _ in tables])
    table = tables[0][1] if len(tables) == 1 else pa.concat_tables([t for _, t in tables])
    source = table.column("source")
    odd = pc.fill_null(pc.match_substring_regex(source, ODD_SOURCE.pattern), False)
    odd_mask = as_mask(odd)
    redo_mask = as_mask(pc.is_null(source))
    for k in np.flatnonzero(odd_mask & ~redo_mask).tolist():
        value = source[k].as_py()
        if value != value.strip() or not value:  # the line-by-line reader says what it is
            redo_mask[k] = True
    redo_mask |= as_mask(pc.fill_null(pc.equal(source, ""), False))
    start = 0
    for chunk in table.column("annotation").chunks:
        if len(chunk.values):
            items = chunk.flatten()
            kind = items.field("type")
            bad = pc.or_kleene(
                pc.is_null(items.field("name")),
                pc.and_kleene(pc.is_valid(kind), pc.not_equal(kind, CLASSIFICATION)),
            )
            bad = pc.fill_null(bad, False).to_numpy(zero_copy_only=False)
            if bad.any():
                parents = pc.list_parent_indices(chunk).to_numpy()
                redo_mask[start + parents[bad]] = True
        start += len(chunk)
    return lines, table, redo_mask, odd_mask


def as_mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array (without nulls) as a NumPy mask."""
    if isinstance(values, pa.ChunkedArray):
        return np.asarray(values.to_numpy(), dtype=bool)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def in_file_order(table: pa.Table, name: str, extra: list[Any], take: pa.Array | None) -> Any:
    """A column of the Arrow-read lines with the line-by-line ones, in file order."""
    if take is None:  # every line was read by Arrow, in order: no copy
        return table.column(name)
    both = pa.concat_arrays([table.column(name).combine_chunks(), pa.array(extra, pa.string())])
    return both.take(take)


def raw_lines(data: bytes, indexes: np.ndarray) -> list[bytes]:
    """The lines ``indexes`` (0-based, as the readers count them) of ``data``, stripped."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        lines = data.splitlines()
        return [lines[i].strip() for i in indexes.tolist()]
    starts, ends = line_bounds(data)
    return [data[starts[i] : ends[i]].strip() for i in indexes.tolist()]
