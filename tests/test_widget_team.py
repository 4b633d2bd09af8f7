"""The Labeler's Mine and Review tabs without a browser: tabs, the review bar, its keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imagegen import fill_folder

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.testing import LabelerDriver
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
        error = lab.status.last_error
        lab.close()
        assert error is None, f"an unexpected error reached the status line: {error!r}"


def test_team_tabs_show_only_once_the_dataset_has_team_work(
    folder: Path, labelers: list[Labeler]
) -> None:
    ds = Dataset.open(folder, author="lead")
    lab = make(ds)
    labelers.append(lab)
    user = LabelerDriver(lab)
    assert list(user.tab_titles) == ["unlabeled", "labeled", "all"]
    assert not user.review_bar_shown
    ds.assign(["alice", "lead"], seed=0)
    assert list(user.tab_titles) == ["unlabeled", "labeled", "all", "mine", "review"]
    assert user.tab_titles["mine"] == "Mine (10)"
    assert user.tab_titles["review"] == "Review (0)"


def test_mine_tab_shows_my_work_and_rejected_images_come_back(
    folder: Path, labelers: list[Labeler]
) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.assign(["alice", "bob"], seed=1)
    alice = Dataset.open(folder, author="alice")
    lab = make(alice)
    labelers.append(lab)
    user = LabelerDriver(lab)
    user.open_tab("mine")
    assert lab.view == "mine"
    assert user.active_tab == "mine"
    mine = list(alice.ids("mine"))
    assert user.visible_ids == mine[:12]
    lab.selected = tuple(mine[:4])
    user.label_selection("cat")
    assert set(user.visible_ids).isdisjoint(mine[:4])  # done: they left Mine
    assert lab.selected == ()
    lead.refresh()
    lead.review(mine[:2], accept=False, reason="not a cat")
    lab.dataset.refresh()
    assert set(mine[:2]) <= set(user.visible_ids)
    assert user.tab_titles["mine"] == f"Mine ({len(mine) - 2})"
    assert "2 images came back from review: not a cat (2)" in user.team_notes
    lead.review(mine[2:3], accept=False, reason="<script>x</script>")
    lab.dataset.refresh()
    assert "&lt;script&gt;x&lt;/script&gt; (1)" in lab.team_panel.notes.value
    assert "<script>" not in lab.team_panel.notes.value
    lab.view = "all"
    assert user.team_notes == ""


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
    user = LabelerDriver(lab)
    assert user.review_bar_shown
    assert user.visible_ids == list(lead.ids()[:8])
    first = user.visible_ids
    lab.selected = tuple(first[:3])
    user.click("accept")
    assert (lead.images.loc[first[:3], "review"] == "accepted").all()
    assert lab.selected == ()
    assert set(user.visible_ids) == set(first[3:])
    # reject asks why first; nothing happens until confirmed
    lab.selected = tuple(first[3:5])
    user.click("reject")
    assert user.asking_reason
    assert (lead.images.loc[first[3:5], "review"] == "").all()
    # leaving the box for the confirm button sends the reason ahead of the click
    user.type_reason("blurry <b>")
    user.click("reject them")
    assert not user.asking_reason
    table = lead.images.loc[first[3:5]]
    assert (table["review"] == "rejected").all()
    assert (table["review_reason"] == "blurry <b>").all()
    assert "Rejected 2 images: blurry <b>" in user.status_text
    assert "<b>" not in lab.status.markup  # shown as text, never as markup
    # cancel leaves everything as it was
    lab.selected = tuple(first[5:6])
    user.click("reject")
    lab.team_panel.reason.value = "x"
    user.click("cancel reject")
    assert not user.asking_reason
    assert user.reason_typed == ""
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
    user = LabelerDriver(lab)
    assert lead.has_team
    shortcuts = {k for s in keymap.KEYS for k in s.keys}
    assert {"y", "r"} <= shortcuts
    assert set(lab.grid.key_names) == shortcuts
    lab.view = "labeled"
    lab.selected = tuple(lead.ids()[1:3])
    user.press("y")
    assert (lead.images.loc[list(lead.ids()[1:3]), "review"] == "").all()
    lab.view = "review"
    lab.selected = tuple(lead.ids()[1:3])
    user.press("y")
    assert (lead.images.loc[list(lead.ids()[1:3]), "review"] == "accepted").all()
    lab.selected = tuple(lead.ids()[3:4])
    sent: list[Any] = []
    lab.team_panel.reason.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    user.press("r")
    assert user.asking_reason
    # the reason box takes the focus from the grid, so that the reason typed is not keys there
    assert sent == [{"do": "focus"}]
    lab.team_panel.reason.value = "why not"
    # Enter in the reason box confirms, as the browser sends it
    user.enter_reason("why not")
    assert not user.asking_reason
    assert lead.images.loc[lead.ids()[3], "review_reason"] == "why not"


def test_reviewing_nothing_says_so(folder: Path, labelers: list[Labeler]) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.add_label("cat", list(lead.ids()[:2]))
    lead.review(list(lead.ids()[:1]))
    lab = make(lead)
    labelers.append(lab)
    lab.view = "review"
    user = LabelerDriver(lab)
    user.click("accept")
    assert "Select images first" in user.status_text
    lab.team_panel.reason.value = "x" * 300
    lab.selected = tuple(lead.ids()[1:2])
    user.click("reject them")  # refused: said on the status line, nothing changes
    assert "at most 256 characters" in user.status_text
    assert lead.images.loc[lead.ids()[1], "review"] == ""
    user.clear_error()


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
    shown = LabelerDriver(lab).others
    assert "alice on page 3 of Review" in shown
    assert "<bob> on page 1 of Mine" in shown
    assert "review" not in shown
    assert "mine" not in shown
    assert "<bob>" not in lab.others_html  # escaped in the HTML


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
    user = LabelerDriver(lab)
    grid_asks = focus_asks(lab.grid)
    box_asks = focus_asks(lab.team_panel.reason)
    first = user.visible_ids

    # r, a reason, Enter: rejected, the box closes, the grid is asked to take the keys again
    lab.selected = tuple(first[:1])
    user.press("r")
    assert user.asking_reason
    assert (len(box_asks), len(grid_asks)) == (1, 0)
    user.enter_reason("blurry")
    assert not user.asking_reason
    assert lead.images.loc[first[0], "review"] == "rejected"
    assert len(grid_asks) == 1
    # so the next key acts on the grid: y accepts the next selection
    lab.selected = tuple(first[1:2])
    user.press("y")
    assert lead.images.loc[first[1], "review"] == "accepted"

    # r, then Esc in the box: nothing journaled, the selection kept, the keys back on the grid
    assert lead.flush()
    events = lead.replica.journal.list_events()
    undo = lead.undo_description
    lab.selected = tuple(first[2:4])
    user.press("r")
    user.type_reason("not sure")
    user.escape_reason()
    assert not user.asking_reason
    assert user.reason_typed == ""
    assert lab.selected == tuple(first[2:4])
    assert (lead.images.loc[first[2:4], "review"] == "").all()
    assert lead.flush()
    assert lead.replica.journal.list_events() == events
    assert lead.undo_description == undo
    assert len(grid_asks) == 2
    # the box opens empty next time, and the selection kept is the one the next key acts on
    user.press("r")
    assert user.asking_reason
    assert user.reason_typed == ""
    user.click("cancel reject")  # Cancel does as Esc does
    assert not user.asking_reason
    assert len(grid_asks) == 3
    user.press("y")
    assert (lead.images.loc[first[2:4], "review"] == "accepted").all()

    # the confirm button gives the keys back too
    lab.selected = tuple(first[4:5])
    user.click("reject")
    user.click("reject them")
    assert lead.images.loc[first[4], "review"] == "rejected"
    assert len(grid_asks) == 4
    # a refused reason keeps the box open, with the keys in it
    lab.selected = tuple(first[5:6])
    user.press("r")
    user.enter_reason("x" * 300)
    assert "at most 256 characters" in user.status_text
    user.clear_error()
    assert user.asking_reason
    assert len(grid_asks) == 4
    # leaving the Review tab closes the box without taking the focus from the tab clicked
    user.open_tab("mine")
    assert not user.asking_reason
    assert len(grid_asks) == 4
    assert lead.images.loc[first[5], "review"] == ""


def test_esc_in_the_label_box_does_nothing(folder: Path, labelers: list[Labeler]) -> None:
    ds = Dataset.open(folder, author="lead")
    lab = make(ds)
    labelers.append(lab)
    lab.selected = tuple(ds.ids()[:2])
    LabelerDriver(lab).type_label("cat")
    grid_asks = focus_asks(lab.grid)
    lab.label_box.input.receive({"event": "cancel"})
    assert lab.label_box.input.value == "cat"
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
    user = LabelerDriver(lab)
    user.press("r")
    box_asks = focus_asks(lab.team_panel.reason)

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise OSError("the store is gone")

    monkeypatch.setattr(lead, "review", broken)
    user.enter_reason("too dark")
    assert "the store is gone" in user.status_text
    user.clear_error()
    assert user.asking_reason
    assert user.reason_typed == "too dark"
    assert len(box_asks) == 1  # the keys are the box's again
    assert lab.selected == tuple(lead.ids()[1:2])
    monkeypatch.undo()
    user.enter_reason("too dark")
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
    user = LabelerDriver(lab)
    assert set(user.visible_ids) == set(his[:2])
    assert user.tab_titles["review"] == "Review (2)"
    assert (
        user.team_notes
        == "3 images assigned to you wait for another reviewer: nobody reviews their own work."
    )
    # a selection that holds one of hers is refused whole, saying why
    lab.selected = (his[0], hers[0])
    user.press("y")
    assert "alice cannot review 1 image assigned to them" in user.status_text
    user.clear_error()
    assert (alice.images.loc[[his[0], hers[0]], "review"] == "").all()
    lab.selected = (his[0],)
    user.press("y")
    assert alice.images.loc[his[0], "review"] == "accepted"
    lab.view = "all"
    assert user.team_notes == ""
