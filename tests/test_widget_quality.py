"""Likely wrong labels and groups in the Labeler, without a browser: the orders "Likely wrong
first" and "By group", the chips on suspect tiles, keeping (``k``) or taking (``t``) a label
and Undo, the group captions in the page message, and selecting a whole group (``g``) across
pages; the tabs, one or two labels, rare labels, several labels an image, an empty view.

The images are the drawn classes of ``test_assist`` (stripes, bars, dots), 12 of each, with the
built-in features. Every image is labeled by its class but two, whose labels are swapped for
another class: those two are the suspects the Dataset finds, and the Labeler must show them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_assist import CLASSES, make_folder

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import assist as assist_module
from jupyter_labeler.widget import labeler as labeler_module
from jupyter_labeler.widget import quality as quality_module
from jupyter_labeler.widget.keys import KEYS

WAIT = 120.0  # seconds a background computation may take at most on a loaded machine
CHIP = re.compile(r"^maybe (\w+), (\d{1,3})%$")


@pytest.fixture(autouse=True)
def _no_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)
    monkeypatch.setattr(assist_module, "SUGGEST_DELAY", 0)
    monkeypatch.setattr(quality_module, "QUALITY_DELAY", 0)


@pytest.fixture
def truth(tmp_path: Path) -> dict[str, str]:
    return make_folder(tmp_path / "images")


def open_dataset(tmp_path: Path, truth: dict[str, str], classes: tuple[str, ...]) -> Dataset:
    """The images, each of ``classes`` labeled by its class; features computed."""
    ds = Dataset.open(tmp_path / "images", author="tester")
    idof = {p: i for i, p in ds.paths().items()}
    for kind in classes:
        ds.add_label(kind, sorted(idof[p] for p, k in truth.items() if k == kind))
    ds.compute_features(progress=False)
    return ds


def first_of(ds: Dataset, truth: dict[str, str], kind: str) -> str:
    idof = {p: i for i, p in ds.paths().items()}
    return idof[sorted(p for p, k in truth.items() if k == kind)[0]]


def swap(ds: Dataset, image_id: str, old: str, new: str) -> None:
    """A wrong label, given as an annotator gives one (not through relabel, which checks it)."""
    ds.remove_label(old, [image_id])
    ds.add_label(new, [image_id])


@pytest.fixture
def dataset(tmp_path: Path, truth: dict[str, str]) -> Iterator[Dataset]:
    ds = open_dataset(tmp_path, truth, CLASSES)
    swap(ds, first_of(ds, truth, "stripes"), "stripes", "bars")
    swap(ds, first_of(ds, truth, "bars"), "bars", "dots")
    yield ds
    ds.close()


def new_labeler(ds: Dataset, **options: Any) -> Labeler:
    return Labeler(ds, follow=False, **{"page_size": 12, **options})


@pytest.fixture
def user(dataset: Dataset) -> Iterator[LabelerDriver]:
    lab = new_labeler(dataset)
    driver = LabelerDriver(lab)
    yield driver
    driver.wait_for_background(WAIT)
    error = lab.status.last_error
    lab.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


def likely_wrong(user: LabelerDriver) -> None:
    user.choose_order("wrong")
    user.wait_for_background(WAIT)


# -- Likely wrong first --------------------------------------------------------------------------


def test_likely_wrong_first_shows_the_suspects_first_with_their_chips(
    user: LabelerDriver, dataset: Dataset, truth: dict[str, str]
) -> None:
    lab = user.labeler
    progress: list[str] = []
    real = lab.status.progress

    def record(text: str) -> None:
        progress.append(text)
        real(text)

    lab.status.progress = record  # type: ignore[method-assign]
    assert "Likely wrong first" in user.order_choices
    assert lab.view == "unlabeled"
    user.choose_order("wrong")
    # Unlabeled images have no label to judge: the Labeled tab opens, and the line says why.
    assert lab.view == "labeled"
    assert user.active_tab == "labeled"
    assert "unlabeled images have none" in user.status_text
    user.wait_for_background(WAIT)
    issues = dataset.label_issues()
    suspects = [str(i) for i in issues.index]
    assert set(suspects) == {first_of(dataset, truth, "stripes"), first_of(dataset, truth, "bars")}
    assert "Likely wrong first: 2 labels look wrong" in user.status_text
    assert progress == ["Likely wrong first: judging the labels…", ""]
    # The suspects first, most suspicious first; the rest of the view after them in file order.
    rest = [i for i in dataset.ids("labeled") if i not in suspects]
    assert user.visible_ids == (suspects + rest)[:12]
    assert lab.page == 0
    chips = user.flagged()
    assert set(chips) == set(suspects)
    for image_id in suspects:
        row = issues.loc[image_id]
        found = CHIP.match(chips[image_id])
        assert found is not None, chips[image_id]
        assert found[1] == row["likely_label"]
        assert int(found[2]) == int(row["likely_confidence"] * 100)
        tile = user.tile(image_id)
        assert row["given_label"] in tile.labels
        assert f"The label {row['given_label']} looks wrong" in tile.flagged_title
        assert row["likely_label"] == truth[dataset.paths_of([image_id])[image_id]]
    assert "t take likely" in lab.grid.key_help
    assert "k keep label" in lab.grid.key_help
    assert not user.button("take likely").layout.display
    assert user.button("select group").layout.display == "none"

    # Another order: no chips, and the two buttons go.
    user.choose_order("file")
    assert user.flagged() == {}
    assert user.button("take likely").layout.display == "none"
    assert "t take likely" not in lab.grid.key_help


def test_keep_takes_the_chip_off_at_once_and_for_good_and_undo_brings_it_back(
    user: LabelerDriver, dataset: Dataset
) -> None:
    likely_wrong(user)
    kept, other = user.visible_ids[:2]
    given = user.tile(kept).labels
    user.click_tile(kept)
    user.press("k")
    assert "Kept 1 label as checked on 1 image" in user.status_text
    # At once, before any judging again; the other suspect keeps its chip.
    assert kept not in user.flagged()
    assert other in user.flagged()
    assert user.tile(kept).labels == given  # the label stays
    user.wait_for_background(WAIT)
    assert kept not in user.flagged()
    assert kept not in dataset.label_issues().index
    assert user.visible_ids[:2] == [kept, other]  # never reordered under the pointer
    user.turn("next")
    user.turn("first")  # a new render takes up the new ranking: the kept image left the front
    assert user.visible_ids[0] == other

    user.press("z")
    assert "Undone: Kept 1 label" in user.status_text
    user.wait_for_background(WAIT)
    user.turn("next")
    user.turn("first")  # judged a suspect again, it is back in front, with its chip
    assert user.visible_ids[:2] == [kept, other]
    assert kept in user.flagged()


def test_take_likely_relabels_the_selected_suspects_as_one_action(
    user: LabelerDriver, dataset: Dataset
) -> None:
    likely_wrong(user)
    suspects = list(user.flagged())
    issues = dataset.label_issues()
    before = dataset.labels_of(suspects)
    user.click_tile(suspects[0])
    user.click_tile(suspects[1])
    user.press("t")
    assert "Relabeled 2 images" in user.status_text
    after = dataset.labels_of(suspects)
    for image_id in suspects:
        assert after[image_id] == [issues.loc[image_id, "likely_label"]]
        assert user.tile(image_id).flagged == ""  # its given label is gone: so is the chip
    user.wait_for_background(WAIT)
    assert dataset.label_issues().empty
    assert user.flagged() == {}

    user.press("z")  # one action: one undo
    assert dataset.labels_of(suspects) == before
    user.wait_for_background(WAIT)
    user.turn("next")
    user.turn("first")
    assert set(user.flagged()) == set(suspects)


def test_the_buttons_act_on_the_tile_clicked_last_without_keys(
    user: LabelerDriver, dataset: Dataset
) -> None:
    likely_wrong(user)
    first, second = list(user.flagged())
    user.click_tile(first)
    user.click_tile(first)  # ticked and unticked: nothing selected, but it was clicked last
    assert user.selected_count == 0
    user.click("keep label")
    assert first not in user.flagged()
    assert first not in dataset.label_issues().index
    user.click_tile(second)
    user.clear_selection()
    likely = dataset.label_issues().loc[second, "likely_label"]
    user.click("take likely")
    assert dataset.labels_of([second])[second] == [likely]


def test_take_and_keep_say_why_when_they_cannot_act(user: LabelerDriver, dataset: Dataset) -> None:
    user.open_tab("labeled")
    user.press("t")  # file order: no suspects shown
    assert "Choose Likely wrong first in Order" in user.status_text
    likely_wrong(user)
    user.press("k")  # nothing selected, nothing clicked
    assert 'Select the images with a "maybe" chip first' in user.status_text
    plain = next(i for i in user.visible_ids if i not in user.flagged())
    user.click_tile(plain)
    before = dataset.labels_of([plain])
    user.press("t")
    assert 'No selected image has a "maybe" chip' in user.status_text
    assert dataset.labels_of([plain]) == before
    user.press("g")  # not in this order
    assert "Select group needs the order By group" in user.status_text


def test_the_unlabeled_tab_has_no_suspects_and_says_why(
    user: LabelerDriver, dataset: Dataset
) -> None:
    likely_wrong(user)
    assert user.flagged()
    user.open_tab("unlabeled")
    assert "unlabeled images have no label to judge" in user.status_text
    assert user.flagged() == {}
    # Every image is labeled here: the tab is empty, and says so.
    assert user.visible_ids == []
    assert user.empty_message == "No unlabeled images."
    user.open_tab("all")
    assert len(user.flagged()) == 2
    assert user.visible_ids[:2] == [str(i) for i in dataset.label_issues().index]


def test_the_orders_need_features_and_say_so(tmp_path: Path, truth: dict[str, str]) -> None:
    ds = Dataset.open(tmp_path / "images", author="tester")
    ds.add_label("stripes", ds.ids("all")[:6])
    lab = new_labeler(ds)
    user = LabelerDriver(lab)
    try:
        for order in ("wrong", "group"):
            user.choose_order(order)
            assert lab.assist.order == "file"
            assert "needs the images' features: press Compute features" in user.status_text
    finally:
        lab.close()
        ds.close()


def test_one_label_shows_why_nothing_is_judged(tmp_path: Path, truth: dict[str, str]) -> None:
    ds = open_dataset(tmp_path, truth, ("stripes",))
    lab = new_labeler(ds, view="labeled")
    user = LabelerDriver(lab)
    try:
        likely_wrong(user)
        reason = ds.label_issues().attrs["reason"]
        assert "one label only" in reason
        assert user.status_text.endswith(f"Likely wrong first: nothing judged: {reason}.")
        assert user.flagged() == {}
        assert user.visible_ids == [str(i) for i in ds.ids("labeled")[:12]]
    finally:
        lab.close()
        ds.close()


def test_two_labels_are_judged(tmp_path: Path, truth: dict[str, str]) -> None:
    ds = open_dataset(tmp_path, truth, ("stripes", "dots"))
    wrong = first_of(ds, truth, "dots")
    swap(ds, wrong, "dots", "stripes")
    lab = new_labeler(ds, view="all")
    user = LabelerDriver(lab)
    try:
        likely_wrong(user)
        assert user.visible_ids[0] == wrong
        assert user.flagged() == {wrong: user.tile(wrong).flagged}
        assert user.tile(wrong).flagged.startswith("maybe dots, ")
    finally:
        lab.close()
        ds.close()


def test_rare_labels_are_named_and_several_labels_an_image_are_judged(
    tmp_path: Path, truth: dict[str, str]
) -> None:
    ds = open_dataset(tmp_path, truth, CLASSES)
    idof = {p: i for i, p in ds.paths().items()}
    stripes = sorted(idof[p] for p, k in truth.items() if k == "stripes")
    ds.add_label("rare", stripes[:3])  # three images: too few to judge, and two labels each
    swap(ds, stripes[2], "stripes", "bars")  # one of them called bars too
    lab = new_labeler(ds, view="labeled")
    user = LabelerDriver(lab)
    try:
        likely_wrong(user)
        issues = ds.label_issues()
        assert issues.attrs["not_checked"] == ["rare"]
        assert "not judged (fewer than 5 images): rare" in user.status_text
        assert list(issues.index) == [stripes[2]]
        assert issues.loc[stripes[2], "given_label"] == "bars"
        tile = user.tile(stripes[2])
        assert set(tile.labels) == {"rare", "bars"}
        assert tile.flagged.startswith("maybe stripes, ")
        user.click_tile(stripes[2])
        user.press("t")  # the wrong one goes, the other stays
        assert sorted(ds.labels_of([stripes[2]])[stripes[2]]) == ["rare", "stripes"]
    finally:
        lab.close()
        ds.close()


def test_an_empty_view_says_why(tmp_path: Path, truth: dict[str, str]) -> None:
    ds = open_dataset(tmp_path, truth, ())
    lab = new_labeler(ds)
    user = LabelerDriver(lab)
    try:
        likely_wrong(user)
        assert lab.view == "labeled"
        assert user.visible_ids == []
        assert user.empty_message == "No labeled images yet."
        reason = ds.label_issues().attrs["reason"]
        assert f"nothing judged: {reason}" in user.status_text
    finally:
        lab.close()
        ds.close()


def test_errors_of_the_judging_go_to_the_status_line(
    user: LabelerDriver, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the model broke")

    monkeypatch.setattr(dataset, "label_issues", broken)
    likely_wrong(user)
    assert "Likely wrong first: Something went wrong (RuntimeError): the model broke" in (
        user.status_text
    )
    assert user.status_is_error
    assert user.flagged() == {}
    user.clear_error()


# -- By group -----------------------------------------------------------------------------------


@pytest.fixture
def uneven(tmp_path: Path, truth: dict[str, str]) -> Iterator[Dataset]:
    """Unlabeled: 7 stripes, 9 bars and 12 dots, so groups of 12, 9 and 7."""
    ds = Dataset.open(tmp_path / "images", author="tester")
    idof = {p: i for i, p in ds.paths().items()}
    for kind, n in (("stripes", 5), ("bars", 3)):
        ds.add_label(kind, sorted(idof[p] for p, k in truth.items() if k == kind)[:n])
    ds.compute_features(progress=False)
    yield ds
    ds.close()


def test_by_group_shows_groups_together_with_their_captions(uneven: Dataset) -> None:
    lab = new_labeler(uneven)
    user = LabelerDriver(lab)
    try:
        user.choose_order("group")
        user.wait_for_background(WAIT)
        groups = uneven.groups(view="unlabeled")
        assert groups.attrs["sizes"] == [12, 9, 7]
        in_order = [str(i) for g in range(3) for i in groups.index[groups == g]]
        assert "By group: 3 groups of look-alikes." in user.status_text
        assert "g select group" in lab.grid.key_help
        assert not user.button("select group").layout.display
        # Page 1 is group 0; page 2 starts group 1 and, at its 10th tile, group 2; page 3 goes
        # on with group 2.
        assert user.visible_ids == in_order[:12]
        assert user.group_heads() == {0: "Group 0 · 12"}
        user.turn("next")
        assert user.visible_ids == in_order[12:24]
        assert user.group_heads() == {0: "Group 1 · 9", 9: "Group 2 · 7"}
        user.turn("next")
        assert user.visible_ids == in_order[24:]
        assert user.group_heads() == {0: "Group 2 · 7 (continued)"}
        assert user.tile(0).group_head == "Group 2 · 7 (continued)"

        user.choose_order("file")
        assert user.group_heads() == {}
        assert user.button("select group").layout.display == "none"
    finally:
        lab.close()


def test_g_selects_the_whole_group_across_pages_and_ok_labels_it(uneven: Dataset) -> None:
    lab = new_labeler(uneven)
    user = LabelerDriver(lab)
    try:
        user.choose_order("group")
        user.wait_for_background(WAIT)
        groups = uneven.groups(view="unlabeled")
        group_two = {str(i) for i in groups.index[groups == 2]}
        user.turn("next")
        tile = user.visible_ids[10]  # the second image of group 2, on page 2 of 3
        assert tile in group_two
        user.click_tile(tile)
        user.press("g")
        assert set(lab.selected) == group_two
        assert user.selected_count == 7
        assert "Selected group 2: 7 images" in user.status_text
        user.turn("next")
        assert set(user.ticked) == set(user.visible_ids)  # the rest of it, on page 3
        user.label_selection("stripes")
        assert "Added stripes to 7 images" in user.status_text
        assert group_two <= set(uneven.with_label("stripes").index)

        # The button does the same for the page's first tile when no tile was clicked.
        user.wait_for_background(WAIT)
        lab2 = new_labeler(uneven)
        other = LabelerDriver(lab2)
        try:
            other.choose_order("group")
            other.wait_for_background(WAIT)
            other.click("select group")
            regrouped = uneven.groups(view="unlabeled")
            first = regrouped.at[other.visible_ids[0]]
            assert other.selected_count == int((regrouped == first).sum())
        finally:
            lab2.close()
    finally:
        lab.close()


def test_groups_follow_the_tab(uneven: Dataset) -> None:
    lab = new_labeler(uneven, page_size=48)
    user = LabelerDriver(lab)
    try:
        user.choose_order("group")
        user.wait_for_background(WAIT)
        user.open_tab("all")
        user.wait_for_background(WAIT)
        groups = uneven.groups(view="all")
        assert len(groups) == 36
        heads = user.group_heads()
        assert sorted(heads.values()) == sorted(
            f"Group {g} · {n}" for g, n in enumerate(groups.attrs["sizes"])
        )
        assert list(heads) == [0, *itertools.accumulate(groups.attrs["sizes"][:-1])]
    finally:
        lab.close()


def test_errors_of_the_grouping_go_to_the_status_line(
    uneven: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("k-means broke")

    monkeypatch.setattr(uneven, "groups", broken)
    lab = new_labeler(uneven)
    user = LabelerDriver(lab)
    try:
        user.choose_order("group")
        user.wait_for_background(WAIT)
        assert "By group: Something went wrong (RuntimeError): k-means broke" in user.status_text
        assert user.status_is_error
        assert user.group_heads() == {}
        assert user.visible_ids == [str(i) for i in uneven.ids("unlabeled")[:12]]
        user.press("g")
        assert "No groups to select: grouping the images failed" in user.status_text
    finally:
        lab.close()


def test_the_keys_table_has_the_new_keys_once() -> None:
    names = [key for shortcut in KEYS for key in shortcut.keys]
    assert len(names) == len(set(names))
    actions = {s.action: s for s in KEYS}
    assert actions["take_likely"].keys == ("t", "T")
    assert actions["keep_label"].keys == ("k", "K")
    assert actions["select_group"].keys == ("g", "G")
