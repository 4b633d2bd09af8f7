"""A rejected image that its annotator labels again goes back to review.

As in ModelArts team labeling: the reviewer rejects, the annotator fixes the labels, and the
image waits for review again. The return to review is part of the annotator's action (one
journal event), so that undo brings the rejection back with its reason and a reopened dataset
agrees.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from imagegen import image_folder

from jupyter_labeler import Change, Dataset
from jupyter_labeler.plan import Plan
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import labeler as labeler_module

COLUMNS = ["labels", "assigned_to", "review", "reviewed_by", "review_reason"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 12)


def open_as(folder: Path, author: str) -> Dataset:
    return Dataset.open(folder, author=author)


def table(ds: Dataset) -> object:
    return ds.images[COLUMNS].astype(str)


def agrees(folder: Path, ds: Dataset) -> None:
    """A fresh open (the journal replayed) has what ``ds`` has."""
    assert open_as(folder, "x").images[COLUMNS].astype(str).equals(table(ds))


def journal(folder: Path) -> list[dict[str, object]]:
    files = sorted((folder / ".jupyter_labeler" / "journal").glob("*.json"))
    return [orjson.loads(f.read_bytes()) for f in files]


@pytest.fixture
def rejected(folder: Path) -> tuple[Dataset, Dataset, Dataset, list[str]]:
    """alice has images 0-3 and bob 4-7; both labeled theirs cat; the lead rejected 0, 1
    (alice's) and 4 (bob's) and accepted 2."""
    lead = open_as(folder, "lead")
    ids = list(lead.ids())
    lead.assign(["alice"], ids=ids[:4])
    lead.assign(["bob"], ids=ids[4:8])
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("cat", ids[:4])
    bob.add_label("cat", ids[4:8])
    lead.refresh()
    lead.review(ids[:2] + ids[4:5], accept=False, reason="a dog, not a cat")
    lead.review(ids[2:3])
    alice.refresh()
    bob.refresh()
    assert set(alice.ids("mine")) == set(ids[:2])
    return lead, alice, bob, ids


def test_adding_a_label_sends_a_rejected_image_back_to_review(
    folder: Path, rejected: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    lead, alice, _bob, ids = rejected
    assert ids[0] not in set(lead.ids("review"))
    before = table(alice)
    events = len(journal(folder))
    alice.add_label("dog", ids[0:1] + ids[2:3])
    # one event: the label and the return to review together
    assert len(journal(folder)) == events + 1
    ops = [op["op"] for op in journal(folder)[-1]["ops"]]  # type: ignore[union-attr]
    assert ops == ["label+", "review"]
    row = alice.images.loc[ids[0]]
    assert (row["review"], row["reviewed_by"], row["review_reason"]) == ("", "", "")
    assert list(alice.ids("mine")) == ids[1:2]
    assert alice.rejections() == {"a dog, not a cat": 1}
    assert alice.images.loc[ids[2], "review"] == "accepted"  # not rejected: left as it was
    lead.refresh()
    assert ids[0] in set(lead.ids("review"))
    assert lead.progress().loc["alice", ["accepted", "rejected"]].tolist() == [1, 1]
    agrees(folder, alice)
    # undo brings the rejection back, with its reviewer and reason
    alice.undo()
    assert table(alice).equals(before)
    assert set(alice.ids("mine")) == set(ids[:2])
    agrees(folder, alice)
    alice.add_label("dog", ids[0:1])
    alice.save()
    agrees(folder, alice)  # from the snapshot


def test_removing_a_label_sends_it_back_too(
    folder: Path, rejected: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    lead, alice, _bob, ids = rejected
    alice.remove_label("cat", ids[1:2])
    assert alice.images.loc[ids[1], "review"] == ""
    # unlabeled now: still alice's work, but no longer as a rejected image, nor to review
    assert ids[1] in set(alice.ids("mine"))
    assert alice.rejections() == {"a dog, not a cat": 1}
    lead.refresh()
    assert ids[1] not in set(lead.ids("review"))
    alice.add_label("dog", ids[1:2])
    assert ids[1] not in set(alice.ids("mine"))
    lead.refresh()
    assert ids[1] in set(lead.ids("review"))
    agrees(folder, alice)


def test_only_the_assigned_annotator_sends_it_back(
    folder: Path, rejected: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    lead, alice, bob, ids = rejected
    lead.refresh()
    lead.add_label("dog", ids[0:1])  # the reviewer edits: still rejected
    lead.remove_label("cat", ids[4:5])
    bob.refresh()
    bob.add_label("bird", ids[1:2])  # not bob's image
    alice.refresh()
    alice.add_label("bird", ids[4:5])  # not alice's image
    for ds in (lead, bob, alice):
        ds.refresh()
        assert (ds.images.loc[ids[0:2] + ids[4:5], "review"] == "rejected").all()
    assert all(op["op"] != "review" for e in journal(folder)[-4:] for op in e["ops"])  # type: ignore[union-attr]
    # bob's own image does go back when he relabels it
    bob.add_label("dog", ids[4:5])
    assert bob.images.loc[ids[4], "review"] == ""
    agrees(folder, bob)


def test_an_action_that_changes_nothing_of_the_image_leaves_its_review(
    folder: Path, rejected: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    _lead, alice, _bob, ids = rejected
    result = alice.add_label("cat", ids[0:1])  # it has cat already
    assert result.changed == 0
    alice.add_label("dog", ids[3:4])  # never reviewed
    assert alice.images.loc[ids[3], "review"] == ""
    assert alice.images.loc[ids[0], "review"] == "rejected"
    # renaming a label renames it on every image: a change of names, not a new answer
    alice.rename_label("cat", "kitten")
    assert alice.images.loc[ids[0], "review"] == "rejected"
    agrees(folder, alice)


def test_on_a_shared_image_each_annotators_own_labels_count(folder: Path) -> None:
    lead = open_as(folder, "lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:2], overlap=1.0)
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("cat", ids[:2])
    bob.add_label("dog", ids[:2])
    lead.refresh()
    lead.review(ids[:2], accept=False, reason="agree first")
    alice.refresh()
    bob.refresh()
    # alice "removes" dog: bob's own label, so the image keeps it and alice's labels are as
    # they were: still rejected
    alice.remove_label("dog", ids[0:1])
    assert alice.labels_of(ids[0:1])[ids[0]] == ["cat", "dog"]
    assert alice.images.loc[ids[0], "review"] == "rejected"
    # bob gives cat too (the image has it already, from alice): his own labels change
    bob.add_label("cat", ids[0:1])
    assert bob.images.loc[ids[0], "review"] == ""
    # alice withdraws her cat on the other: bob's dog stays, but hers changed
    alice.refresh()
    alice.remove_label("cat", ids[1:2])
    assert alice.labels_of(ids[1:2])[ids[1]] == ["dog"]
    assert alice.images.loc[ids[1], "review"] == ""
    agrees(folder, alice)
    alice.undo()
    assert alice.images.loc[ids[1], "review_reason"] == "agree first"
    agrees(folder, alice)


def test_a_journal_written_before_keeps_its_meaning(
    folder: Path, rejected: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    """An event that added a label without the return to review (as written before this
    existed) still opens as it did: the image stays rejected."""
    _lead, alice, _bob, ids = rejected
    op = {
        "op": "label+",
        "label": "dog",
        "ids": ids[0:1],
        "by": "alice",
        "at": "2026-11-28 10:00:00",
    }
    alice.replica.record(Plan("add_label", [op], "Added dog to 1 image", 1, Change("labels")))
    again = open_as(folder, "x")
    assert again.problems == []
    assert again.labels_of(ids[0:1])[ids[0]] == ["cat", "dog"]
    assert again.images.loc[ids[0], "review"] == "rejected"


def test_relabeling_in_the_mine_tab_sends_it_to_the_review_tab(
    folder: Path,
    rejected: tuple[Dataset, Dataset, Dataset, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)
    lead, alice, _bob, ids = rejected
    mine = Labeler(alice, page_size=12, follow=False)
    review = Labeler(lead, page_size=12, follow=False)
    try:
        mine.view = "mine"
        review.view = "review"
        user, reviewer = LabelerDriver(mine), LabelerDriver(review)
        assert set(user.visible_ids) == set(ids[:2])
        assert "2 images came back from review" in user.team_notes
        waiting = len(reviewer.visible_ids)
        mine.selected = (ids[0],)
        user.label_selection("dog")
        assert user.visible_ids == ids[1:2]
        assert "1 image came back from review" in user.team_notes
        assert user.tab_titles["mine"] == "Mine (1)"
        lead.refresh()
        assert ids[0] in set(reviewer.visible_ids)
        assert len(reviewer.visible_ids) == waiting + 1
        assert user.last_error is None
        assert reviewer.last_error is None
    finally:
        mine.close()
        review.close()
