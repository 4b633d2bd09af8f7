"""Imports and exports of labels: ModelArts manifests, CSV, ImageFolder, ``.txt`` sidecars,
Label Studio tasks and Hugging Face ``imagefolder`` metadata.

:func:`export_labels` writes a dataset's labels in one of :data:`FORMATS`; :func:`import_labels`
reads them back into a dataset. ``to`` and ``source`` are local paths or URLs (``s3://``,
``obs://``, ``memory://``), opened with the same ``storage_options`` as the dataset.

The formats and their layouts (paths are relative to the dataset's source folder); every
normalization an import or export makes is listed in docs/formats.md:

``manifest`` (a file)
    The ModelArts manifest, JSON lines, exactly what the dataset keeps in ``dataset.manifest``:
    every field is preserved. Importing reads the labels of the lines whose ``source`` lies in
    the dataset's source folder, keeping each label's ``annotated-by`` and ``creation-time``.
``csv`` (a file)
    A header ``path,labels``, then one row per image; several labels are joined by ``;``
    (``batch2/img_0007.jpg,sunset;sea``); an unlabeled image has an empty ``labels``. Importing
    reads what Excel writes: UTF-8 with or without BOM, UTF-16 with BOM, GB18030/GBK; LF, CRLF
    or CR line ends; ``,``, ``;`` or tab between fields.
``imagefolder`` (a folder)
    One folder per label holding a copy of each image carrying it: ``<label>/<file name>``. An
    image with two labels is in both folders; unlabeled images are left out. A file name that
    several images share becomes ``<stem>-<first 8 characters of the id><suffix>``. Importing
    matches each file to the image with the same bytes; among identical images, to the one
    whose file name it bears; what stays ambiguous is listed in the report, not labeled.
``txt`` (a folder)
    A ``.txt`` file per labeled image, one label a line, at the image's path with ``.txt`` for
    its suffix (``batch2/img_0007.txt`` for ``batch2/img_0007.jpg``): how ModelArts reads labels
    placed beside images. Export into the source folder itself to put them beside the images.
``labelstudio`` (a file)
    Label Studio's JSON export: a list of tasks ``{"data": {"image": <URL>, "path": <path>},
    "annotations": [{"result": [{"type": "choices", "from_name": "choice", "to_name": "image",
    "value": {"choices": [<labels>]}}]}]}`` for the labeling configuration
    :func:`~jupyter_labeler.formats.labelstudio.label_config` gives
    (``<Choices name="choice" toName="image" choice="multiple">``). Importing reads Label
    Studio's JSON (also old exports with ``completions``), JSON_MIN and CSV exports: the
    choices of each task's newest annotation by ``created_at`` that was not cancelled.
``hf`` (a folder)
    A folder ``datasets.load_dataset("imagefolder", data_dir=...)`` loads with every label:
    ``metadata.parquet`` for each split and a dataset card ``README.md``
    (see :mod:`jupyter_labeler.formats.hf`). Export into the source folder itself, or
    elsewhere to get a copy of the images too. Importing reads every ``metadata.parquet`` or
    ``metadata.jsonl`` in a folder, or one such file.

Imports only ever add labels, through :meth:`Dataset.add_label` (one action per label, so each
is journaled and can be undone). Entries naming no image of the dataset are listed in the
report's ``unmatched``. Every label name is checked first: when any breaks the naming rules,
nothing is imported and a :class:`FormatError` lists them.

Example::

    from jupyter_labeler import Dataset
    from jupyter_labeler.formats import export_labels, import_labels

    ds = Dataset.open("flowers/")
    export_labels(ds, "csv", "labels.csv")
    report = import_labels(ds, "labelstudio", "export.json")
    report.unmatched  # entries naming no image of this dataset
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from ..errors import FormatError
from ._accepted import AcceptedOnly
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
from .hf import export_hf, import_hf, read_hf
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
"""The format names :func:`export_labels` and :func:`import_labels` understand."""

FOLDER_FORMATS = frozenset({"imagefolder", "txt", "hf"})
"""The formats written to a folder (``hf`` is also read from one metadata file)."""

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
    accepted_only: bool = False,
) -> ExportReport:
    """Write ``dataset``'s labels in ``format`` (one of :data:`FORMATS`) to ``to``.

    ``to`` is a file for ``manifest``, ``csv`` and ``labelstudio``, a folder for
    ``imagefolder``, ``txt`` and ``hf`` (see the module docstring for the layouts). Files already there
    with the same names are replaced; nothing else is touched. ``progress(done, total)`` is
    called as files are written. ``accepted_only=True`` exports only the images a reviewer
    accepted (see :meth:`Dataset.review <jupyter_labeler.Dataset.review>`).
    """
    fmt = normalize_format(format)
    source = cast("Dataset", AcceptedOnly(dataset)) if accepted_only else dataset
    return _EXPORTERS[fmt](source, str(to), storage_options, progress or (lambda d, t: None))


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

    ``source`` is a file for ``manifest``, ``csv`` and ``labelstudio``, a folder for
    ``imagefolder`` and ``txt``, a folder or one metadata file for ``hf``. Entries are matched
    to images by their path in the source folder (a full URL or absolute path inside it works
    too), else by the longest tail of their path that is an image's path, else by a file name
    that only one image has; ``imagefolder`` files by their bytes. Labels are only added, one
    :meth:`~jupyter_labeler.Dataset.add_label` action per label. Raises :class:`FormatError`
    (importing nothing) when the file is malformed or any label name breaks the naming rules.

    For ``labelstudio`` only: ``image_key`` names the task data field holding the image when
    several do, ``choice_key`` the field of a JSON_MIN or CSV export holding the labels when
    it has an unusual name.
    """
    fmt = normalize_format(format)
    report_progress = progress or (lambda d, t: None)
    source = str(source)
    one_file = fmt == "hf" and source.endswith((".jsonl", ".parquet"))
    if fmt in FOLDER_FORMATS and not one_file:
        reader = {"txt": import_txt, "imagefolder": import_imagefolder, "hf": import_hf}[fmt]
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
