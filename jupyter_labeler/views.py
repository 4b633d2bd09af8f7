"""Tables and views of a dataset's state: plain functions of a :class:`~.state.State`.

The Dataset calls them with its lock held and returns what they give; nothing here writes to
the state or to a store. A view is a sorted array of image codes (see :func:`view_codes`);
tables turn codes into pandas DataFrames, one row per image, built only for what is asked.

Views that depend on who asks ("mine", "review") take the author; answers that cost more than
a lookup are remembered until the state next changes (:func:`remember`).
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from . import team as _team
from .errors import UnknownImageError, UnknownLabelError
from .names import annotator_of
from .results import Readiness, readiness_from_counts
from .splits import USAGES
from .state import State, member
from .storage import Store
from .words import plural

__all__ = [
    "PER_CODE_LIMIT",
    "VIEWS",
    "annotation_table",
    "author_code",
    "counts",
    "ids",
    "image_paths",
    "in_view",
    "info",
    "labels_of",
    "paths",
    "paths_of",
    "position",
    "readiness",
    "remember",
    "resolve",
    "review_excluded",
    "revision",
    "table",
    "unknown_ids",
    "usage_of",
    "usages",
    "view_codes",
    "view_counts",
    "with_label",
]

VIEWS = ("unlabeled", "labeled", "all", "mine", "review")
# Up to this many rows, labels are looked up per image; above, from the sorted long table.
PER_CODE_LIMIT = 50_000

T = TypeVar("T")


# -- remembering answers until the state changes ---------------------------------------------------
class _Memo:
    """Answers per state, kept while its ``version`` (bumped by every change) stays the same.

    Keyed by the state object itself and dropped with it, as if the state held them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # several Datasets may ask from several threads
        self._kept: weakref.WeakKeyDictionary[State, tuple[int, int, dict[Any, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._serials = itertools.count()

    def entry(self, state: State) -> tuple[int, dict[Any, Any]]:
        """(the state's serial number, its answers at this version)."""
        with self._lock:
            kept = self._kept.get(state)
            if kept is None:
                kept = (next(self._serials), state.version, {})
            elif kept[1] != state.version:
                kept = (kept[0], state.version, {})
            else:
                return kept[0], kept[2]
            self._kept[state] = kept
            return kept[0], kept[2]


_MEMO = _Memo()


def remember(state: State, key: Any, make: Callable[[], T]) -> T:
    """``make()``, computed once while ``state`` stays as it is (call with its lock held)."""
    answers = _MEMO.entry(state)[1]
    if key in answers:
        found: T = answers[key]
        return found
    found = answers[key] = make()
    return found


def revision(state: State) -> tuple[int, int]:
    """A value that differs after every change of ``state``, and between two states: for
    caches of what derives from the images and labels (a fitted model)."""
    return _MEMO.entry(state)[0], state.version


# -- looking images up ----------------------------------------------------------------------------
def resolve(state: State, ids: Iterable[str] | str) -> np.ndarray:
    """Sorted unique codes of the images ``ids``; raises :class:`UnknownImageError` naming
    the ids that are no image of the dataset."""
    if isinstance(ids, str):
        ids = [ids]
    codes, missing = state.codes_of(ids)
    if missing:
        raise UnknownImageError(missing)
    return codes


def author_code(state: State, author: str) -> int:
    """The code of ``author`` among the state's annotators, or -1 when they never appear."""
    if annotator_of(author) not in state.authors.values:
        return -1  # asking must not make them an annotator
    return state.authors.code(author)


def unknown_ids(state: State, ids: Iterable[str]) -> list[str]:
    """The ids that are not images of the dataset (no table is built)."""
    ids = list(ids)
    codes = state.lookup(ids)
    return [ids[i] for i in np.flatnonzero(codes < 0).tolist()]


# -- views ----------------------------------------------------------------------------------------
def view_codes(state: State, author: str, view: str, label: str | None = None) -> np.ndarray:
    """Sorted codes of the images a view shows, optionally only those with ``label``.

    ``view`` is one of :data:`VIEWS`; "mine" and "review" are those of ``author`` (see
    ``Dataset.ids``)."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}; not {view!r}")
    if view in ("mine", "review"):
        found = remember(state, (view, author), lambda: _team_view(state, author, view))
        return found if label is None else found[member(found, state.view_codes("all", label))]
    if label is None:
        return state.view_codes(view)
    if view == "unlabeled":
        return np.empty(0, np.int64)
    return state.view_codes("all", label)


def _team_view(state: State, author: str, view: str) -> np.ndarray:
    me = author_code(state, author)
    if view == "review":
        return _team.to_review(state, me)
    if state.team is None or me < 0:
        return np.empty(0, np.int64)
    return _team.mine_codes(state, me)[0]


def ids(state: State, author: str, view: str = "all", label: str | None = None) -> pd.Index:
    """Image ids of a view (see :func:`view_codes`), remembered until the next change."""

    def make() -> pd.Index:
        codes = view_codes(state, author, view, label)
        return pd.Index(state.ids[codes], dtype=object, name="image_id")

    return remember(state, ("ids", view, label, author), make)


def in_view(
    state: State, author: str, ids: Iterable[str], view: str = "all", label: str | None = None
) -> np.ndarray:
    """For each id, whether the view (and label filter) shows that image."""
    codes = state.lookup(list(ids))
    shown = view_codes(state, author, view, label)
    return (codes >= 0) & member(codes, shown)


def position(
    state: State, author: str, image_id: str, view: str = "all", label: str | None = None
) -> int | None:
    """Where ``image_id`` stands in :func:`ids` of that view, or None when not shown."""
    code = int(state.lookup([image_id])[0])
    shown = view_codes(state, author, view, label)
    if code < 0 or not len(shown):
        return None
    at = int(np.searchsorted(shown, code))
    return at if at < len(shown) and shown[at] == code else None


def view_counts(state: State, author: str) -> dict[str, int]:
    """How many images each tab shows: "all", "labeled", "unlabeled", and "mine" and
    "review" once the dataset has assignments or reviews."""
    # Remembered until the state changes: every page turn shows the counts in the tabs, and
    # counting ten million flags twice took longer than the rest of the turn.
    return dict(remember(state, ("view_counts", author), lambda: _view_counts(state, author)))


def _view_counts(state: State, author: str) -> dict[str, int]:
    labeled = int(np.count_nonzero(state.labeled_mask()))
    total = int(np.count_nonzero(state.alive))
    out = {"all": total, "labeled": labeled, "unlabeled": total - labeled}
    if state.team is not None:
        out["mine"] = len(view_codes(state, author, "mine"))
        out["review"] = len(view_codes(state, author, "review"))
    return out


def review_excluded(state: State, author: str) -> int:
    """How many images wait for review but are assigned to ``author``, who may not review
    them."""
    me = author_code(state, author)
    if state.team is None or me < 0:
        return 0
    waiting = _team.to_review(state, -1)
    return int(state.team.is_assigned(waiting, me).sum())


# -- tables ---------------------------------------------------------------------------------------
def table(state: State, codes: np.ndarray, *, per_code_limit: int = PER_CODE_LIMIT) -> pd.DataFrame:
    """One row per code: index ``image_id``; ``path``, ``labels`` (list), ``size``,
    ``usage``, ``added_at``, and the team's columns once the dataset has a team.

    Up to ``per_code_limit`` codes, labels are looked up image by image; above, they are cut
    from the sorted long table of every label (the same answer, cheaper for many rows)."""
    s = state
    codes = np.asarray(codes, dtype=np.int64)
    by_code = s.labels_by_code(codes) if len(codes) <= per_code_limit else None
    if by_code is None:
        long_codes, which, _, _ = s.label_codes_long()
        names = np.asarray(list(s.labels), dtype=object)
        starts = np.searchsorted(long_codes, codes, side="left")
        stops = np.searchsorted(long_codes, codes, side="right")
        labels = [
            names[which[a:b]].tolist() for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
        ]
    else:
        labels = [by_code[int(c)] for c in codes]
    columns = {
        "path": pd.array(s.paths[codes], dtype=object),
        "labels": pd.array(labels, dtype=object),
        "size": s.sizes[codes].astype(np.int64),  # kept in 32 bits while they fit
        "usage": pd.Categorical(s.usage[codes]),
        "added_at": pd.array(s.added_at[codes], dtype=object),
    }
    if s.team is not None:  # only datasets that assign or review have these columns
        columns.update(_team.image_columns(s, codes))
    return pd.DataFrame(columns, index=pd.Index(s.ids[codes], name="image_id", dtype=object))


def with_label(state: State, name: str) -> pd.DataFrame:
    """The :func:`table` of the images carrying ``name``."""
    if name not in state.labels:
        raise UnknownLabelError(name)
    return table(state, state.view_codes("all", name))


def counts(state: State, by: str | None = None, *, accepted_only: bool = False) -> pd.DataFrame:
    """Images per label, most first; ``by="usage"``: a column per part of the split and a
    ``total`` (see ``Dataset.counts``)."""
    if by not in (None, "usage"):
        raise ValueError(f"by must be None or 'usage', not {by!r}")
    names = list(state.labels)
    accepted = _team.accepted_codes(state) if accepted_only else None
    values = np.fromiter(
        (
            len(ls) if accepted is None else int(member(ls.codes, accepted).sum())
            for ls in state.labels.values()
        ),
        dtype=np.int64,
        count=len(names),
    )
    order = np.argsort(-values, kind="stable")
    index = pd.Index(np.asarray(names, dtype=object)[order], name="label", dtype=object)
    if by is None:
        return pd.DataFrame({"images": values[order]}, index=index)
    codes, which, _, _ = state.label_codes_long()
    if accepted is not None:
        keep = member(codes, accepted)
        codes, which = codes[keep], which[keep]
    # A count per (label, part) by one bincount over the usage's codes: pandas' crosstab costs
    # ~50 ms even on a few hundred images, and readiness() runs after every action of the
    # Labeler.
    usage = state.usage.codes[codes]
    names_of = ["none" if v == "" else v for v in state.usage.values]
    present = np.flatnonzero(np.bincount(usage, minlength=len(names_of)))
    parts = [*USAGES, "none"]
    parts += sorted({names_of[k] for k in present.tolist()} - set(parts))
    column = np.asarray([parts.index(v) if v in parts else 0 for v in names_of], dtype=np.int64)
    flat = np.asarray(which, dtype=np.int64) * len(parts) + column[usage]
    grid = np.bincount(flat, minlength=len(names) * len(parts)).reshape(len(names), len(parts))
    out = pd.DataFrame(
        grid[order], index=index, columns=pd.Index(parts, name="usage", dtype=object)
    )
    out["total"] = values[order]
    return out


def readiness(state: State) -> Readiness:
    """Whether the labels suffice for training (see ``Dataset.readiness``)."""
    by_usage = counts(state, by="usage")
    unlabeled = len(state) - int(state.labeled_mask().sum())
    return readiness_from_counts(by_usage["total"], unlabeled, eval_counts=by_usage["EVAL"])


def labels_of(state: State, ids: Iterable[str]) -> dict[str, list[str]]:
    """The labels of each image id (unknown ids map to an empty list)."""
    ids = list(ids)
    codes = state.lookup(ids)
    by_code = state.labels_by_code(codes[codes >= 0])
    return {i: by_code.get(int(c), []) if c >= 0 else [] for i, c in zip(ids, codes, strict=True)}


def info(state: State, source: Store, image_id: str) -> dict[str, Any]:
    """Path, URL (in ``source``), size, usage, labels and when it was added, for one image."""
    code = int(state.lookup([image_id])[0])
    if code < 0:
        raise UnknownImageError([image_id])
    path = state.paths[code]
    return {
        "image_id": image_id,
        "path": path,
        "url": source.url_of(path),
        "size": int(state.sizes[code]),
        "usage": state.usage[code],
        "labels": state.labels_by_code(np.asarray([code]))[code],
        "added_at": state.added_at[code],
    }


# -- columns for imports, exports and exploring ---------------------------------------------------
def _column(state: State, values: Any, name: str) -> pd.Series:
    codes = state.view_codes("all")
    return pd.Series(
        pd.array(values[codes], dtype=object),
        index=pd.Index(state.ids[codes], name="image_id", dtype=object),
        name=name,
    )


def paths(state: State) -> pd.Series:
    """The path of every image relative to the source folder: index ``image_id``."""
    return _column(state, state.paths, "path")


def usages(state: State) -> pd.Series:
    """The part of the split of every image ("" for none), in the order of :func:`paths`."""
    return _column(state, state.usage, "usage")


def paths_of(state: State, ids: Iterable[str]) -> dict[str, str]:
    """The path of each known image id (one lookup for all)."""
    ids = list(ids)
    codes = state.lookup(ids)
    found = np.flatnonzero(codes >= 0)
    # One take of the paths (the state's columns make a string per row asked for), not one each.
    paths = state.paths[codes[found]].tolist() if len(found) else []
    return dict(zip([ids[k] for k in found.tolist()], paths, strict=True))


def usage_of(state: State, ids: Iterable[str]) -> dict[str, str]:
    """The part of the split of each image id ("" for none, and for unknown ids)."""
    ids = list(ids)
    codes = state.lookup(ids)
    return {
        i: (str(state.usage[c]) if c >= 0 else "") for i, c in zip(ids, codes.tolist(), strict=True)
    }


def image_paths(state: State, ids: Iterable[str]) -> dict[str, str]:
    """The path of each id; raises :class:`UnknownImageError` naming the unknown ones."""
    ids = list(ids)
    codes = state.lookup(ids)
    missing = [i for i, c in zip(ids, codes.tolist(), strict=True) if c < 0]
    if missing:
        raise UnknownImageError(missing)
    return {i: state.paths[c] for i, c in zip(ids, codes.tolist(), strict=True)}


def annotation_table(state: State) -> pd.DataFrame:
    """Every (image, label) pair, one row each: ``image_id``, ``path``, ``label``,
    ``annotated_by``, ``created_at``; sorted by image, then label order."""
    s = state
    codes, which, by, at = s.label_codes_long()
    keep = s.alive[codes]
    codes, which, by, at = codes[keep], which[keep], by[keep], at[keep]
    names = np.asarray(list(s.labels), dtype=object)
    authors = np.asarray(s.authors.values, dtype=object)
    times = np.asarray(s.times.values, dtype=object)
    return pd.DataFrame(
        {
            "image_id": pd.array(s.ids[codes], dtype=object),
            "path": pd.array(s.paths[codes], dtype=object),
            "label": pd.array(names[which] if len(which) else [], dtype=object),
            "annotated_by": pd.array(authors[by] if len(by) else [], dtype=object),
            "created_at": pd.array(times[at] if len(at) else [], dtype=object),
        }
    )


def files_of(state: State, ids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """``{id: (path, size as listed)}`` of the known images among ``ids`` (unknown ids are
    left out): what the thumbnails need to read each file, or to refuse it unread."""
    ids = list(ids)
    codes = state.lookup(ids)
    found = np.flatnonzero(codes >= 0)
    rows = codes[found]
    paths = state.paths[rows].tolist() if len(found) else []
    sizes = np.asarray(state.sizes[rows], dtype=np.int64).tolist() if len(found) else []
    return {
        ids[k]: (path, size) for k, path, size in zip(found.tolist(), paths, sizes, strict=True)
    }


def summary(state: State) -> str:
    """ "300 images, 12 labeled, 2 labels": a dataset in a few words."""
    labeled = int(state.labeled_mask().sum())
    return f"{plural(len(state), 'image')}, {labeled} labeled, {plural(len(state.labels), 'label')}"


def view_table(state: State, author: str, view: str) -> pd.DataFrame:
    """The :func:`table` of the images of ``view`` (see :func:`view_codes`), in its order."""
    return table(state, view_codes(state, author, view, None))
