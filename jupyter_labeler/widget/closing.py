"""Closing widgets for good.

ipywidgets keeps every widget alive (in its registry and in the page) until it is closed, and
``close()`` leaves a widget's ``layout`` and ``style`` open: they are widgets of their own.
"""

from __future__ import annotations

import ipywidgets as widgets

__all__ = ["close_widgets"]


def close_widgets(*items: widgets.Widget | None) -> None:
    """Close each widget with its layout and style."""
    for item in items:
        if item is None:
            continue
        for part in ("layout", "style"):
            child = getattr(item, part, None)
            if isinstance(child, widgets.Widget):
                child.close()
        item.close()
