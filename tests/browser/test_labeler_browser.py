"""The Labeler in a real JupyterLab: tick, shift-click, label, see it saved, turn a page by key.

This is the one place where the browser side of ipywidgets and ipyevents is exercised: the tiles
must render, a checkbox click and a shift-click must reach the kernel, the label box must apply a
new label, and a key pressed over the grid must turn the page. It also takes the screenshot shown
in the README (``UPDATE_DOCS=1`` writes it to ``docs/labeler.png``).
"""

from __future__ import annotations

import os
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

DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "labeler.png"
IMAGES = 120
PAGE_SIZE = 12
NEW_LABEL = "outdoor"
# Visible state can lag the kernel by a round trip or two; never wait longer than this.
WAIT_MS = 10_000


def test_label_selected_images_in_the_browser(lab: LabServer, page, artifacts_dir: Path) -> None:
    started = time.monotonic()
    folder = lab.root / "labeler-demo"
    make_demo_images(folder, count=IMAGES)
    write_notebook(
        lab.root,
        "labeler.ipynb",
        [
            "from jupyter_labeler import label\n"
            f"w = label({str(folder)!r}, page_size={PAGE_SIZE}, view='all')\n"
            "w"
        ],
    )
    # Wide and tall enough that the whole widget (grid and All Labels pane) is in view.
    page.set_viewport_size({"width": 1640, "height": 1300})
    open_notebook(page, lab.url, "labeler.ipynb")
    # Fold the file browser away: the notebook, and so the grid, gets the whole width.
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
    wait_kernel_idle(page)
    run_all_cells(page)
    wait_for_selector_in_output(page, ".jl-labeler .jl-tile-image")
    root = page.locator(".jl-labeler")
    tiles = root.locator(".jl-tile:visible")
    expect(tiles).to_have_count(PAGE_SIZE, timeout=WAIT_MS)
    # Every tile shows a decoded image (a thumbnail JPEG, not an empty <img>).
    page.wait_for_function(
        """n => {
            const imgs = [...document.querySelectorAll('.jl-labeler .jl-tile-image')]
                .filter(img => img.offsetParent !== null);
            return imgs.length === n && imgs.every(img => img.complete && img.naturalWidth > 0);
        }""",
        arg=PAGE_SIZE,
        timeout=WAIT_MS,
    )
    page_info = root.locator(".jl-page-info")
    expect(page_info).to_have_text(f"page 1 of {IMAGES // PAGE_SIZE}", timeout=WAIT_MS)
    names = [t.strip() for t in tiles.locator(".jl-tile-name").all_inner_texts()]
    assert len(names) == PAGE_SIZE, names
    assert all(names), names

    # Select: tick two checkboxes, then click one image and shift-click another (a range of 4).
    count = root.locator(".jl-selection-count")
    tiles.nth(0).locator(".jl-tile-check input").click()
    expect(count).to_have_text("1 selected", timeout=WAIT_MS)
    tiles.nth(1).locator(".jl-tile-check input").click()
    expect(count).to_have_text("2 selected", timeout=WAIT_MS)
    tiles.nth(4).locator(".jl-tile-image").click()
    expect(count).to_have_text("3 selected", timeout=WAIT_MS)
    tiles.nth(7).locator(".jl-tile-image").click(modifiers=["Shift"])
    expect(count).to_have_text("6 selected", timeout=WAIT_MS)
    chosen = [0, 1, 4, 5, 6, 7]
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(len(chosen), timeout=WAIT_MS)
    for i in chosen:
        expect(tiles.nth(i)).to_have_class(re.compile(r"\bjl-selected\b"))
        expect(tiles.nth(i).locator(".jl-tile-check input")).to_be_checked()
    for i in (2, 3, 8):
        expect(tiles.nth(i).locator(".jl-tile-check input")).not_to_be_checked()

    # A new label, typed into the combobox, applied with OK.
    label_input = root.locator(".jl-label-input input")
    label_input.click()
    label_input.fill(NEW_LABEL)
    ok = root.locator("button.jl-label-ok")
    expect(ok).to_be_enabled(timeout=WAIT_MS)
    ok.click()

    for i in chosen:
        expect(
            tiles.nth(i).locator(".jl-tile-chips span.jl-chip", has_text=NEW_LABEL)
        ).to_have_count(1, timeout=WAIT_MS)
    for i in (2, 3, 8):
        expect(tiles.nth(i).locator("span.jl-chip", has_text=NEW_LABEL)).to_have_count(0)
    row = root.locator(".jl-label-row", has=page.locator(".jl-label-name", has_text=NEW_LABEL))
    expect(row.locator(".jl-label-name")).to_have_text(NEW_LABEL, timeout=WAIT_MS)
    expect(row.locator(".jl-label-count")).to_have_text(str(len(chosen)), timeout=WAIT_MS)
    expect(root.locator(".jl-save-state")).to_have_text("All changes saved", timeout=WAIT_MS)

    # In the store: the journal object was written before OK returned.
    saved = Dataset.open(folder)
    try:
        counts = saved.counts()["images"]
        assert int(counts[NEW_LABEL]) == len(chosen)
        tagged = sorted(saved.with_label(NEW_LABEL)["path"].map(lambda p: p.rsplit("/", 1)[-1]))
    finally:
        saved.close()
    assert tagged == sorted(names[i] for i in chosen)

    # Keys reach ipyevents only while the mouse is over the grid.
    root.locator(".jl-grid-area").hover()
    page.keyboard.press("ArrowRight")
    expect(page_info).to_have_text(f"page 2 of {IMAGES // PAGE_SIZE}", timeout=WAIT_MS)
    expect(tiles.first.locator(".jl-tile-name")).not_to_have_text(names[0], timeout=WAIT_MS)
    page.keyboard.press("ArrowLeft")
    expect(page_info).to_have_text(f"page 1 of {IMAGES // PAGE_SIZE}", timeout=WAIT_MS)
    expect(tiles.first.locator(".jl-tile-name")).to_have_text(names[0], timeout=WAIT_MS)

    status = root.locator(".jl-status")
    assert "error" not in (status.get_attribute("class") or "")
    assert "Error" not in status.inner_text()
    assert not status.locator(".jl-message-error").count()
    assert cell_errors(page) == []

    # The screenshot: page 1 with its labels and the selection, the mouse off the widget.
    page.mouse.move(0, 0)
    label_input.fill("")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jl-labeler .jl-tile-image')]
            .filter(img => img.offsetParent !== null)
            .every(img => img.complete && img.naturalWidth > 0)""",
        timeout=WAIT_MS,
    )
    shot = screenshot(root, artifacts_dir / "labeler.png")
    assert shot.stat().st_size > 20_000
    if os.environ.get("UPDATE_DOCS") == "1":
        screenshot(root, DOCS_SCREENSHOT)
    print(f"labeler browser test: {time.monotonic() - started:.1f} s")
