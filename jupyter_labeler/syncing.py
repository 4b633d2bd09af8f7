"""Synchronizing a dataset with its source folder: what ``Dataset.sync`` writes.

The folder is scanned (:func:`~.scan.scan_folder`) and compared with the dataset's images
(:func:`live_images`, taken with the Dataset's lock held); :func:`plan_sync` then reads the
``.txt`` label files beside new or unlabeled images and plans the actions: one removing the
images whose files vanished, one per :data:`SYNC_CHUNK` new images (with the labels their
``.txt`` files give), and one labeling images already known from their ``.txt`` files.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .manifest import image_id_for
from .plan import Plan
from .results import Change, SyncSummary, touched
from .scan import Scan, parse_sidecar
from .state import State
from .storage import Store
from .times import now

__all__ = ["SYNC_CHUNK", "Live", "SyncStep", "SyncWork", "live_images", "plan_sync"]

# A sync adding more images than this is written as several events of this size.
SYNC_CHUNK = 20000


@dataclass(frozen=True)
class Live:
    """The dataset's images as a sync compares them with the folder."""

    codes: dict[str, int]  # path -> code of each live image
    labeled: np.ndarray  # per code: has a label
    ids: Any  # per code: the image id (``ids[code]``, ``ids[codes]``, see State.ids)


def live_images(state: State) -> Live:
    """The images of ``state`` (call with the Dataset's lock held)."""
    live = np.flatnonzero(state.alive)
    codes = dict(zip(state.paths[live].tolist(), live.tolist(), strict=True))
    return Live(codes, state.labeled_mask(), state.ids)


@dataclass(frozen=True)
class SyncStep:
    """One action of a sync, and how many images are done once it is recorded (None: the
    progress is not told after it)."""

    plan: Plan
    done: int | None


@dataclass
class SyncWork:
    """A sync's actions, made one at a time as they are recorded (a chunk's rows are built
    only when its turn comes), the images they touch, and the summary to return."""

    steps: Iterator[SyncStep]
    total: int
    summary: SyncSummary


def plan_sync(scan: Scan, live: Live, source: Store, author: str) -> SyncWork:
    """The actions that make the dataset ``live`` match the folder ``scan`` found in
    ``source``; the ``.txt`` files of new images and unlabeled ones are read here, and their
    labels given as ``author``. Problems with them are listed in the summary's ``skipped``."""
    summary = SyncSummary(skipped=list(scan.refused))
    known = live.codes
    new_paths = sorted(p for p in scan.images if p not in known)
    gone = [code for path, code in known.items() if path not in scan.images]
    wanted = {p: scan.sidecars[p] for p in new_paths if p in scan.sidecars}
    wanted.update(
        {
            p: scan.sidecars[p]
            for p, c in known.items()
            if p in scan.sidecars and not live.labeled[c]
        }
    )
    sidecars = source.read_many(sorted(set(wanted.values())))
    labels_for: dict[str, list[str]] = {}
    for path, txt in wanted.items():
        data = sidecars.get(txt)
        if isinstance(data, Exception):
            summary.skipped.append(f"{txt}: cannot be read ({data})")
            continue
        names, problems = parse_sidecar(data or b"", txt)
        summary.skipped.extend(problems)
        if names:
            labels_for[path] = names
    summary.removed = len(gone)
    summary.added = len(new_paths)
    summary.labeled_from_sidecars = len(labels_for)
    total = max(1, len(new_paths) + len(gone))
    steps = _steps(scan, live, new_paths, gone, labels_for, author)
    return SyncWork(steps, total, summary)


def _steps(
    scan: Scan,
    live: Live,
    new_paths: list[str],
    gone: list[int],
    labels_for: dict[str, list[str]],
    author: str,
) -> Iterator[SyncStep]:
    at = now()
    done = 0
    if gone:
        ids = live.ids[np.asarray(gone, dtype=np.int64)].tolist()
        done += len(ids)
        yield SyncStep(
            Plan(
                "sync",
                [{"op": "images-", "ids": ids}],
                describe=f"Synchronized: {len(ids)} vanished images removed",
                changed=len(ids),
                change=Change("images", touched(ids)),
            ),
            done,
        )
    for start in range(0, len(new_paths), SYNC_CHUNK):
        chunk = new_paths[start : start + SYNC_CHUNK]
        rows = [
            {"id": image_id_for(p), "path": p, "size": scan.images[p], "usage": "", "added_at": at}
            for p in chunk
        ]
        ops: list[dict[str, Any]] = [{"op": "images+", "rows": rows}]
        ops += _sidecar_ops(
            {p: labels_for[p] for p in chunk if p in labels_for},
            {str(r["path"]): str(r["id"]) for r in rows},
            author,
            at,
        )
        done += len(chunk)
        yield SyncStep(
            Plan(
                "sync",
                ops,
                describe=f"Synchronized: {len(rows)} new images added",
                changed=len(rows),
                change=Change("images", None),
            ),
            done,
        )
    existing = {p: v for p, v in labels_for.items() if p in live.codes}
    if existing:
        id_of = {p: str(live.ids[live.codes[p]]) for p in existing}
        yield SyncStep(
            Plan(
                "sync",
                _sidecar_ops(existing, id_of, author, at),
                describe=f"Synchronized: {len(existing)} images labeled from .txt files",
                changed=len(existing),
                change=Change("labels", None),
            ),
            None,
        )


def _sidecar_ops(
    labels_for: Mapping[str, list[str]], id_of: Mapping[str, str], author: str, at: str
) -> list[dict[str, Any]]:
    """``label+`` operations giving each image (by path) the labels its ``.txt`` file names."""
    by_label: dict[str, list[str]] = {}
    for path, names in labels_for.items():
        for name in names:
            by_label.setdefault(name, []).append(id_of[path])
    return [
        {"op": "label+", "label": name, "ids": ids, "by": author, "at": at}
        for name, ids in by_label.items()
    ]
