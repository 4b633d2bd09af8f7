"""The formats written to and read from a folder; the others are one file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import FormatError
from ._common import (
    Entries,
    ExportReport,
    ImportReport,
    Matcher,
    Progress,
    apply,
    check_names,
    read_file,
)
from .folders import export_imagefolder, export_txt, import_imagefolder, import_txt
from .hf import export_hf, read_hf
from .labelstudio import export_labelstudio, read_labelstudio
from .modelarts import export_manifest, read_manifest
from .table import export_csv, read_csv

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = [
    "FORMATS",
    "ExportReport",
    "FormatError",
    "ImportReport",
    "export_labels",
    "import_labels",
    "normalize_format",
]

FORMATS = ("manifest", "csv", "imagefolder", "txt", "labelstudio", "hf")

FOLDER_FORMATS = frozenset({"imagefolder", "txt"})

_ALIASES = {
    "modelarts": "manifest",
    "label-studio": "labelstudio",
    "label_studio": "labelstudio",
    "huggingface": "hf",
    "sidecar": "txt",
    "sidecars": "txt",
}


def normalize_format(name: str) -> str:
    """The canonical name of a format (``"Label-Studio"`` -> ``"labelstudio"``)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return key


_EXPORTERS: dict[str, Callable[[Dataset, str, Any, Progress], ExportReport]] = {
    "manifest": export_manifest,
    "csv": export_csv,
    "imagefolder": export_imagefolder,
    "txt": export_txt,
    "labelstudio": export_labelstudio,
    "hf": export_hf,
}


def export_labels(
    dataset: Dataset,
    format: str,
    to: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> ExportReport:
    """Write ``dataset``'s labels in ``format`` (one of :data:`FORMATS`) to ``to``.

    ``to`` is a file for ``manifest``, ``csv``, ``labelstudio`` and ``hf``, a folder for
    ``imagefolder`` and ``txt`` (see the module docstring for the layouts). Files already there
    with the same names are replaced; nothing else is touched. ``progress(done, total)`` is
    called as files are written.
    """
    fmt = normalize_format(format)
    return _EXPORTERS[fmt](dataset, str(to), storage_options, progress or (lambda d, t: None))


_FILE_READERS: dict[str, Callable[[Dataset, str, bytes], Entries]] = {
    "manifest": read_manifest,
    "csv": read_csv,
    "labelstudio": read_labelstudio,
    "hf": read_hf,
}


def import_labels(
    dataset: Dataset,
    format: str,
    source: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    image_key: str | None = None,
    choice_key: str | None = None,
) -> ImportReport:
    """Read labels in ``format`` (one of :data:`FORMATS`) from ``source`` into ``dataset``.

    ``source`` is a file for ``manifest``, ``csv``, ``labelstudio`` and ``hf``, a folder for
    ``imagefolder`` and ``txt``. Entries are matched to images by their path in the source
    folder (a full URL or absolute path inside it works too), else by a file name that only one
    image has, and for ``imagefolder`` else by identical content. Labels are only added, one
    :meth:`~jupyter_labeler.Dataset.add_label` action per label. Raises :class:`FormatError`
    (importing nothing) when the file is malformed or any label name breaks the naming rules.

    For ``labelstudio`` only: ``image_key`` names the task data field holding the image when
    several do, ``choice_key`` the field of a JSON_MIN or CSV export holding the labels when
    it has an unusual name.
    """
    fmt = normalize_format(format)
    report_progress = progress or (lambda d, t: None)
    source = str(source)
    if fmt in FOLDER_FORMATS:
        reader = import_txt if fmt == "txt" else import_imagefolder
        resolved, problems, where, ambiguous = reader(
            dataset, source, storage_options, report_progress
        )
        report = apply(dataset, resolved, ImportReport(fmt, where, problems=problems))
        if ambiguous:
            report.unmatched = [ref for ref in report.unmatched if ref not in ambiguous]
            report.ambiguous = list(ambiguous.values())
        return report
    data = read_file(source, storage_options)
    if fmt == "labelstudio":
        parsed = read_labelstudio(dataset, source, data, image_key=image_key, choice_key=choice_key)
    else:
        parsed = _FILE_READERS[fmt](dataset, source, data)
    check_names(parsed.entries, source)
    matcher = Matcher(dataset)
    resolved = []
    for ref, names in parsed.entries:
        found = matcher.match(ref) if names else None
        resolved.append((ref, names, [found] if found else []))
    report = ImportReport(fmt, source, problems=parsed.problems)
    return apply(dataset, resolved, report, parsed.kept)
