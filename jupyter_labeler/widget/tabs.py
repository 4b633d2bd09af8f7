"""The tabs of the Labeler (its own and the team's): one way to draw the current one."""

from __future__ import annotations

import ipywidgets as widgets

ACTIVE = "jl-tab-active"


def mark_tab(button: widgets.Button, active: bool) -> None:
    """Draw ``button`` as the current tab, or as one of the others."""
    if active:
        button.add_class(ACTIVE)
        button.button_style = "info"
    else:
        button.remove_class(ACTIVE)
        button.button_style = ""


def is_marked(button: widgets.Button) -> bool:
    """Whether ``button`` is drawn as the current tab (see :func:`mark_tab`)."""
    return bool(button.button_style == "info")
