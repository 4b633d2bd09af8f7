"""A "More" button that opens a small panel of the less frequent actions.

The panel opens under the button, over the page, and closes when one of its buttons is pressed
or "More" is pressed again. The buttons are ordinary ipywidgets buttons, made by their own parts
(Split by the actions, Synchronize by its panel...): the menu only holds them, so each stays
reachable and clickable from notebook code and tests while the panel is closed.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

from .closing import close_widgets
from .traits import classes

__all__ = ["MoreMenu"]


class MoreMenu:
    """``button`` toggles ``panel``, which holds ``items``; ``box`` holds both."""

    def __init__(self, items: Sequence[widgets.Button]) -> None:
        self.button = widgets.ToggleButton(
            value=False,
            description="More",
            icon="ellipsis-h",
            tooltip="Add images, Synchronize, Split, Delete images",
            layout={"width": "auto"},
            **classes("jl-more"),
        )
        self.panel = widgets.VBox(
            list(items), layout={"display": "none"}, **classes("jl-menu-panel")
        )
        self.box = widgets.Box([self.button, self.panel], **classes("jl-menu-anchor"))
        self.button.observe(lambda change: self._show(bool(change["new"])), "value")
        for item in items:
            item.on_click(lambda _b: self.close_menu())

    def _show(self, on: bool) -> None:
        self.panel.layout.display = "flex" if on else "none"

    @property
    def is_open(self) -> bool:
        """Whether the panel is shown."""
        return bool(self.button.value)

    def open_menu(self) -> None:
        self.button.value = True

    def close_menu(self) -> None:
        self.button.value = False

    def close(self) -> None:
        close_widgets(self.button, self.panel, self.box)
