"""The Mine and Review tabs in a real JupyterLab: a lead reviews, the annotator sees why.

A dataset prepared in Python (demo images, shared out to alice and bob, some labeled by alice)
is opened in a notebook as the lead: the Mine and Review tabs show with their counts; on Review,
two ticked tiles and Accept take them out of the view; the Reject button and the confirm button
reject one; `r` from the focused grid then Esc rejects nothing and leaves the selection for `y`;
`r` opens the reason box in view, where the reason typed and Enter send the image back. Once
the box closes the keys are the grid's again: the next key acts without a click.
Opened again as alice, the Mine tab shows that image and the reason. Elements are found by
their stable class names only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jupyter_labeler import Dataset
from jupyter_labeler.demo import make_demo_images

from .lab import (
    LabServer,
    cell_errors,
    open_notebook,
    run_all_cells,
    wait_for_selector_in_output,
    wait_kernel_idle,
    write_notebook,
)
from .test_labeler_browser import in_viewport

expect = pytest.importorskip("playwright.sync_api").expect

IMAGES = 40
LABELED = 16  # by alice, of her 20: the Review page scrolls
PAGE_SIZE = 24
REASON = "that is a <b>tulip</b>"
OTHER_REASON = "too dark to tell"
WAIT_MS = 10_000


def prepare(folder: Path) -> None:
    make_demo_images(folder, count=IMAGES, labeled_fraction=0.0)
    lead = Dataset.open(str(folder), author="lead")
    lead.assign(["alice", "bob"], seed=0)
    lead.close()
    alice = Dataset.open(str(folder), author="alice")
    alice.add_label("sunset", list(alice.ids("mine"))[:LABELED])
    alice.close()


def show(lab: LabServer, page, folder: Path, author: str, view: str):
    notebook = f"review-{author}.ipynb"
    write_notebook(
        lab.root,
        notebook,
        [
            "from jupyter_labeler import label\n"
            f"w = label({str(folder)!r}, author={author!r}, view={view!r},"
            f" page_size={PAGE_SIZE})\n"
            "w"
        ],
    )
    open_notebook(page, lab.url, notebook)
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.click()
    wait_kernel_idle(page)
    run_all_cells(page)
    wait_for_selector_in_output(page, ".jl-labeler .jl-tile img")
    return page.locator(".jl-labeler"), notebook


def names(root) -> list[str]:
    return [t.strip() for t in root.locator(".jl-tile .jl-tile-name").all_text_contents()]


def test_review_accept_reject_and_mine(lab: LabServer, page) -> None:
    folder = lab.root / "review-images"
    prepare(folder)
    root, notebook = show(lab, page, folder, "lead", "review")
    mine_tab, review_tab = root.locator(".jl-tab-mine"), root.locator(".jl-tab-review")
    expect(mine_tab).to_be_visible(timeout=WAIT_MS)
    expect(mine_tab).to_contain_text("(0)")
    expect(review_tab).to_contain_text(f"({LABELED})")
    tiles = root.locator(".jl-tile")
    expect(tiles).to_have_count(LABELED, timeout=WAIT_MS)
    bar = root.locator(".jl-review-bar")
    expect(bar).to_be_visible()
    # Large tiles, so that the grid scrolls: the reason box must still open where one looks
    # from its last row.
    root.locator(".jl-tile-size").select_option("large")
    page.wait_for_function(
        "() => { const g = document.querySelector('.jl-labeler .jl-grid');"
        " return g.scrollHeight > g.clientHeight; }",
        timeout=WAIT_MS,
    )

    # Two ticked tiles, Accept: both leave the view and the count drops.
    before = names(root)
    tiles.nth(0).locator("input.jl-tile-check").click()
    tiles.nth(2).locator("input.jl-tile-check").click()
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(2, timeout=WAIT_MS)
    root.locator("button.jl-accept").click()
    expect(review_tab).to_contain_text(f"({LABELED - 2})", timeout=WAIT_MS)
    expect(tiles).to_have_count(LABELED - 2, timeout=WAIT_MS)
    accepted = {before[0], before[2]}
    assert accepted.isdisjoint(names(root))

    grid = root.locator(".jl-grid")
    reason = root.locator(".jl-reject-reason input")
    selected = root.locator(".jl-tile.jl-selected")
    # The Reject button asks too; the reason typed, then a click on the confirm button; the
    # keys are the grid's again.
    tiles.first.locator("input.jl-tile-check").click()
    expect(selected).to_have_count(1, timeout=WAIT_MS)
    root.locator("button.jl-reject").click()
    expect(reason).to_be_focused(timeout=WAIT_MS)
    page.keyboard.type(OTHER_REASON)
    root.locator("button.jl-reject-confirm").click()
    expect(review_tab).to_contain_text(f"({LABELED - 3})", timeout=WAIT_MS)
    # The tab's count can be drawn before the grid drops the tile: wait for the tiles too, or
    # the tile picked next may be the one that slides into its place.
    expect(tiles).to_have_count(LABELED - 3, timeout=WAIT_MS)
    expect(reason).to_be_hidden(timeout=WAIT_MS)
    expect(grid).to_be_focused(timeout=WAIT_MS)

    # A tile clicked, `r`, a reason begun, Esc: the box closes, nothing is rejected, the tile
    # stays selected, and the next key, with no click, acts on the grid: `y` accepts it.
    kept = tiles.nth(1)
    kept_name = (kept.locator(".jl-tile-name").text_content() or "").strip()
    kept.locator("img").click()
    expect(selected).to_have_count(1, timeout=WAIT_MS)
    page.keyboard.press("r")
    expect(reason).to_be_focused(timeout=WAIT_MS)
    page.keyboard.type("not sure")
    page.keyboard.press("Escape")
    expect(reason).to_be_hidden(timeout=WAIT_MS)
    expect(grid).to_be_focused(timeout=WAIT_MS)
    expect(root.locator(".jl-grid-hint")).to_contain_text("Keys active")
    expect(selected).to_have_count(1)
    expect(review_tab).to_contain_text(f"({LABELED - 3})")
    expect(tiles).to_have_count(LABELED - 3)
    page.keyboard.press("y")
    expect(review_tab).to_contain_text(f"({LABELED - 4})", timeout=WAIT_MS)
    expect(tiles).to_have_count(LABELED - 4, timeout=WAIT_MS)
    assert kept_name not in names(root)

    # One tile clicked (so the grid has the focus), `r`: the reason box opens where one looks,
    # ready for typing; the reason typed and Enter send the image back, and the keys go back
    # to the grid: `a` selects the rest of the page and `y` accepts it, with no click.
    last = tiles.last
    last.scroll_into_view_if_needed()
    rejected = (last.locator(".jl-tile-name").text_content() or "").strip()
    last.locator("img").click()
    expect(selected).to_have_count(1, timeout=WAIT_MS)
    page.keyboard.press("r")
    expect(reason).to_be_visible(timeout=WAIT_MS)
    assert in_viewport(page, reason)
    assert in_viewport(page, root.locator("button.jl-reject-confirm"))
    expect(reason).to_be_focused(timeout=WAIT_MS)
    page.keyboard.type(REASON)
    page.keyboard.press("Enter")  # confirms, as the Reject button there does
    expect(review_tab).to_contain_text(f"({LABELED - 5})", timeout=WAIT_MS)
    expect(tiles).to_have_count(LABELED - 5, timeout=WAIT_MS)
    assert rejected not in names(root)
    expect(reason).to_be_hidden(timeout=WAIT_MS)
    expect(grid).to_be_focused(timeout=WAIT_MS)
    page.keyboard.press("a")
    expect(selected).to_have_count(LABELED - 5, timeout=WAIT_MS)
    page.keyboard.press("y")
    expect(review_tab).to_contain_text("(0)", timeout=WAIT_MS)
    expect(tiles).to_have_count(0, timeout=WAIT_MS)
    assert lab.execute(notebook, "print(w.dataset.flush())") == "True\n"
    assert cell_errors(page) == []

    # As alice: Mine has her unlabeled images and the rejected ones, with the reasons.
    root, _ = show(lab, page, folder, "alice", "mine")
    mine_tab = root.locator(".jl-tab-mine")
    expect(mine_tab).to_contain_text(f"({IMAGES // 2 - LABELED + 2})", timeout=WAIT_MS)
    expect(root.locator(".jl-tile")).to_have_count(IMAGES // 2 - LABELED + 2, timeout=WAIT_MS)
    assert rejected in names(root)
    notes = root.locator(".jl-rejections")
    expect(notes).to_be_visible(timeout=WAIT_MS)
    expect(notes).to_contain_text(re.compile(r"2 images came back from review"))
    expect(notes).to_contain_text(f"{REASON} (1)")  # shown as text, not as markup
    expect(notes).to_contain_text(f"{OTHER_REASON} (1)")
    # The review keys act on the Review tab only: here `y` and `r` do nothing.
    root.locator(".jl-tile img").first.click()
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(1, timeout=WAIT_MS)
    page.keyboard.press("r")
    page.keyboard.press("y")
    page.keyboard.press("Escape")  # keys act in order: once this one has, so have the others
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(0, timeout=WAIT_MS)
    expect(root.locator(".jl-reject-reason input")).to_be_hidden()
    expect(root.locator(".jl-review-bar")).to_be_hidden()
    expect(mine_tab).to_contain_text(f"({IMAGES // 2 - LABELED + 2})")
    assert cell_errors(page) == []
