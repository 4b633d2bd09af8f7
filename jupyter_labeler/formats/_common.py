"""What every format shares: reports, reading and writing files, matching entries to images."""

from __future__ import annotations

import codecs
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import FormatError, StoreError
from ..names import label_problem
from ..paths import target_problem
from ..storage import Store, open_store

if TYPE_CHECKING:
    from ..dataset import Dataset

Progress = Callable[[int, int], None]

BATCH = 64

LS_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-")


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
    no image; ``ambiguous``: the entries that could be any of several images, each with those
    images, and given no label; ``problems``: lines or files skipped, with the reason;
    ``saved``: False when some action still waits for the store.
    """

    format: str
    source: str
    entries: int = 0
    matched: int = 0
    added: dict[str, int] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
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
        if self.ambiguous:
            text += f"; {len(self.ambiguous)} ambiguous (the same bytes as several images)"
        if self.problems:
            text += f"; {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        return text


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


def read_file(url: str, options: Mapping[str, Any] | None) -> bytes:
    store, name = _file_store(url, options)
    return store.read(name)


def write_file(url: str, data: bytes, options: Mapping[str, Any] | None) -> str:
    store, name = _file_store(url, options)
    store.write(name, data)
    return store.url_of(name)


def decode_text(data: bytes, where: str) -> str:
    """The text of a CSV or ``.txt`` file, as Excel and editors save them.

    UTF-8 with or without a byte-order mark; UTF-16 by its byte-order mark (Excel's "Unicode
    text"); else GB18030, a superset of the GBK that Excel writes on Chinese Windows. Anything
    else raises :class:`FormatError`.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "gb18030"
        else:
            encoding = "utf-8"
            if "\x00" not in decoded:
                return decoded
    try:
        decoded = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FormatError(
            where,
            f"cannot be read as {encoding.upper()} text at byte {exc.start}; "
            "save it as UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK",
        ) from exc
    if "\x00" in decoded:
        raise FormatError(
            where,
            "holds NUL characters (UTF-16 or UTF-32 without a byte-order mark?); "
            "save it as UTF-8 (with or without BOM), UTF-16 with BOM, or GB18030/GBK",
        )
    return decoded


def labels_by_image(dataset: Dataset) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """(image id, path) of every image in order, and the labels of the labeled ones."""
    paths = dataset.paths()
    annotations = dataset.annotations()
    labels: dict[str, list[str]] = {}
    for image_id, name in zip(
        annotations["image_id"].tolist(), annotations["label"].tolist(), strict=True
    ):
        labels.setdefault(image_id, []).append(name)
    return list(zip(paths.index.tolist(), paths.tolist(), strict=True)), labels


def url_of(dataset: Dataset, path: str) -> str:
    return path if "://" in path else dataset.source_url.rstrip("/") + "/" + path


def writable(dest: Store, target: str, report: ExportReport) -> bool:
    """Whether ``target`` may be written inside ``dest``; if not, it is listed as skipped.

    Every file an export writes passes here: in normal form (no ``..``, not absolute, so it
    stays inside the destination) and, on a local disk, no part longer than 255 bytes.
    """
    problem = target_problem(target, local=dest.scheme == "file")
    if problem is not None:
        report.skipped.append(f"{target[:200]}: not written ({problem})")
    return problem is None


def write_batch(dest: Store, items: list[tuple[str, bytes]], report: ExportReport) -> None:
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


def write_all(
    dest: Store, files: Mapping[str, bytes], report: ExportReport, progress: Progress
) -> None:
    items = [(k, v) for k, v in files.items() if writable(dest, k, report)]
    total = len(items)
    progress(0, total)
    for start in range(0, total, BATCH):
        write_batch(dest, items[start : start + BATCH], report)
        progress(report.files, total)


def copy_images(
    dataset: Dataset,
    dest: Store,
    targets: Mapping[str, list[str]],
    report: ExportReport,
    progress: Progress,
) -> None:
    """Write each image's bytes to its ``targets`` (image id -> paths in ``dest``).

    Targets that may not be written (see :func:`writable`) are skipped and listed.
    """
    checked = {i: [t for t in ts if writable(dest, t, report)] for i, ts in targets.items()}
    ids = [i for i, ts in checked.items() if ts]
    total = sum(len(v) for v in checked.values())
    progress(0, total)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        got = dataset.read_images(chunk)
        writes: list[tuple[str, bytes]] = []
        for image_id in chunk:
            data = got[image_id]
            if isinstance(data, Exception):
                report.skipped.append(f"{image_id}: cannot be read ({data})")
                continue
            writes += [(target, data) for target in checked[image_id]]
        write_batch(dest, writes, report)
        progress(report.files, total)


class Matcher:
    """Finds the image an entry names: by path in the source folder, else by the longest tail
    of the path that is an image's path, else by a file name only one image has."""

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
        # A path under another root (Label Studio's document root, a copy elsewhere): the
        # longest tail of two folders or more that is an image's path.
        parts = key.split("?", 1)[0].split("/")
        for start in range(1, len(parts) - 1):
            found = self.by_path.get("/".join(parts[start:]))
            if found is not None:
                return found
        name = posixpath.basename(key.split("?", 1)[0])
        candidates = self.by_name.get(name)
        if candidates is None and LS_UPLOAD_PREFIX.match(name):
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
class Entries:
    """What a file to import says: (reference to an image, its labels), in file order.

    ``kept``: for the entries whose labels carry their author and time (a manifest's), entry
    index -> label -> (annotated-by, creation-time), given to the images as they are.
    """

    entries: list[tuple[str, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept: dict[int, dict[str, tuple[str, str]]] = field(default_factory=dict)


def check_names(entries: Iterable[tuple[str, list[str]]], where: str) -> None:
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


def apply(
    dataset: Dataset,
    resolved: list[tuple[str, list[str], list[str]]],
    report: ImportReport,
    kept: Mapping[int, Mapping[str, tuple[str, str]]] | None = None,
) -> ImportReport:
    """Give the labels: ``resolved`` holds (reference, labels, image ids matched) per entry;
    ``kept`` the authors and times to keep, as in :class:`Entries`."""
    by_label: dict[str, dict[str, tuple[str, str] | None]] = {}
    for index, (ref, names, ids) in enumerate(resolved):
        if not names:
            continue
        report.entries += 1
        if not ids:
            report.unmatched.append(ref)
            continue
        report.matched += 1
        given = kept.get(index, {}) if kept else {}
        for name in names:
            bucket = by_label.setdefault(name, {})
            for image_id in ids:
                bucket.setdefault(image_id, given.get(name))
    for name, chosen in by_label.items():
        ids = list(chosen)
        if kept:
            # Images without a kept author get this dataset's author and the time now.
            own = {i for i, meta in chosen.items() if meta is None}
            if own:
                report.added[name] = report.added.get(name, 0)
                result = dataset.add_label(name, [i for i in ids if i in own])
                report.added[name] += result.changed
                report.saved = report.saved and result.saved
                ids = [i for i in ids if i not in own]
            if not ids:
                continue
            metas = [chosen[i] or ("", "") for i in ids]
            result = dataset.add_label(
                name,
                ids,
                annotated_by=[m[0] for m in metas],
                created_at=[m[1] for m in metas],
            )
        else:
            result = dataset.add_label(name, ids)
        report.added[name] = report.added.get(name, 0) + result.changed
        report.saved = report.saved and result.saved
    return report


def clean(names: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for name in names:
        text = name.strip() if isinstance(name, str) else str(name)
        if text and text not in out:
            out.append(text)
    return out
