"""Writing a :class:`~.state.State` as a ModelArts manifest (see :mod:`.manifest` for the format).

Lines are assembled by Arrow's element-wise string kernels, never one Python string per line:
a million lines take well under a second. What reading kept of a line beyond the columns (a
source's own spelling, annotations of other kinds, unknown fields, a ``property``) is written
back as it came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .manifest_fields import CLASSIFICATION, OTHER_ANNOTATIONS, SOURCE_SPELLING
from .names import annotated_by
from .state import State

__all__ = ["write_manifest"]

# A string needs JSON escaping only if it holds a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _maybe_escaped(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether some value of a string array may need escaping: one pass over its bytes, many
    times faster than a regular expression per value (False is certain, True is a maybe)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if not pa.types.is_string(chunk.type) or chunk.offset:
            return True
        offsets, data = chunk.buffers()[1], chunk.buffers()[2]
        if data is None or not len(chunk):
            continue
        bounds = np.frombuffer(offsets, dtype=np.int32)[: len(chunk) + 1]
        text = np.frombuffer(data, dtype=np.uint8)[bounds[0] : bounds[-1]]
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

    paths = state.path_column(alive)
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
        spelled = {k: v for k, v in spelled.items() if same_image(v, state.paths[int(alive[k])])}
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
        _escaped(state.usage.arrow(alive).dictionary_decode()),
        '","id":"',
        _escaped(state.id_column(alive)),
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
    # Each line's opening and closing of its annotations (or of nothing), picked by index
    # rather than by a per-row if-else of strings, which is several times slower.
    with_ann = has_ann.astype(np.int8)
    opening = pa.array(['"', '","annotation":['], pa.string()).take(pa.array(with_ann))
    closing_ann = pa.array(["", "]"], pa.string()).take(pa.array(with_ann))
    lines = join(head, opening, annotations, closing_ann, tails, props, "}\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    data_buffer = lines.buffers()[2]
    end = pc.sum(pc.binary_length(lines)).as_py()
    return data_buffer.slice(lines.offset and 0, end).to_pybytes() + tail
