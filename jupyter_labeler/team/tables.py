"""The team's in-memory tables: :class:`Team`, made on first use by :func:`team_of`.

See :mod:`jupyter_labeler.team` for what the tables hold and why. Annotators, reviewers and
times are codes into the state's ``authors`` and ``times``; images are the state's codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..state import member, sorted_unique

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "ACCEPTED",
    "MAX_HELD",
    "MAX_NAME",
    "REJECTED",
    "REVIEWS",
    "Team",
    "annotator_problem",
    "assignments_by_name",
    "intern_texts",
    "pair_key",
    "team_of",
]

ACCEPTED, REJECTED = "accepted", "rejected"
REVIEWS = ("", ACCEPTED, REJECTED)  # index = the code kept per image
# The longest annotator name, review time or reason a file may give.
MAX_NAME = 256
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
    if len(name) > MAX_NAME:
        return f"an annotator's name has at most {MAX_NAME} characters"
    if name != name.strip():
        return f"an annotator's name has no spaces around it ({name!r:.60})"
    return None


@dataclass
class Team:
    """Assignments, own labels and reviews of one dataset's images (see
    :mod:`jupyter_labeler.team`).

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
        """How many annotators each of ``codes`` is assigned to."""
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
        """Sorted codes assigned to the annotator ``who``."""
        return sorted_unique(self.a_codes[self.a_who == who])

    def assignees(self, code: int) -> list[int]:
        """The annotators ``code`` is assigned to, in code order."""
        a = int(np.searchsorted(self.a_codes, code, side="left"))
        b = int(np.searchsorted(self.a_codes, code, side="right"))
        return self.a_who[a:b].tolist()

    def is_assigned(self, codes: np.ndarray, who: int) -> np.ndarray:
        """Whether each of ``codes`` is assigned to the annotator ``who``."""
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
        key = pair_key(codes, who)
        added = np.zeros(len(codes), dtype=bool)
        added[np.unique(key, return_index=True)[1]] = True  # the first of repeated pairs
        if len(self.o_codes):
            sel = self.o_label == label
            added &= ~np.isin(key, pair_key(self.o_codes[sel], self.o_who[sel]))
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
        first = np.unique(pair_key(self.o_codes[rows], self.o_who[rows]), return_index=True)[1]
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


def pair_key(codes: np.ndarray, who: np.ndarray) -> np.ndarray:
    """One int64 per (image code, annotator code) pair: the image's code times 2**31 plus the
    annotator's (``key >> 31`` and ``key & (2**31 - 1)`` give them back)."""
    return np.asarray(codes, dtype=np.int64) * (1 << 31) + np.asarray(who, dtype=np.int64)


def intern_texts(interner: Any, values: np.ndarray) -> np.ndarray:
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


def assignments_by_name(state: State, team: Team) -> np.ndarray:
    """The order of the assignment rows by image, then annotator name (not interning order,
    which differs from one reader to the next)."""
    rank = np.argsort(np.argsort(np.asarray(state.authors.values, dtype=object), kind="stable"))
    return np.lexsort((rank[team.a_who], team.a_codes)) if len(team.a_who) else _I64.copy()
