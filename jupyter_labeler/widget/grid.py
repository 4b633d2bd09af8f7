"""The image grid: a fixed pool of tile widgets reused for every page.

Creating widgets is what costs time in the browser (hundreds of them take seconds), so a page turn
only sets values on tiles that already exist. The pool grows to the largest page size used and
never shrinks; tiles not needed on a page are hidden with ``layout.display = "none"``.
"""

from __future__ import annotations

import contextlib
import html
import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
from ipyevents import Event

from .closing import close_widgets

__all__ = ["TileContent", "TileGrid", "chips_html", "name_html"]

THUMB_PX = 160


@dataclass(frozen=True)
class TileContent:
    """What one tile shows. ``data`` is JPEG bytes (a placeholder when ``error`` is set)."""

    image_id: str
    data: bytes
    path: str
    labels: tuple[str, ...]
    selected: bool
    error: str | None = None


def chips_html(labels: Sequence[str]) -> str:
    """Labels as small chips; every name is escaped (label names come from users)."""
    if not labels:
        return '<span class="jl-chip-none" style="color:#888;font-size:11px">no label</span>'
    style = (
        "display:inline-block;margin:1px 2px;padding:0 6px;border-radius:8px;"
        "background:#e3eefc;color:#174ea6;font-size:11px;line-height:16px"
    )
    return "".join(f'<span class="jl-chip" style="{style}">{html.escape(x)}</span>' for x in labels)


def name_html(name: str) -> str:
    """A file name cut to the tile's width, whole in its hover title (escaped both ways)."""
    text = html.escape(name, quote=True)
    return (
        f'<div title="{text}" style="overflow:hidden;text-overflow:ellipsis;'
        f'white-space:nowrap;font-size:11px;color:#555">{text}</div>'
    )


class Tile:
    """One cell of the grid: checkbox, open button, thumbnail, reason (if broken) and chips."""

    def __init__(self, index: int, grid: TileGrid) -> None:
        self.index = index
        self.image_id: str | None = None
        self.check = widgets.Checkbox(
            value=False, indent=False, description="", layout=widgets.Layout(width="auto")
        )
        self.check.add_class("jl-tile-check")
        self.open_button = widgets.Button(
            description="",
            icon="expand",
            tooltip="Open this image",
            layout=widgets.Layout(width="28px", height="24px", padding="0"),
        )
        self.open_button.add_class("jl-tile-open")
        self.image = widgets.Image(
            format="jpeg",
            layout=widgets.Layout(
                width=f"{THUMB_PX}px", height=f"{THUMB_PX}px", object_fit="contain"
            ),
        )
        self.image.add_class("jl-tile-image")
        self.reason = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.reason.add_class("jl-tile-reason")
        self.name = widgets.HTML(value="", layout=widgets.Layout(width=f"{THUMB_PX}px"))
        self.name.add_class("jl-tile-name")
        self.chips = widgets.HTML(value="")
        self.chips.add_class("jl-tile-chips")
        top = widgets.HBox(
            [self.check, self.open_button],
            layout=widgets.Layout(justify_content="space-between", width=f"{THUMB_PX}px"),
        )
        self.box = widgets.VBox(
            [top, self.image, self.name, self.reason, self.chips],
            layout=widgets.Layout(
                width=f"{THUMB_PX + 12}px", padding="4px", margin="3px", border="2px solid #eee"
            ),
        )
        self.box.add_class("jl-tile")
        self.events = Event(source=self.image, watched_events=["click", "dblclick"])
        self.events.on_dom_event(lambda event: grid._image_event(self.index, event))
        self.check.observe(lambda change: grid._check_changed(self.index, change), "value")
        self.open_button.on_click(lambda _button: grid._open(self.index))

    def show(self, content: TileContent | None) -> None:
        if content is None:
            self.image_id = None
            self.box.layout.display = "none"
            return
        self.image_id = content.image_id
        self.image.value = content.data
        name = posixpath.basename(content.path) or content.path
        # Only widgets with a description may carry a tooltip: on a Box or an Image the
        # browser side of ipywidgets 8 fails to draw the widget at all. So the name is a caption
        # whose title shows it whole on hover, and the checkbox's tooltip.
        self.check.tooltip = name
        self.name.value = name_html(name)
        self.check.value = content.selected
        self.chips.value = chips_html(content.labels)
        self.set_selected_style(content.selected)
        if content.error:
            self.reason.value = (
                '<span style="color:#b00020;font-size:11px">'
                f"Cannot show this image: {html.escape(content.error)}</span>"
            )
            self.reason.layout.display = None
            self.box.add_class("jl-broken")
        else:
            self.reason.value = ""
            self.reason.layout.display = "none"
            self.box.remove_class("jl-broken")
        self.box.layout.display = None

    def set_selected_style(self, selected: bool) -> None:
        if selected:
            self.box.add_class("jl-selected")
            self.box.layout.border = "2px solid #1a73e8"
        else:
            self.box.remove_class("jl-selected")
            self.box.layout.border = "2px solid #eee"

    def close(self) -> None:
        close_widgets(
            self.events, self.check, self.open_button, self.image, self.name, self.reason,
            self.chips,
            self.box.children[0], self.box,
        )  # fmt: skip


class TileGrid:
    """The pool of tiles and the box that holds them.

    Callbacks, all with the tile's position on the page:
    ``on_toggle(index, checked)`` when a checkbox is ticked by the user,
    ``on_click(index, shift)`` on a click on the image, ``on_open(index)`` on a double-click or
    the open button.
    """

    def __init__(
        self,
        on_toggle: Callable[[int, bool], None],
        on_click: Callable[[int, bool], None],
        on_open: Callable[[int], None],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_toggle = guard(on_toggle)
        self._on_click = guard(on_click)
        self._on_open = guard(on_open)
        self.tiles: list[Tile] = []
        self._quiet = False
        self.box = widgets.Box(
            layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", width="100%")
        )
        self.box.add_class("jl-grid")
        self.empty = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.empty.add_class("jl-grid-empty")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """Set checkbox values without taking them for user clicks."""
        previous, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = previous

    def ensure(self, count: int) -> None:
        """Grow the pool to at least ``count`` tiles (never shrinks)."""
        if count <= len(self.tiles):
            return
        self.tiles += [Tile(i, self) for i in range(len(self.tiles), count)]
        self.box.children = tuple(tile.box for tile in self.tiles)

    def show(self, contents: Sequence[TileContent], empty_message: str = "") -> None:
        self.ensure(len(contents))
        with self.quiet():
            for i, tile in enumerate(self.tiles):
                tile.show(contents[i] if i < len(contents) else None)
        self.empty.value = f'<i style="color:#666">{html.escape(empty_message)}</i>'
        self.empty.layout.display = None if not contents and empty_message else "none"

    def update_selection(self, selected: frozenset[str] | set[str]) -> None:
        """Tick exactly the visible tiles whose id is selected."""
        with self.quiet():
            for tile in self.tiles:
                if tile.image_id is None:
                    continue
                on = tile.image_id in selected
                if tile.check.value != on:
                    tile.check.value = on
                tile.set_selected_style(on)

    def update_labels(self, labels: dict[str, list[str]]) -> None:
        for tile in self.tiles:
            if tile.image_id is not None and tile.image_id in labels:
                tile.chips.value = chips_html(labels[tile.image_id])

    @property
    def visible_ids(self) -> list[str]:
        return [t.image_id for t in self.tiles if t.image_id is not None]

    # -- events from the tiles ---------------------------------------------------------------
    def _check_changed(self, index: int, change: dict[str, Any]) -> None:
        if not self._quiet:
            self._on_toggle(index, bool(change["new"]))

    def _image_event(self, index: int, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "click":
            self._on_click(index, bool(event.get("shiftKey")))
        elif kind == "dblclick":
            self._on_open(index)

    def _open(self, index: int) -> None:
        self._on_open(index)

    def close(self) -> None:
        for tile in self.tiles:
            tile.close()
        self.tiles = []
        close_widgets(self.box, self.empty)
