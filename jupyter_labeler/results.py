"""What the Dataset's methods return: small result records and the readiness report."""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from .words import plural

__all__ = [
    "CHANGE_IDS_LIMIT",
    "MIN_IMAGES_PER_LABEL",
    "MIN_LABELS",
    "RECOMMENDED_IMAGES_PER_LABEL",
    "ActionResult",
    "Change",
    "Readiness",
    "SyncSummary",
    "UploadResult",
    "touched",
]

MIN_LABELS = 2
MIN_IMAGES_PER_LABEL = 5
RECOMMENDED_IMAGES_PER_LABEL = 50
# Observers are told exactly which images changed up to this many; beyond, "possibly all".
CHANGE_IDS_LIMIT = 5000


def touched(ids: list[str]) -> frozenset[str] | None:
    """The ``ids`` of a :class:`Change`: these images, or None ("possibly all") when there are
    more than :data:`CHANGE_IDS_LIMIT`, too many to be worth telling one by one."""
    return frozenset(ids) if len(ids) <= CHANGE_IDS_LIMIT else None


@dataclass(frozen=True)
class Change:
    """What changed, as told to observers.

    ``kind`` is "labels", "images", "status", "reload", "presence" or "problems" (objects of the
    store were refused while following: ``labels`` then holds the first sentences added to
    ``Dataset.problems``); ``ids`` the images touched (None means possibly all); ``labels`` the
    label names touched.
    """

    kind: str
    ids: frozenset[str] | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one action: how many images changed and whether it is saved yet."""

    action: str
    changed: int
    saved: bool
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class UploadResult:
    """``added``: ids of the images added; ``refused``: (file name, reason) for the others."""

    added: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    saved: bool = True

    def __str__(self) -> str:
        parts = [f"{plural(len(self.added), 'image')} added"]
        if self.refused:
            parts.append(f"{len(self.refused)} refused")
        return ", ".join(parts)


@dataclass
class SyncSummary:
    """What :meth:`Dataset.sync` found in the source folder."""

    added: int = 0
    removed: int = 0
    labeled_from_sidecars: int = 0
    skipped: list[str] = field(default_factory=list)
    saved: bool = True

    def __str__(self) -> str:
        text = (
            f"{plural(self.added, 'image')} added, {self.removed} removed, "
            f"{self.labeled_from_sidecars} labeled from .txt files"
        )
        if self.skipped:
            text += f"; {plural(len(self.skipped), 'problem')}"
        return text


@dataclass
class Readiness:
    """Whether the labels are enough to train an image classifier.

    The rule of ModelArts ExeML: at least 2 labels, each with at least 5 images;
    50 or more images per label are recommended.
    """

    ready: bool
    problems: list[str]
    recommendations: list[str]
    table: pd.DataFrame
    unlabeled: int = 0

    @property
    def summary(self) -> str:
        if self.ready:
            return "Ready for training"
        return "Not ready for training: " + "; ".join(self.problems)

    def __repr__(self) -> str:
        lines = [self.summary]
        lines += [f"  - {r}" for r in self.recommendations]
        if self.unlabeled:
            lines.append(f"  ({self.unlabeled} unlabeled images are not used for training)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        color = "#1a7f37" if self.ready else "#b42318"
        items = "".join(f"<li>{html.escape(p)}</li>" for p in self.problems + self.recommendations)
        table = self.table._repr_html_() if len(self.table) else ""
        return (
            f'<div><b style="color:{color}">{html.escape("Ready for training" if self.ready else "Not ready for training")}</b>'
            f"<ul>{items}</ul>{table}</div>"
        )


def readiness_from_counts(
    counts: pd.Series, unlabeled: int, eval_counts: pd.Series | None = None
) -> Readiness:
    """Apply the ExeML rule to label -> image count (labels with no image are ignored).

    ``eval_counts`` (label -> images in the EVAL part): once any image is there, a label with
    none there is a problem, since the model could not be evaluated on it.
    """
    counts = counts[counts > 0]
    problems: list[str] = []
    if eval_counts is not None and eval_counts.sum() > 0:
        missing = [str(n) for n in counts.index if eval_counts.get(n, 0) == 0]
        if missing:
            problems.append(
                "the eval part has no image of "
                + ", ".join(missing[:10])
                + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                + " (split again, or put some in EVAL)"
            )
    recommendations: list[str] = []
    if len(counts) < MIN_LABELS:
        have = "no label" if len(counts) == 0 else f"only {len(counts)} label"
        problems.append(
            f"at least {MIN_LABELS} labels with images are needed; the dataset has {have}"
        )
    status = []
    for name, n in counts.items():
        if n < MIN_IMAGES_PER_LABEL:
            need = MIN_IMAGES_PER_LABEL - n
            problems.append(
                f"{name} has {plural(n, 'image')}; at least {MIN_IMAGES_PER_LABEL} "
                f"are needed ({name} needs {need} more)"
            )
            status.append("too few")
        elif n < RECOMMENDED_IMAGES_PER_LABEL:
            recommendations.append(
                f"{name} has {n} images; {RECOMMENDED_IMAGES_PER_LABEL} or more are recommended"
            )
            status.append("enough")
        else:
            status.append("good")
    table = pd.DataFrame(
        {"images": counts.to_numpy(dtype="int64"), "status": status},
        index=pd.Index(counts.index, name="label", dtype=object),
    )
    return Readiness(
        ready=not problems,
        problems=problems,
        recommendations=recommendations,
        table=table,
        unlabeled=unlabeled,
    )
