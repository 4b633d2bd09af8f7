"""The status line: whether the labels are saved, and the outcome of the last action.

Every handler of the widget runs through :meth:`StatusLine.guard` (or, for a block of code,
:meth:`StatusLine.reporting`), because ipywidgets swallows exceptions raised in button callbacks
(they reach only a log nobody reads): here they become a plain sentence on screen instead.
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ipywidgets as widgets

from ..errors import LabelerError
from ..words import plural
from .traits import classes

__all__ = ["StatusLine", "describe_error"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_NOT_SAVED = "(not yet saved"


def describe_error(exc: BaseException) -> str:
    """A plain sentence for an exception: our own errors speak for themselves."""
    if isinstance(exc, LabelerError):
        return str(exc)
    text = str(exc) or type(exc).__name__
    return f"Something went wrong ({type(exc).__name__}): {text}"


def _save_words(status: Any) -> tuple[str, str]:
    """(text, state) for a SaveStatus-like object."""
    state = getattr(status, "state", "saved")
    pending = int(getattr(status, "pending", 0) or 0)
    message = str(getattr(status, "message", "") or "")
    if state == "saving":
        return "Saving…", state
    if state == "pending":
        text = f"{plural(pending, 'action')} not yet saved (retrying)"
        return (f"{text}: {message}" if message else text), state
    if state == "error":
        return (f"Not saved: {message}" if message else "Not saved"), state
    return "All changes saved", "saved"


class StatusLine:
    """One HTML line: save state, a background task's progress, then the last message
    (information or error).

    ``last_error`` keeps the last exception caught by :meth:`guard`, so tests (and curious users)
    can look at it; :meth:`clear_error` forgets it.
    """

    def __init__(self) -> None:
        self.widget = widgets.HTML(value="", **classes("jl-status"))
        self.save_text = "All changes saved"
        self.save_state = "saved"
        self.message = ""
        self.is_error = False
        self.progress_text = ""
        self.last_error: BaseException | None = None
        self._render()

    def show_save_status(self, status: Any) -> None:
        """Show a Dataset ``SaveStatus``; safe to call from a background thread."""
        self.save_text, self.save_state = _save_words(status)
        if self.save_state == "saved" and _NOT_SAVED in self.message:
            # The action's own words said "not yet saved"; now it is: never say both at once.
            self.message = self.message.split(_NOT_SAVED, 1)[0].rstrip() + " (now saved)"
        self._render()

    def progress(self, text: str) -> None:
        """Show what a background task is doing ("" hides it), beside the last message rather
        than over it; safe to call from a background thread."""
        if text != self.progress_text:
            self.progress_text = text
            self._render()

    def info(self, message: str) -> None:
        if self.save_state == "saved" and _NOT_SAVED in message:
            message = message.split(_NOT_SAVED, 1)[0].rstrip() + " (now saved)"
        self.message = message
        self.is_error = False
        self._render()

    def error(self, message: str) -> None:
        self.message = message
        self.is_error = True
        self._render()

    def clear_error(self) -> None:
        self.last_error = None
        if self.is_error:
            self.info("")

    def report(self, exc: BaseException, *, about: str = "") -> None:
        """Show an exception as a plain sentence (after ``about``: what failed) and remember it."""
        self.last_error = exc
        if not isinstance(exc, LabelerError):
            log.exception("jupyter-labeler: unexpected error in the widget", exc_info=exc)
        self.error(f"{about}: {describe_error(exc)}" if about else describe_error(exc))

    @contextlib.contextmanager
    def reporting(self) -> Iterator[None]:
        """Run a block whose exceptions are shown on this line (see :meth:`report`), not raised."""
        try:
            yield
        except Exception as exc:
            self.report(exc)

    def guard(self, handler: F) -> F:
        """Wrap a widget callback so that any exception is shown on this line."""

        @functools.wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            with self.reporting():
                return handler(*args, **kwargs)
            return None

        return guarded  # type: ignore[return-value]

    def _render(self) -> None:
        state = html.escape(self.save_state)
        parts = [
            f'<span class="jl-save-state jl-save-{state}">{html.escape(self.save_text)}</span>'
        ]
        if self.progress_text:
            parts.append(f'<span class="jl-progress">{html.escape(self.progress_text)}</span>')
        if self.message:
            # Drawn by the theme's colours (static/grid.css): an error stands out by its mark
            # and weight, in text that keeps its contrast in light and dark themes.
            kind = "jl-message-error" if self.is_error else "jl-message"
            parts.append(f'<span class="{kind}">{html.escape(self.message)}</span>')
        self.widget.value = " · ".join(parts)
        if self.is_error:
            self.widget.add_class("jl-status-error")
        else:
            self.widget.remove_class("jl-status-error")

    # -- what the line shows, for notebook code and tests (see jupyter_labeler.testing) -------
    @property
    def markup(self) -> str:
        """The line as HTML."""
        return str(self.widget.value)

    @property
    def text(self) -> str:
        """The line as the user reads it: "All changes saved · Added roses to 2 images."."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.markup))

    @property
    def shows_error(self) -> bool:
        """Whether the line is drawn as an error (in red)."""
        return "jl-status-error" in self.widget._dom_classes
