"""The Labeler: the ModelArts "Label Data" page as one notebook widget.

The Labeler holds no labels of its own. It asks the :class:`~jupyter_labeler.dataset.Dataset` what
to show, calls it for every action, and re-renders when the Dataset says something changed.
Everything a button does is a Dataset method a notebook user can also call.

This module keeps the traits, the building of the parts and the selection; each part gets what
it needs as callbacks: the pages (:mod:`.pages`), the actions and their dialogs (:mod:`.actions`),
everything shown beside the page (:mod:`.summary`), the keys (:mod:`.keys`), assisted labeling
(:mod:`.assist`) and likely wrong labels and groups (:mod:`.quality`).

``selected`` holds image ids (derived from the images' paths); ``dataset.paths_of`` gives the
paths:

>>> from jupyter_labeler.widget import label
>>> labeler = label("flowers/")          # doctest: +SKIP
>>> labeler.view = "all"; labeler.page = 2  # doctest: +SKIP
>>> labeler.selected                     # doctest: +SKIP
('a941828a144f6e3b', ...)
>>> labeler.dataset.paths_of(labeler.selected)  # doctest: +SKIP
{'a941828a144f6e3b': 'rose_01.jpg', ...}
"""

from __future__ import annotations

import contextlib
import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ipywidgets as widgets
import traitlets

from ..results import Change
from . import keys as keymap
from .actions import ActionCallbacks, Actions
from .assist import Assist, AssistCallbacks
from .closing import close_widgets
from .dialogs import ChoiceDialog
from .grid import GridCallbacks, ImageGrid
from .label_box import LabelBox
from .labels_pane import LabelsPane
from .menu import MoreMenu
from .pages import PageCallbacks, Pages, Where, thumbnail_bytes
from .preview import Preview
from .quality import Quality, QualityCallbacks
from .review import TEAM_VIEWS, TeamPanel
from .status import StatusLine
from .summary import Summary, SummaryCallbacks
from .tabs import is_marked
from .traits import classes, one_of
from .upload import SyncPanel, UploadPanel

__all__ = ["PAGE_SIZES", "VIEWS", "Labeler", "label"]

VIEWS = ("unlabeled", "labeled", "all")
PAGE_SIZES = (12, 24, 48, 96)
# Seconds between showing a page and starting to make the next page's thumbnails (read at each
# page drawn, so that a change applies to the Labelers shown).
PREFETCH_DELAY = 0.3
_WIDGET_OPTIONS = ("view", "label_filter", "page_size", "page")  # page last: the others reset it
_OPEN_OPTIONS = ("output", "storage_options", "author")
#: What the status line says when an action needs selected images and there are none.
SELECT_FIRST = "Select images first: click a tile, or press a in the grid to select the page."
# How often a displayed Labeler applies other annotators' actions, by default (seconds).
FOLLOW_EVERY = 3.0
# The keys hint under the grid: the key and one or two words for each action.
_HINT_WORDS = {
    "label": "label",
    "previous_page": "page",
    "select_page": "select page",
    "clear_selection": "clear",
    "undo": "undo",
    "accept_suggestions": "accept suggestion",
    "take_likely": "take likely",
    "keep_label": "keep label",
    "select_group": "select group",
    "delete_images": "delete",
    "accept": "accept",
    "reject": "reject",
}
_HINT_KEYS = {"label": "1-9", "previous_page": "← →", "delete_images": "Del"}


def keys_hint(view: str, order: str = "file") -> str:
    """The grid's keys on one short line, only those that act in ``view`` and ``order``."""
    words = [
        f"{_HINT_KEYS.get(s.action, s.shown or s.keys[0])} {_HINT_WORDS[s.action]}"
        for s in keymap.KEYS
        if s.action in _HINT_WORDS and s.view in ("", view) and s.order in ("", order)
    ]
    return " · ".join(words)


def _open_dataset(source: Any, **open_options: Any) -> Any:
    from ..dataset import Dataset  # the model; imported late so the widget module loads alone

    return Dataset.open(source, **open_options)


class Labeler(widgets.VBox):
    """Label images for image classification, page by page, in a notebook.

    ``Labeler(dataset_or_source, **options)`` takes a :class:`~jupyter_labeler.dataset.Dataset`
    or anything :meth:`Dataset.open` takes (a folder, ``file://``, ``memory://``, ``s3://`` or
    ``obs://`` URL). Options: the traits below (``view``, ``page``, ``page_size``,
    ``label_filter``) and, with a source, ``Dataset.open``'s ``output``, ``storage_options`` and
    ``author``.

    The traits can be read, set and observed from notebook code; ``dataset`` is the model, and
    ``assist`` the assisted labeling (suggestions, accepting them, the grid's order; see
    :class:`~jupyter_labeler.widget.assist.Assist`), ``quality`` the likely wrong labels and
    the groups (see :class:`~jupyter_labeler.widget.quality.Quality`).
    """

    view = traitlets.Unicode(
        "unlabeled",
        help="Which images the grid shows: 'unlabeled', 'labeled' or 'all'.",
    )
    page = traitlets.Int(
        0, help="The page shown, 0-based; clamped to the pages that exist (0 when empty)."
    )
    page_size = traitlets.Int(48, help="Images per page: 12, 24, 48 or 96.")
    selected = traitlets.Tuple(
        (),
        help="Ids of the selected images, in the order they were selected. Survives page turns; "
        "a change of tab, of label filter or of the images keeps only the selected images the "
        "view still shows, so that the count and every action are about images one can see.",
    )
    label_filter = traitlets.Unicode(
        None,
        allow_none=True,
        help="Show only images carrying this label (an existing label name), or None for all. "
        "Setting a label while the Unlabeled view is shown switches to Labeled.",
    )

    # The parts that callbacks made before them refer to (made in _build).
    _grid: ImageGrid
    _pages: Pages
    _summary: Summary
    _upload: UploadPanel
    assist: Assist
    quality: Quality

    def __init__(self, dataset_or_source: Any, **options: Any) -> None:
        # Until fully built, close() (also run by Widget.__del__) must not touch missing parts.
        self._closed = True
        follow = options.pop("follow", True)
        unknown = set(options) - set(_WIDGET_OPTIONS) - set(_OPEN_OPTIONS)
        if unknown:
            allowed = ", ".join((*_WIDGET_OPTIONS, *_OPEN_OPTIONS, "follow"))
            raise TypeError(f"unknown option(s) {sorted(unknown)}; allowed: {allowed}")
        open_options = {k: options.pop(k) for k in _OPEN_OPTIONS if k in options}
        if isinstance(dataset_or_source, str | bytes) or hasattr(dataset_or_source, "__fspath__"):
            dataset = _open_dataset(dataset_or_source, **open_options)
        elif open_options:
            raise TypeError(f"{sorted(open_options)} only apply when a source is given to open")
        else:
            dataset = dataset_or_source
        self.dataset = dataset
        self._anchor: str | None = None  # the tile clicked last, where a shift-click range starts
        self._started_following = False

        self._status = StatusLine()
        self._build(self._status.guard)
        super().__init__(children=self._layout_children(), **classes("jl-labeler"))
        self._closed = False

        self._unobserve = dataset.observe(self._dataset_changed)
        try:
            with self._pages.batch(force=True):
                self._summary.refresh()
                for name in _WIDGET_OPTIONS:
                    if name in options:
                        setattr(self, name, options[name])
        except Exception:
            self.close()  # a bad option: leave no widgets or observer behind
            raise
        self._summary.show_save_status()
        self._start_following(follow)

    def _start_following(self, follow: Any) -> None:
        """Follow other annotators: True (every 3 s), a number of seconds, or False / None."""
        if follow is True:
            follow = FOLLOW_EVERY
        if follow is False or follow is None:
            return
        if isinstance(follow, bool) or not isinstance(follow, int | float) or follow <= 0:
            self.close()
            raise TypeError(f"follow must be True, False or a number of seconds, not {follow!r}")
        if not self.dataset.following:
            self.dataset.follow(float(follow))
            self._started_following = True

    # -- building --------------------------------------------------------------------------
    def _build(self, guard: Any) -> None:
        ds = self.dataset
        self._actions = Actions(
            ds,
            self._status,
            ActionCallbacks(
                selected=lambda: self.selected,
                need_selection=self._need_selection,
                show_overlay=self._show_overlay,
                show_undo=lambda irreversible: self._summary.show_undo(irreversible=irreversible),
                label_filter=lambda: self.label_filter,
                set_label_filter=functools.partial(setattr, self, "label_filter"),
                ids=self._view_ids,
                position=self._position,
                show_image=self._show_image,
                thumb_px=lambda: self._pages.thumb_px,
            ),
        )
        self._team = TeamPanel(
            self._tab_clicked, self._review_selection, guard, lambda: self._grid.focus()
        )
        self._delete_images, self._split = self._actions.delete_images, self._actions.split
        self._label_box = LabelBox(self._add_to_selection, self._remove_from_selection, guard)
        self._grid = ImageGrid(
            GridCallbacks(
                click=guard(self._tile_click),
                open=guard(self._tile_open),
                select_page=guard(self.select_page),
                clear=guard(self.clear_selection),
                page=guard(self._turn),
                page_size=guard(self._page_size_chosen),
                key=self._handle_key,
                settings=guard(lambda: self._request_render(force=True)),
                upload=guard(
                    lambda names, sizes, buffers: self._upload.receive(
                        names, sizes, buffers, self._grid.upload_limit
                    )
                ),
                thumbnails=functools.partial(thumbnail_bytes, ds),
                drawn=guard(lambda token: self._pages.page_drawn(token)),
            ),
            page_sizes=list(PAGE_SIZES),
            key_names=[key for shortcut in keymap.KEYS for key in shortcut.keys],
            key_help=keys_hint(self.view),
        )
        self._pages = Pages(
            ds,
            self._grid,
            PageCallbacks(
                where=lambda: Where(self.view, self.label_filter, self.page, self.page_size),
                ids=lambda fresh: self._view_ids(fresh=fresh),
                selected=lambda: self.selected,
                go_to=functools.partial(setattr, self, "page"),
                decorate=self._decorate,
                rendered=self._page_shown,
                prefetch_delay=lambda: PREFETCH_DELAY,
            ),
        )
        self._pusher = self._pages.pusher
        self._upload = UploadPanel(self._actions.add_files, guard)
        self._sync = SyncPanel(self._actions.run_sync, guard)
        self._labels = LabelsPane(self._actions.rename_label, self.ask_delete_label, guard)
        self.quality = Quality(
            ds,
            self._grid,
            self._status,
            QualityCallbacks(
                view=lambda: self.view,
                label_filter=lambda: self.label_filter,
                order=lambda: self.assist.order,
                selected=lambda: self.selected,
                current=lambda: self._anchor,
                page_ids=lambda: self._pages.page_ids,
                page_start=lambda: self.page * self.page_size,
                view_ids=self._view_ids,
                select=self._select,
                labeled=self._labeled,
                first_page=self._first_page,
                open_view=self._tab_clicked,
            ),
        )
        self.assist = Assist(
            ds,
            self._grid,
            self._status,
            AssistCallbacks(
                view=lambda: self.view,
                label_filter=lambda: self.label_filter,
                selected=lambda: self.selected,
                need_selection=self._need_selection,
                labeled=self._labeled,
                first_page=self._first_page,
            ),
            self.quality,
        )
        summary = self._summary = Summary(
            ds,
            self._status,
            self._team,
            self._label_box,
            self._labels,
            SummaryCallbacks(
                where=lambda: (self.view, self.label_filter),
                tab=self._tab_clicked,
                label_filter=functools.partial(setattr, self, "label_filter"),
                undo=self.undo,
            ),
        )
        self._tabs, self._filter, self._undo = summary.tabs, summary.label_filter, summary.undo
        self._readiness, self._others = summary.readiness, summary.others
        self._keys = keymap.KeyActions(
            label=self.add_label_by_position,
            turn=self._turn,
            select_page=self.select_page,
            clear_selection=self._escape,
            undo=self.undo,
            accept_suggestions=lambda: self.assist.accept_selected(),
            take_likely=self.quality.take_likely,
            keep_label=self.quality.keep_label,
            select_group=self.quality.select_group,
            delete_images=self.ask_delete_images,
            accept=self._team.accept,
            reject=self._team.ask_reject,
        )
        self._add_images = widgets.Button(
            description="Add images…",
            icon="upload",
            tooltip="Upload JPG, JPEG, PNG or BMP files: at most 5 MB an image and 8 MB at once",
            **classes("jl-upload"),
        )
        self._add_images.on_click(guard(lambda _b: self._grid.pick_files()))
        self._delete_images.button_style = "danger"
        self._menu = MoreMenu(
            [self._add_images, self._sync.button, self._split, self._delete_images]
        )
        self._parts_to_close = [self._status.widget, self._add_images]

    def _layout_children(self) -> tuple[widgets.Widget, ...]:
        """Two rows of controls, then the grid beside All Labels (see ``static/grid.css``).

        The first row: the tabs, the label filter, the label box, Undo and the More menu. The
        second: the grid's selection bar, pager and sizes, the assist controls and the status
        line, which the grid's element shares with its siblings; then the tiles take the rest.
        The rows wrap when the notebook is narrow, and All Labels goes under the grid.
        """
        gap = widgets.Box(**classes("jl-toolbar-gap"))
        top = widgets.HBox(
            [
                *self._tabs.values(),
                *self._team.tabs.values(),
                gap,
                self._filter,
                self._label_box.box,
                self._undo,
                self._sync.progress,
                self._menu.box,
            ],
            **classes("jl-toolbar"),
        )
        messages = widgets.VBox([self._upload.result.box, self._sync.summary.box])
        # The grid scrolls inside a box of bounded height, so the rows above it and the
        # All Labels pane beside it stay in view; the preview and dialogs open over the grid.
        grid_area = self._grid_area = widgets.Box(
            [self._grid, self.assist.box, self._status.widget], **classes("jl-main-area")
        )
        side = widgets.VBox([self._labels.box, self._readiness], **classes("jl-side"))
        main = widgets.Box([grid_area, side], **classes("jl-main"))
        self._parts_to_close += [gap, top, messages, grid_area, side, main]
        return (top, self._team.box, self._team.notes, self._others, messages, main)

    def _page_shown(self) -> None:
        """A page of the view is drawn: its tab is the current one, and the keys hint lists
        the keys of this view."""
        self._summary.show_view()
        hint = keys_hint(self.view, self.assist.order)
        if self._grid.key_help != hint:
            self._grid.key_help = hint

    @property
    def _dialog(self) -> ChoiceDialog:
        return self._actions.dialog

    @property
    def _preview(self) -> Preview:
        return self._actions.preview

    def _show_overlay(self, box: widgets.Widget, first: bool) -> None:
        """Put a dialog (first) or the preview (just above the grid) over the grid."""

        def changed(_change: Any) -> None:
            self._grid.overlay_open = self._actions.overlay_open

        box.layout.observe(changed, "display")
        children = list(self._grid_area.children)
        children.insert(0 if first else len(children) - 1, box)
        self._grid_area.children = tuple(children)

    # -- trait validation and reactions ------------------------------------------------------
    @traitlets.validate("view")
    def _validate_view(self, proposal: Any) -> str:
        def clean(value: Any) -> Any:
            return value.strip().lower() if isinstance(value, str) else value

        return str(one_of("view", proposal["value"], (*VIEWS, *TEAM_VIEWS), clean=clean))

    @traitlets.validate("page_size")
    def _validate_page_size(self, proposal: Any) -> int:
        return int(one_of("page_size", proposal["value"], PAGE_SIZES))

    @traitlets.validate("page")
    def _validate_page(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if getattr(self, "dataset", None) is None:
            return max(0, value)
        return min(max(0, value), self.page_count - 1)

    @traitlets.validate("selected")
    def _validate_selected(self, proposal: Any) -> tuple[str, ...]:
        value = proposal["value"]
        if isinstance(value, str):
            raise traitlets.TraitError("selected must be a tuple of image ids, not one string")
        cleaned = tuple(dict.fromkeys(str(v) for v in value))
        if cleaned and getattr(self, "dataset", None) is not None:
            # Asked of the Dataset's id index: `in` on a view's pandas Index would hash every
            # id of the view again after each change (seconds at a million images).
            missing = self.dataset.unknown_ids(cleaned)
            if missing:
                shown = ", ".join(map(repr, missing[:5]))
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise traitlets.TraitError(
                    f"selected must hold ids of images in the dataset; unknown: {shown}{more}"
                )
        return cleaned

    @traitlets.validate("label_filter")
    def _validate_label_filter(self, proposal: Any) -> str | None:
        value = proposal["value"]
        if value is None or value == "":
            return None
        names = list(self.dataset.label_names)
        if value not in names:
            shown = ", ".join(map(repr, names[:10])) or "none yet"
            raise traitlets.TraitError(
                f"label_filter must be None or an existing label ({shown}), not {value!r}"
            )
        return value

    @traitlets.observe("view")
    def _view_changed(self, change: Any) -> None:
        with self._pages.batch():
            self._keep_shown()
            self.page = 0
            self.quality.view_changed(change["new"])
            self._request_render()

    @traitlets.observe("page")
    def _page_changed(self, _change: Any) -> None:
        self._request_render()

    @traitlets.observe("page_size")
    def _page_size_changed(self, change: Any) -> None:
        with self._pages.batch():
            first = (self.page or 0) * change["old"]
            self._grid.page_size = change["new"]
            self.page = first // change["new"]
            self._request_render()

    @traitlets.observe("selected")
    def _selected_changed(self, _change: Any) -> None:
        n = len(self.selected)
        self._grid.update_selection(frozenset(self.selected), n)
        self._label_box.set_selected_count(n)
        self._delete_images.disabled = n == 0
        self.assist.selection_changed(self.selected)

    @traitlets.observe("label_filter")
    def _label_filter_changed(self, change: Any) -> None:
        with self._pages.batch():
            self._summary.show_filter(change["new"])
            if change["new"] is not None and self.view == "unlabeled":
                self.view = "labeled"
            self._keep_shown()
            self.page = 0
            self._request_render()

    # -- pages ---------------------------------------------------------------------------------
    def _request_render(self, *, force: bool = False) -> None:
        self._pages.request_render(force=force)

    def _view_ids(self, *, fresh: bool = False) -> Any:
        """The view's ids in the grid's order (``fresh``: when drawing, take a new ranking)."""
        base = self.dataset.ids(self.view, label=self.label_filter)
        return self.assist.order_ids(base, fresh=fresh)

    def _position(self, image_id: str) -> int | None:
        """Where ``image_id`` stands in the grid's order, or None when the view lacks it."""
        return self.assist.position(image_id, self._view_ids())

    @property
    def page_count(self) -> int:
        """How many pages the current view has (1 when it is empty)."""
        return max(1, math.ceil(len(self._view_ids()) / self.page_size))

    def _turn(self, where: str) -> None:
        last = self.page_count - 1
        self.page = {
            "first": 0,
            "prev": max(0, self.page - 1),
            "next": min(last, self.page + 1),
            "last": last,
        }[where]

    def _decorate(self, ids: list[str], labels: list[list[str]]) -> None:
        """Put the page's suggestions, suspect chips and group captions on its tiles."""
        self.assist.decorate(ids, labels)
        self.quality.decorate(ids, labels)

    def _select(self, ids: Any) -> None:
        """Make these images the selection (Select group)."""
        self.selected = tuple(ids)

    def _first_page(self) -> None:
        """Show the first page again (the grid's order changed)."""
        with self._pages.batch():
            self.page = 0
            self._request_render()

    def _show_image(self, image_id: str, view: str | None) -> None:
        """Turn to the page holding this image; with a view, in that view (no label filter)."""
        with self._pages.batch():
            if view is not None:
                self.label_filter = None
                self.view = view
            position = self._position(image_id)
            if position is not None:
                self.page = position // self.page_size

    def _tab_clicked(self, view: str) -> None:
        with self._pages.batch():
            if view == "unlabeled":
                # Unlabeled images carry no label: a label filter would leave the tab empty.
                self.label_filter = None
            self.view = view

    def _page_size_chosen(self, size: int) -> None:
        self.page_size = size

    def _handle_key(self, event: dict[str, Any]) -> None:
        """The grid's keydown handler (test hook too): see :mod:`.keys` for the table."""
        with self._status.reporting():
            keymap.handle(event, self.view, self._keys)

    def _escape(self) -> None:
        """Esc closes the preview or a dialog first; only then does it clear the selection."""
        if not self._actions.close_overlay():
            self.clear_selection()

    # -- Dataset notifications ---------------------------------------------------------------
    def _dataset_changed(self, change: Change) -> None:
        if self._closed or self._summary.show_change(change):
            return
        kind = change.kind
        with self._status.reporting(), self._pages.batch():
            # Fetch the page's thumbnails again only when its images themselves may have changed;
            # a label change only redraws the chips.
            force = kind in ("reload", "images") and (
                change.ids is None or not change.ids.isdisjoint(self._pages.page_ids)
            )
            if kind in ("images", "reload"):
                self._grid.forget_sent()  # a file may have changed under its id
                self._drop_vanished()
            if self.label_filter is not None and self.label_filter not in self.dataset.label_names:
                self.label_filter = None
            self._keep_shown()
            self._summary.refresh()
            self._actions.refresh_preview()
            self._request_render(force=force)
            self._summary.show_activity()

    # -- selection ---------------------------------------------------------------------------
    def _set_selected(self, image_id: str, on: bool) -> None:
        if on and image_id not in self.selected:
            self.selected = (*self.selected, image_id)
        elif not on and image_id in self.selected:
            self.selected = tuple(i for i in self.selected if i != image_id)

    def _tile_click(self, index: int, shift: bool = False) -> None:
        """A click on a tile's image: toggle it, or with shift select the range from the last
        clicked tile, in the current view's order, across pages."""
        image_id = self._grid.id_at(index)
        if image_id is None:
            return
        if shift and self._anchor is not None and self._anchor != image_id:
            a = self._position(self._anchor)
            b = self._position(image_id)
            if a is not None and b is not None:
                low, high = min(a, b), max(a, b)
                span = [str(i) for i in self._view_ids()[low : high + 1]]
                have = set(self.selected)
                self.selected = (*self.selected, *(i for i in span if i not in have))
                return
        self._anchor = image_id
        self._set_selected(image_id, image_id not in self.selected)

    def _tile_open(self, index: int) -> None:
        """Double-click on a tile or its open button: show the large preview."""
        image_id = self._grid.id_at(index)
        if image_id is not None:
            self.open_image(image_id)

    def select_page(self) -> None:
        """Add every image of the current page to the selection."""
        have = set(self.selected)
        self.selected = (*self.selected, *(i for i in self._pages.page_ids if i not in have))

    def clear_selection(self) -> None:
        self.selected = ()

    def _need_selection(self) -> bool:
        if not self.selected:
            self._status.info(SELECT_FIRST)
            return False
        return True

    def _keep_shown(self) -> None:
        """Keep only the selected images the view shows: a selection one cannot see would
        silently receive the next label, or be deleted with the images one can."""
        if self.selected and getattr(self, "dataset", None) is not None:
            shown = self.dataset.in_view(self.selected, self.view, self.label_filter)
            if not shown.all():
                self.selected = tuple(
                    i for i, keep in zip(self.selected, shown, strict=True) if keep
                )

    def _labeled(self, result: Any) -> None:
        """Say the outcome of labeling the selection, then drop selected images that left the
        view (see :meth:`_keep_shown`)."""
        self._actions.done(result)
        self._keep_shown()

    def _add_to_selection(self, name: str) -> None:
        if self._need_selection():
            self._labeled(self.dataset.add_label(name, list(self.selected)))

    def _remove_from_selection(self, name: str) -> None:
        if self._need_selection():
            self._labeled(self.dataset.remove_label(name, list(self.selected)))

    def _review_selection(self, accept: bool, reason: str | None) -> None:
        """Accept or reject the selected images (the Review tab's buttons and keys)."""
        if self._need_selection():
            self._labeled(self.dataset.review(list(self.selected), accept=accept, reason=reason))

    def add_label_by_position(self, position: int) -> None:
        """Add the label at ``position`` (0-based) of All Labels to the selection."""
        names = list(self.dataset.label_names)
        if position >= len(names):
            self._status.info(
                f"There is no label number {position + 1}: All Labels has {len(names)}."
            )
            return
        self._add_to_selection(names[position])

    def _drop_vanished(self) -> None:
        if self.selected:
            missing = set(self.dataset.unknown_ids(self.selected))
            if missing:
                self.selected = tuple(i for i in self.selected if i not in missing)
        if self._anchor is not None and self.dataset.unknown_ids([self._anchor]):
            self._anchor = None

    # -- actions (see .actions) ----------------------------------------------------------------
    def undo(self) -> None:
        """Undo the Dataset's last action."""
        self._actions.undo()

    def ask_split(self) -> None:
        """Ask how to split the labeled images into parts, then split (see Dataset.split)."""
        self._actions.ask_split()

    def ask_delete_label(self, name: str) -> None:
        """Open the dialog that deletes a label (three choices, as on ModelArts)."""
        self._actions.ask_delete_label(name)

    def ask_delete_images(self) -> None:
        """Open the dialog that deletes the selected images."""
        self._actions.ask_delete_images()

    def open_image(self, image_id: str) -> None:
        """Show one image larger, with its path, size and labels."""
        self._actions.open_image(image_id)

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop observing the Dataset and close every widget of the Labeler."""
        if getattr(self, "_closed", True):
            super().close()
            return
        self._closed = True
        if self._started_following:
            self.dataset.follow(None)
        self._pages.close()
        with contextlib.suppress(Exception):
            self._unobserve()
        for part in (
            self.assist,
            self.quality,
            self._label_box,
            self._actions,
            self._upload,
            self._sync,
            self._labels,
            self._team,
            self._summary,
            self._menu,
        ):
            part.close()
        close_widgets(self._grid, *self._parts_to_close, self.layout)
        super().close()

    # -- its parts, for notebook code and tests (see jupyter_labeler.testing) -----------------
    @property
    def grid(self) -> ImageGrid:
        """The image grid: the page's tiles, the selection bar, the pager, Add images."""
        return self._grid

    @property
    def status(self) -> StatusLine:
        """The status line: saved or not, a background task's progress, the last message."""
        return self._status

    @property
    def label_box(self) -> LabelBox:
        """The label box: a name (new or existing), OK, and Remove label."""
        return self._label_box

    @property
    def dialog(self) -> ChoiceDialog:
        """The dialog that asks before a delete, a split or a merge (made, hidden, when first
        asked for)."""
        return self._dialog

    @property
    def preview(self) -> Preview:
        """One image shown larger, with its labels (made, hidden, when first asked for)."""
        return self._preview

    @property
    def upload_panel(self) -> UploadPanel:
        """The outcome of the last upload (the grid's "Add images…" sends the files)."""
        return self._upload

    @property
    def add_images_button(self) -> widgets.Button:
        """Add images…: opens the browser's file picker (in the More menu)."""
        return self._add_images

    @property
    def more_menu(self) -> MoreMenu:
        """The More menu: Add images, Synchronize, Split and Delete images."""
        return self._menu

    @property
    def sync_panel(self) -> SyncPanel:
        """Synchronize: its button, progress bar and summary."""
        return self._sync

    @property
    def team_panel(self) -> TeamPanel:
        """The Mine and Review tabs, the Accept / Reject bar, and why images came back."""
        return self._team

    @property
    def tabs(self) -> dict[str, widgets.Button]:
        """The Unlabeled, Labeled and All tabs by view (the team's are ``team_panel.tabs``)."""
        return dict(self._tabs)

    @property
    def active_tab(self) -> str | None:
        """The view whose tab is drawn as the current one."""
        for view, button in {**self._tabs, **self._team.tabs}.items():
            if is_marked(button):
                return view
        return None

    @property
    def labels_pane(self) -> LabelsPane:
        """All Labels: every label with its image count, Rename and Delete."""
        return self._labels

    @property
    def filter_menu(self) -> widgets.Dropdown:
        """The label filter: "All labels" or one label, each with its count."""
        return self._filter

    @property
    def undo_button(self) -> widgets.Button:
        """Undo, whose tooltip names the action it takes back."""
        return self._undo

    @property
    def delete_images_button(self) -> widgets.Button:
        """Delete images: asks how, for the selected images."""
        return self._delete_images

    @property
    def split_button(self) -> widgets.Button:
        """Split: asks how to share the labeled images between train, eval and test."""
        return self._split

    @property
    def readiness_html(self) -> str:
        """Whether the labels are ready for training, and if not why, as HTML."""
        return str(self._readiness.value)

    @property
    def others_html(self) -> str:
        """Who else has this dataset open, and where, as HTML ("" when nobody)."""
        return str(self._others.value)

    @property
    def thumbnail_px(self) -> int:
        """The side in pixels of the thumbnails sent, for the tile size, screen and page size."""
        return self._pages.thumb_px

    @property
    def pusher(self) -> ThreadPoolExecutor:
        """The thread that pushes the next page's thumbnails ahead (``pusher.submit(lambda:
        None).result()`` waits until what it was given has gone)."""
        return self._pages.pusher


def label(source: Any, **options: Any) -> Labeler:
    """Open the dataset at ``source`` and return a :class:`Labeler` for it.

    ``source`` is a folder, a ``file://``, ``memory://``, ``s3://`` or ``obs://`` URL, or a
    ``Dataset``. Options are ``Labeler``'s: ``view``, ``page``, ``page_size``, ``label_filter``,
    and ``Dataset.open``'s ``output``, ``storage_options`` and ``author``.

    >>> from jupyter_labeler.widget import label
    >>> label("obs://my-bucket/flowers", output="obs://my-bucket/labels")  # doctest: +SKIP
    """
    return Labeler(source, **options)
