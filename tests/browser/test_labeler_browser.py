"""The Labeler in a real JupyterLab: tick, shift-click, label, see it saved, turn a page by key.

This is where the grid's browser side (``widget/static/grid.js``) is exercised: the tiles must
render, a selection must show and reach the kernel, the label box must apply a label (OK or
Enter), keys must act only while the grid has focus, and answers must appear where the user looks.
The README's screenshots are taken by ``test_layout_browser.py``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from jupyter_labeler import Dataset
from jupyter_labeler.demo import make_demo_images

from .lab import (
    LabServer,
    cell_errors,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_selector_in_output,
    wait_kernel_idle,
    write_notebook,
)

expect = pytest.importorskip("playwright.sync_api").expect

IMAGES = 120
PAGE_SIZE = 12
NEW_LABEL = "outdoor"
# Visible state can lag the kernel by a round trip or two; never wait longer than this.
WAIT_MS = 10_000

ALL_DECODED = """n => {
    const imgs = [...document.querySelectorAll('.jl-labeler .jl-tile img')];
    return imgs.length === n && imgs.every(img => img.complete && img.naturalWidth > 0);
}"""


def open_labeler(
    lab: LabServer, page, name: str, *, page_size: int = PAGE_SIZE, view: str = "all", **kw
):
    """Write a notebook showing a Labeler on the demo images, run it, return its root."""
    folder = lab.root / f"{name}-images"
    if not folder.exists():
        make_demo_images(folder, count=IMAGES)
    write_notebook(
        lab.root,
        f"{name}.ipynb",
        [
            "from jupyter_labeler import label\n"
            f"w = label({str(folder)!r}, page_size={page_size}, view={view!r})\n"
            "w"
        ],
    )
    open_notebook(page, lab.url, f"{name}.ipynb", **kw)
    # Fold the file browser away: the notebook, and so the grid, gets the whole width.
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.click()
    wait_kernel_idle(page)
    run_all_cells(page)
    wait_for_selector_in_output(page, ".jl-labeler .jl-tile img")
    page.wait_for_function(ALL_DECODED, arg=page_size, timeout=WAIT_MS)
    return page.locator(".jl-labeler"), folder


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None
    assert size is not None
    return (
        box["y"] >= 0
        and box["x"] >= 0
        and box["y"] + min(box["height"], 80) <= size["height"]
        and box["x"] + min(box["width"], 80) <= size["width"]
    )


def test_label_selected_images_in_the_browser(lab: LabServer, page, artifacts_dir: Path) -> None:
    started = time.monotonic()
    page.set_viewport_size({"width": 1400, "height": 900})
    root, folder = open_labeler(lab, page, "labeler", page_size=48)
    tiles = root.locator(".jl-tile")
    expect(tiles).to_have_count(48, timeout=WAIT_MS)
    page_info = root.locator(".jl-page-info")
    expect(page_info).to_have_text(f"page 1 of {IMAGES // 48 + 1}", timeout=WAIT_MS)
    names = [t.strip() for t in tiles.locator(".jl-tile-name").all_text_contents()]
    assert len(names) == 48, names
    assert all(names), names
    # The grid scrolls inside a bounded box: the toolbar and the pager stay in view.
    grid = root.locator(".jl-grid")
    assert grid.evaluate("g => g.scrollHeight > g.clientHeight")
    assert in_viewport(page, root.locator(".jl-page-next"))
    assert in_viewport(page, root.locator(".jl-label-box input"))

    # Select: tick two checkboxes, then click one image and shift-click another (a range of 4).
    count = root.locator(".jl-selection-count")
    tiles.nth(0).locator("input.jl-tile-check").click()
    expect(count).to_have_text("1 selected", timeout=WAIT_MS)
    tiles.nth(1).locator("input.jl-tile-check").click()
    expect(count).to_have_text("2 selected", timeout=WAIT_MS)
    tiles.nth(4).locator("img").click()
    expect(count).to_have_text("3 selected", timeout=WAIT_MS)
    tiles.nth(7).locator("img").click(modifiers=["Shift"])
    expect(count).to_have_text("6 selected", timeout=WAIT_MS)
    chosen = [0, 1, 4, 5, 6, 7]
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(len(chosen), timeout=WAIT_MS)
    for i in chosen:
        expect(tiles.nth(i)).to_have_class(re.compile(r"\bjl-selected\b"))
        expect(tiles.nth(i).locator("input.jl-tile-check")).to_be_checked()
    for i in (2, 3, 8):
        expect(tiles.nth(i).locator("input.jl-tile-check")).not_to_be_checked()
    selected = lab.execute("labeler.ipynb", "print(len(w.selected))")
    assert selected.strip() == "6"

    # A new label, typed with the pointer resting over the grid: no key reaches the grid.
    state = "print(len(w.selected), w.dataset.counts()['images'].to_dict())"
    before = lab.execute("labeler.ipynb", state)
    label_input = root.locator(".jl-label-box input")
    label_input.click()
    tiles.nth(10).hover()
    page.keyboard.type("road1")
    expect(label_input).to_have_value("road1")
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(len(chosen))
    assert lab.execute("labeler.ipynb", state) == before
    label_input.fill(NEW_LABEL)
    ok = root.locator("button.jl-label-ok")
    expect(ok).to_be_enabled(timeout=WAIT_MS)
    ok.click()

    for i in chosen:
        expect(tiles.nth(i).locator(".jl-chip", has_text=NEW_LABEL)).to_have_count(
            1, timeout=WAIT_MS
        )
    for i in (2, 3, 8):
        expect(tiles.nth(i).locator(".jl-chip", has_text=NEW_LABEL)).to_have_count(0)
    pane = root.locator(".jl-labels-pane")
    expect(pane).to_contain_text(re.compile(rf"{NEW_LABEL}\s*{len(chosen)}"), timeout=WAIT_MS)
    expect(root.locator(".jl-save-state")).to_have_text("All changes saved", timeout=WAIT_MS)

    # In the store: the journal object was written before OK returned.
    saved = Dataset.open(folder)
    try:
        assert int(saved.counts()["images"][NEW_LABEL]) == len(chosen)
        tagged = sorted(saved.with_label(NEW_LABEL)["path"])  # the tiles show paths too
    finally:
        saved.close()
    assert tagged == sorted(names[i] for i in chosen)

    # Keys act once the grid has focus (a click on it); the hint says so.
    hint = root.locator(".jl-grid-hint")
    expect(hint).not_to_have_class(re.compile("jl-keys-active"))
    tiles.nth(2).locator(".jl-tile-name").click()
    expect(hint).to_have_class(re.compile("jl-keys-active"))
    page.keyboard.press("ArrowRight")
    expect(page_info).to_have_text(f"page 2 of {IMAGES // 48 + 1}", timeout=WAIT_MS)
    expect(tiles.first.locator(".jl-tile-name")).not_to_have_text(names[0], timeout=WAIT_MS)
    page.keyboard.press("ArrowLeft")
    expect(page_info).to_have_text(f"page 1 of {IMAGES // 48 + 1}", timeout=WAIT_MS)
    expect(tiles.first.locator(".jl-tile-name")).to_have_text(names[0], timeout=WAIT_MS)

    status = root.locator(".jl-status")
    assert "error" not in (status.get_attribute("class") or "")
    assert not status.locator(".jl-message-error").count()
    assert cell_errors(page) == []

    # The screenshot: page 1 with its labels and the selection, the mouse off the widget.
    page.mouse.move(0, 0)
    root.locator(".jl-label-box input").fill("")
    page.wait_for_function(ALL_DECODED, arg=48, timeout=WAIT_MS)
    shot = screenshot(root, artifacts_dir / "labeler-labeled.png")
    assert shot.stat().st_size > 20_000
    print(f"labeler browser test: {time.monotonic() - started:.1f} s")


def test_enter_applies_the_label_and_keys_need_focus(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "enter")
    tiles = root.locator(".jl-tile")
    tiles.nth(0).locator("img").click()
    tiles.nth(1).locator("img").click()
    expect(root.locator(".jl-selection-count")).to_have_text("2 selected", timeout=WAIT_MS)
    # Hovering the grid does not give it the keys.
    label_input = root.locator(".jl-label-box input")
    label_input.click()
    tiles.nth(5).hover()
    page.keyboard.press("a")
    page.keyboard.press("Escape")
    page.keyboard.press("Backspace")
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(2)
    label_input.fill("by_enter")
    page.keyboard.press("Enter")
    expect(root.locator(".jl-labels-pane")).to_contain_text(
        re.compile(r"\bby_enter\s*2(?!\d)"), timeout=WAIT_MS
    )
    assert lab.execute("enter.ipynb", "print(w.dataset.counts()['images']['by_enter'])") == "2\n"
    # A click gives the grid the keys; then a key selects the page.
    tiles.nth(3).locator(".jl-tile-name").click()
    page.keyboard.press("a")
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(PAGE_SIZE)
    expect(root.locator(".jl-selection-count")).to_have_text(
        f"{PAGE_SIZE} selected", timeout=WAIT_MS
    )
    assert cell_errors(page) == []


def test_page_turn_shows_no_old_tile(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "turn")
    first = set(root.locator(".jl-tile-name").all_text_contents())
    # Record every tile name drawn while turning; old and new must never be on screen at once.
    page.evaluate(
        """() => {
            const grid = document.querySelector('.jl-labeler .jl-grid');
            window.__jlMixed = false;
            window.__jlObserver = new MutationObserver(() => {
                const names = [...grid.querySelectorAll('.jl-tile-name')].map(n => n.textContent);
                window.__jlSeen = (window.__jlSeen || []).concat([names]);
            });
            window.__jlObserver.observe(grid, {childList: true, subtree: true});
        }"""
    )
    root.locator(".jl-page-next").click()
    expect(root.locator(".jl-page-info")).to_have_text(re.compile(r"page 2 of"), timeout=WAIT_MS)
    page.wait_for_function(
        """first => {
            const names = [...document.querySelectorAll('.jl-labeler .jl-tile-name')]
                .map(n => n.textContent);
            return names.length > 0 && names.every(n => !first.includes(n));
        }""",
        arg=sorted(first),
        timeout=WAIT_MS,
    )
    page.wait_for_function(ALL_DECODED, arg=PAGE_SIZE, timeout=WAIT_MS)
    seen = page.evaluate("() => { window.__jlObserver.disconnect(); return window.__jlSeen; }")
    for names in seen:
        old = [n for n in names if n in first]
        assert not old or len(old) == len(names), f"old and new tiles shown together: {names}"


SOURCES = "() => [...document.querySelectorAll('.jl-labeler .jl-tile img')].map(img => img.src)"


def test_pages_seen_before_come_from_the_browsers_cache(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "cached")
    info = root.locator(".jl-page-info")
    first = page.evaluate(SOURCES)
    page.wait_for_timeout(1000)  # the next page is pushed once this one is drawn
    root.locator(".jl-page-next").click()
    expect(info).to_have_text(re.compile(r"page 2 of"), timeout=WAIT_MS)
    page.wait_for_function(ALL_DECODED, arg=PAGE_SIZE, timeout=WAIT_MS)
    second = page.evaluate(SOURCES)
    assert not set(first) & set(second)
    # Pushed ahead: the page itself carried no thumbnail.
    sent = "print(sum(len(t) for t in w.grid.thumbs), len(w.grid.thumbs))"
    assert lab.execute("cached.ipynb", sent) == f"0 {PAGE_SIZE}\n"
    root.locator(".jl-page-prev").click()
    expect(info).to_have_text(re.compile(r"page 1 of"), timeout=WAIT_MS)
    page.wait_for_function(ALL_DECODED, arg=PAGE_SIZE, timeout=WAIT_MS)
    # The same pictures as before, from the same blob URLs: nothing sent again, nothing decoded.
    assert page.evaluate(SOURCES) == first
    assert lab.execute("cached.ipynb", sent) == f"0 {PAGE_SIZE}\n"
    assert cell_errors(page) == []


def test_preview_and_dialog_from_the_last_row_are_in_view(lab: LabServer, page) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    root, _folder = open_labeler(lab, page, "lastrow", page_size=48)
    last = root.locator(".jl-tile").last
    last.scroll_into_view_if_needed()
    last.locator(".jl-tile-open").click()
    preview = root.locator(".jl-preview")
    expect(preview).to_be_visible(timeout=WAIT_MS)
    expect(root.locator(".jl-preview-image")).to_be_visible(timeout=WAIT_MS)
    assert in_viewport(page, root.locator(".jl-preview-close"))
    root.locator(".jl-preview-close").click()
    expect(preview).to_be_hidden(timeout=WAIT_MS)
    # Select the last image, then Delete from the focused grid: the dialog is in view too.
    last.locator("img").click()
    page.keyboard.press("Delete")
    dialog = root.locator(".jl-dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    assert in_viewport(page, root.locator(".jl-dialog-cancel"))
    # Esc, from the focused grid, closes it without clearing the selection.
    root.locator(".jl-grid").focus()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(1)


def test_a_second_tab_leaves_the_first_tabs_keys_working(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "twotabs", workspace="two-tabs-one")
    info = root.locator(".jl-page-info")
    expect(info).to_have_text(re.compile(r"page 1 of"))
    # Saved with its output, the notebook shows the same Labeler in a second tab.
    page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Toolbar [data-command='docmanager:save']"
    ).click()
    saved = lab.root / "twotabs.ipynb"
    deadline = time.monotonic() + WAIT_MS / 1000
    while "widget-view+json" not in saved.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "widget-view+json" in saved.read_text()
    other = page.context.new_page()
    try:
        open_notebook(other, lab.url, "twotabs.ipynb", workspace="two-tabs-two")
        wait_for_selector_in_output(other, ".jl-labeler .jl-tile img")
        other.locator(".jl-labeler .jl-tile-name").first.click()
        other.keyboard.press("ArrowRight")
        expect(other.locator(".jl-labeler .jl-page-info")).to_have_text(
            re.compile(r"page 2 of"), timeout=WAIT_MS
        )
        expect(info).to_have_text(re.compile(r"page 2 of"), timeout=WAIT_MS)
    finally:
        other.close()
    page.bring_to_front()
    root.locator(".jl-tile-name").first.click()
    page.keyboard.press("ArrowRight")
    expect(info).to_have_text(re.compile(r"page 3 of"), timeout=WAIT_MS)
    page.keyboard.press("Home")
    expect(info).to_have_text(re.compile(r"page 1 of"), timeout=WAIT_MS)
    # Keys typed in a cell editor of the first tab do not reach the grid.
    page.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.press("End")
    expect(info).to_have_text(re.compile(r"page 1 of"))


THUMB_SIDES = """() => [...document.querySelectorAll('.jl-labeler .jl-tile img')]
    .map(img => Math.max(img.naturalWidth, img.naturalHeight))"""


def test_tab_into_the_grid_gives_it_the_keys(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "tabkeys")
    grid = root.locator(".jl-grid")
    hint = root.locator(".jl-grid-hint")
    expect(hint).not_to_have_class(re.compile("jl-keys-active"))
    # The last control of the grid's bar, then Tab: the grid itself takes the focus.
    root.locator(".jl-tile-size").focus()
    page.keyboard.press("Tab")
    expect(grid).to_be_focused()
    expect(hint).to_have_class(re.compile("jl-keys-active"))
    expect(hint).to_contain_text("Keys active")
    ring = grid.evaluate("g => getComputedStyle(g).boxShadow")
    assert ring not in ("", "none"), ring  # a visible focus ring
    page.keyboard.press("ArrowRight")
    expect(root.locator(".jl-page-info")).to_have_text(re.compile(r"page 2 of"), timeout=WAIT_MS)
    page.keyboard.press("a")
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(PAGE_SIZE, timeout=WAIT_MS)
    # Tab on, out of the grid: the keys are off again, and the hint says how to get them.
    page.keyboard.press("Tab")
    expect(grid).not_to_be_focused()
    expect(hint).not_to_have_class(re.compile("jl-keys-active"))
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Escape")
    expect(root.locator(".jl-page-info")).to_have_text(re.compile(r"page 2 of"))
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(PAGE_SIZE)
    assert cell_errors(page) == []


def test_add_images_button_and_tile_size(lab: LabServer, page, tmp_path: Path) -> None:
    root, folder = open_labeler(lab, page, "buttons", view="unlabeled")
    upload = root.locator(".jl-upload")
    expect(upload).to_be_hidden()  # in the More menu
    root.locator(".jl-more").click()
    expect(upload).to_have_text("Add images…")
    picture = tmp_path / "from_my_computer.jpg"
    make_demo_images(tmp_path / "one", count=1)
    picture.write_bytes(next((tmp_path / "one").glob("*.jpg")).read_bytes())
    # The button asks the grid's browser side for its file picker, which opens although the
    # request made a round trip through the kernel: the press still counts as the user's.
    with page.expect_file_chooser(timeout=WAIT_MS) as chooser:
        upload.click()
    chooser.value.set_files(str(picture))
    expect(root.locator(".jl-status")).to_contain_text("1 image added", timeout=WAIT_MS)
    expect(upload).to_be_hidden()
    expect(root.locator(".jl-tile-name", has_text="from_my_computer.jpg")).to_have_count(
        1, timeout=WAIT_MS
    )
    assert (folder / "from_my_computer.jpg").read_bytes() == picture.read_bytes()

    # Tile size: the tiles grow and the thumbnails sent are made for the larger tile.
    before = root.locator(".jl-tile img").first.bounding_box()
    root.locator(".jl-tile-size").select_option("large")
    page.wait_for_function(
        f"() => {{ const s = ({THUMB_SIDES})(); return s.length && s.every(n => n === 224); }}",
        timeout=WAIT_MS,
    )
    after = root.locator(".jl-tile img").first.bounding_box()
    assert before is not None
    assert after is not None
    assert after["width"] > before["width"]
    assert lab.execute("buttons.ipynb", "print(w.grid.tile_px)") == "224\n"
    assert cell_errors(page) == []


def test_hidpi_screens_get_thumbnails_twice_as_sharp(lab: LabServer, browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
    try:
        page = context.new_page()
        root, _folder = open_labeler(lab, page, "hidpi")
        assert page.evaluate("() => window.devicePixelRatio") == 2
        # 12 a page, small tiles (112 CSS px, the default): 224-pixel thumbnails.
        page.wait_for_function(
            f"() => {{ const s = ({THUMB_SIDES})(); return s.length && s.every(n => n === 224); }}",
            timeout=WAIT_MS,
        )
        assert lab.execute("hidpi.ipynb", "print(w.grid.hidpi, w.thumbnail_px)") == "True 224\n"
        box = root.locator(".jl-tile img").first.bounding_box()
        assert box is not None
        assert box["width"] < 1.5 * 112  # drawn at about the tile's CSS size, twice as sharp
        assert cell_errors(page) == []
    finally:
        context.close()
        lab.shutdown_kernels()
