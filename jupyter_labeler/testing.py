"""Drive a Labeler as a user would, without a browser: for tests, and for trying things out.

:class:`LabelerDriver` clicks, types and presses keys through the doors the browser uses (the
grid's messages, the buttons' clicks, Enter and Esc in a text box) and reads back what the user
sees: the status line as text, the ids on the page, a tile's chips, the tabs with their counts,
an open dialog's question. It only uses the Labeler's public parts (``labeler.grid``,
``labeler.status``, ``labeler.label_box``, ``labeler.dialog``...), so tests written with it
keep their meaning when the widget is reshaped inside.

>>> from jupyter_labeler import Dataset
>>> from jupyter_labeler.testing import LabelerDriver
>>> from jupyter_labeler.widget import Labeler
>>> user = LabelerDriver(Labeler(Dataset.open("flowers/"), page_size=12))  # doctest: +SKIP
>>> user.click_tile(0)                                    # doctest: +SKIP
>>> user.click_tile(3, shift=True)                        # doctest: +SKIP
>>> user.label_selection("roses")                         # doctest: +SKIP
>>> user.status_text                                      # doctest: +SKIP
'All changes saved · Added roses to 4 images'
>>> user.tab_titles                                       # doctest: +SKIP
{'unlabeled': 'Unlabeled (116)', 'labeled': 'Labeled (4)', 'all': 'All (120)'}
>>> user.press("z")                                       # doctest: +SKIP
>>> user.status_text                                      # doctest: +SKIP
'All changes saved · Undone: Added roses to 4 images'

A tile is given by its position on the page (``0``) or by its image id. The Labeler's own traits
(``view``, ``page``, ``selected``, ``label_filter``) and its ``dataset`` are public: set and read
them directly. This module imports no widget library; it drives the widgets it is given.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .widget import Labeler

__all__ = ["BUTTONS", "PREVIEW_BUTTONS", "LabelerDriver", "Tile"]

_TAG = re.compile(r"<[^>]+>")
#: The Labeler's buttons by the names :meth:`LabelerDriver.click` takes.
BUTTONS = (
    "undo",
    "more",
    "add images",
    "delete images",
    "split",
    "synchronize",
    "ok",
    "remove label",
    "accept all",
    "more like these",
    "compute features",
    "take likely",
    "keep label",
    "select group",
    "accept",
    "reject",
    "reject them",
    "cancel reject",
    "close upload result",
    "close sync summary",
)
#: The preview's buttons by the names :meth:`LabelerDriver.preview_click` takes.
PREVIEW_BUTTONS = ("add", "change", "remove", "previous", "next", "close")


def _text_of(markup: str) -> str:
    """What an HTML snippet shows, as plain text."""
    return html.unescape(_TAG.sub("", markup))


@dataclass(frozen=True)
class Tile:
    """What one tile of the page shows."""

    image_id: str
    #: The file name under the picture.
    name: str
    #: The label chips, in order.
    labels: tuple[str, ...]
    #: The part of the split (TRAIN, EVAL, TEST) or "".
    part: str
    #: Why the picture cannot be shown (a placeholder is drawn), or "".
    error: str
    #: Ticked.
    selected: bool
    #: The suggested labels drawn as dashed chips, as (label, confidence), surest first.
    suggested: tuple[tuple[str, float], ...]
    #: The JPEG thumbnail sent with the page; b"" when the browser held it already.
    thumbnail: bytes = field(repr=False)
    #: The chip of a likely wrong label ("maybe dogs, 92%"), or "".
    flagged: str = ""
    #: The tooltip of that chip.
    flagged_title: str = ""
    #: The group caption drawn before the tile ("Group 3 · 42"), or "".
    group_head: str = ""


class LabelerDriver:
    """Does what a user does on a :class:`~jupyter_labeler.widget.Labeler`, and reads what
    they see (see the module's docstring)."""

    def __init__(self, labeler: Labeler) -> None:
        self.labeler = labeler

    # -- the grid ------------------------------------------------------------------------------
    @property
    def visible_ids(self) -> list[str]:
        """The ids of the images on the page, in the order shown."""
        return list(self.labeler.grid.ids)

    @property
    def ticked(self) -> list[str]:
        """The images of this page drawn selected."""
        return list(self.labeler.grid.selected)

    @property
    def selected_count(self) -> int:
        """The count in the selection bar ("3 selected"), for every page."""
        return int(self.labeler.grid.selected_count)

    @property
    def page_info(self) -> str:
        """The pager's words: "page 2 of 5"."""
        grid = self.labeler.grid
        return f"page {grid.page + 1} of {grid.page_count}"

    @property
    def empty_message(self) -> str:
        """What an empty page says instead of tiles."""
        return str(self.labeler.grid.empty_message)

    def tile(self, tile: int | str) -> Tile:
        """What one tile of the page shows."""
        grid = self.labeler.grid
        i = grid.tile_index(tile)
        image_id = grid.ids[i]
        suggested = grid.suggested[i] if i < len(grid.suggested) else []
        flagged = grid.flagged[i] if i < len(grid.flagged) else []
        return Tile(
            flagged=str(flagged[0]) if flagged else "",
            flagged_title=str(flagged[1]) if len(flagged) > 1 else "",
            group_head=grid.group_heads[i] if i < len(grid.group_heads) else "",
            image_id=image_id,
            name=grid.names[i],
            labels=tuple(grid.labels[i]),
            part=grid.parts[i] if i < len(grid.parts) else "",
            error=grid.errors[i],
            thumbnail=bytes(grid.thumbs[i]),
            selected=image_id in grid.selected,
            suggested=tuple((str(n), float(c)) for n, c in suggested),
        )

    def labels_on(self, tile: int | str) -> list[str]:
        """The label chips on one tile."""
        return list(self.tile(tile).labels)

    def suggestions(self) -> dict[str, list[list[Any]]]:
        """The suggested labels drawn on each tile of the page, by image id ([] for none)."""
        grid = self.labeler.grid
        if len(grid.suggested) != len(grid.ids):
            raise AssertionError(
                f"{len(grid.suggested)} tiles of suggestions for {len(grid.ids)} tiles"
            )
        return dict(zip(grid.ids, grid.suggested, strict=True))

    def flagged(self) -> dict[str, str]:
        """The chips of likely wrong labels on the page, by image id ("maybe dogs, 92%"); the
        tiles without one are left out."""
        return {
            t.image_id: t.flagged for t in map(self.tile, range(len(self.visible_ids))) if t.flagged
        }

    def group_heads(self) -> dict[int, str]:
        """The group captions on the page, by the position of the tile they stand before."""
        grid = self.labeler.grid
        return {i: h for i, h in enumerate(grid.group_heads[: len(grid.ids)]) if h}

    def click_tile(self, tile: int | str, *, shift: bool = False) -> None:
        """Click a tile's picture: tick it or untick it; with ``shift``, tick the range from the
        last tile clicked (across pages)."""
        self.labeler.grid.click(tile, shift=shift)

    def double_click(self, tile: int | str) -> None:
        """Open the tile's image in the preview."""
        self.labeler.grid.double_click(tile)

    def select_page(self) -> None:
        """The selection bar's "Select page"."""
        self.labeler.grid.select_page()

    def clear_selection(self) -> None:
        """The selection bar's "Clear"."""
        self.labeler.grid.clear_selection()

    def turn(self, where: str) -> None:
        """A pager button: "first", "prev", "next" or "last"."""
        self.labeler.grid.turn(where)

    def choose_page_size(self, size: int) -> None:
        """The page size menu."""
        self.labeler.grid.choose_page_size(size)

    def press(self, key: str, *, ctrl: bool = False, meta: bool = False, alt: bool = False) -> None:
        """A key pressed while the grid has the keyboard ("a", "Escape", "ArrowRight", "1")."""
        self.labeler.grid.press(key, ctrl=ctrl, meta=meta, alt=alt)

    def upload(self, files: Mapping[str, bytes], *, sent: bool = True) -> None:
        """Files chosen with "Add images…" (name -> bytes). ``sent=False`` is what the browser
        does when they are too many bytes for one upload: it sends their names and sizes only."""
        self.labeler.grid.upload(files, sent=sent)

    @contextlib.contextmanager
    def sent_to_browser(self) -> Iterator[list[tuple[dict[str, Any], list[bytes]]]]:
        """Record what the grid sends its browser side while inside: ``(message, buffers)``
        pairs, a message being ``{"method": "update", "state": ..., "buffer_paths": ...}`` (traits
        changed) or ``{"method": "custom", "content": ...}``."""
        comm = self.labeler.grid.comm
        real = comm.send
        sent: list[tuple[dict[str, Any], list[bytes]]] = []

        def recording(data: Any = None, metadata: Any = None, buffers: Any = None) -> Any:
            sent.append((data, [bytes(b) for b in buffers or ()]))
            return real(data=data, metadata=metadata, buffers=buffers)

        comm.send = recording
        try:
            yield sent
        finally:
            comm.send = real

    def wait_for_pushes(self, timeout: float = 10.0) -> None:
        """Wait until the next page's thumbnails, pushed ahead from a thread, have gone."""
        self.labeler.pusher.submit(lambda: None).result(timeout)

    # -- tabs, filter, counts --------------------------------------------------------------------
    @property
    def tab_titles(self) -> dict[str, str]:
        """The tabs shown, by view, with the counts they show: {"all": "All (31)", ...}."""
        lab = self.labeler
        titles = {view: str(button.description) for view, button in lab.tabs.items()}
        for view, button in lab.team_panel.tabs.items():
            if button.layout.display != "none":
                titles[view] = str(button.description)
        return titles

    @property
    def active_tab(self) -> str | None:
        """The view whose tab is drawn as the current one."""
        return self.labeler.active_tab

    def open_tab(self, view: str) -> None:
        """Click a tab: "unlabeled", "labeled", "all", "mine" or "review"."""
        lab = self.labeler
        tabs = {**lab.tabs, **lab.team_panel.tabs}
        if view not in tabs:
            raise ValueError(f"no tab {view!r}; the tabs are {', '.join(tabs)}")
        tabs[view].click()

    @property
    def filter_options(self) -> list[tuple[str, str]]:
        """The label filter's menu: (what it says, label or "" for all)."""
        return [(str(text), str(value)) for text, value in self.labeler.filter_menu.options]

    def filter_by(self, label: str | None) -> None:
        """Pick a label in the label filter's menu (None: "All labels")."""
        self.labeler.filter_menu.value = label or ""

    @property
    def readiness(self) -> str:
        """The readiness note beside the grid, as text."""
        return _text_of(self.labeler.readiness_html)

    @property
    def others(self) -> str:
        """Who else is here ("Also here: bob on page 2 of All"), as text."""
        return _text_of(self.labeler.others_html)

    # -- the status line -----------------------------------------------------------------------
    @property
    def status_text(self) -> str:
        """The status line as the user reads it."""
        return str(self.labeler.status.text)

    @property
    def status_is_error(self) -> bool:
        """Whether the status line is drawn as an error."""
        return bool(self.labeler.status.shows_error)

    @property
    def last_error(self) -> BaseException | None:
        """The last exception a handler turned into a sentence on the status line."""
        return self.labeler.status.last_error

    def clear_error(self) -> None:
        """Forget the last error (after a test has checked one it provoked)."""
        self.labeler.status.clear_error()

    # -- buttons ---------------------------------------------------------------------------------
    def button(self, name: str) -> Any:
        """One of the Labeler's buttons by its name in :data:`BUTTONS`, to read (``disabled``,
        ``description``, ``tooltip``) or click."""
        lab = self.labeler
        found = {
            "undo": lambda: lab.undo_button,
            "more": lambda: lab.more_menu.button,
            "add images": lambda: lab.add_images_button,
            "delete images": lambda: lab.delete_images_button,
            "split": lambda: lab.split_button,
            "synchronize": lambda: lab.sync_panel.button,
            "ok": lambda: lab.label_box.ok,
            "remove label": lambda: lab.label_box.remove,
            "accept all": lambda: lab.assist.accept_button,
            "more like these": lambda: lab.assist.more_button,
            "compute features": lambda: lab.assist.compute_button,
            "take likely": lambda: lab.quality.take_button,
            "keep label": lambda: lab.quality.keep_button,
            "select group": lambda: lab.quality.select_group_button,
            "accept": lambda: lab.team_panel.accept_button,
            "reject": lambda: lab.team_panel.reject_button,
            "reject them": lambda: lab.team_panel.confirm_button,
            "cancel reject": lambda: lab.team_panel.cancel_button,
            "close upload result": lambda: lab.upload_panel.result.close_button,
            "close sync summary": lambda: lab.sync_panel.summary.close_button,
        }.get(name)
        if found is None:
            raise ValueError(f"no button {name!r}; the buttons are {', '.join(BUTTONS)}")
        return found()

    def click(self, name: str) -> None:
        """Click one of the Labeler's buttons by its name in :data:`BUTTONS`.

        Add images, Synchronize, Split and Delete images live in the More menu: they are
        clicked as they are, whether the menu is open or not ("more" opens and closes it).
        """
        button = self.button(name)
        if name == "more":
            button.value = not button.value  # a toggle: its click is a change of value
            return
        button.click()

    @property
    def menu_open(self) -> bool:
        """Whether the More menu is open."""
        return bool(self.labeler.more_menu.is_open)

    # -- the label box ---------------------------------------------------------------------------
    def type_label(self, text: str) -> None:
        """Type in the label box (what it holds afterwards)."""
        self.labeler.label_box.input.value = text

    def enter_label(self, text: str | None = None) -> None:
        """Enter in the label box, which sends what it holds (``text``, when given, may be ahead
        of what the kernel has heard of the typing)."""
        box = self.labeler.label_box.input
        box.receive({"event": "submit", "value": box.value if text is None else text})

    def label_selection(self, name: str) -> None:
        """Type ``name`` in the label box and press OK: the selected images get it."""
        self.type_label(name)
        self.click("ok")

    @property
    def label_problem(self) -> str:
        """Why the name typed in the label box is refused ("" when it is not)."""
        return _text_of(self.labeler.label_box.problem.value)

    # -- the dialog ------------------------------------------------------------------------------
    @property
    def dialog_open(self) -> bool:
        return bool(self.labeler.dialog.is_open)

    @property
    def dialog_title(self) -> str:
        return _text_of(self.labeler.dialog.title.value)

    @property
    def dialog_message(self) -> str:
        return _text_of(self.labeler.dialog.message.value)

    @property
    def dialog_is_danger(self) -> bool:
        """Whether the open question is drawn as a danger (only deleting is)."""
        return bool(self.labeler.dialog.is_danger)

    @property
    def dialog_warning(self) -> str:
        """The last warning shown before an irreversible choice is carried out ("" if none)."""
        return _text_of(self.labeler.dialog.warning.value)

    @property
    def dialog_choices(self) -> list[str]:
        """The values of the dialog's choices, in order."""
        return list(self.labeler.dialog.choices)

    def choose(self, value: str) -> None:
        """Pick one of the dialog's choices."""
        self.labeler.dialog.choose(value)

    def confirm(self) -> None:
        """The dialog's confirm button (an irreversible choice asks twice)."""
        self.labeler.dialog.confirm.click()

    def cancel(self) -> None:
        """The dialog's Cancel."""
        self.labeler.dialog.cancel.click()

    # -- the preview -----------------------------------------------------------------------------
    @property
    def preview_open(self) -> bool:
        return bool(self.labeler.preview.is_open)

    @property
    def preview_image_id(self) -> str | None:
        """The image the preview shows (None when closed)."""
        return self.labeler.preview.image_id

    @property
    def preview_text(self) -> str:
        """The preview's path, size and labels, as text."""
        return _text_of(self.labeler.preview.info.value)

    @property
    def preview_labels(self) -> list[str]:
        """The labels the preview offers to change or remove."""
        return list(self.labeler.preview.current.options)

    def preview_type(self, text: str) -> None:
        """Type in the preview's label box."""
        self.labeler.preview.input.value = text

    def preview_enter(self, text: str | None = None) -> None:
        """Enter in the preview's label box: adds the label typed to the image shown."""
        box = self.labeler.preview.input
        box.receive({"event": "submit", "value": box.value if text is None else text})

    def preview_escape(self) -> None:
        """Esc in the preview's label box: closes the preview."""
        self.labeler.preview.input.receive({"event": "cancel"})

    def preview_click(self, name: str) -> None:
        """One of the preview's buttons by its name in :data:`PREVIEW_BUTTONS`."""
        preview = self.labeler.preview
        found = {
            "add": preview.add,
            "change": preview.change,
            "remove": preview.remove,
            "previous": preview.previous,
            "next": preview.next,
            "close": preview.close_button,
        }.get(name)
        if found is None:
            raise ValueError(f"no preview button {name!r}; they are {', '.join(PREVIEW_BUTTONS)}")
        found.click()

    # -- All Labels ------------------------------------------------------------------------------
    @property
    def label_rows(self) -> list[dict[str, Any]]:
        """All Labels, one ``{"name", "count", "key"}`` a row."""
        return list(self.labeler.labels_pane.rows)

    def type_rename(self, label: str, text: str) -> None:
        """Type a new name in a row of All Labels."""
        self.labeler.labels_pane.receive({"event": "typed", "name": label, "text": text})

    def rename_label(self, label: str, text: str) -> None:
        """A row's Rename, with ``text`` typed (a name already taken asks before merging)."""
        self.labeler.labels_pane.receive({"event": "rename", "name": label, "text": text})

    def delete_label(self, label: str) -> None:
        """A row's Delete: opens the dialog that asks how."""
        self.labeler.labels_pane.receive({"event": "delete", "name": label})

    # -- uploads and synchronizing ---------------------------------------------------------------
    @property
    def upload_result(self) -> str:
        """The outcome of the last upload, as text ("" when closed)."""
        return _text_of(self.labeler.upload_panel.result.value)

    @property
    def sync_summary(self) -> str:
        """The outcome of the last synchronization, as text ("" when closed)."""
        return _text_of(self.labeler.sync_panel.summary.value)

    # -- assisted labeling -----------------------------------------------------------------------
    def switch_suggest(self, on: bool = True) -> None:
        """The Suggest switch."""
        self.labeler.assist.suggest_switch.value = bool(on)

    def choose_order(self, order: str) -> None:
        """The Order menu: "file", "uncertain", "suggested", "similar", "wrong" (likely wrong
        labels first) or "group" (by group)."""
        self.labeler.assist.order_menu.value = order

    @property
    def order_choices(self) -> list[str]:
        """The Order menu's choices as it says them."""
        return [str(text) for text, _value in self.labeler.assist.order_menu.options]

    def wait_for_background(self, timeout: float = 60.0) -> None:
        """Wait until features, suggestions, likely wrong labels and groups computed in the
        background are done (AssertionError on timeout)."""
        lab = self.labeler
        if not (lab.assist.wait(timeout) and lab.quality.wait(timeout)):
            raise AssertionError(f"the background work did not finish in {timeout} s")

    @property
    def assist_note(self) -> str:
        """Why there is nothing to accept, beside the Accept button ("" when there is)."""
        return _text_of(self.labeler.assist.note_html)

    # -- the team's tabs -------------------------------------------------------------------------
    @property
    def team_notes(self) -> str:
        """The line under the team tabs (why images came back, what waits for another
        reviewer), as text; "" when hidden."""
        notes = self.labeler.team_panel.notes
        return "" if notes.layout.display == "none" else _text_of(notes.value)

    @property
    def review_bar_shown(self) -> bool:
        """Whether Accept and Reject are shown (on the Review tab)."""
        return bool(self.labeler.team_panel.box.layout.display != "none")

    @property
    def asking_reason(self) -> bool:
        """Whether the box asking why images are rejected is open."""
        return bool(self.labeler.team_panel.asking)

    @property
    def reason_typed(self) -> str:
        return str(self.labeler.team_panel.reason.value)

    def type_reason(self, text: str) -> None:
        """Type a reason, as the box sends it when it loses the keyboard."""
        self.labeler.team_panel.reason.receive({"event": "typed", "value": text})

    def enter_reason(self, text: str) -> None:
        """Enter in the reason box, with what it holds: rejects the selected images."""
        self.labeler.team_panel.reason.receive({"event": "submit", "value": text})

    def escape_reason(self) -> None:
        """Esc in the reason box: it closes, nothing is rejected."""
        self.labeler.team_panel.reason.receive({"event": "cancel"})
