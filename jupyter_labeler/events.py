"""The journal's events: their format, the checks they must pass, how they change the state,
and the operations that undo them.

An event is one user action, one JSON object::

    {"v": 2, "action": "add_label", "author": "alice", "time": "2026-11-28 10:00:00",
     "ops": [{"op": "label+", "label": "roses", "ids": ["a1b2...", ...],
              "by": "alice", "at": "2026-11-28 10:00:00"}]}

Operations (``op``):

==========  =================================================================================
``label``   make label ``label`` exist (with no images)
``label+``  give ``label`` to ``ids``; ``by`` / ``at`` are one text or a list aligned with ``ids``;
            ``extra`` maps an id to unknown annotation fields kept from a foreign manifest
``label-``  take ``label`` off ``ids``
``drop``    delete ``label``; with ``"if_empty": true`` only while no image carries it
``rename``  rename ``old`` to ``new`` everywhere (merging into ``new`` when it exists)
``move``    move ``old`` to ``new`` on ``ids`` only; ``"drop_empty": true`` then deletes ``old``
            if no image carries it any more (when all of ``old`` moves to a new name, this is a
            rename that keeps the label's place)
``images+`` add ``rows`` (``id``, ``path``, ``size``, ``usage``, ``added_at``, ``extra``)
``images-`` remove the images ``ids`` (their labels go with them)
``files-``  a record that source files were deleted (nothing to apply)
``usage``   set the ``usage`` (train / eval / test part) of ``ids``: one text, or a list aligned
            with ``ids`` (``""`` for none)
``assign``  the annotators of each image in ``ids`` become the ``to`` given for it (one text, or
            a list aligned with ``ids``, which may name an image several times; ``""`` for none)
``review``  set the ``review`` (``accepted``, ``rejected``, ``""`` for none) of ``ids``, with
            ``by``, ``at`` and ``reason``: each one text or a list aligned with ``ids``; an
            annotator's ``label+`` / ``label-`` on rejected images of theirs comes with one
            setting them back to ``""`` (never inferred when reading)
``own+``    record that annotator ``by`` (one text or a list aligned with ``ids``) gave ``label``
            to ``ids``, apart from the other annotators of those images (``at``: when)
``own-``    take those records off again
``checked`` mark the annotations of ``label`` on ``ids`` as checked by ``by`` at ``at`` (one
            text or a list aligned with ``ids``; ``by`` empty takes the mark off): see
            :mod:`jupyter_labeler.checked`
==========  =================================================================================

``assign``, ``review``, ``own+``, ``own-`` (team labeling, :mod:`jupyter_labeler.team`) and
``checked`` came later within version 2: a reader that predates them reports each as an
operation of an unknown kind and applies the rest of its event.

Format versions: 1 had every operation but ``move``, ``usage`` and ``if_empty``; 2 (written
now) adds them
(the first two so that undo reverts only its author's own changes: undoing the creation of a
label no longer
drops it when another annotator has used it since; undoing a rename moves back only the images
the rename moved). Version 1 journals open unchanged.

Events from the store are never trusted: :func:`check_event` refuses a malformed object, a
malformed operation, a label name that breaks the naming rules, or an image path that leaves
the source folder (:mod:`jupyter_labeler.paths`), each as a sentence for ``Dataset.problems``;
the rest of the event, and of the journal, still applies.

Team operations and ``checked`` also follow rules that depend on the state they apply to
(:func:`apply_ops` with ``rules``, see :func:`~jupyter_labeler.team.check_review` and
:func:`~jupyter_labeler.team.check_own_add`). Their writer applies them so too, and every
reader applies events in the same order, so all agree:

- ``review``: nobody reviews an image assigned to them. A review is in its event author's name
  (``by`` absent or that author), except one that puts back exactly (``review``, ``by``,
  ``at``, ``reason``) a review the image held before (its last few, kept in snapshots too), or
  one of an image that an ``images+`` of the same event brought back: that is what an undo
  does, and all it may do in another reviewer's name. ``""`` (back to review) comes from anyone
  the image is not assigned to; from one of its annotators, it cannot take back an acceptance.
- ``own+``: only one of the several annotators an image is assigned to has own labels on it,
  only of labels the image carries, and in their own name; another annotator's own label is
  accepted only when it puts back what the same event took off: the image (``images+``), the
  label on it (``label+``), that own label (``own-``) or that annotator's assignment
  (``assign``). ``own-`` takes own labels off in anyone's name, as a reviewer's removal of a
  label takes it off every annotator's.
- ``assign`` takes off an image the review of an annotator it is now assigned to, and the own
  labels of annotators who no longer share it; its undo puts them back.

- ``checked`` (:func:`~jupyter_labeler.checked.check_checked`): a mark is in its event
  author's name, and is set only on a label with none (the first check stays), so an undo puts
  back the mark the label had before (none) by taking the mark off, which only its author does;
  a mark's time later than its event's name is read as that name's time, which the store's
  own clock bounds.
- ``label+`` (:func:`~jupyter_labeler.checked.check_label_marks`): a checked mark riding in the
  annotation fields it gives back is kept only when it is in the event author's name; else the
  label is given without it.

What the rules refuse is named in ``Dataset.problems`` (one sentence per kind, with the first
image) and left out; the rest of the operation applies. Anyone who can write to the bucket can
still write an event under any author's name: the rules keep what each event says consistent
with its author, not the author's name true.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import team as _team
from .checked import apply_checked, check_checked, check_label_marks
from .names import label_problem
from .paths import image_path_problem
from .state import ImageRows, LabelSet, State, member

__all__ = [
    "FORMAT_VERSION",
    "MAX_TEXT_CHARS",
    "OPS",
    "Applied",
    "apply_event",
    "apply_ops",
    "check_event",
    "restore_op",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
OPS = (
    "label",
    "label+",
    "label-",
    "drop",
    "rename",
    "move",
    "images+",
    "images-",
    "files-",
    "usage",
    "assign",
    "review",
    "own+",
    "own-",
    "checked",
)
# Texts of an event that are not label names (authors, times, ids, usage) have no rule of their
# own, but a bound: a hostile object must not put megabytes into every table and manifest line.
MAX_TEXT_CHARS = 256
_MAX_TEXT = MAX_TEXT_CHARS
_MAX_ID = 1024
# A malformed object may hold a million bad rows: report the first few of each object.
_MAX_ROW_PROBLEMS = 5


class _Refused(ValueError):
    """An operation, or a part of one, that cannot be applied; the message says why."""


# -- checking ----------------------------------------------------------------------------------
def _label(op: dict[str, Any], key: str = "label") -> str:
    name = op.get(key)
    if key not in op:
        raise _Refused(f"has no {key!r}")
    problem = label_problem(name)
    if problem is not None:
        shown = (
            repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40]) + "…"
        )
        raise _Refused(f"label {shown} breaks the naming rules ({problem})")
    assert isinstance(name, str)
    return name.strip()


def _text(value: Any, what: str, limit: int = _MAX_TEXT) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Refused(f"{what} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise _Refused(f"{what} is longer than {limit} characters")
    return value


def _ids(op: dict[str, Any], key: str = "ids") -> list[str]:
    ids = op.get(key, [])
    if not isinstance(ids, list):
        raise _Refused(f"{key!r} must be a list of image ids, not {type(ids).__name__}")
    for value in ids:
        if not isinstance(value, str) or not value or len(value) > _MAX_ID:
            raise _Refused(f"{key!r} holds {_short(value)}, which is not an image id")
    return ids


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _per_image(value: Any, what: str, n: int) -> str | list[str]:
    """``by`` or ``at``: one text for every image, or a list with one text per image."""
    if isinstance(value, list):
        if len(value) != n:
            raise _Refused(f"{what!r} has {len(value)} entries for {n} images")
        return [_text(v, what) for v in value]
    return _text(value, what)


def _extra(value: Any) -> dict[str, dict[str, Any]] | None:
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise _Refused(f"'extra' must be an object, not {type(value).__name__}")
    for key, fields in value.items():
        if not isinstance(key, str) or not isinstance(fields, dict):
            raise _Refused("'extra' must map image ids to objects")
    return value


@dataclass
class _Checked:
    ops: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _check_rows(
    rows: Any, where: str, exclude: Sequence[str], problems: list[str]
) -> list[dict[str, Any]]:
    if not isinstance(rows, list):
        raise _Refused(f"'rows' must be a list of images, not {type(rows).__name__}")
    good: list[dict[str, Any]] = []
    refused = 0
    for number, row in enumerate(rows, start=1):
        try:
            if not isinstance(row, dict):
                raise _Refused("is not an object")
            image_id = row.get("id")
            if not isinstance(image_id, str) or not image_id or len(image_id) > _MAX_ID:
                raise _Refused(f"has no usable 'id' ({_short(image_id)})")
            path = row.get("path")
            problem = image_path_problem(path, exclude=exclude)
            if problem is not None:
                raise _Refused(f"path {_short(path)} refused: {problem}")
            size = row.get("size") or 0
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise _Refused(f"'size' must be a whole number of bytes, not {_short(size)}")
            extra = row.get("extra")
            if extra is not None and not isinstance(extra, dict):
                raise _Refused("'extra' must be an object")
            good.append(
                {
                    "id": image_id,
                    "path": path,
                    "size": size,
                    "usage": _text(row.get("usage"), "'usage'"),
                    "added_at": _text(row.get("added_at"), "'added_at'"),
                    **({"extra": extra} if extra else {}),
                }
            )
        except _Refused as exc:
            refused += 1
            if refused <= _MAX_ROW_PROBLEMS:
                problems.append(f"{where}: image row {number} {exc}; that image was skipped")
    if refused > _MAX_ROW_PROBLEMS:
        problems.append(f"{where}: {refused - _MAX_ROW_PROBLEMS} more image rows were skipped")
    return good


def _check_op(op: Any, where: str, exclude: Sequence[str], problems: list[str]) -> dict[str, Any]:
    """The operation as it will be applied (cleaned), or _Refused saying why not."""
    if not isinstance(op, dict):
        raise _Refused(f"is {_short(op)}, not an operation object")
    kind = op.get("op")
    if kind not in OPS:
        raise _Refused(f"is of an unknown kind {_short(kind)}")
    if kind == "label":
        return {"op": kind, "label": _label(op)}
    if kind == "label+":
        ids = _ids(op)
        out: dict[str, Any] = {
            "op": kind,
            "label": _label(op),
            "ids": ids,
            "by": _per_image(op.get("by"), "by", len(ids)),
            "at": _per_image(op.get("at"), "at", len(ids)),
        }
        extra = _extra(op.get("extra"))
        if extra:
            out["extra"] = extra
        if "by" not in op:
            del out["by"]
        if "at" not in op:
            del out["at"]
        return out
    if kind == "label-":
        return {"op": kind, "label": _label(op), "ids": _ids(op)}
    if kind == "drop":
        if_empty = op.get("if_empty", False)
        if not isinstance(if_empty, bool):
            raise _Refused("'if_empty' must be true or false")
        return {"op": kind, "label": _label(op), "if_empty": if_empty}
    if kind == "rename":
        return {"op": kind, "old": _label(op, "old"), "new": _label(op, "new")}
    if kind == "move":
        drop_empty = op.get("drop_empty", False)
        if not isinstance(drop_empty, bool):
            raise _Refused("'drop_empty' must be true or false")
        return {
            "op": kind,
            "old": _label(op, "old"),
            "new": _label(op, "new"),
            "ids": _ids(op),
            "drop_empty": drop_empty,
        }
    if kind == "images+":
        return {"op": kind, "rows": _check_rows(op.get("rows", []), where, exclude, problems)}
    if kind == "images-":
        return {"op": kind, "ids": _ids(op)}
    if kind == "usage":
        ids = _ids(op)
        return {"op": kind, "ids": ids, "usage": _per_image(op.get("usage"), "usage", len(ids))}
    if kind == "assign":
        ids = _ids(op)
        to = _per_image(op.get("to"), "to", len(ids))
        for name in to if isinstance(to, list) else [to]:
            if name and (problem := _team.annotator_problem(name)) is not None:
                raise _Refused(problem)
        return {"op": kind, "ids": ids, "to": to}
    if kind == "review":
        ids = _ids(op)
        review = _per_image(op.get("review"), "review", len(ids))
        for value in review if isinstance(review, list) else [review]:
            if value not in _team.REVIEWS:
                raise _Refused(f"'review' must be accepted, rejected or empty, not {_short(value)}")
        out = {"op": kind, "ids": ids, "review": review}
        for key in ("by", "at", "reason"):
            if key in op:
                out[key] = _per_image(op.get(key), key, len(ids))
        return out
    if kind in ("own+", "own-"):
        ids = _ids(op)
        out = {"op": kind, "label": _label(op), "ids": ids}
        for key in ("by", "at"):
            if key in op:
                out[key] = _per_image(op.get(key), key, len(ids))
        given = out.get("by", "x")  # absent: the event's author
        for name in given if isinstance(given, list) else [given]:
            if (problem := _team.annotator_problem(name)) is not None:
                raise _Refused(problem)
        return out
    if kind == "checked":
        ids = _ids(op)
        out = {"op": kind, "label": _label(op), "ids": ids}
        for key in ("by", "at"):
            if key in op:
                out[key] = _per_image(op.get(key), key, len(ids))
        given = out.get("by", "")
        for name in given if isinstance(given, list) else [given]:
            if name and (problem := _team.annotator_problem(name)) is not None:
                raise _Refused(problem)
        return out
    return {"op": "files-"}  # a record only: its paths are never used


def check_event(event: Any, *, where: str, exclude: Sequence[str] = ()) -> _Checked:
    """The operations of ``event`` that can be applied, and a problem sentence for each other.

    ``where`` names the object (its URL) in the sentences; ``exclude`` lists folders inside the
    source folder that hold no images (the label output).
    """
    checked = _Checked()
    if not isinstance(event, dict) or not isinstance(event.get("ops"), list):
        checked.problems.append(f"{where}: not an event object (no list of 'ops'); skipped")
        return checked
    for index, op in enumerate(event["ops"], start=1):
        try:
            checked.ops.append(
                _check_op(op, f"{where} operation {index}", exclude, checked.problems)
            )
        except _Refused as exc:
            checked.problems.append(f"{where}: operation {index} {exc}; that operation was skipped")
    return checked


# -- applying ----------------------------------------------------------------------------------
@dataclass
class Applied:
    """What applying an event did: the operations applied (as the rules left them), those
    that undo them, and what was refused (``problems``; of them, what the team rules refused
    is also in ``refused``)."""

    ops: list[dict[str, Any]] = field(default_factory=list)
    inverse: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _event_text(event: Any, key: str) -> str:
    value = event.get(key, "") if isinstance(event, dict) else ""
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else ""


def apply_event(state: State, event: Any, *, where: str, exclude: Sequence[str] = ()) -> Applied:
    """Check ``event`` (from the store: never trusted) and apply what passes to ``state``."""
    checked = check_event(event, where=where, exclude=exclude)
    applied = apply_ops(state, checked.ops, event, where=where, rules=True)
    applied.problems[:0] = checked.problems
    return applied


def apply_ops(
    state: State,
    ops: list[dict[str, Any]],
    event: Any,
    *,
    where: str = "this action",
    rules: bool = False,
) -> Applied:
    """Apply operations already checked (or made by this process) to ``state``.

    With ``rules`` (an event's operations, read or written: every reader must apply them
    alike) the team operations also pass the rules that depend on the state (see the module
    docstring); what they refuse is reported in ``problems``. Without it (the operations that
    undo what was applied here, to put a late event in its place) they apply as they are.

    Returns the operations that undo them, in the order to apply. An operation that fails
    anyway (a bug, not bad input: that was refused by :func:`check_event`) is reported in
    ``problems`` and the others still apply.
    """
    result = Applied()
    inverses: list[list[dict[str, Any]]] = []
    default_by, default_at = _event_text(event, "author"), _event_text(event, "time")
    so_far = _team.SoFar() if rules else None
    latest = _named_time(where)
    for index, op in enumerate(ops, start=1):
        try:
            if so_far is not None and (op["op"] in _RULES or op["op"] in _MARKS):
                if op["op"] == "checked":
                    allowed, refused = check_checked(state, op, default_by, default_at, latest)
                elif op["op"] == "label+":
                    allowed, refused = check_label_marks(op, default_by)
                else:
                    allowed, refused = _RULES[op["op"]](state, op, default_by, default_at, so_far)
                result.refused += [f"{where}: operation {index}: {why}" for why in refused]
                result.problems += result.refused[len(result.refused) - len(refused) :]
                if allowed is None:
                    continue
                op = allowed
            inverses.append(_apply_op(state, op, default_by, default_at))
            result.ops.append(op)
            if so_far is not None:
                so_far.note(state, op, inverses[-1])
        except Exception as exc:
            log.exception("operation %s of %s could not be applied", index, where)
            result.problems.append(
                f"{where}: operation {index} could not be applied "
                f"({type(exc).__name__}: {exc}); skipped"
            )
    result.inverse = [inv for group in reversed(inverses) for inv in group]
    return result


def _codes(state: State, op: dict[str, Any]) -> np.ndarray:
    given = op.get("_codes")
    # The codes a planner found name rows of the state it planned on ("_state"): a state read
    # again meanwhile numbers its rows anew, and then the ids say which images.
    if given is not None and op.get("_state") is state:
        return np.asarray(given)
    codes, _missing = state.codes_of(op.get("ids", []))
    return codes


def _apply_op(
    state: State, op: dict[str, Any], default_by: str, default_at: str
) -> list[dict[str, Any]]:
    kind = op["op"]
    handler = _HANDLERS.get(kind)
    if handler is None:
        log.warning("unknown journal operation %r skipped", kind)
        return []
    return handler(state, op, default_by, default_at)


def _ids_of(state: State, codes: np.ndarray) -> list[str]:
    return state.ids[codes].tolist()


def _op_label(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    if state.ensure_label(op["label"]):
        return [{"op": "drop", "label": op["label"], "if_empty": True}]
    return []


def _op_label_add(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    name = op["label"]
    created = name not in state.labels
    by_value, at_value = op.get("by", by), op.get("at", at)
    if isinstance(by_value, list) or isinstance(at_value, list):
        aligned = state.lookup(op.get("ids", []))
        keep = aligned >= 0
        codes = aligned[keep]
        by_codes: Any = (
            state.authors.codes(np.asarray(by_value, dtype=object)[keep])
            if isinstance(by_value, list)
            else state.authors.code(by_value)
        )
        at_codes: Any = (
            state.times.codes(np.asarray(at_value, dtype=object)[keep])
            if isinstance(at_value, list)
            else state.times.code(at_value)
        )
    else:
        codes = _codes(state, op)
        by_codes, at_codes = state.authors.code(by_value), state.times.code(at_value)
    extra = None
    if op.get("extra"):
        lookup = state.lookup(list(op["extra"]))
        extra = {
            int(c): e for c, e in zip(lookup.tolist(), op["extra"].values(), strict=True) if c >= 0
        }
    added = state.add_label(name, codes, by_codes, at_codes, extra)
    inverse: list[dict[str, Any]] = []
    if len(added):
        # A planned op whose every image was added (the usual case) names them already, in
        # this order: its ids are reused rather than made again as strings.
        planned = op.get("_codes") is not None and op.get("_state") is state
        given: Any = op.get("ids")
        same = (
            planned
            and isinstance(given, list)
            and len(given) == len(codes)
            and np.array_equal(added, codes)
        )
        ids = list(given) if same else _ids_of(state, added)
        inverse.append({"op": "label-", "label": name, "ids": ids})
    if created:
        # Only while still unused: another annotator may have given it to images meanwhile.
        inverse.append({"op": "drop", "label": name, "if_empty": True})
    return inverse


def _op_label_remove(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    removed = state.remove_label(op["label"], _codes(state, op))
    _team.keep_held(state, op["label"], removed.codes)
    return [restore_op(state, op["label"], removed)] if len(removed) else []


def _op_drop(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    name = op["label"]
    current = state.labels.get(name)
    if current is None or (op.get("if_empty") and len(current)):
        return []
    dropped = state.drop_label(name)
    if dropped is None:
        return []
    inverse: list[dict[str, Any]] = [{"op": "label", "label": name}]
    if len(dropped):
        inverse.append(restore_op(state, name, dropped))
    return inverse + _team.on_drop(state, name)


def _op_rename(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    old, new = op["old"], op["new"]
    if old not in state.labels or old == new:
        return []
    moved = state.labels[old]
    if new not in state.labels:
        _team.on_rename(state, old, new)
        state.rename_label(old, new)
        # Undo moves back just these images: another annotator may give the new name to
        # others before this is undone, and those keep it. The move takes the own labels
        # of those images back with them (one withdrawn since stays withdrawn).
        return [
            {
                "op": "move",
                "old": new,
                "new": old,
                "ids": _ids_of(state, moved.codes),
                "drop_empty": True,
            },
        ]
    own_before = _team.own_before(state, (old, new))
    _team.on_rename(state, old, new)
    # A merge is undone by giving ``old`` back to its images, and so each annotator's own
    # labels as they were (the merge may have made one of an annotator's two), taking those
    # it made first: one left under the new name would keep it on its image.
    own_inverse = _team.own_undo(state, own_before)
    had_new = np.isin(moved.codes, state.labels[new].codes)
    restore = restore_op(state, old, moved)
    state.rename_label(old, new)
    inverse = [{"op": "label", "label": old}, restore, *own_inverse]
    gained = moved.codes[~had_new]
    if len(gained):
        inverse.append({"op": "label-", "label": new, "ids": _ids_of(state, gained)})
    return inverse


def _op_move(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    old, new, drop_empty = op["old"], op["new"], bool(op.get("drop_empty"))
    current = state.labels.get(old)
    if current is None or old == new:
        return []
    moving = current.codes[member(current.codes, _codes(state, op))]
    created = new not in state.labels
    if created and drop_empty and len(moving) == len(current):
        # All of it moves to a name nobody uses: a rename, which keeps the label's place.
        _team.on_rename(state, old, new, moving)
        state.rename_label(old, new)
        return [
            {
                "op": "move",
                "old": new,
                "new": old,
                "ids": _ids_of(state, moving),
                "drop_empty": True,
            },
        ]
    own_before = _team.own_before(state, (old, new), moving)
    _team.on_rename(state, old, new, moving)
    own_inverse = _team.own_undo(state, own_before, moving)  # as for a merge
    removed = state.remove_label(old, moving)
    state.ensure_label(new)
    had = member(removed.codes, state.labels[new].codes)
    gained = removed.take(~had)
    state.add_label(new, gained.codes, gained.by, gained.at, gained.extra)
    inverse: list[dict[str, Any]] = []
    if drop_empty and not len(state.labels[old]):
        state.drop_label(old)
        inverse.append({"op": "label", "label": old})
    if len(removed):
        inverse.append(restore_op(state, old, removed))
    inverse += own_inverse
    if len(gained):
        inverse.append({"op": "label-", "label": new, "ids": _ids_of(state, gained.codes)})
    if created:
        inverse.append({"op": "drop", "label": new, "if_empty": True})
    return inverse


def _op_images_add(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    rows = ImageRows.from_records(op.get("rows", []))
    added = state.add_images(rows)
    return [{"op": "images-", "ids": _ids_of(state, added)}] if len(added) else []


def _op_images_remove(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    codes = _codes(state, op)
    if not len(codes):
        return []
    rows = state.rows(codes)
    team = _team.team_of_images(state, codes)
    lost = state.remove_images(codes)
    if state.team is not None:
        # Their team data goes with them, as from a snapshot: the undo says it all again.
        state.team.forget(codes)
    inverse: list[dict[str, Any]] = [{"op": "images+", "rows": rows.to_records()}]
    inverse += [restore_op(state, name, ls) for name, ls in lost.items()]
    return inverse + team


def _op_files_removed(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    return []


def _op_usage(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    ids = op.get("ids", [])
    aligned = state.lookup(ids)
    keep = aligned >= 0
    value = op.get("usage", "")
    values = np.asarray(value, dtype=object)[keep] if isinstance(value, list) else value
    codes = aligned[keep]
    before = state.set_usage(codes, values)
    changed = before != state.usage[codes]
    if not changed.any():
        return []
    return [
        {"op": "usage", "ids": _ids_of(state, codes[changed]), "usage": before[changed].tolist()}
    ]


_HANDLERS: dict[str, Callable[[State, dict[str, Any], str, str], list[dict[str, Any]]]] = {
    "label": _op_label,
    "label+": _op_label_add,
    "label-": _op_label_remove,
    "drop": _op_drop,
    "rename": _op_rename,
    "move": _op_move,
    "images+": _op_images_add,
    "images-": _op_images_remove,
    "files-": _op_files_removed,
    "usage": _op_usage,
    "assign": _team.apply_assign,
    "review": _team.apply_review,
    "own+": _team.apply_own_add,
    "own-": _team.apply_own_remove,
    "checked": apply_checked,
}


# The team operations whose rules depend on the state (see the module docstring).
_RULES: dict[
    str,
    Callable[
        [State, dict[str, Any], str, str, _team.SoFar],
        tuple[dict[str, Any] | None, list[str]],
    ],
] = {"review": _team.check_review, "own+": _team.check_own_add}
# The operations that may set checked marks (see checked.py): their rules need no SoFar.
_MARKS = ("checked", "label+")

# An event's name, at the end of what ``where`` says (the name, or its object's URL): its time
# is bounded by the store's clock (see journal.AHEAD_LIMIT), where the event's own are not.
_EVENT_NAME = re.compile(r"(?:^|/)([0-9]{13})-[0-9a-z]{1,32}-[0-9]{8}(?:\.json)?$")


def _named_time(where: str) -> str | None:
    """The time of the event named by ``where``, as the journal writes times; None when
    ``where`` names no event (an action not yet named, an undo applied here)."""
    found = _EVENT_NAME.search(where)
    if found is None:
        return None
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(found.group(1)) / 1000))


def restore_op(state: State, name: str, removed: LabelSet) -> dict[str, Any]:
    """A ``label+`` operation giving ``removed`` back exactly (same annotators and times)."""
    authors = np.asarray(state.authors.values, dtype=object)
    times = np.asarray(state.times.values, dtype=object)
    op: dict[str, Any] = {
        "op": "label+",
        "label": name,
        "ids": state.ids[removed.codes].tolist(),
        "by": authors[removed.by].tolist() if len(authors) else [""] * len(removed),
        "at": times[removed.at].tolist() if len(times) else [""] * len(removed),
    }
    if removed.extra:
        op["extra"] = {state.ids[c]: e for c, e in removed.extra.items()}
    return op
