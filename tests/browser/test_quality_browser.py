"""Likely wrong labels and groups in a real JupyterLab: the suspect chip is drawn, readable (its
contrast in the theme) and its confidence never cut on a small tile; k pressed on the grid keeps
a label; By group draws a caption row where a group starts, and g selects the whole group.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .lab import LabServer, cell_errors, screenshot
from .test_labeler_browser import WAIT_MS, open_labeler

expect = pytest.importorskip("playwright.sync_api").expect

# Features of the 120 demo images, and judging their labels, take a few seconds on 2 cores.
SLOW_MS = 60_000

# WCAG's contrast ratio of the chip's text on its ground, both read from the page.
CONTRAST = """c => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const style = getComputedStyle(c);
  const a = lum(rgb(style.color));
  const b = lum(rgb(style.backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""

# The chip's parts lie inside its tile, and its confidence is shown whole.
CHIP_FITS = """c => {
  const tile = c.closest('.jl-tile').getBoundingClientRect();
  const box = c.getBoundingClientRect();
  const sure = c.querySelector('.jl-chip-flagged-sure');
  return box.left >= tile.left && box.right <= tile.right
    && sure.scrollWidth <= sure.clientWidth && sure.getBoundingClientRect().right <= box.right;
}"""


def test_suspect_chips_keep_key_and_group_rows(lab: LabServer, page, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    root, _folder = open_labeler(lab, page, "quality", view="labeled", page_size=24)
    # Every image labeled (the suggestions taken), then two labels swapped for another, as an
    # annotator might give them: enough images a label for the wrong ones to stand out.
    lab.execute(
        "quality.ipynb",
        "ds = w.dataset\n"
        "ds.compute_features(progress=False)\n"
        "ds.accept_suggestions(list(ds.ids('unlabeled')), min_confidence=0.0)\n"
        "names = list(ds.label_names)\n"
        "for a, b in zip(names[:2], names[1:3]):\n"
        "    x = list(ds.with_label(a).index[:1])\n"
        "    ds.remove_label(a, x)\n"
        "    ds.add_label(b, x)\n",
        timeout=SLOW_MS / 1000,
    )
    root.locator(".jl-order select").select_option("Likely wrong first")
    chips = root.locator(".jl-chip-flagged")
    expect(chips.first).to_be_visible(timeout=SLOW_MS)
    expect(root.locator(".jl-status")).to_contain_text(
        re.compile(r"Likely wrong first: \d+ labels? looks? wrong"), timeout=SLOW_MS
    )
    n = chips.count()
    for i in range(n):
        chip = chips.nth(i)
        assert re.fullmatch(r"maybe \S+, \d{1,3}%", chip.text_content() or ""), chip.text_content()
        assert chip.get_attribute("title")
        assert chip.evaluate(CONTRAST) >= 4.5
        assert chip.evaluate(CHIP_FITS)
    # Not drawn as a danger: its border is the theme's warning colour, not its error colour.
    colours = chips.first.evaluate(
        """c => { const s = getComputedStyle(document.body);
        const probe = document.createElement('span'); c.append(probe);
        probe.style.color = 'var(--jp-warn-color1)'; const warn = getComputedStyle(probe).color;
        probe.style.color = 'var(--jp-error-color1)'; const error = getComputedStyle(probe).color;
        probe.remove(); return [getComputedStyle(c).borderTopColor, warn, error]; }"""
    )
    assert colours[0] == colours[1] != colours[2]
    page.mouse.move(0, 0)
    screenshot(root, artifacts_dir / "quality-wrong.png")

    # k on the grid, with a suspect selected: its chip goes, and the Dataset has the mark.
    suspect = root.locator(".jl-tile", has=page.locator(".jl-chip-flagged")).first
    name = (suspect.locator(".jl-tile-name").text_content() or "").strip()
    suspect.locator("img").click()
    expect(root.locator(".jl-selection-count")).to_have_text("1 selected", timeout=WAIT_MS)
    page.keyboard.press("k")
    expect(root.locator(".jl-status")).to_contain_text("Kept 1 label as checked", timeout=WAIT_MS)
    tile = root.locator(".jl-tile", has=page.get_by_text(name, exact=True))
    expect(tile.locator(".jl-chip-flagged")).to_have_count(0, timeout=WAIT_MS)
    expect(chips).to_have_count(n - 1, timeout=WAIT_MS)
    confirmed = lab.execute("quality.ipynb", "print(ds.label_issues().attrs['confirmed'])")
    assert confirmed.strip() == "1"

    # By group: a caption row over each group's first row; g selects the whole group.
    root.locator(".jl-order select").select_option("By group")
    heads = root.locator(".jl-group-head")
    expect(heads.first).to_have_text(re.compile(r"^Group \d+ · \d+"), timeout=SLOW_MS)
    layout = root.locator(".jl-grid").evaluate(
        """g => { const head = [...g.querySelectorAll('.jl-group-head')].pop();
        const next = head.nextElementSibling.getBoundingClientRect();
        const first = g.querySelector('.jl-tile').getBoundingClientRect();
        const box = head.getBoundingClientRect();
        return {wide: box.width > 3 * first.width, below: next.top >= box.bottom,
                left: Math.abs(next.left - first.left) < 1,
                rule: getComputedStyle(head).borderTopStyle}; }"""
    )
    assert layout == {"wide": True, "below": True, "left": True, "rule": "solid"}, layout
    assert heads.count() >= 2  # the last caption starts a group inside the page
    screenshot(root, artifacts_dir / "quality-groups.png")
    first_head = heads.first.text_content() or ""
    size = int(re.search(r"· (\d+)", first_head).group(1))  # type: ignore[union-attr]
    root.locator(".jl-tile").first.locator("img").click()
    page.keyboard.press("g")
    expect(root.locator(".jl-selection-count")).to_have_text(f"{size} selected", timeout=WAIT_MS)
    expect(root.locator(".jl-status")).to_contain_text(re.compile(r"Selected group \d+"))
    assert not root.locator(".jl-status .jl-message-error").count()
    assert cell_errors(page) == []
