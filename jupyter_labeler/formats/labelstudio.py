"""Label Studio tasks: its JSON export out; its JSON (current and old), JSON_MIN and CSV
exports in."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from ..errors import FormatError
from ..scan import IMAGE_SUFFIXES
from ._common import (
    Entries,
    ExportReport,
    Progress,
    clean,
    decode_text,
    labels_by_image,
    url_of,
    write_file,
)

if TYPE_CHECKING:
    from ..dataset import Dataset

LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <Choices name="choice" toName="image" choice="multiple">
{choices}  </Choices>
</View>
"""
"""The labeling configuration the exported tasks are made for (``{choices}``: the labels)."""

# What JSON_MIN and CSV records hold besides the task's data and its choices.
_MIN_META = frozenset(
    {"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement"}
)
# The names the Choices of an image classification project usually have.
_CHOICE_KEYS = frozenset({"choice", "choices", "label", "labels", "class", "category"})
# Label Studio's uploads are named "<8 hex digits>-<original name>".
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


def label_config(names: list[str]) -> str:
    """The Label Studio labeling configuration for ``names``, as :func:`export_labels` uses."""
    return LABEL_CONFIG.format(choices="".join(f'    <Choice value="{name}"/>\n' for name in names))


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


def image_reference(url: str) -> str:
    """The path an image URL of a Label Studio task names, for matching it to an image.

    ``/data/local-files/?d=<path>`` (local storage) gives ``<path>``;
    ``/data/upload/<project>/<hash>-<name>`` (uploads) gives ``<name>``; other URLs (``s3://``,
    ``https://``) stay as they are, decoded.
    """
    parts = urlsplit(url)
    if parts.path.endswith("/data/local-files/") or parts.path.endswith("/data/local-files"):
        found = parse_qs(parts.query).get("d")
        if found:
            return found[0]
    if "/data/upload/" in parts.path:
        name = unquote(parts.path.rsplit("/", 1)[-1])
        return _UPLOAD_PREFIX.sub("", name)
    return unquote(url) if "%" in url else url


def _looks_like_image(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    ref = image_reference(value)
    return ref.split("?", 1)[0].lower().endswith(IMAGE_SUFFIXES) or value.startswith("/data/")


def _image_key(record: Mapping[str, Any], explicit: str | None) -> str | list[str]:
    """The key of the data field holding the image, or the candidates when it is not one."""
    if explicit is not None:
        return explicit if explicit in record else []
    if "path" in record and "image_id" in record:  # our own export: the path says it exactly
        return "path"
    if _looks_like_image(record.get("image")):
        return "image"
    found = [k for k, v in record.items() if k not in _MIN_META and _looks_like_image(v)]
    return found[0] if len(found) == 1 else found


def _choices_of(value: Any) -> list[Any] | None:
    """The labels a Choices value holds: a name, a list, or ``{"choices": [...]}``."""
    if isinstance(value, dict):
        value = value.get("choices")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _newest(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The annotation Label Studio's converter takes: the newest by ``created_at``."""
    return max(items, key=lambda a: str(a.get("created_at") or ""))


def _tasks(source: str, data: bytes) -> tuple[list[Any], bool]:
    """The records of an export, and whether they are full tasks (JSON) or flat (JSON_MIN, CSV)."""
    head = data.lstrip()[:1]
    if head in (b"[", b"{"):
        try:
            tasks = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise FormatError(source, f"not valid JSON ({exc})") from exc
        if isinstance(tasks, dict):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise FormatError(source, "a Label Studio export is a JSON list of tasks")
        full = any(isinstance(t, dict) and isinstance(t.get("data"), dict) for t in tasks)
        return tasks, full
    text = decode_text(data, source)
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise FormatError(source, f"neither JSON nor valid CSV ({exc})") from exc
    if not rows:
        raise FormatError(source, "neither a JSON list of tasks nor a CSV export with a header")
    records = []
    for row in rows:
        record: dict[str, Any] = {}
        for key, value in row.items():
            if key is None or value is None or value == "":
                continue
            if value[:1] in "[{":  # the CSV export writes lists and objects as JSON
                try:
                    record[key] = orjson.loads(value)
                    continue
                except orjson.JSONDecodeError:
                    pass
            record[key] = value
        records.append(record)
    return records, False


def read_labelstudio(
    dataset: Dataset,
    source: str,
    data: bytes,
    *,
    image_key: str | None = None,
    choice_key: str | None = None,
) -> Entries:
    """The choices of each task's newest annotation that was not cancelled.

    Reads the JSON export (``annotations``, or ``completions`` in old exports), JSON_MIN and
    CSV. The image is the task's one data field holding an image URL (``image_key`` names it
    when there are several); in JSON_MIN and CSV the labels are the fields named ``choice``
    (or ``choices``, ``label``, ``labels``, ``class``, ``category``, or ``choice_key``) or
    holding ``{"choices": [...]}``.
    """
    tasks, full = _tasks(source, data)
    out = Entries()
    if full:
        for number, task in enumerate(tasks, start=1):
            _read_task(source, number, task, image_key, out)
        return out
    keys = {choice_key} if choice_key else _choice_keys(tasks)
    newest: dict[Any, tuple[int, dict[str, Any]]] = {}
    for number, record in enumerate(tasks, start=1):
        if not isinstance(record, dict):
            out.problems.append(f"{source} record {number}: not an object; skipped")
            continue
        task_id = record.get("id", f"#{number}")
        seen = newest.get(task_id)
        stamp = str(record.get("created_at") or "")
        if seen is None or stamp > str(seen[1].get("created_at") or ""):
            newest[task_id] = (number, record)
    for number, record in sorted(newest.values(), key=lambda item: item[0]):
        key = _image_key(record, image_key)
        if not isinstance(key, str):
            out.problems.append(_no_image(source, f"record {number}", key, image_key))
            continue
        names: list[Any] = []
        for field_name in keys:
            names += _choices_of(record.get(field_name)) or []
        out.entries.append((image_reference(str(record[key])), clean(names)))
    return out


def _choice_keys(records: list[Any]) -> set[str]:
    keys: set[str] = set()
    for record in records:
        if isinstance(record, dict):
            for key, value in record.items():
                if key.lower() in _CHOICE_KEYS or (
                    isinstance(value, dict) and isinstance(value.get("choices"), list)
                ):
                    keys.add(key)
    return keys


def _no_image(source: str, what: str, candidates: list[str], explicit: str | None) -> str:
    if explicit is not None:
        return f"{source} {what}: no field {explicit!r}; skipped"
    if candidates:
        return (
            f"{source} {what}: several fields hold image URLs ({', '.join(candidates)}); "
            "name the one to use with image_key; skipped"
        )
    return f"{source} {what}: no field holds an image URL; skipped"


def _read_task(source: str, number: int, task: Any, image_key: str | None, out: Entries) -> None:
    info = task.get("data") if isinstance(task, dict) else None
    if not isinstance(info, dict):
        out.problems.append(f"{source} task {number}: no data; skipped")
        return
    key = _image_key(info, image_key)
    if not isinstance(key, str):
        out.problems.append(_no_image(source, f"task {number}", key, image_key))
        return
    given = task.get("annotations") if "annotations" in task else task.get("completions")
    kept = [
        a
        for a in given or []
        if isinstance(a, dict) and not a.get("was_cancelled") and not a.get("skipped")
    ]
    names: list[Any] = []
    if kept:
        for result in _newest(kept).get("result") or []:
            if isinstance(result, dict) and result.get("type") == "choices":
                names += _choices_of(result.get("value")) or []
    out.entries.append((image_reference(str(info[key])), clean(names)))
