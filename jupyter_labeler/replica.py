"""The replica: this process's copy of a dataset's labels, and the one owner of its journal.

Opening reads the newest snapshot and every journal event it does not cover, in name order
(:meth:`Replica.load`). Each action is applied here and written at once as one journal event
(:meth:`Replica.record`), and can be undone in this session (:meth:`Replica.undo`). Other
writers' events are applied as they come, each in its place in the journal's order
(:meth:`Replica.poll`, see :mod:`jupyter_labeler.catch_up`). :meth:`Replica.save` compacts
the journal into a new snapshot and the ModelArts manifest. One lock (:attr:`Replica.lock`)
guards the state and all this bookkeeping; the Dataset holds it too while it reads the state.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from . import features, team
from .applied import Applied, Recent
from .catch_up import CatchUp
from .checked import check_label_marks
from .errors import LabelerError, StoreUnavailableError, UndoError
from .events import FORMAT_VERSION, apply_ops
from .follow import lookback_from
from .journal import MANIFEST_NAME, Journal, SaveStatus
from .live_columns import live_columns
from .manifest import manifest_chunks, parse_manifest, write_manifest
from .manifest_parse import parse_manifest_blocks, whole_lines
from .names import label_problem
from .plan import Plan
from .presence import remove_stale
from .results import ActionResult, Change
from .snapshot import (
    IMAGES_SUFFIX,
    LABELS_SUFFIX,
    read_state,
    release_arrow_memory,
    write_columns,
)
from .source_urls import SourceUrls
from .state import State
from .storage import Store
from .times import UnreadableTimes, now

__all__ = ["AUTO_COMPACT_EVENTS", "Replica"]

log = logging.getLogger(__name__)

# Compact on its own after this many journal events, so that opening stays fast.
AUTO_COMPACT_EVENTS = 2000
# save() builds on another writer's newer snapshot at most this many times before it gives up.
_COMPACT_ATTEMPTS = 3
# The snapshot file of assignments, own labels and reviews (only when a dataset has them).
_TEAM_SUFFIX = ".team.parquet"


def _when_built(files: Future[tuple[bytes, bytes]], which: int) -> Iterator[bytes]:
    """One of the Parquet files being built in another thread, as the one piece of a file to
    write (waited for only when its turn to be written comes)."""
    yield files.result()[which]


@dataclass
class _UndoEntry:
    description: str
    inverse: list[dict[str, Any]]
    irreversible: str = ""


class Replica:
    """The label state of one dataset as this process holds it, kept in step with its store.

    ``source`` holds the images, ``output`` the journal, snapshots and manifest; ``author``
    signs each event; ``exclude`` names the folders of the source that hold no images (the
    output, when it lies inside). ``notify(change)`` tells observers what changed (from a
    background thread too); ``on_load()`` is called, with the lock held, whenever the state is
    read again from the store.

    Read-only facts, for tools and tests: :attr:`state` (replaced at every :meth:`load`),
    :attr:`applied`, :attr:`covered`, :attr:`newest_seen`, :attr:`journal`.
    """

    def __init__(
        self,
        source: Store,
        output: Store,
        *,
        author: str,
        exclude: Sequence[str] = (),
        notify: Callable[[Change], None],
        on_load: Callable[[], None] | None = None,
    ) -> None:
        self.output = output
        self.author = author
        self.exclude = tuple(exclude)
        self.urls = SourceUrls(source)
        self.lock = threading.RLock()
        self._notify = notify
        self._on_load = on_load
        self.journal = Journal(output, on_status=self._status_changed)
        self._held = Applied()
        self._actions: deque[tuple[int, str]] = deque(maxlen=1000)  # (count, name) made here
        self._undo: list[_UndoEntry] = []
        # Problems met reading the store (see Dataset.problems); replaced at every load.
        self.problems: list[str] = []
        self.unreadable_times = UnreadableTimes()  # reported in problems once each
        self._noted: dict[str, None] = {}  # problems met after opening, each told once
        self._catch_up = CatchUp(
            self.journal,
            self.lock,
            self._held,
            exclude=self.exclude,
            reload=self.reload,
            notify=notify,
            report=self._add_problems,
        )

    def _status_changed(self, status: SaveStatus) -> None:
        self._notify(Change("status"))

    # -- what it holds ---------------------------------------------------------------------------
    @property
    def state(self) -> State:
        """The state now: read it with :attr:`lock` held; a :meth:`load` replaces it."""
        return self._held.state

    @property
    def applied(self) -> tuple[str, ...]:
        """The journal objects applied since the snapshot the state was read from, in name
        order (an action of this session still waiting for the store among them)."""
        with self.lock:
            return tuple(self._held.names)

    @property
    def covered(self) -> frozenset[str]:
        """The journal objects that the snapshot the state was read from covers."""
        with self.lock:
            return frozenset(self._held.covered)

    @property
    def newest_seen(self) -> str:
        """The time (13 digits) of the newest journal object seen, or "" before any."""
        return self._catch_up.newest_seen

    @property
    def status(self) -> SaveStatus:
        """Saving state: "saved", "saving", "pending" or "error" (see the journal)."""
        return self.journal.status

    @property
    def pending(self) -> int:
        """How many actions are applied here but not yet written to the store."""
        return self.journal.pending

    @property
    def manifest_url(self) -> str:
        """Where the ModelArts manifest stays (rewritten by every :meth:`save`)."""
        return self.output.url_of(MANIFEST_NAME)

    def manifest(self) -> bytes:
        """The ModelArts manifest of the state now (what :meth:`save` would write)."""
        with self.lock:
            state = self._held.state
            return write_manifest(
                state,
                self.urls.prefix,
                same_image=self.urls.same_image,
                properties=team.property_texts(state) if state.team else None,
            )

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> bool:
        """Read snapshot + journal into a new state; True when the output holds nothing yet."""
        problems: list[str] = []
        with self.lock:
            made = self._actions[-1][0] if self._actions else 0
            waiting = {name for name, _event in self.journal.pending_events()}
        marker, marker_problems = self.journal.latest_marker()
        problems += marker_problems
        state: State | None = None
        covered: set[str] = set()
        fresh = False
        if marker is not None:
            covered = set(marker.get("covered", []))
            state = self._read_snapshot(marker, problems)
        elif self.output.exists(MANIFEST_NAME):
            # Read and parsed a block of lines at a time: no block is held after its turn.
            parsed = parse_manifest_blocks(
                whole_lines(self.output.read_pieces(MANIFEST_NAME)),
                where=self.output.url_of(MANIFEST_NAME),
                relative=self.urls.relative,
                exclude=self.exclude,
                prefix=self.urls.prefix,
            )
            state = parsed.to_state()
            problems += parsed.problems
        records = self.journal.list_records()
        names = [n for n in records if n not in covered]
        if state is None:
            state = State()
            fresh = not names
        state.index_ids()  # here, once, rather than in the first action
        events, event_problems = self.journal.read_events(names)
        problems += event_problems
        applied = []
        recent = Recent()
        for name in names:
            if name in events:
                where = self.output.url_of(f"journal/{name}.json")
                problems += recent.apply(
                    state, name, events[name], where=where, exclude=self.exclude
                )
                applied.append(name)
        # Actions of this session still waiting for the store stay visible after a reload.
        for name, event in self.journal.pending_events():
            if name not in events:  # not written just after the listing
                done = apply_ops(state, event["ops"], event, rules=True)
                recent.hold(name, event, event["ops"], done.inverse)
                applied.append(name)
        problems += self.journal.refused
        reports = [r for r in self.journal.reports.take() if r not in self._noted]
        self._noted.update(dict.fromkeys(reports))
        # Told before (objects refused while following, heartbeats, features files): kept.
        problems += self._noted
        with self.lock:
            held = self._held
            # Actions of this session written while the journal was being read: neither listed
            # nor pending any more, they would vanish from view until the next full refresh.
            seen = covered.union(applied)
            late = [n for c, n in self._actions if (c > made or n in waiting) and n not in seen]
            for name in late:
                kept = held.recent.get(name)
                if kept is not None:
                    event, ops = kept
                    recent.hold(name, event, ops, apply_ops(state, ops, event, rules=True).inverse)
                    applied.append(name)
            held.recent = recent
            held.state = state
            self._catch_up.restart(records.values())  # this state holds journal objects only
            held.base_key = marker["key"] if marker else None
            held.covered = covered
            held.names = applied
            held.since_snapshot = len(names)
            self.problems = problems
            self.unreadable_times.clear()
            if self._on_load is not None:
                self._on_load()
        for problem in problems:
            log.warning("%s", problem)
        release_arrow_memory()  # what reading the snapshot and the journal left free
        return fresh

    def _read_snapshot(self, marker: dict[str, Any], problems: list[str]) -> State:
        key = marker["key"]
        where = self.output.url_of(f"snapshots/{key}")
        order = marker.get("labels", [])
        order = [n for n in order if isinstance(n, str)] if isinstance(order, list) else []
        try:
            images = self.journal.read_snapshot_file(key, IMAGES_SUFFIX)
            labels = self.journal.read_snapshot_file(key, LABELS_SUFFIX)
            state, refused = read_state(images, labels, order, exclude=self.exclude, where=where)
            if marker.get("team") is True:
                refused += team.read_team(
                    state,
                    self.journal.read_snapshot_file(key, _TEAM_SUFFIX),
                    where=f"{where}{_TEAM_SUFFIX}",
                )
        except Exception as exc:  # whatever a damaged or hostile Parquet file raises
            problems.append(
                f"snapshot {key}: its Parquet copy cannot be read ({exc}); read its manifest instead"
            )
        else:
            problems += refused
            return state
        data = self.journal.read_snapshot_file(key, ".manifest")
        parsed = parse_manifest(
            data,
            where=f"{where}.manifest",
            relative=self.urls.relative,
            exclude=self.exclude,
            prefix=self.urls.prefix,
        )
        state = parsed.to_state()
        problems += parsed.problems
        for name in order:
            if label_problem(name) is None:
                state.ensure_label(name)
        return state

    def reload(self) -> None:
        """Re-read everything from the store, then re-apply actions not yet written there."""
        self.flush(timeout=10)
        self.load()
        self._notify(Change("reload"))

    # -- recording actions -----------------------------------------------------------------------
    def record(self, plan: Plan) -> ActionResult:
        """Apply ``plan`` here, write it as one journal event, tell observers.

        A sync is never put on the undo history: it mirrors the folder, and the next sync
        would redo it anyway. Every :data:`AUTO_COMPACT_EVENTS` events, a saved action also
        compacts the journal (see :meth:`save`).
        """
        undoable = plan.undoable and plan.action != "sync"
        name = self.journal.next_name()
        stored = [{k: v for k, v in op.items() if not k.startswith("_")} for op in plan.ops]
        event = {
            "v": FORMAT_VERSION,
            "action": plan.action,
            "author": self.author,
            "describe": plan.describe[:200],
            "time": now(),
            "ops": stored,
        }
        if plan.undoes:
            event["undoes"] = plan.undoes
        held = self._held
        with self.lock:
            applied = apply_ops(held.state, plan.ops, event, where=name, rules=True)
            if applied.refused:
                # What the team rules refuse (an undo putting back an own label of an image
                # reassigned since) is not written: every reader would refuse it too.
                stored = [
                    {k: v for k, v in op.items() if not k.startswith("_")} for op in applied.ops
                ]
                event["ops"] = stored
                for why in applied.refused:
                    log.info("%s", why)
            held.recent.hold(name, event, stored, applied.inverse)
            self._actions.append(((self._actions[-1][0] if self._actions else 0) + 1, name))
            for problem in applied.problems:
                if problem not in applied.refused:
                    log.error("%s", problem)
            held.names.append(name)
            held.since_snapshot += 1
            if undoable:
                self._undo.append(_UndoEntry(plan.describe, applied.inverse, plan.irreversible))
        saved = self.journal.append(name, event)
        self._notify(plan.change)
        message = (
            plan.describe
            if saved
            else f"{plan.describe} (not yet saved: the store has not confirmed it; retrying)"
        )
        if saved and held.since_snapshot >= AUTO_COMPACT_EVENTS:
            with contextlib.suppress(LabelerError):
                self.save()
        return ActionResult(plan.action, plan.changed, saved, message)

    @property
    def can_undo(self) -> bool:
        """Whether this session has an action to undo."""
        return bool(self._undo)

    @property
    def undo_description(self) -> str | None:
        """What :meth:`undo` would revert, in words (None when nothing)."""
        return self._undo[-1].description if self._undo else None

    def undo(self) -> ActionResult:
        """Revert this session's last undoable action, recorded as a new action.

        One that deleted source files raises :class:`~jupyter_labeler.errors.UndoError` and
        leaves the undo history.
        """
        with self.lock:
            if not self._undo:
                raise UndoError("there is nothing to undo")
            entry = self._undo.pop()
        if entry.irreversible:
            raise UndoError(f"cannot undo: {entry.irreversible}; deleted files cannot come back")
        # A label given back carries no checked mark of another annotator: every reader would
        # leave it out (see checked.check_label_marks), so it is not written.
        inverse = [
            check_label_marks(op, self.author)[0] if op.get("op") == "label+" else op
            for op in entry.inverse
        ]
        return self.record(
            Plan(
                "undo",
                inverse,
                describe=f"Undid: {entry.description}",
                changed=1,
                change=Change("reload"),
                undoable=False,
            )
        )

    # -- others' actions and problems ------------------------------------------------------------
    def poll(self, *, wide: bool = False, full: bool = False) -> bool:
        """Apply the actions other writers wrote since the last poll (see
        :mod:`jupyter_labeler.catch_up`); True when the state changed."""
        changed = self._catch_up.poll(wide=wide, full=full)
        self.take_reports()
        return changed

    def refresh(self) -> bool:
        """Apply every action in the journal not applied yet, reading the whole journal's
        listing (or read everything again after another writer's compaction); True when the
        state changed."""
        changed = self._catch_up.refresh()
        self.take_reports()
        return changed

    def recent_activity(self, within: float = 300.0) -> list[str]:
        """What other annotators did in the last ``within`` seconds, newest first, in words."""
        return self._catch_up.recent_activity(within)

    def _add_problems(self, lines: list[str]) -> None:
        with self.lock:
            self.problems.extend(lines)

    def report_unreadable_times(self, values: list[str]) -> None:
        """Name once in :attr:`problems` the label times that cannot be read as times."""
        line = self.unreadable_times.report(values, "label times ('creation-time')")
        if line is not None:
            self.note_problems([line])

    def note_problems(self, lines: Iterable[str]) -> list[str]:
        """Add to :attr:`problems` the lines not noted before (each is told once, and kept
        there when the state is read again); returns those."""
        with self.lock:
            new = [line for line in dict.fromkeys(lines) if line not in self._noted]
            self._noted.update(dict.fromkeys(new))
            self.problems.extend(new)
        for line in new:
            log.warning("%s", line)
        return new

    def take_reports(self) -> None:
        """Problems met with objects of the store since the last poll, each said once (in
        :attr:`problems`, and to observers as a "problems" change)."""
        new = self.note_problems(self.journal.reports.take())
        if new:
            self._notify(Change("problems", labels=tuple(new[:5])))

    # -- saving ----------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write every action still waiting for the store; True when none is left."""
        return self.journal.flush(timeout)

    def save(self) -> str:
        """Compact the journal into a snapshot and return the URL of the ModelArts manifest.

        Raises :class:`~jupyter_labeler.errors.StoreUnavailableError` when actions still wait
        for an unreachable store (nothing is lost: they stay queued).
        """
        if not self.journal.flush(timeout=30):
            raise StoreUnavailableError(
                f"{self.pending} actions are not yet saved: the store at {self.output.url} "
                "cannot be reached; they are kept and retried",
                self.output.url,
            )
        with self._catch_up.journal_only():  # a snapshot holds journal objects only
            for _attempt in range(_COMPACT_ATTEMPTS):
                self.refresh()  # reloads by itself when another writer compacted meanwhile
                if self._compact():
                    return self.manifest_url
        # Other writers kept compacting while this one did: each of their snapshots covers
        # what it had seen, and this writer's actions stay in the journal until one covers them.
        log.warning(
            "save(): other writers compacted %d times meanwhile; %s holds their newest snapshot",
            _COMPACT_ATTEMPTS,
            self.manifest_url,
        )
        return self.manifest_url

    def _compact(self) -> bool:
        """Write a snapshot of this state; False when another writer's snapshot came first.

        The state must hold journal objects only: every action applied from a feed entry is
        checked against its object first (:meth:`save` takes no new ones meanwhile), and one
        that cannot be checked now (the store failed to give its object) makes the state be
        read again from the journal.
        """
        records = self.journal.list_records()
        names = list(records)
        self._catch_up.check(records, since="")
        if self._catch_up.unchecked:
            self.reload()
            return False
        held = self._held
        with self.lock:
            reflected = held.known()
            covered = [n for n in names if n in reflected]
            base_covered = set(held.covered)
            base_key = held.base_key
            key = self.journal.next_name()
            # Taken once, sharing nothing that later actions change: the text and the Parquet
            # copy are built from it without the lock.
            state = held.state
            columns = live_columns(state)
            properties = team.property_texts(state) if state.team else None
            team_bytes = team.write_team(state)
            label_order = list(state.labels)
            count = len(columns)
        latest, _ = self.journal.latest_marker()
        if (latest["key"] if latest else None) != base_key:
            # Someone else compacted meanwhile: theirs stands; ours would miss their events.
            self.reload()
            return False
        # Arrow's kernels and the Parquet writer release the GIL: the Parquet copy is built in
        # a second thread while the manifest is built and written a block of lines at a time.
        with ThreadPoolExecutor(max_workers=1) as pool:
            parquet = pool.submit(write_columns, columns)
            manifest = manifest_chunks(
                columns,
                self.urls.prefix,
                same_image=self.urls.same_image,
                properties=properties,
                workers=2,
            )
            files: dict[str, bytes | Iterable[bytes | memoryview]] = {
                ".manifest": manifest,
                IMAGES_SUFFIX: _when_built(parquet, 0),
                LABELS_SUFFIX: _when_built(parquet, 1),
            }
            if team_bytes is not None:
                files[_TEAM_SUFFIX] = team_bytes
            try:
                published = self.journal.write_snapshot(
                    key,
                    files,
                    {
                        "v": FORMAT_VERSION,
                        "created": now(),
                        "author": self.author,
                        "images": count,
                        "labels": label_order,
                        "covered": covered,
                        **({"team": True} if team_bytes is not None else {}),
                    },
                )
            finally:
                parquet.cancel()
        del columns, files, manifest, parquet
        release_arrow_memory()
        if not published:
            # A newer snapshot landed between our check and our marker: build on top of it.
            self.reload()
            return False
        # Journal objects go only once two snapshots in a row cover them, so that a writer
        # still compacting from the previous snapshot cannot lose them.
        removed = [n for n in covered if n in base_covered]
        self.journal.remove_events(removed)
        # The feed entries of those events go too, and any a compaction left behind because
        # it listed the feed just before their writer wrote them (two minutes old and more).
        self.journal.remove_feed(
            set(removed),
            older_than=lookback_from(max(covered, default=""), 120.0),
            journal=set(names).difference(removed),
        )
        remove_stale(self.output)  # heartbeats of annotators long gone
        if base_key:
            self.journal.remove_snapshots_before(base_key)
        with self.lock:
            held.base_key = key
            held.covered = set(covered)
            held.names = [n for n in held.names if n not in held.covered]
            held.since_snapshot = len(held.names)
        # Features of images gone from the dataset go with the snapshot that no longer has them;
        # a failure here costs only disk space, never the snapshot. The ids of the live images
        # are made only when some features are stored (at ten million images they take about
        # half a second).
        try:
            if features.embedders(self.output):
                with self.lock:
                    alive = held.state.id_column(held.state.view_codes("all"))
                features.prune(self.output, alive)
        except Exception as exc:
            log.warning("save(): features of removed images stay for now (%s)", exc)
        return True

    def close(self) -> None:
        """Write what is still waiting (for up to 10 s) and stop the journal's writer."""
        self.journal.close(timeout=10)
