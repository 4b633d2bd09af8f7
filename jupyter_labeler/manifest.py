"""ModelArts manifests (JSON lines) to and from the in-memory :class:`~.state.State`.

One line per image::

    {"source": "s3://bucket/flowers/img_1.jpg", "usage": "TRAIN", "id": "a1b2c3d4e5f60718",
     "annotation": [{"type": "modelarts/image_classification", "name": "roses",
                     "annotated-by": "human/alice/alice",
                     "creation-time": "2026-11-25 07:10:11"}]}

``annotation`` is absent for an unlabeled image; it holds one annotation per label of the image
(who said what on an image shared by a team is kept in ``property``, see :mod:`.team`).
``annotated-by`` is written as ModelArts' own manifests write it, ``human/<user>/<user>``, and
read back as the user in that form or any other (a plain name from an older manifest is the
same annotator). Reading is tolerant of what ModelArts and other tools write: lowercase
``usage``, a ``property`` given as an object or as a JSON string, underscore spellings
(``annotated_by``, ``creation_time``), label names in Chinese, blank lines, and unknown fields,
which are kept and written back as they came. A malformed line is reported with its line number
and skipped; the rest loads.

A manifest is not trusted: a line whose ``source`` is not an image inside the source folder (a
URL elsewhere, ``../victim.jpg``, a hidden path, the label output; see :mod:`.paths`) never
becomes an image of the dataset. It is reported, and kept verbatim to be written back, so that
saving loses nothing of the manifest. A label name that breaks the naming rules is reported and
left off its image (the image stays): it never reaches a file name or the widget.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as paj

from .names import annotated_by, label_problem
from .paths import image_path_problem, suspect_mask
from .state import ImageRows, State
from .team import PROPERTY_PREFIX, team_from_manifest

__all__ = ["CLASSIFICATION", "ParsedManifest", "image_id_for", "parse_manifest", "write_manifest"]

CLASSIFICATION = "modelarts/image_classification"
_KNOWN_ROW = {"source", "usage", "id", "annotation"}
_KNOWN_ANNOTATION = {
    "type",
    "name",
    "annotated-by",
    "annotated_by",
    "creation-time",
    "creation_time",
}
# Longer ids are replaced by ours (journal readers refuse longer ones; see events.py).
MAX_ID_CHARS = 1024
# A source spelled otherwise than folder + path (``./x.jpg``, ``s3a://``), kept under this key
# of the row's extra fields and written back as it was.
SOURCE_SPELLING = "\x00source"
# Annotations of other kinds (object detection boxes, ...) ride along untouched under this key.
OTHER_ANNOTATIONS = "\x00other-annotations"


def image_id_for(path: str) -> str:
    """The stable id of the image at ``path`` (relative to the source folder)."""
    return hashlib.blake2b(path.encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class ParsedManifest:
    """What a manifest holds, in columns ready for :class:`~.state.State`.

    The labels are columns, one entry per classification annotation in file order: the row
    of its image, its name, ``annotated-by`` and ``creation-time`` (an empty string when the
    annotation had none), and its unknown fields by entry number.
    """

    rows: ImageRows
    label_rows: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    label_names: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    label_by: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    label_at: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))
    label_extra: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # lines whose source repeats an earlier line's: merged into that line's image
    merged: int = 0
    # lines whose source is no image of this dataset, as they were (without the line end)
    foreign: list[bytes] = field(default_factory=list)
    # whether some line's ``property`` holds assignments or reviews (see :mod:`.team`)
    team: bool = False
    # what the problems call the manifest
    where: str = "manifest"

    @property
    def labels(self) -> list[tuple[int, str, str, str, dict[str, Any] | None]]:
        """(row, name, annotated-by, creation-time, unknown fields or None) per annotation."""
        return [
            (int(row), name, by, at, self.label_extra.get(k))
            for k, (row, name, by, at) in enumerate(
                zip(
                    self.label_rows.tolist(),
                    self.label_names.to_pylist(),
                    self.label_by.to_pylist(),
                    self.label_at.to_pylist(),
                    strict=True,
                )
            )
        ]

    def to_state(self) -> State:
        """The state this manifest holds. Team values that the journal's rules would refuse
        (see :func:`~.team.team_from_manifest`) are left out and named in ``problems``."""
        state = State()
        state.add_images(self.rows, unique=True)  # one row per distinct path and id
        state.foreign = list(self.foreign)
        if not len(self.label_rows):
            if self.team:
                self.problems += team_from_manifest(
                    state, self.label_rows, [], [], [], where=self.where
                )
            return state
        name_codes, names = _encode(self.label_names)
        by_codes, by_values = _encode(self.label_by)
        at_codes, at_values = _encode(self.label_at)
        by = np.fromiter((state.authors.code(v) for v in by_values), np.int32)[by_codes]
        at = np.fromiter((state.times.code(v) for v in at_values), np.int32)[at_codes]
        order = np.argsort(name_codes, kind="stable")
        bounds = np.searchsorted(name_codes[order], np.arange(len(names) + 1))
        extras: dict[int, dict[int, dict[str, Any]]] = {}
        for k, more in self.label_extra.items():
            extras.setdefault(int(name_codes[k]), {})[int(self.label_rows[k])] = more
        for k, name in enumerate(names):
            chosen = order[bounds[k] : bounds[k + 1]]
            state.add_label(
                name, self.label_rows[chosen], by[chosen], at[chosen], extras.get(k) or None
            )
        if self.team:
            self.problems += team_from_manifest(
                state,
                self.label_rows,
                self.label_names.to_pylist(),
                self.label_by.to_pylist(),
                self.label_at.to_pylist(),
                where=self.where,
            )
        return state


def _encode(values: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes of ``values`` and the distinct values, in order of first appearance."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary.to_pylist()


# -- reading ------------------------------------------------------------------------------------
# Most lines of most manifests fit this schema: Arrow reads them at C speed. A line that does
# not (a field of another type, an unknown field, a malformed line) makes its block fail; the
# block is halved until the failing lines are few, and those are read one by one.
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
_ONE_BY_ONE = 32
_SLICE = 1 << 24  # bytes of a clean manifest read at once
_GAPS = (
    b"\n\n",
    b"\n ",
    b"\n\t",
    b"\n\r",
)  # a failing block of this many lines or fewer is read line by line
# Sources whose path key may not simply be the text after the folder's prefix.
_ODD_SOURCE = r"(^|/)\.\.?(/|$)|//|\\|^\s|\s$|\?|#"
_ODD = re.compile(_ODD_SOURCE)


@dataclass
class _Lines:
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


def _line_bounds(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of every line (without its line feed)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    feeds = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], feeds + 1))
    ends = np.concatenate((feeds, [len(buf)]))
    if starts[-1] == len(buf):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _read_clean(data: bytes) -> list[tuple[np.ndarray, pa.Table]] | None:
    """The whole manifest read by Arrow, when every line is an object that fits the schema
    (the common case: no line to find, no block to halve); else None.

    It is read in slices of about :data:`_SLICE` bytes, each given back to the system before
    the next: Arrow's threads hold three times a table's size while parsing, and on a busy
    machine the slices are not slower.
    """
    if not data.startswith(b"{"):
        return None
    buf = np.frombuffer(data, dtype=np.uint8)
    out: list[tuple[np.ndarray, pa.Table]] = []
    start = line = 0
    while start < len(buf):
        end = data.find(b"\n", start + _SLICE)
        end = len(buf) if end < 0 else end + 1
        # Every line starts with "{": no blank line, which Arrow would skip. Then, as each
        # line gives one row at least, as many rows as lines means row k is line k.
        feeds = np.flatnonzero(buf[start:end] == 10) + start
        following = feeds[feeds + 1 < end] + 1
        if not (buf[following] == ord("{")).all():
            return None
        lines = len(following) + 1
        try:
            table = paj.read_json(io.BytesIO(memoryview(data)[start:end]), parse_options=_PARSE)
        except pa.ArrowInvalid:
            return None
        if table.num_rows != lines:
            return None
        out.append((np.arange(line, line + lines, dtype=np.int64), table))
        pa.default_memory_pool().release_unused()
        start, line = end, line + lines
    return out


def _read_blocks(
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


def _arrow_columns(
    tables: list[tuple[np.ndarray, pa.Table]],
) -> tuple[np.ndarray, pa.Table, np.ndarray, np.ndarray]:
    """All Arrow-read lines: their indexes, their table (chunked as read: no copy), a mask of
    the lines that must be read one by one after all (no usable source, or annotations of
    another kind), and a mask of the sources whose path is not simply the text after the
    folder's prefix (see :data:`_ODD_SOURCE`)."""
    if not tables:
        empty = np.empty(0, bool)
        return np.empty(0, np.int64), _SCHEMA.empty_table(), empty, empty
    lines = np.concatenate([rows for rows, _ in tables])
    table = tables[0][1] if len(tables) == 1 else pa.concat_tables([t for _, t in tables])
    source = table.column("source")
    odd = pc.fill_null(pc.match_substring_regex(source, _ODD_SOURCE), False)
    odd_mask = _mask(odd)
    redo_mask = _mask(pc.is_null(source))
    for k in np.flatnonzero(odd_mask & ~redo_mask).tolist():
        value = source[k].as_py()
        if value != value.strip() or not value:  # the line-by-line reader says what it is
            redo_mask[k] = True
    redo_mask |= _mask(pc.fill_null(pc.equal(source, ""), False))
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


def _mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow array (without nulls) as a NumPy mask."""
    if isinstance(values, pa.ChunkedArray):
        return np.asarray(values.to_numpy(), dtype=bool)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool)


def _column(table: pa.Table, name: str, extra: list[Any], take: pa.Array | None) -> Any:
    """A column of the Arrow-read lines with the line-by-line ones, in file order."""
    if take is None:  # every line was read by Arrow, in order: no copy
        return table.column(name)
    both = pa.concat_arrays([table.column(name).combine_chunks(), pa.array(extra, pa.string())])
    return both.take(take)


def _relative_paths(
    sources: Any, odd: np.ndarray, relative: Callable[[str], str | None]
) -> pa.Array | pa.ChunkedArray:
    """``relative`` of every source; the common prefix is cut at C speed where it is sure
    (``odd`` marks the sources where it is not: :data:`_ODD_SOURCE`)."""
    n = len(sources)
    if not n:
        return sources
    prefix = None
    for value in sources.slice(0, 8).to_pylist():
        rel = relative(value)
        if rel and rel != value and value.endswith(rel):
            prefix = value[: len(value) - len(rel)]
            break
    if prefix is None:
        return pa.array([relative(s) for s in sources.to_pylist()], pa.string())
    fast = _mask(pc.starts_with(sources, prefix)) & ~odd
    cut = pc.utf8_slice_codeunits(sources, len(prefix))
    fast_at = np.flatnonzero(fast)
    sample = fast_at[:: max(1, len(fast_at) // 64)][:64]
    if any(relative(sources[int(i)].as_py()) != cut[int(i)].as_py() for i in sample):
        return pa.array([relative(s) for s in sources.to_pylist()], pa.string())
    if len(fast_at) == n:
        return cut
    slow_at = np.flatnonzero(~fast)
    fixed = [relative(s) for s in sources.take(pa.array(slow_at)).to_pylist()]
    if isinstance(cut, pa.ChunkedArray):
        cut = cut.combine_chunks()
    return pc.replace_with_mask(cut, pa.array(~fast), pa.array(fixed, pa.string()))


def _first_of(codes: np.ndarray, count: int) -> np.ndarray:
    """For each code in 0..count-1, the first position holding it."""
    first = np.full(count, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes), dtype=np.int64))
    return first


def parse_manifest(
    data: bytes,
    *,
    where: str,
    relative: Callable[[str], str | None],
    exclude: Sequence[str] = (),
    check: bool = True,
    prefix: str | None = None,
) -> ParsedManifest:
    """Read manifest bytes. ``relative`` maps a ``source`` URL to the image's path key (None
    when it lies outside the source folder).

    Problems (malformed lines, duplicates, refused label names) are listed in ``problems`` as
    plain sentences naming ``where`` and the line number; the lines that can be read are all
    kept. Lines with the same source are merged into one image (``merged`` counts them).

    With ``check`` (the default), a line whose path is not acceptable as an image of the
    dataset (:func:`~.paths.image_path_problem`, with ``exclude``) goes to ``foreign`` and a
    label name that breaks the rules is left off its image. Without it (a manifest read only to
    match its entries to images, as an import does), paths and names stay as given for the
    caller to judge.

    ``prefix`` is what :func:`write_manifest` puts before a path: a source spelled otherwise
    (``./x.jpg``, ``s3a://...``) is remembered, to be written back the same way. ``obs://``
    for an ``s3://`` prefix is not kept: ModelArts names OBS objects ``s3://``.
    """
    if check:
        inside = relative
    else:

        def inside(url: str) -> str:
            found = relative(url)
            return found if found is not None else url

    problems: list[tuple[int, str]] = []
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        # lone CRs end lines too: read line by line
        lines = data.splitlines()
        tables: list[tuple[np.ndarray, pa.Table]] = []
        clean = None
        slow = list(range(len(lines)))
        raw_of: Callable[[int], bytes] = lines.__getitem__
        view = None
    else:
        clean = _read_clean(data)
        tables, slow = clean or [], []
        if clean is None:
            starts, ends = _line_bounds(data)
            tables, slow = _read_blocks(data, starts, ends)
        else:
            starts = ends = np.empty(0, dtype=np.int64)
        view = memoryview(data)

        def raw_of(i: int) -> bytes:
            nonlocal starts, ends
            if not len(starts):  # read whole by Arrow, yet a line must be read again
                starts, ends = _line_bounds(view.obj)  # type: ignore[arg-type]
            return bytes(view[starts[i] : ends[i]])

    fast_lines, table, redo, odd = _arrow_columns(tables)
    del clean
    if redo.any():
        slow = sorted([*slow, *fast_lines[redo].tolist()])
        fast_lines, table, odd = fast_lines[~redo], table.filter(pa.array(~redo)), odd[~redo]
    py = _Lines()
    for index in slow:
        py.read(index, raw_of(index), where, problems)

    # every line read, in file order
    line = np.concatenate([fast_lines, np.asarray(py.line, dtype=np.int64)])
    take = None
    if py.line:
        order = np.argsort(line, kind="stable")
        line, take = line[order], pa.array(order)
        py_odd = np.fromiter((_ODD.search(v) is not None for v in py.source), bool, len(py.source))
        odd = np.concatenate([odd, py_odd])[order]
    source = _column(table, "source", py.source, take)
    ids = _column(table, "id", py.id, take)
    usage = _column(table, "usage", py.usage, take)
    paths = _relative_paths(source, odd, inside)

    # lines whose source is no image of this dataset: kept as they are, read no further
    foreign: list[bytes] = []
    refused_lines = np.empty(0, dtype=np.int64)
    if check:
        refused, refusals = _refused_sources(paths, source, line, exclude, where)
        if refused.any():
            # A refused line says one thing: that it is no image here (and is kept as it is).
            numbers = {n for n, _ in refusals}
            problems[:] = [p for p in problems if p[0] not in numbers] + refusals
            refused_lines = line[refused]
            foreign = _raw_lines(data, refused_lines)
            keep = pa.array(~refused)
            line, odd = line[~refused], odd[~refused]
            source, ids, usage, paths = (c.filter(keep) for c in (source, ids, usage, paths))
    # A million lines' bytes need not stay for what follows (the caller holds no reference).
    if view is not None:
        view.release()  # raw_of is not called again
    del data

    # classification annotations read by Arrow, then Arrow's table can go
    parts_line: list[np.ndarray] = []
    parts_name: list[pa.Array] = []
    parts_by: list[pa.Array] = []
    parts_at: list[pa.Array] = []
    start = 0
    for chunk in table.column("annotation").chunks:
        if len(chunk.values):
            items = chunk.flatten()
            parents = pc.list_parent_indices(chunk).to_numpy()
            parts_line.append(fast_lines[start + parents])
            parts_name.append(pc.utf8_trim_whitespace(items.field("name")))
            parts_by.append(pc.fill_null(items.field("annotated-by"), ""))
            parts_at.append(pc.fill_null(items.field("creation-time"), ""))
        start += len(chunk)
    del table, tables
    pa.default_memory_pool().release_unused()

    # one image per distinct path, in order of first appearance
    row_of, path_values = _encode(paths)
    n_rows = len(path_values)
    first = _first_of(row_of, n_rows)
    repeats = np.flatnonzero(first[row_of] != np.arange(len(line)))
    merged = len(repeats)
    repeated = source[int(repeats[0])].as_py() if merged else ""
    extra: list[dict[str, Any] | None] = [None] * n_rows
    if prefix is not None and n_rows:
        _remember_spellings(source, paths, first, path_values, prefix, extra)
    del source, paths
    row_ids = ids.take(pa.array(first))
    row_usage = pc.fill_null(pc.utf8_upper(usage.take(pa.array(first))), "")
    image_ids = _image_ids(row_ids, path_values, line[first], where, problems)

    gone = set(refused_lines.tolist())
    team = False
    for index, unknown in py.extra.items():
        if index in gone:
            continue
        at_line = int(np.searchsorted(line, index))
        k = int(row_of[at_line])
        if first[k] == at_line:  # a repeated line's unknown fields are not kept
            extra[k] = {**(extra[k] or {}), **unknown}
            prop = unknown.get("property")
            team = team or (
                isinstance(prop, dict)
                and any(isinstance(key, str) and key.startswith(PROPERTY_PREFIX) for key in prop)
            )

    # classification annotations, in file order
    parts_line.append(np.asarray(py.a_line, dtype=np.int64))
    parts_name.append(pa.array(py.a_name, pa.string()))
    parts_by.append(pa.array(py.a_by, pa.string()))
    parts_at.append(pa.array(py.a_at, pa.string()))
    a_line = np.concatenate(parts_line)
    offset = len(a_line) - len(py.a_line)  # where the line-by-line entries start
    names, by_col, at_col = (pa.concat_arrays(parts) for parts in (parts_name, parts_by, parts_at))
    if len(a_line) and (a_line[1:] < a_line[:-1]).any():
        a_order = np.argsort(a_line, kind="stable")
        a_take = pa.array(a_order)
        names, by_col, at_col = names.take(a_take), by_col.take(a_take), at_col.take(a_take)
        a_line = a_line[a_order]
    else:
        a_order = np.arange(len(a_line))
    position_of = np.empty(len(a_order), dtype=np.int64)
    position_of[a_order] = np.arange(len(a_order))
    label_extra = {int(position_of[offset + k]): v for k, v in py.a_extra.items()}
    bad_names = _check_names(names, a_line + 1, where, problems, refuse=check)
    drop = bad_names | np.isin(a_line, refused_lines)
    if drop.any():
        # Entries of refused lines and refused names go; the others keep their order.
        kept = np.flatnonzero(~drop)
        new_position = np.full(len(a_line), -1, dtype=np.int64)
        new_position[kept] = np.arange(len(kept))
        label_extra = {
            int(new_position[k]): v for k, v in label_extra.items() if new_position[k] >= 0
        }
        take_kept = pa.array(kept)
        names, by_col, at_col = (c.take(take_kept) for c in (names, by_col, at_col))
        a_line = a_line[kept]
    rows_of_line = row_of[np.searchsorted(line, a_line)] if len(a_line) else np.empty(0, np.int64)

    # other kinds of annotations ride along; a repeated line adds only those not there yet
    seen_others: dict[int, set[bytes]] = {}
    for index in sorted(py.others):
        if index in gone:
            continue
        k = int(row_of[np.searchsorted(line, index)])
        slot = extra[k] or {}
        kept = slot.setdefault(OTHER_ANNOTATIONS, [])
        if line[first[k]] == index:
            kept.extend(py.others[index])
        else:
            seen = seen_others.get(k)
            if seen is None:
                seen = seen_others[k] = {_canonical(o) for o in kept}
            for item in py.others[index]:
                key = _canonical(item)
                if key not in seen:
                    seen.add(key)
                    kept.append(item)
        extra[k] = slot

    messages = [text for _, text in sorted(problems, key=lambda p: p[0])]
    if merged:
        at = int(repeats[0])
        messages.append(
            f"{where}: {merged} line{'s' if merged != 1 else ''} repeat the source of "
            f"an earlier line (the first: line {int(line[at]) + 1}, {repeated!r}); "
            "each was merged into that image, identical annotations kept once"
        )
    usage_values = _shared_strings(row_usage)
    rows = ImageRows(
        ids=image_ids,
        paths=path_values,
        sizes=[0] * n_rows,
        usage=usage_values,
        added_at=[""] * n_rows,
        extra=extra,
    )
    return ParsedManifest(
        rows=rows,
        label_rows=rows_of_line.astype(np.int64, copy=False),
        label_names=names,
        label_by=by_col,
        label_at=at_col,
        label_extra=label_extra,
        problems=messages,
        merged=merged,
        foreign=foreign,
        team=team,
        where=where,
    )


def _remember_spellings(
    source: Any,
    line_paths: Any,
    first: np.ndarray,
    paths: list[str],
    prefix: str,
    extra: list[Any],
) -> None:
    """Note in ``extra`` the sources (of each row's first line) not spelled prefix + path."""
    # A path is what follows the folder in its source, or a rewriting of it; so a source that
    # starts with the prefix and is exactly as much longer than its path is prefix + path.
    # Checked per line without building a million strings.
    longer = pc.subtract(pc.binary_length(source), pc.binary_length(line_paths))
    same = pc.and_(pc.starts_with(source, prefix), pc.equal(longer, len(prefix.encode("utf-8"))))
    differ = np.flatnonzero(~_mask(pc.fill_null(same, False))[first])
    for k in differ.tolist():
        spelled = source[int(first[k])].as_py()
        if prefix.startswith("s3://") and spelled == "obs://" + prefix[5:] + paths[k]:
            continue  # written as s3:// from now on
        extra[k] = {SOURCE_SPELLING: spelled}


def _refused_sources(
    paths: Any,
    sources: Any,
    line: np.ndarray,
    exclude: Sequence[str],
    where: str,
) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Which lines' paths may not be images of the dataset (a NumPy mask), and why.

    Paths are null where ``relative`` said the source lies outside the folder.
    """
    suspects = np.flatnonzero(suspect_mask(paths) | _mask(pc.is_null(paths)))
    refused = np.zeros(len(line), dtype=bool)
    problems: list[tuple[int, str]] = []
    for k in suspects.tolist():
        path = paths[k].as_py()
        why = (
            "it lies outside the source folder"
            if path is None
            else image_path_problem(path, exclude=exclude)
        )
        if why is None:
            continue
        refused[k] = True
        number = int(line[k]) + 1
        problems.append(
            (
                number,
                f"{where} line {number}: source {sources[k].as_py()[:200]!r} is not an image "
                f"of this dataset ({why}); the line is kept as it is in the manifest",
            )
        )
    return refused, problems


def _raw_lines(data: bytes, indexes: np.ndarray) -> list[bytes]:
    """The lines ``indexes`` (0-based, as the readers count them) of ``data``, stripped."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        lines = data.splitlines()
        return [lines[i].strip() for i in indexes.tolist()]
    starts, ends = _line_bounds(data)
    return [data[starts[i] : ends[i]].strip() for i in indexes.tolist()]


def _shared_strings(values: pa.Array) -> list[str]:
    """The values as Python strings, one object per distinct value (a few usages, 1M rows)."""
    codes, distinct = _encode(values)
    return np.asarray(distinct, dtype=object)[codes].tolist() if len(codes) else []


def _image_ids(
    given: pa.Array,
    paths: list[str],
    numbers: np.ndarray,
    where: str,
    problems: list[tuple[int, str]],
) -> list[str]:
    """Each row's id: the one its line gives, else (absent, empty or taken) one from its path."""
    too_long = pc.greater(pc.utf8_length(given), MAX_ID_CHARS)
    if pc.any(too_long).as_py():
        given = pc.if_else(too_long, pa.scalar(None, pa.string()), given)
    codes, distinct = _encode(pc.fill_null(given, ""))
    if len(distinct) == len(codes) and given.null_count == 0 and "" not in distinct:
        return distinct  # every line gives its own id (the usual case): in order already
    first = _first_of(codes, len(distinct))
    empty = distinct.index("") if "" in distinct else -1
    out = np.asarray(distinct, dtype=object)[codes]
    redo = np.flatnonzero((first[codes] != np.arange(len(codes))) | (codes == empty))
    if not len(redo):
        return out.tolist()
    taken = set(distinct)
    for k in redo.tolist():
        number = int(numbers[k]) + 1
        if codes[k] != empty:
            problems.append(
                (number, f"{where} line {number}: id {out[k]!r} is used twice; a new id was given")
            )
        image_id = image_id_for(paths[k])
        if image_id in taken:
            image_id = image_id_for(f"{paths[k]}#{number}")
        taken.add(image_id)
        out[k] = image_id
    return out.tolist()


def _check_names(
    names: pa.Array,
    numbers: np.ndarray,
    where: str,
    problems: list[tuple[int, str]],
    *,
    refuse: bool,
) -> np.ndarray:
    """Report each label name that breaks the naming rules, at the first line using it; a mask
    of the entries to leave off (with ``refuse``; else none: the caller judges them)."""
    bad = np.zeros(len(names), dtype=bool)
    if not len(names):
        return bad
    codes, distinct = _encode(names)
    first = _first_of(codes, len(distinct))
    for k, name in enumerate(distinct):
        problem = label_problem(name)
        if problem is not None:
            number = int(numbers[first[k]])
            shown = repr(name) if len(name) <= 40 else repr(name[:40]) + "…"
            fate = "that label was left off its images" if refuse else "it was kept as it is"
            problems.append(
                (
                    number,
                    f"{where} line {number}: label {shown} breaks the naming rules "
                    f"({problem}); {fate}",
                )
            )
            if refuse:
                bad |= codes == k
    return bad


def _canonical(item: Any) -> bytes:
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)


# A string needs JSON escaping only if it holds a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _escaped(values: pa.Array) -> pa.Array:
    """JSON-escaped contents (without the quotes) of a string array.

    Almost no label, path or id needs escaping, so only the few that do go through orjson.
    """
    mask = pc.match_substring_regex(values, _NEEDS_ESCAPE)
    if not pc.any(mask).as_py():
        return values
    where = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    fixed = [orjson.dumps(v).decode()[1:-1] for v in values.take(pa.array(where)).to_pylist()]
    return pc.replace_with_mask(values, mask, pa.array(fixed, pa.string()))


def _strings(values: Any) -> pa.Array:
    return pa.array(values, pa.string())


def _field_fragments(key: str, values: list[str]) -> pa.Array:
    """``,"key":"value"`` for each value; nothing for an empty one (the field was absent)."""
    texts = _escaped(_strings(values))
    present = pc.not_equal(texts, "")
    return pc.if_else(present, pc.binary_join_element_wise(f',"{key}":"', texts, '"', ""), "")


def _with_additions(
    extra: np.ndarray, row_of: np.ndarray, additions: dict[int, dict[str, Any]]
) -> np.ndarray:
    """A copy of the rows' extra fields with ``additions`` (by code) merged into their
    ``property``."""
    extra = extra.copy()
    for code, more in additions.items():
        k = int(row_of[code]) if code < len(row_of) else -1
        if k < 0:
            continue
        merged = dict(extra[k] or {})
        prop = merged.get("property")
        merged["property"] = {**(prop if isinstance(prop, dict) else {}), **more["property"]}
        extra[k] = merged
    return extra


def _property_tails(
    extra: np.ndarray, row_of: np.ndarray, properties: tuple[np.ndarray, pa.Array]
) -> tuple[np.ndarray, Any]:
    """``,"property":{...}`` per line from ``properties``; a line whose fields already hold a
    ``property`` (a foreign one) gets the members merged into it instead (a rare case)."""
    codes, texts = properties
    rows = row_of[codes]
    live = rows >= 0
    codes, rows, texts = codes[live], rows[live], texts.filter(pa.array(live))
    more: dict[int, dict[str, Any]] = {}
    own = [
        k
        for k in np.flatnonzero(pd.notna(extra[rows])).tolist()
        if isinstance(extra[rows[k]], dict) and isinstance(extra[rows[k]].get("property"), dict)
    ]
    if own:
        for k in own:
            members = orjson.loads("{" + texts[k].as_py() + "}")
            slot = more.setdefault(int(codes[k]), {})
            slot["property"] = {**slot.get("property", {}), **members}
        keep = np.ones(len(rows), dtype=bool)
        keep[own] = False
        rows, texts = rows[keep], texts.filter(pa.array(keep))
    if more:
        extra = _with_additions(extra, row_of, more)
    n = len(extra)
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    where = np.zeros(n, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    if not len(rows):
        return extra, ""
    wrapped = pc.binary_join_element_wise(',"property":{', texts, "}", "")
    return extra, pc.if_else(pa.array(mask), wrapped.take(pa.array(where)), "")


def write_manifest(
    state: State,
    url_prefix: str,
    *,
    same_image: Callable[[str, str], bool] | None = None,
    properties: tuple[np.ndarray, pa.Array] | None = None,
) -> bytes:
    """The ModelArts manifest of ``state``: one line per live image, in display order, with
    one classification annotation per label of the image (``annotated-by`` as ModelArts
    writes it: ``human/<user>/<user>``, see :func:`~.names.annotated_by`).

    ``url_prefix`` + an image's path is its ``source``, unless the manifest it was read from
    spelled it otherwise and ``same_image(spelled, path)`` confirms that the spelling names
    that image (a journal row cannot point the manifest elsewhere). ``properties`` gives
    (sorted codes, JSON members) to put in their ``property`` (see
    :func:`~.team.property_texts`). Lines whose source was no image of the dataset follow, as
    they were read. Lines are assembled by Arrow's element-wise string kernels, never one
    Python string per line: a million lines take well under a second.
    """
    alive = np.flatnonzero(state.alive)
    n = len(alive)
    tail = b"".join(line + b"\n" for line in state.foreign)
    if not n:
        return tail
    join = pc.binary_join_element_wise
    row_of = np.full(state.n_rows, -1, dtype=np.int64)
    row_of[alive] = np.arange(n)

    paths = _strings(state.paths[alive])
    sources = join(url_prefix, paths, "")
    extra = state.extra[alive]
    props: Any = ""
    if properties is not None and len(properties[0]):
        extra, props = _property_tails(extra, row_of, properties)
    rare = np.flatnonzero(pd.notna(extra))
    spelled = {
        k: extra[k][SOURCE_SPELLING]
        for k in rare.tolist()
        if isinstance(extra[k], dict) and isinstance(extra[k].get(SOURCE_SPELLING), str)
    }
    if same_image is not None and spelled:
        path_of = state.paths[alive]
        spelled = {k: v for k, v in spelled.items() if same_image(v, path_of[k])}
        if spelled:
            mask = np.zeros(n, dtype=bool)
            mask[list(spelled)] = True
            sources = pc.replace_with_mask(
                sources, pa.array(mask), pa.array(list(spelled.values()), pa.string())
            )
    head = join(
        '{"source":"',
        _escaped(sources),
        '","usage":"',
        _escaped(_strings(state.usage[alive])),
        '","id":"',
        _escaped(_strings(state.ids[alive])),
        "",
    )

    # Annotations: one fragment per (image, label) pair, then joined per image.
    codes, which, by, at = state.label_codes_long()
    rows = row_of[codes]
    keep = rows >= 0
    rows, which, by, at, codes = rows[keep], which[keep], by[keep], at[keep], codes[keep]
    per_row = np.bincount(rows, minlength=n)
    closing: Any = "}"
    extras = [ls.extra for ls in state.labels.values()]
    if any(extras):
        closing_list = ["}"] * len(rows)
        for j in range(len(rows)):
            more = extras[which[j]].get(int(codes[j])) if extras[which[j]] else None
            if more:
                closing_list[j] = "," + orjson.dumps(more).decode()[1:-1] + "}"
        closing = _strings(closing_list)
    pairs = join(
        '{"type":"' + CLASSIFICATION + '","name":"',
        _escaped(_strings(list(state.labels))).take(pa.array(which)),
        '"',
        _field_fragments("annotated-by", [annotated_by(v) for v in state.authors.values]).take(
            pa.array(by)
        ),
        _field_fragments("creation-time", state.times.values).take(pa.array(at)),
        closing,
        "",
    )
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    annotations = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs), ",")
    has_ann = per_row > 0

    # Rare per-row extras: annotations of other kinds, and unknown fields, as they were read.
    tails: Any = ""
    if len(rare):
        ann_list = annotations.to_pylist()
        tail_list = [""] * n
        for k in rare.tolist():
            row_extra = extra[k] or {}
            if row_extra.get(OTHER_ANNOTATIONS):
                items = [orjson.dumps(o).decode() for o in row_extra[OTHER_ANNOTATIONS]]
                ann_list[k] = ",".join(([ann_list[k]] if ann_list[k] else []) + items)
                has_ann[k] = True
            rest = {
                key: v
                for key, v in row_extra.items()
                if key not in (OTHER_ANNOTATIONS, SOURCE_SPELLING)
            }
            if rest:
                tail_list[k] = "," + orjson.dumps(rest).decode()[1:-1]
        annotations = _strings(ann_list)
        tails = _strings(tail_list)
    middle = pc.if_else(
        pa.array(has_ann), join('","annotation":[', annotations, "]", ""), pa.scalar('"')
    )
    lines = join(head, middle, tails, props, "}\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    data_buffer = lines.buffers()[2]
    end = pc.sum(pc.binary_length(lines)).as_py()
    return data_buffer.slice(lines.offset and 0, end).to_pybytes() + tail
