"""Background work of the widget that must not hold up the kernel: a debounced job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Debounced:
    """Runs ``job`` on a daemon thread ``delay`` seconds after the last :meth:`request`.

    A request during a run makes one more run after it; runs never overlap. :meth:`wait` blocks
    until nothing is pending or running (for tests and scripts). ``last_seconds`` is how long
    the last run took.
    """

    def __init__(self, job: Callable[[], None], name: str, min_pause: float = 0.0) -> None:
        self._job = job
        self._name = name
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._running = False
        self._again = False
        self._closed = False
        self._min_pause = min_pause
        self.last_seconds = 0.0

    def request(self, delay: float) -> None:
        """Run the job ``delay`` seconds from now (or once more after the run under way)."""
        with self._lock:
            if self._closed:
                return
            self._idle.clear()
            if self._running:
                self._again = True
                return
            self._start(delay)

    def _start(self, delay: float) -> None:
        # With the lock held. A timer that fired but has not taken the lock yet finds its
        # generation stale and does nothing: one run at a time.
        if self._timer is not None:
            self._timer.cancel()
        self._generation += 1
        timer = threading.Timer(max(0.0, delay), self._run, args=(self._generation,))
        timer.name = self._name
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _run(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation or self._closed:
                return
            self._timer = None
            self._running = True
        started = time.perf_counter()
        try:
            self._job()
        finally:
            self.last_seconds = time.perf_counter() - started
            with self._lock:
                self._running = False
                if self._again and not self._closed:
                    self._again = False
                    self._start(self.pause())
                else:
                    self._idle.set()

    def pause(self) -> float:
        """The delay before a run asked for by a change: at least as long as the last run took,
        so that a slow fit keeps at most half the machine busy while the user labels."""
        return max(self._min_pause, self.last_seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running; False when ``timeout`` passed first."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Cancel what is pending; later requests do nothing."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._idle.set()
