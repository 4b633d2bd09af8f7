"""Label quality on a Dataset: the labels that look wrong, the marks of those checked and kept,
taking the likely label instead, and groups of look-alike images.

The work is in :mod:`jupyter_labeler.label_issues` (confident learning),
:mod:`jupyter_labeler.groups` (k-means) and :mod:`jupyter_labeler.checked` (the marks); this
module feeds them a Dataset's features and labels, and plans its two actions:

- ``confirm_labels``: one ``checked`` operation per label (see :mod:`jupyter_labeler.checked`):
  the pairs stay out of ``label_issues()`` for every annotator, after reopening too;
- ``relabel``: ``remove_label`` of the old label and ``add_label`` of the new one (with what a
  team dataset adds to them, see :mod:`jupyter_labeler.label_plans`), and the new labels marked
  checked: someone looked at them. One action: one undo reverts all of it.

Features come as ``suggest()`` gets them: the stored features of an embedder's name, or, for a
callable, its features computed first where images lack them (``Dataset.compute_features``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from . import features, label_plans
from .checked import checked_pairs, mark_of
from .errors import StoreError, UnknownLabelError
from .groups import groups as _groups
from .label_issues import MIN_PER_LABEL, find_label_issues
from .names import validate_label
from .plan import Plan
from .results import ActionResult, Change, touched
from .state import State, member
from .times import now
from .views import resolve
from .words import plural

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = ["Pairs", "confirm_labels", "groups", "label_issues", "relabel"]

# What names (image, label) pairs: image ids, or rows of a table of label issues.
Pairs: TypeAlias = Iterable[str] | str | pd.DataFrame

_COLUMNS = ["given_label", "likely_label", "given_confidence", "likely_confidence", "labels"]


def _features(dataset: Dataset, embedder: str | features.Embedder) -> features.Features:
    """The stored features of ``embedder``; a callable's are computed first where missing."""
    if callable(embedder):
        summary = dataset.compute_features(embedder, progress=False)
        return dataset.feature_cache.require(summary.embedder)
    return dataset.feature_cache.require(embedder)


def _store_now(dataset: Dataset) -> datetime:
    """The store's clock (naive, UTC), as the journal's names are bounded by it: on S3 and OBS
    the time of an answer (one listing of nothing), elsewhere (and when the store cannot be
    reached) this machine's, which is the store's own for a local folder."""
    stamp = time.time()
    if dataset.output.scheme in {"s3", "obs"}:
        with contextlib.suppress(StoreError):
            stamp = dataset.output.list_after("journal", "~").now
    return datetime.fromtimestamp(stamp, UTC).replace(tzinfo=None)


def label_issues(
    dataset: Dataset,
    embedder: str | features.Embedder = features.BUILTIN,
    min_per_label: int = MIN_PER_LABEL,
    include_confirmed: bool = False,
    *,
    random_state: int = 0,
) -> pd.DataFrame:
    """See ``Dataset.label_issues``."""
    found = _features(dataset, embedder)
    replica = dataset.replica
    clock = _store_now(dataset)
    with replica.lock:
        state = replica.state
        codes, which, _, _ = state.label_codes_long()
        live = state.alive[codes]
        codes, which = codes[live], which[live].astype(np.int64)
        names = list(state.labels)
        ids = state.ids[codes]
        marked_codes, marked_which, problems = checked_pairs(state, clock)
    replica.note_problems(problems)
    labeled = len(np.unique(codes))
    rows = found.rows(ids) if len(ids) else np.zeros(0, np.int64)
    usable = rows >= 0
    usable[usable] = found.ok[rows[usable]]
    without = labeled - len(np.unique(codes[usable]))
    codes, which, rows = codes[usable], which[usable], rows[usable]
    images, pair_image = np.unique(rows, return_inverse=True)
    x = found.vectors[images].astype(np.float32)
    confirmed = None
    if len(marked_codes) and not include_confirmed:
        width = max(len(names), 1)
        marked = np.unique(marked_codes * width + marked_which)
        hit = member(codes * width + which, marked)
        confirmed = (pair_image[hit], which[hit])
    table = find_label_issues(
        x,
        (pair_image, which),
        ids=pd.Index(found.ids[images], dtype=object),
        names=names,
        min_per_label=min_per_label,
        random_state=random_state,
        confirmed=confirmed,
    )
    table["given_label"] = table["given_label"].astype(object)
    table["likely_label"] = table["likely_label"].astype(object)
    table["labels"] = pd.Series(dataset.labels_of(table.index), dtype=object)
    table = table[_COLUMNS]
    table.attrs["without_features"] = without
    if "reason" in table.attrs and labeled and not len(images):
        table.attrs["reason"] = "no labeled image has features yet: call compute_features()"
    elif "reason" in table.attrs and len(np.unique(which)) == 1:
        table.attrs["reason"] = (
            "one label only: a label is judged against the others, so nothing can be judged "
            "until a second label has images"
        )
    return table


def groups(
    dataset: Dataset,
    k: int | None = None,
    view: str = "unlabeled",
    *,
    embedder: str | features.Embedder = features.BUILTIN,
    random_state: int = 0,
) -> pd.Series:
    """See ``Dataset.groups``."""
    ids = dataset.ids(view)  # checks the view's name
    found = _features(dataset, embedder)
    rows = found.rows(ids) if len(ids) else np.zeros(0, np.int64)
    usable = rows >= 0
    usable[usable] = found.ok[rows[usable]]
    rows = rows[usable]
    out = _groups(
        found.vectors[rows].astype(np.float32),
        k,
        ids=pd.Index(found.ids[rows], dtype=object),
        random_state=random_state,
    )
    out.attrs["without_features"] = int((~usable).sum())
    return out


# -- the actions --------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _table_pairs(table: pd.DataFrame, column: str) -> list[tuple[str, str]]:
    if column not in table.columns:
        raise ValueError(f"a table of label issues has a {column!r} column; this one has none")
    return [(str(i), _text(v)) for i, v in zip(table.index, table[column], strict=True)]


def _pairs(state: State, ids: Pairs, label: str | None, column: str) -> list[tuple[str, str]]:
    """(image id, label) pairs named by a table of label issues (its ``column``), by ``ids``
    and ``label``, or by ``ids`` alone (every label of those images)."""
    if isinstance(ids, pd.DataFrame):
        pairs = _table_pairs(ids, column)
        resolve(state, [i for i, _ in pairs])
        return pairs
    codes = resolve(state, ids)
    if label is not None:
        if label not in state.labels:
            raise UnknownLabelError(label)
        return [(i, label) for i in state.ids[codes].tolist()]
    pairs = []
    for name, labelset in state.labels.items():
        carry = codes[member(codes, labelset.codes)]
        pairs += [(i, name) for i in state.ids[carry].tolist()]
    return pairs


def confirm_labels(
    state: State,
    author: str,
    ids: Pairs,
    label: str | None = None,
) -> Plan | ActionResult:
    """The plan of ``Dataset.confirm_labels``: a ``checked`` operation per label."""
    wanted: dict[str, list[str]] = {}
    for image_id, name in _pairs(state, ids, label, "given_label"):
        if name not in state.labels:
            raise UnknownLabelError(name)
        wanted.setdefault(name, []).append(image_id)
    by_label: dict[str, list[str]] = {}
    for name, got in wanted.items():
        labelset = state.labels[name]
        codes = np.unique(state.lookup(got))
        codes = codes[member(codes, labelset.codes)]  # those that still carry it
        fresh = [c for c in codes.tolist() if not mark_of(labelset.extra.get(c))[0]]
        if fresh:
            by_label[name] = state.ids[np.asarray(fresh, np.int64)].tolist()
    if not by_label:
        return ActionResult("confirm_labels", 0, True, "every label given is checked already")
    at = now()
    ops = [
        {"op": "checked", "label": name, "ids": got, "by": author, "at": at}
        for name, got in by_label.items()
    ]
    images = sorted({i for op in ops for i in op["ids"]})
    n = sum(len(op["ids"]) for op in ops)
    return Plan(
        "confirm_labels",
        ops,
        describe=f"Kept {plural(n, 'label')} as checked on {plural(len(images), 'image')}",
        changed=len(images),
        change=Change("labels", touched(images), tuple(by_label)),
    )


def relabel(
    state: State,
    author: str,
    ids: Pairs,
    old: str | None = None,
    new: str | None = None,
) -> Plan | ActionResult:
    """The plan of ``Dataset.relabel``: for each image, ``old`` off and ``new`` on (from a
    table of label issues: its given and likely labels), the new labels marked checked."""
    if isinstance(ids, pd.DataFrame):
        given = _table_pairs(ids, "given_label")
        likely = dict(_table_pairs(ids, "likely_label"))
        changes = [(i, g, validate_label(likely[i])) for i, g in given]
        resolve(state, [i for i, _, _ in changes])
    else:
        if old is None or new is None:
            raise ValueError("relabel needs old and new labels, or a table of label issues")
        new = validate_label(new)
        changes = [(i, old, new) for i in state.ids[resolve(state, ids)].tolist()]
    groups_of: dict[tuple[str, str], list[str]] = {}
    for image_id, was, becomes in changes:
        if was != becomes:
            groups_of.setdefault((was, becomes), []).append(image_id)
    ops: list[dict[str, Any]] = []
    moved: set[str] = set()
    at = now()
    for (was, becomes), got in groups_of.items():
        removal = label_plans.remove_label(state, author, was, got)
        if isinstance(removal, ActionResult):
            continue  # none of them carries it any more
        carrying = _removed_ids(removal)
        addition = label_plans.add_label(state, author, becomes, carrying)
        ops += removal.ops
        ops += addition.ops if isinstance(addition, Plan) else []
        ops.append({"op": "checked", "label": becomes, "ids": carrying, "by": author, "at": at})
        moved.update(carrying)
    if not moved:
        return ActionResult("relabel", 0, True, "no image carries the label to replace")
    pairs = sorted({(w, b) for (w, b), got in groups_of.items() if moved.intersection(got)})
    words = ", ".join(f"{w} -> {b}" for w, b in pairs[:3]) + (" ..." if len(pairs) > 3 else "")
    return Plan(
        "relabel",
        ops,
        describe=f"Relabeled {plural(len(moved), 'image')} ({words})",
        changed=len(moved),
        change=Change("labels", touched(sorted(moved)), tuple({n for p in pairs for n in p})),
    )


def _removed_ids(plan: Plan) -> list[str]:
    """The images a remove_label plan takes the label off (its ``label-`` operation)."""
    return next(op["ids"] for op in plan.ops if op["op"] == "label-")
