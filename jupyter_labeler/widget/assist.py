"""Assisted labeling in the Labeler: suggested labels on the tiles, accepting them, the grid's
order, and the images' features computed in the background.

The Labeler makes one :class:`Assist`, ``labeler.assist``, and shows its bar above the grid;
what Assist needs of the Labeler it gets as :class:`AssistCallbacks`.
Each control is also a trait or a method, for notebook code and tests:

- **Suggest** (``assist.suggest``): Unlabeled tiles show their suggested label as a dashed chip
  with its confidence ("roses 94%"). Suggestions are fitted again in the background a moment
  after the labels change (:data:`SUGGEST_DELAY`), only while there are features; turning
  Suggest on computes the features first when there are none.
- **Accept 212 >= 90%** (``assist.accept_all()``): labels every unlabeled image whose suggestion
  is at least ``assist.min_confidence`` sure, as one action that Undo (or ``z``) takes back.
  Disabled, with the reason beside it, when there is nothing to accept.
- ``s`` on the grid (``assist.accept_selected()``): accepts the suggestions of the selected images.
- **Order** (``assist.order``): ``"file"`` (the view's own order), ``"uncertain"`` (the images the
  model is least sure of first: label those next), ``"suggested"`` (grouped by suggested label,
  surest first) or ``"similar"`` (nearest to the images that were selected first). The grid's
  pages, shift-click ranges and the preview's next / previous follow it. ``"wrong"`` (likely
  wrong labels first) and ``"group"`` (by group of look-alikes) are ranked by :mod:`.quality`.
  The ordered images come
  first, the rest of the view after them in file order. A new ranking computed in the background
  reorders the grid only at its next render (a page turn, an action), never under the pointer.
- **More like these** (``assist.more_like_these()``): the order "similar" to the selection.
- **Compute features** (``assist.compute_features()``): on a background thread; the grid stays
  usable, the status line says "Features: 1,200 / 5,000", errors go there too.

Background work sets widget values only, as the Labeler does from its follower's thread.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from ..errors import LabelerError, UnknownImageError
from ..results import Change
from ..words import plural
from .background import Debounced
from .closing import close_widgets
from .grid import ImageGrid
from .quality import QUALITY_ORDERS, Quality
from .status import StatusLine, describe_error
from .traits import Quiet, classes, one_of

__all__ = [
    "MIN_PER_LABEL",
    "ORDERS",
    "SIMILAR_RANKED",
    "SUGGEST_DELAY",
    "Assist",
    "AssistCallbacks",
]

#: The grid's orders: value -> what the Order menu says.
ORDERS = {
    "file": "File order",
    "uncertain": "Least certain first",
    "suggested": "By suggested label",
    "similar": "Similar to the selection",
    **QUALITY_ORDERS,
}
_NEEDS_FEATURES = ("uncertain", "suggested", "similar", *QUALITY_ORDERS)
#: Seconds between a change of the labels and fitting the suggestions again: a burst of clicks
#: fits once. When a fit takes longer (many labeled images), the pause is as long as the fit.
SUGGEST_DELAY = 0.5
#: "Similar to the selection" ranks this many images; the rest of the view follows in file order.
SIMILAR_RANKED = 10_000
#: Labels with fewer labeled images are never suggested (as :meth:`Dataset.suggest`).
MIN_PER_LABEL = 5

_NO_FEATURES = "no features yet: press Compute features"
_TOO_FEW = f"suggestions need at least 2 labels with {MIN_PER_LABEL} or more labeled images each"


class _Stopped(Exception):
    """Raised from a progress callback to stop a computation when the Labeler closes."""


@dataclass(frozen=True)
class _Suggestions:
    """One computation of the suggestions, arranged for the grid.

    ``images`` holds each suggested image once, surest first; its rows in ``labels`` and
    ``confidence`` are ``starts[i]:starts[i + 1]`` (surest label first). ``reason`` says why
    there are none.
    """

    images: pd.Index
    starts: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    by_label: np.ndarray | None = None  # "By suggested label": ids in that order
    uncertain: np.ndarray | None = None  # "Least certain first": ids in that order
    reason: str = ""

    @classmethod
    def none(cls, reason: str) -> _Suggestions:
        empty = np.zeros(0, dtype=object)
        return cls(
            pd.Index([], dtype=object), np.zeros(1, np.int64), empty, np.zeros(0), reason=reason
        )

    @classmethod
    def of(
        cls,
        table: pd.DataFrame,
        label_names: Sequence[str],
        uncertain: np.ndarray | None,
        reason: str,
    ) -> _Suggestions:
        ordered = table.sort_values("confidence", ascending=False, kind="stable")
        codes, images = pd.factorize(ordered.index)
        group = np.argsort(codes, kind="stable")  # by image, surest label first within
        labels = ordered["label"].to_numpy(dtype=object)[group]
        confidence = ordered["confidence"].to_numpy(dtype=np.float64)[group]
        starts = np.searchsorted(codes[group], np.arange(len(images) + 1)).astype(np.int64)
        top_label = labels[starts[:-1]]
        top_confidence = confidence[starts[:-1]]
        position = {name: i for i, name in enumerate(label_names)}
        rank = np.asarray([position.get(str(n), len(position)) for n in top_label], np.int64)
        by_label = np.asarray(images, dtype=object)[np.lexsort((-top_confidence, rank))]
        index = pd.Index(images, dtype=object)
        index.get_indexer(index[:1])  # its hash table, built here rather than while drawing
        return cls(
            index,
            starts,
            labels,
            confidence,
            by_label=by_label,
            uncertain=uncertain,
            reason=reason,
        )

    def of_images(self, ids: Sequence[str]) -> list[list[tuple[str, float]]]:
        """Each image's suggestions, surest first ([] for none)."""
        where = self.images.get_indexer(list(ids)) if len(self.images) else [-1] * len(ids)
        out: list[list[tuple[str, float]]] = []
        for i in where:
            if i < 0:
                out.append([])
                continue
            a, b = int(self.starts[i]), int(self.starts[i + 1])
            out.append(
                [
                    (str(n), float(c))
                    for n, c in zip(self.labels[a:b], self.confidence[a:b], strict=True)
                ]
            )
        return out

    def at_least(self, confidence: float) -> list[str]:
        """The images with a suggestion at least this sure."""
        if not len(self.images):
            return []
        rows = np.flatnonzero(self.confidence >= confidence)
        owner = np.searchsorted(self.starts, rows, side="right") - 1
        return [str(i) for i in self.images[np.unique(owner)]]


def features_words(summary: Any) -> str:
    """What a computation of the features did, said on the status line."""
    if summary.computed:
        said = (
            f"Features computed for {plural(summary.computed, 'image')} and stored with the labels"
        )
    else:
        said = "No image needed new features"
    if summary.reused:
        said += f"; {plural(summary.reused, 'image')} had them already"
    if summary.failed:
        said += f"; {plural(summary.failed, 'image')} could not be read"
    return said + "."


def _arrange(base: pd.Index, ranking: np.ndarray | None) -> pd.Index:
    """``base`` with the ids of ``ranking`` first (in its order), the rest after, as they were."""
    if ranking is None or not len(ranking) or not len(base):
        return base
    at = base.get_indexer(pd.unique(np.asarray(ranking, dtype=object)))
    at = at[at >= 0]
    rest = np.ones(len(base), dtype=bool)
    rest[at] = False
    return base[np.concatenate([at, np.flatnonzero(rest)])]


@dataclass(frozen=True)
class AssistCallbacks:
    """What assisted labeling asks of the Labeler."""

    #: The view shown, and its label filter.
    view: Callable[[], str]
    label_filter: Callable[[], str | None]
    #: The selected ids, in the order they were selected.
    selected: Callable[[], Sequence[str]]
    #: True when images are selected; else it says in the status line to select some first.
    need_selection: Callable[[], bool]
    #: Say the outcome of labeling the selection (a Dataset result); images that left the
    #: view leave the selection.
    labeled: Callable[[Any], None]
    #: Show the view's first page, in the grid's (new) order.
    first_page: Callable[[], None]


class Assist(traitlets.HasTraits):
    """The Labeler's assisted labeling: see the module's docstring.

    Suggestions of ``dataset`` go on the tiles of ``grid``; messages and errors to ``status``;
    ``quality`` ranks the orders of :data:`QUALITY_ORDERS`.
    """

    suggest = traitlets.Bool(
        False, help="Show each unlabeled image's suggested label on its tile (Suggest switch)."
    )
    order = traitlets.Unicode(
        "file",
        help="The grid's order: 'file', 'uncertain' (least certain first), 'suggested' (by "
        "suggested label), 'similar' (similar to the selection; see more_like_these()), "
        "'wrong' (likely wrong labels first) or 'group' (by group of look-alikes).",
    )
    min_confidence = traitlets.Float(
        0.9, help="How sure a suggestion must be for the Accept all button (0 to 1)."
    )

    def __init__(
        self,
        dataset: Any,
        grid: ImageGrid,
        status: StatusLine,
        callbacks: AssistCallbacks,
        quality: Quality,
    ) -> None:
        super().__init__()
        self._dataset = dataset
        self._quality = quality
        self._grid = grid
        self._status = status
        self._calls = callbacks
        guard = status.guard
        self._closed = False
        self._quiet = Quiet()
        self._snapshot: _Suggestions | None = None  # the newest, for chips and Accept
        self._applied: _Suggestions | None = None  # the one the grid's order uses
        self._waiting = False  # an order waits for its first ranking
        self._announce = False  # say why there are no suggestions, once asked for them
        self._query: tuple[str, ...] = ()
        self._similar: dict[str, np.ndarray] = {}
        self._arranged: tuple[Any, ...] | None = None  # (base, ranking, order, ordered ids)
        self._features_thread: threading.Thread | None = None
        self._features_quiet = False
        self._drawing = threading.RLock()  # chips are set by one thread at a time
        self._job = Debounced(self._refresh, "jupyter-labeler-suggest", min_pause=SUGGEST_DELAY)

        self._suggest = widgets.ToggleButton(
            value=False,
            description="Suggest",
            icon="magic",
            tooltip="Show suggested labels on the unlabeled images (computes features if needed)",
            layout={"width": "auto"},
            **classes("jl-suggest"),
        )
        self._suggest.observe(guard(self._switched), "value")
        self._accept = widgets.Button(
            description=self._accept_words(None),
            icon="check",
            disabled=True,
            layout={"width": "auto"},
            **classes("jl-accept-all"),
        )
        self._accept.on_click(guard(lambda _b: self.accept_all()))
        self._note = widgets.HTML(value="", **classes("jl-assist-note"))
        self._order = widgets.Dropdown(
            options=[(text, value) for value, text in ORDERS.items()],
            value="file",
            description="Order",
            tooltip="Every order but file order needs the images' features (Compute features)",
            # Wide enough for the longest choice: the label takes its own width only.
            style={"description_width": "initial"},
            layout={"width": "auto"},
            **classes("jl-order"),
        )
        self._order.observe(guard(self._order_chosen), "value")
        self._more = widgets.Button(
            description="More like these",
            icon="clone",
            disabled=True,
            tooltip="Show the images most like the selected ones first (needs features)",
            layout={"width": "auto"},
            **classes("jl-more-like-these"),
        )
        self._more.on_click(guard(lambda _b: self.more_like_these()))
        self._compute = widgets.Button(
            description="Compute features",
            icon="cogs",
            tooltip="Compute each image's features once (kept beside the labels, shared by "
            "every annotator); suggestions, orders and More like these need them",
            layout={"width": "auto"},
            **classes("jl-compute-features"),
        )
        self._compute.on_click(guard(lambda _b: self.compute_features()))
        self.box = widgets.HBox(
            [
                self._suggest,
                self._accept,
                self._order,
                *quality.controls,  # the buttons of the order chosen, beside the menu
                self._more,
                self._compute,
                self._note,
            ],
            layout={"align_items": "center", "flex_flow": "row wrap"},
            **classes("jl-assist"),
        )
        self._unobserve = dataset.observe(self._dataset_changed)
        self._show_accept()

    # -- traits ------------------------------------------------------------------------------
    @traitlets.validate("order")
    def _validate_order(self, proposal: Any) -> str:
        return str(one_of("order", proposal["value"], tuple(ORDERS)))

    @traitlets.validate("min_confidence")
    def _validate_min_confidence(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise traitlets.TraitError(f"min_confidence must be from 0 to 1, not {value!r}")
        return value

    @traitlets.observe("suggest")
    def _suggest_changed(self, change: Any) -> None:
        with self._quiet():
            self._suggest.value = change["new"]
        if change["new"]:
            self._announce = True
            if not self._dataset.has_features():
                self._status.info("Suggest: computing the images' features first.")
                self.compute_features()
            else:
                self._job.request(0)
        self._show_accept()
        self._decorate_now()

    @traitlets.observe("min_confidence")
    def _min_confidence_changed(self, _change: Any) -> None:
        self._show_accept()

    @traitlets.observe("order")
    def _order_changed(self, change: Any) -> None:
        new = change["new"]
        with self._quiet():
            self._order.value = new
        if self._quiet:
            return  # an order refused, put back: the grid never changed
        if new in _NEEDS_FEATURES and not self._dataset.has_features():
            self._status.info(
                f"{ORDERS[new]} needs the images' features: press Compute features first."
            )
            self._put_back(change["old"])
            return
        if new == "similar" and not self._take_query():
            self._put_back(change["old"])
            return
        if new in ("uncertain", "suggested"):
            self._announce = True
            needed = self._snapshot is None or (
                new == "uncertain" and self._snapshot.uncertain is None
            )
            self._waiting = needed
            if needed:
                self._job.request(0)
        self._quality.chosen(new)
        self._calls.first_page()

    def _put_back(self, order: str) -> None:
        with self._quiet():
            self.order = order

    def _take_query(self) -> bool:
        """Rank by likeness to the selection (else to the images asked before); False, said
        in the status line, when that cannot be done."""
        query = tuple(self._calls.selected()) or self._query
        if not query:
            self._status.info("Select images first, then More like these.")
            return False
        previous = self._query, self._similar
        self._query, self._similar = query, {}
        try:
            # Ranked now, so that an image without features is said now, not while drawing.
            self._similar_ranking(self._calls.view())
        except LabelerError as exc:
            self._query, self._similar = previous
            self._status.info(str(exc))
            return False
        return True

    def _switched(self, change: Any) -> None:
        if not self._quiet:
            self.suggest = bool(change["new"])

    def _order_chosen(self, change: Any) -> None:
        if not self._quiet:
            self.order = change["new"]

    # -- public actions ------------------------------------------------------------------------
    def accept_all(self) -> None:
        """Label every unlabeled image whose suggestion is at least ``min_confidence`` sure
        (one action; Undo takes it back): the images the button counts, never more."""
        ids = self._acceptable()
        if not ids:
            self._status.info(f"Nothing to accept: {self._accept_reason()}.")
            return
        self._calls.labeled(
            self._dataset.accept_suggestions(ids, min_confidence=self.min_confidence)
        )

    def accept_selected(self) -> None:
        """Accept the suggestions shown on the selected images (the ``s`` key)."""
        if not self._calls.need_selection():
            return
        if not self.suggest:
            self._status.info("Turn on Suggest first, to see the suggestions you accept.")
            return
        snap = self._snapshot
        if snap is None or not len(snap.images):
            self._status.info(f"No suggestions to accept: {self._accept_reason()}.")
            return
        selected = list(self._calls.selected())
        chosen = [i for i, s in zip(selected, snap.of_images(selected), strict=True) if s]
        if not chosen:
            self._status.info("None of the selected images has a suggestion.")
            return
        self._calls.labeled(self._dataset.accept_suggestions(chosen, min_confidence=0.0))

    def more_like_these(self) -> None:
        """Order the grid by likeness to the selected images (they come first)."""
        if not self._calls.need_selection():
            return
        if not self._dataset.has_features():
            self._status.info("More like these needs the images' features: press Compute features.")
            return
        if self.order != "similar":
            self.order = "similar"
            done = self.order == "similar"
        elif self._take_query():
            self._calls.first_page()
            done = True
        else:
            done = False
        if done:
            self._status.info(f"Most like the {plural(len(self._query), 'selected image')} first.")

    def compute_features(self) -> None:
        """Compute the features images lack, on a background thread (progress in the status
        line). :meth:`wait` waits for it."""
        self._start_features(quiet=False)

    def wait(self, timeout: float | None = 30.0) -> bool:
        """Wait until no features or suggestions are being computed; False on timeout."""
        thread = self._features_thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        return self._job.wait(timeout)

    @property
    def suggestions(self) -> pd.DataFrame:
        """The suggestions shown: index image_id; label, confidence (surest first)."""
        snap = self._snapshot
        if snap is None or not len(snap.images):
            return pd.DataFrame(
                {"label": pd.array([], dtype=object), "confidence": np.zeros(0)},
                index=pd.Index([], name="image_id", dtype=object),
            )
        owner = np.repeat(np.arange(len(snap.images)), np.diff(snap.starts))
        return pd.DataFrame(
            {"label": snap.labels, "confidence": snap.confidence},
            index=pd.Index(snap.images[owner], name="image_id", dtype=object),
        )

    # -- what the Labeler asks -------------------------------------------------------------
    def order_ids(self, base: pd.Index, *, fresh: bool = False) -> pd.Index:
        """The view's ids (``base``, in file order) in the grid's order. ``fresh`` (when the
        grid is drawn) takes up the newest ranking; otherwise the one drawn is kept."""
        if fresh:
            self._applied = self._snapshot
            self._quality.apply()
        order = self.order
        try:
            ranking = self._ranking(order)
        except Exception as exc:  # drawing must go on: in file order, and say why
            self._status.error(f"{ORDERS[order]}: {describe_error(exc)}")
            ranking = None
        cached = self._arranged
        if cached is not None and cached[0] is base and cached[1] is ranking and cached[2] == order:
            ordered: pd.Index = cached[3]
            return ordered
        ordered = _arrange(base, ranking)
        self._arranged = (base, ranking, order, ordered)
        return ordered

    def position(self, image_id: str, ordered: pd.Index) -> int | None:
        """Where ``image_id`` stands in the grid's order, or None when not shown."""
        cached = self._arranged
        if cached is None or cached[1] is None or cached[3] is not ordered:
            calls = self._calls
            return self._dataset.position(image_id, calls.view(), calls.label_filter())
        try:
            at = ordered.get_loc(image_id)
        except KeyError:
            return None
        return at if isinstance(at, int) else None

    def decorate(self, ids: Sequence[str], labels: Sequence[Sequence[str]]) -> None:
        """Put the page's suggestions into the grid (in the page's message when called while
        the grid holds its sync)."""
        with self._drawing:
            self._grid.show_suggestions(self._chips(ids, labels))

    def _chips(
        self, ids: Sequence[str], labels: Sequence[Sequence[str]]
    ) -> list[list[tuple[str, float]]]:
        snap = self._snapshot
        if not self.suggest or snap is None or not len(snap.images):
            return [[] for _ in ids]
        found = snap.of_images(ids)
        return [s if not own else [] for s, own in zip(found, labels, strict=True)]

    def close(self) -> None:
        self._closed = True
        self._job.close()
        with contextlib.suppress(Exception):
            self._unobserve()
        close_widgets(
            self._suggest,
            self._accept,
            self._note,
            self._order,
            self._more,
            self._compute,
            self.box,
        )

    # -- rankings ------------------------------------------------------------------------------
    def _ranking(self, order: str) -> np.ndarray | None:
        if order == "similar":
            return self._similar_ranking(self._calls.view()) if self._query else None
        if order in QUALITY_ORDERS:
            return self._quality.ranking(order)
        snap = self._applied
        if snap is None:
            return None
        if order == "uncertain":
            return snap.uncertain
        if order == "suggested":
            return snap.by_label
        return None

    def _similar_ranking(self, view: str) -> np.ndarray:
        found = self._similar.get(view)
        if found is None:
            query = list(self._query)
            try:
                near = self._dataset.similar(query, k=SIMILAR_RANKED, view=view)
            except UnknownImageError as exc:
                raise LabelerError(
                    "some selected images have no features yet: press Compute features, "
                    "then More like these again"
                ) from exc
            found = np.asarray([*query, *near.index], dtype=object)
            self._similar[view] = found
        return found

    # -- background: suggestions -----------------------------------------------------------
    def _wanted(self) -> tuple[bool, bool]:
        """(the suggestion table, the least certain ranking): what is worth computing now."""
        return self.suggest or self.order == "suggested", self.order == "uncertain"

    def _refresh(self) -> None:
        """Fit the suggestions again (on the background thread)."""
        if self._closed:
            return
        want_table, want_uncertain = self._wanted()
        if not (want_table or want_uncertain):
            return
        ds = self._dataset
        try:
            try:
                table = ds.suggest(MIN_PER_LABEL)
            except LabelerError:
                if ds.has_features():
                    raise
                snap = _Suggestions.none(_NO_FEATURES)
            else:
                uncertain = None
                if want_uncertain:
                    n = len(ds.ids("unlabeled"))
                    uncertain = ds.uncertain(n, min_per_label=MIN_PER_LABEL).index.to_numpy()
                reason = ""
                if table.empty:
                    reason = "no unlabeled images" if not len(ds.ids("unlabeled")) else _TOO_FEW
                snap = _Suggestions.of(table, ds.label_names, uncertain, reason)
        except Exception as exc:
            if not self._closed:
                self._status.report(exc, about="Suggestions")
            return
        if self._closed:
            return
        self._snapshot = snap
        self._shown(snap)

    def _shown(self, snap: _Suggestions) -> None:
        """Show a new computation: chips, the Accept button, and a waiting order."""
        with self._status.reporting():
            self._show_accept()
            self._decorate_now()
            if self._announce and snap.reason:
                self._status.info(f"No suggestions: {snap.reason}.")
            self._announce = False
            if self._waiting and self.order in ("uncertain", "suggested"):
                self._waiting = False
                self._calls.first_page()

    def _decorate_now(self) -> None:
        """Redraw the chips of the page shown (from any thread). A page being drawn meanwhile
        wins: its render puts in its own chips, after these or instead of them."""
        grid = self._grid
        with self._drawing:
            token, ids, labels = grid.page_token, list(grid.ids), list(grid.labels)
            if len(ids) != len(labels):
                return  # a new page is half set: its render decorates it
            chips = self._chips(ids, labels)
            if grid.page_token == token and list(grid.ids) == ids:
                grid.show_suggestions(chips)

    # -- background: features ------------------------------------------------------------------
    def _start_features(self, *, quiet: bool) -> None:
        running = self._features_thread
        if running is not None and running.is_alive():
            if not quiet:
                self._status.info("The features are being computed already.")
            return
        self._features_quiet = quiet
        self._compute.disabled = True
        self._compute.description = "Computing features…"
        thread = threading.Thread(
            target=self._features_job, name="jupyter-labeler-features", daemon=True
        )
        self._features_thread = thread
        thread.start()

    def _features_progress(self, done: int, total: int) -> None:
        if self._closed:
            raise _Stopped
        if total:
            self._status.progress(f"Features: {done:,} / {total:,}")

    def _features_job(self) -> None:
        ds = self._dataset
        try:
            summary = ds.compute_features(progress=self._features_progress)
        except _Stopped:
            return
        except Exception as exc:
            if not self._closed:
                self._status.report(exc, about="Features could not be computed")
            return
        else:
            if self._closed:
                return
            if summary.computed or not self._features_quiet:
                self._status.info(features_words(summary))
        finally:
            if not self._closed:
                self._status.progress("")
                self._compute.disabled = False
                self._compute.description = "Compute features"
        if any(self._wanted()):
            self._job.request(0)

    # -- reacting ------------------------------------------------------------------------------
    def _dataset_changed(self, change: Change) -> None:
        kind = change.kind
        if self._closed or kind not in ("labels", "images", "reload"):
            return
        snap = self._snapshot
        with self._status.reporting():
            self._show_accept()
        if kind in ("images", "reload") and self.suggest and snap and snap.reason != _NO_FEATURES:
            # New images get their features (next to nothing to do when none is new).
            self._start_features(quiet=True)
        if any(self._wanted()):
            self._job.request(self._job.pause())

    def selection_changed(self, selected: Sequence[str]) -> None:
        """The Labeler's selection changed: More like these needs one."""
        self._more.disabled = not selected

    def _accept_words(self, count: int | None) -> str:
        percent = f"{self.min_confidence * 100:.0f}%"
        return f"Accept ≥ {percent}" if count is None else f"Accept {count:,} ≥ {percent}"

    def _accept_reason(self) -> str:
        if not self.suggest:
            return "turn on Suggest to see the suggestions"
        snap = self._snapshot
        if snap is None:
            return "the suggestions are being worked out"
        if snap.reason:
            return snap.reason
        return f"no suggestion is {self.min_confidence * 100:.0f}% sure or more"

    def _acceptable(self) -> list[str]:
        """The images Accept labels: a suggestion sure enough, and still unlabeled. The
        suggestions are fitted again only a moment after a change; what the change took
        away (images labeled, accepted or removed) leaves the count at once."""
        snap = self._snapshot
        if snap is None or not self.suggest:
            return []
        ids = snap.at_least(self.min_confidence)
        if not ids:
            return []
        still = self._dataset.in_view(ids, "unlabeled")
        return [i for i, keep in zip(ids, still, strict=True) if keep]

    def _show_accept(self) -> None:
        snap = self._snapshot
        count = len(self._acceptable())
        button = self._accept
        if count:
            button.description = self._accept_words(count)
            button.disabled = False
            button.tooltip = (
                f"Label the {count:,} unlabeled images whose suggestion is at least "
                f"{self.min_confidence * 100:.0f}% sure (one action: Undo takes it back)"
            )
            self._note.value = ""
            return
        reason = self._accept_reason()
        button.description = self._accept_words(0 if self.suggest and snap is not None else None)
        button.disabled = True
        button.tooltip = f"Nothing to accept: {reason}"
        self._note.value = (
            f'<span class="jl-assist-reason" style="color:var(--jp-ui-font-color2)">'
            f"{html.escape(reason)}</span>"
            if self.suggest
            else ""
        )

    # -- its controls, for notebook code and tests (see jupyter_labeler.testing) --------------
    @property
    def suggest_switch(self) -> widgets.ToggleButton:
        """The Suggest switch (its value follows ``suggest``)."""
        return self._suggest

    @property
    def accept_button(self) -> widgets.Button:
        """The button "Accept 212 ≥ 90%": what :meth:`accept_all` does."""
        return self._accept

    @property
    def order_menu(self) -> widgets.Dropdown:
        """The Order menu (its value follows ``order``)."""
        return self._order

    @property
    def more_button(self) -> widgets.Button:
        """More like these: what :meth:`more_like_these` does."""
        return self._more

    @property
    def compute_button(self) -> widgets.Button:
        """Compute features: what :meth:`compute_features` does."""
        return self._compute

    @property
    def note_html(self) -> str:
        """Why there is nothing to accept, beside the Accept button, as HTML ("" when there is)."""
        return str(self._note.value)

    @property
    def suggest_job(self) -> Any:
        """The background job that fits the suggestions again a moment after the labels change:
        ``request(delay)``, ``wait(timeout)``, and ``last_seconds`` (how long the last fit took,
        which spaces the next ones out)."""
        return self._job
