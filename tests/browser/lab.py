"""Drive a real JupyterLab in a real Chromium from tests.

The fixtures in ``conftest.py`` give a test a running :class:`LabServer` (``lab``), whose
``root`` is the folder JupyterLab serves, and a fresh Playwright ``page``. A browser test then
reads like a user's session::

    def test_something(lab, page):
        write_notebook(lab.root, "demo.ipynb", ["import ipywidgets as w", "w.Button(...)"])
        open_notebook(page, lab.url, "demo.ipynb")
        wait_kernel_idle(page)
        run_all_cells(page)
        button = wait_for_selector_in_output(page, ".my-class")
        button.click()
        assert lab.execute("demo.ipynb", "print(state)") == "expected\\n"

Every wait here is bounded; a timeout raises with what was (not) found. Give widgets CSS classes
(``widget.add_class("...")``) so tests can find them. Keys reach ipyevents only while the mouse
is over the watched widget: ``locator.hover()`` before ``page.keyboard.press``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import nbformat

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"

# JupyterLab's startup and a first kernel take a few seconds on a small machine; CI machines
# can be several times slower, so the defaults leave room without letting a hang last forever.
SERVER_START_TIMEOUT = 60.0
DEFAULT_TIMEOUT = 30.0


# Any value works for tornado's XSRF check as long as cookie and header carry the same one.
_XSRF = "browser-tests"


class LabError(RuntimeError):
    """JupyterLab or its kernel did not do what a test needed; the message says what and why."""


class LabHTTPError(LabError):
    """The server answered a REST call with an HTTP error ``status``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------------------------
# The server


@dataclass
class LabServer:
    """A private JupyterLab process on 127.0.0.1, isolated from the user's Jupyter setup.

    ``home`` holds everything it writes: ``root`` (the notebooks it serves), its settings,
    workspaces, runtime (connection files) and data dirs, and ``server.log``. Extensions
    installed in the Python environment (ipywidgets' and ipyevents' labextensions live under
    ``sys.prefix``) are still found, because only the *user* dirs are replaced.
    """

    home: Path
    #: "lab" serves JupyterLab; "notebook" serves Notebook 7 (``jupyter notebook``), isolated
    #: the same way, with its URLs (see :func:`open_notebook`).
    app: str = "lab"
    url: str = ""
    #: Seconds from launching the process until ``/api/status`` answered.
    startup_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root(self) -> Path:
        """The folder JupyterLab serves: write notebooks here."""
        return self.home / "root"

    @property
    def runtime_dir(self) -> Path:
        return self.home / "runtime"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = SERVER_START_TIMEOUT) -> LabServer:
        """Start JupyterLab and return once ``/api/status`` answers."""
        settings = self.home / "settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        # Without this a "would you like to receive news?" toast can cover cell outputs.
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        for sub in ("root", "workspaces", "runtime", "data", "config", "ipython"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.home / "workspaces"),
            # Private user dirs: no stray server/kernel files or user config from elsewhere, and
            # connection files land where execute() can find them.
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_CONFIG_DIR": str(self.home / "config"),
            "IPYTHONDIR": str(self.home / "ipython"),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("JUPYTER_PORT", None)
        if self.app not in ("lab", "notebook"):
            raise ValueError(f"app must be 'lab' or 'notebook', not {self.app!r}")
        app_class = "LabApp" if self.app == "lab" else "JupyterNotebookApp"
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab" if self.app == "lab" else "notebook",
            "--allow-root",
            "--no-browser",
            "--ip=127.0.0.1",
            # Port 0: the OS picks a free port and the server writes it to its runtime file,
            # so there is no window in which another process can take a port we picked.
            "--port=0",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--{app_class}.extension_manager=readonly",
            f"--{app_class}.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--ServerApp.root_dir={self.root}",
        ]
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            # A session of its own, so a failed run can kill the server and its kernels at once.
            self.process = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.url = self._wait_for_url(timeout)
            self._wait_for_status(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_for_url(self, timeout: float) -> str:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        info = self.runtime_dir / f"jpserver-{self.process.pid}.json"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LabError(
                    f"JupyterLab exited with code {self.process.returncode} before it was ready; "
                    f"log:\n{self.log_tail()}"
                )
            try:
                data = json.loads(info.read_text())
            except (OSError, ValueError):  # not written yet, or half written
                time.sleep(0.1)
                continue
            return f"http://127.0.0.1:{data['port']}{data.get('base_url', '/')}"
        raise LabError(
            f"JupyterLab wrote no {info.name} within {timeout:g} s; log:\n{self.log_tail()}"
        )

    def _wait_for_status(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                self.api("GET", "api/status")
            except (OSError, LabError) as exc:
                last = exc
                time.sleep(0.1)
            else:
                return
        raise LabError(
            f"/api/status did not answer within {timeout:g} s ({last}); log:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (it shuts its kernels down), then kill whatever is left of its group."""
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # clean stop; SIGINT would ask for confirmation
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        # Kernels that outlived the server, or a server that hangs.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
        self.process = None

    # -- REST ----------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the Jupyter server's REST API; return the decoded JSON answer (or None)."""
        data = None if body is None else json.dumps(body).encode()
        # self.url is always http://127.0.0.1:<port>/, never a user-supplied scheme.
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("Content-Type", "application/json")
        # Without a token the server guards POST and DELETE with tornado's XSRF check.
        request.add_header("Cookie", f"_xsrf={_XSRF}")
        request.add_header("X-XSRFToken", _XSRF)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            message = f"{method} {path}: HTTP {exc.code} {exc.read()[:500]!r}"
            raise LabHTTPError(message, exc.code) from exc
        return json.loads(raw) if raw else None

    def shutdown_kernels(self) -> None:
        """End every session and kernel, so one test's kernels don't slow down the next test."""
        for session in self.api("GET", "api/sessions"):
            self._delete(f"api/sessions/{session['id']}")
        for kernel in self.api("GET", "api/kernels"):
            self._delete(f"api/kernels/{kernel['id']}")

    def _delete(self, path: str) -> None:
        try:
            self.api("DELETE", path)
        except LabHTTPError as exc:
            if exc.status != 404:  # 404: already gone
                raise

    def kernel_id(self, notebook: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The id of the kernel of the open notebook ``notebook`` (a path relative to root)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("GET", "api/sessions"):
                if session.get("path") == notebook and session.get("kernel"):
                    return str(session["kernel"]["id"])
            time.sleep(0.2)
        raise LabError(f"no kernel for {notebook!r} within {timeout:g} s")

    # -- code in a notebook's kernel -----------------------------------------------------------

    def execute(self, notebook: str, code: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run ``code`` in the kernel of the open notebook ``notebook``; return what it printed.

        The text is stdout plus the ``text/plain`` form of the last expression's value, as in a
        cell's output. An exception in the kernel raises :class:`LabError` with its traceback.
        The code runs beside the page's own connection, sharing the kernel's state: widgets it
        changes update in the page too. Nothing appears in the notebook.
        """
        kernel_id = self.kernel_id(notebook, timeout)
        connection_file = self.runtime_dir / f"kernel-{kernel_id}.json"
        # Playwright's sync API marks its own asyncio loop as running in this thread between
        # calls, so the kernel client gets a thread, and a loop that asyncio.run() closes.
        with ThreadPoolExecutor(max_workers=1) as pool:
            job = pool.submit(asyncio.run, _execute(connection_file, code, timeout))
            return job.result(timeout + 10)


async def _execute(connection_file: Path, code: str, timeout: float) -> str:
    from jupyter_client.asynchronous import AsyncKernelClient

    client = AsyncKernelClient(connection_file=str(connection_file))
    client.load_connection_file()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=timeout)
        msg_id = client.execute(code, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        parts: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(f"the kernel did not finish within {timeout:g} s: {code!r}")
            try:
                msg = await client.get_iopub_msg(timeout=remaining)
            except Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue  # the page's own traffic
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                parts.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                parts.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                tb = _strip_ansi("\n".join(content["traceback"]))
                raise LabError(f"{content['ename']}: {content['evalue']}\n{tb}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(parts)
    finally:
        client.stop_channels()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


# ---------------------------------------------------------------------------------------------
# Notebooks on disk


def write_notebook(root: Path, name: str, cells: list[str]) -> Path:
    """Write a notebook of code cells, one per string, with the ``python3`` kernelspec.

    ``name`` is relative to ``root`` (the server's root); use a different name in every test so
    that JupyterLab does not mix a new notebook up with one it still has open.
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": KERNEL_DISPLAY_NAME,
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# ---------------------------------------------------------------------------------------------
# The page


def _ms(seconds: float) -> float:
    return seconds * 1000


def open_notebook(
    page: Page,
    lab_url: str,
    path: str,
    timeout: float = DEFAULT_TIMEOUT,
    workspace: str | None = None,
) -> None:
    """Open ``path`` (relative to the server's root) and wait until its cells are shown.

    Each call uses a new, empty JupyterLab workspace unless ``workspace`` names one: the
    server remembers a workspace's open tabs, and in the default workspace every notebook an
    earlier test opened would come back, each starting its own kernel. The workspace stays in
    the URL, so ``page.reload()`` restores the layout as it would for a user.

    This does not wait for the kernel: call :func:`wait_kernel_idle` before running cells.
    """
    workspace = workspace or f"test-{uuid.uuid4().hex[:12]}"
    page.goto(f"{lab_url}lab/workspaces/{workspace}/tree/{quote(path)}", timeout=_ms(timeout))
    _wait_for_cells(page, timeout)


def open_in_notebook7(
    page: Page, server_url: str, path: str, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Open ``path`` in Notebook 7 (a :class:`LabServer` with ``app="notebook"``) and wait
    until its cells are shown. Then :func:`wait_notebook7_kernel_idle` before running cells."""
    page.goto(f"{server_url}notebooks/{quote(path)}", timeout=_ms(timeout))
    _wait_for_cells(page, timeout)


def wait_notebook7_kernel_idle(
    page: Page, server: LabServer, path: str, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until Notebook 7 has a kernel for ``path`` and its indicator says idle.

    Notebook 7 has no status bar; its toolbar's indicator says idle before a kernel exists,
    so the server is asked first whether the kernel is there.
    """
    server.kernel_id(path, timeout)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(
        state="attached", timeout=_ms(timeout)
    )


def _wait_for_cells(page: Page, timeout: float) -> None:
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(state="visible", timeout=_ms(timeout))


def wait_kernel_idle(page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until the status bar reads "Python 3 (ipykernel) | Idle".

    The notebook toolbar's indicator says idle before any kernel exists; the status bar names
    the kernel only once it is connected, so its text is the reliable signal.
    """
    status = page.locator("#jp-main-statusbar").get_by_text(
        f"{KERNEL_DISPLAY_NAME} | Idle", exact=True
    )
    status.wait_for(state="visible", timeout=_ms(timeout))


def run_all_cells(page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Run > Run All Cells, then wait until every non-empty code cell shows its number.

    A cell that raises still gets its number, and JupyterLab stops the run there: the later
    cells keep an empty prompt, so this times out rather than pretending they ran. Check
    outputs for errors with :func:`cell_errors`.
    """
    page.locator("#jp-menu-panel").get_by_role("menuitem", name="Run", exact=True).click()
    page.locator(".lm-Menu").get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_cells_executed(page, timeout)


def wait_cells_executed(page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until every non-empty code cell of the current notebook shows ``[n]:``."""
    page.wait_for_function(
        """() => {
            const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            if (!panel) return false;
            return [...panel.querySelectorAll('.jp-CodeCell')].every(cell => {
                const source = cell.querySelector('.cm-content')?.textContent ?? '';
                const prompt = cell.querySelector('.jp-InputArea-prompt')?.textContent ?? '';
                return source.trim() === '' || /\\[\\d+\\]/.test(prompt);
            });
        }""",
        timeout=_ms(timeout),
    )


def cell_errors(page: Page) -> list[str]:
    """The text of every traceback and stderr output in the current notebook."""
    return page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) "
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    ).all_inner_texts()


def wait_for_selector_in_output(page: Page, css: str, timeout: float = DEFAULT_TIMEOUT) -> Locator:
    """Wait until an element matching ``css`` is visible in some cell output; return it.

    Widgets render asynchronously after their cell finished, so wait here rather than query.
    """
    locator = page.locator(f".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output {css}")
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    try:
        locator.first.wait_for(state="visible", timeout=_ms(timeout))
    except PlaywrightTimeoutError as exc:
        outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
        raise LabError(
            f"no visible {css!r} in the outputs within {timeout:g} s; outputs: {outputs!r}"
        ) from exc
    return locator.first


def run_cell(page: Page, code: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Append a code cell with ``code`` to the current notebook, run it, return its output text.

    The text is that of each output (stdout, the value, ...) without prompts, one per line.

    This goes through the page the way a user does (the cell stays in the notebook). To only
    read kernel state, :meth:`LabServer.execute` is faster and leaves the notebook alone.
    """
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    cells = panel.locator(".jp-Cell")
    count = cells.count()
    cells.nth(count - 1).locator(".jp-InputPrompt").click()  # select it, in command mode
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # insert a cell below and select it
    cell = cells.nth(count)
    cell.wait_for(state="visible", timeout=_ms(timeout))
    cell.locator(".cm-content").click()
    # insert_text sends no key events, so the editor's auto-indent and bracket closing
    # cannot change multi-line code on its way in.
    page.keyboard.insert_text(code)
    page.keyboard.press("Control+Enter")  # run in place, so `cell` stays this cell
    cell.locator(".jp-InputArea-prompt", has_text=re.compile(r"\[\d+\]")).wait_for(
        timeout=_ms(timeout)
    )
    outputs = cell.locator(".jp-OutputArea-output").all_inner_texts()
    return "\n".join(text.rstrip("\n") for text in outputs)


def screenshot(target: Page | Locator, path: Path | str) -> Path:
    """Save a PNG of a page or of one element; create the folder; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(path))
    return path
