"""From manifest bytes to a :class:`ParsedManifest`: paths, ids, labels and problems.

The lines are read into columns by :mod:`.manifest_lines`; here they become images: a source
becomes a path inside the source folder (or the line is refused and kept as it was), lines of
one source merge into one image, ids are checked, label names are checked against the naming
rules, and every problem becomes a sentence naming the line. See :mod:`.manifest` for the format
and what reading tolerates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .columns import CodedColumn, HexColumn, SparseColumn, hex_keys_of_arrow
from .distinct import all_distinct, string_hashes
from .manifest_fields import MAX_ID_CHARS, OTHER_ANNOTATIONS, SOURCE_SPELLING, image_id_for
from .manifest_lines import (
    ODD_SOURCE,
    LineByLine,
    arrow_columns,
    as_mask,
    in_file_order,
    line_bounds,
    raw_lines,
    read_blocks,
    read_clean,
)
from .names import label_problem
from .paths import image_path_problem, suspect_mask
from .state import ImageRows, State
from .team import PROPERTY_PREFIX, team_from_manifest

__all__ = [
    "BLOCK_BYTES",
    "ParsedManifest",
    "parse_manifest",
    "parse_manifest_blocks",
    "whole_lines",
]


@dataclass
class ParsedManifest:
    """What a manifest holds, in columns ready for :class:`~.state.State`.

    The labels are columns, one entry per classification annotation in file order: the row
    of its image, its name, ``annotated-by`` and ``creation-time`` (an empty string when the
    annotation had none), and its unknown fields by entry number.
    """

    images: ImageRows
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
    # the rows in the order of their ids as numbers, when every id is 16 hex digits (``ids`` is
    # then a HexColumn): the state's index of ids is made from it without another sort
    id_order: np.ndarray | None = None

    @property
    def rows(self) -> ImageRows:
        """The images' columns as Python lists (``images`` holds them as the state keeps them:
        at ten million images a string per id and per path is gigabytes)."""
        return self.images.plain()

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
        state.add_images(self.images, unique=True)  # one row per distinct path and id
        if self.id_order is not None:
            state.index_ids(self.id_order)
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
        # few names: as 16-bit numbers NumPy's stable sort is a radix sort, one pass
        small = name_codes.astype(np.uint16) if len(names) <= 1 << 16 else name_codes
        order = np.argsort(small, kind="stable")
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
    """Codes of ``values`` and the distinct values, in order of first appearance (of a
    dictionary array, only those it uses)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        used = pc.dictionary_encode(values.indices)
        codes = used.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return codes, values.dictionary.take(used.dictionary).to_pylist()
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary.to_pylist()


def _distinct(
    values: pa.Array, hashes: np.ndarray | None = None
) -> tuple[np.ndarray | None, pa.Array]:
    """Codes of ``values`` and the distinct values (an Arrow array), in order of first
    appearance; the codes are None when every value is distinct (then the distinct values are
    ``values`` themselves, and no copy of them is kept). ``hashes``, the values'
    :func:`~.distinct.string_hashes` when known, answer the usual case (all distinct) fast."""
    if hashes is not None and all_distinct(values, hashes):
        return None, values
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    if len(encoded.dictionary) == len(values):
        return None, values
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, encoded.dictionary


def _relative_paths(
    sources: Any, odd: np.ndarray, relative: Callable[[str], str | None]
) -> pa.Array | pa.ChunkedArray:
    """``relative`` of every source; the common prefix is cut at C speed where it is sure
    (``odd`` marks the sources where it is not: :data:`~.manifest_lines.ODD_SOURCE`)."""
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
    fast = as_mask(pc.starts_with(sources, prefix)) & ~odd
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


BLOCK_BYTES = 1 << 25
"""Bytes of a manifest read and parsed at once (whole lines): what a block's text and Arrow
table take is given back before the next block is read."""


@dataclass
class _Block:
    """What one block of whole lines holds, in columns that no longer need its text.

    ``line`` are the (0-based, file-wide) indexes of the lines kept as images, in file order,
    with their ``paths`` (and their :func:`~.distinct.string_hashes`, sorted), ``ids``
    (and, when all are 16 hex digits, the numbers they spell and the lines in their order)
    and ``usage``; ``spelled`` the sources (by position in
    ``line``) that are not the prefix followed by the path (with no prefix, ``source`` holds
    them all). The annotations are in file order,
    ``a_extra`` by position among them.
    """

    line: np.ndarray
    paths: pa.Array
    path_hashes: np.ndarray | None
    ids: pa.Array
    id_keys: np.ndarray | None
    id_order: np.ndarray | None
    usage: pa.Array
    spelled: dict[int, str]
    source: pa.Array | None  # every line's source, when no prefix tells most of them
    a_line: np.ndarray
    names: pa.Array
    by: pa.Array
    at: pa.Array
    a_extra: dict[int, dict[str, Any]]
    extra: dict[int, dict[str, Any]]
    others: dict[int, list[Any]]
    foreign: list[bytes]
    refused_lines: np.ndarray
    problems: list[tuple[int, str]]


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
    return parse_manifest_blocks(
        whole_lines([data]),
        where=where,
        relative=relative,
        exclude=exclude,
        check=check,
        prefix=prefix,
    )


def whole_lines(pieces: Iterable[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """``pieces`` of a manifest (as read from a store) cut into blocks of whole lines of
    about ``block_bytes`` each, the last one as it ends. Each block is copied once at most (a
    piece that is one block already, not at all)."""
    rest = b""
    for piece in pieces:
        size, start = len(piece), 0
        while start < size:
            room = max(block_bytes - len(rest), 1)
            cut = piece.find(b"\n", start + room - 1) + 1 if size - start > room else 0
            if not cut:  # what is left of the piece is a block at most: up to its last line
                cut = piece.rfind(b"\n", start) + 1
            if cut <= start:  # no line ends here: what is left waits for the next piece
                break
            if rest or start or cut != size:
                yield b"".join((rest, memoryview(piece)[start:cut]))
            else:
                yield piece
            rest, start = b"", cut
        if start < size:
            rest += piece[start:]
    if rest:
        yield rest


def parse_manifest_blocks(
    blocks: Iterable[bytes],
    *,
    where: str,
    relative: Callable[[str], str | None],
    exclude: Sequence[str] = (),
    check: bool = True,
    prefix: str | None = None,
) -> ParsedManifest:
    """:func:`parse_manifest` of a manifest given as consecutive blocks of whole lines (see
    :func:`whole_lines`), each read and let go before the next's turn: however large the
    manifest, what is held at once is the text and Arrow tables of the blocks being read (two,
    on two threads, while the next is fetched), and the columns kept of the blocks before them
    (paths, ids, usage and annotations: never their text)."""
    if check:
        inside = relative
    else:

        def inside(url: str) -> str:
            found = relative(url)
            return found if found is not None else url

    read: list[_Block] = []
    first_line = 0
    # Two blocks are read at once (most of the work is Arrow's and NumPy's, which let go of
    # the interpreter), while this thread fetches the next from the store. A small block is
    # read here: handing it to a thread would cost more than it saves.
    pool: ThreadPoolExecutor | None = None
    pending: deque[tuple[Future[tuple[_Block, int]], int]] = deque()
    try:
        for block in blocks:
            lines = _count_lines(block)
            args = (block, first_line, where, inside, exclude, check, prefix)
            if len(block) >= _THREADED_BYTES:
                if pool is None:
                    pool = ThreadPoolExecutor(_READERS, thread_name_prefix="manifest-read")
                job = pool.submit(_read_block, *args)
            else:
                job = Future()
                job.set_result(_read_block(*args))
            pending.append((job, lines))
            first_line += lines
            del block, args
            while len(pending) >= _READERS:
                read.append(_result(*pending.popleft()))
        while pending:
            read.append(_result(*pending.popleft()))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if not read:
        read.append(_read_block(b"", 0, where, inside, exclude, check, prefix)[0])
    return _parsed(read, where=where, check=check, prefix=prefix)


_READERS = 2
"""Blocks of a manifest read at once."""
_THREADED_BYTES = 1 << 20
"""Blocks smaller than this are read on the calling thread."""


def _count_lines(data: bytes) -> int:
    """How many lines :func:`_read_block` finds in ``data`` (a line feed ends a line; a CR
    alone does too, where some CR stands alone)."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return len(data.splitlines())
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _result(job: Future[tuple[_Block, int]], lines: int) -> _Block:
    got, counted = job.result()
    if counted != lines:  # the lines of the next blocks were numbered from this count
        raise AssertionError(f"a block of {lines} lines was read as {counted}")
    return got


def _read_block(
    data: bytes,
    first_line: int,
    where: str,
    inside: Callable[[str], str | None],
    exclude: Sequence[str],
    check: bool,
    prefix: str | None,
) -> tuple[_Block, int]:
    """Read one block of whole lines (its first line is ``first_line`` of the file); also
    how many lines it holds."""
    problems: list[tuple[int, str]] = []
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        # lone CRs end lines too: read line by line
        lines = data.splitlines()
        count = len(lines)
        tables: list[tuple[np.ndarray, pa.Table]] = []
        clean = None
        slow = list(range(len(lines)))
        raw_of: Callable[[int], bytes] = lines.__getitem__
        view = None
    else:
        clean = read_clean(data)
        tables, slow = clean or [], []
        if clean is None:
            starts, ends = line_bounds(data)
            tables, slow = read_blocks(data, starts, ends)
            count = len(starts)
        else:
            count = int(sum(len(rows) for rows, _ in clean))
            starts = ends = np.empty(0, dtype=np.int64)
        view = memoryview(data)

        def raw_of(i: int) -> bytes:
            nonlocal starts, ends
            if not len(starts):  # read whole by Arrow, yet a line must be read again
                starts, ends = line_bounds(view.obj)  # type: ignore[arg-type]
            return bytes(view[starts[i] : ends[i]])

    fast_lines, table, redo, odd = arrow_columns(tables)
    del clean
    if redo.any():
        slow = sorted([*slow, *fast_lines[redo].tolist()])
        fast_lines, table, odd = fast_lines[~redo], table.filter(pa.array(~redo)), odd[~redo]
    fast_lines = fast_lines + first_line  # from here on, lines are counted in the file
    py = LineByLine()
    for index in slow:
        py.read(first_line + index, raw_of(index), where, problems)

    # every line read, in the block's order
    line = np.concatenate([fast_lines, np.asarray(py.line, dtype=np.int64)])
    take = None
    if py.line:
        order = np.argsort(line, kind="stable")
        line, take = line[order], pa.array(order)
        py_odd = np.fromiter(
            (ODD_SOURCE.search(v) is not None for v in py.source), bool, len(py.source)
        )
        odd = np.concatenate([odd, py_odd])[order]
    source = in_file_order(table, "source", py.source, take)
    ids = in_file_order(table, "id", py.id, take)
    usage = in_file_order(table, "usage", py.usage, take)
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
            foreign = raw_lines(data, refused_lines - first_line)
            keep = pa.array(~refused)
            line = line[~refused]
            source, ids, usage, paths = (c.filter(keep) for c in (source, ids, usage, paths))
    if view is not None:
        view.release()  # raw_of is not called again
    del data

    # The source of each line, where it is not simply the prefix and the path.
    if prefix is not None:
        # A path is what follows the folder in its source, or a rewriting of it; so a source
        # that starts with the prefix and is exactly as much longer than its path is prefix +
        # path. Checked per line without building a million strings.
        longer = pc.subtract(pc.binary_length(source), pc.binary_length(paths))
        same = pc.and_(
            pc.starts_with(source, prefix), pc.equal(longer, len(prefix.encode("utf-8")))
        )
        differ = np.flatnonzero(~as_mask(pc.fill_null(same, False)))
        kept_source = None
    else:  # no prefix to tell: the sources stay, for the problems to name
        differ = np.empty(0, dtype=np.int64)
        kept_source = _array(source)
    spelled = dict(zip(differ.tolist(), source.take(pa.array(differ)).to_pylist(), strict=True))
    del source

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
    # A few names, authors and times over many annotations: encoded here, on this block's
    # thread, the blocks' dictionaries are merged when they are gathered.
    names, by_col, at_col = (c.dictionary_encode() for c in (names, by_col, at_col))
    position_of = np.empty(len(a_order), dtype=np.int64)
    position_of[a_order] = np.arange(len(a_order))
    # Sorted here, on this block's thread: all the blocks' are then merged, not sorted.
    paths, ids = _array(paths), _array(ids)
    path_hashes = string_hashes(paths)
    id_keys = hex_keys_of_arrow(ids)
    got = _Block(
        line=line,
        paths=paths,
        path_hashes=None if path_hashes is None else np.sort(path_hashes),
        ids=ids,
        id_keys=id_keys,
        id_order=None if id_keys is None else np.argsort(id_keys, kind="stable"),
        usage=_array(usage),
        spelled=spelled,
        source=kept_source,
        a_line=a_line,
        names=names,
        by=by_col,
        at=at_col,
        a_extra={int(position_of[offset + k]): v for k, v in py.a_extra.items()},
        extra=py.extra,
        others=py.others,
        foreign=foreign,
        refused_lines=refused_lines,
        problems=problems,
    )
    return got, count


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _gather(read: list[_Block], name: str) -> pa.Array:
    """The blocks' column ``name`` as one array; each block's own is let go as it is copied
    (at ten million lines, holding both would be hundreds of megabytes more at the peak)."""
    parts = []
    for block in read:
        parts.append(getattr(block, name))
        setattr(block, name, None)
    whole = pa.concat_arrays(parts)
    del parts
    return whole


def _merged_order(read: list[_Block], keys: np.ndarray) -> np.ndarray:
    """The rows in the order of ``keys`` (stable), from each block's own order: a merge of
    sorted runs, not a sort."""
    parts, start = [], 0
    for block in read:
        assert block.id_order is not None
        parts.append(block.id_order + start)
        start += len(block.id_order)
        block.id_order = None
    runs = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    del parts
    return runs[np.argsort(keys[runs], kind="stable")]


def _gather_numbers(read: list[_Block], name: str) -> np.ndarray | None:
    """The blocks' NumPy column ``name`` as one array; None when some block has none."""
    parts = [getattr(block, name) for block in read]
    for block in read:
        setattr(block, name, None)
    if any(part is None for part in parts):
        return None
    return np.concatenate(parts)


def _parsed(read: list[_Block], *, where: str, check: bool, prefix: str | None) -> ParsedManifest:
    """The blocks read, made into images, labels and problems."""
    problems = [p for block in read for p in block.problems]
    foreign = [raw for block in read for raw in block.foreign]
    refused_lines = np.concatenate([block.refused_lines for block in read])
    line = np.concatenate([block.line for block in read])
    spelled: dict[int, str] = {}
    lines_before = 0
    for block in read:
        spelled.update({lines_before + k: v for k, v in block.spelled.items()})
        lines_before += len(block.line)
    extra_of_line = {k: v for block in read for k, v in block.extra.items()}
    others_of_line = {k: v for block in read for k, v in block.others.items()}
    sources = [block.source for block in read if block.source is not None]

    # Whether some path is there twice is found on a thread of its own (NumPy's and Arrow's
    # work, mostly), while this one gathers the ids and the annotations.
    with ThreadPoolExecutor(1, thread_name_prefix="manifest-paths") as pool:
        paths_job = pool.submit(_distinct_paths, read)
        usage = _gather(read, "usage")
        # Ids of 16 hex digits are kept as the numbers they spell, never gathered as text.
        id_keys = _gather_numbers(read, "id_keys")
        id_order = None if id_keys is None else _merged_order(read, id_keys)
        ids = _gather(read, "ids") if id_keys is None else None
        labels = _annotations(read, refused_lines, where, problems, check)
        paths, codes, path_values = paths_job.result()
    del read

    # one image per distinct path, in order of first appearance (the usual case: every path
    # once, kept as the Arrow array it is)
    n_rows = len(path_values)
    row_of: np.ndarray
    first: np.ndarray
    repeats: np.ndarray
    if codes is None:
        row_of = first = np.arange(n_rows, dtype=np.int64)
        repeats = np.empty(0, dtype=np.int64)
    else:
        row_of = codes
        first = _first_of(row_of, n_rows)
        repeats = np.flatnonzero(first[row_of] != np.arange(len(line)))
    merged = len(repeats)
    repeated = ""
    if merged:
        at = int(repeats[0])
        if prefix is None:
            repeated = pa.concat_arrays(sources)[at].as_py()
        else:
            repeated = spelled.get(at, f"{prefix}{paths[at].as_py()}")
    del sources
    extra: dict[int, dict[str, Any]] = {}  # by row: most rows have none
    if prefix is not None and n_rows:
        _remember_spellings(spelled, row_of, first, path_values, prefix, extra)
    del paths
    if codes is not None:
        usage = usage.take(pa.array(first))
        if id_keys is not None:
            id_keys, id_order = id_keys[first], None
        else:
            assert ids is not None
            ids = ids.take(pa.array(first))
    usage_column = _usage_column(usage)
    del usage
    image_ids, id_order = _image_ids(
        ids, id_keys, id_order, path_values, line[first], where, problems
    )
    del ids, id_keys

    gone = set(refused_lines.tolist())
    team = False
    for index, unknown in extra_of_line.items():
        if index in gone:
            continue
        at_line = int(np.searchsorted(line, index))
        k = int(row_of[at_line])
        if first[k] == at_line:  # a repeated line's unknown fields are not kept
            extra[k] = {**extra.get(k, {}), **unknown}
            prop = unknown.get("property")
            team = team or (
                isinstance(prop, dict)
                and any(isinstance(key, str) and key.startswith(PROPERTY_PREFIX) for key in prop)
            )

    a_line = labels.line
    if not len(line) or line[-1] == len(line) - 1:  # every line is an image: line k is k
        rows_of_line = row_of[a_line]
    else:
        rows_of_line = row_of[np.searchsorted(line, a_line)]

    # other kinds of annotations ride along; a repeated line adds only those not there yet
    seen_others: dict[int, set[bytes]] = {}
    for index in sorted(others_of_line):
        if index in gone:
            continue
        k = int(row_of[np.searchsorted(line, index)])
        slot = extra.get(k, {})
        kept_others = slot.setdefault(OTHER_ANNOTATIONS, [])
        if line[first[k]] == index:
            kept_others.extend(others_of_line[index])
        else:
            seen = seen_others.get(k)
            if seen is None:
                seen = seen_others[k] = {_canonical(o) for o in kept_others}
            for item in others_of_line[index]:
                key = _canonical(item)
                if key not in seen:
                    seen.add(key)
                    kept_others.append(item)
        extra[k] = slot

    messages = [text for _, text in sorted(problems, key=lambda p: p[0])]
    if merged:
        at = int(repeats[0])
        messages.append(
            f"{where}: {merged} line{'s' if merged != 1 else ''} repeat the source of "
            f"an earlier line (the first: line {int(line[at]) + 1}, {repeated!r}); "
            "each was merged into that image, identical annotations kept once"
        )
    rows = ImageRows(
        ids=image_ids,
        paths=path_values,
        sizes=np.zeros(n_rows, dtype=np.uint8),
        usage=usage_column,
        added_at=CodedColumn(np.zeros(n_rows, dtype=np.uint8), [""]),
        extra=SparseColumn(n_rows, extra),
    )
    return ParsedManifest(
        images=rows,
        label_rows=rows_of_line.astype(np.int64, copy=False),
        label_names=labels.names,
        label_by=labels.by,
        label_at=labels.at,
        label_extra=labels.extra,
        problems=messages,
        merged=merged,
        foreign=foreign,
        team=team,
        where=where,
        id_order=id_order,
    )


def _distinct_paths(read: list[_Block]) -> tuple[pa.Array, np.ndarray | None, pa.Array]:
    """The blocks' paths, and :func:`_distinct` of them."""
    paths = _gather(read, "paths")
    codes, values = _distinct(paths, _gather_numbers(read, "path_hashes"))
    return paths, codes, values


@dataclass
class _Annotations:
    """The classification annotations kept, in file order: each one's line, its name,
    ``annotated-by``, ``creation-time`` and unknown fields (by position)."""

    line: np.ndarray
    names: pa.Array
    by: pa.Array
    at: pa.Array
    extra: dict[int, dict[str, Any]]


def _annotations(
    read: list[_Block],
    refused_lines: np.ndarray,
    where: str,
    problems: list[tuple[int, str]],
    check: bool,
) -> _Annotations:
    """The blocks' classification annotations, less those of refused lines and (with
    ``check``) those whose name breaks the rules (named in ``problems``)."""
    a_line = np.concatenate([block.a_line for block in read])
    names, by_col, at_col = (_gather(read, name) for name in ("names", "by", "at"))
    label_extra: dict[int, dict[str, Any]] = {}
    entries_before = 0
    for block in read:
        label_extra.update({entries_before + k: v for k, v in block.a_extra.items()})
        entries_before += len(block.a_line)
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
    return _Annotations(a_line, names, by_col, at_col, label_extra)


def _usage_column(usage: pa.Array) -> CodedColumn:
    """Each row's usage in capitals ("" when it has none), as codes into the few values."""
    given = CodedColumn.from_arrow(usage)
    upper = [value.upper() for value in given.values]
    values = list(dict.fromkeys(upper))
    remap = np.array([values.index(value) for value in upper], dtype=np.int64)
    codes = remap[given.codes] if len(remap) else np.zeros(len(given), dtype=np.int64)
    return CodedColumn(codes, values)


def _remember_spellings(
    spelled: dict[int, str],
    row_of: np.ndarray,
    first: np.ndarray,
    paths: pa.Array,
    prefix: str,
    extra: dict[int, dict[str, Any]],
) -> None:
    """Note in ``extra`` the sources (of each row's first line) not spelled prefix + path
    (``spelled``: the sources of the lines that are not, by position)."""
    for at, spelling in spelled.items():
        k = int(row_of[at])
        if first[k] != at:
            continue
        if prefix.startswith("s3://") and spelling == "obs://" + prefix[5:] + paths[k].as_py():
            continue  # written as s3:// from now on
        extra[k] = {SOURCE_SPELLING: spelling}


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
    suspects = np.flatnonzero(suspect_mask(paths) | as_mask(pc.is_null(paths)))
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


def _image_ids(
    given: pa.Array | None,
    keys: np.ndarray | None,
    order: np.ndarray | None,
    paths: pa.Array,
    numbers: np.ndarray,
    where: str,
    problems: list[tuple[int, str]],
) -> tuple[HexColumn | pa.Array | list[str], np.ndarray | None]:
    """Each row's id: the one its line gives, else (absent, empty or taken) one from its path.

    ``keys`` are the given ids as numbers when each is 16 hex digits (``given`` is then not
    needed), ``order`` the rows in their order when known. When every line gives its own id (the usual case) the ids are kept as they came,
    never a Python string per id: a :class:`~.columns.HexColumn` of ``keys``, with the rows
    in the order of their ids (for the index of ids); else ``given`` itself."""
    if keys is not None:
        if order is None:
            order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        if not (ordered[1:] == ordered[:-1]).any():
            return HexColumn(keys), order
        del order, ordered
        given = HexColumn(keys).arrow()
    assert given is not None
    too_long = pc.greater(pc.utf8_length(given), MAX_ID_CHARS)
    if pc.any(too_long).as_py():
        given = pc.if_else(too_long, pa.scalar(None, pa.string()), given)
    if _all_distinct(given):
        return given, None  # every line gives its own id
    codes, distinct = _encode(pc.fill_null(given, ""))
    first = _first_of(codes, len(distinct))
    empty = distinct.index("") if "" in distinct else -1
    out = np.asarray(distinct, dtype=object)[codes]
    redo = np.flatnonzero((first[codes] != np.arange(len(codes))) | (codes == empty))
    if not len(redo):
        return out.tolist(), None
    taken = set(distinct)
    for k in redo.tolist():
        number = int(numbers[k]) + 1
        if codes[k] != empty:
            problems.append(
                (number, f"{where} line {number}: id {out[k]!r} is used twice; a new id was given")
            )
        path = paths[k].as_py()
        image_id = image_id_for(path)
        if image_id in taken:
            image_id = image_id_for(f"{path}#{number}")
        taken.add(image_id)
        out[k] = image_id
    return out.tolist(), None


def _all_distinct(ids: pa.Array) -> bool:
    """Whether every id is given (not empty) and none is given twice. Ids of 16 hex digits (as
    this library writes them) are compared as numbers: no table of ten million strings."""
    if ids.null_count:
        return False
    keys = hex_keys_of_arrow(ids)
    if keys is not None:
        keys.sort()
        return not bool((keys[1:] == keys[:-1]).any())
    if pc.any(pc.equal(pc.utf8_length(ids), 0)).as_py():
        return False
    return _distinct(ids)[0] is None


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
