"""The keyboard shortcuts of the image grid, in one table, and the handler that acts on them.

The same table drives the key handler (:func:`handle`) and the help tooltip, so the two cannot
disagree. Keys act only while the grid has keyboard focus (a click on it, or Tab into it): never
from hovering, never while the label box or another input has focus.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KEYS",
    "KeyActions",
    "Shortcut",
    "action_for",
    "handle",
    "help_html",
    "help_line",
    "help_text",
]


@dataclass(frozen=True)
class Shortcut:
    """One row of the table: the keys (as the browser names them), what they do, and the help."""

    keys: tuple[str, ...]
    action: str
    help: str
    # Shown in the help instead of the raw key names when they would be unreadable.
    shown: str = ""
    # The only view in which the keys act ("" for every view).
    view: str = ""
    # The grid's order in which the keys are listed in the hint ("" for every order); they
    # act in the others too, saying why they do nothing there.
    order: str = ""


# The digit keys add the 1st to 10th label of "All Labels" ("0" is the 10th, as on a keyboard).
_DIGITS = tuple("1234567890")

KEYS: tuple[Shortcut, ...] = (
    Shortcut(
        _DIGITS, "label", "add the 1st to 10th label of All Labels to the selection", "1-9, 0"
    ),
    Shortcut(("ArrowLeft", "PageUp"), "previous_page", "previous page", "← or PageUp"),
    Shortcut(("ArrowRight", "PageDown"), "next_page", "next page", "→ or PageDown"),
    Shortcut(("Home",), "first_page", "first page"),
    Shortcut(("End",), "last_page", "last page"),
    Shortcut(("a", "A"), "select_page", "select every image of this page", "a"),
    Shortcut(
        ("Escape",),
        "clear_selection",
        "close the preview or dialog, else clear the selection",
        "Esc",
    ),
    Shortcut(("z", "Z"), "undo", "undo the last action", "z"),
    Shortcut(("s", "S"), "accept_suggestions", "accept the suggestion of the selected images", "s"),
    Shortcut(
        ("t", "T"),
        "take_likely",
        "Likely wrong first: take the likely label of the selected suspects",
        "t",
        order="wrong",
    ),
    Shortcut(
        ("k", "K"),
        "keep_label",
        "Likely wrong first: keep the given label of the selected suspects",
        "k",
        order="wrong",
    ),
    Shortcut(
        ("g", "G"),
        "select_group",
        "By group: select the whole group of the image clicked last",
        "g",
        order="group",
    ),
    Shortcut(("Delete",), "delete_images", "delete the selected images (asks first)"),
    Shortcut(("y", "Y"), "accept", "Review tab: accept the selected images", "y", "review"),
    Shortcut(
        ("r", "R"), "reject", "Review tab: reject the selected images (asks why)", "r", "review"
    ),
)

_BY_KEY = {key: shortcut for shortcut in KEYS for key in shortcut.keys}
_TURNS = {"previous_page": "prev", "next_page": "next", "first_page": "first", "last_page": "last"}


def action_for(key: str) -> tuple[str, int | None] | None:
    """Return ``(action, argument)`` for a key name, or None when the key does nothing.

    The argument is the 0-based label position for the digit keys and None otherwise.
    """
    shortcut = _BY_KEY.get(key)
    if shortcut is None:
        return None
    if shortcut.action == "label":
        return "label", _DIGITS.index(key)
    return shortcut.action, None


@dataclass(frozen=True)
class KeyActions:
    """What each action of the table does: one callback per action name."""

    #: Add the label at this position (0-based) of All Labels to the selection.
    label: Callable[[int], None]
    #: Turn to the "first", "prev", "next" or "last" page.
    turn: Callable[[str], None]
    select_page: Callable[[], None]
    clear_selection: Callable[[], None]
    undo: Callable[[], None]
    accept_suggestions: Callable[[], None]
    take_likely: Callable[[], None]
    keep_label: Callable[[], None]
    select_group: Callable[[], None]
    delete_images: Callable[[], None]
    accept: Callable[[], None]
    reject: Callable[[], None]


def handle(event: Mapping[str, Any], view: str, actions: KeyActions) -> None:
    """Act on one keydown ``event`` of the grid (``{"type", "key", "ctrlKey", ...}``) in ``view``."""
    if event.get("type", "keydown") != "keydown":
        return
    if event.get("ctrlKey") or event.get("metaKey") or event.get("altKey"):
        return  # leave the browser's and JupyterLab's own shortcuts alone
    key = str(event.get("key", ""))
    shortcut = _BY_KEY.get(key)
    if shortcut is None or shortcut.view not in ("", view):
        return
    if shortcut.action == "label":
        actions.label(_DIGITS.index(key))
    elif shortcut.action in _TURNS:
        actions.turn(_TURNS[shortcut.action])
    else:
        getattr(actions, shortcut.action)()


def help_text() -> str:
    """The shortcuts as plain lines, one per row of the table (for a ``title`` tooltip)."""
    lines = ["Keys (while the images have keyboard focus):"]
    lines += [f"{s.shown or ' or '.join(s.keys)}: {s.help}" for s in KEYS]
    return "\n".join(lines)


def help_line() -> str:
    """The shortcuts on one line, for the hint under the grid."""
    return " · ".join(f"{s.shown or ' or '.join(s.keys)} {s.help}" for s in KEYS)


def help_html() -> str:
    """A small ``?`` whose tooltip lists the shortcuts."""
    title = html.escape(help_text(), quote=True)
    return f'<span class="jl-keys-help" title="{title}" style="cursor:help">&#9000; ?</span>'
