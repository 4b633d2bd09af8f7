"""A confirmation dialog with choices: deleting a label or images, splitting, merging.

Only a question that deletes is drawn as a danger (a red frame and button); the others are
neutral, with a primary confirm button.

A choice marked irreversible (it deletes source files) needs a second confirmation: the first click
on the confirm button only arms it and says plainly what will be lost; changing the choice disarms.
One set of widgets serves every question (shown and hidden, never rebuilt).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from .closing import close_widgets
from .traits import classes

__all__ = ["Choice", "ChoiceDialog"]


@dataclass(frozen=True)
class Choice:
    label: str
    value: str
    irreversible: bool = False


class ChoiceDialog:
    """Ask a question with a few choices; ``on_confirm(value)`` runs after confirmation."""

    def __init__(self, guard: Callable[[Any], Any] = lambda f: f) -> None:
        self.title = widgets.HTML(value="", **classes("jl-dialog-title"))
        self.message = widgets.HTML(value="", **classes("jl-dialog-message"))
        self.choice = widgets.RadioButtons(
            options=[("-", "-")],
            layout=widgets.Layout(width="auto"),
            **classes("jl-dialog-choice"),
        )
        self.warning = widgets.HTML(
            value="", layout=widgets.Layout(display="none"), **classes("jl-dialog-warning")
        )
        self.confirm = widgets.Button(
            description="Delete", button_style="danger", **classes("jl-dialog-confirm")
        )
        self.cancel = widgets.Button(description="Cancel", **classes("jl-dialog-cancel"))
        buttons = widgets.HBox([self.confirm, self.cancel], **classes("jl-dialog-buttons"))
        self.box = widgets.VBox(
            [self.title, self.message, self.choice, self.warning, buttons],
            layout=widgets.Layout(display="none"),
            **classes("jl-dialog"),
        )
        self._choices: dict[str, Choice] = {}
        self._on_confirm: Callable[[str], None] | None = None
        self._confirm_label = "Delete"
        self._final_warning = ""
        self._danger = True
        self.armed = False
        self.choice.observe(guard(lambda _c: self._disarm()), "value")
        self.confirm.on_click(guard(lambda _b: self.press_confirm()))
        self.cancel.on_click(guard(lambda _b: self.hide()))

    @property
    def is_open(self) -> bool:
        return self.box.layout.display != "none"

    @property
    def is_danger(self) -> bool:
        """Whether the question asked is drawn as a danger (it deletes)."""
        return self._danger

    def ask(
        self,
        title: str,
        message: str,
        choices: Sequence[Choice],
        on_confirm: Callable[[str], None],
        *,
        confirm_label: str = "Delete",
        final_warning: str = "",
        danger: bool = True,
    ) -> None:
        """Show the dialog. ``final_warning`` is the plain sentence shown before an
        irreversible choice is carried out; ``danger`` (deleting) draws it in red, else it is
        a neutral question with a primary confirm button."""
        self._choices = {c.value: c for c in choices}
        self._on_confirm = on_confirm
        self._confirm_label = confirm_label
        self._final_warning = final_warning
        self._danger = danger
        if danger:
            self.box.add_class("jl-dialog-danger")
        else:
            self.box.remove_class("jl-dialog-danger")
        self.title.value = f"<b>{html.escape(title)}</b>"
        self.message.value = html.escape(message)
        options = [
            (f"⚠ {c.label} (cannot be undone)" if c.irreversible else c.label, c.value)
            for c in choices
        ]
        self.choice.options = options
        self.choice.value = choices[0].value
        self._disarm()
        self.box.layout.display = None

    def _disarm(self) -> None:
        self.armed = False
        self.warning.value = ""
        self.warning.layout.display = "none"
        self.confirm.description = self._confirm_label
        self.confirm.button_style = "danger" if self._danger else "primary"

    def press_confirm(self) -> None:
        """What the confirm button does: arm first for an irreversible choice, then act."""
        if not self.is_open or self._on_confirm is None:
            return
        value = self.choice.value
        chosen = self._choices[value]
        if chosen.irreversible and not self.armed:
            self.armed = True
            self.warning.value = html.escape(self._final_warning or "This cannot be undone.")
            self.warning.layout.display = None
            self.confirm.description = "Yes, delete the source files for good"
            return
        action = self._on_confirm
        self.hide()
        action(value)

    def hide(self) -> None:
        self.box.layout.display = "none"
        self._on_confirm = None
        self._disarm()

    def close(self) -> None:
        row = self.box.children[-1]
        close_widgets(
            self.title, self.message, self.choice, self.warning, self.confirm, self.cancel,
            row, self.box,
        )  # fmt: skip

    # -- the question asked, for notebook code and tests (see jupyter_labeler.testing) --------
    @property
    def choices(self) -> list[str]:
        """The values of the choices offered, in the order shown."""
        return [value for _label, value in self.choice.options if value in self._choices]

    def choose(self, value: str) -> None:
        """Pick the choice of this value, as a click on its radio button."""
        if value not in self.choices:
            offered = ", ".join(map(repr, self.choices)) or "none: the dialog asks nothing"
            raise ValueError(f"no choice {value!r}; the choices are {offered}")
        self.choice.value = value
