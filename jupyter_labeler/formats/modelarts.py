"""ModelArts manifests: the dataset's own manifest out, the labels of a foreign one in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..manifest import parse_manifest
from ._common import (
    Entries,
    ExportReport,
    Progress,
    clean,
    labels_by_image,
    write_file,
)

if TYPE_CHECKING:
    from ..dataset import Dataset


def export_manifest(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    data = dataset.manifest_bytes()
    written = write_file(to, data, options)
    images, labels = labels_by_image(dataset)
    return ExportReport("manifest", written, len(images), len(labels), 1)


def read_manifest(dataset: Dataset, source: str, data: bytes) -> Entries:
    """The labels of a foreign manifest, with their own ``annotated-by`` and ``creation-time``."""
    parsed = parse_manifest(data, where=source, relative=dataset.relative_path, check=False)
    labels: dict[int, list[str]] = {}
    kept: dict[int, dict[str, tuple[str, str]]] = {}
    for row, name, by, at, _extra in parsed.labels:
        labels.setdefault(row, []).append(name)
        kept.setdefault(row, {}).setdefault(name.strip(), (by, at))
    problems = [p for p in parsed.problems if "breaks the naming rules" not in p]
    entries = [(path, clean(labels.get(row, []))) for row, path in enumerate(parsed.rows.paths)]
    return Entries(entries, problems, kept)
