"""The tabs of the Labeler (its own and the team's): one way to draw the current one.

The current tab is underlined in the theme's brand colour (``static/grid.css``), with text in
the theme's own text colour: a coloured button with white text reads poorly in light themes.
"""

from __future__ import annotations

import ipywidgets as widgets

ACTIVE = "jl-tab-active"


def mark_tab(button: widgets.Button, active: bool) -> None:
    """Draw ``button`` as the current tab, or as one of the others."""
    if active:
        button.add_class(ACTIVE)
    else:
        button.remove_class(ACTIVE)


def is_marked(button: widgets.Button) -> bool:
    """Whether ``button`` is drawn as the current tab (see :func:`mark_tab`)."""
    return ACTIVE in button._dom_classes
