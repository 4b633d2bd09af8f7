"""Checked marks: an annotator looked at a label that seemed wrong and kept it.

A mark belongs to one annotation (an image's label), so it goes where the annotation goes: it
is kept in the annotation's ``property`` object, under two keys of this package's own::

    {"type": "modelarts/image_classification", "name": "cat", "annotated-by": "human/bob/bob",
     "creation-time": "2026-05-01 10:00:00",
     "property": {"@jupyter_labeler:checked_by": "alice",
                  "@jupyter_labeler:checked_at": "2026-05-03 09:00:00"}}

Snapshots and manifests keep an annotation's fields as they are (see ``docs/formats.md``), so
marks need nothing of their own there, and ModelArts, its SDK and older readers see one more
key in a ``property`` they keep or ignore. A label renamed or merged keeps its marks; a label
taken off an image takes its mark with it (given again, it is a new annotation, unchecked).
Other keys of ``property`` stay; a ``property`` written as JSON text stays text. An annotation
whose ``property`` is neither an object nor the JSON text of one cannot carry a mark: it is left
as it is.

The journal's ``checked`` operation sets the marks of ``label`` on ``ids`` (``by`` and ``at``:
one text, or a list aligned with ``ids``; ``by`` empty takes the mark off, as an undo does).
Images that do not carry the label, and ids of no image, are passed over. Every reader checks
it as the other operations (:mod:`jupyter_labeler.events`): a label name by the naming rules,
ids and texts of bounded length. Every reader also applies it by the rules of
:func:`check_checked`, as the team's operations, so that a mark says no more than its event
may: a mark names its event's author as the one who checked; it is set only on a label that
has none (a mark stands until taken off: the first check stays), so the mark a label had
before its current one is always none, and putting that back (an undo) is taking the mark off,
which only its author does; and its time is never later than its event's, whose name the
store's own clock bounds (:data:`jupyter_labeler.journal.AHEAD_LIMIT`).
What the rules refuse is named once in the dataset's problems and left out; the rest applies.

A mark's time is checked again when marks are read (:func:`checked_pairs`), for marks that came
with no event of their own (a manifest, a snapshot, the annotation fields of a ``label+``): one
that is no time, or more than :data:`~jupyter_labeler.journal.AHEAD_LIMIT` ahead of the store's
clock, is not honoured, and said once in the dataset's problems; so is one whose name or time is
longer than the journal allows (a ``label+`` may bring annotation fields of any size).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from .journal import AHEAD_LIMIT
from .names import annotator_of
from .state import State, member
from .times import parse_times

# as the journal bounds its texts (events.MAX_TEXT_CHARS, which imports this module)
MAX_TEXT = 256

__all__ = [
    "CHECKED_AT",
    "CHECKED_BY",
    "apply_checked",
    "check_checked",
    "check_label_marks",
    "checked_pairs",
    "mark_of",
]

CHECKED_BY = "@jupyter_labeler:checked_by"
CHECKED_AT = "@jupyter_labeler:checked_at"
# A mark dated later than this ahead of the store's clock is not honoured: a writer with a
# wrong clock, or a hostile one, must not date a check in the future. The journal's names are
# held to the same bound.
FUTURE_SLACK = timedelta(seconds=AHEAD_LIMIT)


def _property(fields: dict[str, Any] | None) -> tuple[dict[str, Any] | None, bool]:
    """The annotation's ``property`` as a dict (None when it is not one, nor JSON text of
    one), and whether it was text."""
    value = (fields or {}).get("property")
    if value is None:
        return {}, False
    if isinstance(value, dict):
        return dict(value), False
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None, True
        return (dict(parsed), True) if isinstance(parsed, dict) else (None, True)
    return None, False


def mark_of(fields: dict[str, Any] | None) -> tuple[str, str]:
    """``(by, at)`` of the mark in an annotation's fields; ``("", "")`` when it has none."""
    prop, _ = _property(fields)
    by = (prop or {}).get(CHECKED_BY)
    at = (prop or {}).get(CHECKED_AT)
    if not isinstance(by, str) or not by:
        return "", ""
    return by, at if isinstance(at, str) else ""


def _with_mark(fields: dict[str, Any] | None, by: str, at: str) -> dict[str, Any] | None:
    """The annotation's fields with the mark set (``by`` empty: taken off); None when its
    ``property`` cannot carry one. An empty result means no fields at all."""
    prop, as_text = _property(fields)
    if prop is None:
        return None
    prop.pop(CHECKED_BY, None)
    prop.pop(CHECKED_AT, None)
    if by:
        prop[CHECKED_BY], prop[CHECKED_AT] = by, at
    out = dict(fields or {})
    if prop:
        out["property"] = orjson.dumps(prop).decode() if as_text else prop
    else:
        out.pop("property", None)
    return out


def apply_checked(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    """Apply a (checked) ``checked`` operation; returns the operation that undoes it."""
    name = op["label"]
    labelset = state.labels.get(name)
    ids = op.get("ids", [])
    if labelset is None or not ids:
        return []
    codes = state.lookup(ids)
    by_value, at_value = op.get("by", by), op.get("at", at)
    bys = by_value if isinstance(by_value, list) else [by_value] * len(ids)
    ats = at_value if isinstance(at_value, list) else [at_value] * len(ids)
    carries = (codes >= 0) & member(codes, labelset.codes)
    undo_ids: list[str] = []
    undo_by: list[str] = []
    undo_at: list[str] = []
    for k in np.flatnonzero(carries).tolist():
        code = int(codes[k])
        fields = labelset.extra.get(code)
        before = mark_of(fields)
        new_by, new_at = (bys[k], ats[k]) if bys[k] else ("", "")
        if before == (new_by, new_at):
            continue
        changed = _with_mark(fields, new_by, new_at)
        if changed is None:
            continue
        if changed:
            labelset.extra[code] = changed
        else:
            labelset.extra.pop(code, None)
        undo_ids.append(ids[k])
        undo_by.append(before[0])
        undo_at.append(before[1])
    if not undo_ids:
        return []
    state.mark_changed()
    return [{"op": "checked", "label": name, "ids": undo_ids, "by": undo_by, "at": undo_at}]


def check_checked(
    state: State, op: dict[str, Any], author: str, at: str, latest: str | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The part of a ``checked`` operation of ``author``'s event that the rules allow (None for
    none of it), and a sentence for each kind of refusal. ``at`` is the event's time (for a
    mark without its own); ``latest`` the time of the event's name (None when it has none yet):
    a mark's time is never later than that.

    - A mark names the event's author as the one who checked (``by``): nobody marks a label
      checked in another's name.
    - A mark is set only on a label that has none; on one that has, it is passed over (a race
      of two checks: the first stays). So the mark a label had before its current one is always
      none, and putting that back (an undo) is taking the current mark off: only its author
      may. (An undo that would take off another's mark comes from a race its writer lost: the
      mark it set was never applied.)
    - A mark's time later than ``latest`` is read as ``latest``: the store's own clock bounds
      the event's name (see :data:`~jupyter_labeler.journal.AHEAD_LIMIT`), not its writer's.
    """
    labelset = state.labels.get(op["label"])
    ids = op.get("ids", [])
    if labelset is None or not ids:
        return op, []
    codes = state.lookup(ids)
    carries = (codes >= 0) & member(codes, labelset.codes)
    by_value, at_value = op.get("by", author), op.get("at", at)
    bys = by_value if isinstance(by_value, list) else [by_value] * len(ids)
    ats = at_value if isinstance(at_value, list) else [at_value] * len(ids)
    me = annotator_of(author)
    keep: list[int] = []
    refused: dict[str, list[str]] = {}
    writer = author or "no author"
    for k in np.flatnonzero(carries).tolist():
        held = mark_of(labelset.extra.get(int(codes[k])))[0]
        if bys[k] and held:
            continue  # the first check stays
        if not bys[k] and not held:
            continue  # no mark to take off
        if bys[k] and annotator_of(bys[k]) != me:
            why = (
                f"a checked mark written by {writer} names {bys[k]} as the one who checked "
                "(a mark is its author's own)"
            )
            refused.setdefault(why, []).append(ids[k])
            continue
        if not bys[k] and annotator_of(held) != me:
            why = f"{writer} took off a checked mark of {held} (only its author takes it off)"
            refused.setdefault(why, []).append(ids[k])
            continue
        keep.append(k)
    out_ats = [ats[k] for k in keep]
    if latest is not None and keep:
        when, _ = parse_times([*out_ats, latest])
        late = np.asarray(when[:-1] > when[-1], dtype=bool)
        out_ats = [latest if x else a for a, x in zip(out_ats, late.tolist(), strict=True)]
    lines = [
        f"{why}; {len(got)} {'image' if len(got) == 1 else 'images'} left as they were "
        f"(the first: {got[0]})"
        for why, got in refused.items()
    ]
    if len(keep) == len(ids) and out_ats == ats:
        return op, lines
    if not keep:
        return None, lines
    allowed = {
        "op": "checked",
        "label": op["label"],
        "ids": [ids[k] for k in keep],
        "by": [bys[k] for k in keep],
        "at": out_ats,
    }
    return allowed, lines


def check_label_marks(op: dict[str, Any], author: str) -> tuple[dict[str, Any], list[str]]:
    """A ``label+`` operation of ``author``'s event with the checked marks in its annotation
    fields kept only where they name ``author``, and a sentence when some were not.

    A ``label+`` gives annotations back with their fields (an undo of a removal), and a mark may
    ride in those fields: without this rule a hostile event could take a label off and give it
    back marked as checked by someone else. A mark of another annotator is left out (the label
    itself is given), so an undo by another annotator than the mark's gives the label back
    unchecked: it may be shown as a suspect again, and nothing else is lost.
    """
    extra = op.get("extra")
    if not extra:
        return op, []
    me = annotator_of(author)
    cleaned: dict[str, Any] = {}
    stripped: list[str] = []
    for image_id, fields in extra.items():
        by, _ = mark_of(fields)
        if by and annotator_of(by) != me:
            without = _with_mark(fields, "", "")
            if without is not None:
                stripped.append(image_id)
                if without:
                    cleaned[image_id] = without
                continue
        cleaned[image_id] = fields
    if not stripped:
        return op, []
    writer = author or "no author"
    line = (
        f"a label given back by {writer} carried a checked mark of another annotator (a mark "
        f"is its author's own); the label was given without it on {len(stripped)} "
        f"{'image' if len(stripped) == 1 else 'images'} (the first: {stripped[0]})"
    )
    out = dict(op)
    if cleaned:
        out["extra"] = cleaned
    else:
        out.pop("extra", None)
    return out, [line]


def checked_pairs(state: State, now: datetime) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The (image code, label index) pairs of live images with an honoured mark, and a
    sentence for the marks not honoured (a time that is no time, or more than
    :data:`FUTURE_SLACK` ahead of ``now``, the store's clock)."""
    codes: list[int] = []
    which: list[int] = []
    times: list[str] = []
    long: list[bool] = []  # a name or time longer than the journal allows its texts
    for index, labelset in enumerate(state.labels.values()):
        if not labelset.extra:
            continue
        for code, fields in labelset.extra.items():
            if "property" not in fields:  # most extras (a suggestion's confidence) have none
                continue
            by, at = mark_of(fields)
            if by and state.alive[code]:
                codes.append(code)
                which.append(index)
                times.append(at)
                long.append(len(by) > MAX_TEXT or len(at) > MAX_TEXT)
    problems: list[str] = []
    if not codes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), problems
    too_long = np.asarray(long, dtype=bool)
    when, unreadable = parse_times([t if not x else "" for t, x in zip(times, long, strict=True)])
    late = np.asarray(when > np.datetime64(now + FUTURE_SLACK), dtype=bool)
    bad = too_long | unreadable | late | np.asarray(when.isna(), dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        problems.append(
            f"{int(bad.sum())} checked marks are not honoured: their time is none, no time "
            "or ahead of the store's clock, or a text is too long (the first: "
            f"{times[first][:40]!r} on image {state.ids[codes[first]]} for "
            f"{list(state.labels)[which[first]]})"
        )
    keep = ~bad
    return (
        np.asarray(codes, np.int64)[keep],
        np.asarray(which, np.int64)[keep],
        problems,
    )
