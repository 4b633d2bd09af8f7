"""The Labeler's team parts: the Mine and Review tabs, and the Accept / Reject bar.

Both tabs show only once the dataset has assignments or reviews (see ``Dataset.assign``). The
Review tab leaves out the images assigned to its viewer, and says how many (nobody reviews
their own work). The bar shows on the Review tab: Accept acts on the selected images at once;
Reject first asks a reason (which goes back to the annotators with the images), then rejects
on Enter or the confirm button; Esc or Cancel closes the reason box and rejects nothing. Either
way the keyboard goes back to the grid, where the reviewer's next key acts without a click.
Every button calls back into the Labeler, which calls the Dataset: nothing here holds state of
its own.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from ..words import plural
from .closing import close_widgets
from .label_box import LabelInput
from .tabs import mark_tab
from .traits import classes

__all__ = ["TEAM_VIEWS", "TeamPanel"]

TEAM_VIEWS = {"mine": "Mine", "review": "Review"}
_MAX_REASON = 256


class TeamPanel:
    """The Mine and Review tab buttons (``tabs``) and the review bar (``box``).

    ``on_tab(view)`` runs when a tab is clicked; ``on_review(accept, reason)`` when images are
    to be accepted (reason None) or rejected (with the reason typed, maybe empty);
    ``focus_grid()`` once the reason box closes, to hand the keyboard back to the grid.
    """

    def __init__(
        self,
        on_tab: Callable[[str], None],
        on_review: Callable[[bool, str | None], None],
        guard: Callable[[Any], Any],
        focus_grid: Callable[[], None] | None = None,
    ) -> None:
        self._on_review = on_review
        self._focus_grid = focus_grid
        self.tabs: dict[str, widgets.Button] = {}
        for view, title in TEAM_VIEWS.items():
            button = widgets.Button(
                description=title,
                layout={"width": "auto", "display": "none"},
                **classes("jl-tab", f"jl-tab-{view}"),
            )
            button.on_click(guard(lambda _b, v=view: on_tab(v)))
            self.tabs[view] = button
        self._guard = guard
        self._bar: _ReviewBar | None = None  # made when first shown: most datasets never need it
        self.box = widgets.HBox(
            [],
            layout={"display": "none", "align_items": "center", "flex_flow": "row wrap"},
            **classes("jl-review-bar"),
        )
        self.notes = widgets.HTML(value="", layout={"display": "none"}, **classes("jl-rejections"))

    def _made(self) -> _ReviewBar:
        if self._bar is None:
            self._bar = _ReviewBar(self, self._guard)
            self.box.children = self._bar.children
        return self._bar

    @property
    def accept_button(self) -> widgets.Button:
        return self._made().accept_button

    @property
    def reject_button(self) -> widgets.Button:
        return self._made().reject_button

    @property
    def confirm_button(self) -> widgets.Button:
        return self._made().confirm_button

    @property
    def cancel_button(self) -> widgets.Button:
        return self._made().cancel_button

    @property
    def reason(self) -> LabelInput:
        return self._made().reason

    @property
    def asking(self) -> bool:
        """Whether the reason for a rejection is being asked."""
        return self._bar is not None and self._bar._asking.layout.display != "none"

    def accept(self) -> None:
        """Accept the selected images (test hook too)."""
        self._close_reason()
        self._on_review(True, None)

    def ask_reject(self) -> None:
        """Ask the reason for rejecting the selected images (test hook too).

        The reason box takes the keyboard focus: the `r` key leaves it on the grid, where the
        reason typed would otherwise act as keys on the images."""
        bar = self._made()
        if not self.asking:
            bar.reason.value = ""  # a box opened anew is empty, whatever reached the last one
        bar._asking.layout.display = "flex"
        bar.reason.focus()

    def confirm_reject(self) -> None:
        """Reject the selected images with the reason typed (test hook too)."""
        reason = self.reason.value.strip()
        if len(reason) > _MAX_REASON:
            raise ValueError(f"a reason has at most {_MAX_REASON} characters, not {len(reason)}")
        typed = self.reason.value
        # The box closes and the keys go back to the grid before the rejection is made and
        # drawn, so that the browser hears it soonest: a key pressed meanwhile reaches the
        # kernel after the rejection, and acts on what follows it.
        self._close_reason(give_back_keys=True)
        try:
            self._on_review(False, reason or None)
        except Exception:
            self.ask_reject()  # nothing was rejected: the box, and what was typed, come back
            self.reason.value = typed
            raise

    def cancel_reject(self) -> None:
        """Close the reason box, rejecting nothing (Cancel and Esc; test hook too).

        The selection stays as it was, and the keyboard goes back to the grid."""
        self._close_reason(give_back_keys=True)

    def _close_reason(self, give_back_keys: bool = False) -> None:
        if self._bar is None:
            return
        was_asking = self.asking
        self._bar.reason.value = ""
        self._bar._asking.layout.display = "none"
        # Only when the box had taken the keyboard: a tab clicked keeps its own focus.
        if give_back_keys and was_asking and self._focus_grid is not None:
            self._focus_grid()

    def update(
        self,
        view: str,
        counts: Mapping[str, int],
        shown: bool,
        rejections: Mapping[str, int] | None = None,
        excluded: int = 0,
    ) -> None:
        """Show the tabs (with their counts) when the dataset has team work; the bar on Review;
        on Mine, why images came back from review (``rejections``: reason -> images); on
        Review, how many images wait for another reviewer (``excluded``: assigned to this
        author, so left out of their Review tab)."""
        for name, button in self.tabs.items():
            button.layout.display = "" if shown else "none"
            button.description = f"{TEAM_VIEWS[name]} ({int(counts.get(name, 0))})"
            mark_tab(button, name == view)
        if view == "review":
            self._made()
        self.box.layout.display = "flex" if view == "review" else "none"
        if view == "mine":
            self.notes.value = _rejections_html(rejections or {})
        else:
            self.notes.value = _excluded_html(excluded) if view == "review" else ""
        self.notes.layout.display = "" if self.notes.value else "none"
        if view != "review":
            self._close_reason()

    @property
    def widgets(self) -> list[widgets.Widget]:
        return [*self.tabs.values(), self.box, self.notes]

    def close(self) -> None:
        bar = self._bar
        made = [*bar.children, bar.reason, bar.confirm_button, bar.cancel_button] if bar else []
        close_widgets(*self.tabs.values(), *made, self.box, self.notes)


def _excluded_html(excluded: int) -> str:
    """Why images assigned to this author are not on their Review tab."""
    if not excluded:
        return ""
    verb = "waits" if excluded == 1 else "wait"
    return (
        '<span style="color:var(--jp-ui-font-color2)">'
        f"{plural(excluded, 'image')} assigned to you {verb} for "
        "another reviewer: nobody reviews their own work.</span>"
    )


def _rejections_html(rejections: Mapping[str, int]) -> str:
    """ "3 images came back from review: blurry (2), no reason given (1)", as escaped HTML."""
    if not rejections:
        return ""
    total = sum(rejections.values())
    parts = [
        f"{html.escape(reason) if reason else '<i>no reason given</i>'} ({n})"
        for reason, n in sorted(rejections.items(), key=lambda item: -item[1])[:5]
    ]
    more = " …" if len(rejections) > 5 else ""
    return (
        '<span style="color:var(--jp-error-color1)">'
        f"{plural(total, 'image')} came back from review:</span> " + ", ".join(parts) + more
    )


class _ReviewBar:
    """Accept, Reject, and the reason asked before a rejection (see :class:`TeamPanel`)."""

    def __init__(self, panel: TeamPanel, guard: Callable[[Any], Any]) -> None:
        self.accept_button = widgets.Button(
            description="Accept",
            icon="check",
            tooltip="Accept the selected images (y)",
            **classes("jl-accept"),
        )
        self.accept_button.on_click(guard(lambda _b: panel.accept()))
        self.reject_button = widgets.Button(
            description="Reject",
            icon="times",
            tooltip="Send the selected images back to their annotators, with a reason (r)",
            **classes("jl-reject"),
        )
        self.reject_button.on_click(guard(lambda _b: panel.ask_reject()))
        # Enter confirms, Esc cancels. The box sends what was typed with Enter and as it loses
        # the focus (to the confirm button), so a click cannot reach the kernel before the reason.
        self.reason = LabelInput(
            guard(lambda: panel.confirm_reject()),
            on_cancel=guard(lambda: panel.cancel_reject()),
            placeholder="Why? (the annotators see this)",
            layout={"width": "320px"},
            **classes("jl-reject-reason"),
        )
        self.confirm_button = widgets.Button(
            description="Reject them", button_style="danger", **classes("jl-reject-confirm")
        )
        self.confirm_button.on_click(guard(lambda _b: panel.confirm_reject()))
        self.cancel_button = widgets.Button(description="Cancel", **classes("jl-reject-cancel"))
        self.cancel_button.on_click(guard(lambda _b: panel.cancel_reject()))
        self._asking = widgets.HBox(
            [self.reason, self.confirm_button, self.cancel_button],
            layout={"display": "none"},
        )
        self.children = [self.accept_button, self.reject_button, self._asking]
