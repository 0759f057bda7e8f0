"""Browser fixtures: Debian's Chromium through Playwright, and screenshots kept as test artifacts.

Playwright never downloads a browser here: it drives /usr/bin/chromium (.ci/run
installs Debian's package), launched with --no-sandbox. Without it the tests fail
in CI and are skipped on a developer machine (tests/conftest.py: missing_service).

Screenshots are artifacts of the test run: written to ``<tmp_path>/artifacts/``
(pytest keeps the last runs' temporary folders, see ``--basetemp``), and copied to
OPSGOV_SCREENSHOT_DIR when it is set, to look at them after the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..conftest import missing_service

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    # Playwright's sync API runs an event loop in this thread; the ORM refuses to
    # run in a thread with a running loop unless told it is safe (here it is:
    # nothing else uses this thread's connection while the browser runs).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not CHROMIUM.exists():
        missing_service("Debian's Chromium (/usr/bin/chromium)", "apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """The folder of this test's artifacts (screenshots)."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    return folder


@pytest.fixture
def screenshots(artifacts: Path) -> Callable[[Page, str], Path]:
    """`shoot(page, name)` saves a full-page PNG as an artifact and returns its path."""
    keep = os.environ.get("OPSGOV_SCREENSHOT_DIR")

    def shoot(page: Page, name: str) -> Path:
        path = artifacts / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    return shoot
