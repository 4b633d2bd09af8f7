"""What a new user sees in a real JupyterLab, at the widths of a laptop and a desktop screen:
the preview with nothing cut, Enter in its box, Previous / Next after its image left the view;
a selection that never hides in another tab; the dialogs (only deleting in red, long choices
beside their own radio button, single-spaced); an Accept count that follows at once; and the
hint when a label is given with nothing selected, with a disabled OK that looks disabled.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jupyter_labeler.demo import make_demo_images

from .lab import LabServer, cell_errors, screenshot
from .test_labeler_browser import WAIT_MS, open_labeler

expect = pytest.importorskip("playwright.sync_api").expect

SLOW_MS = 60_000  # features of the 120 demo images, and a fit, on 2 busy cores
SELECT_FIRST = "Select images first: click a tile, or press a in the grid to select the page."

# Every button, text box and menu inside `root` that is cut (its content wider than its box),
# or that reaches past `root`'s edges; [] when all is well.
CUT_OR_OUTSIDE = """root => {
    const edge = root.getBoundingClientRect();
    const found = [];
    if (root.scrollWidth > root.clientWidth + 1) found.push(`the box scrolls sideways`);
    for (const el of root.querySelectorAll('button, input[type=text], select, label')) {
        const r = el.getBoundingClientRect();
        if (!r.width || !r.height) continue;  // hidden
        const name = `${el.tagName} ${el.className} "${el.textContent.trim().slice(0, 40)}"`;
        if (el.scrollWidth > el.clientWidth + 1) found.push(`${name} is cut`);
        if (r.left < edge.left - 1 || r.right > edge.right + 1) found.push(`${name} is past the edge`);
    }
    return found;
}"""

# Whether each choice of a select fits in it (the widest option's text against its inner room).
OPTIONS_CUT = """select => {
    const style = getComputedStyle(select);
    const probe = document.createElement('span');
    probe.style.font = style.font;
    probe.style.whiteSpace = 'pre';
    probe.style.position = 'absolute';
    document.body.append(probe);
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const cut = [...select.options].filter(o => {
        probe.textContent = o.textContent;
        return probe.getBoundingClientRect().width > room;
    }).map(o => o.textContent);
    probe.remove();
    return cut;
}"""

# The rectangles of two elements overlap.
OVERLAP = """([a, b]) => {
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    return r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom;
}"""

# How far (px) a choice's radio sits below the middle of the first line of its words.
RADIO_OFF_LINE = """label => {
    const radio = label.querySelector('input[type=radio]').getBoundingClientRect();
    const words = [...label.childNodes].find(n => n.nodeType === 3 && n.textContent.trim());
    const range = document.createRange();
    range.selectNodeContents(words);
    const line = range.getClientRects()[0];
    return (radio.top + radio.height / 2) - (line.top + line.height / 2);
}"""

# A dialog's frame colour, and JupyterLab's error red, as the browser computes them.
FRAME_AND_RED = """d => {
    const probe = document.createElement('div');
    probe.style.color = 'var(--jp-error-color1)';
    d.append(probe);
    const red = getComputedStyle(probe).color;
    probe.remove();
    return [getComputedStyle(d).borderTopColor, red];
}"""


def choose_theme(page, name: str) -> None:
    """Settings > Theme > ``name``, as a user picks it."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Theme$")).hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(name)}$")).click()


def path_of(name: str) -> re.Pattern[str]:
    """The preview's path of the image a tile names (its caption may show the path shortened)."""
    return re.compile(rf"(^|/){re.escape(name)}\s*$")


def kernel(lab: LabServer, notebook: str, code: str) -> str:
    return lab.execute(f"{notebook}.ipynb", code).strip()


def test_the_preview_fits_enter_adds_and_next_follows_the_view(
    lab: LabServer, page, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    root, _folder = open_labeler(lab, page, "fixpreview", view="unlabeled")
    tiles = root.locator(".jl-tile")
    names = [t.strip() for t in tiles.locator(".jl-tile-name").all_text_contents()]
    tiles.nth(3).locator(".jl-tile-open").click()
    preview = root.locator(".jl-preview")
    expect(preview).to_be_visible(timeout=WAIT_MS)
    expect(preview.locator(".jl-preview-path")).to_have_text(path_of(names[3]), timeout=WAIT_MS)
    for button in ("Add", "Change", "Remove", "Previous", "Next", "Close"):
        expect(preview.locator("button", has_text=re.compile(rf"^\s*{button}\s*$"))).to_be_visible()
    for width in (1400, 1200, 1000):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(200)  # a resize is laid out at the next frame
        assert preview.evaluate(CUT_OR_OUTSIDE) == [], width
        area = root.locator(".jl-main-area")
        assert area.evaluate("a => a.scrollWidth <= a.clientWidth + 1"), width
        screenshot(preview, artifacts_dir / f"preview-{width}.png")

    # Enter in the preview's box adds the label; nothing moves sideways after it.
    box = preview.locator(".jl-preview-input input")
    box.click()
    page.keyboard.type("sunny")
    page.keyboard.press("Enter")
    expect(preview.locator(".jl-preview-info .jl-chip", has_text="sunny")).to_have_count(
        1, timeout=WAIT_MS
    )
    expect(root.locator(".jl-status")).to_contain_text("Added sunny to 1 image", timeout=WAIT_MS)
    assert preview.evaluate(CUT_OR_OUTSIDE) == []
    assert box.is_visible()
    assert preview.evaluate("p => p.closest('.jl-main-area').scrollLeft") == 0
    # The image has left Unlabeled: Next still goes to the one after it, Previous before.
    preview.locator(".jl-preview-next").click()
    expect(preview.locator(".jl-preview-path")).to_have_text(path_of(names[4]), timeout=WAIT_MS)
    preview.locator(".jl-preview-prev").click()
    expect(preview.locator(".jl-preview-path")).to_have_text(path_of(names[2]), timeout=WAIT_MS)
    # Esc in the box closes the preview.
    box.click()
    page.keyboard.press("Escape")
    expect(preview).to_be_hidden(timeout=WAIT_MS)
    assert cell_errors(page) == []


def test_a_selection_never_hides_in_another_tab(lab: LabServer, page, tmp_path: Path) -> None:
    root, _folder = open_labeler(lab, page, "fixselect", view="labeled")
    tiles = root.locator(".jl-tile")
    count = root.locator(".jl-selection-count")
    tiles.nth(0).locator("img").click()
    expect(count).to_have_text("1 selected", timeout=WAIT_MS)
    # An upload shows the new image in Unlabeled: the labeled image ticked before is not
    # there, so it is not selected any more.
    make_demo_images(tmp_path / "one", count=1)
    picture = tmp_path / "holiday photo.jpg"
    picture.write_bytes(next((tmp_path / "one").glob("*.jpg")).read_bytes())
    root.locator(".jl-upload-input").set_input_files(str(picture))
    expect(root.locator(".jl-status")).to_contain_text("1 image added", timeout=WAIT_MS)
    expect(root.locator(".jl-upload-result")).to_contain_text(
        "holiday photo.jpg is saved as holiday_photo.jpg: spaces and signs", timeout=WAIT_MS
    )
    expect(root.locator(".jl-tile-name", has_text="holiday_photo.jpg")).to_have_count(
        1, timeout=WAIT_MS
    )
    expect(count).to_have_text("0 selected", timeout=WAIT_MS)
    assert kernel(lab, "fixselect", "print(w.view, len(w.selected))") == "unlabeled 0"
    # What Delete asks about is what is ticked (the new image, alone on its page or not).
    tiles.nth(0).locator("img").click()
    expect(count).to_have_text("1 selected", timeout=WAIT_MS)
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(1)
    page.keyboard.press("Delete")
    dialog = root.locator(".jl-dialog")
    expect(dialog.locator(".jl-dialog-title")).to_have_text("Delete 1 image?", timeout=WAIT_MS)
    dialog.locator(".jl-dialog-cancel").click()
    # A filter keeps only the selected images it shows.
    kernel(lab, "fixselect", "w.view = 'all'; w.selected = tuple(w.grid.ids[:3])")
    expect(count).to_have_text("3 selected", timeout=WAIT_MS)
    label = kernel(
        lab,
        "fixselect",
        "import json\nfirst = w.dataset.labels_of(w.grid.ids[:3])\nprint(json.dumps(first))",
    )
    carried = [bool(v) for v in json.loads(label).values()]
    name = kernel(lab, "fixselect", "print(w.dataset.label_names[0])")
    kernel(lab, "fixselect", f"w.label_filter = {name!r}")
    shown = int(kernel(lab, "fixselect", "print(len(w.selected))"))
    assert shown <= sum(carried)
    expect(count).to_have_text(f"{shown} selected", timeout=WAIT_MS)
    expect(root.locator(".jl-tile.jl-selected")).to_have_count(shown, timeout=WAIT_MS)
    assert cell_errors(page) == []


def test_dialogs_and_the_order_menu_show_every_word(
    lab: LabServer, page, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1000, "height": 900})
    root, _folder = open_labeler(lab, page, "fixdialog", view="all")
    dialog = root.locator(".jl-dialog")
    name = kernel(lab, "fixdialog", "print(w.dataset.label_names[0])")
    kernel(lab, "fixdialog", f"w.ask_delete_label({name!r})")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog).to_have_class(re.compile(r"\bjl-dialog-danger\b"))
    confirm = dialog.locator(".jl-dialog-confirm")
    expect(confirm).to_have_class(re.compile(r"\bmod-danger\b"))
    frame, red = dialog.evaluate(FRAME_AND_RED)
    assert frame == red
    choices = dialog.locator(".jl-dialog-choice .widget-radio-box label")
    expect(choices).to_have_count(3)
    third = choices.nth(2)
    expect(third).to_contain_text("and their source files")
    # Each choice stands on its own: its radio beside it, nothing under the buttons.
    radios = dialog.locator(".jl-dialog-choice input[type=radio]")
    for i in range(3):
        assert not page.evaluate(
            OVERLAP, [radios.nth(i).element_handle(), confirm.element_handle()]
        )
        label_box = choices.nth(i).bounding_box()
        radio_box = radios.nth(i).bounding_box()
        assert label_box is not None
        assert radio_box is not None
        assert label_box["y"] <= radio_box["y"] <= label_box["y"] + label_box["height"]
        assert radio_box["x"] <= label_box["x"] + 8  # before its words, not after them
        # Level with the first line of its words: their middles within 2 px.
        assert abs(choices.nth(i).evaluate(RADIO_OFF_LINE)) <= 2, i
    for i in range(2):
        assert not page.evaluate(
            OVERLAP, [choices.nth(i).element_handle(), choices.nth(i + 1).element_handle()]
        )
    assert not page.evaluate(OVERLAP, [third.element_handle(), confirm.element_handle()])
    assert dialog.evaluate(CUT_OR_OUTSIDE) == []
    # Single-spaced: a line of the message is about as tall as its font.
    spacing = dialog.locator(".jl-dialog-message .widget-html-content").evaluate(
        "e => parseFloat(getComputedStyle(e).lineHeight) / parseFloat(getComputedStyle(e).fontSize)"
    )
    assert spacing < 1.6
    screenshot(dialog, artifacts_dir / "delete-label-dialog.png")
    dialog.locator(".jl-dialog-cancel").click()
    expect(dialog).to_be_hidden(timeout=WAIT_MS)

    # Split is a plain question: no red frame, a primary button.
    kernel(lab, "fixdialog", "w.ask_split()")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog.locator(".jl-dialog-title")).to_have_text("Split the labeled images")
    expect(dialog).not_to_have_class(re.compile(r"\bjl-dialog-danger\b"))
    expect(confirm).to_have_class(re.compile(r"\bmod-primary\b"))
    expect(confirm).not_to_have_class(re.compile(r"\bmod-danger\b"))
    frame, red = dialog.evaluate(FRAME_AND_RED)
    assert frame != red
    screenshot(dialog, artifacts_dir / "split-dialog.png")
    assert dialog.evaluate(CUT_OR_OUTSIDE) == []
    dialog.locator(".jl-dialog-cancel").click()

    # The Order menu shows each choice whole.
    order = root.locator(".jl-order select")
    assert order.evaluate(OPTIONS_CUT) == []
    assert "Similar to the selection" in order.inner_text().replace("\xa0", " ")
    assert cell_errors(page) == []


def test_ok_with_nothing_selected_says_what_to_do_and_disabled_looks_disabled(
    lab: LabServer, page, artifacts_dir: Path
) -> None:
    root, _folder = open_labeler(lab, page, "fixhint", view="unlabeled")
    box = root.locator(".jl-label-box input")
    ok = root.locator("button.jl-label-ok")
    status = root.locator(".jl-status")
    expect(ok).to_be_disabled()
    screenshot(root.locator(".jl-label-box"), artifacts_dir / "label-box-disabled-light.png")
    disabled = ok.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).cursor]")
    box.click()
    page.keyboard.type("meadow")
    expect(ok).to_be_enabled(timeout=WAIT_MS)
    enabled = ok.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).cursor]")
    assert disabled[0] != enabled[0]
    assert disabled[1] == "not-allowed"
    page.keyboard.press("Enter")
    expect(status).to_contain_text(SELECT_FIRST, timeout=WAIT_MS)
    assert kernel(lab, "fixhint", "print(w.dataset.label_names.count('meadow'))") == "0"
    # OK says the same.
    kernel(lab, "fixhint", "w.status.info('')")
    expect(status).not_to_contain_text(SELECT_FIRST, timeout=WAIT_MS)
    ok.click()
    expect(status).to_contain_text(SELECT_FIRST, timeout=WAIT_MS)

    # In the dark theme too, a disabled OK looks unlike an enabled one.
    choose_theme(page, "JupyterLab Dark")
    try:
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'false'", timeout=WAIT_MS
        )
        enabled_dark = ok.evaluate("b => getComputedStyle(b).backgroundColor")
        box.fill("")
        expect(ok).to_be_disabled(timeout=WAIT_MS)
        disabled_dark = ok.evaluate("b => getComputedStyle(b).backgroundColor")
        screenshot(root.locator(".jl-label-box"), artifacts_dir / "label-box-disabled-dark.png")
        assert disabled_dark != enabled_dark
        assert disabled_dark != disabled[0]  # the dark theme's own colour, not a fixed one
        assert cell_errors(page) == []
    finally:
        # The theme is a setting of the server the other tests share: put it back.
        choose_theme(page, "JupyterLab Light")
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'true'", timeout=WAIT_MS
        )


def test_the_accept_count_follows_at_once(lab: LabServer, page) -> None:
    root, _folder = open_labeler(lab, page, "fixaccept", view="unlabeled")
    # Every suggestion counts, so that the count is the number of unlabeled images.
    kernel(lab, "fixaccept", "w.assist.min_confidence = 0.0")
    root.locator(".jl-suggest").click()
    expect(root.locator(".jl-status")).to_contain_text(
        re.compile(r"Features computed for \d+ images and stored with the labels"),
        timeout=SLOW_MS,
    )
    accept = root.locator(".jl-accept-all")
    unlabeled = int(kernel(lab, "fixaccept", "print(len(w.dataset.ids('unlabeled')))"))
    expect(accept).to_have_text(f"Accept {unlabeled} ≥ 0%", timeout=SLOW_MS)
    # The next fit is put off for an hour (as after a fit that long): the count must follow
    # each change by itself.
    assert kernel(lab, "fixaccept", "print(w.assist.suggest_job.wait(60))") == "True"
    kernel(lab, "fixaccept", "w.assist.suggest_job.last_seconds = 3600")
    tiles = root.locator(".jl-tile")
    tiles.nth(0).locator("img").click()
    tiles.nth(1).locator("img").click()
    expect(root.locator(".jl-selection-count")).to_have_text("2 selected", timeout=WAIT_MS)
    page.keyboard.press("s")
    expect(root.locator(".jl-status")).to_contain_text("Accepted 2 suggestions", timeout=WAIT_MS)
    expect(accept).to_have_text(f"Accept {unlabeled - 2} ≥ 0%", timeout=WAIT_MS)
    page.keyboard.press("z")
    expect(accept).to_have_text(f"Accept {unlabeled} ≥ 0%", timeout=WAIT_MS)
    # Accept takes what it counts.
    accept.click()
    expect(root.locator(".jl-status")).to_contain_text(f"for {unlabeled} images", timeout=WAIT_MS)
    expect(root.locator(".jl-tab-unlabeled")).to_contain_text("(0)", timeout=WAIT_MS)
    assert cell_errors(page) == []
