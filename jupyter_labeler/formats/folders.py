"""Formats that are folders: ImageFolder (a folder per label) and ``.txt`` sidecars."""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
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
    for image_id, path in images:
        for name in labels.get(image_id, []):
            base = posixpath.basename(path)
            target = f"{name}/{base}"
            if target in taken:
                stem, suffix = posixpath.splitext(base)
                target = f"{name}/{stem}-{image_id[:8]}{suffix}"
            taken.add(target)
            targets.setdefault(image_id, []).append(target)
    ids = list(targets)
    total = sum(len(v) for v in targets.values())
    progress(0, total)
    with ThreadPoolExecutor(8) as pool:
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            got = dataset.read_images(chunk)
            writes: list[tuple[str, bytes]] = []
            for image_id in chunk:
                data = got[image_id]
                if isinstance(data, Exception):
                    report.skipped.append(f"{image_id}: cannot be read ({data})")
                    continue
                writes += [(target, data) for target in targets[image_id]]
            list(pool.map(lambda item: dest.write(item[0], item[1], durable=False), writes))
            report.files += len(writes)
            progress(report.files, total)
    return report


def import_txt(
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
    return resolved, problems, store.url


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def import_imagefolder(
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
    check_names(entries, store.url)
    matcher = Matcher(dataset)
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
    for start in range(0, len(candidates), BATCH):
        chunk = candidates[start : start + BATCH]
        for image_id, data in dataset.read_images(chunk).items():
            if isinstance(data, bytes):
                key = _digest(data)
                # Two images with the same bytes: which one a file is cannot be told.
                digests[key] = None if key in digests else image_id
        done += len(chunk)
        progress(done, total)
    out: dict[str, str | None] = {}
    for start in range(0, len(rels), BATCH):
        chunk = rels[start : start + BATCH]
        for rel, data in store.read_many(chunk).items():
            out[rel] = digests.get(_digest(data)) if isinstance(data, bytes) else None
        done += len(chunk)
        progress(done, total)
    return out
