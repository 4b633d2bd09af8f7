"""Label Studio tasks: its JSON export out; its JSON, JSON_MIN and CSV exports in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..errors import FormatError
from ._common import (
    Entries,
    ExportReport,
    Progress,
    clean,
    labels_by_image,
    url_of,
    write_file,
)

if TYPE_CHECKING:
    from ..dataset import Dataset


def export_labelstudio(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    tasks = []
    for number, (image_id, path) in enumerate(images, start=1):
        chosen = labels.get(image_id)
        result = (
            [
                {
                    "from_name": "choice",
                    "to_name": "image",
                    "type": "choices",
                    "value": {"choices": chosen},
                }
            ]
            if chosen
            else None
        )
        tasks.append(
            {
                "id": number,
                "data": {"image": url_of(dataset, path), "path": path, "image_id": image_id},
                "annotations": [{"result": result}] if result else [],
            }
        )
    written = write_file(to, orjson.dumps(tasks, option=orjson.OPT_INDENT_2), options)
    return ExportReport("labelstudio", written, len(images), len(labels), 1)


def read_labelstudio(dataset: Dataset, source: str, data: bytes) -> Entries:
    try:
        tasks = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FormatError(source, f"not valid JSON ({exc})") from exc
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise FormatError(source, "a Label Studio export is a JSON list of tasks")
    out = Entries()
    for number, task in enumerate(tasks, start=1):
        info = task.get("data") if isinstance(task, dict) else None
        if not isinstance(info, dict):
            out.problems.append(f"{source} task {number}: no data; skipped")
            continue
        ref = info.get("path") or info.get("image")
        if not isinstance(ref, str):
            out.problems.append(f"{source} task {number}: no data.image; skipped")
            continue
        kept = [
            a
            for a in task.get("annotations") or []
            if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        names: list[Any] = []
        if kept:
            for result in kept[-1].get("result") or []:
                if isinstance(result, dict) and result.get("type") == "choices":
                    names += (result.get("value") or {}).get("choices") or []
        out.entries.append((ref, clean(names)))
    return out
