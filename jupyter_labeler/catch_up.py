"""Catching up with other writers: their actions, read from the feed and the journal, applied
to the replica's state each in its place in the journal's order.

A poll lists the feed (see :mod:`jupyter_labeler.journal`), whose entries carry the actions
themselves. A feed entry is a hint, not the record: anyone who can write to the bucket can write
one. So an action it carries is applied at once, but only for a name within the last seconds,
and is then checked against its journal object by the next ``wide`` poll, which lists the
journal from the oldest action not checked yet (on S3 and OBS the ETag of a plain PUT is the
MD5 of its bytes, so a listing checks them without reading them): one that differs is replaced
by the journal's action, one with no journal object is taken back (when two wide polls in a row
miss it), each said once. The wide poll also finds, within the last seconds, actions that no
feed entry carries; a full poll (:meth:`CatchUp.refresh`) lists the whole journal. A snapshot
holds journal objects only: while one is made, no action is taken from a feed entry.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .applied import Applied
from .follow import WIDE_LOOKBACK, FeedCursor, lookback_from
from .journal import FeedEntry, Found, Journal
from .results import CHANGE_IDS_LIMIT, Change

__all__ = ["CatchUp", "GivenUp", "Hints", "change_of"]

# A poll reads at most this many journal objects (the others wait for the next polls), so that
# a flood of feed entries naming objects that do not exist cannot stall following.
_READS_PER_POLL = 256
# The journal objects read in one batch while checking the actions applied from feed entries.
_HINT_READS = 256


def change_of(events: list[Any]) -> Change:
    """What other writers' events changed, as precisely as their operations say."""
    images = False
    ids: set[str] = set()
    exact = True
    for event in events:
        ops = event.get("ops") if isinstance(event, dict) else None
        for op in ops if isinstance(ops, list) else []:
            if not isinstance(op, dict):
                continue
            kind = op.get("op")
            images = images or kind in ("images+", "images-")
            given = op.get("ids")
            if kind == "images+" and isinstance(op.get("rows"), list):
                given = [r.get("id") for r in op["rows"] if isinstance(r, dict)]
            if isinstance(given, list):
                ids.update(i for i in given if isinstance(i, str))
            elif kind in ("rename", "move", "drop"):
                exact = False  # every image of a label: not listed
    touched = frozenset(ids) if exact and len(ids) <= CHANGE_IDS_LIMIT else None
    return Change("images" if images else "labels", touched)


def _ago(seconds: float) -> str:
    if seconds < 60:
        return f"{max(0, round(seconds))} s ago"
    return f"{round(seconds / 60)} min ago"


class Hints:
    """Actions applied from feed entries before their journal objects were read.

    A feed entry is a hint: anyone who can write to the bucket can write one, naming any
    journal object and carrying any action. So an action applied from one is held here, with
    the MD5 of the bytes it carried, until the record confirms it: a listing of the journal
    that shows its object with that MD5 as ETag (S3 and OBS, for a plain PUT), or a read of
    the object that gives those bytes (see :meth:`CatchUp.check`).
    Not thread-safe: the caller holds its lock.
    """

    def __init__(self) -> None:
        self._held: dict[str, str] = {}  # name -> MD5 (hex) of the bytes the entry carried
        self._missed: set[str] = set()  # held names one listing did not show

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, name: object) -> bool:
        return name in self._held

    def add(self, name: str, digest: str) -> None:
        self._held[name] = digest

    def held(self) -> dict[str, str]:
        return dict(self._held)

    def drop(self, names: Iterable[str]) -> None:
        for name in names:
            self._held.pop(name, None)
            self._missed.discard(name)

    def clear(self) -> None:
        self._held.clear()
        self._missed.clear()

    def missed(self, names: Iterable[str]) -> list[str]:
        """Of these held names that a listing of the journal did not show, those that an
        earlier listing did not show either: an honest writer's object exists before its feed
        entry, but a listing a store serves from a lagging replica could miss it once."""
        names = list(names)
        twice = [n for n in names if n in self._missed]
        self._missed.update(names)
        return twice

    @staticmethod
    def confirmed_by(tag: str, digest: str) -> bool:
        """Whether a listing's tag shows an object holding the bytes of this MD5."""
        return bool(digest) and tag.strip('"').lower() == digest


class GivenUp:
    """Journal objects named only by feed entries that could not be read because they do not
    exist or hold no event: objects are never rewritten, so they are not read again, and a
    hostile feed cannot cost a read at every poll. Bounded: the oldest names are forgotten
    first (a forgotten one costs one more read). A name listed in the journal itself is always
    read, whatever this says. Not thread-safe."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._names: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def add(self, names: Iterable[str]) -> None:
        for name in names:
            self._names[name] = None
        while len(self._names) > self.limit:
            self._names.popitem(last=False)


class CatchUp:
    """Applies other writers' actions to ``held`` (guarded by ``lock``), read with ``journal``.

    ``reload()`` re-reads everything (when an action cannot be put in its place, or another
    writer compacted); ``notify(change)`` tells observers what changed; ``report(lines)`` adds
    problems met applying actions to the dataset's problems. Thread-safe.
    """

    def __init__(
        self,
        journal: Journal,
        lock: threading.RLock,
        held: Applied,
        *,
        exclude: Sequence[str],
        reload: Callable[[], None],
        notify: Callable[[Change], None],
        report: Callable[[list[str]], None],
    ) -> None:
        self.journal = journal
        self._lock = lock
        self._held = held
        self._exclude = exclude
        self._reload = reload
        self._notify = notify
        self._report = report
        # The time (13 digits) of the newest journal object seen: its name's, but never after
        # the store wrote it (see journal.AHEAD_LIMIT).
        self._newest_seen = ""
        self._feed = FeedCursor()  # where the next listing of the feed starts
        self._unfed: dict[str, Found] = {}  # actions in the journal, not yet in the feed
        self._hints = Hints()  # actions applied from feed entries, not yet checked (see poll)
        self._given_up = GivenUp()  # objects named by feed entries that cannot be read
        self._hints_paused = 0  # while saving, actions come from journal objects only
        self._deferred: list[str] = []  # named by feed entries, left for the next poll to read
        self._activity: deque[dict[str, Any]] = deque(maxlen=50)

    def _where(self, name: str) -> str:
        return self.journal.store.url_of(f"journal/{name}.json")

    # -- what the replica asks ------------------------------------------------------------------
    @property
    def newest_seen(self) -> str:
        """The time (13 digits) of the newest journal object seen, or "" before any: its name's,
        but never after the store wrote it."""
        return self._newest_seen

    @property
    def unchecked(self) -> int:
        """How many actions applied from feed entries are not yet checked against the journal."""
        with self._lock:
            return len(self._hints)

    def restart(self, listed: Iterable[Found]) -> None:
        """The state was just read again, from journal objects only, and the journal listed
        ``listed``: nothing waits for a check. Call with the lock held."""
        self._hints.clear()
        self._see(listed)

    @contextlib.contextmanager
    def journal_only(self) -> Iterator[None]:
        """While in this block, actions are taken from journal objects only, never from feed
        entries (a snapshot must hold the record only)."""
        with self._lock:
            self._hints_paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._hints_paused -= 1

    # -- polls -----------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read the whole journal's listing and apply what is new; True when something changed.

        Actions applied from the feed are checked against their journal objects too.
        """
        marker, _ = self.journal.latest_marker()
        records = self.journal.list_records()
        with self._lock:
            base = self._held.base_key
        if (marker["key"] if marker else None) != base:
            self._reload()
            return True
        changed = self._apply_new(list(records), listed=records)
        return self.check(records, since="") or changed

    def poll(self, *, wide: bool = False, full: bool = False) -> bool:
        """List the feed and apply the new actions; ``wide`` also lists the journal of the last
        seconds, ``full`` all of it (see the module's docstring). True when something changed."""
        with self._lock:
            after = self._feed.start(self._newest_seen)
        feed = self.journal.list_feed_after(after)
        with self._lock:
            known = self._held.known()
            new = [entry for entry in feed if entry.name not in known]
            self._feed.listed([entry.seen for entry in new])
            # A journal object is written before its feed entry: the store wrote it no later.
            self._see(Found("", min(int(e.name[:13]), int(e.seen))) for e in feed)
            # Found in the journal by the last wide poll but carried by no feed entry since.
            unfed = {n: f for n, f in self._unfed.items() if n not in known}
            self._unfed = {}
            deferred = self._deferred
        carried = {entry.name: entry for entry in new if entry.event is not None}
        names = sorted({entry.name for entry in new}.union(unfed, deferred))
        changed = self._apply_new(names, carried, listed=unfed)
        if full:
            changed = self.refresh() or changed
        elif wide:
            changed = self._wide_poll() or changed
        return changed

    def _wide_poll(self) -> bool:
        """List the journal of the last seconds, from the oldest action applied from a feed
        entry at least: check those actions, and keep the actions no feed entry carried for
        the next poll (an entry lands one PUT after its journal object: reading the object
        now would mostly be wasted)."""
        with self._lock:
            since = lookback_from(self._newest_seen, WIDE_LOOKBACK)
            oldest = min(self._hints.held(), default=None)
        if oldest is not None and oldest[:13] <= since:
            since = f"{max(int(oldest[:13]) - 1, 0):013d}"
        listed = self.journal.list_events_after(since)
        changed = self.check(listed, since=since)
        with self._lock:
            self._see(listed.values())
            known = self._held.known()
            self._unfed = {n: f for n, f in listed.items() if n not in known}
        return changed

    def _see(self, found: Iterable[Found]) -> None:
        """Journal objects listed (with the lock held): the newest time seen moves on."""
        newest = max((f.seen for f in found), default=-1)
        if newest >= 0:
            self._newest_seen = max(self._newest_seen, f"{newest:013d}")

    def _apply_new(
        self,
        names: list[str],
        carried: Mapping[str, FeedEntry] | None = None,
        *,
        listed: Mapping[str, Found] | None = None,
    ) -> bool:
        """Apply the events among ``names`` not applied yet, each in its place in name order.

        ``carried`` holds feed entries with the events they carry (hints, see :meth:`poll`):
        only the others are read from the journal. ``listed`` holds the names a listing of the
        journal found (the others were named by feed entries only). One named before actions
        applied here (its PUT was slower, or its writer's clock behind) is put in its place by
        undoing the newer ones and doing them again; only when that cannot be done (too far
        back, or images added or removed) is everything re-read.
        """
        listed = listed or {}
        with self._lock:
            known = self._held.known()
            self._see(listed.values())
            paused = self._hints_paused > 0
            # A hint is taken only for an action named within the window that the checking
            # listing covers (see check); an older one is read from the journal.
            floor = lookback_from(self._newest_seen, WIDE_LOOKBACK)
        new = [n for n in names if n not in known and (n in listed or n not in self._given_up)]
        if not new:
            return False
        hints = {
            n: carried[n]
            for n in new
            if carried and n in carried and not paused and n[:13] >= floor[:13]
        }
        # Objects a listing found are read; those only feed entries name, a batch at a time (a
        # flood of entries naming nothing waits for the next polls, not the actions listed).
        named = [n for n in new if n not in hints and n not in listed]
        with self._lock:
            self._deferred = named[_READS_PER_POLL:]
        wanted = [n for n in new if n in listed and n not in hints] + named[:_READS_PER_POLL]
        records = self.journal.read_records(wanted)
        for name in records.failed:  # said once; read again at the next poll that names it
            self.journal.reports.add(name, records.problems[name])
        if records.missing or records.corrupt:
            with self._lock:
                self._given_up.add(n for n in records.missing + records.corrupt if n not in listed)
            for name in records.missing + records.corrupt:
                self.journal.reports.add(name, records.problems[name])
        events: dict[str, dict[str, Any]] = dict(records.events)
        events.update((n, entry.event) for n, entry in hints.items() if entry.event is not None)
        with self._lock:
            applied = set(self._held.names)
            fresh = {n: events[n] for n in new if n in events and n not in applied}
            problems: list[str] | None = None
            if fresh:
                problems = self._held.insert(fresh, where=self._where, exclude=self._exclude)
            if problems is not None:
                for name, event in fresh.items():
                    if name in hints:
                        self._hints.add(name, hints[name].digest)
                    self._note_activity(name, event)
                self._report(problems)
        if fresh and problems is None:
            self._reload()  # too far back to put in place: replay the journal in its order
            return True
        if not fresh:
            return False
        self._notify(change_of(list(fresh.values())))
        return True

    def check(self, listed: Mapping[str, Found], *, since: str) -> bool:
        """Check the actions applied from feed entries against the journal, the record.

        ``listed`` is a listing of the journal of the names after ``since`` ("" = all). An
        action whose object the listing shows with the MD5 of its bytes as ETag is confirmed;
        one whose object differs is replaced by the object's action, and one whose object is
        not in the journal (a feed entry naming nothing) is taken back. Each such difference is
        said once. True when the dataset changed.
        """
        with self._lock:
            held = {n: d for n, d in self._hints.held().items() if n[:13] > since[:13]}
        if not held:
            return False
        confirmed = [
            n for n, d in held.items() if n in listed and Hints.confirmed_by(listed[n].tag, d)
        ]
        read = [n for n in held if n in listed and n not in confirmed][:_HINT_READS]
        absent = [n for n in held if n not in listed]
        records = self.journal.read_records(read)
        replace: dict[str, dict[str, Any] | None] = {}
        for name in read:
            if name in records.events:
                if records.digests[name] == held[name]:
                    confirmed.append(name)
                else:
                    replace[name] = records.events[name]
            elif name in records.missing:
                absent.append(name)
            elif name in records.corrupt:
                replace[name] = None
        with self._lock:
            absent = self._hints.missed(absent)
        if absent:
            marker, _ = self.journal.latest_marker()
            with self._lock:
                base = self._held.base_key
            if (marker["key"] if marker else None) != base:
                # Another writer compacted: its snapshot holds what the journal no longer does.
                self._reload()
                return True
            replace.update(dict.fromkeys(absent))
        with self._lock:
            self._hints.drop(confirmed)
            if not replace:
                return False
            self._given_up.add(n for n in replace if replace[n] is None)
            problems = self._held.insert(
                {},
                replace={n: e for n, e in replace.items() if n in self._held.names},
                where=self._where,
                exclude=self._exclude,
            )
            if problems is not None:
                self._hints.drop(replace)
                self._report(problems)
            taken = {item["event"] for item in self._activity}.intersection(replace)
            if taken:
                self._activity = deque(
                    (a for a in self._activity if a["event"] not in taken),
                    maxlen=self._activity.maxlen,
                )
        url = self.journal.store.url_of("feed")
        for name, event in replace.items():
            self.journal.reports.add(
                f"hint~{name}",
                f"{url}: a feed entry carried an action that journal object {name} does not "
                + (
                    "hold; the journal's action applies"
                    if event
                    else "hold (it does not exist); taken back"
                ),
            )
        if problems is None:
            self._reload()  # too far back to undo in place: replay the journal in its order
        else:
            self._notify(Change("reload"))
        return True

    # -- who did what ----------------------------------------------------------------------------
    def _note_activity(self, name: str, event: dict[str, Any]) -> None:
        """Remember what another writer did, for "bob labeled 48 images as roses, 4 s ago"."""
        if name.split("-")[1:2] == [self.journal.writer]:
            return
        author, action = event.get("author"), event.get("action")
        describe = event.get("describe") or action
        if not isinstance(author, str) or not isinstance(describe, str):
            return
        self._activity.append(
            {"author": author[:256], "did": describe[:200], "at": time.time(), "event": name}
        )

    def recent_activity(self, within: float = 300.0) -> list[str]:
        """What other annotators did in the last ``within`` seconds, newest first, in words."""
        now = time.time()
        out = []
        for item in reversed(self._activity):
            age = now - float(item["at"])
            if age > within:
                break
            out.append(f"{item['author']}: {item['did']}, {_ago(age)}")
        return out
