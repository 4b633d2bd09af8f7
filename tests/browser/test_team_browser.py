"""Two annotators, two pages, one dataset: a label applied in one page shows in the other.

Two browser contexts (two users) on one JupyterLab open two notebooks, each with its own kernel,
showing a Labeler (All tab) on the same folder under different author names, both following
every half second. The first user ticks two tiles, types a label and presses OK; the second
page must show it, in All Labels, on the tiles, in the Labeled tab's count and in the status
line, without a single click there. Elements are found by their stable class names only.
"""

from __future__ import annotations

import re

import pytest

from jupyter_labeler.demo import make_demo_images

from .lab import (
    DEFAULT_TIMEOUT,
    LabServer,
    cell_errors,
    open_notebook,
    run_all_cells,
    wait_for_selector_in_output,
    wait_kernel_idle,
    write_notebook,
)

expect = pytest.importorskip("playwright.sync_api").expect

IMAGES = 24
PAGE_SIZE = 12
LABEL = "seen_by_both"
# Following every 0.5 s: a label reaches the other page within a few polls; the bound below is
# for a loaded machine, not a speed target.
WAIT_MS = 20_000


def show_labeler(lab: LabServer, page, notebook: str, folder: str, author: str):
    write_notebook(
        lab.root,
        notebook,
        [
            "from jupyter_labeler import label\n"
            f"w = label({folder!r}, author={author!r}, follow=0.5, view='all',\n"
            f"          page_size={PAGE_SIZE})\n"
            "w"
        ],
    )
    open_notebook(page, lab.url, notebook)
    wait_kernel_idle(page)
    run_all_cells(page)
    wait_for_selector_in_output(page, ".jl-labeler .jl-tile img")
    root = page.locator(".jl-labeler")
    expect(root.locator(".jl-tile")).to_have_count(PAGE_SIZE, timeout=WAIT_MS)
    return root


def test_a_label_from_one_page_appears_in_the_other(lab: LabServer, page, browser) -> None:
    folder = lab.root / "team-images"
    make_demo_images(folder, count=IMAGES, labeled_fraction=0.0)
    first = show_labeler(lab, page, "team-alice.ipynb", str(folder), "alice")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT * 1000)
    try:
        other_page = context.new_page()
        second = show_labeler(lab, other_page, "team-bob.ipynb", str(folder), "bob")
        pane = second.locator(".jl-labels-pane")
        expect(pane).not_to_contain_text(LABEL)
        names_second = [t.strip() for t in second.locator(".jl-tile-name").all_text_contents()]

        # Alice ticks two tiles, types a new label and presses OK.
        tiles = first.locator(".jl-tile")
        tiles.nth(0).locator("input.jl-tile-check").click()
        tiles.nth(3).locator("input.jl-tile-check").click()
        expect(first.locator(".jl-tile.jl-selected")).to_have_count(2, timeout=WAIT_MS)
        chosen = [
            (tiles.nth(i).locator(".jl-tile-name").text_content() or "").strip() for i in (0, 3)
        ]
        first.locator(".jl-label-box input").fill(LABEL)
        ok = first.locator("button.jl-label-ok")
        expect(ok).to_be_enabled(timeout=WAIT_MS)
        ok.click()
        expect(first.locator(".jl-labels-pane")).to_contain_text(
            re.compile(rf"{LABEL}\s*2(?!\d)"), timeout=WAIT_MS
        )

        # Bob's page shows it by itself: no click, no key, no cell run there.
        expect(pane).to_contain_text(re.compile(rf"{LABEL}\s*2(?!\d)"), timeout=WAIT_MS)
        expect(second.locator(".jl-tab-labeled")).to_contain_text(
            re.compile(r"\(2\)"), timeout=WAIT_MS
        )
        tiles_second = second.locator(".jl-tile")
        for name in chosen:
            tile = tiles_second.nth(names_second.index(name))
            expect(tile.locator(".jl-chip", has_text=LABEL)).to_have_count(1, timeout=WAIT_MS)
        expect(second.locator(".jl-tile .jl-chip", has_text=LABEL)).to_have_count(2)
        expect(second.locator(".jl-status")).to_contain_text("alice", timeout=WAIT_MS)
        assert cell_errors(other_page) == []
    finally:
        context.close()
    assert cell_errors(page) == []
