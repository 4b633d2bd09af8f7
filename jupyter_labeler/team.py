"""Team labeling: who labels which image, each annotator's own labels, and reviews.

A dataset that nobody assigns or reviews has no :class:`Team` at all (``State.team`` is None),
so that opening, saving and every view of it cost what they cost before. Once used, it holds
three compact tables keyed by image code (no Python object per image):

- assignments, long: ``(code, annotator)`` pairs sorted by code; an image given to two
  annotators for a quality check has two rows (it is an *overlap* image);
- own labels, long: ``(code, label, annotator, time)`` for overlap images only. The label sets
  of :class:`~.state.State` stay the union that views and counts use; these rows keep what each
  assigned annotator said, so that disagreement stays visible instead of being merged away;
- reviews, one entry per image row: accepted / rejected, by whom, when, and a reason; and per
  reviewed image the reviews it held before (a few, newest last), so that a reader can tell an
  undo putting one of them back from a review written in another reviewer's name.

The journal operations ``assign``, ``review``, ``own+`` and ``own-`` (see :mod:`.events`) change
them; every function here that applies one returns the operations that undo it. Nothing here
does I/O: snapshots store the tables as one small Parquet file (:func:`write_team`,
:func:`read_team`), and manifests carry them in each sample's ``property``
(:func:`property_texts`, :func:`team_from_manifest`): its ``annotation`` list stays what the
image shows, one classification annotation per label, as in a dataset labeled by one person.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .names import annotator_of, label_problem
from .parquet import parquet_file
from .state import member, sorted_unique
from .times import parse_times

if TYPE_CHECKING:
    from .state import State

__all__ = [
    "ACCEPTED",
    "PROPERTY_PREFIX",
    "REJECTED",
    "REVIEWS",
    "Team",
    "annotator_problem",
]

ACCEPTED, REJECTED = "accepted", "rejected"
REVIEWS = ("", ACCEPTED, REJECTED)  # index = the code kept per image
# Keys of a manifest sample's ``property`` that hold the team's data.
PROPERTY_PREFIX = "@jupyter_labeler:"
_ASSIGNED = PROPERTY_PREFIX + "assigned_to"
_REVIEW = PROPERTY_PREFIX + "review"
_REVIEWED_BY = PROPERTY_PREFIX + "reviewed_by"
_REVIEWED_AT = PROPERTY_PREFIX + "reviewed_at"
_REASON = PROPERTY_PREFIX + "review_reason"
# on a shared image: each of its annotators -> {label: when} of their own labels
_LABELS_BY = PROPERTY_PREFIX + "labels_by"
_MAX_NAME = 256
# How many earlier reviews of an image are kept: an undo can put back one of these only.
MAX_HELD = 8

_I64 = np.empty(0, dtype=np.int64)
_I32 = np.empty(0, dtype=np.int32)


def annotator_problem(name: object) -> str | None:
    """Why ``name`` cannot name an annotator (the rule for authors), or None."""
    if not isinstance(name, str):
        return f"an annotator is named by text, not {type(name).__name__}"
    if not name.strip():
        return "an annotator's name cannot be empty"
    if len(name) > _MAX_NAME:
        return f"an annotator's name has at most {_MAX_NAME} characters"
    if name != name.strip():
        return f"an annotator's name has no spaces around it ({name!r:.60})"
    return None


@dataclass
class Team:
    """Assignments, own labels and reviews of one dataset's images (see the module docstring).

    Annotators, reviewers and times are codes into the state's ``authors`` and ``times``.
    """

    a_codes: np.ndarray = field(default_factory=lambda: _I64.copy())
    a_who: np.ndarray = field(default_factory=lambda: _I32.copy())
    o_codes: np.ndarray = field(default_factory=lambda: _I64.copy())
    o_label: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    o_who: np.ndarray = field(default_factory=lambda: _I32.copy())
    o_at: np.ndarray = field(default_factory=lambda: _I32.copy())
    review: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8))
    review_by: np.ndarray = field(default_factory=lambda: _I32.copy())
    review_at: np.ndarray = field(default_factory=lambda: _I32.copy())
    reasons: dict[int, str] = field(default_factory=dict)
    # code -> the reviews it held before, newest last: (review, reviewer, time, reason) codes
    held: dict[int, list[tuple[int, int, int, str]]] = field(default_factory=dict)

    def grow(self, n_rows: int) -> None:
        """Make the per-image review arrays cover ``n_rows`` rows."""
        have = len(self.review)
        if have < n_rows:
            more = n_rows - have
            self.review = np.concatenate([self.review, np.zeros(more, np.int8)])
            self.review_by = np.concatenate([self.review_by, np.full(more, -1, np.int32)])
            self.review_at = np.concatenate([self.review_at, np.full(more, -1, np.int32)])

    def reviews_of(self, codes: np.ndarray) -> np.ndarray:
        """The review code (0 none, 1 accepted, 2 rejected) of each code."""
        out = np.zeros(len(codes), dtype=np.int8)
        inside = codes < len(self.review)
        out[inside] = self.review[codes[inside]]
        return out

    # -- assignments ------------------------------------------------------------------------------
    def assignee_count(self, codes: np.ndarray) -> np.ndarray:
        left = np.searchsorted(self.a_codes, codes, side="left")
        right = np.searchsorted(self.a_codes, codes, side="right")
        return right - left

    def overlap_codes(self) -> np.ndarray:
        """Sorted codes assigned to two or more annotators."""
        if len(self.a_codes) < 2:
            return _I64.copy()
        same = self.a_codes[1:] == self.a_codes[:-1]
        return sorted_unique(self.a_codes[1:][same])

    def assigned_to(self, who: int) -> np.ndarray:
        return sorted_unique(self.a_codes[self.a_who == who])

    def assignees(self, code: int) -> list[int]:
        a = int(np.searchsorted(self.a_codes, code, side="left"))
        b = int(np.searchsorted(self.a_codes, code, side="right"))
        return self.a_who[a:b].tolist()

    def is_assigned(self, codes: np.ndarray, who: int) -> np.ndarray:
        return member(codes, self.assigned_to(who))

    def set_assignment(
        self, codes: np.ndarray, pairs_codes: np.ndarray, pairs_who: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Replace the assignees of ``codes`` with the given pairs; returns the old pairs."""
        hit = member(self.a_codes, codes)
        old = (self.a_codes[hit], self.a_who[hit])
        codes_all = np.concatenate([self.a_codes[~hit], pairs_codes.astype(np.int64)])
        who_all = np.concatenate([self.a_who[~hit], pairs_who.astype(np.int32)])
        # one row per (code, annotator)
        key = codes_all * (1 << 31) + who_all.astype(np.int64)
        _, first = np.unique(key, return_index=True)
        codes_all, who_all = codes_all[first], who_all[first]
        order = np.lexsort((who_all, codes_all))
        self.a_codes, self.a_who = codes_all[order], who_all[order]
        return old

    # -- own labels -------------------------------------------------------------------------------
    def own_mask(self, codes: np.ndarray, label: str, who: np.ndarray) -> np.ndarray:
        """Which own rows are (code in ``codes``, ``label``, annotator in ``who``)."""
        if not len(self.o_codes):
            return np.zeros(0, dtype=bool)
        return (
            member(self.o_codes, sorted_unique(codes))
            & (self.o_label == label)
            & np.isin(self.o_who, who)
        )

    def add_own(self, codes: np.ndarray, label: str, who: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Add own rows not there yet; returns a mask of the given rows that were added."""
        key = _pair_key(codes, who)
        added = np.zeros(len(codes), dtype=bool)
        added[np.unique(key, return_index=True)[1]] = True  # the first of repeated pairs
        if len(self.o_codes):
            sel = self.o_label == label
            added &= ~np.isin(key, _pair_key(self.o_codes[sel], self.o_who[sel]))
        if added.any():
            self.o_codes = np.concatenate([self.o_codes, codes[added].astype(np.int64)])
            self.o_label = np.concatenate(
                [self.o_label, np.full(int(added.sum()), label, dtype=object)]
            )
            self.o_who = np.concatenate([self.o_who, who[added].astype(np.int32)])
            self.o_at = np.concatenate([self.o_at, at[added].astype(np.int32)])
        return added

    def remove_own(self, keep: np.ndarray) -> tuple[np.ndarray, ...]:
        """Keep only the own rows where ``keep``; returns the rows removed."""
        gone = ~keep
        removed = (self.o_codes[gone], self.o_label[gone], self.o_who[gone], self.o_at[gone])
        self.o_codes, self.o_label = self.o_codes[keep], self.o_label[keep]
        self.o_who, self.o_at = self.o_who[keep], self.o_at[keep]
        return removed

    def rename_own(self, old: str, new: str, codes: np.ndarray | None = None) -> None:
        """Own rows of ``old`` (on ``codes`` only, if given) become ``new``."""
        if not len(self.o_codes):
            return
        hit = self.o_label == old
        if codes is not None:
            hit &= member(self.o_codes, sorted_unique(codes))
        if not hit.any():
            return
        self.o_label = self.o_label.copy()
        self.o_label[hit] = new
        # a (code, annotator) that had both keeps one row: the first
        rows = np.flatnonzero(self.o_label == new)
        first = np.unique(_pair_key(self.o_codes[rows], self.o_who[rows]), return_index=True)[1]
        if len(first) < len(rows):
            keep = np.ones(len(self.o_codes), dtype=bool)
            keep[rows] = False
            keep[rows[first]] = True
            self.remove_own(keep)

    def review_state(self, code: int) -> tuple[int, int, int, str]:
        """(review, reviewer, time, reason) of ``code``, as codes; (0, -1, -1, "") for none."""
        if code >= len(self.review) or not self.review[code]:
            return (0, -1, -1, "")
        return (
            int(self.review[code]),
            int(self.review_by[code]),
            int(self.review_at[code]),
            self.reasons.get(code, ""),
        )

    def set_review(self, code: int, value: tuple[int, int, int, str]) -> None:
        """Give ``code`` the review ``value``; the one it replaces joins what it held before."""
        old = self.review_state(code)
        if old == value:
            return
        if old[0]:
            self.hold(code, old)
        self.review[code], self.review_by[code], self.review_at[code] = value[:3]
        if value[0] and value[3]:
            self.reasons[code] = value[3]
        else:
            self.reasons.pop(code, None)

    def hold(self, code: int, review: tuple[int, int, int, str]) -> None:
        """Remember that ``code`` held ``review`` (the newest :data:`MAX_HELD` are kept)."""
        held = self.held.get(code)
        if held is None:
            self.held[code] = [review]
        else:
            held.append(review)
            if len(held) > MAX_HELD:
                del held[0]

    def forget(self, codes: np.ndarray) -> None:
        """Drop every row of the images ``codes`` (removed: their undo says it all again)."""
        codes = sorted_unique(np.asarray(codes, dtype=np.int64))
        if not len(codes):
            return
        keep = ~member(self.a_codes, codes)
        self.a_codes, self.a_who = self.a_codes[keep], self.a_who[keep]
        if len(self.o_codes):
            self.remove_own(~member(self.o_codes, codes))
        inside = codes[codes < len(self.review)]
        self.review[inside] = 0
        self.review_by[inside] = -1
        self.review_at[inside] = -1
        for code in codes.tolist():
            self.reasons.pop(code, None)
            self.held.pop(code, None)

    @property
    def empty(self) -> bool:
        """Whether there is nothing to keep (what reviews held before counts: an undo may put
        one back after the dataset is saved and opened again)."""
        return (
            not len(self.a_codes)
            and not len(self.o_codes)
            and not self.review.any()
            and not self.held
        )


def _pair_key(codes: np.ndarray, who: np.ndarray) -> np.ndarray:
    """One int64 per (image code, annotator code) pair."""
    return np.asarray(codes, dtype=np.int64) * (1 << 31) + np.asarray(who, dtype=np.int64)


def _intern(interner: Any, values: np.ndarray) -> np.ndarray:
    """Codes of many texts, interning each distinct text once (not once per value)."""
    if not len(values):
        return _I32.copy()
    distinct, inverse = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    codes = np.fromiter((interner.code(v) for v in distinct.tolist()), np.int32, len(distinct))
    return codes[inverse.reshape(-1)]


def team_of(state: State) -> Team:
    """The state's team data, made on first use."""
    if state.team is None:
        state.team = Team()
    team: Team = state.team
    return team


# -- the rules team operations follow when they are read (called by events.py) -------------------
@dataclass
class SoFar:
    """What the operations of one event applied so far gave back (see :mod:`.events`): the
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
            now = _pair_key(team.a_codes[rows], team.a_who[rows])
            old = inverse[0] if inverse and inverse[0]["op"] == "assign" else None
            if old is not None:
                named = [n != "" for n in old["to"]]
                before = _pair_key(
                    state.lookup([i for i, k in zip(old["ids"], named, strict=True) if k]),
                    _known(state, [n for n in old["to"] if n]),
                )
                now = now[~np.isin(now, before)]
            self.assigned = np.union1d(self.assigned, now)
        for inv in inverse:
            if kind == "images+" and inv["op"] == "images-":
                self._revived_ids.append(inv["ids"])
            elif kind == "own-" and inv["op"] == "own+":
                keys = _pair_key(state.lookup(inv["ids"]), _known(state, inv["by"]))
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


def _known(state: State, names: Sequence[str]) -> np.ndarray:
    """The author code of each name, -2 for a name never seen (nothing is interned)."""
    index = state.authors._index
    return np.fromiter((index.get(n, -2) for n in names), np.int64, len(names))


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
    index = state.authors._index
    given = op.get("by", author)
    reviewers = _per_value(given, keep, annotator_of, object)
    who = _per_value(given, keep, lambda v: index.get(annotator_of(v), -2), np.int64)
    named = _per_value(given, keep, lambda v: annotator_problem(v) is None, bool)
    whens = _values(op.get("at", at), keep)
    reasons = _values(op.get("reason", ""), keep)
    codes = codes[keep]
    team = state.team
    value = _per_value(op.get("review", ""), keep, REVIEWS.index, np.int8)
    pairs = _pair_key(team.a_codes, team.a_who) if team is not None and len(team.a_codes) else _I64
    now = team.reviews_of(codes) if team is not None else np.zeros(len(codes), np.int8)
    me = index.get(author, -2)
    refused: dict[str, list[str]] = {}

    def refuse(mask: np.ndarray, why: str) -> None:
        if mask.any():
            refused.setdefault(why, []).extend(ids[mask].tolist())

    ok = np.ones(len(codes), dtype=bool)
    values = _values(op.get("review", ""), keep)
    back = value == 0
    # one of its annotators sends an image back to review from a rejection, never from an
    # acceptance: that one waits for nothing more from them
    bad = back & np.isin(_pair_key(codes, np.full(len(codes), me)), pairs) & (now == 1)
    refuse(bad, f"{author} is assigned to the image and cannot take back its acceptance")
    ok &= ~bad
    bad = ~back & ~named
    refuse(bad, "a review names no reviewer")
    ok &= ~bad
    own_work = ~back & named & np.isin(_pair_key(codes, who), pairs)
    for name in dict.fromkeys(reviewers[own_work].tolist()):
        refuse(
            own_work & (reviewers == name),
            f"{name} reviewed images assigned to them (nobody reviews their own work)",
        )
    ok &= ~own_work
    others = ok & ~back & (reviewers != author)
    if others.any():
        revived = so_far.revived(state)
        times = state.times._index
        for k in np.flatnonzero(others).tolist():
            code = int(codes[k])
            wanted = (int(value[k]), int(who[k]), times.get(whens[k], -2), reasons[k] or "")
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
    who_codes = _known(state, who.tolist())
    keys = _pair_key(codes, who_codes)
    team = state.team
    assigned = (
        np.isin(keys, _pair_key(team.a_codes, team.a_who)) & (team.assignee_count(codes) >= 2)
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
    codes, keep = _aligned(state, op)
    to = _values(op.get("to", ""), keep)
    codes = codes[keep]
    if not len(codes):
        return []
    team = team_of(state)
    named = to != ""
    who = _intern(state.authors, to[named])
    targets = sorted_unique(codes)
    old_codes, old_who = team.set_assignment(targets, codes[named], who)
    # Nobody reviews an image assigned to them: a review by a new assignee no longer stands.
    undo_review = _drop_own_reviews(state, team, targets)
    # Own labels are those of an image's several annotators: others' go with the assignment.
    undo_own = _drop_unshared_own(state, team, targets)
    state._changed()
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
    assigned = np.isin(_pair_key(team.o_codes, team.o_who), _pair_key(team.a_codes, team.a_who))
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
    pairs = _pair_key(team.a_codes, team.a_who)
    mine = codes[np.isin(_pair_key(codes, team.review_by[codes]), pairs)]
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
    state._changed()
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
    codes, keep = _aligned(state, op)
    who = _values(op.get("by", by), keep)
    when = _values(op.get("at", at), keep)
    codes = codes[keep]
    if not len(codes):
        return []
    team = team_of(state)
    added = team.add_own(
        codes, op["label"], _intern(state.authors, who), _intern(state.times, when)
    )
    state._changed()
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
    codes, keep = _aligned(state, op)
    who = _values(op.get("by", by), keep)
    codes = codes[keep]
    team = state.team
    if team is None or not len(codes) or not len(team.o_codes):
        return []
    # Vectorized: an undo of a merge takes back one row per shared image.
    index = state.authors._index
    distinct, inverse = np.unique(who.astype(str), return_inverse=True)
    who_codes = np.asarray([index.get(w, -1) for w in distinct.tolist()], dtype=np.int64)
    who_codes = who_codes[inverse.reshape(-1)]
    known = who_codes >= 0
    wanted = _pair_key(codes[known], who_codes[known])
    hit = (team.o_label == op["label"]) & np.isin(_pair_key(team.o_codes, team.o_who), wanted)
    if not hit.any():
        return []
    r_codes, _, r_who, r_at = team.remove_own(~hit)
    state._changed()
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
        keys = _pair_key(team.o_codes[hit], team.o_who[hit])
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


# -- planning actions (called by Dataset) --------------------------------------------------------
def plan_assignment(
    codes: np.ndarray, annotators: Sequence[str], overlap: float, copies: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, annotator index) pairs: every image to one annotator, evenly, and a share
    ``overlap`` of them to ``copies`` different annotators.

    Deterministic for ``seed``. Each annotator's load differs from another's by at most one
    image, counting every copy: the copies are dealt round-robin over a shuffled order.
    """
    n, k = len(codes), len(annotators)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_overlap = round(overlap * n) if copies > 1 else 0
    shared = np.sort(order[:n_overlap])
    single = np.sort(order[n_overlap:])
    # Deal slots in one stream: shared images take ``copies`` consecutive slots, so that their
    # annotators are distinct (copies <= k), and the stream's round-robin keeps loads even.
    slot_codes = np.concatenate([np.repeat(codes[shared], copies), codes[single]])
    start = int(rng.integers(k))
    who = (start + np.arange(len(slot_codes))) % k
    return slot_codes, who.astype(np.int32)


def mine_codes(state: State, who: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes of ``who``'s Mine view, sorted; mask of those that a reviewer rejected)."""
    team = state.team
    if team is None:
        return _I64.copy(), np.zeros(0, dtype=bool)
    mine = team.assigned_to(who)
    mine = mine[state.alive[mine]]
    done = labeled_by(state, mine, who)
    rejected = team.reviews_of(mine) == 2
    keep = ~done | rejected
    return mine[keep], rejected[keep]


def labeled_by(state: State, codes: np.ndarray, who: int) -> np.ndarray:
    """Whether ``who`` labeled each of ``codes``: their own labels on an overlap image, any
    label on an image assigned to one annotator."""
    team = state.team
    done = state.labeled_mask()[codes]
    if team is None:
        return done
    shared = team.assignee_count(codes) >= 2
    if shared.any():
        own = sorted_unique(team.o_codes[team.o_who == who])
        done = np.where(shared, member(codes, own), done)
    return done


def to_review(state: State, who: int) -> np.ndarray:
    """Sorted codes of the labeled images that no reviewer accepted or rejected yet, but
    those assigned to ``who`` (an author code; -1 for nobody): nobody reviews their own work."""
    codes = np.flatnonzero(state.labeled_mask())
    if state.team is None:
        return codes
    codes = codes[state.team.reviews_of(codes) == 0]
    return codes[~state.team.is_assigned(codes, who)] if who >= 0 else codes


def accepted_codes(state: State) -> np.ndarray:
    team = state.team
    if team is None:
        return _I64.copy()
    codes = np.flatnonzero(team.review == 1)
    return codes[state.alive[codes]]


def rated(state: State) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Own labels on live overlap images by their assignees: (code, annotator, label,
    number of assignees of the image)."""
    team = state.team
    if team is None or not len(team.o_codes):
        return _I64.copy(), _I32.copy(), np.empty(0, object), _I64.copy()
    keep = visible_own(state, team)
    codes = team.o_codes[keep]
    return codes, team.o_who[keep], team.o_label[keep], team.assignee_count(codes)


def visible_own(state: State, team: Team) -> np.ndarray:
    """Which own rows the dataset shows: on a live image shared by several annotators, by one
    of them, of a label the image carries. The rules keep every own row so (see
    :func:`check_own_add`); a journal written before them may hold others, which no view and
    no file shows."""
    if not len(team.o_codes):
        return np.zeros(0, dtype=bool)
    keep = member(team.o_codes, team.overlap_codes()) & state.alive[team.o_codes]
    keep &= np.isin(_pair_key(team.o_codes, team.o_who), _pair_key(team.a_codes, team.a_who))
    for label in np.unique(team.o_label[keep]).tolist() if keep.any() else []:
        rows = keep & (team.o_label == label)
        labelset = state.labels.get(label)
        keep[rows] = member(team.o_codes[rows], labelset.codes) if labelset is not None else False
    return keep


# -- persistence ---------------------------------------------------------------------------------
_KINDS = ("assign", "own", "review")


def _dict_array(indices: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    """A dictionary-encoded column; -1 is a null."""
    indices = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, pa.int32(), mask=indices < 0), pa.array(list(values), pa.string())
    )


_HELD = pa.list_(
    pa.struct(
        [("value", pa.string()), ("who", pa.string()), ("at", pa.string()), ("reason", pa.string())]
    )
)
# A team file holds a review, the assignees and their own labels of each image: far fewer rows
# than this an image. A file with more (a few kilobytes of Parquet can say millions of rows) is
# not read: the snapshot's manifest is read instead.
MAX_TEAM_ROWS_PER_IMAGE = 64


def write_team(state: State) -> bytes | None:
    """The team tables of the live images as Parquet (rows renumbered as in the snapshot), or
    None when there is nothing to keep. Columns: ``kind`` (assign / own / review), ``row``,
    ``who``, ``label`` (own), ``value`` (review), ``at`` (own, review), ``reason`` (review),
    ``held`` (review: the reviews the image held before, see :class:`Team`; a review row with
    no ``value`` carries only those). Own labels are those the dataset shows (see
    :func:`visible_own`), as in the manifest."""
    team = state.team
    if team is None or team.empty:
        return None
    alive = np.flatnonzero(state.alive)
    renumber = np.full(state.n_rows, -1, dtype=np.int64)
    renumber[alive] = np.arange(len(alive))
    shown = visible_own(state, team)
    o_codes, o_label, o_who, o_at = (
        team.o_codes[shown],
        team.o_label[shown],
        team.o_who[shown],
        team.o_at[shown],
    )
    o_names, o_index = np.unique(o_label.astype(str), return_inverse=True)
    held = np.asarray(sorted(team.held), dtype=np.int64)
    reviewed = np.union1d(np.flatnonzero(team.review), held).astype(np.int64)
    value = team.reviews_of(reviewed).astype(np.int64)
    value[value == 0] = -1
    none = np.full(0, -1, dtype=np.int64)

    def nulls(n: int) -> np.ndarray:
        return np.full(n, -1, dtype=np.int64)

    def of(array: np.ndarray) -> np.ndarray:
        out = nulls(len(reviewed))
        inside = reviewed < len(array)
        out[inside] = array[reviewed[inside]]
        out[value < 0] = -1
        return out

    parts = [
        # kind, rows, who, label, value, at
        (
            0,
            team.a_codes,
            team.a_who,
            nulls(len(team.a_codes)),
            nulls(len(team.a_codes)),
            nulls(len(team.a_codes)),
        ),
        (1, o_codes, o_who, o_index.reshape(-1), nulls(len(o_codes)), o_at),
        (2, reviewed, of(team.review_by), nulls(len(reviewed)), value, of(team.review_at)),
    ]
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("kind", "row", "who", "label", "value", "at")
    }
    for kind, rows, who, label, val, at in parts:
        live = renumber[rows] >= 0 if len(rows) else np.zeros(0, dtype=bool)
        columns["kind"].append(np.full(int(live.sum()), kind))
        columns["row"].append(renumber[rows][live])
        for name, values in (("who", who), ("label", label), ("value", val), ("at", at)):
            columns[name].append(np.asarray(values, dtype=np.int64)[live] if len(values) else none)
    flat = {k: np.concatenate(v) for k, v in columns.items()}
    live_reviews = reviewed[renumber[reviewed] >= 0]
    n_other = len(flat["row"]) - len(live_reviews)
    reasons = [team.reasons.get(c) or None for c in live_reviews.tolist()]
    authors, times = state.authors.values, state.times.values
    history = [
        [
            {"value": REVIEWS[v], "who": authors[w], "at": times[t], "reason": why}
            for v, w, t, why in team.held[c]
        ]
        if c in team.held
        else None
        for c in live_reviews.tolist()
    ]
    table = pa.table(
        {
            "kind": _dict_array(flat["kind"], _KINDS),
            "row": pa.array(flat["row"], pa.int64()),
            "who": _dict_array(flat["who"], authors),
            "label": _dict_array(flat["label"], o_names.tolist()),
            "value": _dict_array(flat["value"], REVIEWS),
            "at": _dict_array(flat["at"], times),
            "reason": pa.concat_arrays(
                [pa.nulls(n_other, pa.string()), pa.array(reasons, pa.string())]
            ),
            "held": pa.concat_arrays([pa.nulls(n_other, _HELD), pa.array(history, _HELD)]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _read_dict(table: pa.Table, name: str) -> tuple[np.ndarray, list[Any]]:
    """Indices (-1 for null) and dictionary of a column, dictionary-encoded or not."""
    column = table.column(name).combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    indices = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, column.dictionary.to_pylist()


class _Refused:
    """Rows of a team file or manifest refused, counted per reason with the first image."""

    def __init__(self, state: State, where: str) -> None:
        self.state, self.where = state, where
        self.found: dict[str, list[int]] = {}

    def add(self, why: str, codes: np.ndarray) -> None:
        """Count ``codes`` (image codes) as refused for ``why``."""
        if len(codes):
            seen = self.found.setdefault(why, [0, int(codes[0])])
            seen[0] += len(codes)

    def lines(self) -> list[str]:
        return [
            f"{self.where}: {why}: {count} refused (the first on image "
            f"{self.state.ids[first]}); the rest was read"
            for why, (count, first) in self.found.items()
        ]


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= _MAX_NAME else ""


def read_team(state: State, data: bytes, where: str = "team file") -> list[str]:
    """Put the team tables of :func:`write_team` into ``state`` (rows = its codes), checked
    against it as the journal's team operations are (see :func:`check_review` and
    :func:`check_own_add`); returns a sentence per kind of row refused. A malformed file, or
    one of more than :data:`MAX_TEAM_ROWS_PER_IMAGE` rows an image (judged from its metadata,
    before any row is read), raises ValueError: the snapshot's manifest is read instead."""
    file = parquet_file(data)
    n = state.n_rows
    declared = file.metadata.num_rows
    if declared > n * MAX_TEAM_ROWS_PER_IMAGE:
        raise ValueError(
            f"its team file holds {declared} rows for {n} images "
            f"(at most {MAX_TEAM_ROWS_PER_IMAGE} an image)"
        )
    names = set(file.schema_arrow.names)
    wanted = ["kind", "row", "who", "label", "value", "at", "reason", "held"]
    table = file.read(columns=[c for c in wanted if c in names])
    refused = _Refused(state, where)
    rows = table.column("row").to_numpy(zero_copy_only=False)
    if len(rows) and (rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= n):
        raise ValueError("a team row names an image row that does not exist")
    rows = rows.astype(np.int64)
    kind_idx, kinds = _read_dict(table, "kind")
    if set(kinds) - set(_KINDS) or (kind_idx < 0).any():
        raise ValueError(f"unknown team row kinds {sorted(set(kinds) - set(_KINDS))}")
    kind = np.asarray([_KINDS.index(k) for k in kinds] + [-1], dtype=np.int64)[kind_idx]
    who_idx, whos = _read_dict(table, "who")
    named = [annotator_problem(w) is None for w in whos]
    good = np.asarray([*named, False])[who_idx]
    who = np.asarray(
        [state.authors.code(w) if ok else -1 for w, ok in zip(whos, named, strict=True)] + [-1]
    )
    who = who[who_idx].astype(np.int32)
    at_idx, ats = _read_dict(table, "at")
    at = np.asarray([state.times.code(_text_or_empty(t)) for t in ats] + [state.times.code("")])
    at = at[at_idx].astype(np.int32)

    team = team_of(state)
    pick = kind == 0
    refused.add("assignments to no annotator's name", rows[pick & ~good])
    pick &= good
    if pick.any():
        team.set_assignment(sorted_unique(rows[pick]), rows[pick], who[pick])
    pairs = _pair_key(team.a_codes, team.a_who)
    shared = team.overlap_codes()
    label_idx, labels = _read_dict(table, "label")
    for k, name in enumerate(labels):
        chosen = (kind == 1) & (label_idx == k)
        if not chosen.any():
            continue
        codes = rows[chosen]
        labelset = state.labels.get(name) if isinstance(name, str) else None
        if labelset is None or label_problem(name) is not None:
            refused.add("own labels of no label of the dataset", codes)
            continue
        ok = good[chosen]
        refused.add("own labels of no annotator's name", codes[~ok])
        carried = member(codes, labelset.codes)
        refused.add("own labels of a label their image does not carry", codes[ok & ~carried])
        ok &= carried
        assigned = np.isin(_pair_key(codes, who[chosen]), pairs) & member(codes, shared)
        refused.add(
            "own labels of someone who is not one of the image's several annotators",
            codes[ok & ~assigned],
        )
        ok &= assigned
        if ok.any():
            team.add_own(codes[ok], name, who[chosen][ok], at[chosen][ok])
    value_idx, values = _read_dict(table, "value")
    state_of = np.asarray(
        [REVIEWS.index(v) if v in (ACCEPTED, REJECTED) else -1 for v in values] + [0]
    )[value_idx]
    pick = kind == 2
    refused.add("reviews of no known value", rows[pick & (state_of < 0)])
    reviewing = pick & (state_of > 0)
    refused.add("reviews by no annotator's name", rows[reviewing & ~good])
    own_work = np.isin(_pair_key(rows, who), pairs)
    refused.add(
        "reviews by an annotator the image is assigned to (nobody reviews their own work)",
        rows[reviewing & good & own_work],
    )
    accept = reviewing & good & ~own_work
    team.grow(n)
    if accept.any():
        codes = rows[accept]
        team.review[codes] = state_of[accept]
        team.review_by[codes] = who[accept]
        team.review_at[codes] = at[accept]
        if "reason" in names:
            reason = table.column("reason").to_numpy(zero_copy_only=False)[accept]
            for k in np.flatnonzero(pd.notna(reason)).tolist():
                if isinstance(reason[k], str) and reason[k]:
                    team.reasons[int(codes[k])] = reason[k][:_MAX_NAME]
    if "held" in names:
        _read_held(state, team, table, rows, pick, refused)
    if team.empty:
        state.team = None
    state._changed()
    return refused.lines()


def _read_held(
    state: State, team: Team, table: pa.Table, rows: np.ndarray, pick: np.ndarray, refused: _Refused
) -> None:
    """The reviews each image held before, from the ``held`` column of its review row."""
    column = table.column("held").combine_chunks()
    if not pa.types.is_list(column.type):
        refused.add("review histories of another form", rows[pick])
        return
    where = np.flatnonzero(pick & ~column.is_null().to_numpy(zero_copy_only=False))
    for k in where.tolist():
        entries = column[k].as_py()
        kept: list[tuple[int, int, int, str]] = []
        for entry in entries[-MAX_HELD:] if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            value, who = entry.get("value"), entry.get("who")
            if value not in (ACCEPTED, REJECTED) or not isinstance(who, str):
                continue
            if annotator_problem(who) is not None:
                continue
            kept.append(
                (
                    REVIEWS.index(value),
                    state.authors.code(who),
                    state.times.code(_text_or_empty(entry.get("at"))),
                    _text_or_empty(entry.get("reason")),
                )
            )
        if not isinstance(entries, list) or len(kept) < len(entries):
            refused.add("earlier reviews that are no review", rows[k : k + 1])
        if kept:
            team.held[int(rows[k])] = kept


def load(
    state: State,
    assign: list[tuple[int, str]],
    reviews: list[tuple[int, str, str, str, str]],
    own: dict[str, list[tuple[int, str, str]]],
) -> None:
    """Fill the state's team from plain rows (code, ...), as read from a file."""
    if not assign and not reviews and not own:
        return
    team = team_of(state)
    if assign:
        codes = np.asarray([c for c, _ in assign], dtype=np.int64)
        who = _intern(state.authors, np.asarray([w for _, w in assign], dtype=object))
        team.set_assignment(sorted_unique(codes), codes, who)
    if reviews:
        team.grow(state.n_rows)
        for code, value, who_text, at, reason in reviews:
            team.review[code] = REVIEWS.index(value)
            team.review_by[code] = state.authors.code(who_text)
            team.review_at[code] = state.times.code(at)
            if reason:
                team.reasons[code] = reason[:_MAX_NAME]
    for label, rows in own.items():
        team.add_own(
            np.asarray([r[0] for r in rows], dtype=np.int64),
            label,
            _intern(state.authors, np.asarray([r[1] for r in rows], dtype=object)),
            _intern(state.times, np.asarray([r[2] for r in rows], dtype=object)),
        )
    state._changed()


def property_texts(state: State) -> tuple[np.ndarray, pa.Array] | None:
    """The team's keys of each image's ``property``, as JSON members without braces:
    (sorted image codes, one text each). Built with Arrow's string kernels, never one Python
    object per image: a million assigned images take a fraction of a second."""
    team = state.team
    if team is None or team.empty:
        return None
    join = pc.binary_join_element_wise
    reviewed = np.flatnonzero(team.review)
    assigned = sorted_unique(team.a_codes)
    shared = team.overlap_codes()
    shared = shared[state.alive[shared]] if len(shared) else shared
    codes = np.union1d(np.union1d(assigned, reviewed), shared).astype(np.int64)
    names = pa.array([orjson.dumps(v).decode() for v in state.authors.values], pa.string())
    times = pa.array([orjson.dumps(v).decode() for v in state.times.values], pa.string())
    parts: list[pa.Array] = []
    if len(assigned):
        starts = np.searchsorted(team.a_codes, assigned)
        offsets = np.append(starts, len(team.a_codes)).astype(np.int32)
        who = team.a_who[_by_name(state, team)]
        lists = pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(who)))
        texts = join(f'"{_ASSIGNED}":[', pc.binary_join(lists, ","), "]", "")
        parts.append(_aligned_texts(codes, assigned, texts))
    if len(reviewed):
        values = pa.array([orjson.dumps(v).decode() for v in REVIEWS], pa.string())
        reasons = [""] * len(reviewed)
        if team.reasons:
            at = {int(c): k for k, c in enumerate(reviewed.tolist())}
            for code, why in team.reasons.items():
                if code in at and why:
                    reasons[at[code]] = f',"{_REASON}":{orjson.dumps(why).decode()}'
        texts = join(
            f'"{_REVIEW}":',
            values.take(pa.array(team.review[reviewed].astype(np.int32))),
            f',"{_REVIEWED_BY}":',
            names.take(pa.array(team.review_by[reviewed])),
            f',"{_REVIEWED_AT}":',
            times.take(pa.array(team.review_at[reviewed])),
            pa.array(reasons, pa.string()),
            "",
        )
        parts.append(_aligned_texts(codes, reviewed, texts))
    if len(shared):
        parts.append(_aligned_texts(codes, shared, _labels_by_texts(state, team, shared, names)))
    if not parts:  # what reviews held before, and nothing else: no property
        return None
    out = parts[0]
    for part in parts[1:]:
        both = pc.and_(pc.not_equal(out, ""), pc.not_equal(part, ""))
        out = join(out, pc.if_else(both, ",", ""), part, "")
    return codes, out


def _labels_by_texts(state: State, team: Team, shared: np.ndarray, names: pa.Array) -> pa.Array:
    """``"@jupyter_labeler:labels_by":{"alice":{"cat":"<when>"},...}`` for each of the sorted
    live ``shared`` images: its annotators' own labels, by annotator name then label order
    (``{}`` while none gave one: a reader then knows not to take them from the annotations)."""
    join = pc.binary_join_element_wise
    keep = visible_own(state, team)
    codes, who, label, at = (
        team.o_codes[keep],
        team.o_who[keep],
        team.o_label[keep],
        team.o_at[keep],
    )
    if not len(codes):
        return pa.array([f'"{_LABELS_BY}":{{}}'] * len(shared), pa.string())
    distinct, which = np.unique(label.astype(str), return_inverse=True)
    which = which.reshape(-1)
    place = {name: k for k, name in enumerate(state.labels)}
    label_rank = np.asarray([place.get(n, len(place)) for n in distinct.tolist()])[which]
    who_rank = np.argsort(np.argsort(np.asarray(state.authors.values, dtype=object)))[who]
    order = np.lexsort((label_rank, who_rank, codes))
    codes, who, which, at = codes[order], who[order], which[order], at[order]
    labels_json = pa.array([orjson.dumps(n).decode() for n in distinct.tolist()], pa.string())
    times = pa.array([orjson.dumps(v).decode() for v in state.times.values], pa.string())
    items = join(labels_json.take(pa.array(which)), ":", times.take(pa.array(at)), "")
    key = _pair_key(codes, who)
    firsts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    per_who = pa.ListArray.from_arrays(
        pa.array(np.append(firsts, len(key)).astype(np.int32)), items
    )
    who_texts = join(names.take(pa.array(who[firsts])), ":{", pc.binary_join(per_who, ","), "}", "")
    who_codes = codes[firsts]
    starts = np.flatnonzero(np.concatenate([[True], who_codes[1:] != who_codes[:-1]]))
    per_image = pa.ListArray.from_arrays(
        pa.array(np.append(starts, len(who_codes)).astype(np.int32)), who_texts
    )
    texts = join(f'"{_LABELS_BY}":{{', pc.binary_join(per_image, ","), "}", "")
    found = _aligned_texts(shared, who_codes[starts], texts)
    return pc.if_else(pc.equal(found, ""), f'"{_LABELS_BY}":{{}}', found)


def _by_name(state: State, team: Team) -> np.ndarray:
    """The order of the assignment rows by image, then annotator name (not interning order,
    which differs from one reader to the next)."""
    rank = np.argsort(np.argsort(np.asarray(state.authors.values, dtype=object), kind="stable"))
    return np.lexsort((rank[team.a_who], team.a_codes)) if len(team.a_who) else _I64.copy()


def _aligned_texts(codes: np.ndarray, have: np.ndarray, texts: pa.Array) -> pa.Array:
    """``texts`` (one per sorted code of ``have``) placed at ``codes``; "" elsewhere."""
    found = member(codes, have)
    where = np.minimum(np.searchsorted(have, codes), len(have) - 1)
    return pc.if_else(pa.array(found), texts.take(pa.array(where)), "")


def team_from_manifest(
    state: State,
    rows: np.ndarray,
    names: list[str],
    by: list[str],
    at: list[str],
    where: str = "manifest",
) -> list[str]:
    """Take the team's data out of the rows' ``property`` (read from a manifest) into
    ``state.team``. The own labels of a shared image come from its ``labels_by`` key; a
    manifest written before that key (one annotation per annotator) gives them as the
    annotations of the image's annotators (``rows``, ``names``, ``by``, ``at``: every
    classification annotation, in file order). Values that the journal's rules would refuse
    are left out; returns a sentence per kind of them."""
    refused = _Refused(state, where)
    extra = state.extra
    present = np.flatnonzero(pd.notna(extra)) if len(extra) else _I64
    assign: list[tuple[int, str]] = []
    reviews: list[tuple[int, str, str, str, str]] = []
    given_own: list[tuple[int, str, str, str]] = []  # code, annotator, label, when
    said: set[int] = set()  # the rows whose property says their own labels (none inferred there)
    for code in present.tolist():
        row_extra = extra[code]
        if not isinstance(row_extra, dict) or not isinstance(row_extra.get("property"), dict):
            continue
        prop = row_extra["property"]
        ours = {
            k: prop[k] for k in list(prop) if isinstance(k, str) and k.startswith(PROPERTY_PREFIX)
        }
        if not ours:
            continue
        rest = {k: v for k, v in prop.items() if k not in ours}
        new_extra = {k: v for k, v in row_extra.items() if k != "property"}
        if rest:
            new_extra["property"] = rest
        extra[code] = new_extra or None
        one = np.asarray([code], dtype=np.int64)
        given = ours.get(_ASSIGNED)
        if given is not None:
            names_given = given if isinstance(given, list) else []
            good = [w for w in names_given if annotator_problem(w) is None]
            if len(good) < len(names_given) or not isinstance(given, list):
                refused.add("assignments to no annotator's name", one)
            assign += [(code, w) for w in good]
        if _LABELS_BY in ours:
            said.add(code)
            given_own += _labels_by(ours[_LABELS_BY], code, one, refused)
        value = ours.get(_REVIEW)
        if value in (None, ""):
            continue
        reviewer = ours.get(_REVIEWED_BY)
        texts = [ours.get(k) for k in (_REVIEWED_AT, _REASON)]
        if value not in (ACCEPTED, REJECTED):
            refused.add("reviews of no known value", one)
        elif annotator_problem(reviewer) is not None:
            refused.add("reviews by no annotator's name", one)
        else:
            if any(t is not None and _text_or_empty(t) != t for t in texts):
                refused.add("review times or reasons that are no short text", one)
            when, why = (_text_or_empty(t) for t in texts)
            reviews.append((code, str(value), str(reviewer), when, why))
    state.team = None
    load(state, assign, [], {})
    team = state.team
    if team is not None and reviews:
        own_work = [state.authors._index.get(r[2], -2) in team.assignees(r[0]) for r in reviews]
        refused.add(
            "reviews by an annotator the image is assigned to (nobody reviews their own work)",
            np.asarray([r[0] for r, bad in zip(reviews, own_work, strict=True) if bad], np.int64),
        )
        reviews = [r for r, bad in zip(reviews, own_work, strict=True) if not bad]
    own: dict[str, list[tuple[int, str, str]]] = {}
    if team is not None and len(rows):
        overlap = team.overlap_codes()
        overlap = overlap[~np.isin(overlap, np.fromiter(said, np.int64, len(said)))]
        for k in np.flatnonzero(member(rows, overlap)).tolist():
            code, name = int(rows[k]), names[k]
            who = annotator_of(by[k])
            if name not in state.labels or label_problem(name) is not None:
                continue
            if who in [state.authors.values[w] for w in team.assignees(code)]:
                own.setdefault(name, []).append((code, who, at[k]))
    if given_own:
        _check_given_own(state, given_own, own, refused)
    load(state, [], reviews, own)
    return refused.lines()


def _labels_by(
    value: Any, code: int, one: np.ndarray, refused: _Refused
) -> list[tuple[int, str, str, str]]:
    """The (code, annotator, label, when) of a ``labels_by`` value well formed."""
    if not isinstance(value, dict):
        refused.add("own labels that are no map of annotators to their labels", one)
        return []
    out: list[tuple[int, str, str, str]] = []
    for who, labels in value.items():
        if annotator_problem(who) is not None:
            refused.add("own labels of no annotator's name", one)
        elif not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
            refused.add("own labels that are no map of labels to when they were given", one)
        else:
            out += [(code, who, label, _text_or_empty(when)) for label, when in labels.items()]
    return out


def _check_given_own(
    state: State,
    given: list[tuple[int, str, str, str]],
    own: dict[str, list[tuple[int, str, str]]],
    refused: _Refused,
) -> None:
    """Add to ``own`` the own labels of ``labels_by`` that the rules allow: of a label the
    image carries, by one of the several annotators it is assigned to."""
    team = state.team
    pairs = _pair_key(team.a_codes, team.a_who) if team is not None else _I64
    shared = team.overlap_codes() if team is not None else _I64
    for code, who, label, when in given:
        one = np.asarray([code], dtype=np.int64)
        labelset = state.labels.get(label) if label_problem(label) is None else None
        if labelset is None or not member(one, labelset.codes)[0]:
            refused.add("own labels of a label their image does not carry", one)
        elif not (
            member(one, shared)[0]
            and np.isin(_pair_key(one, _known(state, [annotator_of(who)])), pairs)[0]
        ):
            refused.add(
                "own labels of someone who is not one of the image's several annotators", one
            )
        else:
            own.setdefault(label, []).append((code, who, when))


# -- what Dataset's actions write, and its tables ------------------------------------------------
def _own_candidates(state: State, author: str, codes: np.ndarray) -> np.ndarray:
    """Those of ``codes`` that are overlap images assigned to ``author``."""
    team = state.team
    if team is None or not len(team.a_codes) or author not in state.authors._index:
        return _I64.copy()
    who = state.authors.code(author)
    codes = codes[member(codes, team.overlap_codes())]
    return codes[team.is_assigned(codes, who)]


def own_add_op(state: State, author: str, label: str, codes: np.ndarray) -> dict[str, Any] | None:
    """The ``own+`` operation recording ``author``'s own ``label`` on their overlap images
    among ``codes`` (None when there are none, or all have it already)."""
    codes = _own_candidates(state, author, codes)
    if not len(codes):
        return None
    team = state.team
    assert team is not None
    who = state.authors.code(author)
    had = team.own_mask(codes, label, np.asarray([who]))
    if had.any():
        codes = codes[~member(codes, team.o_codes[had])]
    if not len(codes):
        return None
    return {"op": "own+", "label": label, "ids": state.ids[codes].tolist(), "by": author}


def plan_remove(state: State, author: str, label: str, codes: np.ndarray) -> list[dict[str, Any]]:
    """The ``own-`` operation to apply before ``label-`` takes ``label`` off ``codes``.

    On an overlap image, an assigned annotator withdraws only their own label: the image keeps
    the label while another of its annotators gives it (see :func:`keep_held`). Anyone else (a
    reviewer) takes it off the image and off every annotator's own labels.
    """
    team = state.team
    if team is None or not len(team.o_codes) or not len(codes):
        return []
    held = (team.o_label == label) & member(team.o_codes, sorted_unique(codes))
    if not held.any():
        return []
    mine = _own_candidates(state, author, sorted_unique(team.o_codes[held]))
    me = state.authors._index.get(author, -1)
    # an annotator of the image: their own label only; anyone else: every annotator's
    gone = held & (~member(team.o_codes, mine) | (team.o_who == me))
    if not gone.any():
        return []
    authors = np.asarray(state.authors.values, dtype=object)
    return [
        {
            "op": "own-",
            "label": label,
            "ids": state.ids[team.o_codes[gone]].tolist(),
            "by": authors[team.o_who[gone]].tolist(),
        }
    ]


def review_again_op(state: State, author: str, codes: np.ndarray) -> dict[str, Any] | None:
    """The ``review`` operation that puts back to review those of ``codes`` (images whose
    labels ``author`` changes) that a reviewer rejected and that are assigned to ``author``:
    their annotator's new answer waits for a reviewer again, as in ModelArts team labeling.
    A reviewer's or anyone else's edit leaves the rejection. None when no image qualifies.

    Written into the same event as the labels, never inferred on reading, so that undo brings
    the rejection back with its reason and journals written before this keep their meaning.
    """
    team = state.team
    if team is None or not len(codes) or author not in state.authors._index:
        return None
    codes = sorted_unique(np.asarray(codes, dtype=np.int64))
    codes = codes[team.reviews_of(codes) == 2]
    if len(codes):
        codes = codes[team.is_assigned(codes, state.authors.code(author))]
    if not len(codes):
        return None
    return {"op": "review", "ids": state.ids[codes].tolist(), "review": ""}


def changed_by_removal(
    state: State, author: str, label: str, codes: np.ndarray, own_ops: list[dict[str, Any]]
) -> np.ndarray:
    """Those of ``codes`` (images with ``label``) whose labels as ``author`` gave them change
    when ``own_ops`` (of :func:`plan_remove`) and then ``label-`` apply: the image loses the
    label (no other annotator's own label holds it), or ``author`` withdraws their own. Only
    the rejected images assigned to ``author`` are looked at (see :func:`review_again_op`)."""
    team = state.team
    if team is None or author not in state.authors._index or not len(codes):
        return _I64.copy()
    who = state.authors.code(author)
    codes = sorted_unique(np.asarray(codes, dtype=np.int64))
    codes = codes[team.reviews_of(codes) == 2]
    codes = codes[team.is_assigned(codes, who)] if len(codes) else codes
    if not len(codes) or not len(team.o_codes):
        return codes
    gone = np.empty(0, dtype=np.int64)
    for op in own_ops:
        by = op["by"] if isinstance(op["by"], list) else [op["by"]] * len(op["ids"])
        gone = np.concatenate([gone, _pair_key(state.lookup(op["ids"]), state.authors.codes(by))])
    held = (team.o_label == label) & member(team.o_codes, codes)
    keys = _pair_key(team.o_codes[held], team.o_who[held])
    stays = sorted_unique(team.o_codes[held][~np.isin(keys, gone)])
    withdrawn = sorted_unique(gone[(gone & ((1 << 31) - 1)) == who] >> 31)
    return np.union1d(codes[~member(codes, stays)], codes[member(codes, withdrawn)])


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


def image_columns(state: State, codes: np.ndarray) -> dict[str, Any]:
    """``assigned_to`` (list), ``review``, ``reviewed_by``, ``review_reason`` for ``codes``."""
    team = state.team
    assert team is not None
    authors = np.asarray([*state.authors.values, ""], dtype=object)
    left = np.searchsorted(team.a_codes, codes, side="left")
    right = np.searchsorted(team.a_codes, codes, side="right")
    names = authors[team.a_who[_by_name(state, team)]] if len(team.a_who) else np.empty(0, object)
    assigned = [names[a:b].tolist() for a, b in zip(left.tolist(), right.tolist(), strict=True)]
    review = team.reviews_of(codes)
    by = np.full(len(codes), -1, dtype=np.int32)
    inside = codes < len(team.review_by)
    by[inside] = team.review_by[codes[inside]]
    reasons = [team.reasons.get(c, "") for c in codes.tolist()] if team.reasons else None
    return {
        "assigned_to": pd.array(assigned, dtype=object),
        "review": pd.Categorical(
            np.asarray(REVIEWS, dtype=object)[review], categories=list(REVIEWS)
        ),
        "reviewed_by": pd.array(authors[by], dtype=object),
        "review_reason": pd.array(
            reasons if reasons is not None else [""] * len(codes), dtype=object
        ),
    }


def progress_table(
    state: State, unreadable: Callable[[list[str]], None] | None = None
) -> pd.DataFrame:
    """Per annotator: assigned, labeled, remaining, accepted, rejected, last_active.

    ``last_active`` is the newest of their label times read as times (see
    :mod:`jupyter_labeler.times`); the times that cannot be read are given to ``unreadable``.
    """
    team = state.team
    rows: list[dict[str, Any]] = []
    stamps: list[np.ndarray] = []  # per annotator, the codes of their label times
    if team is not None and len(team.a_codes):
        authors = state.authors.values
        for who in np.unique(team.a_who).tolist():
            codes = team.assigned_to(who)
            codes = codes[state.alive[codes]]
            done = labeled_by(state, codes, who)
            review = team.reviews_of(codes)
            mine, _ = mine_codes(state, who)
            at = [ls.at[ls.by == who] for ls in state.labels.values() if len(ls)]
            if len(team.o_codes):
                at.append(team.o_at[team.o_who == who])
            stamps.append(np.unique(np.concatenate(at)) if at else np.empty(0, np.int64))
            rows.append(
                {
                    "annotator": authors[who],
                    "assigned": len(codes),
                    "labeled": int(done.sum()),
                    "remaining": len(mine),
                    "accepted": int((review == 1).sum()),
                    "rejected": int((review == 2).sum()),
                }
            )
    columns = ["annotator", "assigned", "labeled", "remaining", "accepted", "rejected"]
    table = pd.DataFrame(rows, columns=columns)
    for c in columns[1:]:
        table[c] = table[c].astype("int64")
    table["last_active"] = _newest(state, stamps, unreadable)
    return table.sort_values("annotator").set_index("annotator")


def _newest(
    state: State, stamps: list[np.ndarray], unreadable: Callable[[list[str]], None] | None
) -> np.ndarray:
    """The newest time of each list of time codes (NaT for none); each time read once."""
    used = np.unique(np.concatenate(stamps)) if stamps else np.empty(0, np.int64)
    used = used[used >= 0]
    texts = np.asarray(state.times.values, dtype=object)[used]
    parsed, bad = parse_times(texts)
    if bad.any() and unreadable is not None:
        unreadable(texts[bad].tolist())
    when = parsed.to_numpy()
    newest = np.full(len(stamps), np.datetime64("NaT"), dtype="datetime64[us]")
    for i, at in enumerate(stamps):
        found = when[np.searchsorted(used, at[at >= 0])]
        found = found[~np.isnat(found)]
        if len(found):
            newest[i] = found.max()
    return newest
