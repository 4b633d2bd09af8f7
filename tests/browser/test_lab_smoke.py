"""End to end: JupyterLab renders ipywidgets, a click reaches the kernel, and so do ipyevents keys.

If this fails, every other browser test would too: fix the recipe (see ``lab.py``) first.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from .lab import (
    LabError,
    LabServer,
    cell_errors,
    open_notebook,
    run_all_cells,
    run_cell,
    screenshot,
    wait_for_selector_in_output,
    wait_kernel_idle,
    write_notebook,
)

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

SMOKE_CELLS = [
    """\
import ipywidgets as w
from ipyevents import Event

clicks = 0
status = w.Label("clicks: 0").add_class("jl-smoke-status")
button = w.Button(description="Click me").add_class("jl-smoke")


def on_click(_):
    global clicks
    clicks += 1
    status.value = f"clicks: {clicks}"


button.on_click(on_click)
""",
    """\
keys_seen = []
target = w.Label("hover here and press a key").add_class("jl-smoke-target")
keys = w.Label("keys: none").add_class("jl-smoke-keys")


def on_key(event):
    keys_seen.append(event["key"])
    keys.value = "keys: " + ",".join(keys_seen)


watcher = Event(source=target, watched_events=["keydown"])
watcher.on_dom_event(on_key)
w.VBox([button, status, target, keys])
""",
]


def test_widgets_round_trip(lab: LabServer, page, artifacts_dir: Path) -> None:
    started = time.monotonic()
    write_notebook(lab.root, "smoke.ipynb", SMOKE_CELLS)
    open_notebook(page, lab.url, "smoke.ipynb")
    wait_kernel_idle(page)
    run_all_cells(page)
    button = wait_for_selector_in_output(page, "button.jl-smoke")
    ready = time.monotonic() - started

    status = page.locator(".jl-smoke-status")
    expect(status).to_have_text("clicks: 0")
    button.click()
    expect(status).to_have_text("clicks: 1")

    # Keys reach ipyevents only while the mouse is over the watched widget.
    page.locator(".jl-smoke-target").hover()
    page.keyboard.press("x")
    expect(page.locator(".jl-smoke-keys")).to_have_text("keys: x")

    # Kernel state, read beside the page, and changed from the kernel into the page.
    assert lab.execute("smoke.ipynb", "print(clicks, keys_seen)") == "1 ['x']\n"
    assert lab.execute("smoke.ipynb", "button.click(); clicks") == "2\n"
    expect(status).to_have_text("clicks: 2")

    # The same through a new cell, the way a user would type it.
    assert run_cell(page, "print(clicks)\nstatus.value").strip() == "2\n'clicks: 2'"

    shot = screenshot(page, artifacts_dir / "lab_smoke.png")
    assert shot.stat().st_size > 1000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not page.get_by_text(re.compile("Loading widget")).count()
    print(f"JupyterLab started in {lab.startup_seconds:.1f} s; notebook ready in {ready:.1f} s")


def test_each_test_starts_clean(lab: LabServer, page) -> None:
    # Runs after the test above: its notebook must not come back (own workspace per
    # open_notebook) and its kernel must be gone (the page fixture shuts kernels down).
    write_notebook(lab.root, "clean.ipynb", ["x = 41", "x + 1"])
    open_notebook(page, lab.url, "clean.ipynb")
    wait_kernel_idle(page)
    run_all_cells(page)
    assert page.locator(".jp-NotebookPanel").count() == 1
    assert [s["path"] for s in lab.api("GET", "api/sessions")] == ["clean.ipynb"]
    assert page.locator(".jp-OutputArea-output").inner_text() == "42"
    assert cell_errors(page) == []
    with pytest.raises(LabError, match="ZeroDivisionError"):
        lab.execute("clean.ipynb", "1 / 0")
