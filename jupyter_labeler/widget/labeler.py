"""The Labeler: the ModelArts "Label Data" page as one notebook widget.

The Labeler holds no labels of its own. It asks the :class:`~jupyter_labeler.dataset.Dataset` what
to show, calls it for every action, and re-renders when the Dataset says something changed.
Everything a button does is a Dataset method a notebook user can also call.

>>> from jupyter_labeler.widget import label
>>> labeler = label("flowers/")          # doctest: +SKIP
>>> labeler.view = "all"; labeler.page = 2  # doctest: +SKIP
>>> labeler.selected                     # ids, derived from the images' paths  # doctest: +SKIP
('a941828a144f6e3b', ...)
>>> labeler.dataset.paths_of(labeler.selected)  # doctest: +SKIP
{'a941828a144f6e3b': 'rose_01.jpg', ...}
"""

from __future__ import annotations

import contextlib
import html
import math
import posixpath
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import LabelerError
from ..results import Change
from ..words import plural
from . import keys as keymap
from .assist import Assist, AssistCallbacks
from .closing import close_widgets
from .dialogs import Choice, ChoiceDialog
from .grid import GridCallbacks, ImageGrid, thumbnail_px
from .label_box import LabelBox
from .labels_pane import LabelsPane
from .preview import Preview
from .review import TEAM_VIEWS, TeamPanel
from .status import StatusLine
from .traits import Quiet, one_of
from .upload import SyncPanel, UploadPanel

__all__ = ["PAGE_SIZES", "VIEWS", "Labeler", "label"]

VIEWS = ("unlabeled", "labeled", "all")
PAGE_SIZES = (12, 24, 48, 96)
# The splits the Split button offers: "eval share/test share" -> what it says.
SPLITS = {
    "0.2/0.0": "80% train, 20% eval",
    "0.2/0.1": "70% train, 20% eval, 10% test",
    "0.1/0.0": "90% train, 10% eval",
}
# Seconds between showing a page and starting to make the next page's thumbnails.
PREFETCH_DELAY = 0.3
_VIEW_TITLES = {"unlabeled": "Unlabeled", "labeled": "Labeled", "all": "All"}
_WIDGET_OPTIONS = ("view", "label_filter", "page_size", "page")  # page last: the others reset it
_OPEN_OPTIONS = ("output", "storage_options", "author")
# How often a displayed Labeler applies other annotators' actions, by default (seconds).
FOLLOW_EVERY = 3.0

DELETE_LABEL_CHOICES = (
    Choice("Delete the label only", "label_only"),
    Choice(
        "Delete the label and the images that carry only this label (keep the source files)",
        "with_images",
    ),
    Choice(
        "Delete the label and the images that carry only this label, and their source files",
        "with_images_and_files",
        irreversible=True,
    ),
)
DELETE_IMAGES_CHOICES = (
    Choice("Remove them from the dataset only (keep the source files)", "dataset_only"),
    Choice("Also delete the source files", "with_files", irreversible=True),
)


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
    :class:`~jupyter_labeler.widget.assist.Assist`).
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
        help="Ids of the selected images, in the order they were selected. Survives page turns "
        "and view changes; ids of images that leave the dataset are dropped.",
    )
    label_filter = traitlets.Unicode(
        None,
        allow_none=True,
        help="Show only images carrying this label (an existing label name), or None for all. "
        "Setting a label while the Unlabeled view is shown switches to Labeled.",
    )

    # The parts that callbacks made before them refer to (made in _build).
    _grid: ImageGrid
    _upload: UploadPanel

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
        # One thread draws at a time (the kernel's, the suggestions' and the follower's all do):
        # a page worked out from an older ranking must never be sent after a newer one.
        self._drawing = threading.RLock()
        self._hold = 0
        self._dirty = False
        self._force = False
        self._quiet = Quiet()  # set while code sets the label filter's drop-down
        self._page_ids: list[str] = []
        self._anchor: str | None = None
        self._irreversible: str | None = None
        self._prefetch: threading.Timer | None = None
        # The next page to push once the browser has drawn the page of this token; one lasting
        # thread makes and pushes it, so the kernel stays free for the user's next click.
        self._next_page: tuple[int, list[str], int] | None = None
        self._pusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jl-push")
        self._started_following = False
        self._activity_shown = ""

        self._status = StatusLine()
        guard = self._status.guard
        self._build(guard)
        super().__init__(children=self._layout_children())
        self.add_class("jl-labeler")
        self._closed = False

        self._unobserve = dataset.observe(self._dataset_changed)
        try:
            with self._batch(force=True):
                self._refresh_summary()
                for name in _WIDGET_OPTIONS:
                    if name in options:
                        setattr(self, name, options[name])
        except Exception:
            self.close()  # a bad option: leave no widgets or observer behind
            raise
        self._status.show_save_status(dataset.status)
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
        self._tabs = {}
        for view in VIEWS:
            button = widgets.Button(description=_VIEW_TITLES[view], layout={"width": "auto"})
            button.add_class("jl-tab")
            button.add_class(f"jl-tab-{view}")
            button.on_click(guard(lambda _b, v=view: self._tab_clicked(v)))
            self._tabs[view] = button
        self._team = TeamPanel(
            self._tab_clicked, self._review_selection, guard, lambda: self._grid.focus()
        )
        self._filter = widgets.Dropdown(
            options=[("All labels", "")], value="", description="Label", layout={"width": "220px"}
        )
        self._filter.add_class("jl-label-filter")
        self._filter.observe(guard(self._filter_changed), "value")
        self._undo = widgets.Button(description="Undo", icon="undo", disabled=True)
        self._undo.add_class("jl-undo")
        self._undo.on_click(guard(lambda _b: self.undo()))
        self._delete_images = widgets.Button(
            description="Delete images", icon="trash", disabled=True
        )
        self._delete_images.add_class("jl-delete-images")
        self._delete_images.on_click(guard(lambda _b: self.ask_delete_images()))
        self._split = widgets.Button(
            description="Split",
            icon="random",
            tooltip="Put the labeled images in train / eval / test parts",
        )
        self._split.add_class("jl-split")
        self._split.on_click(guard(lambda _b: self.ask_split()))

        self._label_box = LabelBox(self._add_to_selection, self._remove_from_selection, guard)
        # The dialog and the preview are made when first opened: most sessions open neither,
        # and their few dozen widget models would slow every first display.
        self._dialog_part: ChoiceDialog | None = None
        self._preview_part: Preview | None = None
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
                thumbnails=self._thumbnail_bytes,
                drawn=guard(self._page_drawn),
            ),
            page_sizes=list(PAGE_SIZES),
            key_names=[key for shortcut in keymap.KEYS for key in shortcut.keys],
            key_help=keymap.help_line(),
        )
        self._upload = UploadPanel(self._add_files, guard)
        self._sync = SyncPanel(self._run_sync, guard)
        self._labels = LabelsPane(self._rename_label, self.ask_delete_label, guard)
        self.assist = Assist(
            self.dataset,
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
        )
        self._keys = keymap.KeyActions(
            label=self.add_label_by_position,
            turn=self._turn,
            select_page=self.select_page,
            clear_selection=self._escape,
            undo=self.undo,
            accept_suggestions=lambda: self.assist.accept_selected(),
            delete_images=self.ask_delete_images,
            accept=self._team.accept,
            reject=self._team.ask_reject,
        )
        self._readiness = widgets.HTML(value="")
        self._readiness.add_class("jl-readiness")
        self._others = widgets.HTML(value="")
        self._others.add_class("jl-others")

        self._parts_to_close = [
            *self._tabs.values(),
            self._filter,
            self._undo,
            self._delete_images,
            self._split,
            self._readiness,
            self._others,
            self._status.widget,
        ]

    def _layout_children(self) -> tuple[widgets.Widget, ...]:
        top = widgets.HBox(
            [
                *self._tabs.values(),
                *self._team.tabs.values(),
                self._filter,
                self._undo,
                self._delete_images,
                self._split,
                self._sync.button,
                self._sync.progress,
            ],
            layout={"align_items": "center", "flex_flow": "row wrap"},
        )
        messages = widgets.VBox([self._upload.result.box, self._sync.summary.box])
        # The grid scrolls inside a box of bounded height, so the toolbar above it and the
        # All Labels pane beside it stay in view; the preview and dialogs open over the grid.
        grid_area = self._grid_area = widgets.VBox(
            [self._grid],
            layout={"flex": "1 1 auto", "min_width": "0"},
        )
        grid_area.add_class("jl-main-area")
        side = widgets.VBox(
            [self._labels.box, self._readiness],
            layout={"flex": "0 0 300px", "width": "300px", "margin": "0 0 0 12px"},
        )
        main = widgets.HBox([grid_area, side], layout={"align_items": "flex-start"})
        main.add_class("jl-main")
        self._parts_to_close += [top, messages, grid_area, side, main]
        return (
            top,
            self._team.box,
            self._team.notes,
            self._label_box.box,
            self._status.widget,
            self._others,
            messages,
            self.assist.box,
            main,
        )

    def _overlay_changed(self) -> None:
        self._grid.overlay_open = any(
            part is not None and part.is_open for part in (self._preview_part, self._dialog_part)
        )

    @property
    def _dialog(self) -> ChoiceDialog:
        if self._dialog_part is None:
            self._dialog_part = ChoiceDialog(self._status.guard)
            self._show_overlay(self._dialog_part.box, first=True)
        return self._dialog_part

    @property
    def _preview(self) -> Preview:
        if self._preview_part is None:
            self._preview_part = Preview(
                self._preview_add,
                self._preview_change,
                self._preview_remove,
                self._status.guard,
                on_step=self._preview_step,
            )
            self._show_overlay(self._preview_part.box, first=False)
        return self._preview_part

    def _show_overlay(self, box: widgets.Widget, *, first: bool) -> None:
        """Put a dialog (first) or the preview (just above the grid) over the grid."""
        box.layout.observe(lambda _c: self._overlay_changed(), "display")
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
            missing = self._missing_ids(cleaned)
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
    def _view_changed(self, _change: Any) -> None:
        with self._batch():
            self.page = 0
            self._request_render()

    @traitlets.observe("page")
    def _page_changed(self, _change: Any) -> None:
        self._request_render()

    @traitlets.observe("page_size")
    def _page_size_changed(self, change: Any) -> None:
        with self._batch():
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
        with self._batch():
            with self._quiet():
                self._filter.value = change["new"] or ""
            if change["new"] is not None and self.view == "unlabeled":
                self.view = "labeled"
            self.page = 0
            self._request_render()

    # -- small helpers -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _batch(self, *, force: bool = False) -> Iterator[None]:
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

    def _request_render(self, *, force: bool = False) -> None:
        with self._drawing:
            self._force = self._force or force
            self._dirty = True
            if self._hold == 0:
                self._render()

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

    def _missing_ids(self, ids: Sequence[str]) -> list[str]:
        # Asked of the Dataset's id index: `in` on a view's pandas Index would hash every id
        # of the view again after each change (seconds at a million images).
        return self.dataset.unknown_ids(ids)

    # -- rendering ---------------------------------------------------------------------------
    def _render(self) -> None:
        if self._closed:
            return
        ids = self._view_ids(fresh=True)
        pages = max(1, math.ceil(len(ids) / self.page_size))
        if self.page > pages - 1:
            # The view shrank under the page: move to its last page, which renders again.
            with self._batch():
                self._dirty = True
                self.page = pages - 1
            return
        force, self._force, self._dirty = self._force, False, False
        self.dataset.set_presence(self.view, self.page)  # told to the others at the next beat
        start = self.page * self.page_size
        page_ids = [str(i) for i in ids[start : start + self.page_size]]
        labels = self.dataset.labels_of(page_ids) if page_ids else {}
        parts = self.dataset.usage_of(page_ids) if page_ids else {}
        grid = self._grid
        with grid.hold_sync():
            grid.page, grid.page_count, grid.page_size = self.page, pages, self.page_size
            if force or page_ids != self._page_ids:
                size = self._thumb_px
                thumbs = self.dataset.thumbnails(page_ids, size=size) if page_ids else {}
                known = self.dataset.paths_of(page_ids)
                paths = [known.get(i, i) for i in page_ids]
                names = [posixpath.basename(p) or p for p in paths]
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
                    selected=frozenset(self.selected),
                    empty_message=self._empty_message(),
                    parts=[parts.get(i, "") for i in page_ids],
                    px=size,
                )
                self._page_ids = page_ids
                following = ids[start + self.page_size : start + 2 * self.page_size]
                self._prefetch_later([str(i) for i in following], size)
            else:
                grid.update_labels(labels, parts)
            self.assist.decorate(page_ids, [labels.get(i, []) for i in page_ids])
        for view, button in self._tabs.items():
            if view == self.view:
                button.add_class("jl-tab-active")
                button.button_style = "info"
            else:
                button.remove_class("jl-tab-active")
                button.button_style = ""
        self._show_team(self.dataset.view_counts())

    def _show_team(self, counts: dict[str, int]) -> None:
        """The Mine and Review tabs, the review bar, and why images came back (on Mine)."""
        rejections = self.dataset.rejections() if self.view == "mine" else None
        excluded = self.dataset.review_excluded() if self.view == "review" else 0
        self._team.update(self.view, counts, self.dataset.has_team, rejections, excluded)

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
        if PREFETCH_DELAY <= 0:
            self._page_drawn(self._grid.page_token)
            return
        timer = threading.Timer(PREFETCH_DELAY, self._make_thumbnails, args=(ids, size))
        timer.daemon = True
        self._prefetch = timer
        timer.start()

    def _make_thumbnails(self, ids: list[str], size: int) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):  # a prefetch is only a guess; the page asks again
                self.dataset.prefetch_thumbnails(ids, size=size)

    def _page_drawn(self, token: int) -> None:
        """The browser has drawn the page of ``token``: push the next page's thumbnails."""
        if self._next_page is None or self._next_page[0] != token:
            return  # another page was shown meanwhile, or this one's next page went already
        _token, ids, size = self._next_page
        self._next_page = None
        if PREFETCH_DELAY <= 0:
            self._prefetch_now(ids, size)
        else:
            self._pusher.submit(self._prefetch_now, ids, size)

    def _prefetch_now(self, ids: list[str], size: int) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):  # a prefetch is only a guess; the page asks again
                self._grid.push(ids, size, self._thumbnail_bytes(ids, size))

    def _thumbnail_bytes(self, ids: list[str], size: int) -> list[bytes]:
        thumbs = self.dataset.thumbnails(ids, size=size)
        return [t.data if (t := thumbs.get(i)) is not None else b"" for i in ids]

    @property
    def _thumb_px(self) -> int:
        return thumbnail_px(self._grid.tile_size, self._grid.hidpi, self.page_size)

    def _empty_message(self) -> str:
        if self.label_filter is not None:
            return f"No {self.view} images carry the label {self.label_filter}."
        return {
            "unlabeled": "No unlabeled images.",
            "labeled": "No labeled images yet.",
            "all": "No images yet: add some with Add Image or Synchronize.",
            "mine": "Nothing left for you: no image assigned to you waits for labels.",
            "review": "Nothing to review: every labeled image is accepted or rejected.",
        }[self.view]

    def _refresh_summary(self) -> None:
        """Counts, the label lists, readiness and undo: everything not on the page itself."""
        counts = self.dataset.view_counts()
        for view, button in self._tabs.items():
            button.description = f"{_VIEW_TITLES[view]} ({int(counts.get(view, 0))})"
        self._show_team(counts)
        names = list(self.dataset.label_names)
        table = self.dataset.counts()
        column = table["images"] if "images" in table else table.iloc[:, 0]
        per_label = {str(k): int(v) for k, v in column.items()}
        with self._quiet():
            options = [("All labels", "")] + [(f"{n} ({per_label.get(n, 0)})", n) for n in names]
            if list(self._filter.options) != options:
                self._filter.options = options
            self._filter.value = self.label_filter if self.label_filter in names else ""
        self._label_box.set_labels(names)
        self._labels.update(names, per_label)
        self._show_readiness()
        self._show_undo()

    def _show_readiness(self) -> None:
        report = self.dataset.readiness()
        if report.ready:
            self._readiness.value = (
                '<b class="jl-ready" style="color:#188038">Ready for training</b>'
            )
            return
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in report.problems)
        self._readiness.value = (
            '<div class="jl-not-ready"><b>Not ready for training yet:</b>'
            f'<ul style="margin:2px 0">{items}</ul></div>'
        )

    def _show_undo(self) -> None:
        can = bool(self.dataset.can_undo)
        self._undo.disabled = not can
        description = self.dataset.undo_description
        if can and description and description == self._irreversible:
            self._undo.tooltip = (
                f"{description}: this deleted source files, which Undo cannot bring back "
                "(pressing it only drops this step from the undo history)"
            )
            self._undo.description = "Undo (files gone)"
            return
        self._undo.description = "Undo"
        self._undo.tooltip = (
            f"Undo: {description} (z)" if can and description else "Nothing to undo"
        )

    # -- Dataset notifications ---------------------------------------------------------------
    def _dataset_changed(self, change: Change) -> None:
        kind = change.kind
        if self._closed:
            return
        if kind == "status":
            # May come from the saver's thread: only set widget values here.
            self._status.show_save_status(self.dataset.status)
            return
        if kind == "presence":
            self._show_others()
            return
        if kind == "problems":
            # May come from the follower's thread: only set widget values here.
            self._show_problems(list(change.labels))
            return
        with self._status.reporting(), self._batch():
            # Fetch the page's thumbnails again only when its images themselves may have changed;
            # a label change only redraws the chips.
            force = kind in ("reload", "images") and (
                change.ids is None or not change.ids.isdisjoint(self._page_ids)
            )
            if kind in ("images", "reload"):
                self._grid.forget_sent()  # a file may have changed under its id
                self._drop_vanished()
            if self.label_filter is not None and self.label_filter not in self.dataset.label_names:
                self.label_filter = None
            self._refresh_summary()
            self._refresh_preview()
            self._request_render(force=force)
            self._show_activity()

    def _show_problems(self, said: list[str]) -> None:
        """Say in the status line that objects of the store were refused (a broken or hostile
        object in the bucket); every sentence is in ``dataset.problems``."""
        if not said:
            return
        where, _, why = said[0].partition(": ")  # "<url of the object>: <what is wrong>"
        name = where.rsplit("/", 1)[-1]
        name = name if len(name) <= 48 else name[:47] + "…"
        why = why if len(why) <= 120 else why[:119] + "…"
        more = f" (and {len(said) - 1} more)" if len(said) > 1 else ""
        self._status.info(f"Ignored in the store: {name}: {why}{more}. All are in dataset.problems")

    def _show_activity(self) -> None:
        """Say in the status line what another annotator just did (once each)."""
        recent = self.dataset.recent_activity(within=60)
        if recent and recent[0].rsplit(", ", 1)[0] != self._activity_shown:
            self._activity_shown = recent[0].rsplit(", ", 1)[0]
            self._status.info(recent[0])

    def _show_others(self) -> None:
        others = self.dataset.others
        if not others:
            self._others.value = ""
            return
        titles = {**_VIEW_TITLES, **TEAM_VIEWS}  # the tabs' titles, as the others see them
        where = "; ".join(
            f"{html.escape(author)} on page {page + 1} of {html.escape(titles.get(view, view))}"
            for author, view, page in others[:5]
        )
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        self._others.value = f"<span class='jl-others-text'>Also here: {where}{more}</span>"

    def _drop_vanished(self) -> None:
        if self.selected:
            missing = set(self._missing_ids(self.selected))
            if missing:
                self.selected = tuple(i for i in self.selected if i not in missing)
        if self._anchor is not None and self._missing_ids([self._anchor]):
            self._anchor = None

    def _refresh_preview(self) -> None:
        image_id = self._preview_part.image_id if self._preview_part is not None else None
        if image_id is None:
            return
        if self._missing_ids([image_id]):
            self._preview.hide()
            return
        self._preview.refresh(self.dataset.info(image_id), self.dataset.label_names)

    # -- selection ---------------------------------------------------------------------------
    def _tile_id(self, index: int) -> str | None:
        return self._grid.id_at(index)

    def _set_selected(self, image_id: str, on: bool) -> None:
        if on and image_id not in self.selected:
            self.selected = (*self.selected, image_id)
        elif not on and image_id in self.selected:
            self.selected = tuple(i for i in self.selected if i != image_id)

    def _tile_click(self, index: int, shift: bool = False) -> None:
        """A click on a tile's image: toggle it, or with shift select the range from the last
        clicked tile, in the current view's order, across pages."""
        image_id = self._tile_id(index)
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
        image_id = self._tile_id(index)
        if image_id is not None:
            self.open_image(image_id)

    def select_page(self) -> None:
        """Add every image of the current page to the selection."""
        have = set(self.selected)
        self.selected = (*self.selected, *(i for i in self._page_ids if i not in have))

    def clear_selection(self) -> None:
        self.selected = ()

    # -- actions -----------------------------------------------------------------------------
    def _done(self, result: Any, *, irreversible: bool = False) -> None:
        message = str(getattr(result, "message", "") or "")
        if irreversible:
            # Said now, not when the user reaches for Undo.
            self._irreversible = self.dataset.undo_description
            message = f"{message} The source files are deleted: Undo cannot bring them back."
            self._show_undo()
        if message:
            self._status.info(message.strip())

    def _need_selection(self) -> bool:
        if not self.selected:
            self._status.info("Select images first (tick them, click them, or press a).")
            return False
        return True

    def _keep_visible_selection(self) -> None:
        """After labeling, drop selected images that left the view: an invisible selection
        would silently receive the next label."""
        if self.selected:
            shown = self.dataset.in_view(self.selected, self.view, self.label_filter)
            self.selected = tuple(i for i, keep in zip(self.selected, shown, strict=True) if keep)

    def _labeled(self, result: Any) -> None:
        """Say the outcome of labeling the selection; images that left the view leave it."""
        self._done(result)
        self._keep_visible_selection()

    def _first_page(self) -> None:
        """Show the first page again (the grid's order changed)."""
        with self._batch():
            self.page = 0
            self._request_render()

    def _add_to_selection(self, name: str) -> None:
        if not self._need_selection():
            return
        self._done(self.dataset.add_label(name, list(self.selected)))
        self._keep_visible_selection()

    def _remove_from_selection(self, name: str) -> None:
        if not self._need_selection():
            return
        self._done(self.dataset.remove_label(name, list(self.selected)))
        self._keep_visible_selection()

    def add_label_by_position(self, position: int) -> None:
        """Add the label at ``position`` (0-based) of All Labels to the selection."""
        names = list(self.dataset.label_names)
        if position >= len(names):
            self._status.info(
                f"There is no label number {position + 1}: All Labels has {len(names)}."
            )
            return
        self._add_to_selection(names[position])

    def ask_split(self) -> None:
        """Ask how to split the labeled images into parts, then split (see Dataset.split)."""
        self._dialog.ask(
            "Split the labeled images",
            "Each label gives its share of images to each part (at least one to eval when it "
            "has two); images already in a part keep it. The parts go into the manifest's "
            "usage, as ModelArts reads it, and the exports follow them. Undo takes it back.",
            tuple(Choice(label, value) for value, label in SPLITS.items()),
            self._split_now,
            confirm_label="Split",
        )

    def _review_selection(self, accept: bool, reason: str | None) -> None:
        """Accept or reject the selected images (the Review tab's buttons and keys)."""
        if not self._need_selection():
            return
        self._done(self.dataset.review(list(self.selected), accept=accept, reason=reason))
        self._keep_visible_selection()

    def _split_now(self, choice: str) -> None:
        eval_share, test_share = (float(x) for x in choice.split("/"))
        self._done(self.dataset.split(eval=eval_share, test=test_share))

    def undo(self) -> None:
        """Undo the Dataset's last action."""
        description = self.dataset.undo_description
        self.dataset.undo()
        self._status.info(f"Undone: {description}" if description else "Undone.")
        self._show_undo()

    def _rename_label(self, old: str, new: str) -> None:
        """Rename at once; a name that already exists merges the two labels, so ask first."""
        if new != old and new in self.dataset.label_names:
            counts = dict(self.dataset.counts()["images"].items())
            self._dialog.ask(
                f"Merge {old} into {new}?",
                f"{new} already exists ({plural(int(counts.get(new, 0)), 'image')}). Renaming "
                f"{old} ({plural(int(counts.get(old, 0)), 'image')}) to {new} merges them: "
                f"every image labeled {old} is labeled {new}, and {old} is gone.",
                (Choice(f"Merge {old} into {new}", "merge"),),
                lambda _choice: self._rename_now(old, new),
                confirm_label="Merge",
            )
            return
        self._rename_now(old, new)

    def _rename_now(self, old: str, new: str) -> None:
        filtered = self.label_filter == old
        self._done(self.dataset.rename_label(old, new))
        if filtered:
            self.label_filter = new

    def ask_delete_label(self, name: str) -> None:
        """Open the dialog that deletes a label (three choices, as on ModelArts)."""
        count = int(dict(self.dataset.counts()["images"].items()).get(name, 0))
        self._dialog.ask(
            f"Delete the label {name}?",
            f"The label {name} is on {plural(count, 'image')}.",
            DELETE_LABEL_CHOICES,
            lambda mode: self._done(
                self.dataset.delete_label(name, mode=mode),
                irreversible=mode == "with_images_and_files",
            ),
            confirm_label="Delete label",
            final_warning=f"The source files of the images carrying only {name} will be deleted "
            "from the store. This cannot be undone.",
        )

    def ask_delete_images(self) -> None:
        """Open the dialog that deletes the selected images."""
        if not self._need_selection():
            return
        ids = list(self.selected)
        n = len(ids)
        self._dialog.ask(
            f"Delete {plural(n, 'image')}?",
            f"{plural(n, 'selected image')} will leave the dataset.",
            DELETE_IMAGES_CHOICES,
            lambda choice: self._delete_images_now(ids, choice == "with_files"),
            confirm_label="Delete images",
            final_warning=f"The source files of {plural(n, 'image')} will be deleted from the "
            "store. This cannot be undone.",
        )

    def _delete_images_now(self, ids: list[str], delete_source: bool) -> None:
        self._done(
            self.dataset.remove_images(ids, delete_source=delete_source),
            irreversible=delete_source,
        )

    def open_image(self, image_id: str) -> None:
        """Show one image larger, with its path, size and labels."""
        info = self.dataset.info(image_id)
        try:
            data = self.dataset.read_image(image_id)
        except LabelerError as exc:
            thumb = self.dataset.thumbnails([image_id], size=self._thumb_px).get(image_id)
            data = thumb.data if thumb is not None else b""
            self._status.error(f"Cannot show {info.get('path', image_id)}: {exc}")
        self._preview.show(image_id, data, info, self.dataset.label_names)

    def _preview_step(self, image_id: str, offset: int) -> None:
        """Open the image before or after this one in the view's order (and show its page)."""
        position = self._position(image_id)
        ids = self._view_ids()
        if position is None or not len(ids):
            return
        target = min(max(0, position + offset), len(ids) - 1)
        if target == position:
            self._status.info("This is the " + ("first" if offset < 0 else "last") + " image.")
            return
        self.page = target // self.page_size
        self.open_image(str(ids[target]))

    def _preview_add(self, image_id: str, name: str) -> None:
        self._done(self.dataset.add_label(name, [image_id]))

    def _preview_change(self, image_id: str, old: str, new: str) -> None:
        # Add first: if the second step fails, the image keeps a label rather than losing one.
        self.dataset.add_label(new, [image_id])
        self.dataset.remove_label(old, [image_id])
        self._status.info(f"Changed {old} to {new} on this image.")

    def _preview_remove(self, image_id: str, name: str) -> None:
        self._done(self.dataset.remove_label(name, [image_id]))

    def _add_files(self, files: dict[str, bytes]) -> Any:
        result = self.dataset.add_images(files)
        added, refused = len(result.added), len(result.refused)
        # Accepted files keep their order: pair them with the names they were stored under.
        refused_names = {name for name, _ in result.refused}
        given = [name for name in files if name not in refused_names]
        renamed = []
        for original, image_id in zip(given, result.added, strict=False):
            stored = posixpath.basename(str(self.dataset.info(image_id).get("path", "")))
            if stored and stored != posixpath.basename(original):
                renamed.append((original, stored))
        message = f"{plural(added, 'image')} added"
        self._status.info(f"{message}, {refused} refused." if refused else f"{message}.")
        if result.added:
            self._show_new_images(list(result.added))
        return SimpleNamespace(added=result.added, refused=result.refused, renamed=renamed)

    def _show_new_images(self, ids: list[str]) -> None:
        """Jump to the page of Unlabeled holding the first new image."""
        with self._batch():
            self.label_filter = None
            self.view = "unlabeled"
            position = self._position(ids[0])
            if position is not None:
                self.page = position // self.page_size

    def _run_sync(self, progress: Any) -> Any:
        summary = self.dataset.sync(progress=progress)
        self._status.info(str(summary))
        return summary

    # -- pages and keys ----------------------------------------------------------------------
    def _turn(self, where: str) -> None:
        last = self.page_count - 1
        self.page = {
            "first": 0,
            "prev": max(0, self.page - 1),
            "next": min(last, self.page + 1),
            "last": last,
        }[where]

    def _tab_clicked(self, view: str) -> None:
        with self._batch():
            if view == "unlabeled":
                # Unlabeled images carry no label: a label filter would leave the tab empty.
                self.label_filter = None
            self.view = view

    def _filter_changed(self, change: Any) -> None:
        if not self._quiet:
            self.label_filter = change["new"] or None

    def _page_size_chosen(self, size: int) -> None:
        self.page_size = size

    def _handle_key(self, event: dict[str, Any]) -> None:
        """The grid's keydown handler (test hook too): see :mod:`.keys` for the table."""
        with self._status.reporting():
            keymap.handle(event, self.view, self._keys)

    def _escape(self) -> None:
        """Esc closes the preview or a dialog first; only then does it clear the selection."""
        if self._preview_part is not None and self._preview_part.is_open:
            self._preview_part.hide()
        elif self._dialog_part is not None and self._dialog_part.is_open:
            self._dialog_part.hide()
        else:
            self.clear_selection()

    # -- lifetime ----------------------------------------------------------------------------
    def close(self) -> None:
        """Stop observing the Dataset and close every widget of the Labeler."""
        if getattr(self, "_closed", True):
            super().close()
            return
        self._closed = True
        if self._started_following:
            self.dataset.follow(None)
        if self._prefetch is not None:
            self._prefetch.cancel()
        self._pusher.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._unobserve()
        for part in (
            self.assist,
            self._label_box,
            self._dialog_part,
            self._preview_part,
            self._upload,
            self._sync,
            self._labels,
            self._team,
        ):
            if part is not None:
                part.close()
        close_widgets(self._grid, *self._parts_to_close, self.layout)
        super().close()


def label(source: Any, **options: Any) -> Labeler:
    """Open the dataset at ``source`` and return a :class:`Labeler` for it.

    ``source`` is a folder, a ``file://``, ``memory://``, ``s3://`` or ``obs://`` URL, or a
    ``Dataset``. Options are ``Labeler``'s: ``view``, ``page``, ``page_size``, ``label_filter``,
    and ``Dataset.open``'s ``output``, ``storage_options`` and ``author``.

    >>> from jupyter_labeler.widget import label
    >>> label("obs://my-bucket/flowers", output="obs://my-bucket/labels")  # doctest: +SKIP
    """
    return Labeler(source, **options)
