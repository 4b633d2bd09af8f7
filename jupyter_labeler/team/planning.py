"""Planning the Dataset's team actions: the operations each one writes.

Plain functions of the state: how images are shared out among annotators
(:func:`plan_assignment`); what an annotator's label means on a shared image
(:func:`own_add_op`, :func:`plan_remove`), and sending a rejected image back to review
(:func:`review_again_op`, :func:`changed_by_removal`), which the Dataset's label actions ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..state import member, sorted_unique
from .tables import pair_key

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "changed_by_removal",
    "own_add_op",
    "plan_assignment",
    "plan_remove",
    "review_again_op",
]

_I64 = np.empty(0, dtype=np.int64)


# -- the Dataset's team actions ------------------------------------------------------------------
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


# -- what the Dataset's label actions add on shared and rejected images ---------------------------
def _own_candidates(state: State, author: str, codes: np.ndarray) -> np.ndarray:
    """Those of ``codes`` that are overlap images assigned to ``author``."""
    team = state.team
    if team is None or not len(team.a_codes) or author not in state.authors:
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
    the label while another of its annotators gives it (see :func:`~.operations.keep_held`).
    Anyone else (a reviewer) takes it off the image and off every annotator's own labels.
    """
    team = state.team
    if team is None or not len(team.o_codes) or not len(codes):
        return []
    held = (team.o_label == label) & member(team.o_codes, sorted_unique(codes))
    if not held.any():
        return []
    mine = _own_candidates(state, author, sorted_unique(team.o_codes[held]))
    me = state.authors.find(author)
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
    if team is None or not len(codes) or author not in state.authors:
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
    if team is None or author not in state.authors or not len(codes):
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
        gone = np.concatenate([gone, pair_key(state.lookup(op["ids"]), state.authors.codes(by))])
    held = (team.o_label == label) & member(team.o_codes, codes)
    keys = pair_key(team.o_codes[held], team.o_who[held])
    stays = sorted_unique(team.o_codes[held][~np.isin(keys, gone)])
    withdrawn = sorted_unique(gone[(gone & ((1 << 31) - 1)) == who] >> 31)
    return np.union1d(codes[~member(codes, stays)], codes[member(codes, withdrawn)])
