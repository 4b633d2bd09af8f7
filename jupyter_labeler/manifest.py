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
    # (row index, label name, annotated-by, creation-time, unknown annotation fields or None)
    labels: list[tuple[int, str, str, str, dict[str, Any] | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_state(self) -> State:
        state = State()
        state.add_images(self.rows)
        by_name: dict[str, list[tuple[int, str, str, dict[str, Any] | None]]] = {}
        for row, name, by, at, extra in self.labels:
            by_name.setdefault(name, []).append((row, by, at, extra))
        for name, items in by_name.items():
            codes = np.fromiter((r for r, _, _, _ in items), dtype=np.int64, count=len(items))
            by = state.authors.codes(b for _, b, _, _ in items)
            at = state.times.codes(a for _, _, a, _ in items)
            extra = {r: e for r, _, _, e in items if e}
            state.add_label(name, codes, by, at, extra or None)
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
    odd_names: set[str] = set()

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
            problems.append(
                f"{where} line {number}: {source!r} appears again; its labels were merged"
            )

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
            if label_problem(name) is not None and name not in odd_names:
                odd_names.add(name)
                problems.append(
                    f"{where} line {number}: label {name!r} breaks the naming rules "
                    f"({label_problem(name)}); it was kept as it is"
                )
            by = item.get("annotated-by", item.get("annotated_by", ""))
            at = item.get("creation-time", item.get("creation_time", ""))
            unknown = {k: v for k, v in item.items() if k not in _KNOWN_ANNOTATION}
            labels.append((row, name, str(by or ""), str(at or ""), unknown or None))
        if others:
            slot = extra[row] or {}
            slot.setdefault(OTHER_ANNOTATIONS, []).extend(others)
            extra[row] = slot

    rows = ImageRows(
        ids=ids,
        paths=paths,
        sizes=[0] * len(ids),
        usage=usage,
        added_at=[""] * len(ids),
        extra=extra,
    )
    return ParsedManifest(rows=rows, labels=labels, problems=problems)


def write_manifest(state: State, url_of: Callable[[str], str]) -> bytes:
    """The ModelArts manifest of ``state``: one line per live image, in display order."""
    names = list(state.labels)
    name_json = [orjson.dumps(n).decode() for n in names]
    by_json = [orjson.dumps(v).decode() for v in state.authors.values]
    at_json = [orjson.dumps(v).decode() for v in state.times.values]
    extras = [ls.extra for ls in state.labels.values()]
    codes, which, by, at = state.label_codes_long()
    # Where each image's annotations start in the sorted long arrays.
    alive = np.flatnonzero(state.alive)
    starts = np.searchsorted(codes, alive, side="left").tolist()
    stops = np.searchsorted(codes, alive, side="right").tolist()
    which_l, by_l, at_l = which.tolist(), by.tolist(), at.tolist()

    out: list[bytes] = []
    dumps = orjson.dumps
    ids, paths, usage, extra = state.ids, state.paths, state.usage, state.extra
    for k, code in enumerate(alive.tolist()):
        row_extra = extra[code]
        others = row_extra.get(OTHER_ANNOTATIONS) if row_extra else None
        head = (
            '{"source":'
            + dumps(url_of(paths[code])).decode()
            + ',"usage":'
            + dumps(usage[code] or "").decode()
            + ',"id":'
            + dumps(ids[code]).decode()
        )
        parts: list[str] = []
        for j in range(starts[k], stops[k]):
            w = which_l[j]
            ann = (
                '{"type":"'
                + CLASSIFICATION
                + '","name":'
                + name_json[w]
                + ',"annotated-by":'
                + by_json[by_l[j]]
                + ',"creation-time":'
                + at_json[at_l[j]]
            )
            more = extras[w].get(code) if extras[w] else None
            if more:
                ann += "," + dumps(more).decode()[1:-1]
            parts.append(ann + "}")
        if others:
            parts.extend(dumps(o).decode() for o in others)
        if parts:
            head += ',"annotation":[' + ",".join(parts) + "]"
        if row_extra:
            rest = {k2: v for k2, v in row_extra.items() if k2 != OTHER_ANNOTATIONS}
            if rest:
                head += "," + dumps(rest).decode()[1:-1]
        out.append((head + "}\n").encode())
    return b"".join(out)
