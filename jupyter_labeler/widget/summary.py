"""Everything the Labeler shows beside the page itself, drawn from the Dataset.

The tabs' counts and which tab is active (with the team's tabs and review bar), the label
filter's choices, the label lists (the label box's and All Labels), readiness for training, the
Undo button, who else is here, and in the status line: whether the labels are saved, what the
store refused, and what another annotator just did. :class:`Summary` makes the tabs, the
label filter, Undo, readiness and who else is here; it draws into the Labeler's team panel,
label box and All Labels; what the user does with its controls goes to :class:`SummaryCallbacks`.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

from ..results import Change
from .closing import close_widgets
from .label_box import LabelBox
from .labels_pane import LabelsPane
from .review import TEAM_VIEWS, TeamPanel
from .status import StatusLine
from .tabs import mark_tab
from .traits import Quiet, classes

__all__ = ["VIEW_TITLES", "Summary", "SummaryCallbacks"]

#: The Labeler's own tabs: view -> title.
VIEW_TITLES = {"unlabeled": "Unlabeled", "labeled": "Labeled", "all": "All"}


@dataclass(frozen=True)
class SummaryCallbacks:
    """What the summary asks of the Labeler."""

    #: The view shown, and its label filter.
    where: Callable[[], tuple[str, str | None]]
    #: The user clicked the tab of this view.
    tab: Callable[[str], None]
    #: The user chose a label in the label filter (None: all labels).
    label_filter: Callable[[str | None], None]
    #: The user pressed Undo.
    undo: Callable[[], None]


class Summary:
    """Shows ``dataset`` beside the page (see the module's docstring); errors of the controls'
    handlers go to ``status``."""

    def __init__(
        self,
        dataset: Any,
        status: StatusLine,
        team: TeamPanel,
        label_box: LabelBox,
        labels: LabelsPane,
        callbacks: SummaryCallbacks,
    ) -> None:
        self._dataset = dataset
        self._status = status
        self._team = team
        self._label_box = label_box
        self._labels = labels
        self._calls = callbacks
        self._where = callbacks.where
        guard = status.guard
        #: The tab of each of the Labeler's own views.
        self.tabs: dict[str, widgets.Button] = {}
        for view, title in VIEW_TITLES.items():
            button = widgets.Button(
                description=title, layout={"width": "auto"}, **classes("jl-tab", f"jl-tab-{view}")
            )
            button.on_click(guard(lambda _b, v=view: callbacks.tab(v)))
            self.tabs[view] = button
        self._quiet = Quiet()  # set while the label filter's value is set from here
        # No "Label" caption: the label box is the one thing called Label; the options say
        # what this is ("All labels", "cats (12)").
        self.label_filter = widgets.Dropdown(
            options=[("All labels", "")],
            value="",
            tooltip="Show only the images that carry this label",
            **classes("jl-label-filter"),
        )
        self.label_filter.observe(guard(self._filter_chosen), "value")
        self.undo = widgets.Button(
            description="Undo", icon="undo", disabled=True, **classes("jl-undo")
        )
        self.undo.on_click(guard(lambda _b: callbacks.undo()))
        self.readiness = widgets.HTML(value="", **classes("jl-readiness"))
        self.others = widgets.HTML(value="", layout={"display": "none"}, **classes("jl-others"))
        # The undo step that deleted source files: Undo says it cannot bring them back.
        self._irreversible: str | None = None
        self._activity_shown = ""

    def show_change(self, change: Change) -> bool:
        """Show a change of the Dataset that touches only what is shown here (saving, who else
        is here, what the store refused); False for any other. May come from the saver's or
        the follower's thread: sets widget values only."""
        if change.kind == "status":
            self.show_save_status()
        elif change.kind == "presence":
            self.show_others()
        elif change.kind == "problems":
            self.show_problems(list(change.labels))
        else:
            return False
        return True

    def _filter_chosen(self, change: Any) -> None:
        if not self._quiet:
            self._calls.label_filter(change["new"] or None)

    def show_filter(self, label_filter: str | None) -> None:
        """The label filter chosen (from code, or by the user)."""
        with self._quiet():
            self.label_filter.value = label_filter or ""

    def refresh(self) -> None:
        """Counts, the label lists, readiness and undo: everything not on the page itself."""
        ds = self._dataset
        counts = ds.view_counts()
        for view, button in self.tabs.items():
            button.description = f"{VIEW_TITLES[view]} ({int(counts.get(view, 0))})"
        self._show_team(counts)
        names = list(ds.label_names)
        table = ds.counts()
        column = table["images"] if "images" in table else table.iloc[:, 0]
        per_label = {str(k): int(v) for k, v in column.items()}
        label_filter = self._where()[1]
        with self._quiet():
            options = [("All labels", "")] + [(f"{n} ({per_label.get(n, 0)})", n) for n in names]
            if list(self.label_filter.options) != options:
                self.label_filter.options = options
            self.label_filter.value = label_filter if label_filter in names else ""
        self._label_box.set_labels(names)
        self._labels.update(names, per_label)
        self.show_readiness()
        self.show_undo()

    def show_view(self) -> None:
        """The page of the view shown is drawn: its tab is the active one."""
        view = self._where()[0]
        for name, button in self.tabs.items():
            mark_tab(button, name == view)
        self._show_team(self._dataset.view_counts())

    def _show_team(self, counts: dict[str, int]) -> None:
        """The Mine and Review tabs, the review bar, and why images came back (on Mine)."""
        ds = self._dataset
        view = self._where()[0]
        rejections = ds.rejections() if view == "mine" else None
        excluded = ds.review_excluded() if view == "review" else 0
        self._team.update(view, counts, ds.has_team, rejections, excluded)

    def show_readiness(self) -> None:
        report = self._dataset.readiness()
        if report.ready:
            self.readiness.value = '<b class="jl-ready">Ready for training</b>'
            return
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in report.problems)
        self.readiness.value = (
            f'<div class="jl-not-ready"><b>Not ready for training yet:</b><ul>{items}</ul></div>'
        )

    def show_undo(self, *, irreversible: bool = False) -> None:
        """The Undo button; ``irreversible``: the action just done deleted source files."""
        ds, undo = self._dataset, self.undo
        if irreversible:
            self._irreversible = ds.undo_description
        can = bool(ds.can_undo)
        undo.disabled = not can
        description = ds.undo_description
        if can and description and description == self._irreversible:
            undo.tooltip = (
                f"{description}: this deleted source files, which Undo cannot bring back "
                "(pressing it only drops this step from the undo history)"
            )
            undo.description = "Undo (files gone)"
            return
        undo.description = "Undo"
        undo.tooltip = f"Undo: {description} (z)" if can and description else "Nothing to undo"

    def show_save_status(self) -> None:
        """Whether the labels are saved (may run on the saver's thread: sets values only)."""
        self._status.show_save_status(self._dataset.status)

    def show_problems(self, said: list[str]) -> None:
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

    def show_activity(self) -> None:
        """Say in the status line what another annotator just did (once each)."""
        recent = self._dataset.recent_activity(within=60)
        if recent and recent[0].rsplit(", ", 1)[0] != self._activity_shown:
            self._activity_shown = recent[0].rsplit(", ", 1)[0]
            self._status.info(recent[0])

    def show_others(self) -> None:
        """Who else is here, and on which page of which tab."""
        others = self._dataset.others
        if not others:
            self.others.value = ""
            self.others.layout.display = "none"
            return
        titles = {**VIEW_TITLES, **TEAM_VIEWS}  # the tabs' titles, as the others see them
        where = "; ".join(
            f"{html.escape(author)} on page {page + 1} of {html.escape(titles.get(view, view))}"
            for author, view, page in others[:5]
        )
        more = f" and {len(others) - 5} more" if len(others) > 5 else ""
        self.others.value = f"<span class='jl-others-text'>Also here: {where}{more}</span>"
        self.others.layout.display = None

    def close(self) -> None:
        close_widgets(
            *self.tabs.values(), self.label_filter, self.undo, self.readiness, self.others
        )
