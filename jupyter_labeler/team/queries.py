"""What the team tables say: each annotator's work, what waits for review, progress.

Plain functions of the state, called by the Dataset with its lock held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..state import member, sorted_unique
from ..times import parse_times
from .tables import REVIEWS, Team, assignments_by_name, pair_key

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "accepted_codes",
    "image_columns",
    "labeled_by",
    "mine_codes",
    "mine_of",
    "progress_table",
    "rated",
    "rejection_reasons",
    "to_review",
    "visible_own",
]

_I64 = np.empty(0, dtype=np.int64)
_I32 = np.empty(0, dtype=np.int32)


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


def mine_of(state: State, author: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`mine_codes` of the annotator named ``author``; nothing for a name that was never
    given any work."""
    if state.team is None or author not in state.authors:
        return _I64.copy(), np.zeros(0, dtype=bool)
    return mine_codes(state, state.authors.find(author))


def rejection_reasons(state: State, author: str) -> dict[str, int]:
    """Why ``author``'s rejected images came back to their Mine view: reason -> how many
    images ("" for no reason given)."""
    codes, rejected = mine_of(state, author)
    reasons = state.team.reasons if state.team is not None else {}
    found: dict[str, int] = {}
    for code in codes[rejected].tolist():
        why = reasons.get(code, "")
        found[why] = found.get(why, 0) + 1
    return found


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
    """Sorted codes of the live images a reviewer accepted."""
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
    :func:`~.operations.check_own_add`); a journal written before them may hold others, which
    no view and no file shows."""
    if not len(team.o_codes):
        return np.zeros(0, dtype=bool)
    keep = member(team.o_codes, team.overlap_codes()) & state.alive[team.o_codes]
    keep &= np.isin(pair_key(team.o_codes, team.o_who), pair_key(team.a_codes, team.a_who))
    for label in np.unique(team.o_label[keep]).tolist() if keep.any() else []:
        rows = keep & (team.o_label == label)
        labelset = state.labels.get(label)
        keep[rows] = member(team.o_codes[rows], labelset.codes) if labelset is not None else False
    return keep


def image_columns(state: State, codes: np.ndarray) -> dict[str, Any]:
    """``assigned_to`` (list), ``review``, ``reviewed_by``, ``review_reason`` for ``codes``."""
    team = state.team
    assert team is not None
    authors = np.asarray([*state.authors.values, ""], dtype=object)
    left = np.searchsorted(team.a_codes, codes, side="left")
    right = np.searchsorted(team.a_codes, codes, side="right")
    names = (
        authors[team.a_who[assignments_by_name(state, team)]]
        if len(team.a_who)
        else np.empty(0, object)
    )
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
