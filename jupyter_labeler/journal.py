"""The append-only journal of actions, and the snapshots that compact it.

Layout under a dataset's output folder::

    journal/<time ms>-<writer>-<seq>.json      one object per action, never rewritten
    feed/<time ms>~<event name>~<event>        the same action again, carried in the name
    snapshots/<key>.json                       marker: which journal objects the snapshot covers
    snapshots/<key>.manifest                   the state as a ModelArts manifest
    snapshots/<key>.images.parquet             the same state, exact and fast to read back
    snapshots/<key>.labels.parquet
    dataset.manifest                           a copy of the newest snapshot's manifest

Names hold a time in milliseconds, a random writer id and a sequence number, so two writers can
never pick the same name and every reader sorts the journal into the same order. The time is a
hybrid logical clock: the writer's wall clock, but never below (and never equal to) the time of
any name this journal has listed. So an action always sorts after every action its author had
seen, even when that author's clock is an hour behind another's: readers apply "B added cat,
then A removed it" in that order whoever compacts. A name of any other form is not ours and is
refused (listed in :attr:`Journal.refused`). So is a name whose time is ahead of the store's own
clock when it wrote the object (its LastModified) by more than :data:`AHEAD_LIMIT`: a hostile
or broken writer could otherwise push every writer's clock, and every follower's look back, to
the end of time; the store's time of an object is the same for every reader, so all refuse the
same names and still apply one order. An action counts as saved only when its PUT returned.
When the store cannot be reached the action waits in memory, in order, and a background thread
retries it; later actions queue behind it so that the journal is never written out of order.

Followers (see :mod:`jupyter_labeler.follow`) poll for the others' new actions. Reading each
action's object would cost every follower one GET per action of every other annotator: the reads
grow with the square of the team. So once an action's journal object is written, its writer also
writes an empty object under ``feed/`` whose name carries the action (compressed with a preset
dictionary and base64url-encoded, when that fits in a name: S3 and OBS allow 1,024 bytes a key,
which holds an action on about 50 images). One listing of ``feed/`` then gives a follower every
new action with no read at all; an entry without the action (``<time>~<name>~``, too big to
carry) says "read the journal object". A feed entry begins with the time it is written (by the
same clock as the names), not the action's: it lands one PUT later, so a follower lists only the
last few seconds of the feed, where the journal's names would need a longer look back (an action
is named before its PUT, which may wait behind others). The journal stays the record: opening
and compaction never read the feed, a feed entry is written only after its journal object (so
it never names an action that is not saved), and compaction removes the entries of the actions
it removes, and every object of the feed that no reader takes. Anyone who can write to the
bucket can write a feed entry too, so a follower checks every action it took from one against
the journal object (see :meth:`jupyter_labeler.dataset.Dataset.poll`); a snapshot is built
from journal objects only.

A marker is written after the files it names, so a marker that exists is complete. Opening reads
the newest marker's snapshot and then every journal object it does not cover, in name order.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import re
import secrets
import threading
import time
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from .errors import StoreError, StoreNotFoundError
from .storage import Listing, Store

__all__ = [
    "AHEAD_LIMIT",
    "FEED_DIR",
    "MANIFEST_NAME",
    "FeedEntry",
    "Found",
    "Journal",
    "Records",
    "Reports",
    "SaveStatus",
    "digest_of",
    "feed_name",
    "read_feed_name",
]

log = logging.getLogger(__name__)

JOURNAL_DIR = "journal"
SNAPSHOT_DIR = "snapshots"
MANIFEST_NAME = "dataset.manifest"
_RETRY_FIRST, _RETRY_MAX = 0.25, 10.0
# How long an action waits for its own write before it is reported as "not yet saved". A store
# that hangs (accepts the connection, never answers) would otherwise block the caller for every
# read timeout of every retry; the write goes on in the background and lands in order.
ACK_TIMEOUT = 2.0
# time (ms, 13 digits) - writer id - sequence: the only names read as events or snapshots.
# ASCII digits only: ``\d`` would also match other scripts' digits, which int() reads as numbers.
_NAME = re.compile(r"([0-9]{13})-([0-9a-z]{1,32})-([0-9]{8})")
_MAX_MS = 10**13 - 1
# How far a name's time may be ahead of the store's clock when the store wrote its object (its
# LastModified). A writer names by its own clock, corrected to the store's when that is off by
# more than CLOCK_SLACK (see Journal.next_name), so an honest name is at most seconds ahead;
# one further ahead comes from a broken clock or a hostile writer, and believing it would move
# every follower's cursor past the others' actions and push every writer's clock to its time.
# Such a name is refused by every reader alike (the store's time of an object is the same for
# all), so they all still apply one order.
AHEAD_LIMIT = 300.0
CLOCK_SLACK = 60.0


FEED_DIR = "feed"
# <time ms>~<journal name>~ then, when the action fits, "d" and the action: raw deflate with
# _FEED_DICT, base64url without padding. Other encodings may follow under other letters.
_FEED = re.compile(r"([0-9]{13})~([0-9]{13}-[0-9a-z]{1,32}-[0-9]{8})~(?:d([0-9A-Za-z_-]+))?")
# What most actions share, so that a one-image action takes ~90 characters instead of ~210.
# Changing these bytes changes the encoding: a new dictionary needs a new letter.
_FEED_DICT = (
    b'"by":"","at":"2026-01-01 00:00:00"}]}{"v":2,"action":"remove_label","describe":"Removed '
    b' from 1 image","ops":[{"op":"label-","label":"","ids":["'
    b'{"v":2,"action":"add_label","author":"","describe":"Added  to 2 images","time":'
    b'"2026-01-01 00:00:00","ops":[{"op":"label+","label":"","ids":["'
)
# A feed entry's action is bounded when inflated: a hostile name cannot be a deflate bomb.
_FEED_MAX_EVENT = 64 * 1024


def feed_name(ms: int, name: str, payload: bytes, limit: int) -> str:
    """The feed entry written at ``ms`` of the journal event ``name`` holding ``payload`` (its
    JSON bytes): the event carried in the name when the whole name fits in ``limit`` bytes."""
    head = f"{min(max(ms, 0), _MAX_MS):013d}~{name}~"
    if len(payload) > _FEED_MAX_EVENT:
        # No reader inflates more than this (see _feed_parts): such an event is never carried,
        # and deflating it (megabytes for an action on 100,000 images) would only hold up the
        # writer thread and the next action behind it.
        return head
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _FEED_DICT)
    packed = packer.compress(payload) + packer.flush()
    carried = f"{head}d{base64.urlsafe_b64encode(packed).rstrip(b'=').decode('ascii')}"
    return carried if len(carried) <= limit else head


@dataclass(frozen=True)
class FeedEntry:
    """A feed entry as a follower reads it: a hint, never the record.

    ``seen`` is the time (13 digits) a reader goes by: the time in the entry's name, but never
    after the store wrote the entry. ``event`` is the action it carries (None: read the journal
    object) and ``digest`` the MD5 (hex) of that action's bytes, which are the journal object's
    bytes when the entry is honest ("" when none is carried).
    """

    seen: str
    name: str
    event: dict[str, Any] | None
    digest: str = ""


def _feed_parts(entry: str) -> tuple[str, str, dict[str, Any] | None, str] | None:
    match = _FEED.fullmatch(entry)
    if match is None:
        return None
    ms, name, text = match.groups()
    if not text:
        return ms, name, None, ""
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        unpacker = zlib.decompressobj(-15, _FEED_DICT)
        raw = unpacker.decompress(packed, _FEED_MAX_EVENT)
        if not unpacker.eof or unpacker.unconsumed_tail:
            return ms, name, None, ""
        event = orjson.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return ms, name, None, ""
    if not isinstance(event, dict) or not isinstance(event.get("ops"), list):
        return ms, name, None, ""
    return ms, name, event, digest_of(raw)


def digest_of(data: bytes) -> str:
    """The MD5 (hex) of an object's bytes: what S3 and OBS give as the ETag of a plain PUT, so
    that a listing tells whether an object holds the bytes a feed entry carried."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def read_feed_name(entry: str) -> tuple[str, str, dict[str, Any] | None] | None:
    """(time written, journal name, the event it carries or None) of a feed entry; None when
    ``entry`` is not one.

    The event is untrusted like any object of the store (the caller checks it); one that does
    not decode is None, which sends the reader to the journal object.
    """
    parts = _feed_parts(entry)
    return None if parts is None else parts[:3]


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a journal or snapshot name, or None when it is one."""
    if _NAME.fullmatch(name):
        return None
    return "its name is not <13-digit time>-<writer>-<8-digit sequence>"


class Found(NamedTuple):
    """A journal object as a listing found it: the store's tag (see
    :meth:`~.storage.Store.list_after`) and the time in milliseconds a reader goes by: its name's
    time, but never after the store wrote the object."""

    tag: str
    seen: int


@dataclass
class Records:
    """The journal objects :meth:`Journal.read_records` read, and why it could not read others.

    ``missing`` objects do not exist and ``corrupt`` ones hold no event: objects are never
    rewritten, so reading them again cannot help. ``failed`` ones met a failing store.
    """

    events: dict[str, dict[str, Any]]
    digests: dict[str, str]
    missing: list[str]
    corrupt: list[str]
    failed: list[str]
    problems: dict[str, str]  # name -> why it was not read, in a sentence


class Reports:
    """Problems with objects of the store, each said once: a broken or hostile object listed at
    every poll would otherwise add a line at every poll. The newest keys are kept (at most
    ``limit``); :meth:`take` hands over the sentences not taken yet."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._said: OrderedDict[str, None] = OrderedDict()
        self._new: list[str] = []
        self._lock = threading.Lock()

    def add(self, key: str, sentence: str) -> bool:
        """Say ``sentence`` unless something was said of ``key`` already; True when said."""
        with self._lock:
            if key in self._said:
                self._said.move_to_end(key)
                return False
            self._said[key] = None
            while len(self._said) > self.limit:
                self._said.popitem(last=False)
            self._new.append(sentence)
            return True

    def take(self) -> list[str]:
        with self._lock:
            new, self._new = self._new, []
        return new


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:,.0f} min" if seconds < 86400 * 3 else f"{seconds / 86400:,.0f} days"


@dataclass(frozen=True)
class SaveStatus:
    """How saving is going: ``state`` is "saved", "saving", "pending" or "error"."""

    state: str
    pending: int = 0
    message: str = "All changes saved"

    def __str__(self) -> str:
        return self.message


class Journal:
    """Writes and reads the journal and snapshots of one dataset's output folder."""

    def __init__(
        self,
        store: Store,
        *,
        on_status: Callable[[SaveStatus], None] | None = None,
        durable: bool = True,
        ack_timeout: float = ACK_TIMEOUT,
        clock: Callable[[], float] = time.time,
        feed: bool = True,
    ) -> None:
        self.store = store
        self.feed = feed  # also write each event's feed entry (see the module's docstring)
        self._feed_limit: int | None = None
        self.clock = clock
        # Seconds added to the clock: set when the store's clock (seen in listings) is behind
        # it by more than CLOCK_SLACK, so that this writer's names are never refused as ahead.
        self._offset = 0.0
        # Objects under journal/ and snapshots/ that are not read, as problem sentences: names
        # that are not ours, or ahead of the store's clock (rebuilt at every full listing).
        self.refused: list[str] = []
        # Problems met by partial listings and reads, each said once (see Reports).
        self.reports = Reports()
        self.ack_timeout = ack_timeout
        self.writer = secrets.token_hex(6)
        self.durable = durable
        self._seq = 0
        self._last_ms = 0
        self._lock = threading.Lock()
        # flush() and the retry thread may both try the queue's head: only one at a time, or
        # both would pop after writing it once, and the second pop would drop an unwritten event.
        self._head_lock = threading.Lock()
        self._pending: deque[tuple[str, bytes]] = deque()
        # Notified (with _lock held) whenever the head was written or a write failed.
        self._moved = threading.Condition(self._lock)
        self._failures = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._on_status = on_status
        self._status = SaveStatus("saved")
        self._last_error = ""

    # -- names ------------------------------------------------------------------------------------
    def next_name(self) -> str:
        """A fresh, unique, ordered name for the next event or snapshot.

        Above every name this journal has listed (see :meth:`observe`), whatever the clock says.
        The clock is this machine's, or the store's (as its listings tell it) when this one is
        ahead of it by more than :data:`CLOCK_SLACK`.
        """
        with self._lock:
            now = min(max(self._clock_ms(), self._last_ms), _MAX_MS)
            self._last_ms = now
            self._seq += 1
            return f"{now:013d}-{self.writer}-{self._seq:08d}"

    def _stamp(self) -> int:
        """The time now in milliseconds, by the clock of the names (never below one seen)."""
        with self._lock:
            self._last_ms = min(max(self._clock_ms(), self._last_ms), _MAX_MS)
            return self._last_ms

    def _clock_ms(self) -> int:
        return int((self.clock() + self._offset) * 1000)

    def _learn_clock(self, listing: Listing) -> None:
        """Follow the store's clock when this machine's is ahead of it by more than
        :data:`CLOCK_SLACK`: names further ahead than :data:`AHEAD_LIMIT` are refused by every
        reader. A clock behind the store's needs nothing: names never go below one seen."""
        skew = listing.now - self.clock()
        self._offset = skew if skew < -CLOCK_SLACK else 0.0

    def observe(self, names: Iterable[str]) -> None:
        """Names seen in the store (and accepted: see :data:`AHEAD_LIMIT`): the next name of
        this writer will sort after all of them."""
        newest = max((n for n in names if _NAME.fullmatch(n)), default=None)
        if newest is not None:
            self._observe_ms(int(newest[:13]))

    def _observe_ms(self, ms: int) -> None:
        with self._lock:
            self._last_ms = max(self._last_ms, min(ms + 1, _MAX_MS))

    # -- status -----------------------------------------------------------------------------------
    @property
    def status(self) -> SaveStatus:
        return self._status

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _set_status(self, status: SaveStatus) -> None:
        if status == self._status:
            return
        self._status = status
        if self._on_status is not None:
            try:
                self._on_status(status)
            except Exception:
                log.exception("a save-status observer failed")

    def _pending_status(self) -> SaveStatus:
        n = len(self._pending)
        what = "action is" if n == 1 else "actions are"
        return SaveStatus(
            "pending",
            n,
            f"{n} {what} not yet saved (retrying): {self._last_error}",
        )

    # -- writing events ---------------------------------------------------------------------------
    def append(self, name: str, event: dict[str, Any]) -> bool:
        """Write one event now; True when it is saved, False when it waits for a retry.

        The write runs on the journal's writer thread and this waits for it at most
        :attr:`ack_timeout` seconds (or until it failed). An event behind others still waiting
        is queued at once: the journal is never written out of order.
        """
        entry = (name, orjson.dumps(event))
        with self._lock:
            behind = bool(self._pending)
            self._pending.append(entry)
            if behind:
                self._set_status(self._pending_status())
                self._start_retry()
                return False
            failures = self._failures
            self._set_status(SaveStatus("saving", 1, "Saving…"))
            self._start_retry()

            def settled() -> bool:
                return (
                    not self._pending
                    or self._pending[0] is not entry
                    or (self._failures != failures)
                )

            self._moved.wait_for(settled, timeout=self.ack_timeout)
            if not self._pending or self._pending[0] is not entry:
                return True
            if self._failures == failures:
                self._last_error = (
                    f"the store at {self.store.url} has not answered for {self.ack_timeout:g} s"
                )
            self._set_status(self._pending_status())
            reason = self._last_error
        log.warning("action %s not yet saved: %s", name, reason)
        return False

    def _start_retry(self) -> None:
        # Called with the lock held.
        self._wake.set()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._retry_loop, name="jupyter-labeler-journal", daemon=True
            )
            self._thread.start()

    def retry(self) -> None:
        """Try the waiting events again now, on the writer thread, rather than after its pause."""
        with self._lock:
            self._start_retry()

    def _write_head(self) -> bool:
        """Try to write the oldest waiting event; True when the queue moved."""
        with self._head_lock:
            with self._lock:
                if not self._pending:
                    return True
                head = self._pending[0]
            name, payload = head
            try:
                self.store.write(f"{JOURNAL_DIR}/{name}.json", payload, durable=self.durable)
            except StoreError as exc:
                with self._lock:
                    self._last_error = str(exc)
                    self._failures += 1
                    self._moved.notify_all()
                    if self._status.state != "saving":  # append() reports its own outcome
                        self._set_status(self._pending_status())
                return False
            with self._lock:
                if self._pending and self._pending[0] is head:
                    self._pending.popleft()
                self._moved.notify_all()
                self._set_status(self._pending_status() if self._pending else SaveStatus("saved"))
            if self.feed:
                self._write_feed(name, payload)
            return True

    def _write_feed(self, name: str, payload: bytes) -> None:
        """Write the feed entry of an event just saved; a failure costs followers only time."""
        try:
            if self._feed_limit is None:
                self._feed_limit = self.store.name_limit(FEED_DIR)
            entry = feed_name(self._stamp(), name, payload, self._feed_limit)
            self.store.write(f"{FEED_DIR}/{entry}", b"", durable=False)
        except Exception as exc:
            # Followers find the event in the journal at their next wide or full poll instead.
            log.info("feed entry of %s not written: %s", name, exc)

    def _retry_loop(self) -> None:
        delay = _RETRY_FIRST
        while not self._closed:
            with self._lock:
                if not self._pending:
                    # Forget this thread under the lock: an append() racing with its exit must
                    # start a new one rather than count on a thread that is about to end.
                    if self._thread is threading.current_thread():
                        self._thread = None
                    return
            if self._write_head():
                delay = _RETRY_FIRST
                continue
            self._wake.clear()
            self._wake.wait(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The events applied here but not yet written, oldest first."""
        with self._lock:
            return [(name, orjson.loads(payload)) for name, payload in self._pending]

    def flush(self, timeout: float | None = None) -> bool:
        """Write every waiting event now (retrying until ``timeout``); True when none is left.

        It also waits for the feed entry of the last event written, which follows its
        acknowledgement, so that a follower listing the feed afterwards finds it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while self._pending:
            if self._write_head():
                continue
            if deadline is not None and time.monotonic() + delay > deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        left = -1.0 if deadline is None else max(deadline - time.monotonic(), 0.0)
        if self._head_lock.acquire(timeout=left):
            self._head_lock.release()
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush what can be flushed within ``timeout`` and stop the retry thread."""
        done = self.flush(timeout)
        self._closed = True
        self._wake.set()
        return done

    # -- reading events ---------------------------------------------------------------------------
    def _list(self, folder: str, after: str) -> Listing:
        listing = self.store.list_after(folder, after)
        self._learn_clock(listing)
        return listing

    @staticmethod
    def ahead(ms: int, modified: float) -> float:
        """Seconds by which the time ``ms`` of a name is ahead of the store's clock when it
        wrote the object; more than :data:`AHEAD_LIMIT` and the object is refused."""
        return ms / 1000 - modified

    def _scan(
        self, folder: str, suffix: str, after: str = ""
    ) -> tuple[dict[str, Found], list[str]]:
        """Our objects in ``folder`` named after ``after`` (names without ``suffix``, sorted),
        and a problem sentence for each other object there."""
        found: dict[str, Found] = {}
        refused: list[str] = []
        prefix = self.store.url_of(folder) + "/"
        for obj in self._list(folder, f"{after}{suffix}" if after else "").objects:
            if not obj.name.endswith(suffix) or obj.name.startswith("."):
                continue
            name = obj.name[: -len(suffix)]
            problem = name_problem(name)
            if problem is None:
                ahead = self.ahead(int(name[:13]), obj.modified)
                if ahead > AHEAD_LIMIT:
                    problem = f"named {_minutes(ahead)} ahead of the store's clock"
                else:
                    seen = min(int(name[:13]), int(obj.modified * 1000))
                    found[name] = Found(obj.tag, seen)
                    continue
            refused.append(f"{prefix}{obj.name[:200]}: {problem}; ignored")
        self.observe(found)
        return found, refused

    def _listed(self, folder: str, suffix: str) -> dict[str, Found]:
        found, refused = self._scan(folder, suffix)
        prefix = self.store.url_of(folder) + "/"
        self.refused = [r for r in self.refused if not r.startswith(prefix)] + refused
        return found

    def list_records(self) -> dict[str, Found]:
        """Every event of the journal, in name order (the order every reader applies them in),
        each with what the listing says of its object.

        Objects whose names are not ours, or are ahead of the store's clock, are left out and
        named in :attr:`refused`.
        """
        return self._listed(JOURNAL_DIR, ".json")

    def list_events(self) -> list[str]:
        """Names of the journal's events, sorted (see :meth:`list_records`)."""
        return list(self.list_records())

    def list_events_after(self, name: str) -> dict[str, Found]:
        """The events that sort after ``name``, sorted: one listing on S3 of only the newer
        objects, however many the journal holds. Refused objects are reported once, in
        :attr:`reports`."""
        found, refused = self._scan(JOURNAL_DIR, ".json", name)
        for sentence in refused:
            self.reports.add(sentence, sentence)
        return found

    def list_feed_after(self, ms: str) -> list[FeedEntry]:
        """The feed entries written after the time ``ms`` (13 digits, "" = all), in the
        journal's order, one per event. One listing on S3.

        An entry is a hint, never the record. One named ahead of the store's clock is refused
        (reported once, in :attr:`reports`); entries of one event that carry different actions
        carry none (the reader reads the journal object).
        """
        url = self.store.url_of(FEED_DIR)
        groups: dict[str, list[FeedEntry]] = {}
        newest = 0
        for obj in self._list(FEED_DIR, f"{ms}~" if ms else "").objects:
            parts = _feed_parts(obj.name)
            if parts is None or parts[0] <= ms:
                continue
            written, name, event, digest = parts
            ahead = self.ahead(max(int(written), int(name[:13])), obj.modified)
            if ahead > AHEAD_LIMIT:
                self.reports.add(
                    obj.name,
                    f"{url}/{obj.name[:60]}…: a feed entry named {_minutes(ahead)} ahead of the "
                    "store's clock; ignored",
                )
                continue
            newest = max(newest, int(written))
            seen = f"{min(int(written), int(obj.modified * 1000)):013d}"
            groups.setdefault(name, []).append(FeedEntry(seen, name, event, digest))
        entries = []
        for name in sorted(groups):
            group = groups[name]
            seen = min(entry.seen for entry in group)
            carried = [entry for entry in group if entry.event is not None]
            if len({entry.digest for entry in carried}) > 1:
                self.reports.add(
                    f"feed~{name}",
                    f"{url}: the feed entries of journal object {name} carry different "
                    "actions; the journal object is read instead",
                )
                carried = []
            entries.append(
                FeedEntry(seen, name, carried[0].event, carried[0].digest)
                if carried
                else FeedEntry(seen, name, None)
            )
        self.observe(groups)
        if newest:
            self._observe_ms(newest)
        return entries

    def remove_feed(
        self, names: set[str], *, older_than: str = "", journal: set[str] | None = None
    ) -> None:
        """Remove the feed entries of the events ``names``, those named before ``older_than``
        whose events are not among ``journal`` (the events the caller knows to be in the
        journal still), and every object of the feed that no reader takes (not a feed entry,
        or named ahead of the store's clock): it would be listed at every poll. A failure is
        harmless."""
        try:
            listed = self.store.list_versions(FEED_DIR)
        except StoreError:
            return
        journal = journal or set()
        gone = []
        for base, (modified, _tag) in listed.items():
            parts = _feed_parts(base)
            if (
                parts is None
                or parts[1] in names
                or (parts[1] < older_than and parts[1] not in journal)
                or self.ahead(max(int(parts[0]), int(parts[1][:13])), modified) > AHEAD_LIMIT
            ):
                gone.append(f"{FEED_DIR}/{base}")
        failed = self.store.delete(gone)
        for rel, exc in failed.items():
            log.info("could not remove feed entry %s: %s", rel, exc)

    def read_records(self, names: list[str]) -> Records:
        """The events with these names, the MD5 of each one's bytes, and why others could not
        be read (see :class:`Records`)."""
        got = self.store.read_many([f"{JOURNAL_DIR}/{n}.json" for n in names])
        out = Records({}, {}, [], [], [], {})
        for name in names:
            rel = f"{JOURNAL_DIR}/{name}.json"
            data = got.get(rel)
            if isinstance(data, StoreNotFoundError):
                out.missing.append(name)
                out.problems[name] = f"{self.store.url_of(rel)}: does not exist; skipped"
                continue
            if isinstance(data, Exception):
                out.failed.append(name)
                out.problems[name] = f"{self.store.url_of(rel)}: cannot be read ({data}); skipped"
                continue
            try:
                event = orjson.loads(data or b"")
                if not isinstance(event, dict) or not isinstance(event.get("ops"), list):
                    raise ValueError("not an event object")
            except ValueError as exc:
                out.corrupt.append(name)
                out.problems[name] = (
                    f"{self.store.url_of(rel)}: corrupt or truncated journal object ({exc}); skipped"
                )
                continue
            out.events[name] = event
            out.digests[name] = digest_of(data or b"")
        return out

    def read_events(self, names: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The events with these names, and a problem sentence for each unreadable one."""
        records = self.read_records(names)
        return records.events, list(records.problems.values())

    # -- snapshots --------------------------------------------------------------------------------
    def latest_marker(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The newest readable snapshot marker (None when there is none) and problems met."""
        problems: list[str] = []
        for key in reversed(self.marker_keys()):
            rel = f"{SNAPSHOT_DIR}/{key}.json"
            try:
                marker = orjson.loads(self.store.read(rel))
                if not isinstance(marker, dict) or not isinstance(marker.get("covered"), list):
                    raise ValueError("not a snapshot marker")
                if not all(isinstance(n, str) for n in marker["covered"]):
                    raise ValueError("its list of covered journal objects is malformed")
            except (ValueError, StoreError) as exc:
                problems.append(f"{self.store.url_of(rel)}: unreadable snapshot marker ({exc})")
                continue
            marker["key"] = key
            return marker, problems
        return None, problems

    def marker_keys(self) -> list[str]:
        """Keys of every snapshot marker, oldest first (markers not named by us, or named ahead
        of the store's clock, are ignored)."""
        return list(self._listed(SNAPSHOT_DIR, ".json"))

    def write_snapshot(
        self,
        key: str,
        files: dict[str, bytes | Iterable[bytes | memoryview]],
        marker: dict[str, Any],
    ) -> bool:
        """Write the snapshot's files, then its marker (so a marker always names complete files).

        A file may be given as consecutive pieces, built while it is written (see
        :meth:`~.storage.Store.write`).

        Returns whether its manifest was published at ``dataset.manifest``: False when a newer
        snapshot appeared meanwhile (its writer publishes that one).
        """
        for suffix, data in files.items():
            self.store.write(f"{SNAPSHOT_DIR}/{key}{suffix}", data, durable=self.durable)
        self.store.write(f"{SNAPSHOT_DIR}/{key}.json", orjson.dumps(marker), durable=self.durable)
        if self.marker_keys()[-1:] != [key]:
            # A newer snapshot exists already: its writer publishes the newer manifest, and
            # copying this one over it would put older labels at the documented path.
            log.info("snapshot %s was superseded; its manifest is not published", key)
            return False
        try:
            self.store.copy(f"{SNAPSHOT_DIR}/{key}.manifest", MANIFEST_NAME)
        except StoreNotFoundError:
            # Another writer's newer snapshot already replaced this one and pruned its files;
            # that writer publishes its own manifest, and this snapshot is complete anyway.
            log.info("snapshot %s was superseded before its manifest was published", key)
            return False
        return True

    def read_snapshot_file(self, key: str, suffix: str) -> bytes:
        return self.store.read(f"{SNAPSHOT_DIR}/{key}{suffix}")

    def remove_events(self, names: list[str]) -> None:
        failed = self.store.delete([f"{JOURNAL_DIR}/{n}.json" for n in names])
        for rel, exc in failed.items():  # harmless: a covered event left behind is skipped
            log.warning("could not remove covered journal object %s: %s", rel, exc)

    def remove_snapshots_before(self, key: str) -> None:
        # The listing names objects from the output's root: ``snapshots/<key><suffix>``.
        folder = SNAPSHOT_DIR + "/"
        old = [
            rel
            for rel in self.store.list(SNAPSHOT_DIR)
            if rel.startswith(folder)
            and "/" not in (name := rel[len(folder) :])
            and name_problem(name.split(".", 1)[0]) is None
            and name.split(".", 1)[0] < key
        ]
        with contextlib.suppress(StoreError):
            self.store.delete(old)
