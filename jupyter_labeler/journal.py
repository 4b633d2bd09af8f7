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
refused (listed in :attr:`Journal.refused`). An action counts as saved only when its PUT
returned.
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
it removes.

A marker is written after the files it names, so a marker that exists is complete. Opening reads
the newest marker's snapshot and then every journal object it does not cover, in name order.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import re
import secrets
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import StoreError, StoreNotFoundError
from .storage import Store

__all__ = ["FEED_DIR", "MANIFEST_NAME", "Journal", "SaveStatus", "feed_name", "read_feed_name"]

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
_NAME = re.compile(r"(\d{13})-([0-9a-z]{1,32})-(\d{8})")
_MAX_MS = 10**13 - 1


FEED_DIR = "feed"
# <time ms>~<journal name>~ then, when the action fits, "d" and the action: raw deflate with
# _FEED_DICT, base64url without padding. Other encodings may follow under other letters.
_FEED = re.compile(r"(\d{13})~(\d{13}-[0-9a-z]{1,32}-\d{8})~(?:d([0-9A-Za-z_-]+))?")
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
    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, _FEED_DICT)
    packed = packer.compress(payload) + packer.flush()
    head = f"{min(max(ms, 0), _MAX_MS):013d}~{name}~"
    carried = f"{head}d{base64.urlsafe_b64encode(packed).rstrip(b'=').decode('ascii')}"
    return carried if len(carried) <= limit else head


def read_feed_name(entry: str) -> tuple[str, str, dict[str, Any] | None] | None:
    """(time written, journal name, the event it carries or None) of a feed entry; None when
    ``entry`` is not one.

    The event is untrusted like any object of the store (the caller checks it); one that does
    not decode is None, which sends the reader to the journal object.
    """
    match = _FEED.fullmatch(entry)
    if match is None:
        return None
    ms, name, text = match.groups()
    if not text:
        return ms, name, None
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        unpacker = zlib.decompressobj(-15, _FEED_DICT)
        raw = unpacker.decompress(packed, _FEED_MAX_EVENT)
        if not unpacker.eof or unpacker.unconsumed_tail:
            return ms, name, None
        event = orjson.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        return ms, name, None
    if not isinstance(event, dict) or not isinstance(event.get("ops"), list):
        return ms, name, None
    return ms, name, event


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a journal or snapshot name, or None when it is one."""
    if _NAME.fullmatch(name):
        return None
    return "its name is not <13-digit time>-<writer>-<8-digit sequence>"


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
        # Objects under journal/ and snapshots/ whose names are not ours, as problem sentences.
        self.refused: list[str] = []
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
        """
        with self._lock:
            now = min(max(int(self.clock() * 1000), self._last_ms), _MAX_MS)
            self._last_ms = now
            self._seq += 1
            return f"{now:013d}-{self.writer}-{self._seq:08d}"

    def _stamp(self) -> int:
        """The time now in milliseconds, by the clock of the names (never below one seen)."""
        with self._lock:
            self._last_ms = min(max(int(self.clock() * 1000), self._last_ms), _MAX_MS)
            return self._last_ms

    def observe(self, names: list[str]) -> None:
        """Names seen in the store: the next name of this writer will sort after all of them."""
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
    def list_events(self) -> list[str]:
        """Names of the journal's events, sorted (the order every reader applies them in).

        Objects whose names are not ours are left out and named in :attr:`refused`.
        """
        names = self._listed(JOURNAL_DIR, ".json")
        self.observe(names)
        return names

    def list_events_after(self, name: str) -> list[str]:
        """Names of the events that sort after ``name``, sorted: one listing on S3 of only the
        newer objects, however many the journal holds."""
        after = f"{name}.json" if name else ""
        names = []
        for base in self.store.list_after(JOURNAL_DIR, after):
            if base.endswith(".json") and name_problem(base[: -len(".json")]) is None:
                names.append(base[: -len(".json")])
        self.observe(names)
        return names

    def list_feed_after(self, ms: str) -> list[tuple[str, str, dict[str, Any] | None]]:
        """The feed entries written after the time ``ms`` (13 digits, "" = all), in the
        journal's order, one per event: (when written, the event's name, the event it carries
        or None: read its journal object). One listing on S3."""
        entries: dict[str, tuple[str, str, dict[str, Any] | None]] = {}
        for base in self.store.list_after(FEED_DIR, f"{ms}~" if ms else ""):
            read = read_feed_name(base)
            if read is None or read[0] <= ms:
                continue
            held = entries.get(read[1])
            if held is None or (held[2] is None and read[2] is not None):
                entries[read[1]] = read
        names = sorted(entries)
        self.observe(names)
        newest = max((entry[0] for entry in entries.values()), default="")
        if newest:
            self._observe_ms(int(newest))
        return [entries[n] for n in names]

    def remove_feed(
        self, names: set[str], *, older_than: str = "", journal: set[str] | None = None
    ) -> None:
        """Remove the feed entries of the events ``names``, and those named before
        ``older_than`` whose events are not among ``journal`` (the events the caller knows to
        be in the journal still). A failure is harmless."""
        try:
            listed = self.store.list(FEED_DIR)
        except StoreError:
            return
        journal = journal or set()
        gone = []
        for rel in listed:
            read = read_feed_name(rel.rsplit("/", 1)[-1])
            if read is None:
                continue
            if read[1] in names or (read[1] < older_than and read[1] not in journal):
                gone.append(f"{FEED_DIR}/{rel.rsplit('/', 1)[-1]}")
        failed = self.store.delete(gone)
        for rel, exc in failed.items():
            log.info("could not remove feed entry %s: %s", rel, exc)

    def _listed(self, folder: str, suffix: str) -> list[str]:
        names = []
        refused = [r for r in self.refused if not r.startswith(self.store.url_of(folder) + "/")]
        for rel in self.store.list(folder):
            base = rel.rsplit("/", 1)[-1]
            if not base.endswith(suffix) or base.startswith("."):
                continue
            name = base[: -len(suffix)]
            problem = name_problem(name)
            if problem is None:
                names.append(name)
            else:
                refused.append(f"{self.store.url_of(folder)}/{base[:200]}: {problem}; ignored")
        self.refused = refused
        names.sort()
        return names

    def read_events(self, names: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """The events with these names, and a problem sentence for each unreadable one."""
        got = self.store.read_many([f"{JOURNAL_DIR}/{n}.json" for n in names])
        events: dict[str, dict[str, Any]] = {}
        problems: list[str] = []
        for name in names:
            rel = f"{JOURNAL_DIR}/{name}.json"
            data = got.get(rel)
            if isinstance(data, Exception):
                problems.append(f"{self.store.url_of(rel)}: cannot be read ({data}); skipped")
                continue
            try:
                event = orjson.loads(data or b"")
                if not isinstance(event, dict) or not isinstance(event.get("ops"), list):
                    raise ValueError("not an event object")
            except ValueError as exc:
                problems.append(
                    f"{self.store.url_of(rel)}: corrupt or truncated journal object ({exc}); skipped"
                )
                continue
            events[name] = event
        return events, problems

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
        """Keys of every snapshot marker, oldest first (markers not named by us are ignored)."""
        keys = self._listed(SNAPSHOT_DIR, ".json")
        self.observe(keys)
        return keys

    def write_snapshot(self, key: str, files: dict[str, bytes], marker: dict[str, Any]) -> bool:
        """Write the snapshot's files, then its marker (so a marker always names complete files).

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
        old = [
            rel
            for rel in self.store.list(SNAPSHOT_DIR)
            if "/" not in rel
            and name_problem(rel.split(".", 1)[0]) is None
            and rel.split(".", 1)[0] < key
        ]
        with contextlib.suppress(StoreError):
            self.store.delete(old)
