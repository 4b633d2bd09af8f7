"""Writing a :class:`~.state.State` as a ModelArts manifest (see :mod:`.manifest` for the format).

Lines are assembled by Arrow's element-wise string kernels, never one Python string per line,
a block of lines at a time (:func:`manifest_chunks`): a million lines take well under a second,
and ten million never hold more than one block's text and arrays at once. What reading kept of a line beyond the columns (a
source's own spelling, annotations of other kinds, unknown fields, a ``property``) is written
back as it came.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .live_columns import LiveColumns, live_columns
from .manifest_fields import CLASSIFICATION, OTHER_ANNOTATIONS, SOURCE_SPELLING
from .names import annotated_by
from .state import State

__all__ = ["CHUNK_LINES", "manifest_chunks", "write_manifest"]

# A string needs JSON escaping only if it holds a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _maybe_escaped(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether some value of a string array may need escaping: a few passes over its bytes, many
    times faster than a regular expression per value (False is certain, True is a maybe)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if not pa.types.is_string(chunk.type):
            return True
        offsets, data = chunk.buffers()[1], chunk.buffers()[2]
        if data is None or not len(chunk):
            continue
        # A slice (each piece of a save is one) starts ``offset`` entries into its offsets.
        first = chunk.offset
        bounds = np.frombuffer(offsets, dtype=np.int32)[first : first + len(chunk) + 1]
        text = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
        # Three comparisons, not a lookup table: numpy's comparisons let the GIL go (the
        # pieces of a save are built on two threads) and are several times faster than a
        # gather of a table entry per byte.
        if (text < 0x20).any() or (text == ord('"')).any() or (text == ord("\\")).any():
            return True
    return False


def _escaped(values: pa.Array) -> pa.Array:
    """JSON-escaped contents (without the quotes) of a string array.

    Almost no label, path or id needs escaping, so only the few that do go through orjson.
    """
    if not _maybe_escaped(values):
        return values
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


def _property_tails(extra: np.ndarray, rows: np.ndarray, texts: pa.Array) -> tuple[np.ndarray, Any]:
    """``,"property":{...}`` per line of a chunk from ``texts`` (JSON members of the lines
    ``rows``, increasing); a line whose fields already hold a ``property`` (a foreign one) gets
    the members merged into its copy of ``extra`` instead (a rare case)."""
    n = len(extra)
    own = [
        k
        for k in np.flatnonzero(pd.notna(extra[rows])).tolist()
        if isinstance(extra[rows[k]], dict) and isinstance(extra[rows[k]].get("property"), dict)
    ]
    if own:
        extra = extra.copy()
        for k in own:
            members = orjson.loads("{" + texts[k].as_py() + "}")
            merged = dict(extra[rows[k]])
            merged["property"] = {**merged["property"], **members}
            extra[rows[k]] = merged
        keep = np.ones(len(rows), dtype=bool)
        keep[own] = False
        rows, texts = rows[keep], texts.filter(pa.array(keep))
    if not len(rows):
        return extra, ""
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    where = np.zeros(n, dtype=np.int64)
    where[rows] = np.arange(len(rows))
    wrapped = pc.binary_join_element_wise(',"property":{', texts, "}", "")
    return extra, pc.if_else(pa.array(mask), wrapped.take(pa.array(where)), "")


CHUNK_LINES = 1 << 16
"""Lines built and handed on at once by :func:`manifest_chunks` (about 12 MB of text)."""


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
    they were read. The whole text at once: a save streams :func:`manifest_chunks` instead.
    """
    return b"".join(
        manifest_chunks(
            live_columns(state), url_prefix, same_image=same_image, properties=properties
        )
    )


def manifest_chunks(
    columns: LiveColumns,
    url_prefix: str,
    *,
    same_image: Callable[[str, str], bool] | None = None,
    properties: tuple[np.ndarray, pa.Array] | None = None,
    chunk_lines: int = CHUNK_LINES,
    workers: int = 1,
) -> Iterator[memoryview]:
    """:func:`write_manifest` of the columns a save took, as consecutive pieces of
    ``chunk_lines`` lines each (the foreign lines last): however large the dataset, what is
    held at once is a few pieces and the Arrow arrays they are built from. ``properties``
    names rows by the state's codes, as :func:`~.team.property_texts` gives them. With
    ``workers`` above one, that many threads build the next pieces while the caller writes
    one (Arrow's kernels release the GIL)."""
    pieces = _piece_builders(columns, url_prefix, same_image, properties, chunk_lines)
    if workers <= 1:
        for build in pieces:
            yield build()
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="manifest") as pool:
            ahead: deque[Future[memoryview]] = deque()
            for build in pieces:
                ahead.append(pool.submit(build))
                if len(ahead) > workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
    if columns.foreign:
        yield memoryview(b"".join(line + b"\n" for line in columns.foreign))


def _piece_builders(
    columns: LiveColumns,
    url_prefix: str,
    same_image: Callable[[str, str], bool] | None,
    properties: tuple[np.ndarray, pa.Array] | None,
    chunk_lines: int,
) -> Iterator[Callable[[], memoryview]]:
    """One call per piece of :func:`manifest_chunks`, each building its lines' text."""
    n = len(columns)
    if n:
        prop_rows = np.empty(0, dtype=np.int64)
        prop_texts = pa.array([], pa.string())
        if properties is not None and len(properties[0]):
            prop_codes, prop_texts = properties
            at = np.minimum(np.searchsorted(columns.codes, prop_codes), n - 1)
            live = columns.codes[at] == prop_codes
            prop_rows, prop_texts = at[live], prop_texts.filter(pa.array(live))
        # Each usage with the fields around it, taken whole per line: a join's time grows with
        # its number of parts, whether arrays or constants.
        usage = pc.binary_join_element_wise(
            '","usage":"', _escaped(columns.usage.dictionary), '","id":"', ""
        )
        names = _escaped(_strings(columns.labels))
        by = _field_fragments("annotated-by", [annotated_by(v) for v in columns.authors])
        at_texts = _field_fragments("creation-time", columns.times)
        shared = _Shared(
            usage, names, by, at_texts, url_prefix, *_pair_texts(columns, names, by, at_texts)
        )
        pair_bounds = np.searchsorted(columns.pair_rows, np.arange(0, n + chunk_lines, chunk_lines))
        prop_bounds = np.searchsorted(prop_rows, np.arange(0, n + chunk_lines, chunk_lines))
        for k, lo in enumerate(range(0, n, chunk_lines)):
            hi = min(n, lo + chunk_lines)
            pairs = slice(int(pair_bounds[k]), int(pair_bounds[k + 1]))
            props = slice(int(prop_bounds[k]), int(prop_bounds[k + 1]))
            yield functools.partial(
                _lines,
                columns,
                lo,
                hi,
                pairs,
                (prop_rows[props] - lo, prop_texts[props]),
                shared,
                same_image,
            )


class _Shared(NamedTuple):
    """What every piece of :func:`manifest_chunks` uses: texts of the columns' distinct values
    (escaped), and the annotations' texts (see :func:`_pair_texts`)."""

    usage: pa.Array  # with the fields around it: ``","usage":"TRAIN","id":"``
    names: pa.Array
    by: pa.Array
    at: pa.Array
    url_prefix: str
    fragments: pa.Array | None
    fragment_of: np.ndarray
    extra_entries: np.ndarray


# Above this many (label, author, time) combinations, annotations are assembled entry by entry.
_MAX_COMBINATIONS = 1 << 20


def _pair_texts(
    columns: LiveColumns, names: pa.Array, by: pa.Array, at: pa.Array
) -> tuple[pa.Array | None, np.ndarray, np.ndarray]:
    """The text of each (label, author, time) combination in use, without an annotation's own
    fields, and which one each entry of the long labels table is (None when there are too
    many to be worth it); and the entries that have fields of their own, sorted."""
    extra_entries = np.asarray(sorted(columns.pair_extra), dtype=np.int64)
    n_by, n_at = len(by), len(at)
    combinations = len(names) * n_by * n_at
    if not len(columns.pair_rows) or combinations > _MAX_COMBINATIONS:
        return None, np.empty(0, dtype=np.int32), extra_entries
    key = (columns.pair_label.astype(np.int64) * n_by + columns.pair_by) * n_at + columns.pair_at
    used = np.flatnonzero(np.bincount(key, minlength=combinations))
    label, rest = np.divmod(used, n_by * n_at)
    author, time = np.divmod(rest, n_at)
    fragments = pc.binary_join_element_wise(
        '{"type":"' + CLASSIFICATION + '","name":"',
        names.take(pa.array(label)),
        '"',
        by.take(pa.array(author)),
        at.take(pa.array(time)),
        "}",
        "",
    )
    of_key = np.full(combinations, -1, dtype=np.int32)
    of_key[used] = np.arange(len(used), dtype=np.int32)
    return fragments, of_key[key], extra_entries


def _lines(
    columns: LiveColumns,
    lo: int,
    hi: int,
    pairs: slice,
    properties: tuple[np.ndarray, pa.Array],
    shared: _Shared,
    same_image: Callable[[str, str], bool] | None,
) -> memoryview:
    """The text of lines ``lo:hi`` (``pairs``: their entries in the long labels table)."""
    usage_texts, name_texts, by_texts, at_texts, url_prefix = shared[:5]
    n = hi - lo
    join = pc.binary_join_element_wise
    paths = columns.paths.slice(lo, n)
    if isinstance(paths, pa.ChunkedArray):  # one chunk but where a piece spans two
        paths = paths.chunk(0) if paths.num_chunks == 1 else paths.combine_chunks()
    # The source is the prefix and the path, escaped each on its own (JSON escapes character
    # by character), unless some line keeps its own spelling.
    opening = '{"source":"' + orjson.dumps(url_prefix).decode()[1:-1]
    sources = paths
    extra = columns.extra[lo:hi]
    props: Any = ""
    if len(properties[0]):
        extra, props = _property_tails(extra, *properties)
    rare = np.flatnonzero(pd.notna(extra))
    spelled = {
        k: extra[k][SOURCE_SPELLING]
        for k in rare.tolist()
        if isinstance(extra[k], dict) and isinstance(extra[k].get(SOURCE_SPELLING), str)
    }
    if same_image is not None and spelled:
        spelled = {k: v for k, v in spelled.items() if same_image(v, paths[k].as_py())}
        if spelled:
            mask = np.zeros(n, dtype=bool)
            mask[list(spelled)] = True
            sources = pc.replace_with_mask(
                join(url_prefix, paths, ""),
                pa.array(mask),
                pa.array(list(spelled.values()), pa.string()),
            )
            opening = '{"source":"'
    # The parts of each line before its annotations: joined with the rest in one pass below,
    # since each join copies every byte it is given once more.
    head = (
        opening,
        _escaped(sources),
        usage_texts.take(columns.usage.indices.slice(lo, n)),
        _escaped(columns.ids.slice(lo, n)),
    )

    # Annotations: one fragment per (image, label) pair, then joined per image.
    rows = columns.pair_rows[pairs] - lo
    which = columns.pair_label[pairs]
    per_row = np.bincount(rows, minlength=n)
    closing: Any = "}"
    lo_key, hi_key = np.searchsorted(shared.extra_entries, [pairs.start, pairs.stop])
    if hi_key > lo_key:
        closing_list = ["}"] * len(rows)
        for j in shared.extra_entries[lo_key:hi_key].tolist():
            more = columns.pair_extra[j]
            closing_list[j - pairs.start] = "," + orjson.dumps(more).decode()[1:-1] + "}"
        closing = _strings(closing_list)
    if shared.fragments is not None and hi_key == lo_key:
        # every entry is one of a few (label, author, time) texts: picked, not assembled
        pairs_text = shared.fragments.take(pa.array(shared.fragment_of[pairs]))
    else:
        pairs_text = join(
            '{"type":"' + CLASSIFICATION + '","name":"',
            name_texts.take(pa.array(which)),
            '"',
            by_texts.take(pa.array(columns.pair_by[pairs])),
            at_texts.take(pa.array(columns.pair_at[pairs])),
            closing,
            "",
        )
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    annotations = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs_text), ",")
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
    # Each line's opening and closing of its annotations (or of nothing), picked by index
    # rather than by a per-row if-else of strings, which is several times slower; the line's
    # end goes with the closing unless some line has more to say after its annotations.
    with_ann = pa.array(has_ann.astype(np.int8))
    ann_opening = pa.array(['"', '","annotation":['], pa.string()).take(with_ann)
    if isinstance(tails, str) and isinstance(props, str):
        closing_ann = pa.array(["}\n", "]}\n"], pa.string()).take(with_ann)
        lines = join(*head, ann_opening, annotations, closing_ann, "")
    else:
        closing_ann = pa.array(["", "]"], pa.string()).take(with_ann)
        lines = join(*head, ann_opening, annotations, closing_ann, tails, props, "}\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    bounds = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + n + 1]
    return memoryview(lines.buffers()[2])[int(bounds[0]) : int(bounds[-1])]
