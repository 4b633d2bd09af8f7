"""What a new user meets first, without a browser: a selection that never hides, the preview's
Enter and Previous / Next once its image has left the view, the hint when nothing is selected,
which dialogs are drawn as a danger, an Accept count that follows every change, and the words
of uploads, features and presence. (What only a browser can show is in
``tests/browser/test_fixes_browser.py``.)
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from test_assist import label_some, make_folder

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import assist as assist_module
from jupyter_labeler.widget import labeler as labeler_module
from jupyter_labeler.widget.assist import features_words

SELECT_FIRST = "Select images first: click a tile, or press a in the grid to select the page."


def jpeg(color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def _prefetch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)


@pytest.fixture
def dataset(tmp_path: Path) -> Iterator[Dataset]:
    root = tmp_path / "images"
    root.mkdir()
    for i in range(30):
        (root / f"img{i:02d}.jpg").write_bytes(jpeg((i * 8, 120, 200 - i * 5)))
    ds = Dataset.open(str(root), author="tester")
    yield ds
    ds.close()


@pytest.fixture
def lab(dataset: Dataset) -> Iterator[Labeler]:
    labeler = Labeler(dataset, page_size=12, follow=False)
    yield labeler
    error = labeler.status.last_error
    labeler.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


@pytest.fixture
def user(lab: Labeler) -> LabelerDriver:
    return LabelerDriver(lab)


def ids_of(dataset: Dataset, view: str = "all") -> list[str]:
    return [str(i) for i in dataset.ids(view)]


# -- the selection holds only what the view shows ---------------------------------------------


def test_a_tab_or_filter_change_keeps_only_the_selected_images_it_shows(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[:2])
    dataset.add_label("tulips", ids[2:4])
    lab.view = "all"
    for i in (0, 2, 5):
        user.click_tile(i)
    assert user.selected_count == 3
    # All -> roses: only the roses image stays selected, and the bar counts it alone.
    user.filter_by("roses")
    assert lab.selected == (ids[0],)
    assert user.selected_count == 1
    assert user.ticked == [ids[0]]
    # Back to all labels: nothing comes back that was dropped.
    user.filter_by(None)
    assert lab.selected == (ids[0],)
    # Labeled -> Unlabeled: a labeled image cannot be shown there, so it leaves.
    user.open_tab("unlabeled")
    assert lab.selected == ()
    assert user.selected_count == 0
    user.click("delete images")
    assert not user.dialog_open
    assert user.status_text.endswith(SELECT_FIRST)


def test_an_upload_never_leaves_a_selection_behind_in_another_tab(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[:3])
    lab.view = "labeled"
    user.click_tile(0)
    assert user.selected_count == 1
    user.upload({"new one.jpg": jpeg((1, 200, 1))})
    assert lab.view == "unlabeled"  # the grid shows the new image
    assert lab.selected == ()
    assert user.selected_count == 0
    # The count and Delete agree with what the page shows: one ticked tile, one image.
    user.click_tile(0)
    user.click("delete images")
    assert user.dialog_title == "Delete 1 image?"
    user.cancel()


def test_images_that_leave_the_view_leave_the_selection(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    user.click_tile(0)
    user.click_tile(1)
    chosen = lab.selected
    # Another annotator (here the Dataset itself) labels one: it leaves Unlabeled.
    dataset.add_label("roses", [chosen[0]])
    assert lab.selected == (chosen[1],)
    assert user.selected_count == 1


# -- the preview -------------------------------------------------------------------------------


def test_enter_in_the_preview_adds_and_next_goes_on_after_the_image_left_the_view(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    order = user.visible_ids
    user.double_click(3)
    user.preview_type("roses")
    user.preview_enter()
    assert dataset.labels_of([order[3]]) == {order[3]: ["roses"]}
    assert order[3] not in ids_of(dataset, "unlabeled")  # it left the view
    assert user.preview_image_id == order[3]  # and is still shown
    user.preview_click("next")
    assert user.preview_image_id == order[4]
    # Once more, then back: Previous goes to the neighbour before the place it had.
    user.preview_enter("tulips")
    assert dataset.labels_of([order[4]]) == {order[4]: ["tulips"]}
    user.preview_click("previous")
    assert user.preview_image_id == order[2]
    # At the ends of the view it says so.
    user.double_click(0)
    user.preview_enter("roses")
    user.preview_click("previous")
    assert user.preview_image_id == order[0]
    assert user.status_text.endswith("This is the first image of the view.")
    # Enter with a name that is refused adds nothing; Esc in the box closes the preview.
    user.preview_enter("a/b")
    assert dataset.labels_of([order[0]]) == {order[0]: ["roses"]}
    user.preview_escape()
    assert not user.preview_open


def test_the_preview_says_when_no_image_is_left_in_the_view(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:])
    assert user.visible_ids == ids[:1]
    user.double_click(0)
    user.preview_enter("roses")
    user.preview_click("next")
    assert user.status_text.endswith("No image is left in this view.")
    assert user.preview_image_id == ids[0]


# -- nothing selected ------------------------------------------------------------------------------


def test_ok_and_enter_with_nothing_selected_say_to_select_first(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    assert user.button("ok").disabled  # no name yet
    user.type_label("roses")
    assert not user.button("ok").disabled
    user.enter_label()
    assert user.status_text.endswith(SELECT_FIRST)
    assert dataset.label_names == []
    user.clear_error()
    dataset.add_label("roses", ids_of(dataset)[:1])
    lab.view = "all"
    user.type_label("roses")
    user.click("remove label")
    assert user.status_text.endswith(SELECT_FIRST)
    assert dataset.labels_of(ids_of(dataset)[:1]) == {ids_of(dataset)[0]: ["roses"]}


# -- dialogs ---------------------------------------------------------------------------------------


def test_only_deleting_is_drawn_as_a_danger(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[:10])
    dataset.add_label("tulips", ids[10:20])
    user.click("split")
    assert user.dialog_open
    assert not user.dialog_is_danger
    assert lab.dialog.confirm.button_style == "primary"
    user.cancel()
    user.delete_label("roses")
    assert user.dialog_is_danger
    assert lab.dialog.confirm.button_style == "danger"
    user.cancel()
    user.rename_label("roses", "tulips")  # a merge: asked, but nothing is deleted
    assert user.dialog_title == "Merge roses into tulips?"
    assert not user.dialog_is_danger
    user.cancel()
    lab.view = "all"
    user.click_tile(0)
    user.click("delete images")
    assert user.dialog_is_danger
    user.cancel()


# -- the Accept count follows every change --------------------------------------------------------


def test_the_accept_count_follows_labels_undo_and_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The suggestions are fitted again only long after a change here: the count must follow
    # the change itself, not wait for the next fit.
    monkeypatch.setattr(assist_module, "SUGGEST_DELAY", 3600)
    truth = make_folder(tmp_path / "images")
    ds = Dataset.open(tmp_path / "images", author="tester")
    label_some(ds, truth)
    ds.compute_features(progress=False)
    lab = Labeler(ds, page_size=12, follow=False)
    user = LabelerDriver(lab)
    try:
        lab.assist.min_confidence = 0.0
        lab.assist.suggest = True
        assert lab.assist.suggest_job.wait(60)

        def counted() -> int:
            words = user.button("accept all").description
            return int(words.split()[1].replace(",", ""))

        suggested = set(lab.assist.suggestions.index)
        unlabeled = ids_of(ds, "unlabeled")
        assert counted() == len(suggested) > 4
        # s accepts two: the count drops by two at once.
        user.click_tile(0)
        user.click_tile(1)
        user.press("s")
        assert counted() == len(suggested) - 2
        user.press("z")
        assert counted() == len(suggested)
        # Labels put on by other means (notebook code, another annotator) count too.
        ds.add_label("extra", unlabeled[:3])
        assert counted() == len(suggested) - 3
        ds.remove_images(unlabeled[3:4])
        assert counted() == len(suggested) - 4
        user.upload({"new.jpg": jpeg()})  # no suggestion yet for a new image
        assert counted() == len(suggested) - 4
        # Accept takes the images it counts, never more.
        before = len(ids_of(ds, "labeled"))
        user.click("accept all")
        assert 0 < len(ids_of(ds, "labeled")) - before <= len(suggested) - 4
        assert "Accepted" in user.status_text
        assert lab.status.last_error is None
    finally:
        lab.close()
        ds.close()


# -- words -------------------------------------------------------------------------------------------


def test_features_words_say_what_was_computed_and_stored() -> None:
    class Summary:
        def __init__(self, computed: int, reused: int, failed: int = 0) -> None:
            self.computed, self.reused, self.failed = computed, reused, failed

    assert features_words(Summary(300, 0)) == (
        "Features computed for 300 images and stored with the labels."
    )
    assert features_words(Summary(1, 299, 2)) == (
        "Features computed for 1 image and stored with the labels; 299 images had them "
        "already; 2 images could not be read."
    )
    assert features_words(Summary(0, 300)) == (
        "No image needed new features; 300 images had them already."
    )


def test_an_empty_filtered_view_says_what_happened(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("rainbow", ids[:1])
    dataset.add_label("sky", ids[1:2])
    lab.view = "all"
    user.filter_by("rainbow")
    dataset.remove_label("rainbow", ids[:1])  # the label stays, on no image
    assert user.visible_ids == []
    assert user.empty_message == (
        "No image carries the label rainbow: choose another label in the filter, or All labels."
    )


def test_the_same_author_in_another_tab_is_not_someone_else(dataset: Dataset) -> None:
    source = dataset.source_url
    again = Dataset.open(source, author="tester")  # the same user, in a second kernel
    bob = Dataset.open(source, author="bob")
    lab = Labeler(dataset, page_size=12, follow=False)
    try:
        again.set_presence("all", 1)
        again.heartbeat()
        dataset.heartbeat()
        assert dataset.others == []
        assert LabelerDriver(lab).others == ""
        bob.set_presence("labeled", 0)
        bob.heartbeat()
        dataset.heartbeat()
        assert [who for who, _view, _page in dataset.others] == ["bob"]
    finally:
        lab.close()
        again.close()
        bob.close()
