"""One image, larger: its path, size and labels; add, change or remove a label on it alone."""

from __future__ import annotations

import html
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets

from ..names import label_problem
from .closing import close_widgets
from .label_box import LabelInput, problem_html
from .traits import classes

__all__ = ["Preview", "chips_html", "image_format"]

_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".bmp": "bmp", ".gif": "gif"}


def image_format(path: str) -> str:
    return _FORMATS.get(posixpath.splitext(path)[1].lower(), "jpeg")


def chips_html(labels: Sequence[str]) -> str:
    """Labels as small chips; every name is escaped (label names come from users)."""
    if not labels:
        return '<span class="jl-chip-none">no label</span>'
    return "".join(f'<span class="jl-chip">{html.escape(x)}</span>' for x in labels)


def _size_words(size: Any) -> str:
    try:
        n = int(size)
    except (TypeError, ValueError):
        return "unknown size"
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


class Preview:
    """Callbacks: ``on_add(id, name)``, ``on_change(id, old, new)``, ``on_remove(id, name)``."""

    def __init__(
        self,
        on_add: Callable[[str, str], None],
        on_change: Callable[[str, str, str], None],
        on_remove: Callable[[str, str], None],
        guard: Callable[[Any], Any] = lambda f: f,
        on_step: Callable[[str, int], None] | None = None,
    ) -> None:
        self._on_add = on_add
        self._on_step = on_step
        self._on_change = on_change
        self._on_remove = on_remove
        self.image_id: str | None = None
        # The image gives way first: the side with the buttons keeps its room, and below
        # about 700 px the side goes under the image (the box wraps) rather than past its edge.
        self.image = widgets.Image(format="jpeg", **classes("jl-preview-image"))
        self.info = widgets.HTML(value="", **classes("jl-preview-info"))
        self.current = widgets.Dropdown(
            options=(), description="Its labels", **classes("jl-preview-labels")
        )
        self.input = LabelInput(
            guard(self.press_add),
            on_cancel=guard(self.hide),
            placeholder="New or existing label",
            **classes("jl-label-input", "jl-preview-input"),
        )
        self.problem = widgets.HTML(value="", **classes("jl-preview-problem"))
        self.add = widgets.Button(
            description="Add",
            tooltip="Add this label to this image (Enter)",
            **classes("jl-preview-add"),
        )
        self.change = widgets.Button(
            description="Change",
            tooltip="Replace the chosen label with the typed one",
            **classes("jl-preview-change"),
        )
        self.remove = widgets.Button(
            description="Remove",
            tooltip="Take the chosen label off this image",
            **classes("jl-preview-remove"),
        )
        self.close_button = widgets.Button(
            description="Close", icon="times", tooltip="Close (Esc)", **classes("jl-preview-close")
        )
        self.previous = widgets.Button(
            description="Previous", tooltip="Previous image", **classes("jl-preview-prev")
        )
        self.next = widgets.Button(
            description="Next", tooltip="Next image", **classes("jl-preview-next")
        )
        self._rows = [
            widgets.HBox(children, **classes("jl-preview-row"))
            for children in (
                [self.current, self.remove],
                [self.input, self.add, self.change],
                [self.previous, self.next, self.close_button],
            )
        ]
        self.side = widgets.VBox(
            [self.info, *self._rows, self.problem], **classes("jl-preview-side")
        )
        self.box = widgets.HBox(
            [self.image, self.side], layout=widgets.Layout(display="none"), **classes("jl-preview")
        )
        self.input.observe(guard(lambda _c: self._refresh_buttons()), "value")
        self.current.observe(guard(lambda _c: self._refresh_buttons()), "value")
        self.add.on_click(guard(lambda _b: self.press_add()))
        self.change.on_click(guard(lambda _b: self.press_change()))
        self.remove.on_click(guard(lambda _b: self.press_remove()))
        self.close_button.on_click(guard(lambda _b: self.hide()))
        self.previous.on_click(guard(lambda _b: self.step(-1)))
        self.next.on_click(guard(lambda _b: self.step(1)))

    @property
    def is_open(self) -> bool:
        return self.box.layout.display != "none"

    def show(self, image_id: str, data: bytes, info: Mapping[str, Any], all_labels: Sequence[str]):
        self.image_id = image_id
        self.image.format = image_format(str(info.get("path", "")))
        self.image.value = data
        self.refresh(info, all_labels)
        self.box.layout.display = None

    def refresh(self, info: Mapping[str, Any], all_labels: Sequence[str]) -> None:
        path = str(info.get("path", ""))
        labels = list(info.get("labels") or ())
        self.info.value = (
            f'<div class="jl-preview-path"><b>{html.escape(path)}</b></div>'
            f"<div>{html.escape(_size_words(info.get('size')))}</div>"
            f"<div>{chips_html(labels)}</div>"
        )
        options = tuple(labels)
        if tuple(self.current.options) != options:
            keep = self.current.value
            self.current.options = options
            # ipywidgets leaves the value None when options arrive in an empty Dropdown.
            self.current.value = keep if keep in options else (options[0] if options else None)
        all_options = tuple(all_labels)
        if tuple(self.input.options) != all_options:
            self.input.options = all_options
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        self.problem.value = problem_html(self.input.value)
        name = self.input.value.strip()
        valid = bool(name) and label_problem(self.input.value) is None
        has_current = self.current.value is not None
        self.add.disabled = not valid
        self.change.disabled = not (valid and has_current and name != self.current.value)
        self.remove.disabled = not has_current

    def press_add(self) -> None:
        if self.image_id is not None and not self.add.disabled:
            self._on_add(self.image_id, self.input.value.strip())

    def press_change(self) -> None:
        if self.image_id is not None and not self.change.disabled:
            self._on_change(self.image_id, str(self.current.value), self.input.value.strip())

    def press_remove(self) -> None:
        if self.image_id is not None and not self.remove.disabled:
            self._on_remove(self.image_id, str(self.current.value))

    def step(self, offset: int) -> None:
        """Show the previous (-1) or next (+1) image of the view."""
        if self.image_id is not None and self._on_step is not None:
            self._on_step(self.image_id, offset)

    def hide(self) -> None:
        self.image_id = None
        self.box.layout.display = "none"
        self.image.value = b""

    def close(self) -> None:
        close_widgets(
            self.image, self.info, self.current, self.input, self.problem, self.add,
            self.change, self.remove, self.close_button, self.previous, self.next,
            *self._rows, self.side, self.box,
        )  # fmt: skip
