"""The grid's pages: drawing the page the user is on, and the thumbnails of the next one ahead.

:class:`Pages` draws the Labeler's page into the grid as one message (ids, names, labels,
parts, thumbnails), once for however many traits change in a :meth:`Pages.batch`. A redraw that
leaves the page's images as they were sends only their labels. A moment after a page is drawn
(``prefetch_delay``) the next page's thumbnails are made, and once the browser says it has drawn
this page they are pushed to it, so that turning to the next page sends none.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .grid import ImageGrid, thumbnail_px

__all__ = ["PageCallbacks", "Pages", "Where", "empty_message", "thumbnail_bytes"]


@dataclass(frozen=True)
class Where:
    """Where the user is: the Labeler's traits a page is drawn from."""

    view: str
    label_filter: str | None
    page: int
    page_size: int


@dataclass(frozen=True)
class PageCallbacks:
    """What the pages ask of the Labeler."""

    #: Where the user is, read at each drawing.
    where: Callable[[], Where]
    #: The view's ids in the grid's order; True: take up the newest ranking (when drawing).
    ids: Callable[[bool], Sequence[Any]]
    #: The selected ids.
    selected: Callable[[], Sequence[str]]
    #: Show this page instead: the view shrank under the page shown.
    go_to: Callable[[int], None]
    #: Put the suggestions of the page's images (ids, and each one's labels) on their tiles.
    decorate: Callable[[list[str], list[list[str]]], None]
    #: The page was sent to the grid: the tabs follow.
    rendered: Callable[[], None]
    #: Seconds between drawing a page and making the next one's thumbnails (read each time).
    prefetch_delay: Callable[[], float]


def thumbnail_bytes(dataset: Any, ids: list[str], size: int) -> list[bytes]:
    """The JPEG bytes of these images' thumbnails (b"" for one that has none)."""
    thumbs = dataset.thumbnails(ids, size=size)
    return [t.data if (t := thumbs.get(i)) is not None else b"" for i in ids]


def empty_message(view: str, label_filter: str | None) -> str:
    """What an empty page says."""
    if label_filter is not None:
        which = {
            "unlabeled": "unlabeled image",
            "mine": "image of yours",
            "review": "image waiting for review",
        }.get(view, "image")
        return (
            f"No {which} carries the label {label_filter}: choose another label in the filter, "
            "or All labels."
        )
    return {
        "unlabeled": "No unlabeled images.",
        "labeled": "No labeled images yet.",
        "all": "No images yet: add some with Add Image or Synchronize.",
        "mine": "Nothing left for you: no image assigned to you waits for labels.",
        "review": "Nothing to review: every labeled image is accepted or rejected.",
    }[view]


class Pages:
    """Draws ``dataset``'s page into ``grid`` when asked (:meth:`request_render`)."""

    def __init__(self, dataset: Any, grid: ImageGrid, callbacks: PageCallbacks) -> None:
        self._dataset = dataset
        self._grid = grid
        self._calls = callbacks
        # One thread draws at a time (the kernel's, the suggestions' and the follower's all do):
        # a page worked out from an older ranking must never be sent after a newer one.
        self._drawing = threading.RLock()
        self._hold = 0
        self._dirty = False
        self._force = False
        self._closed = False
        #: The ids of the page drawn last.
        self.page_ids: list[str] = []
        self._prefetch: threading.Timer | None = None
        # The next page to push once the browser has drawn the page of this token; one lasting
        # thread makes and pushes it, so the kernel stays free for the user's next click.
        self._next_page: tuple[int, list[str], int] | None = None
        #: The thread that makes and pushes the next page's thumbnails.
        self.pusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jl-push")

    @contextlib.contextmanager
    def batch(self, *, force: bool = False) -> Iterator[None]:
        """Render once at the end, however many traits change inside (another thread's
        drawing waits till then)."""
        with self._drawing:
            self._hold += 1
            self._force = self._force or force
            if force:
                self._dirty = True
            try:
                yield
            finally:
                self._hold -= 1
                if self._hold == 0 and self._dirty:
                    self._render()

    def request_render(self, *, force: bool = False) -> None:
        """Draw the page now, or at the end of the batch under way; ``force``: send its
        thumbnails again even when its images are the same."""
        with self._drawing:
            self._force = self._force or force
            self._dirty = True
            if self._hold == 0:
                self._render()

    @property
    def thumb_px(self) -> int:
        """The side of the thumbnails the grid shows now."""
        grid = self._grid
        return thumbnail_px(grid.tile_size, grid.hidpi, self._calls.where().page_size)

    def _render(self) -> None:
        if self._closed:
            return
        where = self._calls.where()
        ids = self._calls.ids(True)
        pages = max(1, math.ceil(len(ids) / where.page_size))
        if where.page > pages - 1:
            # The view shrank under the page: move to its last page, which renders again.
            with self.batch():
                self._dirty = True
                self._calls.go_to(pages - 1)
            return
        force, self._force, self._dirty = self._force, False, False
        ds = self._dataset
        ds.set_presence(where.view, where.page)  # told to the others at the next beat
        start = where.page * where.page_size
        page_ids = [str(i) for i in ids[start : start + where.page_size]]
        labels = ds.labels_of(page_ids) if page_ids else {}
        parts = ds.usage_of(page_ids) if page_ids else {}
        grid = self._grid
        with grid.hold_sync():
            grid.page, grid.page_count, grid.page_size = where.page, pages, where.page_size
            if force or page_ids != self.page_ids:
                size = self.thumb_px
                thumbs = ds.thumbnails(page_ids, size=size) if page_ids else {}
                known = ds.paths_of(page_ids)
                paths = [known.get(i, i) for i in page_ids]
                # The path in the source folder: the tile shows its folder too.
                names = [p.strip("/") or p for p in paths]
                errors, data = [], []
                for image_id in page_ids:
                    thumb = thumbs.get(image_id)
                    errors.append("no thumbnail" if thumb is None else (thumb.error or ""))
                    data.append(b"" if thumb is None else thumb.data)
                grid.show_page(
                    page_ids,
                    names,
                    [labels.get(i, []) for i in page_ids],
                    errors,
                    data,
                    selected=frozenset(self._calls.selected()),
                    empty_message=empty_message(where.view, where.label_filter),
                    parts=[parts.get(i, "") for i in page_ids],
                    px=size,
                )
                self.page_ids = page_ids
                following = ids[start + where.page_size : start + 2 * where.page_size]
                self._prefetch_later([str(i) for i in following], size)
            else:
                grid.update_labels(labels, parts)
            self._calls.decorate(page_ids, [labels.get(i, []) for i in page_ids])
        self._calls.rendered()

    # -- the next page, ahead ------------------------------------------------------------------
    def _prefetch_later(self, ids: list[str], size: int) -> None:
        """Make the next page's thumbnails a moment from now, and push them to the browser once
        it says it has drawn this page, so that turning to it sends none.

        A moment later, and pushed once drawn: on a small machine, the threads making and
        sending them would otherwise take the CPU from the browser drawing this page."""
        if self._prefetch is not None:
            self._prefetch.cancel()
            self._prefetch = None
        self._next_page = (self._grid.page_token, ids, size) if ids else None
        if not ids:
            return
        delay = self._calls.prefetch_delay()
        if delay <= 0:
            self.page_drawn(self._grid.page_token)
            return
        timer = threading.Timer(delay, self._make_thumbnails, args=(ids, size))
        timer.daemon = True
        self._prefetch = timer
        timer.start()

    def _make_thumbnails(self, ids: list[str], size: int) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):  # a prefetch is only a guess; the page asks again
                self._dataset.prefetch_thumbnails(ids, size=size)

    def page_drawn(self, token: int) -> None:
        """The browser has drawn the page of ``token``: push the next page's thumbnails."""
        if self._next_page is None or self._next_page[0] != token:
            return  # another page was shown meanwhile, or this one's next page went already
        _token, ids, size = self._next_page
        self._next_page = None
        if self._calls.prefetch_delay() <= 0:
            self.prefetch_now(ids, size)
        else:
            self.pusher.submit(self.prefetch_now, ids, size)

    def prefetch_now(self, ids: list[str], size: int) -> None:
        """Push these thumbnails to the browser (those it holds are left out)."""
        if not self._closed:
            with contextlib.suppress(Exception):  # a prefetch is only a guess; the page asks again
                self._grid.push(ids, size, thumbnail_bytes(self._dataset, ids, size))

    def close(self) -> None:
        """Draw no more, and stop making thumbnails ahead."""
        self._closed = True
        if self._prefetch is not None:
            self._prefetch.cancel()
        self.pusher.shutdown(wait=False, cancel_futures=True)
