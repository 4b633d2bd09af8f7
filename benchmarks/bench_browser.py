"""The Labeler in the browser: what the user waits for, timed inside a real JupyterLab page.

    python benchmarks/bench_browser.py [--images 300] [--runs 5] [--baseline REF]

JupyterLab + Debian's Chromium driven by Playwright (the browser tests' harness), the demo images,
48 a page, 1400x900. Three grids are measured in the same run, each in a notebook of its own:

- ours:      the Labeler of this checkout (one anywidget grid);
- ipywidgets: the Labeler of ``--baseline`` (default: the last commit with the ipywidgets tile
             grid), extracted with ``git archive`` and imported from there;
- floor:     a minimal anywidget grid (a page is one message of 48 thumbnails drawn from blob
             URLs, nothing else): the least a page turn can cost on this machine.

Timed inside the page (``performance.now()`` and ``requestAnimationFrame`` polling), except the
first display, timed from running the cell to the last thumbnail decoded:

- first display: running the cell (in a started kernel, imports done) -> 48 thumbnails decoded;
- page turn:     the next page, prefetched -> every tile shows a new decoded image, none of the
                 old page left; and a page seen before (the previous one);
- select page:   "Select page" -> 48 tiles shown selected;
- OK:            OK on 48 selected images with a new label -> All Labels shows it with 48;
- bytes:         what the kernel sent over the websocket for the first page (the whole widget),
                 apart from the next page's thumbnails pushed ahead once it is shown (counted
                 on their own), and for a page turn with the push of the page after it.

Each grid labels a folder of images of its own, so no grid sees the labels another one added.

Medians of --runs. This is a benchmark, not a test: it prints a table and never fails on a time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jupyter_labeler.demo import make_demo_images  # noqa: E402
from tests.browser.lab import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LabServer,
    open_notebook,
    wait_kernel_idle,
    write_notebook,
)

PAGE = 48
TARGETS_MS = {
    "first display": 2500,
    "page turn (prefetched)": 150,
    "page seen before": 100,
    "select page": 100,
    "OK on 48 -> All Labels": 300,
}
BYTES_TARGET = 400 * 1024
BYTES = ("bytes first page", "bytes pushed ahead", "bytes page turn")
PUSH_MARKS = (b'"event": "thumbs"', b'"event":"thumbs"')

FLOOR_GRID = r'''
import anywidget, traitlets
from jupyter_labeler import Dataset
_ds = Dataset.open(IMAGES)
_ids = [str(i) for i in _ds.ids("all")]
_paths = _ds.paths()
_thumbs = _ds.thumbnails(_ids, size=160)

class FloorGrid(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      el.classList.add('jl-labeler');
      const bar = document.createElement('div');
      const next = document.createElement('button'); next.textContent = 'next';
      next.className = 'jl-page-next';
      const prev = document.createElement('button'); prev.textContent = 'prev';
      prev.className = 'jl-page-prev';
      bar.append(prev, next); el.appendChild(bar);
      const grid = document.createElement('div');
      grid.style.cssText = 'display:grid;grid-template-columns:repeat(auto-fill,minmax(172px,1fr));'
        + 'gap:4px;max-height:70vh;overflow:auto';
      el.appendChild(grid);
      let urls = [];
      function draw() {
        const names = model.get('names'); const bufs = model.get('thumbs');
        urls.forEach(u => URL.revokeObjectURL(u));
        urls = bufs.map(b => URL.createObjectURL(new Blob([b], {type: 'image/jpeg'})));
        const tiles = names.map((n, i) => { const t = document.createElement('div');
          t.className = 'jl-tile'; const img = document.createElement('img'); img.src = urls[i];
          img.width = 160; img.height = 160; img.style.objectFit = 'contain';
          const cap = document.createElement('div'); cap.textContent = n;
          t.append(img, cap); return t; });
        grid.replaceChildren(...tiles);
      }
      const onNext = () => model.send({turn: 1}); const onPrev = () => model.send({turn: -1});
      next.addEventListener('click', onNext); prev.addEventListener('click', onPrev);
      model.on('change:thumbs', draw); draw();
      return () => { next.removeEventListener('click', onNext);
        prev.removeEventListener('click', onPrev); model.off('change:thumbs', draw);
        urls.forEach(u => URL.revokeObjectURL(u)); };
    }
    export default { render };
    """
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)
    thumbs = traitlets.List(traitlets.Bytes()).tag(sync=True)
    page = 0

    def show(self):
        chosen = _ids[self.page * 48:(self.page + 1) * 48]
        with self.hold_sync():
            self.names = [_paths[i] for i in chosen]
            self.thumbs = [_thumbs[i].data for i in chosen]

def _turn(widget, content, buffers):
    widget.page = max(0, widget.page + int(content.get("turn", 0)))
    widget.show()
'''

FLOOR_SHOW = "w = FloorGrid()\nw.on_msg(_turn)\nw.show()\nw"
LABELER_SHOW = "w = label(IMAGES, page_size=48, view='all')\nw"

ROOT = ".jl-labeler:not([data-bench-old])"
TILES_JS = f"""() => [...document.querySelectorAll('{ROOT} .jl-tile')]
    .filter(t => t.offsetParent !== null)"""
MARK_OLD = """() => document.querySelectorAll('.jl-labeler')
    .forEach(root => { root.dataset.benchOld = '1'; })"""
DECODED = f"""n => {{
    const tiles = ({TILES_JS})();
    return tiles.length === n && tiles.every(t => {{
        const i = t.querySelector('img'); return i && i.complete && i.naturalWidth > 0; }});
}}"""
TURN = f"""async (sel) => {{
    const tiles = {TILES_JS};
    const key = t => {{ const i = t.querySelector('img'); return i ? (i.currentSrc || i.src) : ''; }};
    const before = new Set(tiles().map(key));
    const t0 = performance.now();
    document.querySelector('{ROOT} ' + sel).click();
    return await new Promise((res, rej) => {{ const tick = () => {{
        if (performance.now() - t0 > 30000) return rej(new Error('page turn not seen in 30 s'));
        const ts = tiles();
        if (ts.length === {PAGE} && ts.every(t => {{ const i = t.querySelector('img');
            return i && !before.has(key(t)) && i.complete && i.naturalWidth > 0; }}))
            res(performance.now() - t0);
        else requestAnimationFrame(tick); }}; requestAnimationFrame(tick); }});
}}"""
SELECTED = f"""() => {{ const ts = ({TILES_JS})(); return ts.filter(t =>
    t.classList.contains('jl-selected')).length; }}"""
SELECT = f"""async () => {{
    const tiles = {TILES_JS};
    const t0 = performance.now();
    document.querySelector('{ROOT} .jl-select-page').click();
    return await new Promise((res, rej) => {{ const tick = () => {{
        if (performance.now() - t0 > 30000) return rej(new Error('selection not seen in 30 s'));
        const ts = tiles();
        if (ts.length === {PAGE} && ts.every(t => t.classList.contains('jl-selected')))
            res(performance.now() - t0);
        else requestAnimationFrame(tick); }}; requestAnimationFrame(tick); }});
}}"""
OK = f"""async (name) => {{
    const pane = document.querySelector('{ROOT} .jl-labels-pane');
    const shown = new RegExp('(^|[^\\\\w])' + name + '\\\\s*48(?!\\\\d)');
    if (shown.test(pane.innerText)) return -1;  // applied before OK was pressed
    const t0 = performance.now();
    document.querySelector('{ROOT} button.jl-label-ok').click();
    return await new Promise((res, rej) => {{ const tick = () => {{
        if (performance.now() - t0 > 30000) return rej(new Error('label not shown in 30 s'));
        if (shown.test(pane.innerText)) res(performance.now() - t0);
        else requestAnimationFrame(tick); }}; requestAnimationFrame(tick); }});
}}"""


def baseline_ref() -> str:
    """The last commit whose grid was the ipywidgets tile grid."""
    changed = subprocess.run(
        ["git", "log", "-1", "--format=%H", "-S", "class TileGrid", "--", "jupyter_labeler"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not changed:
        raise SystemExit("no commit with the ipywidgets tile grid found; pass --baseline REF")
    return f"{changed}^"


def extract(ref: str, into: Path) -> Path:
    """The jupyter_labeler package as of ``ref``, in ``into``; returns the folder to import from."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "jupyter_labeler"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


class Traffic:
    """Bytes of websocket frames the page received (kernel -> browser); ``pushed`` counts the
    frames of thumbnails the kernel pushed ahead of their page."""

    # Playwright's sync API hands its events over only while it is called: wait with
    # page.wait_for_timeout(), not time.sleep(), or frames count in the next window.
    def __init__(self, page: Any) -> None:
        self.received = 0
        self.pushed = 0
        page.on("websocket", self._socket)

    def _socket(self, socket: Any) -> None:
        socket.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        self.received += len(data)
        if any(mark in data[:4096] for mark in PUSH_MARKS):
            self.pushed += len(data)

    @contextmanager
    def counting(self, into: list[int], pushed: list[int] | None = None) -> Iterator[None]:
        """Bytes received inside the block; with ``pushed``, those pushed ahead go there."""
        start, start_pushed = self.received, self.pushed
        yield
        ahead = self.pushed - start_pushed
        if pushed is None:
            into.append(self.received - start)
        else:
            into.append(self.received - start - ahead)
            pushed.append(ahead)


def run_cell(page: Any, index: int) -> None:
    """Select code cell ``index`` and run it in place (Ctrl+Enter)."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(index)
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Control+Enter")


def wait_idle_prompt(page: Any, index: int) -> None:
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(index)
    page.wait_for_function(
        """el => /\\[\\d+\\]/.test(el.querySelector('.jp-InputArea-prompt').textContent)""",
        arg=cell.element_handle(),
        timeout=120_000,
    )


def measure(
    lab: LabServer, browser: Any, name: str, setup: str, show: str, runs: int, labeler: bool
) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "first display",
            "page turn (prefetched)",
            "page seen before",
            "select page",
            "OK on 48 -> All Labels",
            "bytes first page",
            "bytes pushed ahead",
            "bytes page turn",
        )
    }
    write_notebook(lab.root, f"{name}.ipynb", [setup, show])
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    traffic = Traffic(page)
    try:
        open_notebook(page, lab.url, f"{name}.ipynb", timeout=60)
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
        wait_kernel_idle(page, timeout=60)
        run_cell(page, 0)
        wait_idle_prompt(page, 0)
        wait_kernel_idle(page, timeout=60)
        for _ in range(runs):
            page.wait_for_timeout(500)
            page.evaluate(MARK_OLD)  # the output of the last run is replaced: don't time it
            with traffic.counting(out["bytes first page"], out["bytes pushed ahead"]):
                started = time.monotonic()
                run_cell(page, 1)
                page.wait_for_function(DECODED, arg=PAGE, timeout=60_000, polling="raf")
                out["first display"].append((time.monotonic() - started) * 1000)
                wait_kernel_idle(page, timeout=60)
                page.wait_for_timeout(
                    1500
                )  # whatever follows the first page while the user looks at it
        for _ in range(runs):
            page.wait_for_timeout(
                300
            )  # a user looks at a page for longer: the next one is prefetched
            with traffic.counting(out["bytes page turn"]):
                out["page turn (prefetched)"].append(page.evaluate(TURN, ".jl-page-next"))
                page.wait_for_timeout(
                    1000
                )  # with the next page's thumbnails, pushed ahead meanwhile
            out["page seen before"].append(page.evaluate(TURN, ".jl-page-prev"))
            page.wait_for_timeout(300)
            out["page seen before"].append(page.evaluate(TURN, ".jl-page-next"))
        if labeler:
            label_input = page.locator(f"{ROOT} .jl-label-box input")
            for k in range(runs):
                page.wait_for_timeout(300)
                page.evaluate(
                    f"() => {{ const b = document.querySelector('{ROOT} .jl-clear-selection');"
                    " if (!b.disabled) b.click(); }"
                )
                page.wait_for_function(f"() => ({SELECTED})() === 0", polling="raf")
                page.wait_for_timeout(300)
                out["select page"].append(page.evaluate(SELECT))
                page.wait_for_timeout(300)
                label_input.fill(f"bench{k}")
                page.locator(f"{ROOT} button.jl-label-ok:not([disabled])").wait_for()
                page.wait_for_timeout(300)
                try:
                    took = page.evaluate(OK, f"bench{k}")
                except Exception as exc:  # one lost probe must not lose the whole run
                    print(f"  {name}: OK probe bench{k} failed: {exc}", file=sys.stderr)
                    continue
                if took < 0:
                    print(f"  {name}: bench{k} was applied before OK was pressed", file=sys.stderr)
                else:
                    out["OK on 48 -> All Labels"].append(took)
    finally:
        context.close()
        lab.shutdown_kernels()
    return out


def fmt_ms(values: list[float]) -> str:
    return f"{statistics.median(values):7.0f} ms" if values else "      —   "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", default=None, help="git ref of the ipywidgets grid")
    parser.add_argument(
        "--grids", default="ours,ipywidgets,floor", help="which to measure (comma-separated)"
    )
    args = parser.parse_args()
    if args.images < (args.runs + 1) * PAGE:
        parser.error(f"--images must be at least {(args.runs + 1) * PAGE} for --runs {args.runs}")
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    ref = args.baseline or baseline_ref()
    with tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp:
        home = Path(tmp)
        old = extract(ref, home / "baseline")
        lab = LabServer(home / "lab").start()
        try:
            # A folder each: the labels one grid adds (the OK probe's) stay out of the others.
            folders = {}
            for name in ("ours", "ipywidgets", "floor"):
                images = lab.root / f"images-{name}"
                make_demo_images(images, count=args.images, seed=11)
                folders[name] = repr(str(images))
            ours_setup = f"IMAGES = {folders['ours']}\nfrom jupyter_labeler import label"
            old_setup = (
                f"import sys\nsys.path.insert(0, {str(old)!r})\nIMAGES = {folders['ipywidgets']}\n"
                "from jupyter_labeler import label\n"
                f"assert label.__module__.startswith('jupyter_labeler') and "
                f"__import__('jupyter_labeler').__file__.startswith({str(old)!r})"
            )
            floor_setup = f"IMAGES = {folders['floor']}\n" + FLOOR_GRID
            results: dict[str, dict[str, list[float]]] = {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                try:
                    grids: list[tuple[str, str, str, bool]] = [
                        ("ours", ours_setup, LABELER_SHOW, True),
                        ("ipywidgets", old_setup, LABELER_SHOW, True),
                        ("floor", floor_setup, FLOOR_SHOW, False),
                    ]
                    wanted = set(args.grids.split(","))
                    for name, setup, show, labeler in grids:
                        if name not in wanted:
                            continue
                        print(f"measuring {name} ...", file=sys.stderr)
                        results[name] = measure(lab, browser, name, setup, show, args.runs, labeler)
                        for key, runs in results[name].items():
                            print(f"  {key:26s} {[round(v) for v in runs]}", file=sys.stderr)
                finally:
                    browser.close()
        finally:
            lab.stop()
    report(results, args, ref)


def report(results: dict[str, dict[str, list[float]]], args: Any, ref: str) -> None:
    empty: dict[str, list[float]] = {k: [] for k in (*TARGETS_MS, *BYTES)}
    ours = results.get("ours", empty)
    old = results.get("ipywidgets", empty)
    floor = results.get("floor", empty)
    med: Callable[[list[float]], float] = statistics.median
    print(
        f"\n{platform.machine()}, {os.cpu_count()} cores, Chromium headless without GPU, "
        f"{args.images} demo images, {PAGE} a page, 1400x900, medians of {args.runs} runs; "
        f"ipywidgets grid from {ref}"
    )
    header = f"  {'':26s} {'ours':>10s} {'target':>9s} {'ipywidgets':>11s} {'ratio':>7s}"
    print(header + f" {'floor':>9s} {'ratio':>7s}")

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{med(a) / med(b):6.1f}x" if a and b and med(b) else "      —"

    def kb(values: list[float]) -> str:
        return f"{med(values) / 1024:7.0f} KB" if values else "      —   "

    for key, target in TARGETS_MS.items():
        line = f"  {key:26s} {fmt_ms(ours[key])} {target:6d} ms {fmt_ms(old[key])}"
        line += f" {ratio(old[key], ours[key])} {fmt_ms(floor[key])} {ratio(ours[key], floor[key])}"
        print(line)
    for key in BYTES:
        line = f"  {key:26s} {kb(ours[key])} {BYTES_TARGET // 1024:6d} KB {kb(old[key])}"
        line += f" {ratio(old[key], ours[key])} {kb(floor[key])} {ratio(ours[key], floor[key])}"
        print(line)
    print(
        "\n  ratio: ipywidgets / ours (how many times faster or smaller ours is); "
        "floor ratio: ours / floor."
    )
    print("\nevery run:", file=sys.stderr)
    for name, values in results.items():
        for key, runs in values.items():
            print(f"  {name:10s} {key:26s} {[round(v) for v in runs]}", file=sys.stderr)


if __name__ == "__main__":
    main()
