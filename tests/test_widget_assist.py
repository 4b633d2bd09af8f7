"""Assisted labeling in the Labeler, without a browser: the Suggest switch and its chips in the
page message, Accept all and the ``s`` key (undoable), the grid's orders and More like these,
features computed in the background with progress, and errors on the status line.

The images are the drawn classes of ``test_assist`` (stripes, bars, dots), 12 of each, five of
each labeled: the suggestions for the other 21 are known to be right.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import traitlets
from test_assist import label_some, make_folder

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.errors import StoreUnavailableError
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler
from jupyter_labeler.widget import assist as assist_module
from jupyter_labeler.widget import keys as keymap
from jupyter_labeler.widget import labeler as labeler_module
from jupyter_labeler.widget.background import Debounced

WAIT = 60.0  # seconds a background computation may take at most on a loaded machine


def status_text(lab: Labeler) -> str:
    return LabelerDriver(lab).status_text


def shown(lab: Labeler) -> list[str]:
    return LabelerDriver(lab).visible_ids


def chips(lab: Labeler) -> dict[str, list[list[Any]]]:
    """The suggestions the browser gets for each tile of the page."""
    return LabelerDriver(lab).suggestions()


def settle(lab: Labeler) -> None:
    assert lab.assist.wait(WAIT), "the background work did not finish"


@pytest.fixture(autouse=True)
def _no_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)
    monkeypatch.setattr(assist_module, "SUGGEST_DELAY", 0)


@pytest.fixture
def truth(tmp_path: Path) -> dict[str, str]:
    return make_folder(tmp_path / "images")


@pytest.fixture
def dataset(tmp_path: Path, truth: dict[str, str]) -> Iterator[Dataset]:
    ds = Dataset.open(tmp_path / "images", author="tester")
    label_some(ds, truth)
    yield ds
    ds.close()


def kind_of(ds: Dataset, truth: dict[str, str]) -> dict[str, str]:
    """image id -> its drawn class."""
    return {str(i): truth[p] for i, p in ds.paths().items()}


def new_labeler(ds: Dataset, **options: Any) -> Labeler:
    return Labeler(ds, page_size=12, follow=False, **options)


@pytest.fixture
def lab(dataset: Dataset) -> Iterator[Labeler]:
    labeler = new_labeler(dataset)
    yield labeler
    labeler.assist.wait(WAIT)
    error = labeler.status.last_error
    labeler.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


@pytest.fixture
def suggesting(lab: Labeler, dataset: Dataset) -> Labeler:
    """The labeler with features computed and Suggest on."""
    dataset.compute_features(progress=False)
    lab.assist.suggest = True
    settle(lab)
    return lab


# -- the Suggest switch and its chips --------------------------------------------------------------


def test_suggest_switch_computes_features_then_shows_dashed_chips(
    lab: Labeler, dataset: Dataset, truth: dict[str, str]
) -> None:
    progress: list[str] = []
    real = lab.status.progress

    def record(text: str) -> None:
        progress.append(text)
        real(text)

    lab.status.progress = record  # type: ignore[method-assign]
    assert not dataset.has_features()
    assert all(s == [] for s in chips(lab).values())
    LabelerDriver(lab).switch_suggest(True)  # the switch, as a click sets it
    assert lab.assist.suggest
    settle(lab)
    assert dataset.has_features()
    assert progress[0] == "Features: 0 / 36"
    assert "Features: 36 / 36" in progress
    assert progress[-1] == ""  # gone once done
    assert "Features computed for 36 images and stored with the labels." in status_text(lab)
    kinds = kind_of(dataset, truth)
    tiles = chips(lab)
    assert set(tiles) == set(shown(lab))
    for image_id, suggested in tiles.items():
        assert len(suggested) == 1
        (name, confidence) = suggested[0]
        assert name == kinds[image_id]
        assert 0.0 < confidence <= 1.0

    # Off: no chips; on again: back at once (the features are there).
    lab.assist.suggest = False
    assert lab.assist.suggest_switch.value is False
    assert all(s == [] for s in chips(lab).values())
    lab.assist.suggest = True
    settle(lab)
    assert chips(lab) == tiles


def test_chips_travel_in_the_page_message_and_only_on_unlabeled_tiles(
    suggesting: Labeler, dataset: Dataset
) -> None:
    lab = suggesting
    with LabelerDriver(lab).sent_to_browser() as sent:
        LabelerDriver(lab).turn("next")
    updates = [m for m, _buffers in sent if m.get("method") == "update"]
    assert len(updates) == 1
    state = updates[0]["state"]
    assert {"ids", "suggested", "page_token"} <= set(state)
    assert "thumbs" in str(updates[0]["buffer_paths"])
    assert len(state["suggested"]) == len(state["ids"])
    assert all(tile for tile in state["suggested"])

    # The All view: labeled tiles carry their labels, no suggestion.
    lab.view = "all"
    labels = dict(zip(lab.grid.ids, lab.grid.labels, strict=True))
    for image_id, suggested in chips(lab).items():
        assert (suggested == []) == bool(labels[image_id])


def test_chips_from_the_background_skip_a_page_being_drawn(suggesting: Labeler) -> None:
    lab = suggesting
    grid = lab.grid
    before = list(grid.suggested)
    page = list(grid.ids)
    with grid.hold_sync():
        grid.ids = page[:5]  # a new page, half set: its labels are not in yet
        # Suggestions fitted again in the background meanwhile leave its chips alone.
        lab.assist.suggest_job.request(0)
        settle(lab)
        assert list(grid.suggested) == before
        assert lab.status.last_error is None
        grid.ids = page
    # A page drawn puts in its own chips.
    LabelerDriver(lab).turn("next")
    LabelerDriver(lab).turn("prev")
    assert shown(lab) == page
    assert all(chips(lab).values())


def test_suggestions_follow_the_labels_in_the_background(
    suggesting: Labeler, dataset: Dataset, truth: dict[str, str]
) -> None:
    lab = suggesting
    before = lab.assist.suggestions
    first = shown(lab)[0]
    kinds = kind_of(dataset, truth)
    dataset.add_label(kinds[first], [first])
    settle(lab)
    after = lab.assist.suggestions
    assert first in before.index
    assert first not in after.index
    assert len(after.index.unique()) == len(before.index.unique()) - 1


# -- Accept all --------------------------------------------------------------------------------------


def test_accept_all_button_counts_labels_and_undoes(
    suggesting: Labeler, dataset: Dataset, truth: dict[str, str]
) -> None:
    lab = suggesting
    user = LabelerDriver(lab)
    button = user.button("accept all")
    expected = dataset.suggest()
    sure = expected[expected["confidence"] >= 0.9]
    n = sure.index.nunique()
    assert n > 0
    assert button.description == f"Accept {n} ≥ 90%"
    assert not button.disabled
    unlabeled = len(dataset.ids("unlabeled"))
    button.click()
    assert len(dataset.ids("unlabeled")) == unlabeled - n
    kinds = kind_of(dataset, truth)
    assert all(dataset.labels_of([i])[i] == [kinds[i]] for i in sure.index)
    assert f"Accepted {len(sure)} suggestions for {n} images" in status_text(lab)
    assert user.button("undo").tooltip.startswith("Undo: Accepted")
    settle(lab)
    remaining = dataset.suggest()
    left = remaining[remaining["confidence"] >= 0.9].index.nunique()
    assert button.description == f"Accept {left} ≥ 90%"

    user.press("z")  # one action: one undo takes it all back
    assert len(dataset.ids("unlabeled")) == unlabeled
    settle(lab)
    assert button.description == f"Accept {n} ≥ 90%"


def test_accept_all_is_disabled_with_a_reason(
    lab: Labeler, dataset: Dataset, tmp_path: Path
) -> None:
    button = LabelerDriver(lab).button("accept all")
    assert button.disabled
    assert "turn on Suggest" in button.tooltip
    lab.assist.accept_all()
    assert "Nothing to accept: turn on Suggest" in status_text(lab)

    dataset.compute_features(progress=False)
    lab.assist.suggest = True
    settle(lab)
    lab.assist.min_confidence = 1.0
    assert button.disabled
    assert button.description == "Accept 0 ≥ 100%"
    assert "no suggestion is 100% sure or more" in LabelerDriver(lab).assist_note
    with pytest.raises(traitlets.TraitError, match="from 0 to 1"):
        lab.assist.min_confidence = 1.5

    # One label only: no suggestions at all, and the note says why.
    make_folder(tmp_path / "other", per_class=6)
    other = Dataset.open(tmp_path / "other")
    try:
        other.add_label("stripes", other.ids("all")[:6].tolist())
        other.compute_features(progress=False)
        second = new_labeler(other)
        try:
            second.assist.suggest = True
            settle(second)
            assert LabelerDriver(second).button("accept all").disabled
            assert "at least 2 labels" in LabelerDriver(second).assist_note
            assert "No suggestions: suggestions need at least 2 labels" in status_text(second)
            assert all(s == [] for s in chips(second).values())
        finally:
            second.close()
    finally:
        other.close()


# -- the s key -------------------------------------------------------------------------------------


def test_s_accepts_the_suggestions_of_the_selected_images(
    suggesting: Labeler, dataset: Dataset, truth: dict[str, str]
) -> None:
    lab = suggesting
    user = LabelerDriver(lab)
    assert keymap.action_for("s") == ("accept_suggestions", None)
    assert "s" in lab.grid.key_names
    assert "s accept suggestion" in lab.grid.key_help
    user.press("s")
    assert "Select images first" in status_text(lab)

    tiles = shown(lab)
    suggested = chips(lab)
    user.click_tile(1)
    user.click_tile(2)
    user.press("s")
    for image_id in tiles[1:3]:
        assert dataset.labels_of([image_id])[image_id] == [suggested[image_id][0][0]]
    kinds = kind_of(dataset, truth)
    assert all(dataset.labels_of([i])[i] == [kinds[i]] for i in tiles[1:3])
    assert lab.selected == ()  # they left the Unlabeled view
    assert tiles[1] not in shown(lab)
    user.press("z")
    assert dataset.labels_of([tiles[1]])[tiles[1]] == []

    lab.assist.suggest = False
    lab.selected = (tiles[0],)
    lab.assist.accept_selected()
    assert "Turn on Suggest first" in status_text(lab)
    assert dataset.labels_of([tiles[0]])[tiles[0]] == []


# -- orders ----------------------------------------------------------------------------------------


def test_orders_reorder_pages_ranges_and_the_preview(suggesting: Labeler, dataset: Dataset) -> None:
    lab = suggesting
    user = LabelerDriver(lab)
    file_order = [str(i) for i in dataset.ids("unlabeled")]
    assert shown(lab) == file_order[:12]

    user.choose_order("uncertain")  # the menu, as the user picks it
    assert lab.assist.order == "uncertain"
    settle(lab)
    uncertain = dataset.uncertain(len(file_order))
    ranked = [str(i) for i in uncertain.index]
    assert sorted(ranked) == sorted(file_order)
    assert shown(lab) == ranked[:12]
    assert lab.page == 0
    # Paging, shift-click ranges and the preview follow the order.
    user.turn("next")
    assert shown(lab) == ranked[12:24]
    user.click_tile(0)
    user.click_tile(3, shift=True)
    assert lab.selected == tuple(ranked[12:16])
    lab.clear_selection()
    lab.open_image(ranked[13])
    user.preview_click("next")
    assert user.preview_image_id == ranked[14]
    user.preview_click("close")

    lab.assist.order = "suggested"
    settle(lab)
    table = dataset.suggest()
    top = table[~table.index.duplicated()]
    names = dataset.label_names
    expected = sorted(
        top.index, key=lambda i: (names.index(top.loc[i, "label"]), -top.loc[i, "confidence"])
    )
    assert shown(lab) == [str(i) for i in expected[:12]]

    lab.assist.order = "file"
    assert shown(lab) == file_order[:12]
    with pytest.raises(traitlets.TraitError, match="order must be one of"):
        lab.assist.order = "random"


def test_a_ranking_ready_while_the_kernel_draws_is_the_page_left_shown(
    suggesting: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel draws page one of "uncertain" in file order (the ranking is not ready) while
    the ranking arrives and its page is drawn from the background: the page left on screen is
    the ranked one, whichever thread finishes drawing first."""
    lab = suggesting
    drawing = threading.Event()  # the kernel has worked out its page, not yet sent it
    ranked_ready = threading.Event()  # the background has the ranking
    drawn = threading.Event()  # the background has drawn the ranked page
    kernel = threading.current_thread()
    labels_of, uncertain, view_counts = dataset.labels_of, dataset.uncertain, dataset.view_counts

    def kernel_draws(ids: Any) -> Any:
        if threading.current_thread() is kernel and not drawing.is_set():
            drawing.set()
            assert ranked_ready.wait(WAIT)
            # A drawing from the background may go on meanwhile, or wait for this one: either
            # way the ranked page must be the one left shown. (The wait only gives it time.)
            drawn.wait(0.3)
        return labels_of(ids)

    def background_ranks(*args: Any, **options: Any) -> Any:
        assert drawing.wait(WAIT)  # ranked only once the kernel's page holds the file order
        try:
            return uncertain(*args, **options)
        finally:
            ranked_ready.set()

    def counted(*args: Any, **options: Any) -> Any:
        if threading.current_thread() is not kernel and ranked_ready.is_set():
            drawn.set()  # the last step of drawing a page
        return view_counts(*args, **options)

    monkeypatch.setattr(dataset, "labels_of", kernel_draws)
    monkeypatch.setattr(dataset, "uncertain", background_ranks)
    monkeypatch.setattr(dataset, "view_counts", counted)
    lab.assist.order = "uncertain"
    settle(lab)
    assert drawing.is_set()
    assert ranked_ready.is_set()
    ranked = [str(i) for i in uncertain(len(dataset.ids("unlabeled"))).index]
    assert shown(lab) == ranked[:12]
    assert lab.page == 0


def test_more_like_these_puts_the_selection_and_its_likes_first(
    suggesting: Labeler, dataset: Dataset, truth: dict[str, str]
) -> None:
    lab = suggesting
    user = LabelerDriver(lab)
    assert user.button("more like these").disabled  # nothing selected
    kinds = kind_of(dataset, truth)
    page = shown(lab)
    dots = [i for i in page if kinds[i] == "dots"][:2]
    lab.selected = tuple(dots)
    assert not user.button("more like these").disabled
    user.click("more like these")
    assert lab.assist.order == "similar"
    assert lab.assist.order_menu.value == "similar"
    near = [str(i) for i in dataset.similar(dots, k=100, view="unlabeled").index]
    assert shown(lab) == (dots + near)[:12]
    # The likes of two dots are dots, before any other kind.
    n_dots = sum(1 for k in (kinds[i] for i in dataset.ids("unlabeled")) if k == "dots")
    assert {kinds[i] for i in shown(lab)[:n_dots]} == {"dots"}
    assert "Most like the 2 selected images first." in status_text(lab)

    # Another selection, More like these again: a new order.
    bars = [i for i in dataset.ids("unlabeled") if kinds[i] == "bars"][:1]
    lab.selected = tuple(bars)
    lab.assist.more_like_these()
    assert shown(lab)[0] == bars[0]
    assert {kinds[i] for i in shown(lab)[:3]} == {"bars"}

    # The All tab: ranked again among all images.
    lab.view = "all"
    assert shown(lab)[0] == bars[0]
    assert {kinds[i] for i in shown(lab)[:6]} == {"bars"}


def test_orders_that_need_features_say_so(lab: Labeler, dataset: Dataset) -> None:
    lab.page = 1
    page = shown(lab)
    for order in ("uncertain", "suggested", "similar"):
        LabelerDriver(lab).choose_order(order)
        assert lab.assist.order == "file"
        assert lab.assist.order_menu.value == "file"
        assert "needs the images' features: press Compute features" in status_text(lab)
        assert lab.page == 1  # refused: the grid stays as it was
        assert shown(lab) == page
    lab.selected = (shown(lab)[0],)
    lab.assist.more_like_these()
    assert "More like these needs the images' features" in status_text(lab)
    assert lab.assist.order == "file"

    # With features but nothing selected, "similar" says what to do.
    dataset.compute_features(progress=False)
    lab.clear_selection()
    lab.assist.order = "similar"
    assert lab.assist.order == "file"
    assert "Select images first, then More like these." in status_text(lab)


def test_an_order_waits_for_its_ranking_then_shows_page_one(lab: Labeler, dataset: Dataset) -> None:
    dataset.compute_features(progress=False)
    lab.page = 1
    lab.assist.order = "uncertain"  # Suggest is off: the ranking is computed all the same
    settle(lab)
    ranked = [str(i) for i in dataset.uncertain(100).index]
    assert lab.page == 0
    assert shown(lab) == ranked[:12]
    assert all(s == [] for s in chips(lab).values())  # no chips while Suggest is off


def test_a_new_ranking_waits_for_the_next_render(
    suggesting: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ranking computed in the background never reorders the page under the pointer."""
    lab = suggesting
    user = LabelerDriver(lab)
    lab.assist.order = "uncertain"
    settle(lab)
    before = shown(lab)
    unlabeled = len(dataset.ids("unlabeled"))
    ranking = dataset.uncertain(unlabeled, min_per_label=assist_module.MIN_PER_LABEL)
    ranked = [str(i) for i in ranking.index]
    assert before == ranked[:12]
    # A new ranking arrives from the background (here: the same one reversed).
    uncertain = dataset.uncertain
    monkeypatch.setattr(dataset, "uncertain", lambda *a, **o: uncertain(*a, **o).iloc[::-1])
    lab.assist.suggest_job.request(0)
    settle(lab)
    assert shown(lab) == before
    # A shift-click range still follows the order on screen.
    user.click_tile(0)
    user.click_tile(3, shift=True)
    assert lab.selected == tuple(before[:4])
    lab.clear_selection()
    # The next render takes it up.
    user.turn("next")
    assert shown(lab) == ranked[::-1][12:24]


# -- features in the background ---------------------------------------------------------------------


def test_features_compute_in_the_background_while_the_grid_works(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    go_on = threading.Event()
    started = threading.Event()
    real = dataset.compute_features

    def slow(**options: Any) -> Any:
        options["progress"](0, 36)
        started.set()
        assert go_on.wait(WAIT)
        return real(**options)

    monkeypatch.setattr(dataset, "compute_features", slow)
    user = LabelerDriver(lab)
    user.click("compute features")
    assert started.wait(WAIT)
    button = user.button("compute features")
    assert button.disabled
    assert button.description == "Computing features…"
    assert "Features: 0 / 36" in status_text(lab)
    # Meanwhile the grid turns pages and labels.
    user.turn("next")
    assert lab.page == 1
    user.click_tile(0)
    user.label_selection("stripes")
    assert dataset.view_counts()["labeled"] == 16
    lab.assist.compute_features()
    assert "being computed already" in status_text(lab)
    go_on.set()
    settle(lab)
    assert not button.disabled
    assert button.description == "Compute features"
    assert "Features: 0 / 36" not in status_text(lab)
    assert "Features computed for 36 images and stored with the labels." in status_text(lab)
    assert dataset.has_features()


def test_feature_errors_go_to_the_status_line(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_options: Any) -> Any:
        raise StoreUnavailableError("the store cannot be reached", "s3://bucket/x")

    monkeypatch.setattr(dataset, "compute_features", broken)
    lab.assist.compute_features()
    settle(lab)
    user = LabelerDriver(lab)
    assert "Features could not be computed:" in user.status_text
    assert user.status_is_error
    assert isinstance(user.last_error, StoreUnavailableError)
    assert not user.button("compute features").disabled
    user.clear_error()


def test_suggestion_errors_go_to_the_status_line(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset.compute_features(progress=False)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the model broke")

    monkeypatch.setattr(dataset, "suggest", broken)
    lab.assist.suggest = True
    settle(lab)
    assert "Suggestions: Something went wrong (RuntimeError): the model broke" in status_text(lab)
    assert LabelerDriver(lab).button("accept all").disabled
    LabelerDriver(lab).clear_error()


def test_new_images_get_features_while_suggest_is_on(
    suggesting: Labeler, dataset: Dataset, tmp_path: Path
) -> None:
    lab = suggesting
    make_folder(tmp_path / "images", per_class=1, start=50)
    dataset.sync()
    settle(lab)
    assert len(dataset.ids("all")) == 39
    features = dataset.compute_features(progress=False)
    assert (features.computed, features.reused) == (0, 39)
    assert len(lab.assist.suggestions.index.unique()) == 24


# -- the background runner ------------------------------------------------------------------------


def test_requests_in_a_burst_run_once_and_never_overlap() -> None:
    runs: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    def job() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            inside.set()
            assert release.wait(WAIT)

    runner = Debounced(job, "test-debounced")
    for _ in range(5):
        runner.request(3600)  # far off: each request replaces the one before
    assert runs == []
    runner.request(0)
    assert inside.wait(WAIT)
    for _ in range(5):
        runner.request(0)  # during the run: one more run after it
    release.set()
    assert runner.wait(WAIT)
    assert runs == [0, 1]
    runner.close()
    runner.request(0)
    assert runner.wait(WAIT)
    assert runs == [0, 1]


def test_a_slow_fit_spaces_the_next_ones_out(suggesting: Labeler, dataset: Dataset) -> None:
    lab = suggesting
    job = lab.assist.suggest_job
    assert job.last_seconds > 0
    delays: list[float] = []
    real = job.request

    def request(delay: float) -> None:
        delays.append(delay)
        real(0)

    job.request = request
    job.last_seconds = 7.0  # as if the last fit had taken 7 s
    dataset.add_label("bars", [shown(lab)[0]])
    assert delays == [7.0]
    settle(lab)
    assert job.last_seconds != 7.0  # the run that followed was timed in its place


def test_closing_stops_the_background_work(dataset: Dataset) -> None:
    labeler = new_labeler(dataset)
    labeler.assist.suggest = True  # starts the features
    labeler.close()
    assert labeler.assist.wait(WAIT)
    assert labeler.assist.suggest_job.wait(0)
