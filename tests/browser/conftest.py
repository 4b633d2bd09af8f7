"""Fixtures for real-browser tests: one JupyterLab and one Chromium per run, a fresh page per test.

- ``lab``: a :class:`lab.LabServer` (``lab.url``, ``lab.root``, ``lab.execute(...)``).
- ``browser``: a headless Playwright ``Browser`` on Debian's Chromium.
- ``page``: a new browser context and page for one test; on failure a screenshot lands in
  ``test-artifacts/``; afterwards every kernel is shut down.
- ``artifacts_dir``: ``test-artifacts/`` at the repository root (ignored by git).

Every test in this folder is marked ``browser`` and is skipped, with the reason, when Chromium
or Playwright is missing.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .lab import CHROMIUM, CHROMIUM_ARGS, DEFAULT_TIMEOUT, LabServer, screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright Python package is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    for item in items:
        if HERE not in item.path.parents:
            continue  # this hook sees the whole run's items
        item.add_marker(pytest.mark.browser)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    # Keep each phase's report on the item, so the page fixture knows whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = REPO_ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    server = LabServer(tmp_path_factory.mktemp("jupyterlab")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # The sync API refuses to run inside a running asyncio loop; plain pytest has none.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(
    request: pytest.FixtureRequest, browser: Browser, lab: LabServer, artifacts_dir: Path
) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(DEFAULT_TIMEOUT * 1000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
            try:
                screenshot(page, artifacts_dir / f"{name}-failure.png")
            except Exception as exc:  # the page may be what broke; keep the test's own error
                request.node.add_report_section("teardown", "screenshot", repr(exc))
        context.close()
        lab.shutdown_kernels()
