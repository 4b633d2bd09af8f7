"""The Dataset: the one owner of a dataset's images, labels and every operation on them.

It has no widget in it: a notebook user can do everything the Labeler does by calling these
methods, and every result is a pandas DataFrame. Each action is one event, applied and written
to the journal at once by the one replica of the store (see :mod:`jupyter_labeler.replica`);
observers are told what changed.

Example::

    from jupyter_labeler import Dataset

    ds = Dataset.open("flowers/")                  # a folder of images; labels go to flowers/.jupyter_labeler
    ds.add_label("roses", ds.unlabeled().index[:10])
    ds.counts()                                    # DataFrame: label -> images
    ds.readiness()                                 # ready for training?
    ds.save()                                      # compacts; returns the manifest's URL
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from . import assisted, features, image_actions, label_plans, label_quality, syncing, views
from . import team as _team
from .agreement import agreement_table, disagreement_table, ratings
from .events import MAX_TEXT_CHARS
from .follow import Follower
from .journal import MANIFEST_NAME, SaveStatus
from .label_plans import DELETE_MODES
from .names import annotator_of, default_author, validate_label
from .plan import Plan
from .presence import HEARTBEAT_EVERY, Presence
from .replica import Replica
from .results import (
    ActionResult,
    Change,
    Readiness,
    SyncSummary,
    UploadResult,
)
from .scan import scan_folder
from .source_urls import output_inside
from .state import State
from .storage import Store, open_store
from .thumbnails import Thumbnail, Thumbnails
from .times import now as _now

__all__ = ["DEFAULT_OUTPUT", "DELETE_MODES", "Dataset"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

DEFAULT_OUTPUT = ".jupyter_labeler"


class Dataset:
    """A dataset of images for classification, its labels, and every operation on them.

    Open one with :meth:`Dataset.open`. Image ids are strings, stable for an image's path.
    Every action (``add_label``, ``remove_label``, ``rename_label``, ``delete_label``,
    ``add_images``, ``remove_images``, ``sync``, ``undo``) is saved the moment it happens;
    its result says whether the write returned (``saved``) or waits for the store to come back.
    """

    def __init__(self, source: Store, output: Store, *, author: str) -> None:
        if not isinstance(author, str) or not author.strip() or len(author) > MAX_TEXT_CHARS:
            raise ValueError(
                f"author must be a name of 1 to {MAX_TEXT_CHARS} characters, not {author!r:.60}"
            )
        self._source = source
        self._output = output
        # ``human/alice/alice``, as ModelArts names its users, is alice (see names.py)
        self.author = annotator_of(author)
        self._observers: list[Callable[[Change], None]] = []
        self._thumbs = Thumbnails(source)  # one cache of thumbnails per size
        self._exclude = output_inside(source, output)
        self._replica = Replica(
            source,
            output,
            author=self.author,
            exclude=self._exclude,
            notify=self._notify,
            on_load=self._thumbs.clear,  # a path may name other bytes after a reload
        )
        # The replica's, never replaced: every method reads the state with this lock held.
        self._lock = self._replica.lock
        self._follower: Follower | None = None
        self._presence = Presence(
            output,
            self._replica.journal.writer,
            self.author,
            on_change=lambda: self._notify(Change("presence")),
            report=lambda line: self._replica.note_problems([line]),
        )

    # ------------------------------------------------------------------------------------------
    # opening
    @classmethod
    def open(
        cls,
        source: str | os.PathLike[str],
        *,
        output: str | os.PathLike[str] | None = None,
        storage_options: Mapping[str, Any] | None = None,
        author: str | None = None,
    ) -> Dataset:
        """Open the dataset of the images in ``source``.

        ``source`` is a folder of images: a local path, ``file://``, ``memory://``,
        ``s3://bucket/prefix`` or ``obs://bucket/prefix`` (see :mod:`jupyter_labeler.storage`).
        ``output`` is where the label state lives (journal, snapshots and the ModelArts manifest
        ``dataset.manifest``); by default the folder ``.jupyter_labeler`` inside ``source``.
        ``author`` goes into each annotation's ``annotated-by`` (written ``human/<author>/<author>``
        there, as ModelArts names its users; a name given in that form is the same author); by
        default the user name.

        A folder with no label state yet is synchronized at once: every image in it (and its
        subfolders) becomes an unlabeled image, or a labeled one where a ``.txt`` file beside it
        names its labels. A ``dataset.manifest`` placed in ``output`` by ModelArts or another
        tool is read as the starting state. Problems met while reading (a malformed manifest
        line, a corrupt journal object) are listed in :attr:`problems`; the rest loads.
        """
        src = open_store(source, storage_options)
        out = src.child(DEFAULT_OUTPUT) if output is None else open_store(output, storage_options)
        dataset = cls(src, out, author=author or default_author())
        if dataset._replica.load():  # nothing there yet: every image of the folder comes in
            dataset.sync()
        return dataset

    @property
    def _state(self) -> State:
        # The replica's state now: a reload replaces it, so it is never kept in an attribute.
        return self._replica.state

    @property
    def replica(self) -> Replica:
        """The replica of the store that this dataset reads and writes (see
        :mod:`jupyter_labeler.replica`): its :attr:`~Replica.journal`, the names of the journal
        objects :attr:`~Replica.applied`, :meth:`~Replica.reload`. For tools and tests; a
        notebook needs none of it."""
        return self._replica

    @property
    def source(self) -> Store:
        """The store of the source folder (the images), read-only."""
        return self._source

    @property
    def output(self) -> Store:
        """The store of the output folder (journal, snapshots, manifest, features)."""
        return self._output

    @property
    def problems(self) -> list[str]:
        """Problems met reading the store (a malformed manifest line, a corrupt journal object,
        an object another writer left that cannot be read), each a sentence, each said once."""
        return self._replica.problems

    # ------------------------------------------------------------------------------------------
    # observing
    def observe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` after every change; returns a function that stops it.

        ``change.kind`` is "labels", "images", "status" (saving state), "reload" (state
        re-read from the store) or "presence" (other annotators came, left or moved; see
        :attr:`others`). While :meth:`follow` is on, other writers' actions arrive as "labels"
        or "images" changes; those and "status" and "presence" come from a background thread.
        """
        self._observers.append(callback)

        def unobserve() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(callback)

        return unobserve

    @property
    def observers(self) -> tuple[Callable[[Change], None], ...]:
        """The callbacks :meth:`observe` added and not yet stopped."""
        return tuple(self._observers)

    def _notify(self, change: Change) -> None:
        for callback in list(self._observers):
            try:
                callback(change)
            except Exception:
                log.exception("a Dataset observer failed on %s", change.kind)

    @property
    def status(self) -> SaveStatus:
        """Saving state: "saved", "saving", "pending" (N actions wait for the store) or "error"."""
        return self._replica.status

    @property
    def pending(self) -> int:
        """How many actions are applied here but not yet written to the store."""
        return self._replica.pending

    # ------------------------------------------------------------------------------------------
    # where things are
    @property
    def source_url(self) -> str:
        return self._source.url

    @property
    def output_url(self) -> str:
        return self._output.url

    @property
    def manifest_url(self) -> str:
        """Where the ModelArts manifest stays (rewritten by every :meth:`save`)."""
        return self._output.url_of(MANIFEST_NAME)

    def __repr__(self) -> str:
        return f"<Dataset {self._source.url!r}: {self._read(views.summary)}>"

    def __len__(self) -> int:
        return len(self._state)

    # ------------------------------------------------------------------------------------------
    # tables and views (see jupyter_labeler.views)
    @property
    def images(self) -> pd.DataFrame:
        """One row per image: index ``image_id``; ``path``, ``labels`` (list), ``size``, ``usage``,
        ``added_at``; once images are assigned or reviewed (see :meth:`assign`), also
        ``assigned_to`` (list), ``review`` ("accepted", "rejected" or ""), ``reviewed_by`` and
        ``review_reason``."""
        return self._read(views.view_table, self.author, "all")

    def unlabeled(self) -> pd.DataFrame:
        """The images without any label (same columns as :attr:`images`)."""
        return self._read(views.view_table, self.author, "unlabeled")

    def labeled(self) -> pd.DataFrame:
        """The images with at least one label."""
        return self._read(views.view_table, self.author, "labeled")

    def with_label(self, name: str) -> pd.DataFrame:
        """The images carrying the label ``name``."""
        return self._read(views.with_label, name)

    def ids(self, view: str = "all", label: str | None = None) -> pd.Index:
        """Image ids of a view, optionally with one label: "all", "labeled", "unlabeled",
        "mine" or "review".

        "mine" is this author's work (see :meth:`assign`): the images assigned to them that
        they have not labeled yet, and those of theirs that a reviewer rejected (:meth:`mine`
        says why). "review" is the labeled images no reviewer has accepted or rejected yet,
        but those assigned to this author: nobody reviews their own work (see
        :meth:`review_excluded`). Cheap to call again: the answer is cached until the next
        change.
        """
        return self._read(views.ids, self.author, view, label)

    def unknown_ids(self, ids: Iterable[str]) -> list[str]:
        """The ids that are not images of this dataset (fast: no table is built)."""
        return self._read(views.unknown_ids, ids)

    def in_view(
        self, ids: Iterable[str], view: str = "all", label: str | None = None
    ) -> np.ndarray:
        """For each id, whether the view (and label filter) shows that image."""
        return self._read(views.in_view, self.author, ids, view, label)

    def position(self, image_id: str, view: str = "all", label: str | None = None) -> int | None:
        """Where ``image_id`` stands in :meth:`ids` of that view, or None when not shown."""
        return self._read(views.position, self.author, image_id, view, label)

    def view_counts(self) -> dict[str, int]:
        """How many images each tab shows: {"all": ..., "labeled": ..., "unlabeled": ...},
        and "mine" and "review" once the dataset has assignments or reviews."""
        return self._read(views.view_counts, self.author)

    def review_excluded(self) -> int:
        """How many images wait for review but are left out of this author's "review" view:
        labeled, not accepted or rejected yet, and assigned to this author (nobody reviews
        their own work: another reviewer does)."""
        return self._read(views.review_excluded, self.author)

    @property
    def has_team(self) -> bool:
        """Whether images were ever assigned or reviewed (see :meth:`assign`)."""
        return self._state.team is not None

    @property
    def label_names(self) -> list[str]:
        """Every label, in the order of the All Labels pane (order of creation)."""
        with self._lock:
            return list(self._state.labels)

    def counts(self, by: str | None = None, *, accepted_only: bool = False) -> pd.DataFrame:
        """Images per label: index ``label``, column ``images``, most images first.

        ``by="usage"`` gives a column per part of the split instead (``TRAIN``, ``EVAL``,
        ``TEST``, and ``none`` for images in no part; other usages a manifest held come after)
        and a ``total``. ``accepted_only=True`` counts only the images a reviewer accepted
        (see :meth:`review`).
        """
        return self._read(views.counts, by, accepted_only=accepted_only)

    def readiness(self) -> Readiness:
        """Whether the labels suffice for training (ModelArts ExeML: 2+ labels with 5+ images).

        Once images are put in an eval part (see :meth:`split`), every label must have at
        least one image there too.
        """
        return self._read(views.readiness)

    def labels_of(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """The labels of each image id (unknown ids map to an empty list)."""
        return self._read(views.labels_of, ids)

    def info(self, image_id: str) -> dict[str, Any]:
        """Path, URL, size, usage, labels and when it was added, for one image."""
        return self._read(views.info, self._source, image_id)

    # ------------------------------------------------------------------------------------------
    # images' bytes
    def read_image(self, image_id: str) -> bytes:
        """The bytes of one image, as stored."""
        path = self.info(image_id)["path"]
        return self._source.read(path)

    def thumbnails(self, ids: Iterable[str], size: int = 160) -> dict[str, Thumbnail]:
        """JPEG thumbnails of these images, fetched in one concurrent batch and cached.

        A broken image gets a placeholder whose ``error`` says why.
        """
        with self._lock:
            files = views.files_of(self._state, ids)
        return self._thumbs.get(files, size)

    def prefetch_thumbnails(self, ids: Iterable[str], size: int = 160) -> None:
        """Start making these thumbnails in the background (for the next page)."""
        with self._lock:
            files = views.files_of(self._state, ids)
        self._thumbs.prefetch(files, size)

    def _do(self, plan: Plan) -> ActionResult:
        """Apply ``plan``, write it as one journal event and tell observers."""
        return self._replica.record(plan)

    def _read(self, query: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``query(state, *args, **kwargs)`` with the lock held: one of the views' answers."""
        with self._lock:
            return query(self._state, *args, **kwargs)

    def _codes(self, ids: Iterable[str] | str) -> np.ndarray:
        return views.resolve(self._state, ids)

    def _act(
        self, planner: Callable[..., Plan | ActionResult], *args: Any, **kw: Any
    ) -> ActionResult:
        """Ask ``planner(state, *args, **kw)`` for a plan with the lock held, then carry it out."""
        with self._lock:
            plan = planner(self._state, *args, **kw)
        return self._carry_out(plan)

    def _carry_out(self, plan: Plan | ActionResult) -> ActionResult:
        """Record a planner's ``plan`` (a result instead says that there is nothing to do),
        then delete the source files it names: only once the action is recorded."""
        if isinstance(plan, ActionResult):
            return plan
        result = self._do(plan)
        doomed = image_actions.files_to_delete(plan)
        return self._delete_files(doomed, result) if doomed else result

    # ------------------------------------------------------------------------------------------
    # label actions (planned in jupyter_labeler.label_plans)
    def add_label(
        self,
        name: str,
        ids: Iterable[str] | str,
        *,
        annotated_by: list[str] | None = None,
        created_at: list[str] | None = None,
    ) -> ActionResult:
        """Give the label ``name`` (new or existing) to every image in ``ids``.

        The name is checked by :func:`~jupyter_labeler.names.validate_label` first. Each new
        annotation records this dataset's author and the time now, unless ``annotated_by`` /
        ``created_at`` give one value per id (as an import of foreign labels keeps them; an
        empty string is a value that was absent).
        """
        name = validate_label(name)
        return self._act(
            label_plans.add_label,
            self.author,
            name,
            ids,
            annotated_by=annotated_by,
            created_at=created_at,
        )

    def remove_label(self, name: str, ids: Iterable[str] | str) -> ActionResult:
        """Take the label ``name`` off every image in ``ids`` (the label itself stays)."""
        return self._act(label_plans.remove_label, self.author, name, ids)

    def rename_label(self, old: str, new: str) -> ActionResult:
        """Rename a label on every image; when ``new`` exists already the two are merged."""
        new = validate_label(new)
        return self._act(label_plans.rename_label, old, new)

    def delete_label(self, name: str, mode: str = "label_only") -> ActionResult:
        """Delete a label, in one of the three ways of the ModelArts page.

        - ``"label_only"``: the label goes; its images stay (unlabeled if it was their only one).
        - ``"with_images"``: also removes from the dataset every image that carried only this
          label; their source files are kept.
        - ``"with_images_and_files"``: the same, and deletes those images' source files.
          **This cannot be undone**: deleted files do not come back.
        """
        return self._act(label_plans.delete_label, name, mode)

    # ------------------------------------------------------------------------------------------
    # train / eval / test parts
    def set_usage(self, ids: Iterable[str] | str, usage: str | None) -> ActionResult:
        """Put images in a part of the split: ``"TRAIN"``, ``"EVAL"``, ``"TEST"`` or None (none).

        Written into the manifest's ``usage``, as ModelArts ExeML reads it; undoable.
        """
        return self._act(label_plans.set_usage, ids, usage)

    def split(
        self, eval: float = 0.2, test: float = 0.0, seed: int = 0, reassign: bool = False
    ) -> ActionResult:
        """Split the labeled images into TRAIN, EVAL and TEST parts, stratified per label.

        Each label gives ``eval`` of its images to EVAL (at least one when it has two or more)
        and ``test`` to TEST; the rest go to TRAIN. An image with several labels counts for its
        rarest. Images already in a part keep it unless ``reassign=True``; unlabeled images get
        no part. The same ``seed`` gives the same split. One action, undoable.

        >>> ds.split(eval=0.2, seed=0)  # doctest: +SKIP
        >>> ds.counts(by="usage")  # doctest: +SKIP
        """
        return self._act(label_plans.split, eval, test, seed, reassign)

    # ------------------------------------------------------------------------------------------
    # team labeling: assignments, review, agreement (see jupyter_labeler.team)
    def assign(
        self,
        annotators: Iterable[str] | str,
        ids: Iterable[str] | str | None = None,
        overlap: float = 0.0,
        seed: int = 0,
        copies: int = 2,
    ) -> ActionResult:
        """Share images out among ``annotators``: each sees its own in the "mine" view.

        ``ids`` are the images to share (by default the unlabeled ones); each goes to one
        annotator, evenly, and a share ``overlap`` of them to ``copies`` different annotators
        for a quality check (see :meth:`agreement`). The same ``seed`` gives the same
        assignment. Images already assigned are reassigned. One action, undoable.

        >>> ds.assign(["alice", "bob"], overlap=0.1)  # doctest: +SKIP
        >>> ds.progress()  # doctest: +SKIP
        """
        names = [annotators] if isinstance(annotators, str) else list(annotators)
        _team.check_assignment(names, overlap, copies)
        with self._lock:
            codes = self._state.view_codes("unlabeled") if ids is None else self._codes(ids)
            plan = _team.plan_assign(
                self._state, codes, names, overlap=overlap, copies=copies, seed=seed
            )
        return self._carry_out(plan)

    def unassign(self, ids: Iterable[str] | str) -> ActionResult:
        """Take these images out of everyone's "mine" view. Undoable."""
        return self._act(lambda state: _team.plan_unassign(state, views.resolve(state, ids)))

    def review(
        self, ids: Iterable[str] | str, accept: bool = True, reason: str | None = None
    ) -> ActionResult:
        """Accept or reject images, as this author (the reviewer). Undoable.

        A rejected image goes back to its annotators' "mine" view with the ``reason`` (see
        :meth:`mine`). When an annotator it is assigned to then changes its labels (adds or
        removes one, with :meth:`add_label` / :meth:`remove_label`; on an image shared by
        several annotators, their own labels), it waits for review again: its review becomes
        ``""`` within that same action, so it leaves their rejected images and shows in the
        ``"review"`` view, and undoing the action brings the rejection and its reason back.
        Edits by a reviewer or anyone else it is not assigned to, and label-wide renames,
        leave the rejection as it is; so does accepting it, which ends it.
        ``counts(accepted_only=True)`` and exports with ``accepted_only=True`` keep the
        accepted images only.

        Nobody reviews their own work: images assigned to this author raise
        :class:`~jupyter_labeler.errors.SelfReviewError` (and nothing is reviewed); every
        reader refuses such a review in the journal too. Assigning an image to its reviewer
        later takes that review off it.
        """
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_TEXT_CHARS):
            raise ValueError(f"reason must be a text of at most {MAX_TEXT_CHARS} characters")
        with self._lock:
            plan = _team.plan_review(
                self._state, self.author, self._codes(ids), accept=accept, reason=reason, at=_now()
            )
        return self._carry_out(plan)

    def mine(self) -> pd.DataFrame:
        """This author's work: the images of :meth:`ids` ``("mine")``, with the columns of
        :attr:`images` (``review_reason`` says why a rejected one came back).

        That is the images assigned to this author that they have not labeled yet, and those
        a reviewer rejected. A rejected image stays here until this author changes its labels
        (it then goes back to review: see :meth:`review`) or a reviewer accepts it."""
        return self._read(views.view_table, self.author, "mine")

    def rejections(self) -> dict[str, int]:
        """Why this author's rejected images came back to their "mine" view: reason -> how
        many images ("" for no reason given). Cheap: no table is built."""
        return self._read(_team.rejection_reasons, self.author)

    def progress(self) -> pd.DataFrame:
        """Per annotator (index): ``assigned``, ``labeled``, ``remaining`` (their "mine"
        view: not labeled yet, or rejected), ``accepted``, ``rejected`` (by a reviewer) and
        ``last_active`` (their newest label, in UTC; a time that is no time is left out and
        named once in :attr:`problems`)."""
        return self._read(_team.progress_table, self._replica.report_unreadable_times)

    def agreement(self) -> pd.DataFrame:
        """How much annotators agree on the images they all labeled (see :meth:`assign`).

        Index: ``(overall)`` (each annotator's whole set of labels for an image as one
        category) then each label (given or not). Columns: ``kappa`` (Cohen's for two
        annotators, Fleiss' for more; NaN when chance alone would agree), ``method``,
        ``images``, ``annotators``, ``agree`` (the share of images on which all agree).
        """
        with self._lock:
            table, names = ratings(self._state), list(self._state.labels)
        return agreement_table(table, names)

    def disagreements(self) -> pd.DataFrame:
        """The shared images that all their annotators labeled, but not alike: one row per
        image and annotator: ``image_id``, ``annotator``, ``labels`` (list, sorted)."""
        with self._lock:
            table = ratings(self._state)
        return disagreement_table(table)

    # ------------------------------------------------------------------------------------------
    # image actions (planned in jupyter_labeler.image_actions and jupyter_labeler.syncing)
    def remove_images(self, ids: Iterable[str] | str, delete_source: bool = False) -> ActionResult:
        """Remove images from the dataset; with ``delete_source=True`` also delete their files.

        Deleting source files is permanent: ``undo`` cannot bring them back. Only an explicit
        ``delete_source=True`` deletes anything.
        """
        return self._act(image_actions.remove_images, ids, delete_source)

    def _delete_files(self, paths: list[str], result: ActionResult) -> ActionResult:
        tried, failed = image_actions.delete_files(self._source, paths, exclude=self._exclude)
        self._thumbs.invalidate(tried)
        return image_actions.with_failures(result, failed)

    def add_images(self, files: Mapping[str, bytes]) -> UploadResult:
        """Add uploaded images (file name -> bytes) to the source folder and the dataset.

        Each image may be at most 5 MB and one upload at most 8 MB; the bytes must decode as
        JPG, PNG or BMP whatever the name says. Names are cleaned (no folders, ``+``, spaces or
        tabs) and a name already taken gets a suffix: nothing is ever overwritten. Refused files
        are listed with their reasons in the result; the others are added unlabeled.
        """
        with self._lock:
            known = image_actions.live_paths(self._state)
        plan, result = image_actions.add_images(self._source, files, known)
        if plan is not None:
            result.saved = self._do(plan).saved
        return result

    def sync(self, progress: Callable[[int, int], None] | None = None) -> SyncSummary:
        """Synchronize with the source folder: add new images, drop vanished ones.

        Finds JPG/JPEG/PNG/BMP files in the source folder and its subfolders (skipping hidden
        ones and the label output). A ``.txt`` file beside a new or unlabeled image, one label a
        line, gives it those labels, as ModelArts does. ``progress(done, total)`` is called as
        the work goes on.
        """
        report = progress or (lambda done, total: None)
        report(0, 1)
        scan = scan_folder(self._source, exclude=self._exclude)
        with self._lock:
            live = syncing.live_images(self._state)
        work = syncing.plan_sync(scan, live, self._source, self.author)
        for step in work.steps:
            work.summary.saved &= self._do(step.plan).saved
            if step.done is not None:
                report(step.done, work.total)
        report(work.total, work.total)
        return work.summary

    # ------------------------------------------------------------------------------------------
    # undo
    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` has an action of this session to revert."""
        return self._replica.can_undo

    @property
    def undo_description(self) -> str | None:
        """What :meth:`undo` would revert, in words (None when nothing)."""
        return self._replica.undo_description

    def undo(self) -> ActionResult:
        """Revert this author's last action in this session, saved as a new action.

        An action that deleted source files cannot be undone (the files are gone): it raises
        :class:`~jupyter_labeler.errors.UndoError` and is dropped from the undo history.
        """
        return self._replica.undo()

    # ------------------------------------------------------------------------------------------
    # saving, refreshing
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write every action still waiting for the store; True when none is left."""
        return self._replica.flush(timeout)

    def refresh(self) -> bool:
        """Pick up other writers' actions from the store; True when something changed.

        It reads the whole journal's listing: actions applied from the feed (see
        :meth:`follow`) are checked against their journal objects too.
        """
        return self._replica.refresh()

    # ------------------------------------------------------------------------------------------
    # following other annotators
    def follow(self, interval: float | None = 3.0) -> None:
        """Apply other annotators' actions as they happen, every ``interval`` seconds.

        A background thread calls :meth:`poll` (one cheap listing of the feed; every third
        poll checks it against the journal, every hundredth reads the whole journal: see
        :mod:`jupyter_labeler.follow`) and :meth:`heartbeat` every 15 s, and tells observers.
        When the store fails it pauses and resumes by itself. ``follow(None)`` stops it.
        """
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
        if interval is None:
            return
        self._follower = Follower(
            lambda full, wide: self.poll(wide=wide, full=full),
            self.heartbeat,
            interval=interval,
            beat=HEARTBEAT_EVERY,
        )
        self._follower.start()

    @property
    def following(self) -> bool:
        """Whether :meth:`follow` is on."""
        return self._follower is not None and self._follower.alive

    @property
    def follow_error(self) -> str | None:
        """Why following is paused (the store fails), or None."""
        return self._follower.error if self._follower is not None else None

    @property
    def follower(self) -> Follower | None:
        """The background thread of :meth:`follow` while it is on (how many ``polls`` it
        made), else None."""
        return self._follower

    def poll(self, *, wide: bool = False, full: bool = False) -> bool:
        """One poll of :meth:`follow`, now; True when the dataset changed.

        It lists the feed (see :mod:`jupyter_labeler.journal`) and applies the new actions,
        each in its place in the journal's order. A feed entry is a hint, not the record: what
        it carries is applied at once, then checked against its journal object by the next
        ``wide`` poll, which also finds the actions of the last seconds that no feed entry
        carries; a difference is said once in :attr:`problems` (see
        :mod:`jupyter_labeler.catch_up`). ``full`` lists the whole journal (see :meth:`refresh`).
        A snapshot (:meth:`save`) holds journal objects only.
        """
        return self._replica.poll(wide=wide, full=full)

    def set_presence(self, view: str = "all", page: int = 0) -> None:
        """Where this annotator is (the view and 0-based page), told to the others."""
        self._presence.set(view, page)

    def heartbeat(self) -> None:
        """Tell the others where this annotator is now and see where they are (what
        :meth:`follow` does every 15 s); observers hear "presence" when :attr:`others` changed."""
        self._presence.beat()

    @property
    def others(self) -> list[tuple[str, str, int]]:
        """(author, view, page) of the other annotators seen at the last heartbeat (see
        :meth:`follow`; this author in another tab or kernel is left out); :meth:`annotators`
        asks the store now."""
        return self._presence.others

    def annotators(self) -> pd.DataFrame:
        """The other annotators active on this dataset in the last minute, and where they are.

        Columns ``author``, ``view``, ``page`` (0-based), ``seen_s_ago``. Only annotators whose
        dataset follows (see :meth:`follow`) send heartbeats.
        """
        return self._presence.annotators()

    def _note_problems(self, lines: Iterable[str]) -> list[str]:
        """Add to :attr:`problems` the lines not noted before (each is told once, and kept
        there when the dataset is read again); returns those."""
        return self._replica.note_problems(lines)

    def recent_activity(self, within: float = 300.0) -> list[str]:
        """What other annotators did in the last ``within`` seconds, newest first, in words."""
        return self._replica.recent_activity(within)

    def save(self) -> str:
        """Compact the journal into a snapshot and return the URL of the ModelArts manifest.

        The manifest always stays at :attr:`manifest_url`. Raises
        :class:`~jupyter_labeler.errors.StoreUnavailableError` when actions still wait for an
        unreachable store (nothing is lost: they stay queued).
        """
        return self._replica.save()

    def close(self) -> None:
        """Write what is still waiting (for up to 10 s) and stop background work."""
        self.follow(None)
        self._replica.close()
        self._thumbs.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------
    # for imports, exports and exploring (see jupyter_labeler.formats); read-only
    def paths(self) -> pd.Series:
        """The path of every image relative to the source folder: index ``image_id``.

        Cheaper than :attr:`images` when only paths are wanted (no list of labels per row).
        """
        return self._read(views.paths)

    def paths_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The path of each known image id, relative to the source folder (one lookup for all)."""
        return self._read(views.paths_of, ids)

    def usage_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The part of the split of each image id ("" for none, and for unknown ids)."""
        return self._read(views.usage_of, ids)

    def usages(self) -> pd.Series:
        """The part of the split of every image (``"TRAIN"``, ``"EVAL"``, ``"TEST"``, or ``""``
        for none): index ``image_id``, in the order of :meth:`paths`."""
        return self._read(views.usages)

    def annotations(self) -> pd.DataFrame:
        """Every (image, label) pair, one row each, in long format.

        Columns ``image_id``, ``path``, ``label``, ``annotated_by`` and ``created_at`` (text, as
        in the manifest's ``annotated-by`` and ``creation-time``); sorted by image, then label
        order. An image with no label has no row.
        """
        return self._read(views.annotation_table)

    def manifest_bytes(self) -> bytes:
        """The ModelArts manifest of the current state (what :meth:`save` would write)."""
        with self._lock:
            return self._replica.manifest()

    def relative_path(self, url: str) -> str:
        """The path key (relative to the source folder) of a URL or absolute path in it.

        Anything outside the source folder comes back unchanged.
        """
        rel = self._replica.urls.relative(url)
        return rel if rel is not None else url

    def read_images(self, ids: Iterable[str]) -> dict[str, bytes | Exception]:
        """The bytes of several images, read in one concurrent batch; a failure is returned."""
        with self._lock:
            paths = views.image_paths(self._state, ids)
        got = self._source.read_many(sorted(set(paths.values())))
        return {i: got[p] for i, p in paths.items()}

    # ------------------------------------------------------------------------------------------
    # assisted labeling: features, suggestions, similar images, duplicates (see
    # jupyter_labeler.assisted; the work is in .features, .suggest and .duplicates)
    @functools.cached_property
    def feature_cache(self) -> assisted.FeatureCache:
        """What assisted labeling keeps between calls: features read, models fitted."""
        return assisted.feature_cache_of(self)

    def compute_features(
        self,
        embedder: str | features.Embedder = features.BUILTIN,
        *,
        name: str | None = None,
        client: Any = None,
        progress: Callable[[int, int], None] | bool | None = None,
        batch_size: int = features.BATCH_SIZE,
    ) -> features.ComputeSummary:
        """Compute a feature vector for every image that has none yet, and keep them.

        They are stored in the output folder under ``features/<name>/`` (Parquet, one file per
        batch), so every annotator of the dataset shares them; a second run (after a
        :meth:`sync`, say) computes only the new images. ``embedder`` is ``"builtin"`` (a colour,
        layout and gradient descriptor: no model, no download) or a callable taking a list of
        PIL images and returning a 2-D array (then ``name=`` names its folder, by default the
        callable's ``__name__``); see :mod:`jupyter_labeler.features` for a five-line example.
        With a ``dask.distributed`` ``client``, batches run on the cluster, each worker reading
        its images from the store. ``progress`` is a ``callable(done, total)``, ``False`` for
        none, or None for a ``tqdm.auto`` bar.

        >>> ds.compute_features()  # doctest: +SKIP
        ComputeSummary(embedder='builtin', computed=300, reused=0, ...)
        """
        return assisted.compute_features(
            self, embedder, name=name, client=client, progress=progress, batch_size=batch_size
        )

    def has_features(self, embedder: str = features.BUILTIN) -> bool:
        """Whether any features of ``embedder`` are stored (one listing of the store)."""
        return assisted.has_features(self, embedder)

    def suggest(self, min_per_label: int = 5, *, embedder: str = features.BUILTIN) -> pd.DataFrame:
        """For every unlabeled image with features, its suggested label(s) and a confidence.

        Index ``image_id``; columns ``label`` and ``confidence`` (0 to 1). A model is fitted on
        the labeled images' features: multinomial when every image has one label (one row per
        image), one-vs-rest otherwise (a row per label above 0.5, at least one per image).
        Labels with fewer than ``min_per_label`` labeled images, or carried by every labeled
        image (nothing to tell them from), are never suggested: they are named in the result's
        ``attrs["not_suggested"]``. Empty until two labels qualify.
        """
        return assisted.suggest(self, min_per_label, embedder=embedder)

    def accept_suggestions(
        self,
        ids: Iterable[str] | None = None,
        min_confidence: float = 0.9,
        *,
        min_per_label: int = 5,
        embedder: str = features.BUILTIN,
    ) -> ActionResult:
        """Label the unlabeled images (all, or ``ids``) whose suggestion has ``min_confidence``.

        One action, undoable; each annotation keeps its ``confidence`` in the manifest, with
        this Dataset's author as ``annotated-by``.
        """
        return self._carry_out(
            assisted.accept_suggestions(
                self, ids, min_confidence, min_per_label=min_per_label, embedder=embedder
            )
        )

    def uncertain(
        self, n: int = 48, *, min_per_label: int = 5, embedder: str = features.BUILTIN
    ) -> pd.DataFrame:
        """The ``n`` unlabeled images the model is least sure of, least sure first (to label
        next: active learning). The columns of :meth:`suggest` (the likeliest label, one row per
        image) and ``certainty``: the top probability, or with several labels an image the
        least decided of its labels' max(p, 1 - p)."""
        return assisted.uncertain(self, n, min_per_label=min_per_label, embedder=embedder)

    def similar(
        self,
        ids: Iterable[str] | str,
        k: int = 48,
        view: str = "unlabeled",
        *,
        embedder: str = features.BUILTIN,
    ) -> pd.DataFrame:
        """The ``k`` images of ``view`` most like ``ids`` (cosine distance to their mean vector),
        nearest first: index ``image_id``, column ``distance`` (0 = the same direction)."""
        return assisted.similar(self, ids, k, view, embedder=embedder)

    def duplicates(self, max_distance: int = 4) -> pd.DataFrame:
        """Groups of duplicate images: exact (the same bytes) and near (64-bit perceptual hashes
        within ``max_distance`` bits). Index ``image_id``; columns ``group``, ``path``,
        ``usage``, ``exact`` (a byte-identical twin is in the group) and ``distance`` (bits from
        the group's first image). Use it to find images in both TRAIN and EVAL, then
        :meth:`remove_images`."""
        return assisted.duplicates(self, max_distance)

    # ------------------------------------------------------------------------------------------
    # label quality (see jupyter_labeler.label_quality and docs/label-quality.md)
    def label_issues(
        self,
        embedder: str | features.Embedder = features.BUILTIN,
        *,
        min_per_label: int = 5,
        include_confirmed: bool = False,
    ) -> pd.DataFrame:
        """The labeled images whose label is likely wrong, most suspicious first: index
        ``image_id``; ``given_label``, ``likely_label``, their ``*_confidence``, ``labels``.
        ``attrs``: ``estimated_issues``, ``not_checked`` (labels of under ``min_per_label``
        images), ``confirmed`` (see :meth:`confirm_labels`), ``reason`` (nothing judged)."""
        return label_quality.label_issues(self, embedder, min_per_label, include_confirmed)

    def confirm_labels(self, ids: label_quality.Pairs, label: str | None = None) -> ActionResult:
        """Keep labels, checked: left out of :meth:`label_issues` for everyone. ``ids`` and
        ``label``, ``ids`` (all their labels) or rows of :meth:`label_issues`. Undoable."""
        return self._act(label_quality.confirm_labels, self.author, ids, label)

    def relabel(
        self, ids: label_quality.Pairs, old: str | None = None, new: str | None = None
    ) -> ActionResult:
        """Replace ``old`` by ``new`` on ``ids``, or on rows of :meth:`label_issues` the given
        label by the likely one (then checked). One action, undoable."""
        return self._act(label_quality.relabel, self.author, ids, old, new)

    def groups(
        self, k: int | None = None, view: str = "unlabeled", *, embedder: Any = features.BUILTIN
    ) -> pd.Series:
        """The group (k-means; ``k=None``: chosen) of each image of ``view`` with features,
        numbered largest first: see :mod:`jupyter_labeler.groups`."""
        return label_quality.groups(self, k, view, embedder=embedder)
