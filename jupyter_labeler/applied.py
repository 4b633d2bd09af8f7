"""What a replica's state holds: the snapshot it was read from and the journal objects applied
since, in name order, with the newest of them kept undoable.

The journal's order is the order of names; an event may arrive after newer ones were applied
(its PUT was slower, or its writer's clock behind). :class:`Recent` keeps the newest applied
events with the operations that undo each, so that such an event is put in its place by undoing
the newer ones and doing them again in name order, without re-reading the journal.
:class:`Applied` is the record the replica and its catching up with other writers share.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .events import apply_ops, check_event
from .state import State

__all__ = ["REWIND_LIMIT", "Applied", "Recent"]

# How many of the newest applied events keep what undoes them, so that one named before them
# and arriving late is put in its place by undoing them and doing them again in name order,
# without re-reading the whole journal.
REWIND_LIMIT = 1000
# Operations that undo exactly (labels and parts): an event with another one (images added or
# removed) arriving out of order makes the dataset re-read everything instead.
_REWINDABLE = frozenset({"label", "label+", "label-", "drop", "rename", "move", "usage"})


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
        done = apply_ops(state, checked.ops, event, where=where, rules=True)
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
        replace: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> tuple[list[str], list[str]] | None:
        """Apply the events ``new`` (name -> event, read from the store) in name order among
        ``applied`` (the names applied to ``state``, in order), and apply the events
        ``replace`` (name -> event, or None for none) in place of the applied ones so named.

        Returns the new order of applied names and the problems met, or None when it cannot
        be done here (an event to undo is not held, or is not a label operation): then
        ``state`` is untouched and the caller re-reads everything.
        """
        replace = dict(replace or {})
        starts = [i for i, n in enumerate(applied) if n in replace]
        if new:
            first = min(new)
            starts.append(next((i for i, n in enumerate(applied) if n > first), len(applied)))
        start = min(starts, default=len(applied))
        tail = applied[start:]
        incoming = [*new.values(), *(e for e in replace.values() if e is not None)]
        if tail and (
            any(n not in self._held or not _rewindable(self._held[n][0]) for n in tail)
            or not all(_rewindable(e) for e in incoming)
        ):
            return None
        redo: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        for name in reversed(tail):
            event, ops, inverse = self._held.pop(name)
            apply_ops(state, inverse, event, where=where(name))
            redo[name] = (event, ops)
        problems: list[str] = []
        records = {**new, **{n: e for n, e in replace.items() if e is not None}}
        order = sorted({*(n for n in tail if n not in replace), *records})
        for name in order:
            if name in records:
                problems += self.apply(
                    state, name, records[name], where=where(name), exclude=exclude
                )
            else:
                event, ops = redo[name]
                redone = apply_ops(state, ops, event, where=where(name), rules=True)
                self.hold(name, event, ops, redone.inverse)
        return applied[:start] + order, problems


@dataclass
class Applied:
    """A state and what it holds: the snapshot it was read from (``base_key``, None for none,
    covering the journal objects ``covered``), then the journal objects applied since, in name
    order (``names``; an action of this session still waiting for the store among them), the
    newest of them undoable (``recent``), and how many events the next snapshot would cover
    beyond the last one (``since_snapshot``). Not thread-safe: its owner's lock guards it.
    """

    state: State = field(default_factory=State)
    base_key: str | None = None
    covered: set[str] = field(default_factory=set)
    names: list[str] = field(default_factory=list)
    recent: Recent = field(default_factory=Recent)
    since_snapshot: int = 0

    def known(self) -> set[str]:
        """Every journal object this state reflects (covered by its snapshot, or applied)."""
        return self.covered.union(self.names)

    def insert(
        self,
        new: dict[str, dict[str, Any]],
        *,
        where: Callable[[str], str],
        exclude: Sequence[str] = (),
        replace: Mapping[str, dict[str, Any] | None] | None = None,
    ) -> list[str] | None:
        """Put events read from the store in their place (see :meth:`Recent.insert`); the
        problems met, or None when it cannot be done here (the state is then untouched)."""
        done = self.recent.insert(
            self.state, self.names, new, where=where, exclude=exclude, replace=replace
        )
        if done is None:
            return None
        self.names, problems = done
        return problems
