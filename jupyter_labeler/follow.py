"""Following other annotators live: a background poll of the journal, with no server.

:class:`Follower` calls ``poll()`` every ``interval`` seconds on a daemon thread (one cheap
listing of the journal objects named from :data:`LOOKBACK` seconds before the newest one seen;
every :data:`FULL_EVERY`-th poll a full refresh, which also catches a writer whose clock is far
behind), and ``heartbeat()`` when one is due. An action that sorts before some already applied
is put in its place by :class:`Recent`, without re-reading the journal. When the store fails
it pauses: one log line, then polls spaced out up to :data:`MAX_BACKOFF` seconds, and one line
again when it is back, never a flood of errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from .errors import StoreError
from .events import apply_ops, check_event
from .state import State

__all__ = ["FULL_EVERY", "LOOKBACK", "MAX_BACKOFF", "REWIND_LIMIT", "Follower", "Recent"]

log = logging.getLogger(__name__)

FULL_EVERY = 10
MAX_BACKOFF = 60.0
# A poll lists the journal from this many seconds (of name time) before the newest name seen:
# an action is named before its PUT returns, so with many writers one named earlier than the
# newest listed may land just after a listing; it is found by the next poll, not the 10th.
LOOKBACK = 10.0
# How many of the newest applied events keep what undoes them, so that one named before them
# and arriving late is put in its place by undoing them and doing them again in name order,
# without re-reading the whole journal.
REWIND_LIMIT = 1000
# Operations that undo exactly (labels and parts): an event with another one (images added or
# removed) arriving out of order makes the dataset re-read everything instead.
_REWINDABLE = frozenset({"label", "label+", "label-", "drop", "rename", "move", "usage"})


def lookback_from(newest: str) -> str:
    """Where a poll starts listing, given the newest journal name seen ("" = from the start)."""
    if not newest[:13].isdigit():
        return ""
    return f"{max(int(newest[:13]) - int(LOOKBACK * 1000), 0):013d}"


def _rewindable(event: Any) -> bool:
    ops = event.get("ops") if isinstance(event, dict) else None
    return isinstance(ops, list) and all(
        isinstance(op, dict) and op.get("op") in _REWINDABLE for op in ops
    )


class Recent:
    """The newest events applied to one state, each with the operations that undo it.

    :meth:`insert` puts events that sort before some of them into their place: it undoes
    those (newest first), then applies all in name order, which leaves the state that
    replaying the journal in name order leaves. Not thread-safe: the caller holds its lock.
    """

    def __init__(self, limit: int = REWIND_LIMIT) -> None:
        self.limit = limit
        # name -> (the event, the operations it applied (checked), the operations undoing them)
        self._held: OrderedDict[str, tuple[dict[str, Any], list[Any], list[Any]]] = OrderedDict()

    def hold(self, name: str, event: dict[str, Any], ops: list[Any], inverse: list[Any]) -> None:
        """Remember an event just applied: its checked operations and what undoes them."""
        self._held[name] = (event, ops, inverse)
        self._held.move_to_end(name)
        while len(self._held) > self.limit:
            self._held.popitem(last=False)

    def get(self, name: str) -> tuple[dict[str, Any], list[Any]] | None:
        """The event held under ``name`` and the operations it applied, or None."""
        held = self._held.get(name)
        return None if held is None else (held[0], held[1])

    def apply(
        self, state: State, name: str, event: Any, *, where: str, exclude: Sequence[str] = ()
    ) -> list[str]:
        """Check and apply an event read from the store (never trusted), hold it; its problems."""
        checked = check_event(event, where=where, exclude=exclude)
        done = apply_ops(state, checked.ops, event, where=where)
        if isinstance(event, dict):
            self.hold(name, event, checked.ops, done.inverse)
        return [*checked.problems, *done.problems]

    def insert(
        self,
        state: State,
        applied: list[str],
        new: dict[str, dict[str, Any]],
        *,
        where: Callable[[str], str],
        exclude: Sequence[str] = (),
    ) -> tuple[list[str], list[str]] | None:
        """Apply the events ``new`` (name -> event, read from the store) in name order among
        ``applied`` (the names applied to ``state``, in order).

        Returns the new order of applied names and the problems met, or None when it cannot
        be done here (an event to undo is not held, or is not a label operation): then
        ``state`` is untouched and the caller re-reads everything.
        """
        first = min(new)
        start = next((i for i, n in enumerate(applied) if n > first), len(applied))
        tail = applied[start:]
        if tail and (
            any(n not in self._held or not _rewindable(self._held[n][0]) for n in tail)
            or not all(_rewindable(e) for e in new.values())
        ):
            return None
        redo: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        for name in reversed(tail):
            event, ops, inverse = self._held.pop(name)
            apply_ops(state, inverse, event, where=where(name))
            redo[name] = (event, ops)
        problems: list[str] = []
        order = sorted([*tail, *new])
        for name in order:
            if name in new:
                problems += self.apply(state, name, new[name], where=where(name), exclude=exclude)
            else:
                event, ops = redo[name]
                self.hold(name, event, ops, apply_ops(state, ops, event, where=where(name)).inverse)
        return applied[:start] + order, problems


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
            started = time.monotonic()
            try:
                # The poll first: what others did matters more than saying where we are.
                self._poll(self.polls % FULL_EVERY == FULL_EVERY - 1)
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
