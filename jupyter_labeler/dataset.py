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
import getpass
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import duplicates as _duplicates
from . import features
from . import suggest as _suggest
from . import team as _team
from .agreement import agreement_table, rating_table
from .errors import (
    LabelerError,
    SelfReviewError,
    StoreError,
    UnknownImageError,
    UnknownLabelError,
    UnsafePathError,
)
from .events import MAX_TEXT_CHARS
from .follow import Follower
from .images import MAX_FILE_BYTES, Thumbnail, ThumbnailCache, file_too_large, placeholder
from .journal import MANIFEST_NAME, SaveStatus
from .manifest import image_id_for
from .names import annotator_of, validate_label
from .paths import image_path_problem
from .plan import Plan
from .presence import HEARTBEAT_EVERY, Presence
from .replica import Replica
from .results import (
    CHANGE_IDS_LIMIT,
    ActionResult,
    Change,
    Readiness,
    SyncSummary,
    UploadResult,
    readiness_from_counts,
)
from .scan import parse_sidecar, scan_folder
from .source_urls import output_inside
from .splits import USAGES, normalize_usage, plan_split
from .state import State, member
from .storage import Store, open_store
from .times import now_text
from .uploads import check_uploads
from .words import plural

__all__ = ["DEFAULT_OUTPUT", "DELETE_MODES", "Dataset"]

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = ".jupyter_labeler"
DELETE_MODES = ("label_only", "with_images", "with_images_and_files")
VIEWS = ("unlabeled", "labeled", "all", "mine", "review")
# A sync adding more images than this is written as several events of this size.
SYNC_CHUNK = 20000
# Up to this many rows, labels are looked up per image; above, from the sorted long table.
_PER_CODE_LIMIT = 50_000


def _touched(ids: list[str]) -> frozenset[str] | None:
    return frozenset(ids) if len(ids) <= CHANGE_IDS_LIMIT else None


def _now() -> str:
    return now_text()


def _back_to_review(ops: list[dict[str, Any]]) -> str:
    """How an action's description says that rejected images went back to review."""
    again = [op for op in ops if op["op"] == "review"]
    return f" ({plural(len(again[0]['ids']), 'image')} back to review)" if again else ""


def _default_author() -> str:
    for var in ("JUPYTERHUB_USER", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


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
        self._thumbs: dict[int, ThumbnailCache] = {}
        self._exclude = output_inside(source, output)
        self._replica = Replica(
            source,
            output,
            author=self.author,
            exclude=self._exclude,
            notify=self._notify,
            on_load=self._clear_thumbnails,  # a path may name other bytes after a reload
        )
        # The replica's, never replaced: every method reads the state with this lock held.
        self._lock = self._replica.lock
        self._journal = self._replica.journal
        self._unreadable_times = self._replica.unreadable_times
        self._follower: Follower | None = None
        self._presence = Presence(
            output,
            self._journal.writer,
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
        source_store = open_store(source, storage_options)
        if output is None:
            output_store = source_store.child(DEFAULT_OUTPUT)
        else:
            output_store = open_store(output, storage_options)
        dataset = cls(source_store, output_store, author=author or _default_author())
        fresh = dataset._replica.load()
        if fresh:
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

    def _relative_source(self, url: str) -> str | None:
        return self._replica.urls.relative(url)

    def _write_manifest(self) -> bytes:
        return self._replica.manifest()

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
        with self._lock:
            n, labeled = len(self._state), int(self._state.labeled_mask().sum())
            k = len(self._state.labels)
        return (
            f"<Dataset {self._source.url!r}: {n} images, {labeled} labeled, "
            f"{k} label{'s' if k != 1 else ''}>"
        )

    def __len__(self) -> int:
        return len(self._state)

    # ------------------------------------------------------------------------------------------
    # tables
    def _table(self, codes: np.ndarray) -> pd.DataFrame:
        s = self._state
        codes = np.asarray(codes, dtype=np.int64)
        by_code = s.labels_by_code(codes) if len(codes) <= _PER_CODE_LIMIT else None
        if by_code is None:
            long_codes, which, _, _ = s.label_codes_long()
            names = np.asarray(list(s.labels), dtype=object)
            starts = np.searchsorted(long_codes, codes, side="left")
            stops = np.searchsorted(long_codes, codes, side="right")
            labels = [
                names[which[a:b]].tolist()
                for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
            ]
        else:
            labels = [by_code[int(c)] for c in codes]
        columns = {
            "path": pd.array(s.paths[codes], dtype=object),
            "labels": pd.array(labels, dtype=object),
            "size": s.sizes[codes],
            "usage": pd.Categorical(s.usage[codes]),
            "added_at": pd.array(s.added_at[codes], dtype=object),
        }
        if s.team is not None:  # only datasets that assign or review have these columns
            columns.update(_team.image_columns(s, codes))
        return pd.DataFrame(columns, index=pd.Index(s.ids[codes], name="image_id", dtype=object))

    @property
    def images(self) -> pd.DataFrame:
        """One row per image: index ``image_id``; ``path``, ``labels`` (list), ``size``, ``usage``,
        ``added_at``; once images are assigned or reviewed (see :meth:`assign`), also
        ``assigned_to`` (list), ``review`` ("accepted", "rejected" or ""), ``reviewed_by`` and
        ``review_reason``."""
        with self._lock:
            return self._table(self._state.view_codes("all"))

    def unlabeled(self) -> pd.DataFrame:
        """The images without any label (same columns as :attr:`images`)."""
        with self._lock:
            return self._table(self._state.view_codes("unlabeled"))

    def labeled(self) -> pd.DataFrame:
        """The images with at least one label."""
        with self._lock:
            return self._table(self._state.view_codes("labeled"))

    def with_label(self, name: str) -> pd.DataFrame:
        """The images carrying the label ``name``."""
        with self._lock:
            if name not in self._state.labels:
                raise UnknownLabelError(name)
            return self._table(self._state.view_codes("all", name))

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
        with self._lock:
            key = ("ids", view, label)
            found = self._state._cache.get(key)
            if found is None:
                codes = self._view_code_array(view, label)
                found = pd.Index(self._state.ids[codes], dtype=object, name="image_id")
                self._state._cache[key] = found
            return found

    def _view_code_array(self, view: str, label: str | None) -> np.ndarray:
        """Sorted codes of a view (the order :meth:`ids` gives); call with the lock held."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}; not {view!r}")
        s = self._state
        if view in ("mine", "review"):
            key = (view, self.author)
            found = s._cache.get(key)
            if found is None:
                me = s.authors._index.get(self.author, -1)
                found = s._cache[key] = (
                    self._mine()[0] if view == "mine" else _team.to_review(s, me)
                )
            return found if label is None else found[member(found, s.view_codes("all", label))]
        if label is None:
            return s.view_codes(view)
        if view == "unlabeled":
            return np.empty(0, np.int64)
        return s.view_codes("all", label)

    def unknown_ids(self, ids: Iterable[str]) -> list[str]:
        """The ids that are not images of this dataset (fast: no table is built)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
        return [ids[i] for i in np.flatnonzero(codes < 0).tolist()]

    def in_view(
        self, ids: Iterable[str], view: str = "all", label: str | None = None
    ) -> np.ndarray:
        """For each id, whether the view (and label filter) shows that image."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            shown = self._view_code_array(view, label)
            return (codes >= 0) & member(codes, shown)

    def position(self, image_id: str, view: str = "all", label: str | None = None) -> int | None:
        """Where ``image_id`` stands in :meth:`ids` of that view, or None when not shown."""
        with self._lock:
            code = int(self._state.lookup([image_id])[0])
            shown = self._view_code_array(view, label)
            if code < 0 or not len(shown):
                return None
            at = int(np.searchsorted(shown, code))
            return at if at < len(shown) and shown[at] == code else None

    def view_counts(self) -> dict[str, int]:
        """How many images each tab shows: {"all": ..., "labeled": ..., "unlabeled": ...},
        and "mine" and "review" once the dataset has assignments or reviews."""
        with self._lock:
            labeled = int(self._state.labeled_mask().sum())
            total = len(self._state)
            out = {"all": total, "labeled": labeled, "unlabeled": total - labeled}
            if self._state.team is not None:
                out["mine"] = len(self._view_code_array("mine", None))
                out["review"] = len(self._view_code_array("review", None))
        return out

    def review_excluded(self) -> int:
        """How many images wait for review but are left out of this author's "review" view:
        labeled, not accepted or rejected yet, and assigned to this author (nobody reviews
        their own work: another reviewer does)."""
        with self._lock:
            s = self._state
            if s.team is None or self.author not in s.authors._index:
                return 0
            waiting = _team.to_review(s, -1)
            return int(s.team.is_assigned(waiting, s.authors.code(self.author)).sum())

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
        if by not in (None, "usage"):
            raise ValueError(f"by must be None or 'usage', not {by!r}")
        with self._lock:
            names = list(self._state.labels)
            accepted = _team.accepted_codes(self._state) if accepted_only else None
            values = np.fromiter(
                (
                    len(ls) if accepted is None else int(member(ls.codes, accepted).sum())
                    for ls in self._state.labels.values()
                ),
                dtype=np.int64,
                count=len(names),
            )
            if by == "usage":
                codes, which, _, _ = self._state.label_codes_long()
                if accepted is not None:
                    keep = member(codes, accepted)
                    codes, which = codes[keep], which[keep]
                usage = self._state.usage[codes]
        order = np.argsort(-values, kind="stable")
        index = pd.Index(np.asarray(names, dtype=object)[order], name="label", dtype=object)
        if by is None:
            return pd.DataFrame({"images": values[order]}, index=index)
        # A count per (label, part) by one bincount: pandas' crosstab costs ~50 ms even on a
        # few hundred images, and readiness() runs after every action of the Labeler.
        seen, part_of = np.unique(np.where(usage == "", "none", usage), return_inverse=True)
        parts = [*USAGES, "none"]
        parts += sorted(set(seen.tolist()) - set(parts))
        column = np.asarray([parts.index(part) for part in seen.tolist()], dtype=np.int64)
        flat = np.asarray(which, dtype=np.int64) * len(parts) + column[part_of.reshape(-1)]
        grid = np.bincount(flat, minlength=len(names) * len(parts)).reshape(len(names), len(parts))
        table = pd.DataFrame(
            grid[order], index=index, columns=pd.Index(parts, name="usage", dtype=object)
        )
        table["total"] = values[order]
        return table

    def readiness(self) -> Readiness:
        """Whether the labels suffice for training (ModelArts ExeML: 2+ labels with 5+ images).

        Once images are put in an eval part (see :meth:`split`), every label must have at
        least one image there too.
        """
        by_usage = self.counts(by="usage")
        return readiness_from_counts(
            by_usage["total"], self.view_counts()["unlabeled"], eval_counts=by_usage["EVAL"]
        )

    def labels_of(self, ids: Iterable[str]) -> dict[str, list[str]]:
        """The labels of each image id (unknown ids map to an empty list)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            by_code = self._state.labels_by_code(codes[codes >= 0])
        return {
            i: by_code.get(int(c), []) if c >= 0 else [] for i, c in zip(ids, codes, strict=True)
        }

    def info(self, image_id: str) -> dict[str, Any]:
        """Path, URL, size, usage, labels and when it was added, for one image."""
        with self._lock:
            code = int(self._state.lookup([image_id])[0])
            if code < 0:
                raise UnknownImageError([image_id])
            s = self._state
            path = s.paths[code]
            return {
                "image_id": image_id,
                "path": path,
                "url": self._source.url_of(path),
                "size": int(s.sizes[code]),
                "usage": s.usage[code],
                "labels": s.labels_by_code(np.asarray([code]))[code],
                "added_at": s.added_at[code],
            }

    # ------------------------------------------------------------------------------------------
    # images' bytes
    def read_image(self, image_id: str) -> bytes:
        """The bytes of one image, as stored."""
        path = self.info(image_id)["path"]
        return self._source.read(path)

    def _thumbnail_cache(self, size: int) -> ThumbnailCache:
        cache = self._thumbs.get(size)
        if cache is None:
            cache = self._thumbs[size] = ThumbnailCache(self._read_for_thumbnails, size=size)
        return cache

    def _read_for_thumbnails(self, paths: list[str]) -> dict[str, bytes | Exception]:
        # Never more than MAX_FILE_BYTES + 1 of a file: the thumbnailer refuses it anyway.
        return self._source.read_many(paths, limit=MAX_FILE_BYTES)

    def _clear_thumbnails(self) -> None:
        for cache in self._thumbs.values():
            cache.clear()

    def thumbnails(self, ids: Iterable[str], size: int = 160) -> dict[str, Thumbnail]:
        """JPEG thumbnails of these images, fetched in one concurrent batch and cached.

        A broken image gets a placeholder whose ``error`` says why.
        """
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            paths = [self._state.paths[c] if c >= 0 else None for c in codes.tolist()]
            sizes = [int(self._state.sizes[c]) if c >= 0 else 0 for c in codes.tolist()]
        # A file listed as larger than any photo is not read at all.
        huge = {
            p for p, n in zip(paths, sizes, strict=True) if p is not None and n > MAX_FILE_BYTES
        }
        found = self._thumbnail_cache(size).get(
            [p for p in paths if p is not None and p not in huge]
        )
        out: dict[str, Thumbnail] = {}
        for image_id, path, nbytes in zip(ids, paths, sizes, strict=True):
            if path in huge:
                out[image_id] = placeholder(file_too_large(nbytes), size)
            elif path is not None:
                out[image_id] = found[path]
        return out

    def prefetch_thumbnails(self, ids: Iterable[str], size: int = 160) -> None:
        """Start making these thumbnails in the background (for the next page)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            paths = [
                self._state.paths[c]
                for c in codes.tolist()
                if c >= 0 and self._state.sizes[c] <= MAX_FILE_BYTES
            ]
        if paths:
            self._thumbnail_cache(size).prefetch(paths)

    def _record(
        self,
        action: str,
        ops: list[dict[str, Any]],
        *,
        describe: str,
        changed: int,
        change: Change,
        irreversible: str = "",
        undoable: bool = True,
        undoes: str | None = None,
    ) -> ActionResult:
        """Apply ``ops`` here, write them as one journal event, tell observers."""
        plan = Plan(action, ops, describe, changed, change, irreversible, undoable, undoes)
        return self._replica.record(plan)

    def _do(self, plan: Plan) -> ActionResult:
        """Apply ``plan``, write it as one journal event and tell observers."""
        return self._replica.record(plan)

    # ------------------------------------------------------------------------------------------
    # label actions
    def _resolve(self, ids: Iterable[str] | str) -> np.ndarray:
        if isinstance(ids, str):
            ids = [ids]
        codes, missing = self._state.codes_of(ids)
        if missing:
            raise UnknownImageError(missing)
        return codes

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
        given = [ids] if isinstance(ids, str) else list(ids)
        for what, values in (("annotated_by", annotated_by), ("created_at", created_at)):
            if values is not None and len(values) != len(given):
                raise ValueError(f"{what} has {len(values)} values for {len(given)} ids")
        with self._lock:
            codes = self._resolve(given)
            state = self._state
            # On images given to several annotators, each one's own label is kept apart.
            own = _team.own_add_op(state, self.author, name, codes) if state.team else None
            current = state.labels.get(name)
            if current is not None and len(current):
                codes = codes[~np.isin(codes, current.codes)]
            if current is not None and not len(codes) and own is None:
                return ActionResult("add_label", 0, True, f"every image already has {name}")
            op: dict[str, Any] = {
                "op": "label+",
                "label": name,
                "ids": state.ids[codes].tolist(),
                "by": self.author,
                "at": _now(),
                "_codes": codes,
            }
            # The codes come sorted: take each image's own value, by id. Texts are bounded as
            # every reader of the journal bounds them, so that all see the same annotation.
            for key, values in (("by", annotated_by), ("at", created_at)):
                if values is not None:
                    of = dict(zip(given, values, strict=True))
                    op[key] = [str(of[i])[:MAX_TEXT_CHARS] for i in op["ids"]]
            ops = [op, own] if own else [op]
            if state.team:  # a rejected image its annotator relabels goes back to review
                changed = np.union1d(codes, state.lookup(own["ids"]) if own else codes)
                again = _team.review_again_op(state, self.author, changed)
                ops += [again] if again else []
        n = len(codes) or len(own["ids"] if own else ())
        return self._record(
            "add_label",
            ops,
            describe=f"Added {name} to {plural(n, 'image')}" + _back_to_review(ops),
            changed=n,
            change=Change("labels", _touched(op["ids"]), (name,)),
        )

    def remove_label(self, name: str, ids: Iterable[str] | str) -> ActionResult:
        """Take the label ``name`` off every image in ``ids`` (the label itself stays)."""
        with self._lock:
            if name not in self._state.labels:
                raise UnknownLabelError(name)
            codes = self._resolve(ids)
            codes = codes[np.isin(codes, self._state.labels[name].codes)]
            if not len(codes):
                return ActionResult("remove_label", 0, True, f"no selected image has {name}")
            # On a shared image an annotator withdraws only their own label (see team.py).
            own = _team.plan_remove(self._state, self.author, name, codes)
            op = {
                "op": "label-",
                "label": name,
                "ids": self._state.ids[codes].tolist(),
                "_codes": codes,
            }
            ops = [*own, op]
            if self._state.team:  # as in add_label
                changed = _team.changed_by_removal(self._state, self.author, name, codes, own)
                again = _team.review_again_op(self._state, self.author, changed)
                ops += [again] if again else []
        n = len(codes)
        return self._record(
            "remove_label",
            ops,
            describe=f"Removed {name} from {plural(n, 'image')}" + _back_to_review(ops),
            changed=n,
            change=Change("labels", _touched(op["ids"]), (name,)),
        )

    def rename_label(self, old: str, new: str) -> ActionResult:
        """Rename a label on every image; when ``new`` exists already the two are merged."""
        new = validate_label(new)
        with self._lock:
            if old not in self._state.labels:
                raise UnknownLabelError(old)
            if old == new:
                return ActionResult("rename_label", 0, True, "the name is unchanged")
            merge = new in self._state.labels
            n = len(self._state.labels[old])
        verb = "Merged" if merge else "Renamed"
        return self._record(
            "rename_label",
            [{"op": "rename", "old": old, "new": new}],
            describe=f"{verb} {old} into {new} ({plural(n, 'image')})"
            if merge
            else f"{verb} {old} to {new} ({plural(n, 'image')})",
            changed=n,
            change=Change("labels", None, (old, new)),
        )

    def delete_label(self, name: str, mode: str = "label_only") -> ActionResult:
        """Delete a label, in one of the three ways of the ModelArts page.

        - ``"label_only"``: the label goes; its images stay (unlabeled if it was their only one).
        - ``"with_images"``: also removes from the dataset every image that carried only this
          label; their source files are kept.
        - ``"with_images_and_files"``: the same, and deletes those images' source files.
          **This cannot be undone**: deleted files do not come back.
        """
        if mode not in DELETE_MODES:
            raise ValueError(f"mode must be one of {', '.join(DELETE_MODES)}; not {mode!r}")
        with self._lock:
            state = self._state
            labelset = state.labels.get(name)
            if labelset is None:
                raise UnknownLabelError(name)
            ops: list[dict[str, Any]] = []
            only: np.ndarray = np.empty(0, np.int64)
            if mode != "label_only" and len(labelset):
                others = np.zeros(state.n_rows, dtype=bool)
                for other, ls in state.labels.items():
                    if other != name:
                        others[ls.codes] = True
                only = labelset.codes[~others[labelset.codes]]
            paths = state.paths[only].tolist()
            if len(only):
                ops.append({"op": "images-", "ids": state.ids[only].tolist(), "_codes": only})
            ops.append({"op": "drop", "label": name})
            if mode == "with_images_and_files" and paths:
                ops.append({"op": "files-", "paths": paths})
            n_images = len(labelset)
        irreversible = ""
        if mode == "with_images_and_files" and paths:
            irreversible = f"deleting {name} also deleted {len(paths)} source files"
        describe = f"Deleted label {name}"
        if len(only):
            describe += f" and {len(only)} image{'s' if len(only) != 1 else ''} that had only it"
            if mode == "with_images_and_files":
                describe += " (source files deleted)"
        result = self._record(
            "delete_label",
            ops,
            describe=describe,
            changed=n_images,
            change=Change("images" if len(only) else "labels", None, (name,)),
            irreversible=irreversible,
        )
        if irreversible:
            result = self._delete_files(paths, result)
        return result

    # ------------------------------------------------------------------------------------------
    # train / eval / test parts
    def set_usage(self, ids: Iterable[str] | str, usage: str | None) -> ActionResult:
        """Put images in a part of the split: ``"TRAIN"``, ``"EVAL"``, ``"TEST"`` or None (none).

        Written into the manifest's ``usage``, as ModelArts ExeML reads it; undoable.
        """
        value = normalize_usage(usage)
        with self._lock:
            codes = self._resolve(ids)
            codes = codes[self._state.usage[codes] != value]
            op = {"op": "usage", "ids": self._state.ids[codes].tolist(), "usage": value}
        n = len(codes)
        if not n:
            return ActionResult("set_usage", 0, True, "no image changes its part")
        what = value or "no part"
        return self._record(
            "set_usage",
            [op],
            describe=f"Put {plural(n, 'image')} in {what}",
            changed=n,
            change=Change("images", _touched(op["ids"])),
        )

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
        with self._lock:
            state = self._state
            codes, which, _, _ = state.label_codes_long()
            live = state.alive[codes]
            codes, which = codes[live], which[live]
            sizes = np.asarray([len(ls) for ls in state.labels.values()], dtype=np.int64)
            # Each image's rarest label: sort its pairs by label size, keep the first.
            order = np.lexsort((which, sizes[which] if len(which) else which, codes))
            codes, which = codes[order], which[order]
            first = np.ones(len(codes), dtype=bool)
            first[1:] = codes[1:] != codes[:-1]
            codes, strata = codes[first], which[first]
            changed, usage = plan_split(
                codes,
                strata,
                state.usage[codes],
                eval=eval,
                test=test,
                seed=seed,
                reassign=reassign,
            )
            op = {"op": "usage", "ids": state.ids[changed].tolist(), "usage": usage.tolist()}
        n = len(changed)
        if not n:
            return ActionResult("split", 0, True, "every labeled image already has its part")
        parts = ", ".join(f"{int((usage == p).sum())} {p}" for p in USAGES if (usage == p).any())
        return self._record(
            "split",
            [op],
            describe=f"Split {plural(n, 'image')}: {parts}",
            changed=n,
            change=Change("images", _touched(op["ids"])),
        )

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
        for name in names:
            problem = _team.annotator_problem(name)
            if problem is not None:
                raise ValueError(problem)
        if not names or len(set(names)) != len(names):
            raise ValueError("annotators must name at least one annotator, each once")
        if (
            not isinstance(overlap, int | float)
            or isinstance(overlap, bool)
            or not 0 <= overlap <= 1
        ):
            raise ValueError(f"overlap must be a share from 0 to 1, not {overlap!r}")
        if overlap and not 2 <= copies <= len(names):
            raise ValueError(
                f"copies must be from 2 to the number of annotators ({len(names)}), not {copies!r}"
            )
        with self._lock:
            codes = self._state.view_codes("unlabeled") if ids is None else self._resolve(ids)
            slots, who = _team.plan_assignment(codes, names, overlap, copies, seed)
            op = {
                "op": "assign",
                "ids": self._state.ids[slots].tolist(),
                "to": np.asarray(names, dtype=object)[who].tolist(),
            }
        n = len(codes)
        if not n:
            return ActionResult("assign", 0, True, "no image to assign")
        shared = len(slots) - n
        return self._record(
            "assign",
            [op],
            describe=f"Assigned {plural(n, 'image')} to {len(names)} annotator"
            f"{'s' if len(names) != 1 else ''}" + (f" ({shared} shared)" if shared else ""),
            changed=n,
            change=Change("images", _touched(self._state.ids[codes].tolist())),
        )

    def unassign(self, ids: Iterable[str] | str) -> ActionResult:
        """Take these images out of everyone's "mine" view. Undoable."""
        with self._lock:
            codes = self._resolve(ids)
            op = {"op": "assign", "ids": self._state.ids[codes].tolist(), "to": ""}
        n = len(codes)
        return self._record(
            "assign",
            [op],
            describe=f"Unassigned {plural(n, 'image')}",
            changed=n,
            change=Change("images", _touched(op["ids"])),
        )

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
        value = _team.ACCEPTED if accept else _team.REJECTED
        with self._lock:
            codes = self._resolve(ids)
            team = self._state.team
            if team is not None and self.author in self._state.authors._index:
                own = codes[team.is_assigned(codes, self._state.authors.code(self.author))]
                if len(own):
                    raise SelfReviewError(self.author, self._state.ids[own].tolist())
            op = {
                "op": "review",
                "ids": self._state.ids[codes].tolist(),
                "review": value,
                "by": self.author,
                "at": _now(),
                "reason": (reason or "").strip(),
            }
        n = len(codes)
        if not n:
            return ActionResult("review", 0, True, "no image to review")
        why = f": {reason.strip()}" if reason and reason.strip() else ""
        return self._record(
            "review",
            [op],
            describe=f"{value.capitalize()} {plural(n, 'image')}{why}",
            changed=n,
            change=Change("images", _touched(op["ids"])),
        )

    def _mine(self) -> tuple[np.ndarray, np.ndarray]:
        s = self._state
        if s.team is None or self.author not in s.authors._index:
            return np.empty(0, np.int64), np.zeros(0, dtype=bool)
        return _team.mine_codes(s, s.authors.code(self.author))

    def mine(self) -> pd.DataFrame:
        """This author's work: the images of :meth:`ids` ``("mine")``, with the columns of
        :attr:`images` (``review_reason`` says why a rejected one came back).

        That is the images assigned to this author that they have not labeled yet, and those
        a reviewer rejected. A rejected image stays here until this author changes its labels
        (it then goes back to review: see :meth:`review`) or a reviewer accepts it."""
        with self._lock:
            return self._table(self._view_code_array("mine", None))

    def rejections(self) -> dict[str, int]:
        """Why this author's rejected images came back to their "mine" view: reason -> how
        many images ("" for no reason given). Cheap: no table is built."""
        with self._lock:
            codes, rejected = self._mine()
            reasons = self._state.team.reasons if self._state.team is not None else {}
            found: dict[str, int] = {}
            for code in codes[rejected].tolist():
                why = reasons.get(code, "")
                found[why] = found.get(why, 0) + 1
        return found

    def progress(self) -> pd.DataFrame:
        """Per annotator (index): ``assigned``, ``labeled``, ``remaining`` (their "mine"
        view: not labeled yet, or rejected), ``accepted``, ``rejected`` (by a reviewer) and
        ``last_active`` (their newest label, in UTC; a time that is no time is left out and
        named once in :attr:`problems`)."""
        with self._lock:
            return _team.progress_table(self._state, self._report_times)

    def _report_times(self, values: list[str]) -> None:
        line = self._unreadable_times.report(values, "label times ('creation-time')")
        if line is not None:
            self._note_problems([line])

    def _ratings(self) -> pd.DataFrame:
        with self._lock:
            codes, who, labels, raters = _team.rated(self._state)
            authors = np.asarray(self._state.authors.values, dtype=object)
            table = rating_table(codes, who, labels, raters)
            table["image_id"] = self._state.ids[table["code"].to_numpy(dtype=np.int64)]
            table["annotator"] = authors[table["who"].to_numpy(dtype=np.int64)]
        return table

    def agreement(self) -> pd.DataFrame:
        """How much annotators agree on the images they all labeled (see :meth:`assign`).

        Index: ``(overall)`` (each annotator's whole set of labels for an image as one
        category) then each label (given or not). Columns: ``kappa`` (Cohen's for two
        annotators, Fleiss' for more; NaN when chance alone would agree), ``method``,
        ``images``, ``annotators``, ``agree`` (the share of images on which all agree).
        """
        table = self._ratings()
        return agreement_table(table, self.label_names)

    def disagreements(self) -> pd.DataFrame:
        """The shared images that all their annotators labeled, but not alike: one row per
        image and annotator: ``image_id``, ``annotator``, ``labels`` (list, sorted)."""
        table = self._ratings()
        if not table.empty:
            joined = table["labels"].map("\x1f".join)
            differ = joined.groupby(table["code"]).transform("nunique") > 1
            table = table[differ]
        return pd.DataFrame(
            {
                "image_id": pd.array(table["image_id"].tolist(), dtype=object),
                "annotator": pd.array(table["annotator"].tolist(), dtype=object),
                "labels": pd.array([list(t) for t in table["labels"]], dtype=object),
            }
        )

    # ------------------------------------------------------------------------------------------
    # image actions
    def remove_images(self, ids: Iterable[str] | str, delete_source: bool = False) -> ActionResult:
        """Remove images from the dataset; with ``delete_source=True`` also delete their files.

        Deleting source files is permanent: ``undo`` cannot bring them back. Only an explicit
        ``delete_source=True`` deletes anything.
        """
        with self._lock:
            codes = self._resolve(ids)
            if not len(codes):
                return ActionResult("remove_images", 0, True, "no image selected")
            state = self._state
            ops: list[dict[str, Any]] = [
                {"op": "images-", "ids": state.ids[codes].tolist(), "_codes": codes}
            ]
            paths = state.paths[codes].tolist()
            if delete_source is True:
                ops.append({"op": "files-", "paths": paths})
        n = len(codes)
        describe = f"Removed {plural(n, 'image')} from the dataset"
        if delete_source is True:
            describe += " and deleted their source files"
        result = self._record(
            "remove_images",
            ops,
            describe=describe,
            changed=n,
            change=Change("images", _touched(ops[0]["ids"])),
            irreversible=f"{n} source files were deleted" if delete_source is True else "",
        )
        if delete_source is True:
            result = self._delete_files(paths, result)
        return result

    def _delete_files(self, paths: list[str], result: ActionResult) -> ActionResult:
        # Paths of images passed image_path_problem when they entered; checked again here
        # (and by the Store) because this is the one place that destroys a user's files.
        local = [p for p in paths if image_path_problem(p, exclude=self._exclude) is None]
        failed = self._source.delete(local)
        kept = set(local)
        for p in paths:
            if p not in kept:
                failed[p] = UnsafePathError(p, "not a file of this dataset")
        with self._lock:
            for cache in self._thumbs.values():
                cache.invalidate(local)
        if failed:
            first = next(iter(failed.values()))
            return ActionResult(
                result.action,
                result.changed,
                result.saved,
                f"{result.message}; {len(failed)} file(s) could not be deleted: {first}",
            )
        return result

    def add_images(self, files: Mapping[str, bytes]) -> UploadResult:
        """Add uploaded images (file name -> bytes) to the source folder and the dataset.

        Each image may be at most 5 MB and one upload at most 8 MB; the bytes must decode as
        JPG, PNG or BMP whatever the name says. Names are cleaned (no folders, ``+``, spaces or
        tabs) and a name already taken gets a suffix: nothing is ever overwritten. Refused files
        are listed with their reasons in the result; the others are added unlabeled.
        """
        with self._lock:
            known = set(self._state.paths[self._state.alive].tolist())
        existing = set(self._source.list("").keys())
        accepted, refused = check_uploads(
            files, taken=lambda name: name in known or name in existing
        )
        result = UploadResult(refused=list(refused))
        rows = []
        for item in accepted:
            try:
                self._source.write(item.name, item.data)
            except StoreError as exc:
                result.refused.append((item.original_name, f"could not be stored: {exc}"))
                continue
            rows.append(
                {
                    "id": image_id_for(item.name),
                    "path": item.name,
                    "size": len(item.data),
                    "usage": "",
                    "added_at": _now(),
                }
            )
        if rows:
            n = len(rows)
            new_ids = [str(r["id"]) for r in rows]
            action = self._record(
                "add_images",
                [{"op": "images+", "rows": rows}],
                describe=f"Added {plural(n, 'image')}",
                changed=n,
                change=Change("images", frozenset(new_ids)),
            )
            result.added = new_ids
            result.saved = action.saved
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
        summary = SyncSummary(skipped=list(scan.refused))
        with self._lock:
            state = self._state
            live = np.flatnonzero(state.alive)
            known = dict(zip(state.paths[live].tolist(), live.tolist(), strict=True))
            labeled = state.labeled_mask()
        new_paths = sorted(p for p in scan.images if p not in known)
        gone = [code for path, code in known.items() if path not in scan.images]
        wanted = {p: scan.sidecars[p] for p in new_paths if p in scan.sidecars}
        wanted.update(
            {p: scan.sidecars[p] for p, c in known.items() if p in scan.sidecars and not labeled[c]}
        )
        sidecars = self._source.read_many(sorted(set(wanted.values())))
        labels_for: dict[str, list[str]] = {}
        for path, txt in wanted.items():
            data = sidecars.get(txt)
            if isinstance(data, Exception):
                summary.skipped.append(f"{txt}: cannot be read ({data})")
                continue
            names, problems = parse_sidecar(data or b"", txt)
            summary.skipped.extend(problems)
            if names:
                labels_for[path] = names

        total = max(1, len(new_paths) + len(gone))
        done = 0
        now = _now()
        saved = True
        if gone:
            with self._lock:
                ids = state.ids[np.asarray(gone, dtype=np.int64)].tolist()
            res = self._record(
                "sync",
                [{"op": "images-", "ids": ids}],
                describe=f"Synchronized: {len(ids)} vanished images removed",
                changed=len(ids),
                change=Change("images", _touched(ids)),
            )
            saved &= res.saved
            summary.removed = len(ids)
            done += len(ids)
            report(done, total)
        for start in range(0, len(new_paths), SYNC_CHUNK):
            chunk = new_paths[start : start + SYNC_CHUNK]
            rows = [
                {
                    "id": image_id_for(p),
                    "path": p,
                    "size": scan.images[p],
                    "usage": "",
                    "added_at": now,
                }
                for p in chunk
            ]
            ops: list[dict[str, Any]] = [{"op": "images+", "rows": rows}]
            ops += self._sidecar_ops(
                {p: labels_for[p] for p in chunk if p in labels_for},
                {str(r["path"]): str(r["id"]) for r in rows},
                now,
            )
            res = self._record(
                "sync",
                ops,
                describe=f"Synchronized: {len(rows)} new images added",
                changed=len(rows),
                change=Change("images", None),
            )
            saved &= res.saved
            summary.added += len(rows)
            summary.labeled_from_sidecars += sum(1 for p in chunk if p in labels_for)
            done += len(chunk)
            report(done, total)
        existing_labeled = {p: v for p, v in labels_for.items() if p in known}
        if existing_labeled:
            with self._lock:
                id_of = {p: str(state.ids[known[p]]) for p in existing_labeled}
            ops = self._sidecar_ops(existing_labeled, id_of, now)
            res = self._record(
                "sync",
                ops,
                describe=f"Synchronized: {len(existing_labeled)} images labeled from .txt files",
                changed=len(existing_labeled),
                change=Change("labels", None),
            )
            saved &= res.saved
            summary.labeled_from_sidecars += len(existing_labeled)
        summary.saved = saved
        report(total, total)
        return summary

    def _sidecar_ops(
        self, labels_for: dict[str, list[str]], id_of: Mapping[str, str], now: str
    ) -> list[dict[str, Any]]:
        by_label: dict[str, list[str]] = {}
        for path, names in labels_for.items():
            for name in names:
                by_label.setdefault(name, []).append(id_of[path])
        return [
            {"op": "label+", "label": name, "ids": ids, "by": self.author, "at": now}
            for name, ids in by_label.items()
        ]

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

        A background thread lists the feed of the actions written in the last seconds (one
        cheap request a poll, which carries the actions themselves: see
        :mod:`jupyter_labeler.journal`), applies the new ones each in its place in the
        journal's order and tells observers; every third poll also lists the journal of the
        last seconds, which checks the actions taken from the feed against their journal
        objects and finds the actions of writers that write no feed, and every hundredth all
        of it (see :meth:`poll` and :mod:`jupyter_labeler.follow`); it also writes this
        annotator's heartbeat (see :meth:`annotators`) at most every 15 s. When the store
        fails it pauses and resumes by itself. ``follow(None)`` stops it.
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
        :meth:`follow`); :meth:`annotators` asks the store now."""
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

    def _reload(self) -> None:
        """Re-read everything from the store, then re-apply actions not yet written there."""
        self._replica.reload()

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
        for cache in self._thumbs.values():
            cache.close()

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
        with self._lock:
            codes = self._state.view_codes("all")
            return pd.Series(
                pd.array(self._state.paths[codes], dtype=object),
                index=pd.Index(self._state.ids[codes], name="image_id", dtype=object),
                name="path",
            )

    def paths_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The path of each known image id, relative to the source folder (one lookup for all)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            paths = self._state.paths
            return {i: str(paths[c]) for i, c in zip(ids, codes.tolist(), strict=True) if c >= 0}

    def usage_of(self, ids: Iterable[str]) -> dict[str, str]:
        """The part of the split of each image id ("" for none, and for unknown ids)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            usage = self._state.usage
            return {
                i: (str(usage[c]) if c >= 0 else "")
                for i, c in zip(ids, codes.tolist(), strict=True)
            }

    def usages(self) -> pd.Series:
        """The part of the split of every image (``"TRAIN"``, ``"EVAL"``, ``"TEST"``, or ``""``
        for none): index ``image_id``, in the order of :meth:`paths`."""
        with self._lock:
            codes = self._state.view_codes("all")
            return pd.Series(
                pd.array(self._state.usage[codes], dtype=object),
                index=pd.Index(self._state.ids[codes], name="image_id", dtype=object),
                name="usage",
            )

    def annotations(self) -> pd.DataFrame:
        """Every (image, label) pair, one row each, in long format.

        Columns ``image_id``, ``path``, ``label``, ``annotated_by`` and ``created_at`` (text, as
        in the manifest's ``annotated-by`` and ``creation-time``); sorted by image, then label
        order. An image with no label has no row.
        """
        with self._lock:
            s = self._state
            codes, which, by, at = s.label_codes_long()
            keep = s.alive[codes]
            codes, which, by, at = codes[keep], which[keep], by[keep], at[keep]
            names = np.asarray(list(s.labels), dtype=object)
            authors = np.asarray(s.authors.values, dtype=object)
            times = np.asarray(s.times.values, dtype=object)
            return pd.DataFrame(
                {
                    "image_id": pd.array(s.ids[codes], dtype=object),
                    "path": pd.array(s.paths[codes], dtype=object),
                    "label": pd.array(names[which] if len(which) else [], dtype=object),
                    "annotated_by": pd.array(authors[by] if len(by) else [], dtype=object),
                    "created_at": pd.array(times[at] if len(at) else [], dtype=object),
                }
            )

    def manifest_bytes(self) -> bytes:
        """The ModelArts manifest of the current state (what :meth:`save` would write)."""
        with self._lock:
            return self._write_manifest()

    def relative_path(self, url: str) -> str:
        """The path key (relative to the source folder) of a URL or absolute path in it.

        Anything outside the source folder comes back unchanged.
        """
        rel = self._relative_source(url)
        return rel if rel is not None else url

    def read_images(self, ids: Iterable[str]) -> dict[str, bytes | Exception]:
        """The bytes of several images, read in one concurrent batch; a failure is returned."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            missing = [i for i, c in zip(ids, codes.tolist(), strict=True) if c < 0]
            paths = {i: self._state.paths[c] for i, c in zip(ids, codes.tolist(), strict=True)}
        if missing:
            raise UnknownImageError(missing)
        got = self._source.read_many(sorted(set(paths.values())))
        return {i: got[p] for i, p in paths.items()}

    # ------------------------------------------------------------------------------------------
    # assisted labeling: features, suggestions, similar images, duplicates. Each method only
    # gathers what the Dataset holds; the work is in .features, .suggest and .duplicates.
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
        key = features.embedder_name(embedder, name)
        with self._lock:
            codes = self._state.view_codes("all")
            s = self._state
            images = features.Batch(
                s.ids[codes].tolist(), s.paths[codes].tolist(), s.sizes[codes].tolist()
            )
        return features.compute(
            self._source,
            self._output,
            images,
            embedder,
            name=key,
            client=client,
            progress=progress,
            batch_size=batch_size,
            existing=self._load_features(key),
            known=self._known_ids,
        )

    @property
    def _feature_cache(self) -> dict[str, features.Features]:
        # Made on first use, so that the Dataset's constructor stays as it is.
        cache: dict[str, features.Features] | None = getattr(self, "_features_loaded", None)
        if cache is None:
            cache = {}
            self._features_loaded = cache
        return cache

    def _known_ids(self, ids: np.ndarray) -> np.ndarray:
        """Whether each id is an image of the dataset."""
        with self._lock:
            return np.asarray(self._state.lookup(ids) >= 0)

    def _load_features(self, embedder: str) -> features.Features | None:
        """The stored features of ``embedder`` (re-read only when their files changed); a file
        skipped as bad is named in :attr:`problems` once."""
        found = features.FeatureStore(self._output, embedder).load(
            self._feature_cache.get(embedder), known=self._known_ids
        )
        if found is not None:
            self._feature_cache[embedder] = found
            self._note_problems(found.problems)
        return found

    def _features(self, embedder: str) -> features.Features:
        found = self._load_features(embedder)
        if found is None or not len(found):
            raise LabelerError(f"no {embedder} features yet: call compute_features() first")
        return found

    def has_features(self, embedder: str = features.BUILTIN) -> bool:
        """Whether any features of ``embedder`` are stored (one listing of the store)."""
        return bool(features.FeatureStore(self._output, embedder).files())

    def _suggester(self, min_per_label: int, embedder: str) -> tuple[Any, features.Features]:
        found = self._features(embedder)
        with self._lock:
            key = ("suggest", embedder, min_per_label, found.files)
            if key not in self._state._cache:
                pairs = self.annotations()[["image_id", "label"]]
                self._state._cache[key] = _suggest.fit(pairs, found, min_per_label=min_per_label)
            return self._state._cache[key], found

    def suggest(self, min_per_label: int = 5, *, embedder: str = features.BUILTIN) -> pd.DataFrame:
        """For every unlabeled image with features, its suggested label(s) and a confidence.

        Index ``image_id``; columns ``label`` and ``confidence`` (0 to 1). A model is fitted on
        the labeled images' features: multinomial when every image has one label (one row per
        image), one-vs-rest otherwise (a row per label above 0.5, at least one per image).
        Labels with fewer than ``min_per_label`` labeled images, or carried by every labeled
        image (nothing to tell them from), are never suggested: they are named in the result's
        ``attrs["not_suggested"]``. Empty until two labels qualify.
        """
        model, found = self._suggester(min_per_label, embedder)
        return _suggest.suggestions(model, found, self.ids("unlabeled"))

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
        table = self.suggest(min_per_label, embedder=embedder)
        if ids is not None:
            table = table[table.index.isin(list(ids))]
        table = table[table["confidence"] >= min_confidence]
        ops = _suggest.accept_ops(table, self.author, _now())
        if not ops:
            return ActionResult("accept_suggestions", 0, True, "no suggestion is that confident")
        n = int(table.index.nunique())
        return self._record(
            "accept_suggestions",
            ops,
            describe=f"Accepted {len(table)} suggestions for {plural(n, 'image')}",
            changed=n,
            change=Change("labels", _touched(table.index.unique().tolist())),
        )

    def uncertain(
        self, n: int = 48, *, min_per_label: int = 5, embedder: str = features.BUILTIN
    ) -> pd.DataFrame:
        """The ``n`` unlabeled images the model is least sure of, least sure first (to label
        next: active learning). The columns of :meth:`suggest` (the likeliest label, one row per
        image) and ``certainty``: the top probability, or with several labels an image the
        least decided of its labels' max(p, 1 - p)."""
        model, found = self._suggester(min_per_label, embedder)
        return _suggest.least_certain(model, found, self.ids("unlabeled"), n)

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
        found = self._features(embedder)
        if isinstance(ids, str):
            ids = [ids]
        self._view_code_array(view, None)  # checks the view's name
        return _suggest.similar_table(found, list(ids), k, lambda c: self.in_view(c, view))

    def duplicates(self, max_distance: int = 4) -> pd.DataFrame:
        """Groups of duplicate images: exact (the same bytes) and near (64-bit perceptual hashes
        within ``max_distance`` bits). Index ``image_id``; columns ``group``, ``path``,
        ``usage``, ``exact`` (a byte-identical twin is in the group) and ``distance`` (bits from
        the group's first image). Use it to find images in both TRAIN and EVAL, then
        :meth:`remove_images`."""
        found = self._features(features.BUILTIN)
        live = self.paths()
        rows = found.rows(live.index.tolist())
        have = rows >= 0
        table = _duplicates.table(found, rows[have], max_distance)
        with self._lock:
            codes = self._state.lookup(table.index.tolist())
            table.insert(1, "path", pd.array(self._state.paths[codes], dtype=object))
            table.insert(2, "usage", pd.array(self._state.usage[codes], dtype=object))
        return table
