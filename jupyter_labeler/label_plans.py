"""Planners of the label and split actions: what ``add_label``, ``remove_label``,
``rename_label``, ``delete_label``, ``set_usage`` and ``split`` write.

Each is a plain function of the state, called with the Dataset's lock held: ``(state, author,
...) -> Plan``, or an :class:`~.results.ActionResult` when there is nothing to do (its message
says why). The Dataset records the plan as one journal event (see :mod:`jupyter_labeler.plan`).
On datasets with a team, the team's part of an action comes from :mod:`jupyter_labeler.team`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from . import team as _team
from .errors import UnknownLabelError
from .events import MAX_TEXT_CHARS
from .plan import Plan
from .results import ActionResult, Change, touched
from .splits import USAGES, normalize_usage, plan_split
from .state import State, member
from .times import now
from .views import resolve
from .words import plural

__all__ = [
    "DELETE_MODES",
    "add_label",
    "delete_label",
    "remove_label",
    "rename_label",
    "set_usage",
    "split",
]

DELETE_MODES = ("label_only", "with_images", "with_images_and_files")


def add_label(
    state: State,
    author: str,
    name: str,
    ids: Iterable[str] | str,
    *,
    annotated_by: list[str] | None = None,
    created_at: list[str] | None = None,
) -> Plan | ActionResult:
    """Give the (checked) label ``name`` to the images ``ids``, as ``author``, or as
    ``annotated_by`` / ``created_at`` say per id (see ``Dataset.add_label``)."""
    given = [ids] if isinstance(ids, str) else list(ids)
    for what, values in (("annotated_by", annotated_by), ("created_at", created_at)):
        if values is not None and len(values) != len(given):
            raise ValueError(f"{what} has {len(values)} values for {len(given)} ids")
    codes = resolve(state, given)
    # On images given to several annotators, each one's own label is kept apart.
    own = _team.own_add_op(state, author, name, codes) if state.team else None
    current = state.labels.get(name)
    if current is not None and len(current):
        codes = codes[~member(codes, current.codes)]  # binary search: no sort of the label
    if current is not None and not len(codes) and own is None:
        return ActionResult("add_label", 0, True, f"every image already has {name}")
    op: dict[str, Any] = {
        "op": "label+",
        "label": name,
        "ids": state.ids[codes].tolist(),
        "by": author,
        "at": now(),
        "_codes": codes,
        "_state": state,
    }
    # The codes come sorted: take each image's own value, by id. Texts are bounded as every
    # reader of the journal bounds them, so that all see the same annotation.
    for key, values in (("by", annotated_by), ("at", created_at)):
        if values is not None:
            of = dict(zip(given, values, strict=True))
            op[key] = [str(of[i])[:MAX_TEXT_CHARS] for i in op["ids"]]
    ops = [op, own] if own else [op]
    if state.team:  # a rejected image its annotator relabels goes back to review
        changed = np.union1d(codes, state.lookup(own["ids"]) if own else codes)
        again = _team.review_again_op(state, author, changed)
        ops += [again] if again else []
    n = len(codes) or len(own["ids"] if own else ())
    return Plan(
        "add_label",
        ops,
        describe=f"Added {name} to {plural(n, 'image')}" + _team.back_to_review_note(ops),
        changed=n,
        change=Change("labels", touched(op["ids"]), (name,)),
    )


def remove_label(
    state: State, author: str, name: str, ids: Iterable[str] | str
) -> Plan | ActionResult:
    """Take the label ``name`` off the images ``ids``, as ``author``."""
    if name not in state.labels:
        raise UnknownLabelError(name)
    codes = resolve(state, ids)
    codes = codes[member(codes, state.labels[name].codes)]
    if not len(codes):
        return ActionResult("remove_label", 0, True, f"no selected image has {name}")
    # On a shared image an annotator withdraws only their own label (see team.py).
    own = _team.plan_remove(state, author, name, codes)
    op = {
        "op": "label-",
        "label": name,
        "ids": state.ids[codes].tolist(),
        "_codes": codes,
        "_state": state,
    }
    ops = [*own, op]
    if state.team:  # as in add_label
        changed = _team.changed_by_removal(state, author, name, codes, own)
        again = _team.review_again_op(state, author, changed)
        ops += [again] if again else []
    n = len(codes)
    return Plan(
        "remove_label",
        ops,
        describe=f"Removed {name} from {plural(n, 'image')}" + _team.back_to_review_note(ops),
        changed=n,
        change=Change("labels", touched(op["ids"]), (name,)),
    )


def rename_label(state: State, old: str, new: str) -> Plan | ActionResult:
    """Rename ``old`` to the (checked) name ``new``, merging the two when ``new`` exists."""
    if old not in state.labels:
        raise UnknownLabelError(old)
    if old == new:
        return ActionResult("rename_label", 0, True, "the name is unchanged")
    n = len(state.labels[old])
    images = plural(n, "image")
    merge = new in state.labels
    return Plan(
        "rename_label",
        [{"op": "rename", "old": old, "new": new}],
        describe=f"Merged {old} into {new} ({images})"
        if merge
        else f"Renamed {old} to {new} ({images})",
        changed=n,
        change=Change("labels", None, (old, new)),
    )


def delete_label(state: State, name: str, mode: str = "label_only") -> Plan:
    """Delete the label ``name`` in one of :data:`DELETE_MODES` (see ``Dataset.delete_label``).

    With ``"with_images_and_files"`` the plan names the source files to delete (a ``files-``
    operation) and cannot be undone."""
    if mode not in DELETE_MODES:
        raise ValueError(f"mode must be one of {', '.join(DELETE_MODES)}; not {mode!r}")
    labelset = state.labels.get(name)
    if labelset is None:
        raise UnknownLabelError(name)
    ops: list[dict[str, Any]] = []
    only: np.ndarray = np.empty(0, np.int64)
    if mode != "label_only" and len(labelset):
        others = np.zeros(state.n_rows, dtype=bool)
        for other, ls in state.labels.items():
            if other != name:
                others[ls.codes] = True
        only = labelset.codes[~others[labelset.codes]]
    paths = state.paths[only].tolist()
    if len(only):
        ops.append(
            {"op": "images-", "ids": state.ids[only].tolist(), "_codes": only, "_state": state}
        )
    ops.append({"op": "drop", "label": name})
    irreversible = ""
    if mode == "with_images_and_files" and paths:
        ops.append({"op": "files-", "paths": paths})
        irreversible = f"deleting {name} also deleted {len(paths)} source files"
    describe = f"Deleted label {name}"
    if len(only):
        describe += f" and {len(only)} image{'s' if len(only) != 1 else ''} that had only it"
        if mode == "with_images_and_files":
            describe += " (source files deleted)"
    return Plan(
        "delete_label",
        ops,
        describe=describe,
        changed=len(labelset),
        change=Change("images" if len(only) else "labels", None, (name,)),
        irreversible=irreversible,
    )


def set_usage(state: State, ids: Iterable[str] | str, usage: str | None) -> Plan | ActionResult:
    """Put the images ``ids`` in the part ``usage`` of the split (see ``Dataset.set_usage``)."""
    value = normalize_usage(usage)
    codes = resolve(state, ids)
    codes = codes[state.usage[codes] != value]
    n = len(codes)
    if not n:
        return ActionResult("set_usage", 0, True, "no image changes its part")
    op = {"op": "usage", "ids": state.ids[codes].tolist(), "usage": value}
    return Plan(
        "set_usage",
        [op],
        describe=f"Put {plural(n, 'image')} in {value or 'no part'}",
        changed=n,
        change=Change("images", touched(op["ids"])),
    )


def split(state: State, eval: float, test: float, seed: int, reassign: bool) -> Plan | ActionResult:
    """Split the labeled images into TRAIN, EVAL and TEST, stratified per label (see
    ``Dataset.split`` and :func:`~.splits.plan_split`)."""
    codes, which, _, _ = state.label_codes_long()
    live = state.alive[codes]
    codes, which = codes[live], which[live]
    sizes = np.asarray([len(ls) for ls in state.labels.values()], dtype=np.int64)
    # Each image's rarest label: sort its pairs by label size, keep the first.
    order = np.lexsort((which, sizes[which] if len(which) else which, codes))
    codes, which = codes[order], which[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = codes[1:] != codes[:-1]
    codes, strata = codes[first], which[first]
    changed, usage = plan_split(
        codes, strata, state.usage[codes], eval=eval, test=test, seed=seed, reassign=reassign
    )
    n = len(changed)
    if not n:
        return ActionResult("split", 0, True, "every labeled image already has its part")
    op = {"op": "usage", "ids": state.ids[changed].tolist(), "usage": usage.tolist()}
    parts = ", ".join(f"{int((usage == p).sum())} {p}" for p in USAGES if (usage == p).any())
    return Plan(
        "split",
        [op],
        describe=f"Split {plural(n, 'image')}: {parts}",
        changed=n,
        change=Change("images", touched(op["ids"])),
    )
