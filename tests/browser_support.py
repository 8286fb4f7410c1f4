"""A real headless browser for tests: Debian's chromium driven by Playwright.

Reusable by any test that needs to look at a page (the dashboard, the Dagster UI):

    from browser_support import chromium_browser  # noqa: F401  (the fixture)

    @pytest.mark.browser
    def test_page(chromium_browser): page = chromium_browser.new_page() ...

`chromium_browser` is a session fixture: one browser per test session, a new page (or
context) per test. Chromium is installed with apt-get when missing (as root, after
`apt-get update`), so CI on a fresh machine passes; the tests are skipped with a clear
message only when neither chromium nor apt is there. Playwright's own browser download
is never used: it launches /usr/bin/chromium with flags that keep it from calling home.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def ensure_chromium() -> Path:
    """Path of Debian's chromium, installing it if needed; skips the test if impossible."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip("Debian chromium is not installed and apt-get is not available")
    if os.geteuid() != 0:
        pytest.skip("Debian chromium is not installed and installing it needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    if not CHROMIUM.exists():
        pytest.fail("apt-get installed chromium but /usr/bin/chromium is missing")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[object]:
    """A headless chromium (playwright.sync_api.Browser) for the whole session."""
    executable = ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
