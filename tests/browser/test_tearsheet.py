"""A run's tearsheet.html opened offline in headless Chromium: no request leaves the file, no console error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backtest.config import load_config
from backtest.research.run import execute_run
from tests.browser.conftest import CHROMIUM, watch
from tests.conftest import REPO

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def tearsheet(tmp_path_factory) -> Path:
    import dataclasses
    import datetime as dt

    spec = load_config(REPO / "configs" / "boj_rotation.yaml")
    spec = dataclasses.replace(spec, start=dt.date(2023, 1, 4), end=dt.date(2024, 12, 30))
    folder = execute_run(spec, tmp_path_factory.mktemp("results"), tearsheet=True).folder
    return folder / "tearsheet.html"


def test_no_external_resource_in_the_html(tearsheet):
    text = tearsheet.read_text(encoding="utf-8")
    # links, scripts, images and styles that a browser loads by itself (an <a href> is only followed on a click)
    loaded = re.findall(r'<(?:link|script|img|iframe)\b[^>]*\b(?:href|src)="(https?:[^"]*)"', text)
    loaded += re.findall(r'(?:@import|url\()\s*["\']?(https?:[^"\')]*)', text)
    assert loaded == []
    assert '<link rel="icon" href="data:,">' in text  # an empty inline favicon: nothing to fetch


def test_tearsheet_opens_offline_without_requests(tearsheet, browser):
    page = browser.new_page()
    problems, fetched = watch(page)
    page.goto(tearsheet.as_uri(), wait_until="load")
    page.wait_for_timeout(300)
    assert fetched == []
    assert problems == []
    assert "SYNTHETIC DEMO DATA" in page.locator("#themebt-synthetic").inner_text()
