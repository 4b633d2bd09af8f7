"""Planning the Dataset's team actions: the operations each one writes, as a Plan.

Plain functions of the state (see :mod:`jupyter_labeler.plan`): the Dataset checks its
arguments, takes its lock, asks one of these, and hands the plan on. The label actions of the
Dataset ask here too for what an annotator's label means on a shared image
(:func:`own_add_op`, :func:`plan_remove`) and for sending a rejected image back to review
(:func:`review_again_op`, :func:`changed_by_removal`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import SelfReviewError
from ..plan import Plan
from ..results import ActionResult, Change, touched
from ..state import member, sorted_unique
from ..words import plural
from .tables import ACCEPTED, REJECTED, annotator_problem, pair_key

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "back_to_review_note",
    "changed_by_removal",
    "check_assignment",
    "own_add_op",
    "plan_assign",
    "plan_assignment",
    "plan_remove",
    "plan_review",
    "plan_unassign",
    "review_again_op",
]

# Observers are told exactly which images an action changed up to this many, as by every

_I64 = np.empty(0, dtype=np.int64)


# -- the Dataset's team actions ------------------------------------------------------------------
def check_assignment(annotators: Sequence[str], overlap: float, copies: int) -> None:
    """Raise ValueError unless :func:`plan_assign` can share images out among ``annotators``
    with these ``overlap`` and ``copies`` (see :meth:`Dataset.assign`)."""
    for name in annotators:
        problem = annotator_problem(name)
        if problem is not None:
            raise ValueError(problem)
    if not annotators or len(set(annotators)) != len(annotators):
        raise ValueError("annotators must name at least one annotator, each once")
    if not isinstance(overlap, int | float) or isinstance(overlap, bool) or not 0 <= overlap <= 1:
        raise ValueError(f"overlap must be a share from 0 to 1, not {overlap!r}")
    if overlap and not 2 <= copies <= len(annotators):
        raise ValueError(
            f"copies must be from 2 to the number of annotators ({len(annotators)}), not {copies!r}"
        )


def plan_assign(
    state: State,
    codes: np.ndarray,
    annotators: Sequence[str],
    *,
    overlap: float,
    copies: int,
    seed: int,
) -> Plan | ActionResult:
    """The ``assign`` action giving the images ``codes`` to ``annotators`` (checked by
    :func:`check_assignment`), as :func:`plan_assignment` shares them out; with no image, the
    result that says so."""
    if not len(codes):
        return ActionResult("assign", 0, True, "no image to assign")
    slots, who = plan_assignment(codes, annotators, overlap, copies, seed)
    op = {
        "op": "assign",
        "ids": state.ids[slots].tolist(),
        "to": np.asarray(annotators, dtype=object)[who].tolist(),
    }
    n = len(codes)
    shared = len(slots) - n
    return Plan(
        "assign",
        [op],
        describe=f"Assigned {plural(n, 'image')} to {plural(len(annotators), 'annotator')}"
        + (f" ({shared} shared)" if shared else ""),
        changed=n,
        change=Change("images", touched(state.ids[codes].tolist())),
    )


def plan_unassign(state: State, codes: np.ndarray) -> Plan:
    """The ``assign`` action that takes the images ``codes`` away from everyone."""
    op = {"op": "assign", "ids": state.ids[codes].tolist(), "to": ""}
    n = len(codes)
    return Plan(
        "assign",
        [op],
        describe=f"Unassigned {plural(n, 'image')}",
        changed=n,
        change=Change("images", touched(op["ids"])),
    )


def plan_review(
    state: State, author: str, codes: np.ndarray, *, accept: bool, reason: str | None, at: str
) -> Plan | ActionResult:
    """The ``review`` action by which ``author`` accepts (or rejects) the images ``codes``
    at the time ``at``, with a ``reason`` (None or a text, which loses its outer spaces).

    Nobody reviews their own work: when some of ``codes`` are assigned to ``author``, raises
    :class:`~jupyter_labeler.errors.SelfReviewError` naming them (and nothing is planned).
    With no image, the result that says so.
    """
    if not len(codes):
        return ActionResult("review", 0, True, "no image to review")
    team = state.team
    if team is not None and author in state.authors:
        own = codes[team.is_assigned(codes, state.authors.find(author))]
        if len(own):
            raise SelfReviewError(author, state.ids[own].tolist())
    value = ACCEPTED if accept else REJECTED
    why = (reason or "").strip()
    op = {
        "op": "review",
        "ids": state.ids[codes].tolist(),
        "review": value,
        "by": author,
        "at": at,
        "reason": why,
    }
    n = len(codes)
    return Plan(
        "review",
        [op],
        describe=f"{value.capitalize()} {plural(n, 'image')}" + (f": {why}" if why else ""),
        changed=n,
        change=Change("images", touched(op["ids"])),
    )


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


def back_to_review_note(ops: list[dict[str, Any]]) -> str:
    """How an action's description says that rejected images went back to review (the
    ``review`` operation of :func:`review_again_op` among ``ops``); "" when none did."""
    again = [op for op in ops if op["op"] == "review"]
    return f" ({plural(len(again[0]['ids']), 'image')} back to review)" if again else ""
