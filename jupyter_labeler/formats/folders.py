"""Formats that are folders: ImageFolder (a folder per label) and ``.txt`` sidecars."""

from __future__ import annotations

import hashlib
import posixpath
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import FormatError
from ..scan import IMAGE_SUFFIXES, is_hidden
from ..storage import Store, open_store
from ._common import (
    BATCH,
    ExportReport,
    Matcher,
    Progress,
    check_names,
    clean,
    copy_images,
    decode_text,
    labels_by_image,
    write_all,
)

if TYPE_CHECKING:
    from ..dataset import Dataset


def export_txt(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    dest = open_store(to, options)
    files = {
        posixpath.splitext(path)[0] + ".txt": "".join(f"{name}\n" for name in labels[image_id])
        for image_id, path in images
        if image_id in labels and "://" not in path
    }
    report = ExportReport("txt", dest.url, len(labels), len(labels))
    write_all(dest, {k: v.encode("utf-8") for k, v in files.items()}, report, progress)
    return report


def export_imagefolder(dataset: Dataset, to: str, options: Any, progress: Progress) -> ExportReport:
    images, labels = labels_by_image(dataset)
    dest = open_store(to, options)
    report = ExportReport("imagefolder", dest.url, len(labels), len(labels))
    targets: dict[str, list[str]] = {}  # image id -> files to write
    taken: set[str] = set()
    # A file name that several images share gets the id prefix in every folder, so that an
    # import can tell which image each copy is even when their bytes are the same.
    shared = Counter(posixpath.basename(path) for _, path in images)
    # Once images are put in parts (Dataset.split), each part is a folder of its own:
    # train/<label>/, eval/<label>/, test/<label>/ (an image in no part goes to train/).
    usage = dataset.usages()
    parted = bool(usage.isin(["TRAIN", "EVAL", "TEST"]).any())
    for image_id, path in images:
        part = (str(usage[image_id]).lower() or "train") + "/" if parted else ""
        for name in labels.get(image_id, []):
            base = posixpath.basename(path)
            target = f"{part}{name}/{base}"
            if target in taken or shared[base] > 1:
                stem, suffix = posixpath.splitext(base)
                target = f"{part}{name}/{stem}-{image_id[:8]}{suffix}"
            taken.add(target)
            targets.setdefault(image_id, []).append(target)
    copy_images(dataset, dest, targets, report, progress)
    return report


def import_txt(
    dataset: Dataset, source: str, options: Any, progress: Progress
) -> tuple[list[tuple[str, list[str], list[str]]], list[str], str, dict[str, str]]:
    store = open_store(source, options)
    texts = sorted(
        rel
        for rel in store.list("", recursive=True)
        if rel.lower().endswith(".txt") and not is_hidden(rel)
    )
    problems: list[str] = []
    entries: list[tuple[str, list[str]]] = []
    progress(0, len(texts))
    for start in range(0, len(texts), BATCH):
        chunk = texts[start : start + BATCH]
        for rel, data in store.read_many(chunk).items():
            if isinstance(data, Exception):
                problems.append(f"{rel}: cannot be read ({data})")
            else:
                try:
                    entries.append((rel, clean(decode_text(data, rel).splitlines())))
                except FormatError as exc:
                    problems.append(f"{exc}; skipped")
        progress(min(start + BATCH, len(texts)), len(texts))
    check_names(entries, store.url)
    matcher = Matcher(dataset)
    resolved = [(rel, names, matcher.match_stem(rel[: -len(".txt")])) for rel, names in entries]
    return resolved, problems, store.url, {}


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# Folders that hold the parts of a split (as the export writes them, and as torchvision users
# lay out train/ and val/), above the label folders.
_PART_FOLDERS = {"train", "eval", "test", "val", "valid", "validation", "inference"}


def import_imagefolder(
    dataset: Dataset, source: str, options: Any, progress: Progress
) -> tuple[list[tuple[str, list[str], list[str]]], list[str], str, dict[str, str]]:
    """Match every file of an ImageFolder to the image with the same bytes.

    An ImageFolder holds copies, so a file name proves nothing (``roses/img_002.jpg`` may be
    a copy of ``batch2/img_002.jpg`` while ``img_002.jpg`` exists too): content decides. When
    several images have those bytes, the one whose file name the copy bears (or bears with
    ``-<id prefix>``, as :func:`export_labels` names clashes) is taken; else the file is listed
    as ambiguous and gives no label. A file whose bytes match no image is unmatched.
    Returns (resolved entries, problems, where, ambiguous).
    """
    store = open_store(source, options)
    files = {
        rel: size
        for rel, size in store.list("", recursive=True).items()
        if rel.lower().endswith(IMAGE_SUFFIXES) and not is_hidden(rel)
    }
    # train/<label>/x.jpg, eval/<label>/x.jpg...: the label is the folder under the part's.
    parted = bool(files) and all(
        rel.count("/") >= 2 and rel.split("/", 1)[0].lower() in _PART_FOLDERS for rel in files
    )
    depth = 2 if parted else 1
    problems = [
        f"{rel}: not inside a label folder; skipped" for rel in files if rel.count("/") < depth
    ]
    entries = sorted(
        (rel, [rel.split("/")[depth - 1].strip()]) for rel in files if rel.count("/") >= depth
    )
    check_names(entries, store.url)
    rels = [rel for rel, _ in entries]
    same_bytes = _match_by_content(dataset, store, rels, files, progress, problems)
    paths = dataset.paths().to_dict()
    resolved = []
    ambiguous: dict[str, str] = {}
    for rel, names in entries:
        ids = same_bytes.get(rel, [])
        if len(ids) > 1:
            named = [i for i in ids if _bears_name(rel, paths[i], i)]
            if len(named) == 1:
                ids = named
            else:
                shown = ", ".join(sorted(paths[i] for i in ids)[:3])
                more = f" and {len(ids) - 3} more" if len(ids) > 3 else ""
                ambiguous[rel] = (
                    f"{rel}: the same bytes as {len(ids)} images ({shown}{more}); not labeled"
                )
                ids = []
        resolved.append((rel, names, ids))
    return resolved, problems, store.url, ambiguous


def _bears_name(rel: str, path: str, image_id: str) -> bool:
    """Whether the copy ``rel`` is named after the image at ``path`` (as exports name them)."""
    name = posixpath.basename(rel)
    base = posixpath.basename(path)
    stem, suffix = posixpath.splitext(base)
    return name in (base, f"{stem}-{image_id[:8]}{suffix}")


def _match_by_content(
    dataset: Dataset,
    store: Store,
    rels: list[str],
    sizes: Mapping[str, int],
    progress: Progress,
    problems: list[str],
) -> dict[str, list[str]]:
    """The images with the same bytes as each file; only images of a size among them are read."""
    wanted = {sizes[r] for r in rels}
    table = dataset.images
    candidates = table.index[table["size"].isin(wanted) | (table["size"] == 0)].tolist()
    total = len(rels) + len(candidates)
    done = 0
    progress(done, total)
    digests: dict[str, list[str]] = {}
    for start in range(0, len(candidates), BATCH):
        chunk = candidates[start : start + BATCH]
        for image_id, data in dataset.read_images(chunk).items():
            if isinstance(data, bytes):
                digests.setdefault(_digest(data), []).append(image_id)
        done += len(chunk)
        progress(done, total)
    out: dict[str, list[str]] = {}
    for start in range(0, len(rels), BATCH):
        chunk = rels[start : start + BATCH]
        for rel, data in store.read_many(chunk).items():
            if isinstance(data, bytes):
                out[rel] = digests.get(_digest(data), [])
            else:
                problems.append(f"{rel}: cannot be read ({data}); skipped")
        done += len(chunk)
        progress(done, total)
    return out
