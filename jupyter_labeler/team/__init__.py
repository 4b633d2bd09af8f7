"""Team labeling: who labels which image, each annotator's own labels, and reviews.

A dataset that nobody assigns or reviews has no :class:`Team` at all (``State.team`` is None),
so that opening, saving and every view of it cost what they cost before. Once used, it holds
three compact tables keyed by image code (no Python object per image):

- assignments, long: ``(code, annotator)`` pairs sorted by code; an image given to two
  annotators for a quality check has two rows (it is an *overlap* image);
- own labels, long: ``(code, label, annotator, time)`` for overlap images only. The label sets
  of :class:`~jupyter_labeler.state.State` stay the union that views and counts use; these
  rows keep what each assigned annotator said, so that disagreement stays visible instead of
  being merged away;
- reviews, one entry per image row: accepted / rejected, by whom, when, and a reason; and per
  reviewed image the reviews it held before (a few, newest last), so that a reader can tell an
  undo putting one of them back from a review written in another reviewer's name.

The journal operations ``assign``, ``review``, ``own+`` and ``own-`` (see
:mod:`jupyter_labeler.events`) change them; every function that applies one returns the
operations that undo it. Nothing here does I/O. One module per job:

- :mod:`.tables`: the tables themselves (:class:`Team`, :func:`team_of`) and their codes;
- :mod:`.operations`: the rules the journal's team operations follow on reading, and applying
  them (with what label operations do to own labels);
- :mod:`.files`: the snapshot's team file (:func:`write_team`, :func:`read_team`) and the team's
  keys of a manifest's samples (:func:`property_texts`, :func:`team_from_manifest`);
- :mod:`.planning`: what the Dataset's team actions write (:func:`plan_assign`,
  :func:`plan_review`...), and what its label actions add on shared or rejected images;
- :mod:`.queries`: each annotator's work, what waits for review, progress.

Every name is importable from here, as ``from jupyter_labeler import team`` then
``team.read_team(...)``.
"""

from __future__ import annotations

from .files import (
    MAX_TEAM_ROWS_PER_IMAGE,
    PROPERTY_PREFIX,
    load,
    property_texts,
    read_team,
    team_from_manifest,
    write_team,
)
from .operations import (
    SoFar,
    apply_assign,
    apply_own_add,
    apply_own_remove,
    apply_review,
    check_own_add,
    check_review,
    keep_held,
    on_drop,
    on_rename,
    own_before,
    own_undo,
    team_of_images,
)
from .planning import (
    back_to_review_note,
    changed_by_removal,
    check_assignment,
    own_add_op,
    plan_assign,
    plan_assignment,
    plan_remove,
    plan_review,
    plan_unassign,
    review_again_op,
)
from .queries import (
    accepted_codes,
    image_columns,
    labeled_by,
    mine_codes,
    mine_of,
    progress_table,
    rated,
    rejection_reasons,
    to_review,
    visible_own,
)
from .tables import (
    ACCEPTED,
    MAX_HELD,
    REJECTED,
    REVIEWS,
    Team,
    annotator_problem,
    team_of,
)

__all__ = [
    "ACCEPTED",
    "MAX_HELD",
    "MAX_TEAM_ROWS_PER_IMAGE",
    "PROPERTY_PREFIX",
    "REJECTED",
    "REVIEWS",
    "SoFar",
    "Team",
    "accepted_codes",
    "annotator_problem",
    "apply_assign",
    "apply_own_add",
    "apply_own_remove",
    "apply_review",
    "back_to_review_note",
    "changed_by_removal",
    "check_assignment",
    "check_own_add",
    "check_review",
    "image_columns",
    "keep_held",
    "labeled_by",
    "load",
    "mine_codes",
    "mine_of",
    "on_drop",
    "on_rename",
    "own_add_op",
    "own_before",
    "own_undo",
    "plan_assign",
    "plan_assignment",
    "plan_remove",
    "plan_review",
    "plan_unassign",
    "progress_table",
    "property_texts",
    "rated",
    "read_team",
    "rejection_reasons",
    "review_again_op",
    "team_from_manifest",
    "team_of",
    "team_of_images",
    "to_review",
    "visible_own",
    "write_team",
]
