"""The label box: type a new label or pick an existing one; OK (or Enter) puts it on every
selected image.

The name is checked while the user types (with :func:`jupyter_labeler.names.label_problem`) and the
reason it is refused is shown under the box, so a wrong name never reaches the Dataset.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from ..names import label_problem
from ..words import plural
from .assets import STATIC, esm
from .closing import close_widgets
from .traits import classes

__all__ = ["LabelBox", "LabelInput", "label_combobox"]


class LabelInput(anywidget.AnyWidget):
    """A text input offering the existing labels, whose Enter carries the typed name.

    The same ``value``, ``options`` and ``placeholder`` as a Combobox; ``on_submit()`` runs
    on Enter, once ``value`` holds the name as typed (the test hook is :meth:`submit`), and
    ``on_cancel()`` on Esc (the test hook is :meth:`cancel`; without it Esc does nothing).
    """

    _esm = esm("label_input.js")
    _css = STATIC / "label_input.css"

    value = traitlets.Unicode("", help="The text in the box.").tag(sync=True)
    options = traitlets.Tuple(help="Existing labels offered in the drop-down list.").tag(sync=True)
    placeholder = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        on_submit: Callable[[], None] | None = None,
        *,
        on_cancel: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._on_submit = on_submit
        self._on_cancel = on_cancel
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("event") == "submit":
            self.submit(str(content.get("value", self.value)))
        elif content.get("event") == "typed" and content.get("value") != self.value:
            self.value = str(content.get("value", ""))
        elif content.get("event") == "cancel":
            self.cancel()

    def submit(self, value: str) -> None:
        """Enter in the box, with what it held (the state update may still be on its way)."""
        if value != self.value:
            self.value = value
        if self._on_submit is not None:
            self._on_submit()

    def cancel(self) -> None:
        """Esc in the box."""
        if self._on_cancel is not None:
            self._on_cancel()

    def receive(self, content: Mapping[str, Any]) -> None:
        """Handle one message from the browser as it arrives (the test hook for the box):
        ``{"event": "typed", "value": ...}`` as it loses the keyboard, ``{"event": "submit",
        "value": ...}`` on Enter and ``{"event": "cancel"}`` on Esc."""
        self._handle_custom_msg(dict(content), [])


def label_combobox(placeholder: str, css_class: str) -> widgets.Combobox:
    """A Combobox offering the existing labels that also accepts a new name."""
    return widgets.Combobox(
        value="",
        options=(),
        placeholder=placeholder,
        ensure_option=False,
        continuous_update=True,
        layout=widgets.Layout(width="220px"),
        **classes(css_class),
    )


def problem_html(name: str) -> str:
    """'' for an empty or valid name, else the reason in red (escaped)."""
    if not name:
        return ""
    problem = label_problem(name)
    if problem is None:
        return ""
    return f'<span class="jl-problem-text">{html.escape(problem)}</span>'


class LabelBox:
    """Combobox + OK + "Remove label", and a line that says why a name is refused.

    ``on_add(name)`` and ``on_remove(name)`` receive the cleaned name.
    """

    def __init__(
        self,
        on_add: Callable[[str], None],
        on_remove: Callable[[str], None],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_add = on_add
        self._on_remove = on_remove
        self._selected_count = 0
        self.input = LabelInput(
            guard(self.apply),
            placeholder="Label (new or existing)",
            layout=widgets.Layout(width="220px"),
            **classes("jl-label-input"),
        )
        self.ok = widgets.Button(
            description="OK",
            button_style="primary",
            tooltip="Add this label to every selected image",
            disabled=True,
            layout=widgets.Layout(width="60px"),
            **classes("jl-label-ok"),
        )
        self.remove = widgets.Button(
            description="Remove label",
            tooltip="Take this existing label off every selected image",
            disabled=True,
            layout=widgets.Layout(width="auto"),
            **classes("jl-label-remove"),
        )
        self.problem = widgets.HTML(value="", **classes("jl-label-problem"))
        self.box = widgets.VBox(
            [widgets.HBox([self.input, self.ok, self.remove]), self.problem],
            **classes("jl-label-box"),
        )
        self.input.observe(guard(self._typed), "value")
        self._refresh()
        self.ok.on_click(guard(lambda _b: self.apply()))
        self.remove.on_click(guard(lambda _b: self.take_off()))

    @property
    def name(self) -> str:
        return self.input.value.strip()

    def set_labels(self, names: Sequence[str]) -> None:
        options = tuple(names)
        if tuple(self.input.options) != options:
            self.input.options = options
            self._refresh()

    def set_selected_count(self, count: int) -> None:
        self._selected_count = count
        self._refresh()

    def _typed(self, _change: dict[str, Any] | None = None) -> None:
        self._refresh()

    def _refresh(self) -> None:
        self.problem.value = problem_html(self.input.value)
        valid = bool(self.name) and label_problem(self.input.value) is None
        # With a valid name OK stays enabled when nothing is selected: pressing it (or Enter)
        # then says on the status line to select images first, instead of doing nothing.
        self.ok.disabled = not valid
        existing = self.name in self.input.options
        self.remove.disabled = not existing
        # A button says why it is disabled, or what it needs.
        if not self.name:
            why = "Type a label name first"
        elif not valid:
            why = "This name is not allowed (see the reason below the box)"
        elif self._selected_count == 0:
            why = "Select images first (click them, or press a in the grid)"
        else:
            why = ""
        selected = plural(self._selected_count, "selected image")
        self.ok.tooltip = why or f"Add {self.name} to the {selected} (Enter)"
        if not valid or self._selected_count == 0:
            self.remove.tooltip = why
        elif not existing:
            self.remove.tooltip = f"{self.name} is not an existing label"
        else:
            self.remove.tooltip = f"Take {self.name} off the {selected}"

    def apply(self) -> None:
        """What OK does, and Enter in the box: the label goes on the selected images (with
        nothing selected, the Labeler says to select images first)."""
        if self.ok.disabled:
            return
        self._on_add(self.name)

    def take_off(self) -> None:
        if self.remove.disabled:
            return
        self._on_remove(self.name)

    def close(self) -> None:
        row = self.box.children[0]
        close_widgets(self.input, self.ok, self.remove, self.problem, row, self.box)
