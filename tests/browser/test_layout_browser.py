"""The Labeler's layout and themes in a real browser, where a notebook user sees them.

In JupyterLab's default layout (the file browser open) at 1400x900: the controls above the
grid take at most 170 px, at least 12 tiles show whole at the default tile size, no control is
cut (its text overflowing its box) or past the Labeler's edge, in the main view, the More
menu, the dialogs and the preview; every visible text of the Labeler reads at a contrast of at
least 4.5:1 against what is behind it, in the light and the dark theme. Nothing is cut at
1100x800 either, nor in Notebook 7 at 1280x800. The first test also takes the screenshots of
the README (``UPDATE_DOCS=1`` writes ``docs/labeler.png`` and ``docs/labeler-dark.png``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from jupyter_labeler.demo import make_demo_images

from .lab import (
    DEFAULT_TIMEOUT,
    LabServer,
    cell_errors,
    open_in_notebook7,
    open_notebook,
    run_all_cells,
    screenshot,
    wait_for_selector_in_output,
    wait_kernel_idle,
    wait_notebook7_kernel_idle,
    write_notebook,
)

expect = pytest.importorskip("playwright.sync_api").expect

DOCS = Path(__file__).parents[2] / "docs"
WAIT_MS = 10_000
MAX_CONTROLS_PX = 170
MIN_TILES_IN_VIEW = 12
MIN_CONTRAST = 4.5
THEMES_SETTINGS = "lab/api/settings/@jupyterlab/apputils-extension:themes"

# From the Labeler's top to its first tile; the tiles wholly inside both the grid's scrolling
# box and the window (above JupyterLab's status bar, when there is one).
MEASURE = """root => {
    const top = root.getBoundingClientRect().top;
    const tiles = [...root.querySelectorAll('.jl-tile')];
    const grid = root.querySelector('.jl-grid').getBoundingClientRect();
    const bar = document.querySelector('#jp-main-statusbar');
    const bottom = Math.min(
        grid.bottom, bar && bar.offsetParent ? bar.getBoundingClientRect().top : innerHeight);
    const whole = tiles.filter(t => {
        const b = t.getBoundingClientRect();
        return b.top >= Math.max(0, grid.top) && b.bottom <= bottom;
    });
    return {controls: tiles[0].getBoundingClientRect().top - top, whole: whole.length};
}"""

# Controls and texts whose words overflow their box (scrollWidth > clientWidth), or that end
# past the Labeler's right edge, and empty text boxes whose placeholder does not fit (its width
# as the box's font draws it); only those shown.
CUT = """root => {
    const edge = root.getBoundingClientRect().right;
    const shown = e => e.offsetParent !== null && e.getBoundingClientRect().width > 0;
    const chosen = 'button, select, input, label, .widget-label, .jl-tab, .jl-page-info, '
        + '.jl-selection-count, .jl-tile-name, .jl-chip, .jl-label-name, .jl-label-count, '
        + '.widget-html-content, .jl-grid-hint';
    const cut = [...root.querySelectorAll(chosen)].filter(shown).filter(e =>
        e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > edge + 1
    ).map(e => `${e.tagName}.${e.className}: ${(e.textContent || e.value || '').trim()
        .slice(0, 40)} (${e.scrollWidth} > ${e.clientWidth})`);
    // An empty text box whose placeholder is wider than the room for text in it.
    const pen = document.createElement('canvas').getContext('2d');
    for (const e of root.querySelectorAll('input[placeholder]')) {
        if (!shown(e) || e.value || !e.placeholder) continue;
        const s = getComputedStyle(e);
        pen.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
        const room = e.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
        const wide = Math.ceil(pen.measureText(e.placeholder).width);
        if (wide > room + 1) cut.push(`placeholder of ${e.className}: ${e.placeholder} (${wide} > ${room})`);
    }
    return cut;
}"""

# WCAG 2 contrast of every visible text of the Labeler (elements with text of their own, and
# selects and text boxes) against its effective background: the backgrounds of the element and
# its ancestors composed from the page down, the text's colour composed over them with the
# opacity of every ancestor. Disabled controls are left aside, as WCAG does.
CONTRAST = """root => {
    const parse = c => {
        const m = /rgba?\\(([^)]+)\\)/.exec(c);
        if (!m) return null;
        const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
        return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
    };
    const over = (top, below) => ({
        r: top.r * top.a + below.r * (1 - top.a),
        g: top.g * top.a + below.g * (1 - top.a),
        b: top.b * top.a + below.b * (1 - top.a),
        a: 1,
    });
    const lum = c => {
        const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
        return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
    };
    const background = el => {
        const chain = [];
        for (let e = el; e; e = e.parentElement) chain.push(e);
        let bg = {r: 255, g: 255, b: 255, a: 1};
        for (const e of chain.reverse()) {
            const c = parse(getComputedStyle(e).backgroundColor);
            if (c && c.a > 0) bg = over(c, bg);
        }
        return bg;
    };
    const texts = [...root.querySelectorAll('*')].filter(el => {
        if (el.matches('select, input[type=text]')) return true;
        return [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    });
    const out = [];
    for (const el of texts) {
        const box = el.getBoundingClientRect();
        const style = getComputedStyle(el);
        if (!box.width || !box.height || style.visibility === 'hidden') continue;
        if (el.offsetParent === null && style.position !== 'fixed') continue;
        if (el.closest(':disabled') || el.matches('option')) continue;
        let opacity = 1;
        for (let e = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
        const bg = background(el);
        const fg = parse(style.color);
        const shown = over({...fg, a: fg.a * opacity}, bg);
        const [hi, lo] = [lum(shown), lum(bg)].sort((a, b) => b - a);
        const text = (el.value || el.textContent || '').trim().slice(0, 30);
        out.push({text, cls: String(el.className), ratio: (hi + 0.05) / (lo + 0.05)});
    }
    return out;
}"""


def _notebook(root: Path, name: str) -> Path:
    """A notebook showing a Labeler on 300 demo images, some of them labeled."""
    folder = root / f"{name}-images"
    if not folder.exists():
        make_demo_images(folder, count=300)
    write_notebook(
        root,
        f"{name}.ipynb",
        [
            "from jupyter_labeler import Dataset, label\n"
            f"ds = Dataset.open({str(folder)!r})\n"
            "ids = ds.ids()\n"
            "ds.add_label('cat', ids[:40]); ds.add_label('dog', ids[40:70])\n"
            "w = label(ds)\n"
            "w"
        ],
    )
    return folder


def _show(page: Any) -> Any:
    """Wait for the Labeler's tiles, put its top at the top of the notebook, return its root."""
    wait_for_selector_in_output(page, ".jl-labeler .jl-tile img")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.jl-labeler .jl-tile img')]
            .every(img => img.complete && img.naturalWidth > 0)""",
        timeout=WAIT_MS,
    )
    root = page.locator(".jl-labeler")
    root.evaluate("r => r.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(300)  # let the windowed notebook settle after the scroll
    return root


def _cut(root: Any) -> list[str]:
    """What is cut, once the layout has settled (a part just shown may still be growing into
    its place: its image loading, its buttons measured)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    with contextlib.suppress(PlaywrightTimeoutError):
        root.page.wait_for_function(
            f"r => ({CUT})(r).length === 0", arg=root.element_handle(), timeout=3000
        )
    return list(root.evaluate(CUT))


def _low_contrast(root: Any) -> list[dict[str, Any]]:
    texts = root.evaluate(CONTRAST)
    # What was measured includes the current tab, the tiles' captions and All Labels' keys.
    for part in ("jl-tab-active", "jl-tile-file", "jl-label-key"):
        assert any(part in t["cls"] for t in texts), part
    return [t for t in texts if t["ratio"] < MIN_CONTRAST]


def _set_theme(lab: LabServer, theme: str) -> None:
    lab.api("PUT", THEMES_SETTINGS, {"raw": json.dumps({"theme": theme})})


def _open_in_lab(lab: LabServer, page: Any, name: str) -> Any:
    open_notebook(page, lab.url, f"{name}.ipynb")
    wait_kernel_idle(page)
    run_all_cells(page)
    return _show(page)


def _all_tab(lab: LabServer, page: Any, root: Any, notebook: str) -> None:
    """Show the All tab, its pictures drawn, with no control focused or hovered."""
    lab.execute(notebook, "w.view = 'all'")
    expect(root.locator(".jl-tab-all")).to_have_class(re.compile(r"\bjl-tab-active\b"))
    expect(root.locator(".jl-chip").first).to_be_visible(timeout=WAIT_MS)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.mouse.move(0, 0)
    _show(page)


@pytest.fixture
def page_1400(page: Any) -> Any:
    """The suite's page at 1400x900: JupyterLab's default layout at that size (the file
    browser open)."""
    page.set_viewport_size({"width": 1400, "height": 900})
    return page


def test_layout_at_1400_in_light_and_dark(
    lab: LabServer, page_1400: Any, artifacts_dir: Path
) -> None:
    page = page_1400
    _notebook(lab.root, "layout")
    root = _open_in_lab(lab, page, "layout")
    # JupyterLab's default layout: the file browser is open beside the notebook.
    assert page.locator(".jp-FileBrowser").is_visible()

    measured = root.evaluate(MEASURE)
    assert measured["controls"] <= MAX_CONTROLS_PX, measured
    assert measured["whole"] >= MIN_TILES_IN_VIEW, measured
    assert _cut(root) == []
    assert _low_contrast(root) == []
    # The status line shares a row: no row of its own above the grid.
    status = root.locator(".jl-status").bounding_box()
    bar = root.locator(".jl-grid-bar").bounding_box()
    assert status is not None
    assert bar is not None
    assert abs(status["y"] - bar["y"]) < bar["height"]

    # The More menu, and each dialog opened from it, cut nothing either.
    more = root.locator(".jl-more")
    more.click()
    expect(root.locator(".jl-menu-panel")).to_be_visible(timeout=WAIT_MS)
    assert _cut(root) == []
    assert _low_contrast(root) == []
    root.locator(".jl-menu-panel .jl-split").click()
    dialog = root.locator(".jl-dialog")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(root.locator(".jl-menu-panel")).to_be_hidden()
    assert _cut(root) == []
    root.locator(".jl-dialog-cancel").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)
    root.locator(".jl-tile img").first.click()
    expect(root.locator(".jl-selection-count")).to_have_text("1 selected", timeout=WAIT_MS)
    more.click()
    root.locator(".jl-menu-panel .jl-delete-images").click()
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    assert _cut(root) == []
    root.locator(".jl-dialog-cancel").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)

    # A tile names the image's folder too (the demo's last quarter is in batch2/), the full
    # path in its title.
    in_folder = root.locator(".jl-tile-name", has_text="batch2/").first
    expect(in_folder).to_be_visible()
    assert (in_folder.get_attribute("title") or "").startswith("batch2/img_")
    lab.execute("layout.ipynb", "w.clear_selection()")
    expect(root.locator(".jl-selection-count")).to_have_text("0 selected", timeout=WAIT_MS)
    # The screenshot: the All tab, whose tiles show their labels, nothing focused or hovered.
    _all_tab(lab, page, root, "layout.ipynb")
    screenshot(page, artifacts_dir / "labeler.png")
    if os.environ.get("UPDATE_DOCS") == "1":
        screenshot(page, DOCS / "labeler.png")
    assert cell_errors(page) == []

    # The dark theme, through JupyterLab's settings, on a fresh page. A dataset of its own:
    # the one above would still say who else had it open a moment ago.
    lab.shutdown_kernels()
    _notebook(lab.root, "layoutdark")
    _set_theme(lab, "JupyterLab Dark")
    try:
        root = _open_in_lab(lab, page, "layoutdark")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        assert _low_contrast(root) == []
        _all_tab(lab, page, root, "layoutdark.ipynb")
        assert _low_contrast(root) == []
        screenshot(page, artifacts_dir / "labeler-dark.png")
        if os.environ.get("UPDATE_DOCS") == "1":
            screenshot(page, DOCS / "labeler-dark.png")
        root.locator(".jl-more").click()
        expect(root.locator(".jl-menu-panel")).to_be_visible(timeout=WAIT_MS)
        assert _low_contrast(root) == []
        assert cell_errors(page) == []
    finally:
        _set_theme(lab, "JupyterLab Light")


def test_the_preview_cuts_nothing(lab: LabServer, page_1400: Any) -> None:
    page = page_1400
    _notebook(lab.root, "preview")
    root = _open_in_lab(lab, page, "preview")
    root.locator(".jl-tile-open").first.click()
    expect(root.locator(".jl-preview-image")).to_be_visible(timeout=WAIT_MS)
    assert _cut(root) == []


def test_nothing_cut_at_1100(lab: LabServer, page_1400: Any) -> None:
    page = page_1400
    page.set_viewport_size({"width": 1100, "height": 800})
    _notebook(lab.root, "narrow")
    root = _open_in_lab(lab, page, "narrow")
    assert _cut(root) == []
    # All Labels went under the grid: the Labeler is narrower than 900 px here.
    width = root.evaluate("r => r.getBoundingClientRect().width")
    side = root.locator(".jl-side").bounding_box()
    grid = root.locator(".jl-grid").bounding_box()
    assert side is not None
    assert grid is not None
    assert width < 900
    assert side["y"] >= grid["y"] + grid["height"] - 1
    assert cell_errors(page) == []


def test_nothing_cut_in_notebook_7(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    server = LabServer(tmp_path_factory.mktemp("notebook7"), app="notebook").start()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(DEFAULT_TIMEOUT * 1000)
    try:
        page = context.new_page()
        _notebook(server.root, "nb7")
        open_in_notebook7(page, server.url, "nb7.ipynb")
        wait_notebook7_kernel_idle(page, server, "nb7.ipynb")
        page.locator(".jp-Cell .jp-InputPrompt").first.click()
        page.keyboard.press("Shift+Enter")
        root = _show(page)
        assert _cut(root) == []
        root.locator(".jl-more").click()
        expect(root.locator(".jl-menu-panel")).to_be_visible(timeout=WAIT_MS)
        assert _cut(root) == []
        assert cell_errors(page) == []
    finally:
        context.close()
        server.stop()
