"""The Labeler without a browser: set its traits, click, type and press keys through
:class:`~jupyter_labeler.testing.LabelerDriver` (which passes the grid the messages its browser
side sends), and check both the Dataset's state and what the widgets show (or send).

Every test's Labeler must end with no exception caught on its status line (ipywidgets swallows
exceptions in button callbacks, so that is where a hidden failure would go); a test that provokes
an error on purpose clears it after checking it.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fsspec
import ipywidgets
import pytest
import traitlets
from ipywidgets.widgets import widget as widget_module
from PIL import Image

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.errors import StoreUnavailableError
from jupyter_labeler.results import Change
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler, label
from jupyter_labeler.widget import keys as keymap
from jupyter_labeler.widget import labeler as labeler_module
from jupyter_labeler.widget.grid import DEFAULT_TILE_SIZE, TILE_SIZES, thumbnail_px
from jupyter_labeler.widget.labeler import keys_hint
from jupyter_labeler.widget.preview import chips_html

N_IMAGES = 30
# The side of the thumbnails sent at the default tile size.
PX = TILE_SIZES[DEFAULT_TILE_SIZE]


def jpeg(color: tuple[int, int, int] = (200, 60, 40), size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def widget_count() -> int:
    return len(widget_module._instances)


def updates_of(
    sent: list[tuple[dict[str, Any], list[bytes]]],
) -> list[tuple[dict[str, Any], list[bytes]]]:
    """The messages that sent a new page (its ids among the traits changed)."""
    return [(m, b) for m, b in sent if m.get("method") == "update" and "ids" in m["state"]]


@pytest.fixture(autouse=True)
def _prefetch_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # In the browser the next page is prefetched a moment later; here at once, so tests see it.
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 0)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """30 small JPEGs img00..img29 and one broken file (first in the display order)."""
    root = tmp_path / "images"
    root.mkdir()
    for i in range(N_IMAGES):
        (root / f"img{i:02d}.jpg").write_bytes(jpeg((i * 8, 120, 200 - i * 5)))
    (root / "broken.jpg").write_bytes(b"this is not an image")
    return root


@pytest.fixture
def dataset(folder: Path) -> Iterator[Dataset]:
    ds = Dataset.open(str(folder), author="tester")
    yield ds
    ds.close()


@pytest.fixture
def lab(dataset: Dataset) -> Iterator[Labeler]:
    labeler = Labeler(dataset, page_size=12)
    yield labeler
    error = labeler.status.last_error
    labeler.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


@pytest.fixture
def user(lab: Labeler) -> LabelerDriver:
    """Clicks, keys and typing on ``lab``, and what its user sees."""
    return LabelerDriver(lab)


def ids_of(dataset: Dataset, view: str = "all") -> list[str]:
    return [str(i) for i in dataset.ids(view)]


# -- opening, counts, the grid --------------------------------------------------------------


def test_first_page_shows_counts_tiles_and_file_names(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    assert lab.view == "unlabeled"
    assert user.tab_titles == {
        "unlabeled": "Unlabeled (31)",
        "labeled": "Labeled (0)",
        "all": "All (31)",
    }
    assert user.active_tab == "unlabeled"
    assert user.page_info == "page 1 of 3"
    tiles = user.visible_ids
    assert tiles == ids_of(dataset, "unlabeled")[:12]
    second = user.tile(tiles[1])
    assert second.name == "img00.jpg"
    assert second.thumbnail[:2] == b"\xff\xd8"  # JPEG thumbnail bytes
    assert second.labels == ()
    assert second.error == ""
    assert len(lab.grid.thumbs) == 12
    assert lab.grid.page_sizes == [12, 24, 48, 96]
    assert "Not ready for training" in user.readiness


def test_broken_image_gets_a_placeholder_with_its_reason(user: LabelerDriver) -> None:
    broken = user.tile(0)
    assert broken.name == "broken.jpg"
    assert broken.error  # the browser shows "Cannot show this image: <reason>"
    assert broken.thumbnail  # the placeholder picture
    assert user.tile(1).error == ""


def test_label_opens_a_source_and_takes_options(folder: Path) -> None:
    labeler = label(str(folder), page_size=24, view="all", author="someone")
    try:
        assert labeler.dataset.author == "someone"
        assert labeler.view == "all"
        assert labeler.page_size == 24
        assert labeler.grid.page_size == 24
        assert len(LabelerDriver(labeler).visible_ids) == 24
    finally:
        labeler.close()
        labeler.dataset.close()
    with pytest.raises(TypeError, match="unknown option"):
        label(str(folder), colour="red")


def test_memory_store(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"memory://widget-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    for i in range(5):
        fs.pipe(f"{url}/m{i}.jpg", jpeg((i * 40, 10, 10)))
    labeler = label(url)
    user = LabelerDriver(labeler)
    try:
        assert user.tab_titles["unlabeled"] == "Unlabeled (5)"
        labeler.select_page()
        user.label_selection("cats")
        assert labeler.dataset.counts().loc["cats", "images"] == 5
        assert user.last_error is None
    finally:
        labeler.close()
        labeler.dataset.close()
        fs.rm(url, recursive=True)


# -- traits ---------------------------------------------------------------------------------


def test_traits_validate_clean_or_explain(lab: Labeler) -> None:
    lab.view = "  ALL "
    assert lab.view == "all"
    with pytest.raises(traitlets.TraitError, match="view must be one of"):
        lab.view = "everything"
    with pytest.raises(traitlets.TraitError, match="page_size must be one of 12, 24, 48, 96"):
        lab.page_size = 10
    lab.page = 99
    assert lab.page == 2  # clamped: 31 images in pages of 12
    lab.page = -4
    assert lab.page == 0
    with pytest.raises(traitlets.TraitError, match="unknown: 'nope'"):
        lab.selected = ("nope",)
    with pytest.raises(traitlets.TraitError, match="expected a tuple"):
        lab.selected = "abc"
    with pytest.raises(traitlets.TraitError, match="existing label"):
        lab.label_filter = "roses"
    first = lab.grid.ids[0]
    lab.selected = (first, first)
    assert lab.selected == (first,)
    for name in ("view", "page", "page_size", "selected", "label_filter"):
        assert Labeler.class_traits()[name].help


def test_view_page_and_page_size_drive_the_grid(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    dataset.add_label("roses", ids_of(dataset)[:3])
    assert user.tab_titles == {
        "unlabeled": "Unlabeled (28)",
        "labeled": "Labeled (3)",
        "all": "All (31)",
    }
    lab.view = "labeled"
    assert user.visible_ids == ids_of(dataset)[:3]
    assert user.page_info == "page 1 of 1"
    user.open_tab("all")
    assert lab.view == "all"
    assert user.active_tab == "all"
    lab.page = 2
    assert len(user.visible_ids) == 7
    # A bigger page keeps the first image shown on screen.
    lab.page_size = 24
    assert lab.page == 1
    assert lab.grid.page_size == 24
    user.choose_page_size(12)
    assert lab.page_size == 12
    assert lab.page == 2


# -- no widgets created by page turns --------------------------------------------------------


def test_page_turns_create_no_widgets(lab: Labeler, user: LabelerDriver) -> None:
    before = widget_count()
    for step in ("next", "next", "prev", "last", "first"):
        user.turn(step)
    for key in ("ArrowRight", "PageDown", "End", "Home", "ArrowLeft", "PageUp"):
        user.press(key)
    lab.view = "all"
    lab.view = "unlabeled"
    lab.page_size = 48
    user.click_tile(3)
    user.select_page()
    user.clear_selection()
    assert widget_count() == before
    assert len(lab.grid.ids) == len(lab.grid.thumbs) == 31


def _pushed(sent: list[tuple[dict[str, Any], list[bytes]]]) -> list[tuple[list[str], list[bytes]]]:
    return [
        (m["content"]["keys"], b)
        for m, b in sent
        if m.get("method") == "custom" and m["content"].get("event") == "thumbs"
    ]


def test_a_page_is_one_message_with_thumbnails_as_buffers(user: LabelerDriver) -> None:
    with user.sent_to_browser() as sent:
        user.turn("last")  # a page whose thumbnails the browser does not hold yet
    updates = updates_of(sent)
    assert len(updates) == 1
    msg, buffers = updates[0]
    state = msg["state"]
    assert {"ids", "names", "errors", "page", "page_token", "thumb_keys"} <= set(state)
    assert len(buffers) == 7
    assert all(b[:2] == b"\xff\xd8" for b in buffers)
    assert "thumbs" in str(msg["buffer_paths"])
    assert state["thumb_keys"] == [f"{PX}/{i}" for i in user.visible_ids]


def test_the_next_page_is_pushed_ahead_and_a_turn_sends_no_thumbnail(
    lab: Labeler, user: LabelerDriver
) -> None:
    second = ids_of(lab.dataset, "unlabeled")[12:24]
    thumbs = lab.dataset.thumbnails(second, size=PX)
    with user.sent_to_browser() as sent:
        # Already pushed when the first page was shown: pushing them again sends nothing.
        assert lab.grid.push(second, PX, [thumbs[i].data for i in second]) == 0
        assert _pushed(sent) == []
        assert all(f"{PX}/{i}" in lab.grid.held for i in second)

        user.turn("next")
        updates = updates_of(sent)
        assert len(updates) == 1
        _msg, buffers = updates[0]
        assert user.visible_ids == second
        assert buffers == [b""] * 12  # every thumbnail is in the browser already
        # ... and the page after it went ahead, as one message of its thumbnails.
        pushed = _pushed(sent)
        assert len(pushed) == 1
        keys, data = pushed[0]
        assert keys == [f"{PX}/{i}" for i in ids_of(lab.dataset, "unlabeled")[24:31]]
        assert len(data) == 7
        assert all(b[:2] == b"\xff\xd8" for b in data)

        sent.clear()
        user.turn("prev")  # a page seen before
        updates = updates_of(sent)
        assert len(updates) == 1
        assert not any(
            updates[0][1]
        )  # no thumbnail bytes (an unchanged list of empty ones is not sent)
        assert updates[0][0]["state"]["thumb_keys"] == [f"{PX}/{i}" for i in user.visible_ids]
        assert _pushed(sent) == []


def test_the_next_page_goes_once_the_browser_has_drawn_this_one(
    lab: Labeler, user: LabelerDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 60)  # no background prefetch here
    with user.sent_to_browser() as sent:
        user.turn("next")
        assert _pushed(sent) == []  # not while the browser draws this page
        token = lab.grid.page_token
        lab.grid.receive({"event": "drawn", "token": token - 1})  # an older page: nothing
        user.wait_for_pushes()
        assert _pushed(sent) == []
        lab.grid.receive({"event": "drawn", "token": token})
        lab.grid.receive({"event": "drawn", "token": token})  # a second view: pushed once
        user.wait_for_pushes()  # made and sent by the pusher's thread
    pushed = _pushed(sent)
    assert len(pushed) == 1
    assert pushed[0][0] == [f"{PX}/{i}" for i in ids_of(lab.dataset, "unlabeled")[24:31]]


def test_the_browser_says_what_it_let_go_and_asks_for_what_it_lacks(
    lab: Labeler, user: LabelerDriver
) -> None:
    first = user.visible_ids
    grid = lab.grid
    grid.receive({"event": "evicted", "keys": [f"{PX}/{first[1]}", "nonsense"]})
    assert f"{PX}/{first[1]}" not in grid.held
    user.turn("next")
    with user.sent_to_browser() as sent:
        user.turn("prev")  # the first page again: only the thumbnail it let go is sent
        update = [b for _m, b in updates_of(sent)][-1]
        assert [bool(b) for b in update] == [i == 1 for i in range(12)]

        sent.clear()
        # A second view (or a reloaded page) lacks them all and asks: they come again.
        grid.receive(
            {"event": "want", "keys": [f"{PX}/{first[2]}", f"{PX}/{first[3]}", f"{PX}/nope"]}
        )
        grid.receive({"event": "want", "keys": ["100000/" + first[2], "x/y", 7]})  # refused
    customs = [m["content"] for m, _ in sent if m.get("method") == "custom"]
    assert customs == [
        {
            "event": "thumbs",
            "keys": [f"{PX}/{first[2]}", f"{PX}/{first[3]}"],
            "none": [f"{PX}/nope"],
        }
    ]


def test_changed_images_are_sent_again(lab: Labeler, user: LabelerDriver, folder: Path) -> None:
    before = set(lab.grid.held)
    assert len(before) == 24  # the page shown and the next one, pushed
    with user.sent_to_browser() as sent:
        (folder / "img40.jpg").write_bytes(jpeg((1, 2, 3)))
        lab.dataset.sync()
    # The kernel forgot what the browser held: every key it holds now went out after the sync.
    # The page's state carries every thumbnail's bytes again (unchanged bytes are not re-sent:
    # the browser's copy of the state has them), and the next page was pushed again.
    grid = lab.grid
    assert all(grid.thumbs)
    assert len(grid.thumbs) == 12
    again = {k for keys, _ in _pushed(sent) for k in keys}
    assert len(again) == 12
    assert set(grid.held) == again | set(grid.thumb_keys)


def test_tile_size_and_hidpi_ask_for_other_thumbnails(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = dataset.thumbnails

    def thumbnails(ids: Any, size: int = 160) -> Any:
        sizes.append(size)
        return real(ids, size=size)

    monkeypatch.setattr(dataset, "thumbnails", thumbnails)
    lab.grid.tile_size = "large"
    assert lab.grid.tile_px == 224
    assert lab.thumbnail_px == 224
    lab.grid.hidpi = True  # the browser says so on a HiDPI screen
    assert sizes == [224, 224, 448, 448]  # each time the page, then the next one pushed ahead
    assert lab.thumbnail_px == 448
    assert thumbnail_px("medium", True, 48) == 256  # a page stays within its bytes budget
    assert thumbnail_px("medium", False, 48) == 160
    assert thumbnail_px("small", True, 12) == 224
    with pytest.raises(traitlets.TraitError):
        lab.grid.tile_size = "huge"


def test_a_bad_option_leaves_nothing_behind(dataset: Dataset) -> None:
    before = widget_count()
    with pytest.raises(traitlets.TraitError, match="page_size must be one of"):
        Labeler(dataset, page_size=50)
    assert widget_count() == before
    assert dataset.observers == ()


def test_close_closes_every_widget(dataset: Dataset) -> None:
    before = widget_count()
    labeler = Labeler(dataset, page_size=24)
    labeler.page = 1
    LabelerDriver(labeler).double_click(0)
    assert labeler.preview.is_open
    assert widget_count() > before
    labeler.close()
    assert widget_count() == before


# -- selection -------------------------------------------------------------------------------


def test_click_toggles_and_selection_survives(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    tiles = user.visible_ids
    user.click_tile(2)
    assert lab.selected == (tiles[2],)
    assert user.ticked == [tiles[2]]
    user.click_tile(tiles[3])  # a tile is also named by its image
    assert lab.selected == (tiles[2], tiles[3])
    assert user.selected_count == 2
    user.click_tile(3)
    assert lab.selected == (tiles[2],)
    assert user.ticked == [tiles[2]]
    chosen = lab.selected
    lab.page = 1
    assert user.ticked == []
    assert user.selected_count == 1
    lab.view = "all"
    lab.page = 0
    assert lab.selected == chosen
    assert user.ticked == list(chosen)
    user.clear_selection()
    assert lab.selected == ()
    assert user.ticked == []
    # Selection set from code reaches the browser too.
    lab.selected = tuple(tiles[:3])
    assert user.ticked == tiles[:3]
    assert user.selected_count == 3
    with pytest.raises(ValueError, match="is not on this page"):
        user.click_tile("no such image")


def test_every_selection_message_is_acknowledged(lab: Labeler) -> None:
    grid = lab.grid
    grid.receive({"event": "click", "index": 1, "shift": False, "seq": 7})
    assert grid.ack == 7
    grid.receive({"event": "click", "index": 99, "shift": False, "seq": 8})  # no such tile
    assert grid.ack == 8
    assert len(lab.selected) == 1
    grid.receive({"event": "clear", "seq": 3})  # an older view's count never goes back
    assert grid.ack == 8
    assert lab.selected == ()


def test_shift_click_selects_a_range_across_pages(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    order = ids_of(dataset, "unlabeled")
    user.click_tile(10)
    lab.page = 1
    user.click_tile(3, shift=True)  # position 15 of the view
    assert lab.selected == tuple(order[10:16])
    # And backwards, from a later anchor.
    user.clear_selection()
    user.click_tile(5)  # position 17
    lab.page = 0
    user.click_tile(8, shift=True)
    assert set(lab.selected) == set(order[8:18])
    assert len(lab.selected) == 10


def test_select_page_and_drop_removed_images(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    user.select_page()
    page0 = user.visible_ids
    assert lab.selected == tuple(page0)
    lab.page = 1
    user.press("a")
    assert len(lab.selected) == 24
    dataset.remove_images(page0[:2])
    assert len(lab.selected) == 22
    assert page0[0] not in lab.selected


# -- label box -------------------------------------------------------------------------------


def test_label_box_checks_names_and_labels_the_selection(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ok = user.button("ok")
    assert ok.disabled
    user.type_label("roses")
    # Nothing selected: OK says so on the status line rather than doing nothing.
    assert not ok.disabled
    assert ok.tooltip.startswith("Select images first")
    user.click("ok")
    assert "Select images first: click a tile, or press a" in user.status_text
    assert dataset.labels_of(ids_of(dataset)) == {i: [] for i in ids_of(dataset)}
    user.click_tile(1)
    user.click_tile(2)
    assert not ok.disabled
    user.type_label("red/roses")
    assert ok.disabled
    assert "'/' (U+002F SOLIDUS) is not allowed" in user.label_problem
    user.type_label("x" * 33)
    assert "at most 32 characters" in user.label_problem
    user.type_label(" roses ")
    assert lab.label_box.problem.value == ""
    assert ok.tooltip == "Add roses to the 2 selected images (Enter)"
    chosen = lab.selected
    # Enter in the box sends the name typed, which may be ahead of the value the kernel has.
    box = lab.label_box.input
    box.receive({"event": "typed", "value": "ros"})  # the box left
    assert box.value == "ros"
    user.enter_label(" roses ")
    assert dataset.labels_of(chosen) == {i: ["roses"] for i in chosen}
    assert "Added roses to 2 images" in user.status_text
    # They left the Unlabeled view, so they left the selection too.
    assert lab.selected == ()
    assert box.options == ("roses",)
    assert user.tab_titles["labeled"] == "Labeled (2)"
    lab.view = "labeled"
    assert lab.grid.labels == [["roses"], ["roses"]]
    # Remove label takes an existing label off the selected images only.
    user.click_tile(0)
    user.type_label("tulips")
    assert user.button("remove label").disabled
    user.type_label("roses")
    assert not user.button("remove label").disabled
    user.click("remove label")
    assert dataset.labels_of(chosen) == {chosen[0]: [], chosen[1]: ["roses"]}


def test_a_second_label_on_labeled_images_keeps_the_selection(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    dataset.add_label("roses", ids_of(dataset)[:4])
    lab.view = "labeled"
    user.select_page()
    user.label_selection("red")
    assert len(lab.selected) == 4
    assert user.labels_on(0) == ["roses", "red"]


# -- escaping --------------------------------------------------------------------------------


def test_user_strings_are_escaped(
    lab: Labeler, user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    nasty = "<img src=x onerror=alert(1)>.jpg"
    (folder / nasty).write_bytes(jpeg())
    user.click("synchronize")
    image_id = next(i for i in ids_of(dataset) if dataset.info(i)["path"] == nasty)
    lab.open_image(image_id)
    assert "<img" not in lab.preview.info.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in lab.preview.info.value
    assert user.preview_text.startswith(nasty)
    # The tile's name goes to the browser as data (drawn with textContent, never as HTML).
    lab.view = "all"
    lab.page_size = 48
    assert user.tile(image_id).name == nasty
    script = (Path(__file__).parents[1] / "jupyter_labeler/widget/static/grid.js").read_text()
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    # Refused uploads list the name as given, escaped.
    user.upload({"<script>alert(1)</script>.gif": b"GIF"})
    assert "<script>" not in lab.upload_panel.result.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.gif" in lab.upload_panel.result.value
    # Chips and the All Labels pane escape label names (manifests may bring odd ones).
    assert "<script>" not in chips_html(["<script>x</script>"])
    lab.labels_pane.update(["<b>x</b>"], {"<b>x</b>": 1})
    assert user.label_rows[0]["name"] == "<b>x</b>"  # data, drawn as text by the browser
    pane_script = Path(__file__).parents[1] / "jupyter_labeler/widget/static/labels_pane.js"
    assert "innerHTML" not in pane_script.read_text()
    assert "insertAdjacentHTML" not in pane_script.read_text()


# -- keys ------------------------------------------------------------------------------------


def test_keys_label_turn_pages_select_clear_and_undo(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    dataset.add_label("roses", ids_of(dataset)[-1:])
    dataset.add_label("tulips", ids_of(dataset)[-2:-1])
    lab.view = "all"  # labeled images stay in view, and so in the selection
    assert set(lab.grid.key_names) == {k for s in keymap.KEYS for k in s.keys}
    # One short line, with only the keys that act in this view: y and r act in Review only.
    assert "Esc clear" in lab.grid.key_help
    assert "y accept" not in lab.grid.key_help
    assert "r reject" not in lab.grid.key_help
    assert "y accept" in keys_hint("review")
    assert "r reject" in keys_hint("review")
    user.press("End")
    assert lab.page == lab.page_count - 1
    user.press("Home")
    assert lab.page == 0
    user.press("ArrowRight")
    user.press("PageDown")
    assert lab.page == 2
    user.press("PageUp")
    assert lab.page == 1
    user.press("a")
    chosen = lab.selected
    assert len(chosen) == 12
    user.press("2")
    assert all("tulips" in v for v in dataset.labels_of(chosen).values())
    user.press("z")
    assert not any("tulips" in v for v in dataset.labels_of(chosen).values())
    assert "Undone: Added tulips to 12 images" in user.status_text
    lab.selected = chosen
    user.press("Escape")
    assert lab.selected == ()
    lab.selected = chosen
    user.press("5")
    assert "There is no label number 5" in user.status_text
    undo = dataset.undo_description
    user.press("a", ctrl=True)  # the browser's own shortcut, left alone
    user.press("Escape", meta=True)
    user.press("z", alt=True)
    assert lab.selected == chosen
    assert dataset.undo_description == undo
    user.press("1")
    assert all("roses" in v for v in dataset.labels_of(chosen).values())
    user.press("Delete")
    assert user.dialog_open
    assert "Delete 12 images?" in user.dialog_title
    user.cancel()
    assert not user.dialog_open
    assert len(dataset.ids()) == 31
    assert lab.selected == chosen


def test_key_help_lists_the_same_table_as_the_handler() -> None:
    help_text = keymap.help_text()
    for shortcut in keymap.KEYS:
        assert shortcut.help in help_text
        for key in shortcut.keys:
            assert keymap.action_for(key) is not None
    assert keymap.action_for("0") == ("label", 9)
    assert keymap.action_for("q") is None
    assert 'title="' in keymap.help_html()


# -- undo ------------------------------------------------------------------------------------


def test_undo_button_state_and_nothing_to_undo(user: LabelerDriver, dataset: Dataset) -> None:
    undo = user.button("undo")
    assert undo.disabled
    assert undo.tooltip == "Nothing to undo"
    assert user.button("ok").tooltip == "Type a label name first"
    user.click_tile(4)
    assert not user.status_is_error
    user.label_selection("roses")
    assert not undo.disabled
    assert undo.tooltip == "Undo: Added roses to 1 image (z)"
    user.click("undo")
    assert dataset.counts().empty
    assert "Undone: Added roses to 1 image" in user.status_text
    assert undo.disabled
    user.press("z")
    assert "there is nothing to undo" in user.status_text
    assert user.status_is_error
    user.clear_error()
    assert not user.status_is_error


# -- dialogs ---------------------------------------------------------------------------------


def test_delete_label_only_keeps_the_images(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    dataset.add_label("roses", ids_of(dataset)[:6])
    user.delete_label("roses")
    assert user.dialog_open
    assert user.dialog_choices == [
        "label_only",
        "with_images",
        "with_images_and_files",
    ]
    assert "cannot be undone" in lab.dialog.choice.options[2][0]
    assert "on 6 images" in user.dialog_message
    user.confirm()
    assert not user.dialog_open
    assert dataset.label_names == []
    assert len(dataset.ids()) == 31
    assert user.tab_titles["unlabeled"] == "Unlabeled (31)"


def test_delete_label_with_images_keeps_files(
    user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    ids = ids_of(dataset)[1:4]
    dataset.add_label("roses", ids)
    dataset.add_label("red", ids[:1])
    user.delete_label("roses")
    user.choose("with_images")
    user.confirm()
    assert set(ids_of(dataset)) & set(ids) == {ids[0]}  # it had another label
    assert len(list(folder.glob("*.jpg"))) == 31


def test_delete_label_with_files_needs_a_second_confirmation(
    lab: Labeler, user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    ids = ids_of(dataset)[1:4]
    dataset.add_label("roses", ids)
    user.delete_label("roses")
    user.choose("with_images_and_files")
    user.confirm()
    # Only armed: nothing deleted yet, and the warning says so plainly.
    assert user.dialog_open
    assert lab.dialog.armed
    assert "cannot be undone" in user.dialog_warning
    assert lab.dialog.confirm.description == "Yes, delete the source files for good"
    assert dataset.label_names == ["roses"]
    # Changing the choice disarms.
    user.choose("label_only")
    assert not lab.dialog.armed
    user.choose("with_images_and_files")
    user.confirm()
    user.confirm()
    assert not user.dialog_open
    assert dataset.label_names == []
    # Said up front: Undo cannot bring deleted files back.
    assert "Undo cannot bring them back" in user.status_text
    assert user.button("undo").description == "Undo (files gone)"
    assert "cannot bring back" in user.button("undo").tooltip
    assert not set(ids) & set(ids_of(dataset))
    assert len(list(folder.glob("*.jpg"))) == 28
    user.press("z")
    assert "cannot undo" in user.status_text
    user.clear_error()


def test_delete_images_from_dataset_only(
    lab: Labeler, user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    assert user.button("delete images").disabled
    user.click_tile(1)
    user.click_tile(2)
    user.click("delete images")
    assert user.dialog_choices == ["dataset_only", "with_files"]
    with pytest.raises(ValueError, match="no choice 'everything'"):
        user.choose("everything")
    user.confirm()
    assert len(dataset.ids()) == 29
    assert lab.selected == ()
    assert len(list(folder.glob("*.jpg"))) == 31
    assert user.tab_titles["all"] == "All (29)"
    user.click("undo")
    assert len(dataset.ids()) == 31


def test_the_more_menu_holds_the_rare_actions(lab: Labeler, user: LabelerDriver) -> None:
    menu = lab.more_menu
    assert not user.menu_open
    assert menu.panel.layout.display == "none"
    assert list(menu.panel.children) == [
        lab.add_images_button,
        lab.sync_panel.button,
        lab.split_button,
        lab.delete_images_button,
    ]
    # Only Delete images is drawn as dangerous.
    assert [b.button_style for b in menu.panel.children] == ["", "", "", "danger"]
    user.click("more")
    assert user.menu_open
    assert menu.panel.layout.display == "flex"
    user.click_tile(1)
    user.click("delete images")  # an item closes the menu and does its work
    assert not user.menu_open
    assert menu.panel.layout.display == "none"
    assert user.dialog_open
    user.cancel()
    # Add images asks the browser for its file picker (the files come back as an upload).
    user.click("more")
    with user.sent_to_browser() as sent:
        user.click("add images")
    assert [data["content"] for data, _ in sent if data.get("method") == "custom"] == [
        {"do": "pick"}
    ]
    assert not user.menu_open


def test_tabs_filter_and_status_leave_colours_to_the_theme(
    lab: Labeler, user: LabelerDriver
) -> None:
    user.open_tab("all")
    assert user.active_tab == "all"
    # The current tab is marked by a class the theme's CSS draws, not a coloured button
    # (white on the "info" colour reads at 3.5:1 in the light theme).
    assert all(b.button_style == "" for b in lab.tabs.values())
    # Only the label box is called Label.
    assert lab.filter_menu.description == ""
    lab.status.error("The store refused the write")
    assert "style=" not in lab.status.markup
    assert user.status_is_error


def test_delete_images_with_files_is_confirmed_twice(
    lab: Labeler, user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    user.click_tile(1)
    chosen = lab.selected
    user.click("delete images")
    user.choose("with_files")
    user.confirm()
    assert lab.dialog.armed
    assert len(dataset.ids()) == 31
    assert "source files of 1 image will be deleted" in user.dialog_warning
    user.cancel()
    assert not user.dialog_open
    assert len(dataset.ids()) == 31
    user.click("delete images")
    user.choose("with_files")
    user.confirm()
    user.confirm()
    assert chosen[0] not in dataset.ids()
    assert not (folder / "img00.jpg").exists()


# -- upload and sync -------------------------------------------------------------------------


def test_upload_adds_images_and_lists_refused_ones(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    assert lab.grid.accept == ".jpg,.jpeg,.png,.bmp"
    lab.view = "all"
    user.upload({"new cat.jpg": jpeg(), "notes.jpg": b"hello"})
    assert user.tab_titles["unlabeled"] == "Unlabeled (32)"
    result = user.upload_result
    assert "1 image added." in result
    assert "notes.jpg:" in result
    # A name with a space is made safe, and the result says so (nothing was "taken").
    assert (
        "new cat.jpg is saved as new_cat.jpg: spaces and signs such as + # % & are not kept "
        "in file names." in result
    )
    assert "taken" not in result
    assert "there already" not in result
    assert "1 image added, 1 refused." in user.status_text
    new = [i for i in ids_of(dataset, "unlabeled") if dataset.info(i)["path"] == "new_cat.jpg"]
    assert len(new) == 1
    # The grid jumps to the new image, on its page of Unlabeled.
    assert lab.view == "unlabeled"
    assert new[0] in user.visible_ids
    # A name already taken gets another, and the result says which.
    user.upload({"img03.jpg": jpeg((9, 9, 9))})
    assert (
        "img03.jpg is saved as img03_1.jpg: a file named img03.jpg is there already."
        in user.upload_result
    )
    # A name that does not say the format of the content ends as the content's format does.
    user.upload({"photo.png": jpeg((1, 2, 3))})
    assert (
        "photo.png is saved as photo.jpg: its name now ends as its content's format does."
        in user.upload_result
    )
    # One result at a time, closed by its button.
    assert lab.upload_panel.result.is_open
    user.click("close upload result")
    assert not lab.upload_panel.result.is_open
    assert user.upload_result == ""
    # More than the browser may send at once: refused without the bytes.
    user.upload({"a.jpg": bytes(9 << 20)}, sent=False)
    assert "at most 8 MB can be added at once" in user.upload_result


def test_sync_adds_new_files_with_sidecar_labels(
    lab: Labeler, user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    (folder / "late1.jpg").write_bytes(jpeg((1, 2, 3)))
    (folder / "late2.jpg").write_bytes(jpeg((3, 2, 1)))
    (folder / "late2.txt").write_text("tulips\n")
    (folder / "img05.jpg").unlink()
    user.click("synchronize")
    panel = lab.sync_panel
    summary = panel.summary.value
    assert summary == "2 images added, 1 removed, 1 labeled from .txt files"
    assert user.sync_summary == summary
    assert panel.progress.value == panel.progress.max
    assert panel.progress.layout.display == "none"  # done: the bar goes, the summary stays
    assert panel.summary.is_open
    assert summary in user.status_text
    assert dataset.label_names == ["tulips"]
    assert user.tab_titles["all"] == "All (32)"
    assert lab.labels_pane.names == ["tulips"]
    user.click("close sync summary")
    assert not panel.summary.is_open


# -- status line -----------------------------------------------------------------------------


def test_errors_of_dataset_actions_reach_the_status_line(
    user: LabelerDriver, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_args: Any, **_kwargs: Any) -> None:
        raise StoreUnavailableError("the store at s3://bucket cannot be reached", "s3://bucket")

    monkeypatch.setattr(dataset, "add_label", unreachable)
    user.click_tile(1)
    user.label_selection("roses")
    assert "the store at s3://bucket cannot be reached" in user.status_text
    assert user.status_is_error
    assert isinstance(user.last_error, StoreUnavailableError)
    user.clear_error()
    assert not user.status_is_error

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(dataset, "sync", broken)
    user.click("synchronize")
    assert "Something went wrong (RuntimeError): boom" in user.status_text
    assert not user.button("synchronize").disabled
    user.clear_error()


def test_status_changes_from_another_thread(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Labeler observes its Dataset (Dataset.observe); here the test tells it what the
    # Dataset would: that the saving state changed, from the saver's thread.
    observers: list[Any] = []
    observe = dataset.observe

    def recording(callback: Any) -> Any:
        observers.append(callback)
        return observe(callback)

    monkeypatch.setattr(dataset, "observe", recording)
    lab = Labeler(dataset, page_size=12)
    user = LabelerDriver(lab)
    assert observers

    def tell(change: Change) -> None:
        for callback in observers:
            callback(change)

    try:
        waiting = SimpleNamespace(state="pending", pending=3, message="the store is unreachable")
        monkeypatch.setattr(type(dataset), "status", property(lambda _self: waiting))
        worker = threading.Thread(target=lambda: tell(Change("status")))
        worker.start()
        worker.join()
        assert "3 actions not yet saved (retrying)" in user.status_text
        lab.status.info("Added roses to 2 images (not yet saved: the store has not confirmed it)")
        waiting.state, waiting.pending, waiting.message = "saved", 0, ""
        tell(Change("status"))
        assert user.status_text == "All changes saved · Added roses to 2 images (now saved)"
        assert user.last_error is None
    finally:
        lab.close()


# -- readiness, labels pane, filter ----------------------------------------------------------


def test_readiness(user: LabelerDriver, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:4])
    assert "roses has 3 images; at least 5 are needed" in user.readiness
    dataset.add_label("roses", ids[4:6])
    dataset.add_label("tulips", ids[6:11])
    assert user.readiness == "Ready for training"


def test_labels_pane_counts_rename_and_merge(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:5])
    dataset.add_label("tulips", ids[5:7])
    pane = lab.labels_pane
    # The first ten are numbered as the keys 1-9, 0.
    assert pane.rows == [
        {"name": "roses", "count": 4, "key": "1"},
        {"name": "tulips", "count": 2, "key": "2"},
    ]
    assert pane.allowed == []  # nothing typed: no Rename to press
    user.type_rename("roses", "bad name")
    assert pane.allowed == []
    assert "is not allowed" in pane.problem
    user.rename_label("roses", "bad name")  # forced: refused
    assert dataset.label_names == ["roses", "tulips"]
    user.type_rename("roses", "  ")
    assert pane.problem == "a label name cannot be empty"
    user.type_rename("roses", "rose")
    assert pane.allowed == ["roses"]
    assert pane.problem == ""
    user.rename_label("roses", "rose")
    assert dataset.label_names == ["rose", "tulips"]
    assert pane.allowed == []  # the renamed row starts afresh
    # Onto an existing name: a merge, so it asks first.
    user.rename_label("tulips", "rose")
    assert user.dialog_open
    assert "Merge tulips into rose?" in user.dialog_title
    assert dataset.label_names == ["rose", "tulips"]
    user.confirm()
    assert dataset.label_names == ["rose"]
    assert dataset.counts().loc["rose", "images"] == 6
    assert user.label_rows == [{"name": "rose", "count": 6, "key": "1"}]
    # A row that went meanwhile is ignored.
    user.delete_label("tulips")
    assert not user.dialog_open
    # One widget model for the pane, however many labels.
    before = widget_count()
    dataset.add_label("a1", ids[10:11])
    dataset.add_label("a2", ids[11:12])
    assert len(pane.rows) == 3
    assert widget_count() == before


def test_label_filter(lab: Labeler, user: LabelerDriver, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:5])
    dataset.add_label("tulips", ids[5:7])
    assert user.filter_options == [
        ("All labels", ""),
        ("roses (4)", "roses"),
        ("tulips (2)", "tulips"),
    ]
    user.filter_by("tulips")
    assert lab.label_filter == "tulips"
    assert lab.view == "labeled"  # Unlabeled images carry no label
    assert user.visible_ids == ids[5:7]
    user.rename_label("tulips", "tulip")
    assert lab.label_filter == "tulip"
    assert lab.filter_menu.value == "tulip"
    lab.dataset.delete_label("tulip")
    assert lab.label_filter is None
    assert lab.filter_menu.value == ""
    assert len(user.visible_ids) == 4
    # The Unlabeled tab drops a label filter (no unlabeled image carries a label).
    lab.label_filter = "roses"
    user.open_tab("unlabeled")
    assert lab.view == "unlabeled"
    assert lab.label_filter is None
    assert len(user.visible_ids) == 12
    # Set from code, an impossible combination shows a plain empty message instead.
    lab.label_filter = "roses"
    lab.view = "unlabeled"
    assert user.visible_ids == []
    assert user.empty_message == (
        "No unlabeled image carries the label roses: choose another label in the filter, "
        "or All labels."
    )
    user.filter_by(None)
    assert lab.label_filter is None


# -- one image -------------------------------------------------------------------------------


def test_preview_add_change_remove_one_image(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    image_id = user.visible_ids[1]
    user.double_click(1)
    assert user.preview_open
    assert user.preview_image_id == image_id
    assert lab.preview.image.value[:2] == b"\xff\xd8"
    assert user.preview_text.startswith("img00.jpg")
    assert lab.preview.remove.disabled
    user.preview_type("roses")
    user.preview_click("add")
    assert dataset.labels_of([image_id]) == {image_id: ["roses"]}
    assert user.preview_labels == ["roses"]
    user.preview_type("tulips")
    user.preview_click("change")
    assert dataset.labels_of([image_id]) == {image_id: ["tulips"]}
    assert user.preview_labels == ["tulips"]
    user.preview_click("remove")
    assert dataset.labels_of([image_id]) == {image_id: []}
    # Previous / next walk the view, turning the page when needed.
    user.preview_click("next")
    assert user.preview_image_id == user.visible_ids[2]
    user.preview_click("previous")
    user.preview_click("previous")
    assert user.preview_image_id == user.visible_ids[0]
    user.preview_click("previous")
    assert "This is the first image of the view." in user.status_text
    user.double_click(11)
    user.preview_click("next")
    assert lab.page == 1
    assert user.preview_image_id == user.visible_ids[0]
    # Esc from the grid closes the preview and keeps the selection.
    user.click_tile(1)
    user.press("Escape")
    assert not user.preview_open
    assert len(lab.selected) == 1
    assert not lab.grid.overlay_open
    lab.page = 0
    user.double_click(1)
    assert lab.grid.overlay_open
    user.preview_click("close")
    assert not user.preview_open
    user.double_click(2)
    assert user.preview_image_id == user.visible_ids[2]
    dataset.remove_images([user.preview_image_id])
    assert not user.preview_open


# -- thumbnails --------------------------------------------------------------------------------


def test_one_thumbnail_call_per_page_and_one_for_the_next_pushed_ahead(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real_thumbnails = dataset.thumbnails

    def thumbnails(ids: Any, size: int = 160) -> Any:
        calls.append(list(ids))
        return real_thumbnails(ids, size=size)

    monkeypatch.setattr(dataset, "thumbnails", thumbnails)
    order = ids_of(dataset, "unlabeled")
    lab.page = 1
    assert calls == [order[12:24], order[24:36]]
    assert lab.grid.held[-7:] == [f"{PX}/{i}" for i in order[24:36]]
    # A label change on this page updates the chips without fetching thumbnails again.
    lab.view = "all"
    lab.page = 1
    calls.clear()
    dataset.add_label("roses", order[12:13])
    assert calls == []
    assert LabelerDriver(lab).labels_on(0) == ["roses"]


def test_widget_package_exports() -> None:
    import jupyter_labeler.widget as package

    assert package.__all__ == ["Labeler", "label"]
    assert isinstance(Labeler.__mro__[1], type)
    assert issubclass(Labeler, ipywidgets.VBox)


def test_split_button_splits_and_tiles_show_their_part(
    lab: Labeler, user: LabelerDriver, dataset: Dataset
) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[:10])
    dataset.add_label("tulips", ids[10:20])
    lab.view = "labeled"
    user.click("split")
    assert user.dialog_open
    assert user.dialog_choices == ["0.2/0.0", "0.2/0.1", "0.1/0.0"]
    user.choose("0.2/0.1")
    user.confirm()
    table = dataset.counts(by="usage")
    assert table["EVAL"].tolist() == [2, 2]
    assert table["TEST"].tolist() == [1, 1]
    assert "Split 20 images" in user.status_text
    usage = dataset.usage_of(user.visible_ids)
    parts = [user.tile(i).part for i in user.visible_ids]
    assert parts == [usage[i] for i in user.visible_ids]
    assert set(parts) == {"TRAIN", "EVAL", "TEST"}
    # Undo takes the parts back, and the tiles say so.
    user.click("undo")
    assert {user.tile(i).part for i in user.visible_ids} == {""}


def test_the_labeler_follows_other_annotators_and_shows_who_is_here(folder: Path) -> None:
    import time

    alice = Dataset.open(folder, author="alice")
    bob = Dataset.open(folder, author="bob")
    lab = Labeler(alice, page_size=12, follow=0.1)
    watcher = Labeler(bob, page_size=12, view="all", page=1, follow=0.1)
    user, other = LabelerDriver(lab), LabelerDriver(watcher)
    try:
        assert alice.following
        first, second = user.visible_ids[:2]
        lab.selected = (second,)
        bob.add_label("roses", [first])

        def until(condition: Any) -> bool:  # a bound on a hang, not a speed check
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not condition():
                time.sleep(0.05)
            return bool(condition())

        assert until(lambda: first not in user.visible_ids)  # labeled: it left Unlabeled
        assert lab.selected == (second,)  # the user's selection is kept
        assert until(lambda: "bob: Added roses to 1 image" in user.status_text)
        # Presence: each sees where the other is (heartbeats go out on the first poll).
        assert until(lambda: "alice on page 1 of Unlabeled" in other.others)
        assert until(lambda: "bob on page 2 of All" in user.others)
    finally:
        lab.close()
        watcher.close()
    assert not alice.following  # the Labeler stops what it started
    with pytest.raises(TypeError, match="follow must be True, False or a number"):
        Labeler(alice, follow="often")
    quiet = Labeler(alice, follow=False)
    assert not alice.following
    quiet.close()


def test_objects_refused_while_following_are_said_on_the_status_line(
    user: LabelerDriver, dataset: Dataset, folder: Path
) -> None:
    """A feed entry from the far future (a broken clock, or a hostile writer) is refused: the
    status line says so, with markup shown as text, and the rest is in dataset.problems."""
    now = 9_999_999_999_990
    name = f"{now}-0badc0de-00000001"
    feed = folder / ".jupyter_labeler" / "feed"
    feed.mkdir(exist_ok=True)
    (feed / f"{now}~{name}~").write_bytes(b"")
    assert not dataset.poll()
    said = user.status_text
    assert "Ignored in the store:" in said
    assert "ahead of the store's clock" in said
    assert "dataset.problems" in said
    assert any(name in p for p in dataset.problems)
    # Said once: the next polls list it again and say nothing more.
    for _ in range(3):
        dataset.poll(wide=True)
    assert len([p for p in dataset.problems if name in p]) == 1
