"""The "All Labels" pane: every label with its image count and a small bar, rename, delete.

Rows are a pool like the grid's tiles: one row per label, grown when labels appear and hidden
(never rebuilt) when they go.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from ..names import label_problem
from .closing import close_widgets

__all__ = ["LabelsPane"]


def _row_html(name: str, count: int, most: int, key: str = "") -> str:
    width = 0 if most <= 0 else max(2, round(100 * count / most))
    badge = (
        f'<span class="jl-label-key" title="Key {key} adds this label to the selection" '
        'style="display:inline-block;min-width:14px;padding:0 3px;margin-right:4px;'
        "border:1px solid #999;border-radius:3px;font-size:11px;text-align:center;"
        f'color:#444">{key}</span> '
        if key
        else ""
    )
    return (
        "<div>"
        f'{badge}<span class="jl-label-name" style="font-weight:600">{html.escape(name)}</span> '
        f'<span class="jl-label-count" style="color:#555">{count}</span>'
        '<div style="background:#eee;height:4px;width:140px">'
        f'<div class="jl-label-bar" style="background:#1a73e8;height:4px;width:{width}%"></div>'
        "</div></div>"
    )


class _Row:
    def __init__(self, pane: LabelsPane, guard: Callable[[Any], Any]) -> None:
        self.name: str | None = None
        self.info = widgets.HTML(value="")
        self.info.add_class("jl-label-info")
        self.text = widgets.Text(value="", layout=widgets.Layout(width="150px"))
        self.text.add_class("jl-label-rename-input")
        self.rename = widgets.Button(
            description="Rename", disabled=True, layout=widgets.Layout(width="auto")
        )
        self.rename.add_class("jl-label-rename")
        self.delete = widgets.Button(
            description="Delete", button_style="", layout=widgets.Layout(width="auto")
        )
        self.delete.add_class("jl-label-delete")
        # Two lines, so that the pane stays narrow beside the grid.
        self.tools = widgets.HBox([self.text, self.rename, self.delete])
        self.box = widgets.VBox([self.info, self.tools], layout=widgets.Layout(margin="0 0 6px 0"))
        self.box.add_class("jl-label-row")
        self.text.observe(guard(lambda _c: pane._typed(self)), "value")
        self.rename.on_click(guard(lambda _b: pane._rename(self)))
        self.delete.on_click(guard(lambda _b: pane._delete(self)))

    def close(self) -> None:
        close_widgets(self.info, self.text, self.rename, self.delete, self.tools, self.box)


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
        self.rows: list[_Row] = []
        self.title = widgets.HTML(value="<b>All Labels</b>")
        self.title.add_class("jl-labels-title")
        self.problem = widgets.HTML(value="")
        self.problem.add_class("jl-label-rename-problem")
        self.list = widgets.VBox([])
        self.box = widgets.VBox([self.title, self.list, self.problem])
        self.box.add_class("jl-labels-pane")

    def update(self, names: Sequence[str], counts: Mapping[str, int]) -> None:
        """Show ``names`` in this order with their counts."""
        if len(names) > len(self.rows):
            self.rows += [_Row(self, self._guard) for _ in range(len(names) - len(self.rows))]
            self.list.children = tuple(r.box for r in self.rows)
        most = max((int(counts.get(n, 0)) for n in names), default=0)
        for i, row in enumerate(self.rows):
            if i >= len(names):
                row.name = None
                row.box.layout.display = "none"
                continue
            name = names[i]
            count = int(counts.get(name, 0))
            if row.name != name:
                row.name = name
                row.text.value = name
            # The first ten are the digit keys 1-9, 0 of the grid.
            key = "1234567890"[i] if i < 10 else ""
            row.info.value = _row_html(name, count, most, key)
            row.delete.tooltip = f"Delete the label {name}"
            row.box.layout.display = None
        self.title.value = f"<b>All Labels ({len(names)})</b>"

    def row_for(self, name: str) -> _Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def _typed(self, row: _Row) -> None:
        new = row.text.value.strip()
        problem = label_problem(row.text.value) if new else "a label name cannot be empty"
        row.rename.disabled = row.name is None or problem is not None or new == row.name
        self.problem.value = (
            ""
            if problem is None or new == row.name
            else f'<span style="color:#b00020;font-size:12px">{html.escape(problem)}</span>'
        )

    def _rename(self, row: _Row) -> None:
        if row.name is None or row.rename.disabled:
            return
        self._on_rename(row.name, row.text.value.strip())

    def _delete(self, row: _Row) -> None:
        if row.name is not None:
            self._on_delete(row.name)

    def close(self) -> None:
        for row in self.rows:
            row.close()
        close_widgets(self.title, self.problem, self.list, self.box)
