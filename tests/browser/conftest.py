"""Headless Chromium for the page tests: Debian's browser (a test tool's own download fails here), off the network."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# no sandbox: the tests run as root in a container; the rest keeps Chromium off the network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def watch(page) -> tuple[list[str], list[str]]:
    """(problems, fetched) filled as the page runs: console errors, page errors and failed requests; and every
    request that leaves the machine (anything but file: and data: URLs)."""
    problems: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.on("request", lambda req: fetched.append(req.url) if not req.url.startswith(("file://", "data:")) else None)
    return problems, fetched
