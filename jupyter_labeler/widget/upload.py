"""Bringing images in: "Add images" (upload from the user's computer) and "Synchronize".

Both only call the Dataset (``add_images`` and ``sync``); the Dataset checks sizes and formats and
tells the grid what changed. The files of an upload come from the grid's browser side (a file
input), as one message with the files as binary buffers.
"""

from __future__ import annotations

import html
import posixpath
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets

from ..names import clean_file_name
from ..words import plural
from .closing import close_widgets
from .traits import classes

__all__ = ["Notice", "SyncPanel", "UploadPanel", "refused_html", "rename_reason"]

ACCEPT = ".jpg,.jpeg,.png,.bmp"


def rename_reason(given: str, stored: str) -> str:
    """Why an uploaded file is stored under another name (see :func:`.uploads.check_uploads`)."""
    safe = clean_file_name(given)
    if stored == safe:
        return "spaces and signs such as + # % & are not kept in file names"
    if posixpath.splitext(stored)[0] == posixpath.splitext(safe)[0]:
        return "its name now ends as its content's format does"
    return (
        f"a file named {posixpath.splitext(safe)[0]}.{stored.rsplit('.', 1)[-1]} is there already"
    )


def refused_html(
    added: int, refused: list[tuple[str, str]], renamed: list[tuple[str, str]] | None = None
) -> str:
    """The outcome of an upload; ``renamed`` lists (uploaded name, stored name) pairs."""
    parts = [f'<span class="jl-upload-added">{plural(added, "image")} added.</span>']
    for given, stored in renamed or ():
        parts.append(
            f'<div class="jl-upload-renamed">{html.escape(given)} is saved as '
            f"<b>{html.escape(stored)}</b>: {html.escape(rename_reason(given, stored))}.</div>"
        )
    if refused:
        items = "".join(
            f"<li><b>{html.escape(str(name))}</b>: {html.escape(str(reason))}</li>"
            for name, reason in refused
        )
        parts.append(
            f'<div class="jl-upload-refused" style="color:var(--jp-error-color1)">'
            f"{len(refused)} not added:<ul style='margin:2px 0'>{items}</ul></div>"
        )
    return "".join(parts)


class Notice:
    """A message box with a close button: the outcome of an upload or a synchronization.

    Each new outcome replaces the last (they never pile up), and the box closes by its button.
    """

    def __init__(self, css_class: str, guard: Callable[[Any], Any] = lambda f: f) -> None:
        self.html = widgets.HTML(value="", **classes(css_class))
        self.close_button = widgets.Button(
            description="",
            icon="times",
            tooltip="Close this message",
            layout=widgets.Layout(width="32px"),
            **classes("jl-notice-close"),
        )
        self.box = widgets.HBox(
            [self.html, self.close_button],
            layout=widgets.Layout(display="none", align_items="flex-start"),
            **classes("jl-notice"),
        )
        self.close_button.on_click(guard(lambda _b: self.hide()))

    @property
    def value(self) -> str:
        return str(self.html.value)

    @value.setter
    def value(self, text: str) -> None:
        self.html.value = text
        self.box.layout.display = None if text else "none"

    @property
    def is_open(self) -> bool:
        return self.box.layout.display != "none"

    def hide(self) -> None:
        self.value = ""

    def close(self) -> None:
        close_widgets(self.html, self.close_button, self.box)


class UploadPanel:
    """Uploads arrive from the grid's "Add images" button as name -> bytes;
    ``on_files(files)`` gets them and returns the Dataset's result, shown in ``result``."""

    def __init__(
        self,
        on_files: Callable[[dict[str, bytes]], Any],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_files = on_files
        self.result = Notice("jl-upload-result", guard)

    def receive(
        self, names: list[str], sizes: list[int], buffers: list[bytes] | None, limit: int
    ) -> None:
        """Files from the grid's "Add images"; ``buffers`` is None when the browser held them
        back, being more than ``limit`` bytes in all: then each is refused, saying why."""
        if buffers is None or len(buffers) != len(names):
            reason = (
                f"the upload holds {sum(sizes) / 2**20:.1f} MB in all; at most "
                f"{limit / 2**20:.0f} MB can be added at once: upload fewer files at a time"
            )
            self.result.value = refused_html(0, [(n, reason) for n in names])
            return
        self.take(dict(zip(names, buffers, strict=True)))

    def take(self, files: Mapping[str, bytes]) -> Any:
        """Add these files (the test hook for an upload from the browser)."""
        self.result.hide()
        outcome = self._on_files(dict(files))
        self.result.value = refused_html(
            len(getattr(outcome, "added", ())),
            list(getattr(outcome, "refused", ())),
            list(getattr(outcome, "renamed", ())),
        )
        return outcome

    def close(self) -> None:
        self.result.close()


class SyncPanel:
    """A "Synchronize" button with a progress bar and the summary sentence."""

    def __init__(
        self,
        on_sync: Callable[[Callable[[int, int], None]], Any],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_sync = on_sync
        self.button = widgets.Button(
            description="Synchronize",
            icon="refresh",
            tooltip="Add images put into the source folder by other means, drop removed ones, "
            "and read labels from same-name .txt files",
            **classes("jl-sync"),
        )
        self.progress = widgets.IntProgress(
            value=0,
            min=0,
            max=1,
            layout=widgets.Layout(width="140px", display="none"),
            **classes("jl-sync-progress"),
        )
        self.summary = Notice("jl-sync-summary", guard)
        self.button.on_click(guard(lambda _b: self.run()))

    def _progress(self, done: int, total: int) -> None:
        total = max(int(total), 1)
        if self.progress.max != total:
            self.progress.max = total
        self.progress.value = min(int(done), total)

    def run(self) -> None:
        self.button.disabled = True
        self.summary.value = "Synchronizing…"
        self.progress.value = 0
        self.progress.layout.display = None
        try:
            result = self._on_sync(self._progress)
            self.summary.value = html.escape(str(result))
            self.progress.value = self.progress.max
        except BaseException:
            self.summary.value = ""
            raise
        finally:
            self.button.disabled = False
            # The bar has said what it had to: the summary stays, the bar goes.
            self.progress.layout.display = "none"

    def close(self) -> None:
        close_widgets(self.button, self.progress)
        self.summary.close()
