"""Hugging Face ``imagefolder``: ``metadata.jsonl`` out and in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..errors import FormatError
from ._common import Entries, ExportReport, Progress, clean, labels_by_image, write_file

if TYPE_CHECKING:
    from ..dataset import Dataset


def export_hf(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    multi = any(len(v) > 1 for v in labels.values())
    lines = []
    for image_id, path in images:
        chosen = labels.get(image_id, [])
        entry: dict[str, Any] = {"file_name": path}
        if multi:
            entry["labels"] = chosen
        else:
            entry["label"] = chosen[0] if chosen else None
        lines.append(orjson.dumps(entry) + b"\n")
    written = write_file(to, b"".join(lines), options)
    return ExportReport("hf", written, len(images), len(labels), 1)


def _read_jsonl(source: str, data: bytes) -> list[tuple[int, Any]]:
    records = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            try:
                records.append((number, orjson.loads(raw)))
            except orjson.JSONDecodeError as exc:
                raise FormatError(f"{source} line {number}", f"not valid JSON ({exc})") from exc
    return records


def read_hf(dataset: Dataset, source: str, data: bytes) -> Entries:
    out = Entries()
    for number, record in _read_jsonl(source, data):
        if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
            out.problems.append(f"{source} line {number}: no file_name; skipped")
            continue
        value = record.get("labels", record.get("label"))
        if value is None:
            names: list[Any] = []
        elif isinstance(value, str):
            names = [value]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            names = value
        else:
            out.problems.append(
                f"{source} line {number}: label {value!r} is not a name or a list of names; "
                "skipped (class numbers cannot be mapped to names)"
            )
            continue
        out.entries.append((record["file_name"], clean(names)))
    return out
