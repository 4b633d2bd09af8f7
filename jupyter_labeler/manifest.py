"""ModelArts manifests (JSON lines) to and from the in-memory :class:`~.state.State`.

One line per image::

    {"source": "s3://bucket/flowers/img_1.jpg", "usage": "TRAIN", "id": "a1b2c3d4e5f60718",
     "annotation": [{"type": "modelarts/image_classification", "name": "roses",
                     "annotated-by": "alice", "creation-time": "2026-11-25 07:10:11"}]}

``annotation`` is absent for an unlabeled image. Reading is tolerant of what ModelArts and other
tools write: lowercase ``usage``, ``annotated-by`` such as ``human/<user>/<user>``, a ``property``
given as an object or as a JSON string, underscore spellings (``annotated_by``,
``creation_time``), label names in Chinese, blank lines, and unknown fields, which are kept and
written back as they came. A malformed line is reported with its line number and skipped; the
rest loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .names import label_problem
from .state import ImageRows, State

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
# Annotations of other kinds (object detection boxes, ...) ride along untouched under this key.
OTHER_ANNOTATIONS = "\x00other-annotations"


def image_id_for(path: str) -> str:
    """The stable id of the image at ``path`` (relative to the source folder)."""
    return hashlib.blake2b(path.encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class ParsedManifest:
    """What a manifest holds, in columns ready for :class:`~.state.State`."""

    rows: ImageRows
    # (row index, label name, annotated-by, creation-time, unknown annotation fields or None);
    # an empty annotated-by or creation-time means the annotation had none
    labels: list[tuple[int, str, str, str, dict[str, Any] | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # lines whose source repeats an earlier line's: merged into that line's image
    merged: int = 0

    def to_state(self) -> State:
        state = State()
        state.add_images(self.rows)
        by_name: dict[str, list[tuple[int, str, str, dict[str, Any] | None]]] = {}
        for row, name, by, at, extra in self.labels:
            by_name.setdefault(name, []).append((row, by, at, extra))
        for name, items in by_name.items():
            codes = np.fromiter((r for r, _, _, _ in items), dtype=np.int64, count=len(items))
            state.add_label(
                name,
                codes,
                state.authors.codes(b for _, b, _, _ in items),
                state.times.codes(a for _, _, a, _ in items),
                {r: e for r, _, _, e in items if e} or None,
            )
        return state


def parse_manifest(
    data: bytes,
    *,
    where: str,
    relative: Callable[[str], str],
) -> ParsedManifest:
    """Read manifest bytes. ``relative`` maps a ``source`` URL to the image's path key.

    Problems (malformed lines, duplicates, odd label names) are listed in ``problems`` as plain
    sentences naming ``where`` and the line number; the lines that can be read are all kept.
    """
    ids: list[str] = []
    paths: list[str] = []
    usage: list[str] = []
    extra: list[dict[str, Any] | None] = []
    labels: list[tuple[int, str, str, str, dict[str, Any] | None]] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_paths: dict[str, int] = {}
    checked_names: set[str] = set()
    # per merged row: the other-kind annotations it holds already, as canonical JSON
    seen_others: dict[int, set[bytes]] = {}
    merged: list[tuple[int, str]] = []

    for number, raw in enumerate(data.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            problems.append(f"{where} line {number}: not valid JSON ({exc}); line skipped")
            continue
        if not isinstance(record, dict):
            problems.append(f"{where} line {number}: not a JSON object; line skipped")
            continue
        source = record.get("source")
        if not isinstance(source, str) or not source.strip():
            problems.append(f"{where} line {number}: no 'source'; line skipped")
            continue
        path = relative(source.strip())
        annotations = record.get("annotation") or []
        if not isinstance(annotations, list):
            problems.append(
                f"{where} line {number}: 'annotation' is not a list; its labels were skipped"
            )
            annotations = []

        row = seen_paths.get(path)
        repeat = row is not None
        if row is None:
            image_id = record.get("id")
            if not isinstance(image_id, str) or not image_id or image_id in seen_ids:
                if isinstance(image_id, str) and image_id in seen_ids:
                    problems.append(
                        f"{where} line {number}: id {image_id!r} is used twice; a new id was given"
                    )
                image_id = image_id_for(path)
                if image_id in seen_ids:
                    image_id = image_id_for(f"{path}#{number}")
            seen_ids.add(image_id)
            row = len(ids)
            seen_paths[path] = row
            ids.append(image_id)
            paths.append(path)
            value = record.get("usage")
            usage.append(value.upper() if isinstance(value, str) else "")
            unknown = {k: v for k, v in record.items() if k not in _KNOWN_ROW}
            extra.append(unknown or None)
        else:
            merged.append((number, source))

        others: list[Any] = []
        for item in annotations:
            if not isinstance(item, dict):
                problems.append(f"{where} line {number}: an annotation is not an object; skipped")
                continue
            kind = item.get("type", CLASSIFICATION)
            name = item.get("name")
            if kind != CLASSIFICATION or not isinstance(name, str):
                others.append(item)
                continue
            name = name.strip()
            if name not in checked_names:  # a few names, a million lines: check each once
                checked_names.add(name)
                problem = label_problem(name)
                if problem is not None:
                    problems.append(
                        f"{where} line {number}: label {name!r} breaks the naming rules "
                        f"({problem}); it was kept as it is"
                    )
            by = item.get("annotated-by", item.get("annotated_by", ""))
            at = item.get("creation-time", item.get("creation_time", ""))
            unknown = {k: v for k, v in item.items() if k not in _KNOWN_ANNOTATION}
            labels.append((row, name, str(by or ""), str(at or ""), unknown or None))
        if others:
            slot = extra[row] or {}
            kept = slot.setdefault(OTHER_ANNOTATIONS, [])
            if repeat:
                # A repeated line often repeats its boxes: add only those not there yet.
                seen = seen_others.get(row)
                if seen is None:
                    seen = seen_others[row] = {_canonical(o) for o in kept}
                for item in others:
                    key = _canonical(item)
                    if key not in seen:
                        seen.add(key)
                        kept.append(item)
            else:
                kept.extend(others)
            extra[row] = slot

    if merged:
        first_number, first_source = merged[0]
        problems.append(
            f"{where}: {len(merged)} line{'s' if len(merged) != 1 else ''} repeat the source of "
            f"an earlier line (the first: line {first_number}, {first_source!r}); each was "
            "merged into that image, identical annotations kept once"
        )

    rows = ImageRows(
        ids=ids,
        paths=paths,
        sizes=[0] * len(ids),
        usage=usage,
        added_at=[""] * len(ids),
        extra=extra,
    )
    return ParsedManifest(rows=rows, labels=labels, problems=problems, merged=len(merged))


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


def write_manifest(state: State, url_prefix: str) -> bytes:
    """The ModelArts manifest of ``state``: one line per live image, in display order.

    ``url_prefix`` + an image's path is its ``source`` (paths that are URLs already stay as
    they are). Lines are assembled by Arrow's element-wise string kernels, never one Python
    string per line: a million lines take well under a second.
    """
    alive = np.flatnonzero(state.alive)
    n = len(alive)
    if not n:
        return b""
    join = pc.binary_join_element_wise
    row_of = np.full(state.n_rows, -1, dtype=np.int64)
    row_of[alive] = np.arange(n)

    paths = _strings(state.paths[alive])
    sources = pc.if_else(pc.match_substring(paths, "://"), paths, join(url_prefix, paths, ""))
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
        _field_fragments("annotated-by", state.authors.values).take(pa.array(by)),
        _field_fragments("creation-time", state.times.values).take(pa.array(at)),
        closing,
        "",
    )
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(per_row, out=offsets[1:])
    annotations = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), pairs), ",")
    has_ann = per_row > 0

    # Rare per-row extras: annotations of other kinds, and unknown fields, as they were read.
    extra = state.extra[alive]
    tails: Any = ""
    rare = np.flatnonzero(pd.notna(extra))
    if len(rare):
        ann_list = annotations.to_pylist()
        tail_list = [""] * n
        for k in rare.tolist():
            row_extra = extra[k] or {}
            if row_extra.get(OTHER_ANNOTATIONS):
                items = [orjson.dumps(o).decode() for o in row_extra[OTHER_ANNOTATIONS]]
                ann_list[k] = ",".join(([ann_list[k]] if ann_list[k] else []) + items)
                has_ann[k] = True
            rest = {key: v for key, v in row_extra.items() if key != OTHER_ANNOTATIONS}
            if rest:
                tail_list[k] = "," + orjson.dumps(rest).decode()[1:-1]
        annotations = _strings(ann_list)
        tails = _strings(tail_list)
    middle = pc.if_else(
        pa.array(has_ann), join('","annotation":[', annotations, "]", ""), pa.scalar('"')
    )
    lines = join(head, middle, tails, "}\n", "")
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    data_buffer = lines.buffers()[2]
    end = pc.sum(pc.binary_length(lines)).as_py()
    return data_buffer.slice(lines.offset and 0, end).to_pybytes()
