"""Assisted labeling in a real JupyterLab: Suggest draws dashed chips on the tiles, Accept all
labels the sure ones (the tab counts move, Undo moves them back), More like these reorders the
grid. The demo images come with about 40% of them labeled, enough for suggestions.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .lab import LabServer, cell_errors, screenshot
from .test_labeler_browser import WAIT_MS, open_labeler

expect = pytest.importorskip("playwright.sync_api").expect

# Computing the features of the 120 demo images and fitting takes a few seconds on 2 cores.
SLOW_MS = 60_000


def tab_count(root, view: str) -> int:
    text = root.locator(f".jl-tab-{view}").inner_text()
    found = re.search(r"\((\d+)\)", text)
    assert found, text
    return int(found.group(1))


def test_suggest_accept_and_more_like_these(lab: LabServer, page, artifacts_dir: Path) -> None:
    root, _folder = open_labeler(lab, page, "assist", view="unlabeled")
    tiles = root.locator(".jl-tile")
    unlabeled = tab_count(root, "unlabeled")
    labeled = tab_count(root, "labeled")
    assert root.locator(".jl-chip-suggested").count() == 0

    # Suggest on: the features are computed first, then every tile gets a dashed chip.
    root.locator(".jl-suggest").click()
    expect(root.locator(".jl-status")).to_contain_text(
        re.compile(r"Features computed for \d+ images"), timeout=SLOW_MS
    )
    for i in range(tiles.count()):
        expect(tiles.nth(i).locator(".jl-chip-suggested").first).to_have_text(
            re.compile(r"^\S+ \d{1,3}%$"), timeout=SLOW_MS
        )
    chip = root.locator(".jl-chip-suggested").first
    assert chip.evaluate("c => getComputedStyle(c).borderTopStyle") == "dashed"
    page.mouse.move(0, 0)
    screenshot(root, artifacts_dir / "assist.png")

    # Accept all >= 90%: the button says how many; the tabs move by that many.
    accept = root.locator(".jl-accept-all")
    expect(accept).to_have_text(re.compile(r"Accept \d+ ≥ 90%"), timeout=SLOW_MS)
    expect(accept).to_be_enabled()
    found = re.search(r"Accept (\d+)", accept.inner_text())
    assert found
    n = int(found.group(1))
    assert n > 0
    accept.click()
    expect(root.locator(".jl-tab-unlabeled")).to_have_text(
        re.compile(rf"\({unlabeled - n}\)"), timeout=WAIT_MS
    )
    expect(root.locator(".jl-tab-labeled")).to_have_text(
        re.compile(rf"\({labeled + n}\)"), timeout=WAIT_MS
    )
    expect(accept).not_to_have_text(f"Accept {n} ≥ 90%", timeout=SLOW_MS)
    state = "print(w.dataset.view_counts()['unlabeled'])"
    assert lab.execute("assist.ipynb", state).strip() == str(unlabeled - n)
    # One action: Undo takes it all back, and the button counts them again.
    root.locator(".jl-undo").click()
    expect(root.locator(".jl-tab-unlabeled")).to_have_text(
        re.compile(rf"\({unlabeled}\)"), timeout=WAIT_MS
    )
    expect(accept).to_have_text(f"Accept {n} ≥ 90%", timeout=SLOW_MS)

    # More like these: the selected image comes first, its likes after it. The tab counts
    # may change before the grid has drawn the page that the undo brought back.
    expect(tiles.nth(5)).to_be_visible(timeout=WAIT_MS)
    names = [t.strip() for t in tiles.locator(".jl-tile-name").all_text_contents()]
    tiles.nth(5).locator("img").click()
    expect(root.locator(".jl-selection-count")).to_have_text("1 selected", timeout=WAIT_MS)
    more = root.locator(".jl-more-like-these")
    expect(more).to_be_enabled(timeout=WAIT_MS)
    more.click()
    expect(tiles.first.locator(".jl-tile-name")).to_have_text(names[5], timeout=WAIT_MS)
    reordered = [t.strip() for t in tiles.locator(".jl-tile-name").all_text_contents()]
    assert reordered != names
    assert lab.execute("assist.ipynb", "print(w.assist.order)").strip() == "similar"
    expect(root.locator(".jl-order select")).to_have_value("Similar to the selection")
    assert not root.locator(".jl-status .jl-message-error").count()
    assert cell_errors(page) == []
