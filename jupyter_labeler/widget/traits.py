"""Small helpers the widget's parts share for their traits and controls.

- :func:`one_of` checks a trait that takes one of a few values, and says which when refused;
- :func:`classes` gives a widget its CSS classes as it is made;
- :class:`Quiet` lets code set a control's value without its handler taking it for the user's
  choice (a try/finally flag, as fsspec's ``ignore_events()``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import traitlets

__all__ = ["Quiet", "classes", "one_of"]


def classes(*names: str) -> dict[str, Any]:
    """Keyword arguments that give a new widget the CSS classes ``names``:
    ``widgets.Button(description="OK", **classes("jl-label-ok"))``.

    The classes travel in the message that creates the widget in the browser; ``add_class()``
    afterwards costs one more message each, and the browser handles a widget's messages one at
    a time before it shows the widget (about fifty at a Labeler's first display).
    """
    return {"_dom_classes": names}


def one_of(
    name: str,
    value: Any,
    allowed: Sequence[Any],
    *,
    clean: Callable[[Any], Any] = lambda value: value,
) -> Any:
    """``value`` (as ``clean`` makes it) when it is one of ``allowed``; else a TraitError that
    names every allowed value."""
    cleaned = clean(value)
    if cleaned not in allowed:
        shown = ", ".join(map(repr, allowed))
        raise traitlets.TraitError(f"{name} must be one of {shown}, not {value!r}")
    return cleaned


class Quiet:
    """True while code sets a control's value: ``with quiet(): control.value = ...``; the
    control's handler checks ``if not quiet:`` before taking the value as the user's."""

    def __init__(self) -> None:
        self._on = False

    def __bool__(self) -> bool:
        return self._on

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        previous, self._on = self._on, True
        try:
            yield
        finally:
            self._on = previous
