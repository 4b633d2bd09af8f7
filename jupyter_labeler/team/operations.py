"""The journal's team operations, as every reader checks and applies them.

:mod:`jupyter_labeler.events` calls these while it applies an event. ``assign``, ``review``,
``own+`` and ``own-`` change the :class:`~.tables.Team`; each ``apply_*`` returns the
operations that undo what it did. Before a writer's event is applied, :func:`check_review` and
:func:`check_own_add` keep the part of its operations that the team rules allow, so that every
reader of the journal ends with the same team. Label operations touch the team too: a rename
or a move carries the own labels along (:func:`on_rename`, :func:`own_before`,
:func:`own_undo`), a deleted label takes them (:func:`on_drop`), a removed label stays where an
annotator still gives it (:func:`keep_held`), and the undo of an image removal gives the
images their team data back (:func:`team_of_images`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..names import annotator_of
from ..state import member, sorted_unique
from .tables import REVIEWS, Team, annotator_problem, intern_texts, pair_key, team_of

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "SoFar",
    "apply_assign",
    "apply_own_add",
    "apply_own_remove",
    "apply_review",
    "check_own_add",
    "check_review",
    "keep_held",
    "on_drop",
    "on_rename",
    "own_before",
    "own_undo",
    "team_of_images",
]

_I64 = np.empty(0, dtype=np.int64)


# -- the rules team operations follow when they are read (called by events.py) -------------------
@dataclass
class SoFar:
    """What the operations of one event applied so far gave back (see
    :mod:`jupyter_labeler.events`): the
    images ``images+`` revived, per label the images ``label+`` gave it, per label the
    (image, annotator) keys of the own labels ``own-`` took off, and the (image, annotator)
    pairs ``assign`` made. An undo may put back the team data of these, in other annotators'
    names, and of nothing else. The images of ``images+`` and ``label+`` (which may be a
    million) are looked up only when an ``own+`` or ``review`` asks."""

    taken: dict[str, np.ndarray] = field(default_factory=dict)
    assigned: np.ndarray = field(default_factory=lambda: _I64.copy())
    _revived_ids: list[list[str]] = field(default_factory=list)
    _given_ids: dict[str, list[list[str]]] = field(default_factory=dict)

    def note(self, state: State, op: dict[str, Any], inverse: list[dict[str, Any]]) -> None:
        """Remember what ``op``, just applied and undone by ``inverse``, gave back."""
        kind = op["op"]
        if kind == "label+":
            # the images it names, not only those it added: another action may have given
            # the label back to some meanwhile, and the own labels it held still come back
            self._given_ids.setdefault(op["label"], []).append(op.get("ids", []))
        elif kind == "assign" and state.team is not None:
            # the (image, annotator) pairs it made: those that the undo gives back lack
            team = state.team
            codes = sorted_unique(state.lookup(op.get("ids", [])))
            rows = member(team.a_codes, codes)
            now = pair_key(team.a_codes[rows], team.a_who[rows])
            old = inverse[0] if inverse and inverse[0]["op"] == "assign" else None
            if old is not None:
                named = [n != "" for n in old["to"]]
                before = pair_key(
                    state.lookup([i for i, k in zip(old["ids"], named, strict=True) if k]),
                    state.authors.find_all([n for n in old["to"] if n], -2),
                )
                now = now[~np.isin(now, before)]
            self.assigned = np.union1d(self.assigned, now)
        for inv in inverse:
            if kind == "images+" and inv["op"] == "images-":
                self._revived_ids.append(inv["ids"])
            elif kind == "own-" and inv["op"] == "own+":
                keys = pair_key(state.lookup(inv["ids"]), state.authors.find_all(inv["by"], -2))
                name = inv["label"]
                self.taken[name] = np.union1d(self.taken.get(name, _I64), keys)

    def revived(self, state: State) -> np.ndarray:
        """Sorted codes of the live images that ``images+`` of this event revived."""
        return _live_codes(state, self._revived_ids)

    def given(self, state: State, label: str) -> np.ndarray:
        """Sorted codes of the live images that ``label+`` of this event gave ``label``."""
        return _live_codes(state, self._given_ids.get(label, []))


def _live_codes(state: State, id_lists: list[list[str]]) -> np.ndarray:
    if not id_lists:
        return _I64.copy()
    codes = state.lookup([i for ids in id_lists for i in ids])
    return sorted_unique(codes[codes >= 0])


def _names(values: np.ndarray) -> np.ndarray:
    """Annotator names as the dataset spells them (``human/x/x`` is ``x``)."""
    return np.asarray([annotator_of(v) for v in values.tolist()], dtype=object)


def _refusals(refused: dict[str, list[str]]) -> list[str]:
    """One sentence per reason: how many images, and the first of them."""
    out = []
    for why, ids in refused.items():
        noun = "image" if len(ids) == 1 else "images"
        out.append(f"{why}; {len(ids)} {noun} left as they were (the first: {ids[0]})")
    return out


def check_review(
    state: State, op: dict[str, Any], author: str, at: str, so_far: SoFar
) -> tuple[dict[str, Any] | None, list[str]]:
    """The part of a ``review`` operation of ``author``'s event that the rules allow (None
    for none of it), and a sentence for each kind of refusal.

    - Nobody reviews an image assigned to them.
    - A review is its event's author's, unless it puts back exactly (value, reviewer, time,
      reason) one the image held before, or one of an image this event brought back: what an
      undo does.
    - An image goes back to review (``""``) by anyone not assigned to it, and by one of its
      annotators only from a rejection (their new answer waits for a reviewer).
    """
    codes, keep = _aligned(state, op)
    if not len(codes[keep]):
        return op, []
    ids = np.asarray(op.get("ids", []), dtype=object)[keep]
    author = annotator_of(author)
    authors = state.authors
    given = op.get("by", author)
    reviewers = _per_value(given, keep, annotator_of, object)
    who = _per_value(given, keep, lambda v: authors.find(annotator_of(v), -2), np.int64)
    named = _per_value(given, keep, lambda v: annotator_problem(v) is None, bool)
    whens = _values(op.get("at", at), keep)
    reasons = _values(op.get("reason", ""), keep)
    codes = codes[keep]
    team = state.team
    value = _per_value(op.get("review", ""), keep, REVIEWS.index, np.int8)
    pairs = pair_key(team.a_codes, team.a_who) if team is not None and len(team.a_codes) else _I64
    now = team.reviews_of(codes) if team is not None else np.zeros(len(codes), np.int8)
    me = authors.find(author, -2)
    refused: dict[str, list[str]] = {}

    def refuse(mask: np.ndarray, why: str) -> None:
        if mask.any():
            refused.setdefault(why, []).extend(ids[mask].tolist())

    ok = np.ones(len(codes), dtype=bool)
    values = _values(op.get("review", ""), keep)
    back = value == 0
    # one of its annotators sends an image back to review from a rejection, never from an
    # acceptance: that one waits for nothing more from them
    bad = back & np.isin(pair_key(codes, np.full(len(codes), me)), pairs) & (now == 1)
    refuse(bad, f"{author} is assigned to the image and cannot take back its acceptance")
    ok &= ~bad
    bad = ~back & ~named
    refuse(bad, "a review names no reviewer")
    ok &= ~bad
    own_work = ~back & named & np.isin(pair_key(codes, who), pairs)
    for name in dict.fromkeys(reviewers[own_work].tolist()):
        refuse(
            own_work & (reviewers == name),
            f"{name} reviewed images assigned to them (nobody reviews their own work)",
        )
    ok &= ~own_work
    others = ok & ~back & (reviewers != author)
    if others.any():
        revived = so_far.revived(state)
        times = state.times
        for k in np.flatnonzero(others).tolist():
            code = int(codes[k])
            wanted = (int(value[k]), int(who[k]), times.find(whens[k], -2), reasons[k] or "")
            held = team.held.get(code, []) if team is not None else []
            if bool(member(codes[k : k + 1], revived)[0]) or wanted in held:
                continue
            if team is not None and wanted == team.review_state(code):
                continue
            ok[k] = False
            refused.setdefault(
                f"a review written by {author} names {reviewers[k]} as its reviewer, and the "
                "image never held that review",
                [],
            ).append(str(ids[k]))
    if not refused:
        return op, []
    if not ok.any():
        return None, _refusals(refused)
    allowed = {
        "op": "review",
        "ids": ids[ok].tolist(),
        "review": values[ok].tolist(),
        "by": reviewers[ok].tolist(),
        "at": whens[ok].tolist(),
        "reason": reasons[ok].tolist(),
    }
    return allowed, _refusals(refused)


def check_own_add(
    state: State, op: dict[str, Any], author: str, at: str, so_far: SoFar
) -> tuple[dict[str, Any] | None, list[str]]:
    """The part of an ``own+`` operation of ``author``'s event that the rules allow (None for
    none of it), and a sentence for each kind of refusal.

    An own label is given only by one of the several annotators an image is assigned to, only
    for a label the image carries, and in its event's author's name; in another annotator's
    name only to put back what this same event took off (the image, the label on it, that own
    label itself, or that annotator's assignment), as an undo does.
    """
    codes, keep = _aligned(state, op)
    if not len(codes[keep]):
        return op, []
    label = op["label"]
    ids = np.asarray(op.get("ids", []), dtype=object)[keep]
    author = annotator_of(author)
    who = _names(_values(op.get("by", author), keep))
    when = _values(op.get("at", at), keep)
    codes = codes[keep]
    labelset = state.labels.get(label)
    carries = member(codes, labelset.codes) if labelset is not None else np.zeros(len(codes), bool)
    who_codes = state.authors.find_all(who.tolist(), -2)
    keys = pair_key(codes, who_codes)
    team = state.team
    assigned = (
        np.isin(keys, pair_key(team.a_codes, team.a_who)) & (team.assignee_count(codes) >= 2)
        if team is not None and len(team.a_codes)
        else np.zeros(len(codes), bool)
    )
    back = (
        member(codes, so_far.revived(state))
        | member(codes, so_far.given(state, label))
        | np.isin(keys, so_far.taken.get(label, _I64))
        | np.isin(keys, so_far.assigned)
    )
    mine = who == author
    ok = carries & assigned & (mine | back)
    refused: dict[str, list[str]] = {}
    for k in np.flatnonzero(~ok).tolist():
        if not carries[k]:
            why = f"an own label {label!r} was given to images that do not carry {label!r}"
        elif not assigned[k]:
            why = (
                f"an own label {label!r} names {who[k]}, who is not one of the several "
                "annotators the image is assigned to"
            )
        else:
            why = (
                f"an own label {label!r} written by {author} names {who[k]}, and puts back "
                "nothing the same action took off"
            )
        refused.setdefault(why, []).append(str(ids[k]))
    if not refused:
        return op, []
    if not ok.any():
        return None, _refusals(refused)
    allowed = {
        "op": "own+",
        "label": label,
        "ids": ids[ok].tolist(),
        "by": who[ok].tolist(),
        "at": when[ok].tolist(),
    }
    return allowed, _refusals(refused)


# -- applying operations (called by events.py) ---------------------------------------------------
def _aligned(state: State, op: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The code of each id of ``op`` (-1 for unknown ids) and a mask of the known ones."""
    codes = state.lookup(op.get("ids", []))
    return codes, codes >= 0


def _values(value: Any, keep: np.ndarray) -> np.ndarray:
    if isinstance(value, list):
        return np.asarray(value, dtype=object)[keep]
    out = np.empty(int(keep.sum()), dtype=object)
    out[:] = [value] * len(out)
    return out


def apply_assign(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    """Give each image of an ``assign`` operation the annotators it names (``""``: none);
    returns the operations that undo it, with the reviews and own labels it took off."""
    codes, keep = _aligned(state, op)
    to = _values(op.get("to", ""), keep)
    codes = codes[keep]
    if not len(codes):
        return []
    team = team_of(state)
    named = to != ""
    who = intern_texts(state.authors, to[named])
    targets = sorted_unique(codes)
    old_codes, old_who = team.set_assignment(targets, codes[named], who)
    # Nobody reviews an image assigned to them: a review by a new assignee no longer stands.
    undo_review = _drop_own_reviews(state, team, targets)
    # Own labels are those of an image's several annotators: others' go with the assignment.
    undo_own = _drop_unshared_own(state, team, targets)
    state.mark_changed()
    # Undo gives each image its assignees back: "" for an image that had none; then the
    # reviews and own labels dropped here.
    had = member(targets, old_codes)
    authors = np.asarray(state.authors.values, dtype=object)
    ids = state.ids[old_codes].tolist() + state.ids[targets[~had]].tolist()
    names = (authors[old_who].tolist() if len(old_who) else []) + [""] * int((~had).sum())
    return [{"op": "assign", "ids": ids, "to": names}, *undo_review, *undo_own]


def _drop_unshared_own(state: State, team: Team, codes: np.ndarray) -> list[dict[str, Any]]:
    """Take off ``codes`` the own labels of annotators who are no longer one of the image's
    several assignees; returns the operations that put them back."""
    if not len(team.o_codes):
        return []
    on = member(team.o_codes, codes)
    if not on.any():
        return []
    shared = team.assignee_count(team.o_codes) >= 2
    assigned = np.isin(pair_key(team.o_codes, team.o_who), pair_key(team.a_codes, team.a_who))
    gone = on & ~(shared & assigned)
    if not gone.any():
        return []
    r_codes, r_label, r_who, r_at = team.remove_own(~gone)
    return _own_add_ops(state, r_codes, r_label, r_who, r_at)


def _own_add_ops(
    state: State, codes: np.ndarray, labels: np.ndarray, who: np.ndarray, at: np.ndarray
) -> list[dict[str, Any]]:
    """``own+`` operations giving back these own rows exactly, one per label."""
    authors = np.asarray(state.authors.values, dtype=object)
    times = np.asarray(state.times.values, dtype=object)
    ops = []
    for label in dict.fromkeys(labels.tolist()):
        sel = labels == label
        ops.append(
            {
                "op": "own+",
                "label": label,
                "ids": state.ids[codes[sel]].tolist(),
                "by": authors[who[sel]].tolist(),
                "at": times[at[sel]].tolist(),
            }
        )
    return ops


def _drop_own_reviews(state: State, team: Team, codes: np.ndarray) -> list[dict[str, Any]]:
    """Take off ``codes`` the reviews whose reviewer is now one of the image's assignees;
    returns the operation that puts them back."""
    codes = codes[team.reviews_of(codes) > 0]
    if not len(codes) or not len(team.a_codes):
        return []
    pairs = pair_key(team.a_codes, team.a_who)
    mine = codes[np.isin(pair_key(codes, team.review_by[codes]), pairs)]
    if not len(mine):
        return []
    authors = np.asarray(state.authors.values, dtype=object)
    times = np.asarray(state.times.values, dtype=object)
    undo = {
        "op": "review",
        "ids": state.ids[mine].tolist(),
        "review": [REVIEWS[r] for r in team.review[mine].tolist()],
        "by": authors[team.review_by[mine]].tolist(),
        "at": times[team.review_at[mine]].tolist(),
        "reason": [team.reasons.get(c, "") for c in mine.tolist()],
    }
    for code in mine.tolist():
        team.set_review(code, (0, -1, -1, ""))
    return [undo]


def apply_review(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    """Give each image of a ``review`` operation its review (``""``: none; the one it
    replaces is held, see :meth:`~.tables.Team.set_review`); returns the operation that
    undoes it."""
    codes, keep = _aligned(state, op)
    codes = codes[keep]
    if not len(codes):
        return []
    team = team_of(state)
    team.grow(state.n_rows)
    authors = np.asarray([*state.authors.values, ""], dtype=object)
    times = np.asarray([*state.times.values, ""], dtype=object)
    before = {
        "op": "review",
        "ids": state.ids[codes].tolist(),
        "review": [REVIEWS[r] for r in team.review[codes].tolist()],
        "by": authors[team.review_by[codes]].tolist(),
        "at": times[team.review_at[codes]].tolist(),
        "reason": [team.reasons.get(c, "") for c in codes.tolist()],
    }
    value = _per_value(op.get("review", ""), keep, REVIEWS.index, np.int8)
    on = value > 0
    who = np.full(len(codes), -1, dtype=np.int32)
    when = np.full(len(codes), -1, dtype=np.int32)
    why = np.full(len(codes), "", dtype=object)
    if on.any():
        who[on] = _per_value(op.get("by", by), keep, state.authors.code, np.int32)[on]
        when[on] = _per_value(op.get("at", at), keep, state.times.code, np.int32)[on]
        why[on] = _values(op.get("reason", ""), keep)[on]
        why[on & pd.isna(why)] = ""
    # an image named twice takes its last review, as one after the other would
    last = len(codes) - 1 - np.unique(codes[::-1], return_index=True)[1]
    codes, value, who, when, why = codes[last], value[last], who[last], when[last], why[last]
    old = team.review[codes]
    old_why = np.asarray([team.reasons.get(c, "") for c in codes.tolist()], dtype=object)
    changed = (
        (old != value)
        | (team.review_by[codes] != who)
        | (team.review_at[codes] != when)
        | (old_why != why)
    )
    for k in np.flatnonzero(changed & (old > 0)).tolist():
        code = int(codes[k])
        team.hold(
            code,
            (int(old[k]), int(team.review_by[code]), int(team.review_at[code]), old_why[k]),
        )
    team.review[codes], team.review_by[codes], team.review_at[codes] = value, who, when
    for code, text in zip(codes.tolist(), why.tolist(), strict=True):
        if text:
            team.reasons[code] = text
        elif team.reasons:
            team.reasons.pop(code, None)
    state.mark_changed()
    return [before]


def _per_value(value: Any, keep: np.ndarray, fn: Callable[[Any], Any], dtype: Any) -> np.ndarray:
    """``fn`` of each known image's ``value`` (one text, or a list aligned with the ids),
    called once per distinct value: a review of 100,000 images names one reviewer."""
    n = int(keep.sum())
    if not isinstance(value, list):
        return np.full(n, fn(value), dtype=dtype)
    chosen = np.asarray(value, dtype=object)[keep].tolist()
    done = {v: fn(v) for v in dict.fromkeys(chosen)}
    return np.asarray([done[v] for v in chosen], dtype=dtype)


def apply_own_add(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    """Add the own labels of an ``own+`` operation (checked by :func:`check_own_add` when a
    writer's event is read); returns the operation that takes off those that were new."""
    codes, keep = _aligned(state, op)
    who = _values(op.get("by", by), keep)
    when = _values(op.get("at", at), keep)
    codes = codes[keep]
    if not len(codes):
        return []
    team = team_of(state)
    added = team.add_own(
        codes, op["label"], intern_texts(state.authors, who), intern_texts(state.times, when)
    )
    state.mark_changed()
    if not added.any():
        return []
    return [
        {
            "op": "own-",
            "label": op["label"],
            "ids": state.ids[codes[added]].tolist(),
            "by": who[added].tolist(),
        }
    ]


def apply_own_remove(state: State, op: dict[str, Any], by: str, at: str) -> list[dict[str, Any]]:
    """Take off the own labels of an ``own-`` operation; returns the operation that gives
    them back, with their times."""
    codes, keep = _aligned(state, op)
    who = _values(op.get("by", by), keep)
    codes = codes[keep]
    team = state.team
    if team is None or not len(codes) or not len(team.o_codes):
        return []
    # Vectorized: an undo of a merge takes back one row per shared image.
    distinct, inverse = np.unique(who.astype(str), return_inverse=True)
    who_codes = state.authors.find_all(distinct.tolist())[inverse.reshape(-1)]
    known = who_codes >= 0
    wanted = pair_key(codes[known], who_codes[known])
    hit = (team.o_label == op["label"]) & np.isin(pair_key(team.o_codes, team.o_who), wanted)
    if not hit.any():
        return []
    r_codes, _, r_who, r_at = team.remove_own(~hit)
    state.mark_changed()
    a = np.asarray(state.authors.values, dtype=object)
    t = np.asarray(state.times.values, dtype=object)
    return [
        {
            "op": "own+",
            "label": op["label"],
            "ids": state.ids[r_codes].tolist(),
            "by": a[r_who].tolist(),
            "at": t[r_at].tolist(),
        }
    ]


def on_rename(state: State, old: str, new: str, codes: np.ndarray | None = None) -> None:
    """Own labels follow a rename of ``old`` to ``new`` (on ``codes`` only, for a move)."""
    if state.team is not None:
        state.team.rename_own(old, new, codes)


def own_before(
    state: State, labels: Sequence[str], codes: np.ndarray | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The own rows of ``labels`` (on ``codes`` only, if given), for :func:`own_undo`: per
    label, the sorted (image, annotator) keys and the time of each. None without own rows."""
    team = state.team
    if team is None or not len(team.o_codes):
        return None
    return _own_rows(team, labels, codes)


def _own_rows(
    team: Team, labels: Sequence[str], codes: np.ndarray | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    on = np.ones(len(team.o_codes), dtype=bool)
    if codes is not None:
        on = member(team.o_codes, sorted_unique(np.asarray(codes, dtype=np.int64)))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label in dict.fromkeys(labels):
        hit = on & (team.o_label == label)
        keys = pair_key(team.o_codes[hit], team.o_who[hit])
        order = np.argsort(keys, kind="stable")
        out[label] = keys[order], team.o_at[hit][order]
    return out


def _not_in(keys: np.ndarray, at: np.ndarray, other: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Which of the rows (``keys``, ``at``) have no identical row in ``other`` (sorted keys)."""
    o_keys, o_at = other
    if not len(o_keys):
        return np.ones(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(o_keys, keys), len(o_keys) - 1)
    return ~((o_keys[pos] == keys) & (o_at[pos] == at))


def own_undo(
    state: State,
    before: dict[str, tuple[np.ndarray, np.ndarray]] | None,
    codes: np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The ``own-`` / ``own+`` operations that put the own rows of :func:`own_before`'s labels
    (on ``codes``) back exactly as they were: a rename or a move changes their label, and
    merges an annotator's two labels of an image into one."""
    team = state.team
    if before is None or team is None:
        return []
    after = _own_rows(team, list(before), codes)
    authors = np.asarray(state.authors.values, dtype=object)
    times = np.asarray(state.times.values, dtype=object)
    take, give = [], []
    for label, (b_keys, b_at) in before.items():
        a_keys, a_at = after[label]
        new = a_keys[_not_in(a_keys, a_at, before[label])]
        if len(new):
            take.append(
                {
                    "op": "own-",
                    "label": label,
                    "ids": state.ids[new >> 31].tolist(),
                    "by": authors[new & ((1 << 31) - 1)].tolist(),
                }
            )
        gone = _not_in(b_keys, b_at, after[label])
        if gone.any():
            keys = b_keys[gone]
            give.append(
                {
                    "op": "own+",
                    "label": label,
                    "ids": state.ids[keys >> 31].tolist(),
                    "by": authors[keys & ((1 << 31) - 1)].tolist(),
                    "at": times[b_at[gone]].tolist(),
                }
            )
    # first take the rows the action made: one that stayed would keep its label on the image
    return take + give


def team_of_images(state: State, codes: np.ndarray) -> list[dict[str, Any]]:
    """Operations giving the live images ``codes`` back their assignees, review and own
    labels, for the undo of their removal (applied after the images are back: an operation
    names live images only). The team keeps all of it while the images are gone, but a label
    deleted meanwhile takes its own rows, and a snapshot keeps live images only: the undo
    must say it all itself for a reopened dataset to agree."""
    team = state.team
    if team is None or not len(codes):
        return []
    codes = sorted_unique(np.asarray(codes, dtype=np.int64))
    codes = codes[state.alive[codes]]
    authors = np.asarray([*state.authors.values, ""], dtype=object)
    times = np.asarray([*state.times.values, ""], dtype=object)
    ops: list[dict[str, Any]] = []
    assigned = member(team.a_codes, codes)
    if assigned.any():
        ops.append(
            {
                "op": "assign",
                "ids": state.ids[team.a_codes[assigned]].tolist(),
                "to": authors[team.a_who[assigned]].tolist(),
            }
        )
    reviewed = codes[team.reviews_of(codes) > 0]
    if len(reviewed):
        ops.append(
            {
                "op": "review",
                "ids": state.ids[reviewed].tolist(),
                "review": [REVIEWS[r] for r in team.review[reviewed].tolist()],
                "by": authors[team.review_by[reviewed]].tolist(),
                "at": times[team.review_at[reviewed]].tolist(),
                "reason": [team.reasons.get(c, "") for c in reviewed.tolist()],
            }
        )
    hit = member(team.o_codes, codes) if len(team.o_codes) else np.zeros(0, dtype=bool)
    if hit.any():
        ops += _own_add_ops(
            state, team.o_codes[hit], team.o_label[hit], team.o_who[hit], team.o_at[hit]
        )
    return ops


def on_drop(state: State, name: str) -> list[dict[str, Any]]:
    """Own rows of a deleted label go; returns the operation that gives them back."""
    team = state.team
    if team is None or not len(team.o_codes):
        return []
    hit = team.o_label == name
    if not hit.any():
        return []
    r_codes, _, r_who, r_at = team.remove_own(~hit)
    a = np.asarray(state.authors.values, dtype=object)
    t = np.asarray(state.times.values, dtype=object)
    return [
        {
            "op": "own+",
            "label": name,
            "ids": state.ids[r_codes].tolist(),
            "by": a[r_who].tolist(),
            "at": t[r_at].tolist(),
        }
    ]


def keep_held(state: State, label: str, removed: np.ndarray) -> None:
    """After ``label`` left the images ``removed``: give it back to those whose annotators
    still give it in their own labels (in the first one's name), so that an image always
    shows what each of its annotators said."""
    team = state.team
    if team is None or not len(team.o_codes) or not len(removed):
        return
    held = (team.o_label == label) & member(team.o_codes, sorted_unique(removed))
    if not held.any():
        return
    codes, who, at = team.o_codes[held], team.o_who[held], team.o_at[held]
    first = np.unique(codes, return_index=True)[1]
    state.add_label(label, codes[first], who[first], at[first])
