"""A plan: the operations of one action, with the words and the change that go with it.

Planners are plain functions of the state (``(state, author, ...) -> Plan``); the Dataset
checks its arguments, takes its lock, asks a planner, and hands the plan to the replica, which
applies it, writes it to the journal as one event and tells observers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .results import Change

__all__ = ["Plan"]


@dataclass(frozen=True)
class Plan:
    """What one action does: ``ops`` (see :mod:`jupyter_labeler.events`) applied and written
    as one journal event of kind ``action``."""

    action: str
    ops: list[dict[str, Any]]
    describe: str  # what the action did, in words (the result's message, the undo history's)
    changed: int  # how many images (or labels) it changed
    change: Change  # what observers are told
    irreversible: str = ""  # why it cannot be undone (deleted files), else ""
    undoable: bool = True
    undoes: str | None = None  # the journal name of the action an undo reverts
