"""Undo of label-wide actions keeps each annotator's own labels exactly as they were.

A rename, a merge, a move and a delete change the union of labels and, on shared images, the
own labels of each annotator (team.py); undoing one must give both back, live, after a reopen
that replays the journal, and after a snapshot.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from imagegen import image_folder

from jupyter_labeler import Dataset
from jupyter_labeler.events import apply_ops

Own = set[tuple[str, str, str, str]]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 12)


def open_as(folder: Path, author: str) -> Dataset:
    return Dataset.open(folder, author=author)


def own(ds: Dataset) -> Own:
    """Every own label of a live image: (image id, label, annotator, time). A removed
    image's stay in memory for an undo, but no view or file shows them."""
    state = ds.replica.state
    team = state.team
    if team is None:
        return set()
    authors, times = state.authors.values, state.times.values
    return {
        (str(state.ids[c]), str(lb), authors[w], times[t])
        for c, lb, w, t in zip(
            team.o_codes.tolist(),
            team.o_label.tolist(),
            team.o_who.tolist(),
            team.o_at.tolist(),
            strict=True,
        )
        if state.alive[c]
    }


def union(ds: Dataset) -> set[tuple[str, str, str, str]]:
    """Every (image, label) of the union, with its annotator and time."""
    table = ds.annotations()
    return set(
        zip(
            table["image_id"],
            table["label"],
            table["annotated_by"],
            table["created_at"],
            strict=True,
        )
    )


def team_rows(ds: Dataset) -> set[tuple[str, ...]]:
    """Assignees and review of each image that has any (a dataset whose team data all went
    may or may not keep the empty columns)."""
    cols = ["assigned_to", "review", "reviewed_by", "review_reason"]
    table = ds.images
    if "assigned_to" not in table.columns:
        return set()
    return {
        (str(i), *(str(v) for v in row))
        for i, *row in table[cols].itertuples()
        if row[0] or row[1] or row[2] or row[3]
    }


def state_of(ds: Dataset) -> tuple[Own, set[tuple[str, str, str, str]], list[str]]:
    # label names as a set: undoing a delete or a merge brings the label back last
    return own(ds), union(ds), sorted(ds.label_names)


def consistent(ds: Dataset) -> None:
    """Every own label of an image is a label of the image (what views and counts show)."""
    labels = ds.labels_of(list(ds.ids()))
    for image, label, _who, _at in own(ds):
        assert label in labels[image], (image, label)


@pytest.fixture
def team(folder: Path) -> tuple[Dataset, Dataset, Dataset, list[str]]:
    """Four images shared by alice and bob: they disagree, agree, and alice gives one both
    names; image 4 is bob's alone, with kitty."""
    lead = open_as(folder, "lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:4], overlap=1.0, seed=0)
    lead.assign(["bob"], ids=ids[4:5])
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("kitty", ids[0:2] + ids[3:4])
    alice.add_label("cat", ids[2:4])
    bob.add_label("cat", ids[0:1])
    bob.add_label("kitty", ids[1:2] + ids[4:5])
    bob.add_label("dog", ids[2:3])
    lead.refresh()
    alice.refresh()
    assert len(own(lead)) == 8
    return lead, alice, bob, ids


def check_round_trip(folder: Path, ds: Dataset, expected: object) -> None:
    """What ``ds`` holds is what a reopen (journal) and a snapshot bring back."""
    assert state_of(ds) == expected
    consistent(ds)
    assert state_of(open_as(folder, "x")) == expected
    ds.save()
    again = open_as(folder, "x")
    assert state_of(again) == expected
    consistent(again)


@pytest.mark.parametrize("who", ["lead", "alice"])
def test_undoing_a_merge_gives_the_own_labels_back(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]], who: str
) -> None:
    lead, alice, _bob, ids = team
    ds = lead if who == "lead" else alice
    before = state_of(ds)
    result = ds.rename_label("kitty", "cat")
    assert "Merged" in str(result)
    merged = own(ds)
    assert {(i, lb, w) for i, lb, w, _ in merged} == {
        (ids[0], "cat", "alice"),
        (ids[0], "cat", "bob"),
        (ids[1], "cat", "alice"),
        (ids[1], "cat", "bob"),
        (ids[2], "cat", "alice"),
        (ids[2], "dog", "bob"),
        (ids[3], "cat", "alice"),  # alice said both: one own label now
    }
    consistent(ds)
    assert open_as(folder, "x").label_names == ds.label_names
    assert own(open_as(folder, "x")) == merged
    ds.undo()
    assert state_of(ds) == before
    check_round_trip(folder, ds, before)


def test_undoing_a_rename_gives_the_own_labels_back(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    lead, _alice, _bob, _ids = team
    before = state_of(lead)
    lead.rename_label("kitty", "kitten")
    assert all(lb != "kitty" for _, lb, _, _ in own(lead))
    assert own(open_as(folder, "x")) == own(lead)
    consistent(lead)
    lead.undo()
    check_round_trip(folder, lead, before)


@pytest.mark.parametrize("mode", ["label_only", "with_images"])
def test_undoing_a_delete_gives_the_own_labels_back(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]], mode: str
) -> None:
    lead, _alice, _bob, ids = team
    before = state_of(lead)
    lead.delete_label("kitty", mode)
    assert all(lb != "kitty" for _, lb, _, _ in own(lead))
    consistent(lead)
    assert (ids[1] in set(lead.ids())) == (mode == "label_only")  # it had only kitty
    lead.undo()
    check_round_trip(folder, lead, before)


def test_the_operations_undoing_a_rename_or_a_move_are_exact(
    team: tuple[Dataset, Dataset, Dataset, list[str]],
) -> None:
    """Putting a late action in place undoes newer ones with these operations, not only
    :meth:`Dataset.undo`: a rename onto an existing name, and a move of part of a label onto
    one, each come back exactly."""
    lead, _alice, _bob, ids = team
    before = state_of(lead)
    state = lead.replica.state
    inverse_rename = apply_ops(state, [{"op": "rename", "old": "kitty", "new": "cat"}], {}).inverse
    assert own(lead) != before[0]
    apply_ops(state, inverse_rename, {})
    assert state_of(lead) == before
    move = {"op": "move", "old": "kitty", "new": "cat", "ids": ids[:2] + ids[3:4]}
    inverse_move = apply_ops(state, [move], {}).inverse
    assert (ids[0], "kitty", "alice") not in {(i, lb, w) for i, lb, w, _ in own(lead)}
    consistent(lead)
    apply_ops(state, inverse_move, {})
    assert state_of(lead) == before
    consistent(lead)
    # part of a label onto a new name
    move = {"op": "move", "old": "kitty", "new": "kitten", "ids": ids[1:2], "drop_empty": True}
    inverse_move = apply_ops(state, [move], {}).inverse
    assert (ids[1], "kitten", "bob") in {(i, lb, w) for i, lb, w, _ in own(lead)}
    consistent(lead)
    apply_ops(state, inverse_move, {})
    assert state_of(lead) == before
    assert "kitten" not in lead.label_names


def test_a_merge_rewound_to_put_a_late_action_in_place_keeps_own_labels(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    """An action named before the merge but arriving after it is put in its place by undoing
    the merge and doing it again (no re-reading): own labels come out as a fresh open has them."""
    lead, _alice, _bob, ids = team
    carol = open_as(folder, "carol")
    carol.replica.journal.clock = lambda: time.time() - 3600  # an hour behind
    kinds: list[str] = []
    lead.observe(lambda change: kinds.append(change.kind))
    lead.rename_label("kitty", "cat")
    assert carol.add_label("kitty", ids[6:7]).saved  # named before the merge
    carol.flush()  # its feed entry follows the acknowledgement
    assert lead.poll()
    assert "reload" not in kinds
    replayed = open_as(folder, "x")
    assert state_of(lead) == state_of(replayed)
    assert "kitty" not in lead.label_names
    assert {(i, lb) for i, lb, _, _ in union(lead)} >= {(ids[6], "cat"), (ids[3], "cat")}
    consistent(lead)


def test_undoing_a_removal_after_a_save_gives_the_own_labels_back(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    """A snapshot keeps only live images: the undo of their removal must carry their own
    labels itself, or a reopen would bring the images and their labels back without them."""
    lead, _alice, _bob, ids = team
    lead.review(ids[:1], accept=False, reason="which one?")
    lead.review(ids[1:2])
    before = state_of(lead)
    team_before = team_rows(lead)
    lead.remove_images(ids[:2])
    lead.save()
    lead.undo()
    check_round_trip(folder, lead, before)
    for ds in (lead, open_as(folder, "x")):  # assignees and reviews come back too
        assert team_rows(ds) == team_before
    lead.delete_label("kitty", "with_images")
    lead.save()
    lead.undo()
    check_round_trip(folder, lead, before)
    assert team_rows(open_as(folder, "x")) == team_before


@pytest.mark.parametrize("seed", range(12))
def test_random_team_actions_and_undos_agree_with_a_reopen(folder: Path, seed: int) -> None:
    """Random label actions of two annotators and a lead on shared images, with undos: after
    every step each own label is on its image, and the live state is what a reopen (the
    journal replayed) and a snapshot bring back."""
    rng = random.Random(seed)
    lead = open_as(folder, "lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:8], overlap=1.0, seed=seed)
    people = {"lead": lead, "alice": open_as(folder, "alice"), "bob": open_as(folder, "bob")}
    names = ["cat", "dog", "kitty"]
    for _step in range(40):
        who = rng.choice(list(people))
        ds = people[who]
        ds.refresh()
        live = [i for i in ids[:10] if i in set(ds.ids())]
        some = rng.sample(live, min(len(live), rng.randint(1, 4)))
        present = ds.label_names
        roll = rng.random()
        if roll < 0.35:
            ds.add_label(rng.choice(names), some)
        elif roll < 0.5 and present:
            ds.remove_label(rng.choice(present), some)
        elif roll < 0.6 and who == "lead":
            ds.review(some, accept=rng.random() < 0.5, reason=rng.choice(["", "why"]))
        elif roll < 0.7 and who == "lead" and len(present) >= 1:
            ds.rename_label(rng.choice(present), rng.choice(names))  # merges often
        elif roll < 0.75 and who == "lead" and present:
            ds.delete_label(rng.choice(present), rng.choice(["label_only", "with_images"]))
        elif roll < 0.8 and who == "lead":
            ds.remove_images(some)
        elif ds.can_undo:
            ds.undo()
        consistent(ds)
    for ds in people.values():
        ds.refresh()
    live = state_of(lead)
    team_live = team_rows(lead)
    for ds in people.values():
        assert state_of(ds) == live
    again = open_as(folder, "x")
    assert state_of(again) == live
    assert team_rows(again) == team_live
    lead.save()
    again = open_as(folder, "x")
    assert state_of(again) == live
    assert team_rows(again) == team_live
    consistent(again)


def test_saving_after_shared_images_are_unassigned_keeps_their_labels(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    """Unassigning shared images takes their annotators' own labels off with the assignment
    (its undo gives them back); the images keep their labels, the manifest then has no team
    property to write, and saving must not fail on that."""
    lead, _alice, _bob, ids = team
    before = union(lead)
    lead.unassign(ids[:5])
    lead.save()
    again = open_as(folder, "x")
    assert union(again) == before
    assert team_rows(again) == set()
    assert b"@jupyter_labeler:assigned_to" not in lead.manifest_bytes()


def test_undoing_a_rename_leaves_a_label_withdrawn_since_withdrawn(
    folder: Path, team: tuple[Dataset, Dataset, Dataset, list[str]]
) -> None:
    """Undo reverts the rename only: an annotator who took the renamed label off an image
    afterwards keeps it off, on the image and in their own labels."""
    lead, alice, _bob, ids = team
    lead.rename_label("kitty", "kitten")
    alice.refresh()
    alice.remove_label("kitten", ids[0:1])
    lead.refresh()
    lead.undo()
    assert "kitty" not in lead.labels_of(ids[0:1])[ids[0]]
    assert (ids[0], "kitty", "alice") not in {(i, lb, w) for i, lb, w, _ in own(lead)}
    assert (ids[3], "kitty", "alice") in {(i, lb, w) for i, lb, w, _ in own(lead)}
    consistent(lead)
    expected = state_of(lead)
    check_round_trip(folder, lead, expected)
