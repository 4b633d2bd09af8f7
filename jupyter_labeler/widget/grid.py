"""The image grid: one anywidget whose browser side (``static/grid.js``) draws the tiles.

A page is one message: the ids, file names, labels and reasons (for broken images) of its
images, their suggested labels while suggestions are on, the chips of likely wrong labels and
the group captions in those orders, and their thumbnails as binary buffers. Turning a page,
selecting and hovering create no widgets. The browser draws a selection at once and sends the
user's intent here as a message; the Labeler's ``selected`` stays the single truth, and
``selected`` on the grid is the part of it on the page, sent back so that every view of the
grid agrees.

Messages from the browser (``{"event": ...}``), each also a test hook through :meth:`receive`:
``click`` (``index``, ``shift``), ``open`` (``index``), ``select_page``, ``clear``, ``page``
(``where``: first, prev, next, last), ``page_size`` (``value``), ``key`` (``key``) and
``upload`` (``names``, ``sizes``, and the files as buffers when ``sent``). Those that change the
selection carry ``seq``, which comes back as ``ack`` with the new selection.
The kernel's ``focus()`` gives the grid the keyboard, so that its keys act without a click.

Thumbnails the browser already holds are not sent again. The browser keeps the thumbnails of
recent pages, decoded, keyed by ``"<px>/<id>"``; the kernel keeps a bounded record of the keys it
sent, and a page names its keys with empty bytes for those the browser holds. The next page's
thumbnails are pushed ahead (:meth:`ImageGrid.push`, a custom message ``thumbs``) while the user
looks at this one, once the browser says it has drawn it (``drawn``, with the ``page_token``),
so a page turn sends no thumbnail at all. The browser says which keys it let go
(``evicted``) and asks for any it lacks (``want``: a second view, a reloaded page).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anywidget
import traitlets

from .assets import STATIC, esm
from .traits import classes

__all__ = ["DEFAULT_TILE_SIZE", "TILE_SIZES", "GridCallbacks", "ImageGrid", "thumbnail_px"]

#: CSS pixels of a tile's image for each tile size.
TILE_SIZES = {"small": 112, "medium": 160, "large": 224}
DEFAULT_TILE_SIZE = "small"
# On HiDPI screens thumbnails are sent larger, but a page stays within this many pixels
# (48 images of 256x256, about 330 KB of JPEG): sharp enough, and page turns stay fast.
_PAGE_PIXEL_BUDGET = 48 * 256 * 256
#: Thumbnails the browser keeps at most (about ten pages of 48); it also bounds their bytes.
CACHE_LIMIT = 480


def thumb_key(image_id: str, px: int) -> str:
    """The key of one thumbnail in the browser's cache."""
    return f"{px}/{image_id}"


def thumbnail_px(tile_size: str, hidpi: bool, page_size: int) -> int:
    """The side in pixels of the thumbnails to send for these settings."""
    css = TILE_SIZES[tile_size]
    if not hidpi:
        return css
    cap = int(math.sqrt(_PAGE_PIXEL_BUDGET / max(1, page_size)))
    return max(css, min(2 * css, cap))


@dataclass(frozen=True)
class GridCallbacks:
    """What the grid asks of its owner; every index is a tile's position on the page."""

    click: Callable[[int, bool], None]
    open: Callable[[int], None]
    select_page: Callable[[], None]
    clear: Callable[[], None]
    page: Callable[[str], None]
    page_size: Callable[[int], None]
    key: Callable[[dict[str, Any]], None]
    settings: Callable[[], None]
    upload: Callable[[list[str], list[int], list[bytes] | None], None]
    #: The JPEG bytes of these images' thumbnails of this side (b"" when there is none).
    thumbnails: Callable[[list[str], int], list[bytes]]
    #: The browser has drawn the page of this ``page_token`` (the moment to push the next).
    drawn: Callable[[int], None]


class ImageGrid(anywidget.AnyWidget):
    """The tiles of one page, the selection bar and the pager above them."""

    _esm = esm("grid.js")
    _css = STATIC / "grid.css"

    ids = traitlets.List(traitlets.Unicode(), help="Ids of the page's images.").tag(sync=True)
    names = traitlets.List(
        traitlets.Unicode(),
        help="Each image's path in the source folder (the tile shortens it in the middle).",
    ).tag(sync=True)
    labels = traitlets.List(traitlets.List(traitlets.Unicode()), help="Each image's labels.").tag(
        sync=True
    )
    parts = traitlets.List(
        traitlets.Unicode(), help="Each image's part of the split: TRAIN, EVAL, TEST or ''."
    ).tag(sync=True)
    suggested = traitlets.List(
        traitlets.List(),
        help="Each image's suggested labels as [label, confidence] pairs (empty for none).",
    ).tag(sync=True)
    flagged = traitlets.List(
        traitlets.List(traitlets.Unicode()),
        help="Each image's chip as a likely wrong label: [words, tooltip] ('maybe 7, 92%'), or [].",
    ).tag(sync=True)
    group_heads = traitlets.List(
        traitlets.Unicode(),
        help="The caption drawn before each tile where a group starts ('Group 3 · 42'), or ''.",
    ).tag(sync=True)
    errors = traitlets.List(traitlets.Unicode(), help="Why an image cannot be shown, or ''.").tag(
        sync=True
    )
    thumbs = traitlets.List(
        traitlets.Bytes(), help="JPEG thumbnails, one per image; empty when the browser holds it."
    ).tag(sync=True)
    thumb_keys = traitlets.List(
        traitlets.Unicode(), help="Each thumbnail's key in the browser's cache, or ''."
    ).tag(sync=True)
    cache_id = traitlets.Unicode(help="Names this grid's thumbnail cache in the browser.").tag(
        sync=True
    )
    cache_limit = traitlets.Int(CACHE_LIMIT, help="Thumbnails the browser keeps at most.").tag(
        sync=True
    )
    page_token = traitlets.Int(0, help="Changes with every new page of thumbnails.").tag(sync=True)
    selected = traitlets.List(
        traitlets.Unicode(), help="Ids of this page's images that are selected."
    ).tag(sync=True)
    selected_count = traitlets.Int(0, help="How many images are selected in all.").tag(sync=True)
    ack = traitlets.Int(0, help="The last selection message handled.").tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_count = traitlets.Int(1).tag(sync=True)
    page_size = traitlets.Int(48).tag(sync=True)
    page_sizes = traitlets.List(traitlets.Int()).tag(sync=True)
    empty_message = traitlets.Unicode("").tag(sync=True)
    tile_size = traitlets.Enum(
        tuple(TILE_SIZES),
        DEFAULT_TILE_SIZE,
        help="Tile size: 'small', 'medium' or 'large'. Small by default: at 1,400 px with "
        "JupyterLab's file browser open, three rows of five tiles show at once.",
    ).tag(sync=True)
    tile_px = traitlets.Int(TILE_SIZES[DEFAULT_TILE_SIZE]).tag(sync=True)
    hidpi = traitlets.Bool(False, help="Set by the browser on a HiDPI screen.").tag(sync=True)
    key_names = traitlets.List(traitlets.Unicode(), help="Key names the grid handles.").tag(
        sync=True
    )
    key_help = traitlets.Unicode("").tag(sync=True)
    accept = traitlets.Unicode(
        ".jpg,.jpeg,.png,.bmp", help="File types offered by Add images."
    ).tag(sync=True)
    upload_limit = traitlets.Int(
        8 * 1024 * 1024, help="Bytes the browser sends at most in one upload."
    ).tag(sync=True)
    overlay_open = traitlets.Bool(False, help="A preview or dialog is open (Esc closes it).").tag(
        sync=True
    )

    @traitlets.default("cache_id")
    def _new_cache_id(self) -> str:
        # A default, not set in __init__: the browser must see it in the model's first state.
        return uuid.uuid4().hex

    def __init__(self, callbacks: GridCallbacks, **kwargs: Any) -> None:
        super().__init__(**classes("jl-grid-area"), **kwargs)
        self._callbacks = callbacks
        # Keys of the thumbnails the browser holds, as far as the kernel knows, oldest first.
        # The lock orders the record with the messages: a key is marked held and its bytes sent
        # in one step, so that no page names a key before the bytes of it went out.
        self._held: OrderedDict[str, None] = OrderedDict()
        self._held_lock = threading.RLock()
        self.on_msg(self._on_msg)

    # -- what the kernel shows --------------------------------------------------------------
    def show_page(
        self,
        ids: Sequence[str],
        names: Sequence[str],
        labels: Sequence[Sequence[str]],
        errors: Sequence[str],
        thumbs: Sequence[bytes],
        *,
        selected: frozenset[str] | set[str],
        empty_message: str = "",
        parts: Sequence[str] | None = None,
        px: int = 0,
    ) -> None:
        """A new page: sent to the browser as one message.

        With ``px`` (the thumbnails' side), thumbnails the browser holds go as empty bytes.
        """
        keys = [
            thumb_key(i, px) if px and data else "" for i, data in zip(ids, thumbs, strict=True)
        ]
        with self._held_lock, self.hold_sync():
            sent = []
            for key, data in zip(keys, thumbs, strict=True):
                if key in self._held:
                    self._held.move_to_end(key)
                    sent.append(b"")
                else:
                    sent.append(data)
                    if key:
                        self._remember(key)
            self.ids = list(ids)
            self.names = list(names)
            self.labels = [list(x) for x in labels]
            self.parts = list(parts) if parts is not None else [""] * len(ids)
            self.errors = list(errors)
            self.thumb_keys = keys
            self.thumbs = sent
            self.selected = [i for i in ids if i in selected]
            self.empty_message = empty_message
            self.page_token += 1

    def push(
        self, ids: Sequence[str], px: int, thumbs: Sequence[bytes], *, again: bool = False
    ) -> int:
        """Send these thumbnails to the browser's cache ahead of their page; returns how many.

        Those the browser holds are left out, unless ``again`` (it asked for them).
        """
        with self._held_lock:
            keys, buffers, none = [], [], []
            for image_id, data in zip(ids, thumbs, strict=True):
                key = thumb_key(image_id, px)
                if not data:
                    none.append(key)  # asked for, but gone: the browser stops waiting for it
                    continue
                if key in self._held and not again:
                    continue
                self._remember(key)
                keys.append(key)
                buffers.append(data)
            if keys or (again and none):
                content: dict[str, Any] = {"event": "thumbs", "keys": keys}
                if again and none:
                    content["none"] = none
                self.send(content, buffers)
            return len(keys)

    def pick_files(self) -> None:
        """Open the browser's file picker of "Add images…" (right after the user pressed a
        button, while the browser still counts the press as theirs)."""
        self.send({"do": "pick"})

    def forget_sent(self) -> None:
        """Images changed: send every thumbnail again before the browser shows it from its cache."""
        with self._held_lock:
            self._held.clear()

    @property
    def held(self) -> list[str]:
        """Keys of the thumbnails the browser holds, as far as the kernel knows, oldest first."""
        with self._held_lock:
            return list(self._held)

    def _remember(self, key: str) -> None:
        self._held[key] = None
        self._held.move_to_end(key)
        while len(self._held) > max(1, self.cache_limit):
            self._held.popitem(last=False)

    def _send_wanted(self, keys: Sequence[str]) -> None:
        by_px: dict[int, list[str]] = {}
        for key in keys:
            side, _, image_id = str(key).partition("/")
            # Only sides the grid itself asks for: a key is no way to order a huge picture.
            if side.isdigit() and image_id and 0 < int(side) <= 2 * max(TILE_SIZES.values()):
                by_px.setdefault(int(side), []).append(image_id)
        for px, ids in by_px.items():
            try:
                thumbs = self._callbacks.thumbnails(ids, px)
            except Exception:
                thumbs = [b""] * len(ids)  # the browser stops waiting; the tile shows no picture
                raise
            finally:
                self.push(ids, px, thumbs, again=True)

    def update_labels(
        self, labels: Mapping[str, Sequence[str]], parts: Mapping[str, str] | None = None
    ) -> None:
        if parts is not None:
            new_parts = [str(parts.get(i, "")) for i in self.ids]
            if new_parts != self.parts:
                self.parts = new_parts
        new = [list(labels.get(i, ())) for i in self.ids]
        if new != self.labels:
            self.labels = new

    def show_suggestions(self, suggested: Sequence[Sequence[tuple[str, float]]]) -> None:
        """The suggested labels of each tile of the page (drawn as dashed chips on tiles that
        carry no label); sent only when they changed."""
        # Rounded down: a confidence just under a threshold never reads as reaching it.
        new = [
            [[str(name), math.floor(float(conf) * 10_000) / 10_000] for name, conf in tile]
            for tile in suggested
        ]
        if new != self.suggested:
            self.suggested = new

    def show_quality(
        self, flagged: Sequence[Sequence[str]], heads: Sequence[str] | None = None
    ) -> None:
        """Each tile's chip as a likely wrong label ([words, tooltip] or []), and the group
        captions before tiles (``heads``, "" for none); sent only when they changed."""
        with self.hold_sync():
            new = [[str(x) for x in tile] for tile in flagged]
            if new != self.flagged:
                self.flagged = new
            if heads is not None and list(heads) != self.group_heads:
                self.group_heads = [str(h) for h in heads]

    def update_selection(self, selected: frozenset[str] | set[str], count: int) -> None:
        with self.hold_sync():
            page = [i for i in self.ids if i in selected]
            if page != self.selected:
                self.selected = page
            self.selected_count = count

    def id_at(self, index: int) -> str | None:
        return self.ids[index] if 0 <= index < len(self.ids) else None

    # -- what the browser says ----------------------------------------------------------------
    @traitlets.observe("tile_size", "hidpi")
    def _settings_changed(self, change: Any) -> None:
        if change["name"] == "tile_size":
            self.tile_px = TILE_SIZES[change["new"]]
        self._callbacks.settings()

    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict):
            self.receive(content, [bytes(b) for b in buffers or ()])

    def receive(self, content: Mapping[str, Any], buffers: Sequence[bytes] = ()) -> None:
        """Handle one message from the browser (the test hook for a click, a key, ...)."""
        event = content.get("event")
        calls = self._callbacks
        with self.hold_sync():
            try:
                if event == "drawn":
                    calls.drawn(int(content.get("token", -1)))
                elif event == "want":
                    self._send_wanted([str(k) for k in content.get("keys", ())])
                elif event == "evicted":
                    with self._held_lock:
                        for key in content.get("keys", ()):
                            self._held.pop(str(key), None)
                elif event == "upload":
                    names = [str(n) for n in content.get("names", ())]
                    sizes = [int(n) for n in content.get("sizes", ())]
                    calls.upload(names, sizes, list(buffers) if content.get("sent") else None)
                elif event == "click":
                    calls.click(int(content.get("index", -1)), bool(content.get("shift")))
                elif event == "open":
                    calls.open(int(content.get("index", -1)))
                elif event == "select_page":
                    calls.select_page()
                elif event == "clear":
                    calls.clear()
                elif event == "page":
                    calls.page(str(content.get("where", "")))
                elif event == "page_size":
                    calls.page_size(int(content.get("value", 0)))
                elif event == "key":
                    calls.key({"type": "keydown", "key": str(content.get("key", ""))})
            finally:
                seq = content.get("seq")
                if isinstance(seq, int) and seq > self.ack:
                    self.ack = seq

    # -- the browser's messages, sent from Python (tests and demos; see jupyter_labeler.testing)
    def tile_index(self, tile: int | str) -> int:
        """A tile's position on the page, given that position or the tile's image id."""
        if isinstance(tile, str):
            try:
                return self.ids.index(tile)
            except ValueError:
                raise ValueError(f"image {tile!r} is not on this page") from None
        return int(tile)

    def click(self, tile: int | str, *, shift: bool = False) -> None:
        """A click on a tile's picture, as the browser sends it (``shift``: with Shift held)."""
        index = self.tile_index(tile)
        self.receive({"event": "click", "index": index, "shift": bool(shift), "seq": self.ack + 1})

    def double_click(self, tile: int | str) -> None:
        """A double click on a tile (or a click on its open button): the preview opens."""
        self.receive({"event": "open", "index": self.tile_index(tile)})

    def select_page(self) -> None:
        """The selection bar's "Select page"."""
        self.receive({"event": "select_page", "seq": self.ack + 1})

    def clear_selection(self) -> None:
        """The selection bar's "Clear"."""
        self.receive({"event": "clear", "seq": self.ack + 1})

    def turn(self, where: str) -> None:
        """A pager button: "first", "prev", "next" or "last"."""
        self.receive({"event": "page", "where": where})

    def choose_page_size(self, size: int) -> None:
        """The page size menu."""
        self.receive({"event": "page_size", "value": size})

    def press(self, key: str, *, ctrl: bool = False, meta: bool = False, alt: bool = False) -> None:
        """A key pressed while the grid has the keyboard, by the browser's name for it.

        The browser sends no key held with Ctrl, Meta or Alt (those are the browser's and
        JupyterLab's shortcuts); with one of them the key goes to the kernel's key handler as
        the event it would be, and the handler leaves it alone too.
        """
        if ctrl or meta or alt:
            event = {"type": "keydown", "key": key, "ctrlKey": ctrl, "metaKey": meta, "altKey": alt}
            self._callbacks.key(event)
            return
        content: dict[str, Any] = {"event": "key", "key": key}
        if key == "Escape":  # it may clear the selection, so it is acknowledged
            content["seq"] = self.ack + 1
        self.receive(content)

    def upload(self, files: Mapping[str, bytes], *, sent: bool = True) -> None:
        """Files chosen with "Add images…" (name -> bytes), as the browser sends them: one
        message with their names and sizes and the files as binary buffers. ``sent=False`` is
        what the browser does when they exceed ``upload_limit``: names and sizes only."""
        names = list(files)
        content = {
            "event": "upload",
            "names": names,
            "sizes": [len(files[name]) for name in names],
            "sent": bool(sent),
        }
        self.receive(content, [bytes(files[name]) for name in names] if sent else [])
