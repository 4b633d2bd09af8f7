"""The line-by-line manifest reader the Arrow-based one must agree with, line for line.

It is the reader jupyter-labeler had before manifests were parsed with Arrow: one orjson call
per line. Kept for the tests as the specification of every tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from jupyter_labeler.manifest import CLASSIFICATION, OTHER_ANNOTATIONS, image_id_for
from jupyter_labeler.names import label_problem
from jupyter_labeler.paths import image_path_problem
from jupyter_labeler.state import ImageRows

_KNOWN_ROW = {"source", "usage", "id", "annotation"}
_KNOWN_ANNOTATION = {
    "type",
    "name",
    "annotated-by",
    "annotated_by",
    "creation-time",
    "creation_time",
}


def reference_parse(
    data: bytes,
    *,
    where: str,
    relative: Callable[[str], str | None],
    exclude: Sequence[str] = (),
) -> tuple[ImageRows, list[Any], list[str], int, list[bytes]]:
    """Read manifest bytes. ``relative`` maps a ``source`` URL to the image's path key (None
    outside the folder).

    Problems (malformed lines, duplicates, refused label names) are listed in ``problems`` as
    plain sentences naming ``where`` and the line number; the lines that can be read are all
    kept. A line whose source is no image of the dataset is kept whole in ``foreign``, and a
    label name that breaks the rules is left off its image.
    """
    ids: list[str] = []
    paths: list[str] = []
    usage: list[str] = []
    extra: list[dict[str, Any] | None] = []
    labels: list[tuple[int, str, str, str, dict[str, Any] | None]] = []
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_paths: dict[str, int] = {}
    name_problems: dict[str, str | None] = {}
    foreign: list[bytes] = []
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
        found = relative(source.strip())
        why = (
            "it lies outside the source folder"
            if found is None
            else image_path_problem(found, exclude=exclude)
        )
        if why is not None:
            problems.append(
                f"{where} line {number}: source {source[:200]!r} is not an image of this "
                f"dataset ({why}); the line is kept as it is in the manifest"
            )
            foreign.append(line)
            continue
        assert found is not None
        path = found
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
            if name not in name_problems:  # a few names, a million lines: check each once
                problem = name_problems[name] = label_problem(name)
                if problem is not None:
                    shown = repr(name) if len(name) <= 40 else repr(name[:40]) + "…"
                    problems.append(
                        f"{where} line {number}: label {shown} breaks the naming rules "
                        f"({problem}); that label was left off its images"
                    )
            if name_problems[name] is not None:
                continue
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
    return rows, labels, problems, len(merged), foreign


def _canonical(item: Any) -> bytes:
    return orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
