"""Finding the images of a source folder, and the ``.txt`` label files beside them.

ModelArts reads a same-name ``.txt`` file beside an image (``cat_01.txt`` beside ``cat_01.jpg``),
one label a line, as that image's labels; so does :meth:`Dataset.sync`.

Keys listed in a bucket are not trusted: one that is not a clean relative path (``a//b.jpg``,
``../x.jpg``, a hidden folder, the label output; see :mod:`.paths`) is no image of the dataset.
Hidden files are passed over in silence (every folder has some); other refused keys are named
in :attr:`Scan.refused`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .images import IMAGE_SUFFIXES
from .names import label_problem
from .paths import image_path_problem
from .storage import Store

__all__ = ["IMAGE_SUFFIXES", "Scan", "is_hidden", "parse_sidecar", "scan_folder"]


@dataclass
class Scan:
    """Images found (relative path -> size) and sidecars (image path -> ``.txt`` path)."""

    images: dict[str, int] = field(default_factory=dict)
    sidecars: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def is_hidden(rel: str) -> bool:
    """True when any part of the relative path starts with a dot."""
    return any(part.startswith(".") for part in rel.split("/"))


def scan_folder(store: Store, *, exclude: tuple[str, ...] = ()) -> Scan:
    """List ``store``'s images recursively, skipping hidden entries and the ``exclude`` folders."""
    listing = store.list("", recursive=True)
    scan = Scan()
    texts: dict[str, str] = {}
    for rel, size in listing.items():
        if is_hidden(rel) or any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude):
            continue
        lower = rel.lower()
        if lower.endswith(IMAGE_SUFFIXES):
            problem = image_path_problem(rel, exclude=exclude)
            if problem is not None:
                scan.refused.append(f"{store.url_of('')}: key {rel[:200]!r} refused ({problem})")
                continue
            scan.images[rel] = size
        elif lower.endswith(".txt"):
            texts[rel[: -len(".txt")]] = rel
    for rel in scan.images:
        stem = rel.rsplit(".", 1)[0]
        if stem in texts:
            scan.sidecars[rel] = texts[stem]
    return scan


def parse_sidecar(data: bytes, where: str) -> tuple[list[str], list[str]]:
    """Labels of a ``.txt`` file (one a line) and a problem sentence per line refused."""
    labels: list[str] = []
    problems: list[str] = []
    text = data.decode("utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        problem = label_problem(name)
        if problem is not None:
            problems.append(f"{where} line {number}: {problem}; that label was skipped")
        elif name not in labels:
            labels.append(name)
    return labels, problems
