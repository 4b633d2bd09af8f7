"""Following other annotators live: a background poll of the journal, with no server.

:class:`Follower` calls ``poll()`` every ``interval`` seconds on a daemon thread (one cheap
listing of the journal objects newer than the newest one seen; every
:data:`FULL_EVERY`-th poll a full refresh, which also catches a late writer whose actions were
named before others'), and ``heartbeat()`` when one is due. When the store fails it pauses:
one log line, then polls spaced out up to :data:`MAX_BACKOFF` seconds, and one line again when
it is back, never a flood of errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .errors import StoreError

__all__ = ["FULL_EVERY", "MAX_BACKOFF", "Follower"]

log = logging.getLogger(__name__)

FULL_EVERY = 10
MAX_BACKOFF = 60.0


class Follower:
    """Runs ``poll(full)`` every ``interval`` seconds and ``heartbeat()`` every ``beat`` s."""

    def __init__(
        self,
        poll: Callable[[bool], object],
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
            try:
                if time.monotonic() - last_beat >= self.beat:
                    self._heartbeat()
                    last_beat = time.monotonic()
                self._poll(self.polls % FULL_EVERY == FULL_EVERY - 1)
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
            delay = self.interval
