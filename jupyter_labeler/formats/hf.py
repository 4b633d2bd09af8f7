"""Hugging Face ``imagefolder``: a folder ``datasets.load_dataset`` reads with every label.

The export writes, beside the images (copied there first when the folder is not the dataset's
source folder):

- ``metadata.parquet`` where Hugging Face looks for each split: in each split folder
  (``train/``, ``test/``, ``validation/`` and the other names Hugging Face takes for splits)
  when the images sit in such folders, else at the top. When the images are put in parts
  (:meth:`Dataset.split`) and the export goes to another folder, the copies go to
  ``train/``, ``validation/`` (EVAL) and ``test/`` by their part (TRAIN or none: ``train/``). ``file_name`` is the image's path
  relative to that folder; ``label`` its label as a ``ClassLabel`` number (null when
  unlabeled), or, as soon as one image has several labels, ``labels`` a list of them. The
  Parquet schema carries the features with the label names, so
  ``load_dataset("imagefolder", data_dir=...)`` gets them without inferring anything: a
  partly labeled set, or a split with no label at all, loads the same.
- ``README.md``, a dataset card whose YAML declares the ``configs`` (the ``data_files`` of
  each split) and the ``features``, for ``load_dataset(folder)`` and the Hub. A README.md that
  is not one of ours is left as it is.

Importing reads a ``metadata.parquet`` or ``metadata.jsonl`` file (``label`` or ``labels``,
as names or, with the features in the Parquet schema, as numbers); ``file_name`` is taken
relative to the folder of the metadata file.
"""

from __future__ import annotations

import io
import posixpath
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import FormatError
from ..parquet import read_parquet
from ..storage import open_store
from ._common import (
    Entries,
    ExportReport,
    Matcher,
    Progress,
    check_names,
    clean,
    copy_images,
    labels_by_image,
)

if TYPE_CHECKING:
    from ..dataset import Dataset

# The folder names Hugging Face takes for splits, and the split each one is.
SPLIT_FOLDERS = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "dev": "validation",
    "val": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
}
# The part of the split (a manifest's usage) -> the split folder Hugging Face reads it from.
USAGE_FOLDERS = {"TRAIN": "train", "EVAL": "validation", "TEST": "test"}
METADATA = "metadata.parquet"
CARD = "README.md"
_CARD_MARK = "<!-- written by jupyter-labeler -->"


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return orjson.dumps(text).decode()


def _features(names: list[str], multi: bool) -> dict[str, Any]:
    label: dict[str, Any] = {"names": names, "_type": "ClassLabel"}
    if multi:
        return {
            "file_name": {"dtype": "string", "_type": "Value"},
            "labels": {"feature": label, "_type": "List"},
        }
    return {"file_name": {"dtype": "string", "_type": "Value"}, "label": label}


def dataset_card(splits: dict[str, list[str]], names: list[str], multi: bool, title: str) -> str:
    """The README.md declaring each split's files (split -> glob patterns) and the features."""
    lines = ["---", "configs:", f"- config_name: {_q('default')}", "  data_files:"]
    for split, patterns in splits.items():
        lines.append(f"  - split: {_q(split)}")
        if len(patterns) == 1:
            lines.append(f"    path: {_q(patterns[0])}")
        else:
            lines.append("    path:")
            lines += [f"    - {_q(p)}" for p in patterns]
    lines += ["  features:", f"  - name: {_q('image')}", f"    dtype: {_q('image')}"]
    lines.append(f"  - name: {_q('labels' if multi else 'label')}")
    lines.append("    list:" if multi else "    dtype:")
    lines += ["      class_label:", "        names:"]
    lines += [f"          {_q(str(k))}: {_q(name)}" for k, name in enumerate(names)]
    lines += [
        "---",
        "",
        f"# {title}",
        "",
        _CARD_MARK,
        "",
        "Images and their labels, for "
        '`datasets.load_dataset("imagefolder", data_dir=...)` or `datasets.load_dataset(...)`'
        " on this folder.",
        "",
    ]
    return "\n".join(lines)


def _split_of(path: str) -> str | None:
    head = path.split("/", 1)[0]
    return head if "/" in path and head.lower() in SPLIT_FOLDERS else None


def _metadata_bytes(rows: list[tuple[str, list[int]]], names: list[str], multi: bool) -> bytes:
    files = [name for name, _ in rows]
    if multi:
        column: pa.Array = pa.array([codes for _, codes in rows], pa.list_(pa.int64()))
    else:
        column = pa.array([codes[0] if codes else None for _, codes in rows], pa.int64())
    meta = {b"huggingface": orjson.dumps({"info": {"features": _features(names, multi)}})}
    table = pa.table(
        {"file_name": pa.array(files, pa.string()), "labels" if multi else "label": column}
    ).replace_schema_metadata(meta)
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def export_hf(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    if to.endswith((".jsonl", ".parquet")):  # a metadata file named: its folder is meant
        to = to.rsplit("/", 1)[0] if "/" in to else "."
    dest = open_store(to, options)
    report = ExportReport("hf", dest.url, len(images), len(labels))
    names = list(dataset.label_names)
    order = {n: k for k, n in enumerate(names)}
    multi = any(len(v) > 1 for v in labels.values())
    folders = {s for _, path in images if (s := _split_of(path)) is not None}
    elsewhere = dest.url.rstrip("/") != open_store(dataset.source_url, options).url.rstrip("/")
    usage = dataset.usages()
    by_usage = not folders and bool(usage.isin(list(USAGE_FOLDERS)).any())
    if by_usage and not elsewhere:
        by_usage = False
        report.skipped.append(
            "the parts of the split (usage) need an export to another folder, where the "
            "images are copied into train/, validation/ and test/; all went to one split here"
        )
    groups: dict[str, list[tuple[str, list[int]]]] = {}
    wanted: dict[str, list[str]] = {}
    for image_id, path in images:
        if "://" in path:
            report.skipped.append(f"{path}: not in the source folder")
            continue
        folder = _split_of(path) or ""
        if folders and not folder:
            report.skipped.append(f"{path}: in no split folder ({', '.join(sorted(folders))})")
            continue
        rel = path[len(folder) + 1 :] if folder else path
        if by_usage:
            folder = USAGE_FOLDERS.get(str(usage[image_id]), "train")
            wanted[image_id] = [f"{folder}/{path}"]
        else:
            wanted[image_id] = [path]
        groups.setdefault(folder, []).append((rel, [order[n] for n in labels.get(image_id, [])]))
    if elsewhere:
        copy_images(dataset, dest, wanted, report, progress)
    for folder, rows in groups.items():
        dest.write(posixpath.join(folder, METADATA), _metadata_bytes(rows, names, multi))
        report.files += 1
    splits: dict[str, list[str]] = {}
    for folder in sorted(groups):
        splits.setdefault(SPLIT_FOLDERS[folder.lower()] if folder else "train", []).append(
            f"{folder}/**" if folder else "**"
        )
    card = dataset_card(splits, names, multi, posixpath.basename(dest.url.rstrip("/")) or "images")
    existing = dest.read(CARD).decode("utf-8", "replace") if dest.exists(CARD) else None
    if existing is None or _CARD_MARK in existing:
        dest.write(CARD, card.encode("utf-8"))
        report.files += 1
    else:
        report.skipped.append(
            f"{CARD}: there is one already, left as it is (the features are in {METADATA} too)"
        )
    return report


def _read_jsonl(source: str, data: bytes) -> list[tuple[int, Any]]:
    records = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            try:
                records.append((number, orjson.loads(raw)))
            except orjson.JSONDecodeError as exc:
                raise FormatError(f"{source} line {number}", f"not valid JSON ({exc})") from exc
    return records


def _read_parquet(source: str, data: bytes) -> list[tuple[int, Any]]:
    """The rows of a metadata.parquet, label numbers turned into names by its features."""
    try:
        table = read_parquet(data)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FormatError(source, f"not a readable Parquet file ({exc})") from exc
    features: dict[str, Any] = {}
    raw = (table.schema.metadata or {}).get(b"huggingface")
    if raw:
        try:
            features = orjson.loads(raw).get("info", {}).get("features", {}) or {}
        except (orjson.JSONDecodeError, AttributeError):
            features = {}
    rows = table.to_pylist()
    for key in ("label", "labels"):
        spec = features.get(key) or {}
        spec = spec.get("feature", spec) if spec.get("_type") in ("List", "Sequence") else spec
        names = spec.get("names") if spec.get("_type") == "ClassLabel" else None
        if not names:
            continue
        for row in rows:
            value = row.get(key)
            if isinstance(value, int):
                row[key] = names[value] if 0 <= value < len(names) else None
            elif isinstance(value, list):
                row[key] = [names[v] for v in value if isinstance(v, int) and 0 <= v < len(names)]
    return list(enumerate(rows, start=2))


def import_hf(
    dataset: Dataset, source: str, options: Any, progress: Progress
) -> tuple[list[tuple[str, list[str], list[str]]], list[str], str, dict[str, str]]:
    """Read every ``metadata.parquet`` / ``metadata.jsonl`` under the folder ``source``; a
    ``file_name`` is the path relative to its metadata file's folder, as Hugging Face reads it."""
    store = open_store(source, options)
    found = sorted(
        rel
        for rel in store.list("", recursive=True)
        if posixpath.basename(rel) in ("metadata.parquet", "metadata.jsonl")
    )
    if not found:
        raise FormatError(store.url, "holds no metadata.parquet or metadata.jsonl")
    entries: list[tuple[str, list[str]]] = []
    problems: list[str] = []
    progress(0, len(found))
    for done, rel in enumerate(found, start=1):
        parsed = read_hf(dataset, store.url_of(rel), store.read(rel))
        folder = posixpath.dirname(rel)
        entries += [(posixpath.join(folder, ref), names) for ref, names in parsed.entries]
        problems += parsed.problems
        progress(done, len(found))
    check_names(entries, store.url)
    matcher = Matcher(dataset)
    resolved = []
    for ref, names in entries:
        image = matcher.match(ref) if names else None
        resolved.append((ref, names, [image] if image else []))
    return resolved, problems, store.url, {}


def read_hf(dataset: Dataset, source: str, data: bytes) -> Entries:
    """The entries of one metadata file (``metadata.parquet`` or ``metadata.jsonl``)."""
    out = Entries()
    parquet = data[:4] == b"PAR1"
    records = _read_parquet(source, data) if parquet else _read_jsonl(source, data)
    where = "row" if parquet else "line"
    for number, record in records:
        if not isinstance(record, dict) or not isinstance(record.get("file_name"), str):
            out.problems.append(f"{source} {where} {number}: no file_name; skipped")
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
                f"{source} {where} {number}: label {value!r} is not a name or a list of names; "
                "skipped (class numbers cannot be mapped to names)"
            )
            continue
        out.entries.append((record["file_name"], clean(names)))
    return out
