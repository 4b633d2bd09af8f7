"""Wrong labels and groups of look-alikes in the Labeler: the orders "Likely wrong first" and
"By group", a chip on each suspect tile, keeping or taking its label, and selecting a group.

The Labeler makes one :class:`Quality`, ``labeler.quality``; the Order menu
(:mod:`.assist`) offers its two orders and asks it for their rankings. What it needs of the
Labeler it gets as :class:`QualityCallbacks`. Each control is also a method, for notebook code
and tests:

- **Likely wrong first** (``assist.order = "wrong"``): the images of
  :meth:`Dataset.label_issues` first, most suspicious first, the rest of the view after them in
  file order. Chosen on Unlabeled it opens Labeled (unlabeled images have no label to judge).
  Each suspect tile shows a chip "maybe 7, 92%": the likely label and the model's confidence in
  it. ``t`` or **Take likely** (:meth:`Quality.take_likely`) replaces the given label by the
  likely one on the selected suspects (else on the tile clicked last): one action, Undo takes it
  back. ``k`` or **Keep label** (:meth:`Quality.keep_label`) keeps the given label as checked:
  the chip goes at once, and the image is no suspect again, for every annotator.
- **By group** (``assist.order = "group"``): :meth:`Dataset.groups` of the tab's view, the
  images of a group together, the groups in their numbering (group 0 the largest), a caption
  "Group 3 · 42" where a group starts ("continued" where a page starts inside one). ``g`` or
  **Select group** (:meth:`Quality.select_group`) selects every image of the view in the group
  of the tile clicked last (else of the page's first tile), on every page.

Both are computed on a background thread a moment after the labels change (label_issues takes
about 26 s at a million images); the status line says so while it works. A new ranking reorders
the grid only at its next render (a page turn, an action), never under the pointer.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..results import Change
from ..words import plural
from .background import Debounced
from .closing import close_widgets
from .grid import ImageGrid
from .status import StatusLine
from .traits import classes

__all__ = ["QUALITY_DELAY", "QUALITY_ORDERS", "Quality", "QualityCallbacks", "suspect_chip"]

#: The orders this module ranks: value -> what the Order menu says.
QUALITY_ORDERS = {"wrong": "Likely wrong first", "group": "By group"}
#: Seconds between a change of the labels and judging them again (at least as long as the last
#: computation took, as the suggestions).
QUALITY_DELAY = 0.5
#: Labels with fewer images are not judged (as :meth:`Dataset.label_issues`).
MIN_PER_LABEL = 5

_PICK_SUSPECTS = (
    'Select the images with a "maybe" chip first (click one, or shift-click a range), '
    "then t takes the likely label or k keeps the given one."
)


def suspect_chip(given: str, likely: str, confidence: float) -> tuple[str, str]:
    """The words on a suspect tile's chip and its tooltip: ("maybe 7, 92%", ...). The
    confidence is rounded down, as the suggestions' chips: a chip never claims more."""
    percent = math.floor(float(confidence) * 100)
    title = (
        f"The label {given} looks wrong: likely {likely} ({percent}% sure). "
        f"t takes {likely}, k keeps {given}."
    )
    return f"maybe {likely}, {percent}%", title


@dataclass(frozen=True)
class QualityCallbacks:
    """What the Labeler gives the quality part."""

    #: The view shown, and its label filter.
    view: Callable[[], str]
    label_filter: Callable[[], str | None]
    #: The grid's order (the Order menu's value).
    order: Callable[[], str]
    #: The selected ids, and the image clicked last (None when none).
    selected: Callable[[], Sequence[str]]
    current: Callable[[], str | None]
    #: The ids of the page shown, and the position of its first image in the view's order.
    page_ids: Callable[[], Sequence[str]]
    page_start: Callable[[], int]
    #: The view's ids in the grid's order, as drawn.
    view_ids: Callable[[], pd.Index]
    #: Make these ids the selection.
    select: Callable[[Sequence[str]], None]
    #: Say the outcome of an action on the selection (a Dataset result).
    labeled: Callable[[Any], None]
    #: Show the view's first page, in the grid's (new) order.
    first_page: Callable[[], None]
    #: Show this view (a tab click).
    open_view: Callable[[str], None]


@dataclass(frozen=True)
class _Issues:
    """One judgement of the labels: label_issues' table, its ids most suspicious first, the
    count of label changes seen when it started, and why nothing was judged ("")."""

    table: pd.DataFrame
    ranking: np.ndarray
    since: int
    reason: str


@dataclass(frozen=True)
class _Groups:
    """The groups of one view: image id -> group, and the ids by group (file order within)."""

    view: str
    group: pd.Series
    ranking: np.ndarray


class Quality:
    """Likely wrong labels and groups in the Labeler: see the module's docstring."""

    def __init__(
        self, dataset: Any, grid: ImageGrid, status: StatusLine, callbacks: QualityCallbacks
    ) -> None:
        self._dataset = dataset
        self._grid = grid
        self._status = status
        self._calls = callbacks
        self._closed = False
        self._issues: _Issues | None = None  # the newest, for the chips and the keys
        self._applied_issues: _Issues | None = None  # the one the grid's order uses
        self._groups: _Groups | None = None
        self._applied_groups: _Groups | None = None
        # Label changes seen, and the change that last touched each image: written by the
        # kernel's thread, the follower's and the judging one, under the lock.
        self._changes = 0
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()
        self._waiting = False  # an order waits for its first ranking
        self._announce = False  # say what a judgement found, once asked for it
        self._asked_view: str | None = None  # the view whose groups are being worked out
        self._failed_view: str | None = None  # the view whose grouping failed last
        self._codes: tuple[Any, ...] | None = None  # (ordered ids, groups, codes, counts)
        self._drawing = threading.RLock()
        self._job = Debounced(self._refresh, "jupyter-labeler-quality", min_pause=QUALITY_DELAY)
        guard = status.guard

        self._take = widgets.Button(
            description="Take likely",
            icon="exchange",
            tooltip="Replace the given label by the likely one on the selected suspects (t); "
            "one action, Undo takes it back",
            layout={"width": "auto"},
            **classes("jl-take-likely"),
        )
        self._take.on_click(guard(lambda _b: self.take_likely()))
        self._keep = widgets.Button(
            description="Keep label",
            icon="check",
            tooltip="Keep the given label of the selected suspects (k): checked, they are not "
            "shown as suspects again",
            layout={"width": "auto"},
            **classes("jl-keep-label"),
        )
        self._keep.on_click(guard(lambda _b: self.keep_label()))
        self._select = widgets.Button(
            description="Select group",
            icon="object-group",
            tooltip="Select every image of the group of the tile clicked last, on every page (g)",
            layout={"width": "auto"},
            **classes("jl-select-group"),
        )
        self._select.on_click(guard(lambda _b: self.select_group()))
        #: The buttons, for the Order menu's row: each shown in its order only.
        self.controls = (self._take, self._keep, self._select)
        self._show_buttons("file")
        self._unobserve = dataset.observe(self._dataset_changed)

    # -- what the Order menu asks --------------------------------------------------------------
    def chosen(self, order: str) -> None:
        """The grid's order became ``order``: show this order's buttons, and rank in the
        background what it needs (the first page follows once ranked)."""
        self._show_buttons(order)
        if order not in QUALITY_ORDERS:
            self._waiting = False
            return
        if order == "wrong" and self._calls.view() == "unlabeled":
            self._status.info(
                "Likely wrong first judges labels: unlabeled images have none, so the Labeled "
                "tab shows the suspects."
            )
            self._calls.open_view("labeled")
        self._announce = True
        if order == "wrong":
            # Judged again now (the labels may have changed while another order was shown);
            # the first page follows a first judgement, or one older than the labels.
            issues = self._issues
            self._waiting = issues is None or issues.since < self._changes
            self._job.request(0)
        else:
            self._ask_groups(self._calls.view())

    def view_changed(self, view: str) -> None:
        """The tab changed: groups are of one view; Unlabeled has no suspects (said why)."""
        order = self._calls.order()
        if order == "group":
            self._ask_groups(view)
        elif order == "wrong" and view == "unlabeled":
            self._status.info(
                "Likely wrong first: unlabeled images have no label to judge, so they show in "
                "file order; the suspects are on the Labeled and All tabs."
            )

    def apply(self) -> None:
        """The grid is being drawn: its order takes up the newest rankings."""
        self._applied_issues = self._issues
        self._applied_groups = self._groups

    def ranking(self, order: str) -> np.ndarray | None:
        """The ids to show first in ``order`` (None: none yet, the view in file order)."""
        if order == "wrong":
            issues = self._applied_issues
            return issues.ranking if issues is not None else None
        if order == "group":
            found = self._applied_groups
            if found is None or found.view != self._calls.view():
                return None
            return found.ranking
        return None

    def decorate(self, ids: Sequence[str], labels: Sequence[Sequence[str]]) -> None:
        """Put the page's suspect chips and group captions into the grid (in the page's
        message when called while the grid holds its sync)."""
        with self._drawing:
            self._grid.show_quality(self._chips(ids, labels), self._heads(ids))

    def close(self) -> None:
        self._closed = True
        self._job.close()
        with contextlib.suppress(Exception):
            self._unobserve()
        close_widgets(*self.controls)

    # -- public actions ------------------------------------------------------------------------
    def take_likely(self) -> None:
        """Replace the given label by the likely one on the selected suspects (else on the tile
        clicked last): one action, which Undo (or ``z``) takes back."""
        rows = self._chosen_suspects()
        if rows is not None:
            self._calls.labeled(self._dataset.relabel(rows))

    def keep_label(self) -> None:
        """Keep the given label of the selected suspects (else of the tile clicked last), as
        checked: their chips go at once, and they are not suspects again, for anyone."""
        rows = self._chosen_suspects()
        if rows is None:
            return
        result = self._dataset.confirm_labels(rows)
        with self._lock:  # also when the change named no ids (a large one)
            for image_id in map(str, rows.index):
                self._touched[image_id] = max(self._changes, self._touched.get(image_id, 0))
        self._calls.labeled(result)
        self._decorate_now()

    def select_group(self) -> None:
        """Select every image of the view in the group of the tile clicked last (else of the
        page's first tile), on every page: the selection count is the group's size."""
        if self._calls.order() != "group":
            self._status.info("Select group needs the order By group: choose it in Order.")
            return
        view = self._calls.view()
        found = self._applied_groups  # the groups the captions show
        if found is None or found.view != view:
            if self._failed_view == view:
                self._status.info(
                    "No groups to select: grouping the images failed; choose By group again "
                    "to try again."
                )
            else:
                self._status.info("The groups are being worked out: select a group in a moment.")
            return
        page = list(self._calls.page_ids())
        candidates = [self._calls.current(), page[0] if page else None]
        group = found.group
        number = next(
            (int(group.at[i]) for i in candidates if i is not None and i in group.index), None
        )
        if number is None:
            self._status.info("Click an image of a group first, then Select group (g).")
            return
        members = group.index[group.to_numpy() == number]
        shown = self._dataset.in_view(members, view, self._calls.label_filter())
        ids = [str(i) for i in members[shown]]
        self._calls.select(ids)
        self._status.info(
            f"Selected group {number}: {plural(len(ids), 'image')}. Type a label and press OK "
            "to label them all."
        )

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Wait until no ranking is being computed; False on timeout."""
        return self._job.wait(timeout)

    # -- what the tiles show ---------------------------------------------------------------------
    def _visible_issues(self) -> _Issues | None:
        return self._issues if self._calls.order() == "wrong" else None

    def _is_shown(self, image_id: str, issues: _Issues) -> bool:
        """A suspect keeps its chip until a change touches it; judged again, it may come back."""
        return self._touched.get(image_id, -1) <= issues.since

    def _chips(self, ids: Sequence[str], labels: Sequence[Sequence[str]]) -> list[list[str]]:
        issues = self._visible_issues()
        if issues is None or not len(issues.table):
            return [[] for _ in ids]
        table = issues.table
        out: list[list[str]] = []
        for image_id, own in zip(ids, labels, strict=True):
            if image_id not in table.index or not self._is_shown(image_id, issues):
                out.append([])
                continue
            row = table.loc[image_id]
            given = str(row["given_label"])
            if given not in own:
                out.append([])  # relabeled since: the chip spoke of a label it no longer has
                continue
            out.append(
                list(suspect_chip(given, str(row["likely_label"]), row["likely_confidence"]))
            )
        return out

    def _heads(self, ids: Sequence[str]) -> list[str]:
        """The group caption over each tile where a group starts (or the page starts inside
        one); "" elsewhere."""
        found = self._applied_groups
        if self._calls.order() != "group" or found is None or found.view != self._calls.view():
            return ["" for _ in ids]
        ordered = self._calls.view_ids()
        codes, counts = self._group_codes(ordered, found)
        start = self._calls.page_start()
        if [str(i) for i in ordered[start : start + len(ids)]] != list(ids):
            at = ordered.get_indexer(list(ids))
            start = int(at[0]) if len(at) and at[0] >= 0 else 0
        heads = []
        for i in range(len(ids)):
            here = int(codes[start + i]) if start + i < len(codes) else -1
            before = int(codes[start + i - 1]) if start + i > 0 else None
            if i and before == here:
                heads.append("")
                continue
            name = f"Group {here}" if here >= 0 else "No group"
            text = f"{name} · {counts.get(here, 0):,}"
            heads.append(text + (" (continued)" if before == here else ""))
        return heads

    def _group_codes(self, ordered: pd.Index, found: _Groups) -> tuple[np.ndarray, dict[int, int]]:
        """Each image's group in the view's order (-1: none), and each group's size in it."""
        cached = self._codes
        if cached is not None and cached[0] is ordered and cached[1] is found:
            return cached[2], cached[3]
        codes = found.group.reindex(ordered).to_numpy(dtype=np.float64, na_value=-1)
        codes = codes.astype(np.int64)
        values, sizes = np.unique(codes, return_counts=True)
        counts = {int(v): int(n) for v, n in zip(values, sizes, strict=True)}
        self._codes = (ordered, found, codes, counts)
        return codes, counts

    def _chosen_suspects(self) -> pd.DataFrame | None:
        """The rows of label_issues for the selected suspects (else the tile clicked last), or
        None, said in the status line, when there are none."""
        issues = self._visible_issues()
        if issues is None:
            self._status.info(
                "Choose Likely wrong first in Order to see the labels that look wrong; "
                "t and k act on those."
            )
            return None
        chosen = list(self._calls.selected())
        if not chosen:
            current = self._calls.current()
            chosen = [current] if current is not None else []
        if not chosen:
            self._status.info(_PICK_SUSPECTS)
            return None
        table = issues.table
        labels = self._dataset.labels_of(chosen)
        keep = [
            i
            for i in chosen
            if i in table.index
            and self._is_shown(i, issues)
            and str(table.at[i, "given_label"]) in labels.get(i, [])
        ]
        if not keep:
            self._status.info(
                f'No selected image has a "maybe" chip. {_PICK_SUSPECTS.split(" first", 1)[0]}.'
            )
            return None
        return table.loc[keep]

    # -- background ------------------------------------------------------------------------------
    def _ask_groups(self, view: str) -> None:
        found = self._groups
        if found is not None and found.view == view:
            self._waiting = False
            return
        self._waiting = True
        if self._asked_view != view:
            self._asked_view = view
            self._job.request(0)

    def _refresh(self) -> None:
        """Judge the labels, or group the view, as the order needs (on the background thread)."""
        if self._closed:
            return
        order = self._calls.order()
        if order == "wrong":
            self._judge()
        elif order == "group":
            self._group(self._calls.view())

    def _judge(self) -> None:
        since = self._changes
        self._status.progress("Likely wrong first: judging the labels…")
        try:
            table = self._dataset.label_issues(min_per_label=MIN_PER_LABEL)
        except Exception as exc:
            if not self._closed:
                self._status.report(exc, about="Likely wrong first")
            return
        finally:
            if not self._closed:
                self._status.progress("")
        if self._closed:
            return
        ranking = np.asarray(table.index, dtype=object)
        issues = _Issues(table, ranking, since, str(table.attrs.get("reason", "") or ""))
        self._issues = issues
        with self._lock:
            self._touched = {i: c for i, c in self._touched.items() if c > since}
        with self._status.reporting():
            self._decorate_now()
            if self._announce:
                self._status.info(self._judged_words(issues))
            self._announce = False
            if self._waiting and self._calls.order() == "wrong":
                self._waiting = False
                self._calls.first_page()

    def _judged_words(self, issues: _Issues) -> str:
        table = issues.table
        if issues.reason:
            return f"Likely wrong first: nothing judged: {issues.reason}."
        if len(table):
            verb = "looks" if len(table) == 1 else "look"
            said = f"Likely wrong first: {plural(len(table), 'label')} {verb} wrong"
        else:
            said = "Likely wrong first: no label looks wrong"
        not_checked = list(table.attrs.get("not_checked", ()))
        if not_checked:
            names = ", ".join(map(str, not_checked[:5])) + (" …" if len(not_checked) > 5 else "")
            said += f"; not judged (fewer than {MIN_PER_LABEL} images): {names}"
        return said + "."

    def _group(self, view: str) -> None:
        self._asked_view = None  # a request from now on groups again, after this
        self._status.progress("By group: grouping the images…")
        try:
            group = self._dataset.groups(view=view)
        except Exception as exc:
            self._failed_view = view
            if not self._closed:
                self._status.report(exc, about="By group")
            return
        finally:
            if not self._closed:
                self._status.progress("")
        if self._closed:
            return
        values = group.to_numpy()
        ranking = np.asarray(group.index[np.argsort(values, kind="stable")], dtype=object)
        self._groups = _Groups(view, group, ranking)
        self._failed_view = None
        with self._status.reporting():
            if self._announce:
                sizes = group.attrs.get("sizes", [])
                said = f"By group: {plural(len(sizes), 'group')} of look-alikes"
                without = int(group.attrs.get("without_features", 0))
                if without:
                    said += f"; {plural(without, 'image')} without features come last"
                self._status.info(said + ".")
            self._announce = False
            if self._waiting and self._calls.order() == "group" and self._calls.view() == view:
                self._waiting = False
                self._calls.first_page()

    def _decorate_now(self) -> None:
        """Redraw the chips of the page shown (from any thread); a page being drawn meanwhile
        puts in its own."""
        grid = self._grid
        with self._drawing:
            token, ids, labels = grid.page_token, list(grid.ids), list(grid.labels)
            if len(ids) != len(labels):
                return
            chips = self._chips(ids, labels)
            if grid.page_token == token and list(grid.ids) == ids:
                grid.show_quality(chips, list(grid.group_heads) or [""] * len(ids))

    def _dataset_changed(self, change: Change) -> None:
        kind = change.kind
        if self._closed or kind not in ("labels", "images", "reload"):
            return
        with self._lock:
            self._changes += 1
            for image_id in change.ids or ():
                self._touched[image_id] = self._changes
        order, view = self._calls.order(), self._calls.view()
        if order == "wrong":
            self._job.request(self._job.pause())
        elif order == "group" and (kind != "labels" or view != "all"):
            # The view's images changed: group them again. The groups shown stay until the
            # new ones are drawn; images new to the view come last meanwhile.
            self._asked_view = view
            self._job.request(self._job.pause())

    def _show_buttons(self, order: str) -> None:
        wrong, group = order == "wrong", order == "group"
        self._take.layout.display = "" if wrong else "none"
        self._keep.layout.display = "" if wrong else "none"
        self._select.layout.display = "" if group else "none"

    # -- its controls, for notebook code and tests (see jupyter_labeler.testing) --------------
    @property
    def take_button(self) -> widgets.Button:
        """Take likely: what :meth:`take_likely` does (shown in the order Likely wrong first)."""
        return self._take

    @property
    def keep_button(self) -> widgets.Button:
        """Keep label: what :meth:`keep_label` does (shown in the order Likely wrong first)."""
        return self._keep

    @property
    def select_group_button(self) -> widgets.Button:
        """Select group: what :meth:`select_group` does (shown in the order By group)."""
        return self._select

    @property
    def issues(self) -> pd.DataFrame | None:
        """The last judgement of the labels (:meth:`Dataset.label_issues`), or None."""
        issues = self._issues
        return None if issues is None else issues.table

    @property
    def groups(self) -> pd.Series | None:
        """The groups of the view the grid shows by group (:meth:`Dataset.groups`), or None."""
        found = self._groups
        return None if found is None else found.group

    @property
    def job(self) -> Any:
        """The background job that ranks: ``request(delay)``, ``wait(timeout)``,
        ``last_seconds``."""
        return self._job
