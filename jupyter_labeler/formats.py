"""Imports and exports of labels: ModelArts manifests, CSV, ImageFolder, ``.txt`` sidecars,
Label Studio tasks and Hugging Face ``metadata.jsonl``.

:func:`export_labels` writes a dataset's labels in one of :data:`FORMATS`; :func:`import_labels`
reads them back into a dataset. ``to`` and ``source`` are local paths or URLs (``s3://``,
``obs://``, ``memory://``), opened with the same ``storage_options`` as the dataset.

The formats and their layouts (paths are relative to the dataset's source folder):

``manifest`` (a file)
    The ModelArts manifest, JSON lines, exactly what the dataset keeps in ``dataset.manifest``:
    every field is preserved. Importing reads the labels of the lines whose ``source`` lies in
    the dataset's source folder.
``csv`` (a file)
    A header ``path,labels``, then one row per image; several labels are joined by ``;``
    (``batch2/img_0007.jpg,sunset;sea``); an unlabeled image has an empty ``labels``.
``imagefolder`` (a folder)
    One folder per label holding a copy of each image carrying it: ``<label>/<file name>``. An
    image with two labels is in both folders; unlabeled images are left out. Two images of one
    label with the same file name become ``<stem>-<first 8 characters of the id><suffix>``.
    Importing matches each file to an image by file name, or else by content.
``txt`` (a folder)
    A ``.txt`` file per labeled image, one label a line, at the image's path with ``.txt`` for
    its suffix (``batch2/img_0007.txt`` for ``batch2/img_0007.jpg``): how ModelArts reads labels
    placed beside images. Export into the source folder itself to put them beside the images.
``labelstudio`` (a file)
    Label Studio's JSON export: a list of tasks ``{"data": {"image": <URL>, "path": <path>},
    "annotations": [{"result": [{"type": "choices", "from_name": "choice", "to_name": "image",
    "value": {"choices": [<labels>]}}]}]}`` for the labeling configuration
    ``<Choices name="choice" toName="image" choice="multiple">``. Importing reads the choices of
    each task's last annotation that was not cancelled.
``hf`` (a file)
    A Hugging Face ``imagefolder`` ``metadata.jsonl``: one line per image with ``file_name``
    (its path) and ``label`` (a name, or null when unlabeled) or, as soon as one image has
    several labels, ``labels`` (a list) on every line. Put it at the top of the source folder for
    ``datasets.load_dataset("imagefolder", data_dir=...)``.

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

import csv
import hashlib
import io
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .errors import FormatError, StoreError
from .manifest import parse_manifest
from .names import label_problem
from .paths import target_problem
from .scan import IMAGE_SUFFIXES, is_hidden
from .storage import Store, open_store

if TYPE_CHECKING:
    from .dataset import Dataset

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

FOLDER_FORMATS = frozenset({"imagefolder", "txt"})
"""The formats written to and read from a folder; the others are one file."""

_ALIASES = {
    "modelarts": "manifest",
    "label-studio": "labelstudio",
    "label_studio": "labelstudio",
    "huggingface": "hf",
    "sidecar": "txt",
    "sidecars": "txt",
}

Progress = Callable[[int, int], None]
# Images read at once when copying bytes: enough for concurrency, little memory.
_BATCH = 64
# The prefix Label Studio gives uploaded files: "3f2a1b4c-img_0001.jpg".
_LS_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


@dataclass
class ExportReport:
    """What :func:`export_labels` wrote: ``images`` listed, ``files`` written, to ``to``."""

    format: str
    to: str
    images: int = 0
    labeled: int = 0
    files: int = 0
    skipped: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"Exported {self.images} image{'s' if self.images != 1 else ''} "
            f"({self.labeled} labeled) as {self.format} to {self.to}"
        )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


@dataclass
class ImportReport:
    """What :func:`import_labels` did.

    ``entries``: entries read that carry labels; ``matched``: how many of them name an image of
    the dataset; ``added``: label -> images that newly got it; ``unmatched``: the entries naming
    no image; ``problems``: lines or files skipped, with the reason; ``saved``: False when some
    action still waits for the store.
    """

    format: str
    source: str
    entries: int = 0
    matched: int = 0
    added: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    saved: bool = True

    def __str__(self) -> str:
        given = sum(self.added.values())
        text = (
            f"Imported {self.format} from {self.source}: {self.matched} of {self.entries} "
            f"entries matched; {given} label{'s' if given != 1 else ''} given "
            f"({len(self.added)} label name{'s' if len(self.added) != 1 else ''})"
        )
        if self.unmatched:
            shown = ", ".join(self.unmatched[:5])
            more = f" and {len(self.unmatched) - 5} more" if len(self.unmatched) > 5 else ""
            text += f"; {len(self.unmatched)} unmatched: {shown}{more}"
        if self.problems:
            text += f"; {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return text


def normalize_format(name: str) -> str:
    """The canonical name of a format (``"Label-Studio"`` -> ``"labelstudio"``)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValueError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return key


# -- locations ------------------------------------------------------------------------------------
def _split_file(url: str) -> tuple[str, str]:
    text = str(url)
    scheme, sep, rest = text.partition("://")
    head, _, name = (rest if sep else text).rstrip("/").rpartition("/")
    if not name:
        raise ValueError(f"{text!r} names no file")
    if sep:
        return f"{scheme}://{head}", name
    return head or ("/" if text.startswith("/") else "."), name


def _file_store(url: str, options: Mapping[str, Any] | None) -> tuple[Store, str]:
    folder, name = _split_file(url)
    return open_store(folder, options), name


def _read_file(url: str, options: Mapping[str, Any] | None) -> bytes:
    store, name = _file_store(url, options)
    return store.read(name)


def _write_file(url: str, data: bytes, options: Mapping[str, Any] | None) -> str:
    store, name = _file_store(url, options)
    store.write(name, data)
    return store.url_of(name)


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig")


# -- the dataset's labels, per image ----------------------------------------------------------
def _labels_by_image(dataset: Dataset) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """(image id, path) of every image in order, and the labels of the labeled ones."""
    paths = dataset.paths()
    annotations = dataset.annotations()
    labels: dict[str, list[str]] = {}
    for image_id, name in zip(
        annotations["image_id"].tolist(), annotations["label"].tolist(), strict=True
    ):
        labels.setdefault(image_id, []).append(name)
    return list(zip(paths.index.tolist(), paths.tolist(), strict=True)), labels


def _url_of(dataset: Dataset, path: str) -> str:
    return path if "://" in path else dataset.source_url.rstrip("/") + "/" + path


# -- exports --------------------------------------------------------------------------------------
def _export_manifest(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    data = dataset.manifest_bytes()
    written = _write_file(to, data, options)
    images, labels = _labels_by_image(dataset)
    return ExportReport("manifest", written, len(images), len(labels), 1)


def _export_csv(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = _labels_by_image(dataset)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path", "labels"])
    for image_id, path in images:
        writer.writerow([path, ";".join(labels.get(image_id, []))])
    written = _write_file(to, out.getvalue().encode("utf-8"), options)
    return ExportReport("csv", written, len(images), len(labels), 1)


def _export_labelstudio(
    dataset: Dataset, to: str, options: Any, progress: Progress
) -> ExportReport:
    images, labels = _labels_by_image(dataset)
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
                "data": {"image": _url_of(dataset, path), "path": path, "image_id": image_id},
                "annotations": [{"result": result}] if result else [],
            }
        )
    written = _write_file(to, orjson.dumps(tasks, option=orjson.OPT_INDENT_2), options)
    return ExportReport("labelstudio", written, len(images), len(labels), 1)


def _export_hf(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = _labels_by_image(dataset)
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
    written = _write_file(to, b"".join(lines), options)
    return ExportReport("hf", written, len(images), len(labels), 1)


def _export_txt(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = _labels_by_image(dataset)
    dest = open_store(to, options)
    files = {
        posixpath.splitext(path)[0] + ".txt": "".join(f"{name}\n" for name in labels[image_id])
        for image_id, path in images
        if image_id in labels and "://" not in path
    }
    report = ExportReport("txt", dest.url, len(labels), len(labels))
    _write_all(dest, {k: v.encode("utf-8") for k, v in files.items()}, report, progress)
    return report


def _writable(dest: Store, target: str, report: ExportReport) -> bool:
    """Whether ``target`` may be written inside ``dest``; if not, it is listed as skipped."""
    problem = target_problem(target, local=dest.scheme == "file")
    if problem is not None:
        report.skipped.append(f"{target[:200]}: not written ({problem})")
    return problem is None


def _write_batch(dest: Store, items: list[tuple[str, bytes]], report: ExportReport) -> None:
    """Write files concurrently; one that fails is listed as skipped, the others go on."""

    def one(item: tuple[str, bytes]) -> str | None:
        try:
            dest.write(item[0], item[1], durable=False)
        except StoreError as exc:
            return f"{item[0][:200]}: could not be written ({exc})"
        return None

    with ThreadPoolExecutor(8) as pool:
        for failure in pool.map(one, items):
            if failure is None:
                report.files += 1
            else:
                report.skipped.append(failure)


def _write_all(
    dest: Store, files: Mapping[str, bytes], report: ExportReport, progress: Progress
) -> None:
    items = [(k, v) for k, v in files.items() if _writable(dest, k, report)]
    total = len(items)
    progress(0, total)
    for start in range(0, total, _BATCH):
        _write_batch(dest, items[start : start + _BATCH], report)
        progress(report.files, total)


def _export_imagefolder(
    dataset: Dataset, to: str, options: Any, progress: Progress
) -> ExportReport:
    images, labels = _labels_by_image(dataset)
    dest = open_store(to, options)
    report = ExportReport("imagefolder", dest.url, len(labels), len(labels))
    targets: dict[str, list[str]] = {}  # image id -> files to write
    taken: set[str] = set()
    for image_id, path in images:
        for name in labels.get(image_id, []):
            base = posixpath.basename(path)
            target = f"{name}/{base}"
            if target in taken:
                stem, suffix = posixpath.splitext(base)
                target = f"{name}/{stem}-{image_id[:8]}{suffix}"
            if not _writable(dest, target, report):
                continue
            taken.add(target)
            targets.setdefault(image_id, []).append(target)
    ids = list(targets)
    total = sum(len(v) for v in targets.values())
    progress(0, total)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        got = dataset.read_images(chunk)
        writes: list[tuple[str, bytes]] = []
        for image_id in chunk:
            data = got[image_id]
            if isinstance(data, Exception):
                report.skipped.append(f"{image_id}: cannot be read ({data})")
                continue
            writes += [(target, data) for target in targets[image_id]]
        _write_batch(dest, writes, report)
        progress(report.files, total)
    return report


_EXPORTERS: dict[str, Callable[[Dataset, str, Any, Progress], ExportReport]] = {
    "manifest": _export_manifest,
    "csv": _export_csv,
    "imagefolder": _export_imagefolder,
    "txt": _export_txt,
    "labelstudio": _export_labelstudio,
    "hf": _export_hf,
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


# -- imports --------------------------------------------------------------------------------------
class _Matcher:
    """Finds the image an entry names: by path in the source folder, else by unique file name."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        paths = dataset.paths()
        self.by_path: dict[str, str] = dict(zip(paths.tolist(), paths.index.tolist(), strict=True))
        self.by_name: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}
        # file name without suffix -> the paths without suffix that end in it
        self.stems_of_name: dict[str, set[str]] = {}
        for path, image_id in self.by_path.items():
            stem = posixpath.splitext(path)[0]
            self.by_name.setdefault(posixpath.basename(path), []).append(image_id)
            self.by_stem.setdefault(stem, []).append(image_id)
            self.stems_of_name.setdefault(posixpath.basename(stem), set()).add(stem)

    def _key(self, ref: str) -> str:
        ref = ref.strip().replace("\\", "/")
        if "://" in ref or ref.startswith("/"):
            ref = self.dataset.relative_path(ref)
        while ref.startswith("./"):
            ref = ref[2:]
        return ref

    def match(self, ref: str) -> str | None:
        key = self._key(ref)
        found = self.by_path.get(key)
        if found is not None:
            return found
        name = posixpath.basename(key.split("?", 1)[0])
        candidates = self.by_name.get(name)
        if candidates is None and _LS_UPLOAD_PREFIX.match(name):
            candidates = self.by_name.get(name[9:])
        return candidates[0] if candidates and len(candidates) == 1 else None

    def match_stem(self, ref: str) -> list[str]:
        """Images whose path without suffix is ``ref`` (a ``.txt`` file's path without suffix)."""
        key = self._key(ref)
        found = self.by_stem.get(key)
        if found:
            return found
        stems = self.stems_of_name.get(posixpath.basename(key), set())
        return self.by_stem[next(iter(stems))] if len(stems) == 1 else []


@dataclass
class _Entries:
    """What a file to import says: (reference to an image, its labels), in file order."""

    entries: list[tuple[str, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _check_names(entries: Iterable[tuple[str, list[str]]], where: str) -> None:
    bad: dict[str, str] = {}
    for _, names in entries:
        for name in names:
            if name not in bad:
                problem = label_problem(name)
                if problem is not None:
                    bad[name] = problem
    if bad:
        listed = "; ".join(f"{name!r} ({why})" for name, why in list(bad.items())[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise FormatError(
            where,
            f"{len(bad)} label name{'s' if len(bad) != 1 else ''} break the naming rules "
            f"(1 to 32 Chinese characters, letters, digits, '-' or '_'): {listed}{more}; "
            "nothing was imported",
        )


def _apply(
    dataset: Dataset,
    resolved: list[tuple[str, list[str], list[str]]],
    report: ImportReport,
) -> ImportReport:
    """Give the labels: ``resolved`` holds (reference, labels, image ids matched) per entry."""
    by_label: dict[str, dict[str, None]] = {}
    for ref, names, ids in resolved:
        if not names:
            continue
        report.entries += 1
        if not ids:
            report.unmatched.append(ref)
            continue
        report.matched += 1
        for name in names:
            bucket = by_label.setdefault(name, {})
            bucket.update(dict.fromkeys(ids))
    for name, chosen in by_label.items():
        result = dataset.add_label(name, list(chosen))
        report.added[name] = result.changed
        report.saved = report.saved and result.saved
    return report


def _clean(names: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for name in names:
        text = name.strip() if isinstance(name, str) else str(name)
        if text and text not in out:
            out.append(text)
    return out


def _read_manifest(dataset: Dataset, source: str, data: bytes) -> _Entries:
    parsed = parse_manifest(data, where=source, relative=dataset.relative_path, check=False)
    labels: dict[int, list[str]] = {}
    for row, name, _by, _at, _extra in parsed.labels:
        labels.setdefault(row, []).append(name)
    problems = [p for p in parsed.problems if "breaks the naming rules" not in p]
    entries = [(path, _clean(labels.get(row, []))) for row, path in enumerate(parsed.rows.paths)]
    return _Entries(entries, problems)


def _read_csv(dataset: Dataset, source: str, data: bytes) -> _Entries:
    reader = csv.DictReader(io.StringIO(_text(data)))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "path" not in fields or not ({"labels", "label"} & set(fields)):
        raise FormatError(source, "a CSV to import needs the columns path and labels")
    reader.fieldnames = fields
    column = "labels" if "labels" in fields else "label"
    out = _Entries()
    for number, row in enumerate(reader, start=2):
        path = (row.get("path") or "").strip()
        if not path:
            out.problems.append(f"{source} line {number}: no path; skipped")
            continue
        out.entries.append((path, _clean((row.get(column) or "").split(";"))))
    return out


def _read_jsonl(source: str, data: bytes) -> list[tuple[int, Any]]:
    records = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            try:
                records.append((number, orjson.loads(raw)))
            except orjson.JSONDecodeError as exc:
                raise FormatError(f"{source} line {number}", f"not valid JSON ({exc})") from exc
    return records


def _read_hf(dataset: Dataset, source: str, data: bytes) -> _Entries:
    out = _Entries()
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
        out.entries.append((record["file_name"], _clean(names)))
    return out


def _read_labelstudio(dataset: Dataset, source: str, data: bytes) -> _Entries:
    try:
        tasks = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FormatError(source, f"not valid JSON ({exc})") from exc
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise FormatError(source, "a Label Studio export is a JSON list of tasks")
    out = _Entries()
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
        out.entries.append((ref, _clean(names)))
    return out


_FILE_READERS: dict[str, Callable[[Dataset, str, bytes], _Entries]] = {
    "manifest": _read_manifest,
    "csv": _read_csv,
    "labelstudio": _read_labelstudio,
    "hf": _read_hf,
}


def _import_txt(
    dataset: Dataset, source: str, options: Any, progress: Progress
) -> tuple[list[tuple[str, list[str], list[str]]], list[str], str]:
    store = open_store(source, options)
    texts = sorted(
        rel
        for rel in store.list("", recursive=True)
        if rel.lower().endswith(".txt") and not is_hidden(rel)
    )
    problems: list[str] = []
    entries: list[tuple[str, list[str]]] = []
    progress(0, len(texts))
    for start in range(0, len(texts), _BATCH):
        chunk = texts[start : start + _BATCH]
        for rel, data in store.read_many(chunk).items():
            if isinstance(data, Exception):
                problems.append(f"{rel}: cannot be read ({data})")
            else:
                entries.append((rel, _clean(_text(data).splitlines())))
        progress(min(start + _BATCH, len(texts)), len(texts))
    _check_names(entries, store.url)
    matcher = _Matcher(dataset)
    resolved = [(rel, names, matcher.match_stem(rel[: -len(".txt")])) for rel, names in entries]
    return resolved, problems, store.url


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _import_imagefolder(
    dataset: Dataset, source: str, options: Any, progress: Progress
) -> tuple[list[tuple[str, list[str], list[str]]], list[str], str]:
    store = open_store(source, options)
    files = {
        rel: size
        for rel, size in store.list("", recursive=True).items()
        if rel.lower().endswith(IMAGE_SUFFIXES) and not is_hidden(rel)
    }
    problems = [f"{rel}: not inside a label folder; skipped" for rel in files if "/" not in rel]
    entries = sorted((rel, [rel.split("/", 1)[0].strip()]) for rel in files if "/" in rel)
    _check_names(entries, store.url)
    matcher = _Matcher(dataset)
    matched = {rel: matcher.match(posixpath.basename(rel)) for rel, _ in entries}
    missing = [rel for rel, found in matched.items() if found is None]
    if missing:
        matched.update(_match_by_content(dataset, store, missing, files, progress))
    resolved = []
    for rel, names in entries:
        found = matched[rel]
        resolved.append((rel, names, [found] if found else []))
    return resolved, problems, store.url


def _match_by_content(
    dataset: Dataset, store: Store, rels: list[str], sizes: Mapping[str, int], progress: Progress
) -> dict[str, str | None]:
    """Match files to images of the same bytes; only images of a size among them are read."""
    wanted = {sizes[r] for r in rels}
    table = dataset.images
    candidates = table.index[table["size"].isin(wanted) | (table["size"] == 0)].tolist()
    total = len(rels) + len(candidates)
    done = 0
    progress(done, total)
    digests: dict[str, str | None] = {}
    for start in range(0, len(candidates), _BATCH):
        chunk = candidates[start : start + _BATCH]
        for image_id, data in dataset.read_images(chunk).items():
            if isinstance(data, bytes):
                key = _digest(data)
                # Two images with the same bytes: which one a file is cannot be told.
                digests[key] = None if key in digests else image_id
        done += len(chunk)
        progress(done, total)
    out: dict[str, str | None] = {}
    for start in range(0, len(rels), _BATCH):
        chunk = rels[start : start + _BATCH]
        for rel, data in store.read_many(chunk).items():
            out[rel] = digests.get(_digest(data)) if isinstance(data, bytes) else None
        done += len(chunk)
        progress(done, total)
    return out


def import_labels(
    dataset: Dataset,
    format: str,
    source: str,
    *,
    storage_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Read labels in ``format`` (one of :data:`FORMATS`) from ``source`` into ``dataset``.

    ``source`` is a file for ``manifest``, ``csv``, ``labelstudio`` and ``hf``, a folder for
    ``imagefolder`` and ``txt``. Entries are matched to images by their path in the source
    folder (a full URL or absolute path inside it works too), else by a file name that only one
    image has, and for ``imagefolder`` else by identical content. Labels are only added, one
    :meth:`~jupyter_labeler.Dataset.add_label` action per label. Raises :class:`FormatError`
    (importing nothing) when the file is malformed or any label name breaks the naming rules.
    """
    fmt = normalize_format(format)
    report_progress = progress or (lambda d, t: None)
    source = str(source)
    if fmt in FOLDER_FORMATS:
        reader = _import_txt if fmt == "txt" else _import_imagefolder
        resolved, problems, where = reader(dataset, source, storage_options, report_progress)
        report = ImportReport(fmt, where, problems=problems)
        return _apply(dataset, resolved, report)
    data = _read_file(source, storage_options)
    parsed = _FILE_READERS[fmt](dataset, source, data)
    _check_names(parsed.entries, source)
    matcher = _Matcher(dataset)
    resolved = []
    for ref, names in parsed.entries:
        found = matcher.match(ref) if names else None
        resolved.append((ref, names, [found] if found else []))
    return _apply(dataset, resolved, ImportReport(fmt, source, problems=parsed.problems))
