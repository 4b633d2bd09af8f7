"""The Labeler without a browser: set values, call handlers, pass the grid the messages its
browser side sends, and check both the Dataset's state and what the widgets show (or send).

Every test's Labeler must end with no exception caught on its status line (ipywidgets swallows
exceptions in button callbacks, so that is where a hidden failure would go); a test that provokes
an error on purpose clears it after checking it.
"""

from __future__ import annotations

import html
import io
import re
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
from imagegen import send_upload
from ipywidgets.widgets import widget as widget_module
from PIL import Image

from jupyter_labeler.dataset import Dataset
from jupyter_labeler.errors import StoreUnavailableError
from jupyter_labeler.results import Change
from jupyter_labeler.widget import Labeler, label
from jupyter_labeler.widget import keys as keymap
from jupyter_labeler.widget import labeler as labeler_module
from jupyter_labeler.widget.grid import thumbnail_px
from jupyter_labeler.widget.preview import chips_html

N_IMAGES = 30


def jpeg(color: tuple[int, int, int] = (200, 60, 40), size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def text_of(value: str) -> str:
    """What an HTML widget shows, as plain text."""
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def status_text(lab: Labeler) -> str:
    return text_of(lab._status.widget.value)


def shown(lab: Labeler) -> list[str]:
    """The ids of the images on the current page, as sent to the browser."""
    return list(lab._grid.ids)


def tile(lab: Labeler, image_id: str) -> dict[str, Any]:
    """What the browser gets for one tile."""
    grid = lab._grid
    i = grid.ids.index(image_id)
    return {
        "name": grid.names[i],
        "labels": grid.labels[i],
        "error": grid.errors[i],
        "thumb": grid.thumbs[i],
        "selected": image_id in grid.selected,
    }


_seq = iter(range(1, 1_000_000))


def send(lab: Labeler, event: str, **content: Any) -> None:
    """A message from the grid's browser side, as a click or key sends it."""
    lab._grid.receive({"event": event, "seq": next(_seq), **content})


def click(lab: Labeler, index: int, shift: bool = False) -> None:
    send(lab, "click", index=index, shift=shift)


def turn(lab: Labeler, where: str) -> None:
    send(lab, "page", where=where)


def page_info(lab: Labeler) -> str:
    return f"page {lab._grid.page + 1} of {lab._grid.page_count}"


def widget_count() -> int:
    return len(widget_module._instances)


def press(lab: Labeler, key: str, **modifiers: bool) -> None:
    if modifiers:
        lab._handle_key({"type": "keydown", "key": key, **modifiers})
    else:
        send(lab, "key", key=key)


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
    error = labeler._status.last_error
    labeler.close()
    assert error is None, f"an unexpected error reached the status line: {error!r}"


def ids_of(dataset: Dataset, view: str = "all") -> list[str]:
    return [str(i) for i in dataset.ids(view)]


# -- opening, counts, the grid --------------------------------------------------------------


def test_first_page_shows_counts_tiles_and_file_names(lab: Labeler, dataset: Dataset) -> None:
    assert lab.view == "unlabeled"
    assert [b.description for b in lab._tabs.values()] == [
        "Unlabeled (31)",
        "Labeled (0)",
        "All (31)",
    ]
    assert "jl-tab-active" in lab._tabs["unlabeled"]._dom_classes
    assert page_info(lab) == "page 1 of 3"
    tiles = shown(lab)
    assert tiles == ids_of(dataset, "unlabeled")[:12]
    second = tile(lab, tiles[1])
    assert second["name"] == "img00.jpg"
    assert second["thumb"][:2] == b"\xff\xd8"  # JPEG thumbnail bytes
    assert second["labels"] == []
    assert second["error"] == ""
    assert len(lab._grid.thumbs) == 12
    assert lab._grid.page_sizes == [12, 24, 48, 96]
    assert "Not ready for training" in text_of(lab._readiness.value)


def test_broken_image_gets_a_placeholder_with_its_reason(lab: Labeler) -> None:
    broken = tile(lab, shown(lab)[0])
    assert broken["name"] == "broken.jpg"
    assert broken["error"]  # the browser shows "Cannot show this image: <reason>"
    assert broken["thumb"]  # the placeholder picture
    assert tile(lab, shown(lab)[1])["error"] == ""


def test_label_opens_a_source_and_takes_options(folder: Path) -> None:
    labeler = label(str(folder), page_size=24, view="all", author="someone")
    try:
        assert labeler.dataset.author == "someone"
        assert labeler.view == "all"
        assert labeler.page_size == 24
        assert labeler._grid.page_size == 24
        assert len(shown(labeler)) == 24
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
    try:
        assert labeler._tabs["unlabeled"].description == "Unlabeled (5)"
        labeler.select_page()
        labeler._label_box.input.value = "cats"
        labeler._label_box.ok.click()
        assert labeler.dataset.counts().loc["cats", "images"] == 5
        assert labeler._status.last_error is None
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
    first = shown(lab)[0]
    lab.selected = (first, first)
    assert lab.selected == (first,)
    for name in ("view", "page", "page_size", "selected", "label_filter"):
        assert Labeler.class_traits()[name].help


def test_view_page_and_page_size_drive_the_grid(lab: Labeler, dataset: Dataset) -> None:
    dataset.add_label("roses", ids_of(dataset)[:3])
    assert [b.description for b in lab._tabs.values()] == [
        "Unlabeled (28)",
        "Labeled (3)",
        "All (31)",
    ]
    lab.view = "labeled"
    assert shown(lab) == ids_of(dataset)[:3]
    assert page_info(lab) == "page 1 of 1"
    lab._tabs["all"].click()
    assert lab.view == "all"
    lab.page = 2
    assert len(shown(lab)) == 7
    # A bigger page keeps the first image shown on screen.
    lab.page_size = 24
    assert lab.page == 1
    assert lab._grid.page_size == 24
    send(lab, "page_size", value=12)
    assert lab.page_size == 12
    assert lab.page == 2


# -- no widgets created by page turns --------------------------------------------------------


def test_page_turns_create_no_widgets(lab: Labeler) -> None:
    before = widget_count()
    for step in ("next", "next", "prev", "last", "first"):
        turn(lab, step)
    for key in ("ArrowRight", "PageDown", "End", "Home", "ArrowLeft", "PageUp"):
        press(lab, key)
    lab.view = "all"
    lab.view = "unlabeled"
    lab.page_size = 48
    click(lab, 3)
    send(lab, "select_page")
    send(lab, "clear")
    assert widget_count() == before
    assert len(lab._grid.ids) == len(lab._grid.thumbs) == 31


def _spy(lab: Labeler) -> list[tuple[dict[str, Any], list[bytes]]]:
    """Every message the grid sends from now on, with its buffers."""
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    real = lab._grid._send

    def spy(msg: dict[str, Any], buffers: list[Any] | None = None) -> None:
        sent.append((msg, [bytes(b) for b in buffers or []]))
        real(msg, buffers)

    lab._grid._send = spy  # type: ignore[method-assign]
    return sent


def _pushed(sent: list[tuple[dict[str, Any], list[bytes]]]) -> list[tuple[list[str], list[bytes]]]:
    return [
        (m["content"]["keys"], b)
        for m, b in sent
        if m.get("method") == "custom" and m["content"].get("event") == "thumbs"
    ]


def test_a_page_is_one_message_with_thumbnails_as_buffers(lab: Labeler) -> None:
    sent = _spy(lab)
    turn(lab, "last")  # a page whose thumbnails the browser does not hold yet
    updates = [(m, b) for m, b in sent if m.get("method") == "update" and "ids" in m["state"]]
    assert len(updates) == 1
    msg, buffers = updates[0]
    state = msg["state"]
    assert {"ids", "names", "errors", "page", "page_token", "thumb_keys"} <= set(state)
    assert len(buffers) == 7
    assert all(b[:2] == b"\xff\xd8" for b in buffers)
    assert "thumbs" in str(msg["buffer_paths"])
    assert state["thumb_keys"] == [f"160/{i}" for i in shown(lab)]


def test_the_next_page_is_pushed_ahead_and_a_turn_sends_no_thumbnail(lab: Labeler) -> None:
    sent = _spy(lab)
    second = ids_of(lab.dataset, "unlabeled")[12:24]
    lab._pages.prefetch_now([str(i) for i in second], 160)
    assert _pushed(sent) == []  # already pushed when the first page was shown
    assert all(f"160/{i}" in lab._grid.held for i in second)

    turn(lab, "next")
    updates = [(m, b) for m, b in sent if m.get("method") == "update" and "ids" in m["state"]]
    assert len(updates) == 1
    _msg, buffers = updates[0]
    assert shown(lab) == second
    assert buffers == [b""] * 12  # every thumbnail is in the browser already
    # ... and the page after it went ahead, as one message of its thumbnails.
    pushed = _pushed(sent)
    assert len(pushed) == 1
    keys, data = pushed[0]
    assert keys == [f"160/{i}" for i in ids_of(lab.dataset, "unlabeled")[24:31]]
    assert len(data) == 7
    assert all(b[:2] == b"\xff\xd8" for b in data)

    sent.clear()
    turn(lab, "prev")  # a page seen before
    updates = [(m, b) for m, b in sent if m.get("method") == "update" and "ids" in m["state"]]
    assert len(updates) == 1
    assert not any(
        updates[0][1]
    )  # no thumbnail bytes (an unchanged list of empty ones is not sent)
    assert updates[0][0]["state"]["thumb_keys"] == [f"160/{i}" for i in shown(lab)]
    assert _pushed(sent) == []


def test_the_next_page_goes_once_the_browser_has_drawn_this_one(
    lab: Labeler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(labeler_module, "PREFETCH_DELAY", 60)  # no background prefetch here
    sent = _spy(lab)
    turn(lab, "next")
    assert _pushed(sent) == []  # not while the browser draws this page
    token = lab._grid.page_token
    lab._grid.receive({"event": "drawn", "token": token - 1})  # an older page: nothing
    lab._pusher.submit(lambda: None).result(10)
    assert _pushed(sent) == []
    lab._grid.receive({"event": "drawn", "token": token})
    lab._grid.receive({"event": "drawn", "token": token})  # a second view: pushed once
    lab._pusher.submit(lambda: None).result(10)  # made and sent by the pusher's thread
    pushed = _pushed(sent)
    assert len(pushed) == 1
    assert pushed[0][0] == [f"160/{i}" for i in ids_of(lab.dataset, "unlabeled")[24:31]]


def test_the_browser_says_what_it_let_go_and_asks_for_what_it_lacks(lab: Labeler) -> None:
    first = shown(lab)
    grid = lab._grid
    grid.receive({"event": "evicted", "keys": [f"160/{first[1]}", "nonsense"]})
    assert f"160/{first[1]}" not in grid.held
    turn(lab, "next")
    sent = _spy(lab)
    turn(lab, "prev")  # the first page again: only the thumbnail it let go is sent
    update = [b for m, b in sent if m.get("method") == "update" and "ids" in m["state"]][-1]
    assert [bool(b) for b in update] == [i == 1 for i in range(12)]

    sent.clear()
    # A second view (or a reloaded page) lacks them all and asks: they come again.
    grid.receive({"event": "want", "keys": [f"160/{first[2]}", f"160/{first[3]}", "160/nope"]})
    grid.receive({"event": "want", "keys": ["100000/" + first[2], "x/y", 7]})  # refused
    customs = [m["content"] for m, _ in sent if m.get("method") == "custom"]
    assert customs == [
        {"event": "thumbs", "keys": [f"160/{first[2]}", f"160/{first[3]}"], "none": ["160/nope"]}
    ]


def test_changed_images_are_sent_again(lab: Labeler, folder: Path) -> None:
    before = set(lab._grid.held)
    assert len(before) == 24  # the page shown and the next one, pushed
    sent = _spy(lab)
    (folder / "img40.jpg").write_bytes(jpeg((1, 2, 3)))
    lab.dataset.sync()
    # The kernel forgot what the browser held: every key it holds now went out after the sync.
    # The page's state carries every thumbnail's bytes again (unchanged bytes are not re-sent:
    # the browser's copy of the state has them), and the next page was pushed again.
    grid = lab._grid
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
    lab._grid.tile_size = "large"
    assert lab._grid.tile_px == 224
    lab._grid.hidpi = True  # the browser says so on a HiDPI screen
    assert sizes == [224, 224, 448, 448]  # each time the page, then the next one pushed ahead
    assert thumbnail_px("medium", True, 48) == 256  # a page stays within its bytes budget
    assert thumbnail_px("medium", False, 48) == 160
    assert thumbnail_px("small", True, 12) == 224
    with pytest.raises(traitlets.TraitError):
        lab._grid.tile_size = "huge"


def test_a_bad_option_leaves_nothing_behind(dataset: Dataset) -> None:
    before = widget_count()
    with pytest.raises(traitlets.TraitError, match="page_size must be one of"):
        Labeler(dataset, page_size=50)
    assert widget_count() == before
    assert dataset._observers == []


def test_close_closes_every_widget(dataset: Dataset) -> None:
    before = widget_count()
    labeler = Labeler(dataset, page_size=24)
    labeler.page = 1
    send(labeler, "open", index=0)
    assert labeler._preview.is_open
    assert widget_count() > before
    labeler.close()
    assert widget_count() == before


# -- selection -------------------------------------------------------------------------------


def test_click_toggles_and_selection_survives(lab: Labeler, dataset: Dataset) -> None:
    tiles = shown(lab)
    click(lab, 2)
    assert lab.selected == (tiles[2],)
    assert lab._grid.selected == [tiles[2]]
    click(lab, 3)
    assert lab.selected == (tiles[2], tiles[3])
    assert lab._grid.selected_count == 2
    click(lab, 3)
    assert lab.selected == (tiles[2],)
    assert lab._grid.selected == [tiles[2]]
    chosen = lab.selected
    lab.page = 1
    assert lab._grid.selected == []
    assert lab._grid.selected_count == 1
    lab.view = "all"
    lab.page = 0
    assert lab.selected == chosen
    assert lab._grid.selected == list(chosen)
    send(lab, "clear")
    assert lab.selected == ()
    assert lab._grid.selected == []
    # Selection set from code reaches the browser too.
    lab.selected = tuple(tiles[:3])
    assert lab._grid.selected == tiles[:3]
    assert lab._grid.selected_count == 3


def test_every_selection_message_is_acknowledged(lab: Labeler) -> None:
    lab._grid.receive({"event": "click", "index": 1, "shift": False, "seq": 7})
    assert lab._grid.ack == 7
    lab._grid.receive({"event": "click", "index": 99, "shift": False, "seq": 8})  # no such tile
    assert lab._grid.ack == 8
    assert len(lab.selected) == 1
    lab._grid.receive({"event": "clear", "seq": 3})  # an older view's count never goes back
    assert lab._grid.ack == 8
    assert lab.selected == ()


def test_shift_click_selects_a_range_across_pages(lab: Labeler, dataset: Dataset) -> None:
    order = ids_of(dataset, "unlabeled")
    click(lab, 10)
    lab.page = 1
    click(lab, 3, shift=True)  # position 15 of the view
    assert lab.selected == tuple(order[10:16])
    # And backwards, from a later anchor.
    send(lab, "clear")
    click(lab, 5)  # position 17
    lab.page = 0
    click(lab, 8, shift=True)
    assert set(lab.selected) == set(order[8:18])
    assert len(lab.selected) == 10


def test_select_page_and_drop_removed_images(lab: Labeler, dataset: Dataset) -> None:
    send(lab, "select_page")
    page0 = shown(lab)
    assert lab.selected == tuple(page0)
    lab.page = 1
    press(lab, "a")
    assert len(lab.selected) == 24
    dataset.remove_images(page0[:2])
    assert len(lab.selected) == 22
    assert page0[0] not in lab.selected


# -- label box -------------------------------------------------------------------------------


def test_label_box_checks_names_and_labels_the_selection(lab: Labeler, dataset: Dataset) -> None:
    box = lab._label_box
    assert box.ok.disabled
    box.input.value = "roses"
    assert box.ok.disabled  # nothing selected
    assert box.ok.tooltip.startswith("Select images first")
    click(lab, 1)
    click(lab, 2)
    assert not box.ok.disabled
    box.input.value = "red/roses"
    assert box.ok.disabled
    assert "'/' (U+002F SOLIDUS) is not allowed" in text_of(box.problem.value)
    box.input.value = "x" * 33
    assert "at most 32 characters" in text_of(box.problem.value)
    box.input.value = " roses "
    assert box.problem.value == ""
    assert box.ok.tooltip == "Add roses to the 2 selected images (Enter)"
    chosen = lab.selected
    # Enter in the box sends the name typed, which may be ahead of the value the kernel has.
    box.input._handle_custom_msg({"event": "typed", "value": "ros"}, [])  # the box left
    assert box.input.value == "ros"
    box.input._handle_custom_msg({"event": "submit", "value": " roses "}, [])
    assert dataset.labels_of(chosen) == {i: ["roses"] for i in chosen}
    assert "Added roses to 2 images" in status_text(lab)
    # They left the Unlabeled view, so they left the selection too.
    assert lab.selected == ()
    assert box.input.options == ("roses",)
    assert [b.description for b in lab._tabs.values()][1] == "Labeled (2)"
    lab.view = "labeled"
    assert lab._grid.labels == [["roses"], ["roses"]]
    # Remove label takes an existing label off the selected images only.
    click(lab, 0)
    box.input.value = "tulips"
    assert box.remove.disabled
    box.input.value = "roses"
    assert not box.remove.disabled
    box.remove.click()
    assert dataset.labels_of(chosen) == {chosen[0]: [], chosen[1]: ["roses"]}


def test_a_second_label_on_labeled_images_keeps_the_selection(
    lab: Labeler, dataset: Dataset
) -> None:
    dataset.add_label("roses", ids_of(dataset)[:4])
    lab.view = "labeled"
    send(lab, "select_page")
    lab._label_box.input.value = "red"
    lab._label_box.ok.click()
    assert len(lab.selected) == 4
    assert lab._grid.labels[0] == ["roses", "red"]


# -- escaping --------------------------------------------------------------------------------


def test_user_strings_are_escaped(lab: Labeler, dataset: Dataset, folder: Path) -> None:
    nasty = "<img src=x onerror=alert(1)>.jpg"
    (folder / nasty).write_bytes(jpeg())
    lab._sync.button.click()
    image_id = next(i for i in ids_of(dataset) if dataset.info(i)["path"] == nasty)
    lab.open_image(image_id)
    assert "<img" not in lab._preview.info.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in lab._preview.info.value
    assert text_of(lab._preview.info.value).startswith(nasty)
    # The tile's name goes to the browser as data (drawn with textContent, never as HTML).
    lab.view = "all"
    lab.page_size = 48
    assert tile(lab, image_id)["name"] == nasty
    script = (Path(__file__).parents[1] / "jupyter_labeler/widget/static/grid.js").read_text()
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    # Refused uploads list the name as given, escaped.
    send_upload(lab, {"<script>alert(1)</script>.gif": b"GIF"})
    assert "<script>" not in lab._upload.result.value
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.gif" in lab._upload.result.value
    # Chips and the All Labels pane escape label names (manifests may bring odd ones).
    assert "<script>" not in chips_html(["<script>x</script>"])
    lab._labels.update(["<b>x</b>"], {"<b>x</b>": 1})
    assert lab._labels.rows[0]["name"] == "<b>x</b>"  # data, drawn as text by the browser
    pane_script = Path(__file__).parents[1] / "jupyter_labeler/widget/static/labels_pane.js"
    assert "innerHTML" not in pane_script.read_text()
    assert "insertAdjacentHTML" not in pane_script.read_text()


# -- keys ------------------------------------------------------------------------------------


def test_keys_label_turn_pages_select_clear_and_undo(lab: Labeler, dataset: Dataset) -> None:
    dataset.add_label("roses", ids_of(dataset)[-1:])
    dataset.add_label("tulips", ids_of(dataset)[-2:-1])
    lab.view = "all"  # labeled images stay in view, and so in the selection
    assert set(lab._grid.key_names) == {k for s in keymap.KEYS for k in s.keys}
    assert "Esc close the preview or dialog, else clear the selection" in lab._grid.key_help
    press(lab, "End")
    assert lab.page == lab.page_count - 1
    press(lab, "Home")
    assert lab.page == 0
    press(lab, "ArrowRight")
    press(lab, "PageDown")
    assert lab.page == 2
    press(lab, "PageUp")
    assert lab.page == 1
    press(lab, "a")
    chosen = lab.selected
    assert len(chosen) == 12
    press(lab, "2")
    assert all("tulips" in v for v in dataset.labels_of(chosen).values())
    press(lab, "z")
    assert not any("tulips" in v for v in dataset.labels_of(chosen).values())
    assert "Undone: Added tulips to 12 images" in status_text(lab)
    lab.selected = chosen
    press(lab, "Escape")
    assert lab.selected == ()
    lab.selected = chosen
    press(lab, "5")
    assert "There is no label number 5" in status_text(lab)
    press(lab, "a", ctrlKey=True)  # the browser's own shortcut, left alone
    assert lab.selected == chosen
    lab._handle_key({"type": "keydown", "key": "1"})
    assert all("roses" in v for v in dataset.labels_of(chosen).values())
    press(lab, "Delete")
    assert lab._dialog.is_open
    assert "Delete 12 images?" in text_of(lab._dialog.title.value)
    lab._dialog.cancel.click()
    assert not lab._dialog.is_open
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


def test_undo_button_state_and_nothing_to_undo(lab: Labeler, dataset: Dataset) -> None:
    assert lab._undo.disabled
    assert lab._undo.tooltip == "Nothing to undo"
    assert lab._label_box.ok.tooltip == "Type a label name first"
    click(lab, 4)
    lab._label_box.input.value = "roses"
    lab._label_box.ok.click()
    assert not lab._undo.disabled
    assert lab._undo.tooltip == "Undo: Added roses to 1 image (z)"
    lab._undo.click()
    assert dataset.counts().empty
    assert "Undone: Added roses to 1 image" in status_text(lab)
    assert lab._undo.disabled
    press(lab, "z")
    assert "there is nothing to undo" in status_text(lab)
    assert "jl-status-error" in lab._status.widget._dom_classes
    lab._status.clear_error()


# -- dialogs ---------------------------------------------------------------------------------


def test_delete_label_only_keeps_the_images(lab: Labeler, dataset: Dataset) -> None:
    dataset.add_label("roses", ids_of(dataset)[:6])
    lab._labels.receive({"event": "delete", "name": "roses"})
    dialog = lab._dialog
    assert dialog.is_open
    assert [v for _, v in dialog.choice.options] == [
        "label_only",
        "with_images",
        "with_images_and_files",
    ]
    assert "cannot be undone" in dialog.choice.options[2][0]
    assert "on 6 images" in text_of(dialog.message.value)
    dialog.confirm.click()
    assert not dialog.is_open
    assert dataset.label_names == []
    assert len(dataset.ids()) == 31
    assert lab._tabs["unlabeled"].description == "Unlabeled (31)"


def test_delete_label_with_images_keeps_files(lab: Labeler, dataset: Dataset, folder: Path) -> None:
    ids = ids_of(dataset)[1:4]
    dataset.add_label("roses", ids)
    dataset.add_label("red", ids[:1])
    lab._labels.receive({"event": "delete", "name": "roses"})
    lab._dialog.choice.value = "with_images"
    lab._dialog.confirm.click()
    assert set(ids_of(dataset)) & set(ids) == {ids[0]}  # it had another label
    assert len(list(folder.glob("*.jpg"))) == 31


def test_delete_label_with_files_needs_a_second_confirmation(
    lab: Labeler, dataset: Dataset, folder: Path
) -> None:
    ids = ids_of(dataset)[1:4]
    dataset.add_label("roses", ids)
    lab._labels.receive({"event": "delete", "name": "roses"})
    dialog = lab._dialog
    dialog.choice.value = "with_images_and_files"
    dialog.confirm.click()
    # Only armed: nothing deleted yet, and the warning says so plainly.
    assert dialog.is_open
    assert dialog.armed
    assert "cannot be undone" in text_of(dialog.warning.value)
    assert dialog.confirm.description == "Yes, delete the source files for good"
    assert dataset.label_names == ["roses"]
    # Changing the choice disarms.
    dialog.choice.value = "label_only"
    assert not dialog.armed
    dialog.choice.value = "with_images_and_files"
    dialog.confirm.click()
    dialog.confirm.click()
    assert not dialog.is_open
    assert dataset.label_names == []
    # Said up front: Undo cannot bring deleted files back.
    assert "Undo cannot bring them back" in status_text(lab)
    assert lab._undo.description == "Undo (files gone)"
    assert "cannot bring back" in lab._undo.tooltip
    assert not set(ids) & set(ids_of(dataset))
    assert len(list(folder.glob("*.jpg"))) == 28
    press(lab, "z")
    assert "cannot undo" in status_text(lab)
    lab._status.clear_error()


def test_delete_images_from_dataset_only(lab: Labeler, dataset: Dataset, folder: Path) -> None:
    assert lab._delete_images.disabled
    click(lab, 1)
    click(lab, 2)
    lab._delete_images.click()
    dialog = lab._dialog
    assert [v for _, v in dialog.choice.options] == ["dataset_only", "with_files"]
    dialog.confirm.click()
    assert len(dataset.ids()) == 29
    assert lab.selected == ()
    assert len(list(folder.glob("*.jpg"))) == 31
    assert lab._tabs["all"].description == "All (29)"
    lab._undo.click()
    assert len(dataset.ids()) == 31


def test_delete_images_with_files_is_confirmed_twice(
    lab: Labeler, dataset: Dataset, folder: Path
) -> None:
    click(lab, 1)
    chosen = lab.selected
    lab._delete_images.click()
    dialog = lab._dialog
    dialog.choice.value = "with_files"
    dialog.confirm.click()
    assert dialog.armed
    assert len(dataset.ids()) == 31
    assert "source files of 1 image will be deleted" in text_of(dialog.warning.value)
    dialog.cancel.click()
    assert not dialog.is_open
    assert len(dataset.ids()) == 31
    lab._delete_images.click()
    dialog.choice.value = "with_files"
    dialog.confirm.click()
    dialog.confirm.click()
    assert chosen[0] not in dataset.ids()
    assert not (folder / "img00.jpg").exists()


# -- upload and sync -------------------------------------------------------------------------


def test_upload_adds_images_and_lists_refused_ones(lab: Labeler, dataset: Dataset) -> None:
    assert lab._grid.accept == ".jpg,.jpeg,.png,.bmp"
    lab.view = "all"
    send_upload(lab, {"new cat.jpg": jpeg(), "notes.jpg": b"hello"})
    assert lab._tabs["unlabeled"].description == "Unlabeled (32)"
    result = text_of(lab._upload.result.value)
    assert "1 image added." in result
    assert "notes.jpg:" in result
    assert "1 image added, 1 refused." in status_text(lab)
    new = [i for i in ids_of(dataset, "unlabeled") if dataset.info(i)["path"] == "new_cat.jpg"]
    assert len(new) == 1
    # The grid jumps to the new image, on its page of Unlabeled.
    assert lab.view == "unlabeled"
    assert new[0] in shown(lab)
    # A name already taken gets another, and the result says which.
    send_upload(lab, {"img03.jpg": jpeg((9, 9, 9))})
    assert "img03.jpg was taken: saved as img03_1.jpg." in text_of(lab._upload.result.value)
    # One result at a time, closed by its button.
    assert lab._upload.result.is_open
    lab._upload.result.close_button.click()
    assert not lab._upload.result.is_open
    # More than the browser may send at once: refused without the bytes.
    lab._grid.receive({"event": "upload", "names": ["a.jpg"], "sizes": [9 << 20], "sent": False})
    assert "at most 8 MB can be added at once" in text_of(lab._upload.result.value)


def test_sync_adds_new_files_with_sidecar_labels(
    lab: Labeler, dataset: Dataset, folder: Path
) -> None:
    (folder / "late1.jpg").write_bytes(jpeg((1, 2, 3)))
    (folder / "late2.jpg").write_bytes(jpeg((3, 2, 1)))
    (folder / "late2.txt").write_text("tulips\n")
    (folder / "img05.jpg").unlink()
    lab._sync.button.click()
    summary = lab._sync.summary.value
    assert summary == "2 images added, 1 removed, 1 labeled from .txt files"
    assert lab._sync.progress.value == lab._sync.progress.max
    assert lab._sync.progress.layout.display == "none"  # done: the bar goes, the summary stays
    assert lab._sync.summary.is_open
    assert summary in status_text(lab)
    assert dataset.label_names == ["tulips"]
    assert lab._tabs["all"].description == "All (32)"
    assert lab._labels.names == ["tulips"]


# -- status line -----------------------------------------------------------------------------


def test_errors_of_dataset_actions_reach_the_status_line(
    lab: Labeler, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_args: Any, **_kwargs: Any) -> None:
        raise StoreUnavailableError("the store at s3://bucket cannot be reached", "s3://bucket")

    monkeypatch.setattr(dataset, "add_label", unreachable)
    click(lab, 1)
    lab._label_box.input.value = "roses"
    lab._label_box.ok.click()
    assert "the store at s3://bucket cannot be reached" in status_text(lab)
    assert "jl-status-error" in lab._status.widget._dom_classes
    assert isinstance(lab._status.last_error, StoreUnavailableError)
    lab._status.clear_error()
    assert "jl-status-error" not in lab._status.widget._dom_classes

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(dataset, "sync", broken)
    lab._sync.button.click()
    assert "Something went wrong (RuntimeError): boom" in status_text(lab)
    assert not lab._sync.button.disabled
    lab._status.clear_error()


def test_status_changes_from_another_thread(lab: Labeler, monkeypatch: pytest.MonkeyPatch) -> None:
    waiting = SimpleNamespace(state="pending", pending=3, message="the store is unreachable")
    monkeypatch.setattr(type(lab.dataset), "status", property(lambda _self: waiting))
    worker = threading.Thread(target=lambda: lab._dataset_changed(Change("status")))
    worker.start()
    worker.join()
    assert "3 actions not yet saved (retrying)" in status_text(lab)
    lab._status.info("Added roses to 2 images (not yet saved: the store has not confirmed it)")
    waiting.state, waiting.pending, waiting.message = "saved", 0, ""
    lab._dataset_changed(Change("status"))
    assert status_text(lab) == "All changes saved · Added roses to 2 images (now saved)"


# -- readiness, labels pane, filter ----------------------------------------------------------


def test_readiness(lab: Labeler, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:4])
    text = text_of(lab._readiness.value)
    assert "roses has 3 images; at least 5 are needed" in text
    dataset.add_label("roses", ids[4:6])
    dataset.add_label("tulips", ids[6:11])
    assert text_of(lab._readiness.value) == "Ready for training"


def test_labels_pane_counts_rename_and_merge(lab: Labeler, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:5])
    dataset.add_label("tulips", ids[5:7])
    pane = lab._labels
    # The first ten are numbered as the keys 1-9, 0.
    assert pane.rows == [
        {"name": "roses", "count": 4, "key": "1"},
        {"name": "tulips", "count": 2, "key": "2"},
    ]
    assert pane.allowed == []  # nothing typed: no Rename to press
    pane.receive({"event": "typed", "name": "roses", "text": "bad name"})
    assert pane.allowed == []
    assert "is not allowed" in pane.problem
    pane.receive({"event": "rename", "name": "roses", "text": "bad name"})  # forced: refused
    assert dataset.label_names == ["roses", "tulips"]
    pane.receive({"event": "typed", "name": "roses", "text": "  "})
    assert pane.problem == "a label name cannot be empty"
    pane.receive({"event": "typed", "name": "roses", "text": "rose"})
    assert pane.allowed == ["roses"]
    assert pane.problem == ""
    pane.receive({"event": "rename", "name": "roses", "text": "rose"})
    assert dataset.label_names == ["rose", "tulips"]
    assert pane.allowed == []  # the renamed row starts afresh
    # Onto an existing name: a merge, so it asks first.
    pane.receive({"event": "rename", "name": "tulips", "text": "rose"})
    assert lab._dialog.is_open
    assert "Merge tulips into rose?" in text_of(lab._dialog.title.value)
    assert dataset.label_names == ["rose", "tulips"]
    lab._dialog.confirm.click()
    assert dataset.label_names == ["rose"]
    assert dataset.counts().loc["rose", "images"] == 6
    assert pane.rows == [{"name": "rose", "count": 6, "key": "1"}]
    # A row that went meanwhile is ignored.
    pane.receive({"event": "delete", "name": "tulips"})
    assert not lab._dialog.is_open
    # One widget model for the pane, however many labels.
    before = widget_count()
    dataset.add_label("a1", ids[10:11])
    dataset.add_label("a2", ids[11:12])
    assert len(pane.rows) == 3
    assert widget_count() == before


def test_label_filter(lab: Labeler, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[1:5])
    dataset.add_label("tulips", ids[5:7])
    assert [v for _, v in lab._filter.options] == ["", "roses", "tulips"]
    lab._filter.value = "tulips"
    assert lab.label_filter == "tulips"
    assert lab.view == "labeled"  # Unlabeled images carry no label
    assert shown(lab) == ids[5:7]
    lab._labels.receive({"event": "rename", "name": "tulips", "text": "tulip"})
    assert lab.label_filter == "tulip"
    assert lab._filter.value == "tulip"
    lab.dataset.delete_label("tulip")
    assert lab.label_filter is None
    assert lab._filter.value == ""
    assert len(shown(lab)) == 4
    # The Unlabeled tab drops a label filter (no unlabeled image carries a label).
    lab.label_filter = "roses"
    lab._tabs["unlabeled"].click()
    assert lab.view == "unlabeled"
    assert lab.label_filter is None
    assert len(shown(lab)) == 12
    # Set from code, an impossible combination shows a plain empty message instead.
    lab.label_filter = "roses"
    lab.view = "unlabeled"
    assert shown(lab) == []
    assert lab._grid.empty_message == "No unlabeled images carry the label roses."


# -- one image -------------------------------------------------------------------------------


def test_preview_add_change_remove_one_image(lab: Labeler, dataset: Dataset) -> None:
    image_id = shown(lab)[1]
    send(lab, "open", index=1)
    preview = lab._preview
    assert preview.is_open
    assert preview.image_id == image_id
    assert preview.image.value[:2] == b"\xff\xd8"
    assert text_of(preview.info.value).startswith("img00.jpg")
    assert preview.remove.disabled
    preview.input.value = "roses"
    preview.add.click()
    assert dataset.labels_of([image_id]) == {image_id: ["roses"]}
    assert preview.current.options == ("roses",)
    preview.input.value = "tulips"
    preview.change.click()
    assert dataset.labels_of([image_id]) == {image_id: ["tulips"]}
    assert preview.current.options == ("tulips",)
    preview.remove.click()
    assert dataset.labels_of([image_id]) == {image_id: []}
    # Previous / next walk the view, turning the page when needed.
    preview.next.click()
    assert preview.image_id == shown(lab)[2]
    preview.previous.click()
    preview.previous.click()
    assert preview.image_id == shown(lab)[0]
    preview.previous.click()
    assert "This is the first image." in status_text(lab)
    send(lab, "open", index=11)
    preview.next.click()
    assert lab.page == 1
    assert preview.image_id == shown(lab)[0]
    # Esc from the grid closes the preview and keeps the selection.
    click(lab, 1)
    press(lab, "Escape")
    assert not preview.is_open
    assert len(lab.selected) == 1
    assert not lab._grid.overlay_open
    lab.page = 0
    send(lab, "open", index=1)
    assert lab._grid.overlay_open
    preview.close_button.click()
    assert not preview.is_open
    send(lab, "open", index=2)
    assert preview.image_id == shown(lab)[2]
    dataset.remove_images([preview.image_id])
    assert not preview.is_open


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
    assert lab._grid.held[-7:] == [f"160/{i}" for i in order[24:36]]
    # A label change on this page updates the chips without fetching thumbnails again.
    lab.view = "all"
    lab.page = 1
    calls.clear()
    dataset.add_label("roses", order[12:13])
    assert calls == []
    assert lab._grid.labels[0] == ["roses"]


def test_widget_package_exports() -> None:
    import jupyter_labeler.widget as package

    assert package.__all__ == ["Labeler", "label"]
    assert isinstance(Labeler.__mro__[1], type)
    assert issubclass(Labeler, ipywidgets.VBox)


def test_split_button_splits_and_tiles_show_their_part(lab: Labeler, dataset: Dataset) -> None:
    ids = ids_of(dataset)
    dataset.add_label("roses", ids[:10])
    dataset.add_label("tulips", ids[10:20])
    lab.view = "labeled"
    lab._split.click()
    dialog = lab._dialog
    assert dialog.is_open
    assert [v for _, v in dialog.choice.options] == ["0.2/0.0", "0.2/0.1", "0.1/0.0"]
    dialog.choice.value = "0.2/0.1"
    dialog.confirm.click()
    table = dataset.counts(by="usage")
    assert table["EVAL"].tolist() == [2, 2]
    assert table["TEST"].tolist() == [1, 1]
    assert "Split 20 images" in status_text(lab)
    usage = dataset.usage_of(shown(lab))
    assert lab._grid.parts == [usage[i] for i in shown(lab)]
    assert set(lab._grid.parts) == {"TRAIN", "EVAL", "TEST"}
    # Undo takes the parts back, and the tiles say so.
    lab._undo.click()
    assert set(lab._grid.parts) == {""}


def test_the_labeler_follows_other_annotators_and_shows_who_is_here(folder: Path) -> None:
    import time

    alice = Dataset.open(folder, author="alice")
    bob = Dataset.open(folder, author="bob")
    lab = Labeler(alice, page_size=12, follow=0.1)
    watcher = Labeler(bob, page_size=12, view="all", page=1, follow=0.1)
    try:
        assert alice.following
        first, second = shown(lab)[:2]
        lab.selected = (second,)
        bob.add_label("roses", [first])

        def until(condition: Any) -> bool:  # a bound on a hang, not a speed check
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not condition():
                time.sleep(0.05)
            return bool(condition())

        assert until(lambda: first not in shown(lab))  # labeled: it left Unlabeled by itself
        assert lab.selected == (second,)  # the user's selection is kept
        assert until(lambda: "bob: Added roses to 1 image" in status_text(lab))
        # Presence: each sees where the other is (heartbeats go out on the first poll).
        assert until(lambda: "alice on page 1 of Unlabeled" in text_of(watcher._others.value))
        assert until(lambda: "bob on page 2 of All" in text_of(lab._others.value))
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
    lab: Labeler, dataset: Dataset, folder: Path
) -> None:
    """A feed entry from the far future (a broken clock, or a hostile writer) is refused: the
    status line says so, with markup shown as text, and the rest is in dataset.problems."""
    now = 9_999_999_999_990
    name = f"{now}-0badc0de-00000001"
    feed = folder / ".jupyter_labeler" / "feed"
    feed.mkdir(exist_ok=True)
    (feed / f"{now}~{name}~").write_bytes(b"")
    assert not dataset.poll()
    said = status_text(lab)
    assert "Ignored in the store:" in said
    assert "ahead of the store's clock" in said
    assert "dataset.problems" in said
    assert any(name in p for p in dataset.problems)
    # Said once: the next polls list it again and say nothing more.
    for _ in range(3):
        dataset.poll(wide=True)
    assert len([p for p in dataset.problems if name in p]) == 1
