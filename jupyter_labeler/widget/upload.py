"""Bringing images in: "Add Image" (upload from the user's computer) and "Synchronize".

Both only call the Dataset (``add_images`` and ``sync``); the Dataset checks sizes and formats and
tells the grid what changed, so the new images appear under Unlabeled by themselves.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ipywidgets as widgets

from .closing import close_widgets

__all__ = ["SyncPanel", "UploadPanel", "refused_html"]

ACCEPT = ".jpg,.jpeg,.png,.bmp"


def refused_html(added: int, refused: list[tuple[str, str]]) -> str:
    noun = "image" if added == 1 else "images"
    parts = [f'<span class="jl-upload-added">{added} {noun} added.</span>']
    if refused:
        items = "".join(
            f"<li><b>{html.escape(str(name))}</b>: {html.escape(str(reason))}</li>"
            for name, reason in refused
        )
        parts.append(
            f'<div class="jl-upload-refused" style="color:#b00020">'
            f"{len(refused)} not added:<ul style='margin:2px 0'>{items}</ul></div>"
        )
    return "".join(parts)


def uploaded_files(value: Any) -> dict[str, bytes]:
    """FileUpload.value (ipywidgets 8: a tuple of dicts with name and content) as name -> bytes."""
    files: dict[str, bytes] = {}
    for item in value or ():
        name = item["name"] if isinstance(item, Mapping) else item.name
        content = item["content"] if isinstance(item, Mapping) else item.content
        files[str(name)] = bytes(content)
    return files


class UploadPanel:
    """A FileUpload; ``on_files(files)`` gets name -> bytes and returns the Dataset's result."""

    def __init__(
        self,
        on_files: Callable[[dict[str, bytes]], Any],
        guard: Callable[[Any], Any] = lambda f: f,
    ) -> None:
        self._on_files = on_files
        self._resetting = False
        self.upload = widgets.FileUpload(
            accept=ACCEPT,
            multiple=True,
            description="Add Image",
            tooltip="JPG, JPEG, PNG or BMP; at most 5 MB an image and 8 MB in one upload",
        )
        self.upload.add_class("jl-upload")
        self.result = widgets.HTML(value="")
        self.result.add_class("jl-upload-result")
        self.upload.observe(guard(self._changed), "value")

    @contextlib.contextmanager
    def _resetting_value(self) -> Iterator[None]:
        self._resetting = True
        try:
            yield
        finally:
            self._resetting = False

    def _changed(self, change: dict[str, Any]) -> None:
        if self._resetting or not change["new"]:
            return
        try:
            files = uploaded_files(change["new"])
            self.result.value = ""
            outcome = self._on_files(files)
            self.result.value = refused_html(
                len(getattr(outcome, "added", ())), list(getattr(outcome, "refused", ()))
            )
        finally:
            # Forget the bytes (they would otherwise stay in the kernel and the page) and let the
            # same files be chosen again.
            with self._resetting_value():
                self.upload.value = ()

    def close(self) -> None:
        close_widgets(self.upload, self.result)


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
        )
        self.button.add_class("jl-sync")
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, layout=widgets.Layout(width="140px", display="none")
        )
        self.progress.add_class("jl-sync-progress")
        self.summary = widgets.HTML(value="")
        self.summary.add_class("jl-sync-summary")
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

    def close(self) -> None:
        close_widgets(self.button, self.progress, self.summary)
