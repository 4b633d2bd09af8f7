"""The "All Labels" pane: every label with its image count and a small bar, rename, delete.

One anywidget (``static/labels_pane.js`` draws it): the rows are data in one trait, so a dataset
with dozens of labels costs one widget model, not six per label. A row is one short line: the
digit key, the name, the count, a thin bar, a pencil and a bin. A click on the name (or the
pencil) turns it into a text box in place. The browser sends intent as messages, each also a
test hook through :meth:`LabelsPane.receive`:

- ``typed`` (``name``, ``text``): the user edits a row's name; the kernel checks it and says in
  ``allowed`` which rows may be renamed and in ``problem`` what is wrong;
- ``rename`` (``name``, ``text``): Enter in the text box, or the pencil pressed while editing
  (checked again here: the browser is no guard);
- ``delete`` (``name``): the bin pressed; the Labeler asks which of the three deletes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anywidget
import traitlets

from ..names import label_problem
from .assets import STATIC, esm
from .closing import close_widgets
from .traits import classes

__all__ = ["LabelsPane", "LabelsPaneWidget"]

#: The digit keys of the grid, in the order of the pane's first ten rows.
DIGITS = "1234567890"


class LabelsPaneWidget(anywidget.AnyWidget):
    """The pane's browser side; :class:`LabelsPane` drives it."""

    _esm = esm("labels_pane.js")
    _css = STATIC / "labels_pane.css"

    rows = traitlets.List(
        traitlets.Dict(), help="One {name, count, key} per label, in the order shown."
    ).tag(sync=True)
    allowed = traitlets.List(
        traitlets.Unicode(), help="Labels whose typed new name can be applied."
    ).tag(sync=True)
    problem = traitlets.Unicode("", help="What is wrong with the name being typed.").tag(sync=True)


class LabelsPane:
    """``on_rename(old, new)`` and ``on_delete(name)`` are called with the row's label."""

    def __init__(
        self,
        on_rename: Callable[[str, str], None],
        on_delete: Callable[[str], None],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_rename = on_rename
        self._on_delete = on_delete
        self._guard = guard
        self._drafts: dict[str, str] = {}  # label -> the new name typed in its row
        self.box = LabelsPaneWidget(**classes("jl-labels-pane"))
        self.box.on_msg(self._on_msg)

    # -- what the kernel shows ----------------------------------------------------------------
    def update(self, names: Sequence[str], counts: Mapping[str, int]) -> None:
        """Show ``names`` in this order with their counts."""
        rows = [
            {
                "name": str(name),
                "count": int(counts.get(name, 0)),
                # The first ten are the digit keys 1-9, 0 of the grid.
                "key": DIGITS[i] if i < len(DIGITS) else "",
            }
            for i, name in enumerate(names)
        ]
        known = {row["name"] for row in rows}
        self._drafts = {k: v for k, v in self._drafts.items() if k in known}
        with self.box.hold_sync():
            if rows != self.box.rows:
                self.box.rows = rows
            self._check(None)

    @property
    def names(self) -> list[str]:
        """The labels listed, in order."""
        return [row["name"] for row in self.box.rows]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """What each row shows: ``{"name", "count", "key"}``."""
        return list(self.box.rows)

    @property
    def allowed(self) -> list[str]:
        """Labels whose typed new name can be applied (new and valid)."""
        return list(self.box.allowed)

    @property
    def problem(self) -> str:
        return self.box.problem

    # -- what the browser says ----------------------------------------------------------------
    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict):
            self.receive(content)

    def receive(self, content: Mapping[str, Any]) -> None:
        """Handle one message from the browser (the test hook for typing and the buttons)."""
        event = content.get("event")
        name = str(content.get("name", ""))
        if name not in self.names:
            return  # a row that went meanwhile (renamed or deleted by someone)
        if event == "typed":
            self._drafts[name] = str(content.get("text", ""))
            self._check(name)
        elif event == "rename":
            self._drafts[name] = str(content.get("text", ""))
            self._check(name)
            if name in self.box.allowed:
                self._guard(self._on_rename)(name, self._drafts[name].strip())
        elif event == "delete":
            self._guard(self._on_delete)(name)

    def _problem(self, name: str) -> str | None:
        text = self._drafts.get(name, name)
        new = text.strip()
        if not new:
            return "a label name cannot be empty"
        return label_problem(text)

    def _check(self, typed: str | None) -> None:
        allowed = [
            n
            for n in self.names
            if self._drafts.get(n, n).strip() != n and self._problem(n) is None
        ]
        with self.box.hold_sync():
            if allowed != self.box.allowed:
                self.box.allowed = allowed
            if typed is not None:
                problem = self._problem(typed)
                same = self._drafts.get(typed, typed).strip() == typed
                self.box.problem = "" if problem is None or same else problem

    def close(self) -> None:
        close_widgets(self.box)
