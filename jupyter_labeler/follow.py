"""Following other annotators live: a background poll of the journal, with no server.

:class:`Follower` calls ``poll()`` every ``interval`` seconds on a daemon thread (one cheap
listing of the journal's feed, which carries the actions themselves, from a few seconds before
the newest entry seen (:class:`FeedCursor`); every few polls a listing of the journal itself,
see :data:`WIDE_EVERY`), and ``heartbeat()`` when one is due. An action that sorts before some
already applied is put in its place without re-reading the journal (see
:class:`jupyter_labeler.applied.Recent`). When the store fails it pauses: one log line, then
polls spaced out up to :data:`MAX_BACKOFF` seconds, and one line again when it is back, never a
flood of errors.

A feed entry is a hint, never the record: an action applied from one is checked against the
journal by the wide poll (see :mod:`jupyter_labeler.catch_up`, which applies what a poll finds).
Times in names are believed only up to the store's own clock (see
:data:`jupyter_labeler.journal.AHEAD_LIMIT`).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from .errors import StoreError

__all__ = [
    "FULL_EVERY",
    "LOOKBACK",
    "MAX_BACKOFF",
    "MIN_LOOKBACK",
    "WIDE_EVERY",
    "WIDE_LOOKBACK",
    "FeedCursor",
    "Follower",
]

log = logging.getLogger(__name__)

_MS = re.compile(r"[0-9]{13}")  # ASCII digits: str.isdigit() also takes other scripts' digits

# Every WIDE_EVERY-th poll also lists the journal itself from WIDE_LOOKBACK seconds (of name
# time) before the newest action seen, or from the oldest action applied from a feed entry and
# not yet checked if that is older: it checks those actions against their journal objects (the
# record), and finds, within that window, the actions of writers that write no feed (an older
# version) or whose feed entry failed. Every FULL_EVERY-th poll
# lists the whole journal and the snapshots instead, which catches everything else (a writer
# whose clock is far behind, another's compaction). A listing costs the store per object
# listed, and every follower lists: these stay rare, and each follower starts its count at a
# random place so that a team's followers do not list the whole journal in the same second.
WIDE_EVERY = 3
WIDE_LOOKBACK = 15.0
FULL_EVERY = 100
MAX_BACKOFF = 60.0
# A poll lists the feed (see :mod:`jupyter_labeler.journal`) from a few seconds before the
# newest entry seen: an entry is named when it is written, one PUT before it lands, and a writer
# whose clock is behind names its entries after the newest it saw at its last poll, up to one
# poll interval back. Every entry listed costs the store (and a follower lists every other's
# entries), so the look-back follows how late entries have been landing (see FeedCursor):
# between MIN_LOOKBACK and LOOKBACK seconds. Entries later still are found by the wide poll.
MIN_LOOKBACK = 1.0
LOOKBACK = 10.0
_LATE_POLLS = 20


def lookback_from(newest: str, seconds: float = LOOKBACK) -> str:
    """Where a poll starts listing, given the newest name seen ("" = from the start)."""
    if not _MS.match(newest):
        return ""
    return f"{max(int(newest[:13]) - int(seconds * 1000), 0):013d}"


class FeedCursor:
    """Where a follower's next listing of the feed starts.

    From the newest entry listed so far, less a look-back of twice the lateness seen in the
    last polls (an entry is late by how far its time sorts before the newest entry listed
    before it), plus :data:`MIN_LOOKBACK`, at most :data:`LOOKBACK`. Not thread-safe.
    """

    def __init__(self) -> None:
        self.newest = ""  # the time of the newest entry listed
        self._late: deque[float] = deque(maxlen=_LATE_POLLS)

    @property
    def lookback(self) -> float:
        return min(MIN_LOOKBACK + 2 * max(self._late, default=0.0), LOOKBACK)

    def start(self, newest_name: str) -> str:
        """Where to list from; ``newest_name`` (the newest action read) before any listing."""
        return lookback_from(self.newest or newest_name, self.lookback)

    def listed(self, times: list[str]) -> None:
        """The times of the entries a listing found that were not applied yet."""
        late = 0.0
        if self.newest:
            late = max((int(self.newest) - int(t)) / 1000 for t in times) if times else 0.0
        self._late.append(max(late, 0.0))
        self.newest = max([self.newest, *times])


class Follower:
    """Runs ``poll(full, wide)`` every ``interval`` seconds and ``heartbeat()`` every ``beat``
    seconds (see :data:`WIDE_EVERY` and :data:`FULL_EVERY` for ``wide`` and ``full``)."""

    def __init__(
        self,
        poll: Callable[[bool, bool], object],
        heartbeat: Callable[[], object],
        *,
        interval: float,
        beat: float,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self.interval = float(interval)
        self.beat = beat
        self._poll = poll
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="jupyter-labeler-follow", daemon=True
        )
        self.polls = 0
        self._offset = random.randrange(FULL_EVERY)  # where this follower's count starts
        self.error: str | None = None  # the store's failure while paused, else None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stop.is_set()

    @property
    def paused(self) -> bool:
        return self.error is not None

    def _run(self) -> None:
        delay = self.interval
        last_beat = float("-inf")
        while not self._stop.wait(delay):
            started = time.monotonic()
            try:
                # The poll first: what others did matters more than saying where we are.
                count = self.polls + self._offset
                self._poll(count % FULL_EVERY == 0, count % WIDE_EVERY == 0)
                if time.monotonic() - last_beat >= self.beat:
                    self._heartbeat()
                    last_beat = time.monotonic()
            except StoreError as exc:
                if self.error is None:
                    log.warning("following paused: %s", exc)
                self.error = str(exc)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            except Exception:
                log.exception("following failed; it goes on")
            else:
                if self.error is not None:
                    log.warning("following resumed")
                self.error = None
            finally:
                self.polls += 1
            # Polls start every `interval` seconds, however long one took (an action then waits
            # about one interval, not one interval plus a poll), with a pause between two polls
            # however slow they are, so that a loaded machine or store is not polled flat out.
            delay = max(self.interval / 4, started + self.interval - time.monotonic())
