"""The Dataset: the one owner of a dataset's images, labels and every operation on them.

It has no widget in it: a notebook user can do everything the Labeler does by calling these
methods, and every result is a pandas DataFrame. Each action is one event, written to the
journal at once (see :mod:`jupyter_labeler.journal`); observers are told what changed.

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
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import (
    LabelerError,
    StoreError,
    StoreUnavailableError,
    UndoError,
    UnknownImageError,
    UnknownLabelError,
)
from .images import Thumbnail, ThumbnailCache
from .journal import MANIFEST_NAME, Journal, SaveStatus
from .manifest import image_id_for, parse_manifest, write_manifest
from .names import validate_label
from .results import (
    ActionResult,
    Change,
    Readiness,
    SyncSummary,
    UploadResult,
    readiness_from_counts,
)
from .scan import parse_sidecar, scan_folder
from .snapshot import IMAGES_SUFFIX, LABELS_SUFFIX, read_state, release_arrow_memory, write_state
from .state import ImageRows, LabelSet, State, member
from .storage import Store, open_store
from .uploads import check_uploads

__all__ = ["DEFAULT_OUTPUT", "DELETE_MODES", "Dataset"]

log = logging.getLogger(__name__)

DEFAULT_OUTPUT = ".jupyter_labeler"
DELETE_MODES = ("label_only", "with_images", "with_images_and_files")
VIEWS = ("unlabeled", "labeled", "all")
# Compact on its own after this many journal events, so that opening stays fast.
AUTO_COMPACT_EVENTS = 2000
# A sync adding more images than this is written as several events of this size.
SYNC_CHUNK = 20000
# Up to this many rows, labels are looked up per image; above, from the sorted long table.
_PER_CODE_LIMIT = 50_000


# Observers are told exactly which images changed up to this many; beyond, "possibly all".
_CHANGE_IDS_LIMIT = 5000


def _touched(ids: list[str]) -> frozenset[str] | None:
    return frozenset(ids) if len(ids) <= _CHANGE_IDS_LIMIT else None


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def _default_author() -> str:
    for var in ("JUPYTERHUB_USER", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class _UndoEntry:
    description: str
    inverse: list[dict[str, Any]]
    irreversible: str = ""


class Dataset:
    """A dataset of images for classification, its labels, and every operation on them.

    Open one with :meth:`Dataset.open`. Image ids are strings, stable for an image's path.
    Every action (``add_label``, ``remove_label``, ``rename_label``, ``delete_label``,
    ``add_images``, ``remove_images``, ``sync``, ``undo``) is saved the moment it happens;
    its result says whether the write returned (``saved``) or waits for the store to come back.
    """

    def __init__(self, source: Store, output: Store, *, author: str) -> None:
        self._source = source
        self._output = output
        self.author = author
        self._lock = threading.RLock()
        self._observers: list[Callable[[Change], None]] = []
        self._journal = Journal(output, on_status=self._status_changed)
        self._state = State()
        self._base_key: str | None = None
        self._covered: set[str] = set()
        self._applied: list[str] = []
        self._undo: list[_UndoEntry] = []
        self._events_since_snapshot = 0
        self.problems: list[str] = []
        self._thumbs: dict[int, ThumbnailCache] = {}
        self._exclude = self._output_inside_source()

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
        ``author`` goes into each annotation's ``annotated-by``; by default the user name.

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
        fresh = dataset._load()
        if fresh:
            dataset.sync()
        return dataset

    def _output_inside_source(self) -> tuple[str, ...]:
        if self._output.fs is not self._source.fs and self._output.scheme != self._source.scheme:
            return ()
        rel = self._source.relative(self._output.root + "/")
        return (rel.rstrip("/"),) if rel else ()

    def _load(self) -> bool:
        """Read snapshot + journal into a new state; True when the output holds nothing yet."""
        problems: list[str] = []
        marker, marker_problems = self._journal.latest_marker()
        problems += marker_problems
        state: State | None = None
        covered: set[str] = set()
        fresh = False
        if marker is not None:
            covered = set(marker.get("covered", []))
            state = self._read_snapshot(marker, problems)
        elif self._output.exists(MANIFEST_NAME):
            parsed = parse_manifest(  # no name holds the bytes: the parser lets them go early
                self._output.read(MANIFEST_NAME),
                where=self._output.url_of(MANIFEST_NAME),
                relative=self._relative_source,
            )
            problems += parsed.problems
            state = parsed.to_state()
        names = [n for n in self._journal.list_events() if n not in covered]
        if state is None:
            state = State()
            fresh = not names
        events, event_problems = self._journal.read_events(names)
        problems += event_problems
        applied = []
        for name in names:
            if name in events:
                self._apply_ops(state, events[name]["ops"], events[name])
                applied.append(name)
        # Actions of this session still waiting for the store stay visible after a reload.
        for name, event in self._journal.pending_events():
            self._apply_ops(state, event["ops"], event)
            applied.append(name)
        with self._lock:
            self._state = state
            self._base_key = marker["key"] if marker else None
            self._covered = covered
            self._applied = applied
            self._events_since_snapshot = len(names)
            self.problems = problems
            self._clear_thumbnails()
        for problem in problems:
            log.warning("%s", problem)
        return fresh

    def _read_snapshot(self, marker: dict[str, Any], problems: list[str]) -> State:
        key = marker["key"]
        try:
            images = self._journal.read_snapshot_file(key, IMAGES_SUFFIX)
            labels = self._journal.read_snapshot_file(key, LABELS_SUFFIX)
            return read_state(images, labels, list(marker.get("labels", [])))
        except (StoreError, ValueError, OSError, KeyError) as exc:
            problems.append(
                f"snapshot {key}: its Parquet copy cannot be read ({exc}); read its manifest instead"
            )
        data = self._journal.read_snapshot_file(key, ".manifest")
        where = self._output.url_of(f"snapshots/{key}.manifest")
        parsed = parse_manifest(data, where=where, relative=self._relative_source)
        problems += parsed.problems
        state = parsed.to_state()
        for name in marker.get("labels", []):
            state.ensure_label(name)
        return state

    def _relative_source(self, url: str) -> str:
        """The path key of a manifest ``source`` URL (the URL itself when outside the source)."""
        rest = url
        if "://" in url:
            scheme, rest = url.split("://", 1)
            if scheme in {"s3", "s3a", "obs"} and self._source.scheme in {"s3", "obs"}:
                rel = self._source.relative(rest)
                return rel if rel is not None else url
            if scheme == "file" or scheme == "memory":
                rest = "/" + rest.lstrip("/")
            else:
                return url
        rel = self._source.relative(rest)
        return rel if rel is not None else url

    # ------------------------------------------------------------------------------------------
    # observing
    def observe(self, callback: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``callback(change)`` after every change; returns a function that stops it.

        ``change.kind`` is "labels", "images", "status" (saving state; may come from a
        background thread) or "reload" (state re-read from the store).
        """
        self._observers.append(callback)

        def unobserve() -> None:
            with contextlib.suppress(ValueError):
                self._observers.remove(callback)

        return unobserve

    def _notify(self, change: Change) -> None:
        for callback in list(self._observers):
            try:
                callback(change)
            except Exception:
                log.exception("a Dataset observer failed on %s", change.kind)

    def _status_changed(self, status: SaveStatus) -> None:
        self._notify(Change("status"))

    @property
    def status(self) -> SaveStatus:
        """Saving state: "saved", "saving", "pending" (N actions wait for the store) or "error"."""
        return self._journal.status

    @property
    def pending(self) -> int:
        """How many actions are applied here but not yet written to the store."""
        return self._journal.pending

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
        return pd.DataFrame(
            {
                "path": pd.array(s.paths[codes], dtype=object),
                "labels": pd.array(labels, dtype=object),
                "size": s.sizes[codes],
                "usage": pd.Categorical(s.usage[codes]),
                "added_at": pd.array(s.added_at[codes], dtype=object),
            },
            index=pd.Index(s.ids[codes], name="image_id", dtype=object),
        )

    @property
    def images(self) -> pd.DataFrame:
        """One row per image: index ``image_id``; ``path``, ``labels`` (list), ``size``, ``usage``,
        ``added_at``."""
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
        """Image ids of a view ("all", "labeled", "unlabeled"), optionally with one label.

        Cheap to call again: the answer is cached until the next change.
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
        """How many images each tab shows: {"all": ..., "labeled": ..., "unlabeled": ...}."""
        with self._lock:
            labeled = int(self._state.labeled_mask().sum())
            total = len(self._state)
        return {"all": total, "labeled": labeled, "unlabeled": total - labeled}

    @property
    def label_names(self) -> list[str]:
        """Every label, in the order of the All Labels pane (order of creation)."""
        with self._lock:
            return list(self._state.labels)

    def counts(self) -> pd.DataFrame:
        """Images per label: index ``label``, column ``images``, most images first."""
        with self._lock:
            names = list(self._state.labels)
            values = np.fromiter(
                (len(ls) for ls in self._state.labels.values()), dtype=np.int64, count=len(names)
            )
        order = np.argsort(-values, kind="stable")
        return pd.DataFrame(
            {"images": values[order]},
            index=pd.Index(np.asarray(names, dtype=object)[order], name="label", dtype=object),
        )

    def readiness(self) -> Readiness:
        """Whether the labels suffice for training (ModelArts ExeML: 2+ labels with 5+ images)."""
        counts = self.counts()["images"]
        return readiness_from_counts(counts, self.view_counts()["unlabeled"])

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
                "url": self._source.url_of(path) if "://" not in path else path,
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
            cache = self._thumbs[size] = ThumbnailCache(self._source.read_many, size=size)
        return cache

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
        found = self._thumbnail_cache(size).get([p for p in paths if p is not None])
        out: dict[str, Thumbnail] = {}
        for image_id, path in zip(ids, paths, strict=True):
            if path is not None:
                out[image_id] = found[path]
        return out

    def prefetch_thumbnails(self, ids: Iterable[str], size: int = 160) -> None:
        """Start making these thumbnails in the background (for the next page)."""
        ids = list(ids)
        with self._lock:
            codes = self._state.lookup(ids)
            paths = [self._state.paths[c] for c in codes.tolist() if c >= 0]
        if paths:
            self._thumbnail_cache(size).prefetch(paths)

    # ------------------------------------------------------------------------------------------
    # applying events
    def _apply_ops(
        self, state: State, ops: list[dict[str, Any]], event: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Apply ``ops`` to ``state``; returns the ops that undo them (in the order to apply)."""
        inverses: list[list[dict[str, Any]]] = []
        default_by = str(event.get("author", ""))
        default_at = str(event.get("time", ""))
        for op in ops:
            inverses.append(self._apply_op(state, op, default_by, default_at))
        return [inv for group in reversed(inverses) for inv in group]

    def _codes(self, state: State, op: dict[str, Any]) -> np.ndarray:
        given = op.get("_codes")
        if given is not None:
            return given
        codes, _missing = state.codes_of(op.get("ids", []))
        return codes

    def _apply_op(
        self, state: State, op: dict[str, Any], default_by: str, default_at: str
    ) -> list[dict[str, Any]]:
        kind = op.get("op")
        ids_of = lambda codes: state.ids[codes].tolist()  # noqa: E731
        if kind == "label":
            return [{"op": "drop", "label": op["label"]}] if state.ensure_label(op["label"]) else []
        if kind == "label+":
            name = op["label"]
            created = name not in state.labels
            codes_raw = op.get("ids", [])
            by_value, at_value = op.get("by", default_by), op.get("at", default_at)
            if isinstance(by_value, list) or isinstance(at_value, list):
                aligned = state.lookup(codes_raw)
                keep = aligned >= 0
                codes = aligned[keep]
                by = (
                    state.authors.codes(np.asarray(by_value, dtype=object)[keep])
                    if isinstance(by_value, list)
                    else state.authors.code(by_value)
                )
                at = (
                    state.times.codes(np.asarray(at_value, dtype=object)[keep])
                    if isinstance(at_value, list)
                    else state.times.code(at_value)
                )
            else:
                codes = self._codes(state, op)
                by, at = state.authors.code(by_value), state.times.code(at_value)
            extra = None
            if op.get("extra"):
                lookup = state.lookup(list(op["extra"]))
                extra = {
                    int(c): e
                    for c, e in zip(lookup.tolist(), op["extra"].values(), strict=True)
                    if c >= 0
                }
            added = state.add_label(name, codes, by, at, extra)
            inverse: list[dict[str, Any]] = []
            if len(added):
                inverse.append({"op": "label-", "label": name, "ids": ids_of(added)})
            if created:
                inverse.append({"op": "drop", "label": name})
            return inverse
        if kind == "label-":
            removed = state.remove_label(op["label"], self._codes(state, op))
            return [self._restore_op(state, op["label"], removed)] if len(removed) else []
        if kind == "drop":
            dropped = state.drop_label(op["label"])
            if dropped is None:
                return []
            inverse = [{"op": "label", "label": op["label"]}]
            if len(dropped):
                inverse.append(self._restore_op(state, op["label"], dropped))
            return inverse
        if kind == "rename":
            old, new = op["old"], op["new"]
            if old not in state.labels or old == new:
                return []
            if new not in state.labels:
                state.rename_label(old, new)
                return [{"op": "rename", "old": new, "new": old}]
            moved = state.labels[old]
            had_new = np.isin(moved.codes, state.labels[new].codes)
            restore = self._restore_op(state, old, moved)
            state.rename_label(old, new)
            inverse = [{"op": "label", "label": old}, restore]
            gained = moved.codes[~had_new]
            if len(gained):
                inverse.append({"op": "label-", "label": new, "ids": ids_of(gained)})
            return inverse
        if kind == "images+":
            rows = ImageRows.from_records(op.get("rows", []))
            added = state.add_images(rows)
            return [{"op": "images-", "ids": ids_of(added)}] if len(added) else []
        if kind == "images-":
            codes = self._codes(state, op)
            if not len(codes):
                return []
            rows = state.rows(codes)
            lost = state.remove_images(codes)
            inverse = [{"op": "images+", "rows": rows.to_records()}]
            inverse += [self._restore_op(state, name, ls) for name, ls in lost.items()]
            return inverse
        if kind == "files-":
            return []
        log.warning("unknown journal operation %r skipped", kind)
        return []

    @staticmethod
    def _restore_op(state: State, name: str, removed: LabelSet) -> dict[str, Any]:
        """A label+ op giving ``removed`` back exactly (same annotators and times)."""
        authors = np.asarray(state.authors.values, dtype=object)
        times = np.asarray(state.times.values, dtype=object)
        op: dict[str, Any] = {
            "op": "label+",
            "label": name,
            "ids": state.ids[removed.codes].tolist(),
            "by": authors[removed.by].tolist() if len(authors) else [""] * len(removed),
            "at": times[removed.at].tolist() if len(times) else [""] * len(removed),
        }
        if removed.extra:
            op["extra"] = {state.ids[c]: e for c, e in removed.extra.items()}
        return op

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
        """Apply ``ops`` here, write them as one journal event, tell observers.

        A sync is never put on the undo history: it mirrors the folder, and the next sync
        would redo it anyway.
        """
        undoable = undoable and action != "sync"
        name = self._journal.next_name()
        event = {
            "v": 1,
            "action": action,
            "author": self.author,
            "time": _now(),
            "ops": [{k: v for k, v in op.items() if not k.startswith("_")} for op in ops],
        }
        if undoes:
            event["undoes"] = undoes
        with self._lock:
            inverse = self._apply_ops(self._state, ops, event)
            self._applied.append(name)
            self._events_since_snapshot += 1
            if undoable:
                self._undo.append(_UndoEntry(describe, inverse, irreversible))
        saved = self._journal.append(name, event)
        self._notify(change)
        message = (
            describe
            if saved
            else f"{describe} (not yet saved: the store has not confirmed it; retrying)"
        )
        if saved and self._events_since_snapshot >= AUTO_COMPACT_EVENTS:
            with contextlib.suppress(LabelerError):
                self.save()
        return ActionResult(action, changed, saved, message)

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
        with self._lock:
            codes = self._resolve(ids)
            state = self._state
            current = state.labels.get(name)
            keep = np.ones(len(codes), dtype=bool)
            if current is not None and len(current):
                keep = ~np.isin(codes, current.codes)
                codes = codes[keep]
            if current is not None and not len(codes):
                return ActionResult("add_label", 0, True, f"every image already has {name}")
            op: dict[str, Any] = {
                "op": "label+",
                "label": name,
                "ids": state.ids[codes].tolist(),
                "by": self.author,
                "at": _now(),
                "_codes": codes,
            }
            if annotated_by is not None:
                op["by"] = np.asarray(annotated_by, dtype=object)[keep].tolist()
            if created_at is not None:
                op["at"] = np.asarray(created_at, dtype=object)[keep].tolist()
        n = len(codes)
        return self._record(
            "add_label",
            [op],
            describe=f"Added {name} to {n} image{'s' if n != 1 else ''}",
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
            op = {
                "op": "label-",
                "label": name,
                "ids": self._state.ids[codes].tolist(),
                "_codes": codes,
            }
        n = len(codes)
        return self._record(
            "remove_label",
            [op],
            describe=f"Removed {name} from {n} image{'s' if n != 1 else ''}",
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
            describe=f"{verb} {old} into {new} ({n} image{'s' if n != 1 else ''})"
            if merge
            else f"{verb} {old} to {new} ({n} image{'s' if n != 1 else ''})",
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
        describe = f"Removed {n} image{'s' if n != 1 else ''} from the dataset"
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
        local = [p for p in paths if "://" not in p]
        failed = self._source.delete(local)
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
                describe=f"Added {n} image{'s' if n != 1 else ''}",
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
        summary = SyncSummary()
        with self._lock:
            state = self._state
            live = np.flatnonzero(state.alive)
            known = dict(zip(state.paths[live].tolist(), live.tolist(), strict=True))
            labeled = state.labeled_mask()
        new_paths = sorted(p for p in scan.images if p not in known)
        gone = [
            code for path, code in known.items() if "://" not in path and path not in scan.images
        ]
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
        return bool(self._undo)

    @property
    def undo_description(self) -> str | None:
        """What :meth:`undo` would revert, in words (None when nothing)."""
        return self._undo[-1].description if self._undo else None

    def undo(self) -> ActionResult:
        """Revert this author's last action in this session, saved as a new action.

        An action that deleted source files cannot be undone (the files are gone): it raises
        :class:`~jupyter_labeler.errors.UndoError` and is dropped from the undo history.
        """
        with self._lock:
            if not self._undo:
                raise UndoError("there is nothing to undo")
            entry = self._undo.pop()
        if entry.irreversible:
            raise UndoError(f"cannot undo: {entry.irreversible}; deleted files cannot come back")
        return self._record(
            "undo",
            entry.inverse,
            describe=f"Undid: {entry.description}",
            changed=1,
            change=Change("reload"),
            undoable=False,
        )

    # ------------------------------------------------------------------------------------------
    # saving, refreshing
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write every action still waiting for the store; True when none is left."""
        return self._journal.flush(timeout)

    def refresh(self) -> bool:
        """Pick up other writers' actions from the store; True when something changed."""
        marker, _ = self._journal.latest_marker()
        names = self._journal.list_events()
        with self._lock:
            known = self._covered.union(self._applied)
            base = self._base_key
            last = self._applied[-1] if self._applied else ""
        new = [n for n in names if n not in known]
        if (marker["key"] if marker else None) != base or (new and new[0] < last):
            self._reload()
            return True
        if not new:
            return False
        events, problems = self._journal.read_events(new)
        with self._lock:
            for name in new:
                if name in events:
                    self._apply_ops(self._state, events[name]["ops"], events[name])
                    self._applied.append(name)
            self.problems.extend(problems)
        self._notify(Change("reload"))
        return True

    def _reload(self) -> None:
        """Re-read everything from the store, then re-apply actions not yet written there."""
        self.flush(timeout=10)
        self._load()
        self._notify(Change("reload"))

    def save(self) -> str:
        """Compact the journal into a snapshot and return the URL of the ModelArts manifest.

        The manifest always stays at :attr:`manifest_url`. Raises
        :class:`~jupyter_labeler.errors.StoreUnavailableError` when actions still wait for an
        unreachable store (nothing is lost: they stay queued).
        """
        if not self._journal.flush(timeout=30):
            raise StoreUnavailableError(
                f"{self.pending} actions are not yet saved: the store at {self._output.url} "
                "cannot be reached; they are kept and retried",
                self._output.url,
            )
        self.refresh()  # reloads by itself when another writer compacted meanwhile
        names = self._journal.list_events()
        with self._lock:
            reflected = self._covered.union(self._applied)
            covered = [n for n in names if n in reflected]
            base_covered = set(self._covered)
            base_key = self._base_key
            key = self._journal.next_name()
            # Arrow's kernels and the Parquet writer release the GIL: build both at once.
            with ThreadPoolExecutor(max_workers=2) as pool:
                state_bytes = pool.submit(write_state, self._state)
                manifest = write_manifest(self._state, self._source.url_of("").rstrip("/") + "/")
                images, labels = state_bytes.result()
            label_order = list(self._state.labels)
            count = len(self._state)
        latest, _ = self._journal.latest_marker()
        if (latest["key"] if latest else None) != base_key:
            # Someone else compacted meanwhile: theirs stands; ours would miss their events.
            self._reload()
            return self.manifest_url
        self._journal.write_snapshot(
            key,
            {".manifest": manifest, IMAGES_SUFFIX: images, LABELS_SUFFIX: labels},
            {
                "v": 1,
                "created": _now(),
                "author": self.author,
                "images": count,
                "labels": label_order,
                "covered": covered,
            },
        )
        del manifest, images, labels
        release_arrow_memory()
        # Journal objects go only once two snapshots in a row cover them, so that a writer
        # still compacting from the previous snapshot cannot lose them.
        self._journal.remove_events([n for n in covered if n in base_covered])
        if base_key:
            self._journal.remove_snapshots_before(base_key)
        with self._lock:
            self._base_key = key
            self._covered = set(covered)
            self._applied = [n for n in self._applied if n not in self._covered]
            self._events_since_snapshot = len(self._applied)
        return self.manifest_url

    def close(self) -> None:
        """Write what is still waiting (for up to 10 s) and stop background work."""
        self._journal.close(timeout=10)
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
            return write_manifest(self._state, self._source.url_of("").rstrip("/") + "/")

    def relative_path(self, url: str) -> str:
        """The path key (relative to the source folder) of a URL or absolute path in it.

        Anything outside the source folder comes back unchanged.
        """
        return self._relative_source(url)

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
