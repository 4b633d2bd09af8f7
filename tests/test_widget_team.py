"""The Labeler's Mine and Review tabs without a browser: tabs, the review bar, its keys."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imagegen import fill_folder

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import keys as keymap
from jupyter_labeler.widget import labeler as labeler_module


@pytest.fixture(autouse=True)
def _prefetch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    fill_folder(lambda n, d: (root / n).write_bytes(d), 20)
    return root


def make(dataset: Dataset) -> Labeler:
    return Labeler(dataset, page_size=12, follow=False)


@pytest.fixture
def labelers() -> Iterator[list[Labeler]]:
    made: list[Labeler] = []
    yield made
    for lab in made:
        error = lab._status.last_error
        lab.close()
        assert error is None, f"an unexpected error reached the status line: {error!r}"


def key(lab: Labeler, name: str) -> None:
    lab._grid.receive({"event": "key", "key": name, "seq": 1})


def text_of(value: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def visible(widget: Any) -> bool:
    return widget.layout.display != "none"


def test_team_tabs_show_only_once_the_dataset_has_team_work(
    folder: Path, labelers: list[Labeler]
) -> None:
    ds = Dataset.open(folder, author="lead")
    lab = make(ds)
    labelers.append(lab)
    assert not any(visible(b) for b in lab._team.tabs.values())
    assert not visible(lab._team.box)
    ds.assign(["alice", "lead"], seed=0)
    assert all(visible(b) for b in lab._team.tabs.values())
    assert lab._team.tabs["mine"].description == "Mine (10)"
    assert lab._team.tabs["review"].description == "Review (0)"


def test_mine_tab_shows_my_work_and_rejected_images_come_back(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.assign(["alice", "bob"], seed=1)
    alice = Dataset.open(folder, author="alice")
    lab = make(alice)
    labelers.append(lab)
    lab._team.tabs["mine"].click()
    assert lab.view == "mine"
    assert "jl-tab-active" in lab._team.tabs["mine"]._dom_classes
    mine = list(alice.ids("mine"))
    assert list(lab._grid.ids) == mine[:12]
    lab.selected = tuple(mine[:4])
    lab._add_to_selection("cat")
    assert set(lab._grid.ids).isdisjoint(mine[:4])  # done: they left Mine
    assert lab.selected == ()
    lead.refresh()
    lead.review(mine[:2], accept=False, reason="not a cat")
    lab.dataset.refresh()
    lab._request_render(force=True)
    assert set(mine[:2]) <= set(lab._grid.ids)
    assert lab._team.tabs["mine"].description == f"Mine ({len(mine) - 2})"
    assert visible(lab._team.notes)
    assert "2 images came back from review: not a cat (2)" in text_of(lab._team.notes.value)
    lead.review(mine[2:3], accept=False, reason="<script>x</script>")
    lab.dataset.refresh()
    lab._request_render(force=True)
    assert "&lt;script&gt;x&lt;/script&gt; (1)" in lab._team.notes.value
    assert "<script>" not in lab._team.notes.value
    lab.view = "all"
    assert not visible(lab._team.notes)


def reviewing(folder: Path, labelers: list[Labeler]) -> tuple[Dataset, Labeler]:
    """The lead's Labeler on its Review tab: 8 images labeled, split between alice and bob."""
    lead = Dataset.open(folder, author="lead")
    lead.assign(["alice", "bob"], seed=1)
    lead.add_label("cat", list(lead.ids()[:8]))
    lab = make(lead)
    labelers.append(lab)
    lab.view = "review"
    return lead, lab


def test_review_tab_accepts_and_rejects_with_a_reason(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead, lab = reviewing(folder, labelers)
    assert visible(lab._team.box)
    assert list(lab._grid.ids) == list(lead.ids()[:8])
    first = list(lab._grid.ids)
    lab.selected = tuple(first[:3])
    lab._team.accept_button.click()
    assert (lead.images.loc[first[:3], "review"] == "accepted").all()
    assert lab.selected == ()
    assert set(lab._grid.ids) == set(first[3:])
    # reject asks why first; nothing happens until confirmed
    lab.selected = tuple(first[3:5])
    lab._team.reject_button.click()
    assert lab._team.asking
    assert (lead.images.loc[first[3:5], "review"] == "").all()
    # leaving the box for the confirm button sends the reason ahead of the click
    lab._team.reason._handle_custom_msg({"event": "typed", "value": "blurry <b>"}, [])
    lab._team.confirm_button.click()
    assert not lab._team.asking
    table = lead.images.loc[first[3:5]]
    assert (table["review"] == "rejected").all()
    assert (table["review_reason"] == "blurry <b>").all()
    assert "Rejected 2 images: blurry <b>" in lab._status.widget.value.replace("&lt;", "<").replace(
        "&gt;", ">"
    )
    assert "<b>" not in lab._status.widget.value  # shown as text, never as markup
    # cancel leaves everything as it was
    lab.selected = tuple(first[5:6])
    lab._team.reject_button.click()
    lab._team.reason.value = "x"
    lab._team.cancel_button.click()
    assert not lab._team.asking
    assert lab._team.reason.value == ""
    assert lead.images.loc[first[5], "review"] == ""
    # undo takes the rejection back
    lab.undo()
    assert (lead.images.loc[first[3:5], "review"] == "").all()


def test_review_keys_act_only_on_the_review_tab(folder: Path, labelers: list[Labeler]) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.add_label("cat", list(lead.ids()[:6]))
    lead.review(list(lead.ids()[:1]))  # reviews alone make the tabs show too
    lab = make(lead)
    labelers.append(lab)
    assert lead.has_team
    shortcuts = {k for s in keymap.KEYS for k in s.keys}
    assert {"y", "r"} <= shortcuts
    assert set(lab._grid.key_names) == shortcuts
    lab.view = "labeled"
    lab.selected = tuple(lead.ids()[1:3])
    key(lab, "y")
    assert (lead.images.loc[list(lead.ids()[1:3]), "review"] == "").all()
    lab.view = "review"
    lab.selected = tuple(lead.ids()[1:3])
    key(lab, "y")
    assert (lead.images.loc[list(lead.ids()[1:3]), "review"] == "accepted").all()
    lab.selected = tuple(lead.ids()[3:4])
    sent: list[Any] = []
    lab._team.reason.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    key(lab, "r")
    assert lab._team.asking
    # the reason box takes the focus from the grid, so that the reason typed is not keys there
    assert sent == [{"do": "focus"}]
    lab._team.reason.value = "why not"
    # Enter in the reason box confirms, as the browser sends it
    lab._team.reason._handle_custom_msg({"event": "submit", "value": "why not"}, [])
    assert not lab._team.asking
    assert lead.images.loc[lead.ids()[3], "review_reason"] == "why not"


def test_reviewing_nothing_says_so(folder: Path, labelers: list[Labeler]) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.add_label("cat", list(lead.ids()[:2]))
    lead.review(list(lead.ids()[:1]))
    lab = make(lead)
    labelers.append(lab)
    lab.view = "review"
    lab._team.accept()
    assert "Select images first" in lab._status.widget.value
    lab._team.reason.value = "x" * 300
    lab.selected = tuple(lead.ids()[1:2])
    lab._team.confirm_button.click()  # refused: said on the status line, nothing changes
    assert "at most 256 characters" in lab._status.widget.value
    assert lead.images.loc[lead.ids()[1], "review"] == ""
    lab._status.clear_error()


def test_who_is_here_names_the_team_tabs_by_their_titles(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead = Dataset.open(folder, author="lead")
    lab = make(lead)
    labelers.append(lab)
    alice = Dataset.open(folder, author="alice")
    bob = Dataset.open(folder, author="<bob>")
    alice.set_presence("review", 2)
    bob.set_presence("mine", 0)
    alice.heartbeat()
    bob.heartbeat()
    lead.heartbeat()  # what a following dataset does at each beat
    shown = text_of(lab._others.value)
    assert "alice on page 3 of Review" in shown
    assert "<bob> on page 1 of Mine" in shown
    assert "review" not in shown
    assert "mine" not in shown
    assert "<bob>" not in lab._others.value  # escaped in the HTML


def focus_asks(widget: Any) -> list[Any]:
    """Record the focus requests sent to a widget's browser side from now on."""
    asks: list[Any] = []
    send = widget.send

    def recording(content: Any, buffers: Any = None) -> None:
        if content == {"do": "focus"}:
            asks.append(content)
        send(content, buffers)

    widget.send = recording
    return asks


def test_closing_the_reason_box_gives_the_keys_back_to_the_grid(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead, lab = reviewing(folder, labelers)
    grid_asks = focus_asks(lab._grid)
    box_asks = focus_asks(lab._team.reason)
    first = list(lab._grid.ids)

    # r, a reason, Enter: rejected, the box closes, the grid is asked to take the keys again
    lab.selected = tuple(first[:1])
    key(lab, "r")
    assert lab._team.asking
    assert (len(box_asks), len(grid_asks)) == (1, 0)
    lab._team.reason._handle_custom_msg({"event": "submit", "value": "blurry"}, [])
    assert not lab._team.asking
    assert lead.images.loc[first[0], "review"] == "rejected"
    assert len(grid_asks) == 1
    # so the next key acts on the grid: y accepts the next selection
    lab.selected = tuple(first[1:2])
    key(lab, "y")
    assert lead.images.loc[first[1], "review"] == "accepted"

    # r, then Esc in the box: nothing journaled, the selection kept, the keys back on the grid
    assert lead.flush()
    events = lead.replica.journal.list_events()
    undo = lead.undo_description
    lab.selected = tuple(first[2:4])
    key(lab, "r")
    lab._team.reason._handle_custom_msg({"event": "typed", "value": "not sure"}, [])
    lab._team.reason._handle_custom_msg({"event": "cancel"}, [])
    assert not lab._team.asking
    assert lab._team.reason.value == ""
    assert lab.selected == tuple(first[2:4])
    assert (lead.images.loc[first[2:4], "review"] == "").all()
    assert lead.flush()
    assert lead.replica.journal.list_events() == events
    assert lead.undo_description == undo
    assert len(grid_asks) == 2
    # the box opens empty next time, and the selection kept is the one the next key acts on
    key(lab, "r")
    assert lab._team.asking
    assert lab._team.reason.value == ""
    lab._team.cancel_button.click()  # Cancel does as Esc does
    assert not lab._team.asking
    assert len(grid_asks) == 3
    key(lab, "y")
    assert (lead.images.loc[first[2:4], "review"] == "accepted").all()

    # the confirm button gives the keys back too
    lab.selected = tuple(first[4:5])
    lab._team.reject_button.click()
    lab._team.confirm_button.click()
    assert lead.images.loc[first[4], "review"] == "rejected"
    assert len(grid_asks) == 4
    # a refused reason keeps the box open, with the keys in it
    lab.selected = tuple(first[5:6])
    key(lab, "r")
    lab._team.reason._handle_custom_msg({"event": "submit", "value": "x" * 300}, [])
    assert "at most 256 characters" in lab._status.widget.value
    lab._status.clear_error()
    assert lab._team.asking
    assert len(grid_asks) == 4
    # leaving the Review tab closes the box without taking the focus from the tab clicked
    lab._team.tabs["mine"].click()
    assert not lab._team.asking
    assert len(grid_asks) == 4
    assert lead.images.loc[first[5], "review"] == ""


def test_esc_in_the_label_box_does_nothing(folder: Path, labelers: list[Labeler]) -> None:
    ds = Dataset.open(folder, author="lead")
    lab = make(ds)
    labelers.append(lab)
    lab.selected = tuple(ds.ids()[:2])
    lab._label_box.input.value = "cat"
    grid_asks = focus_asks(lab._grid)
    lab._label_box.input._handle_custom_msg({"event": "cancel"}, [])
    assert lab._label_box.input.value == "cat"
    assert lab.selected == tuple(ds.ids()[:2])
    assert grid_asks == []


def test_a_rejection_that_fails_gives_the_box_back_with_the_reason(
    folder: Path, labelers: list[Labeler], monkeypatch: pytest.MonkeyPatch
) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.add_label("cat", list(lead.ids()[:3]))
    lead.review(list(lead.ids()[:1]))
    lab = make(lead)
    labelers.append(lab)
    lab.view = "review"
    lab.selected = tuple(lead.ids()[1:2])
    key(lab, "r")
    box_asks = focus_asks(lab._team.reason)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("the store is gone")

    monkeypatch.setattr(lead, "review", broken)
    lab._team.reason._handle_custom_msg({"event": "submit", "value": "too dark"}, [])
    assert "the store is gone" in lab._status.widget.value
    lab._status.clear_error()
    assert lab._team.asking
    assert lab._team.reason.value == "too dark"
    assert len(box_asks) == 1  # the keys are the box's again
    assert lab.selected == tuple(lead.ids()[1:2])
    monkeypatch.undo()
    lab._team.reason._handle_custom_msg({"event": "submit", "value": "too dark"}, [])
    assert lead.images.loc[lead.ids()[1], "review_reason"] == "too dark"


def test_the_review_tab_leaves_out_my_own_images_and_says_why(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.assign(["alice", "bob"], seed=1)
    alice, bob = Dataset.open(folder, author="alice"), Dataset.open(folder, author="bob")
    hers, his = list(alice.ids("mine")), list(bob.ids("mine"))
    alice.add_label("cat", hers[:3])
    bob.add_label("dog", his[:2])
    alice.refresh()
    lab = make(alice)
    labelers.append(lab)
    lab.view = "review"
    assert set(lab._grid.ids) == set(his[:2])
    assert lab._team.tabs["review"].description == "Review (2)"
    assert visible(lab._team.notes)
    assert (
        text_of(lab._team.notes.value)
        == "3 images assigned to you wait for another reviewer: nobody reviews their own work."
    )
    # a selection that holds one of hers is refused whole, saying why
    lab.selected = (his[0], hers[0])
    key(lab, "y")
    assert "alice cannot review 1 image assigned to them" in lab._status.widget.value
    lab._status.clear_error()
    assert (alice.images.loc[[his[0], hers[0]], "review"] == "").all()
    lab.selected = (his[0],)
    key(lab, "y")
    assert alice.images.loc[his[0], "review"] == "accepted"
    lab.view = "all"
    assert not visible(lab._team.notes)
