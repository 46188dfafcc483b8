"""study.html in a real headless Chromium: it loads offline with no console errors, the chart is drawn, tables filled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.report.study_page import CHART_IDS, TABLE_IDS
from tests.browser.conftest import CHROMIUM, watch
from tests.conftest import REPO

SCREENSHOT = REPO / "test-output" / "study.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def study_page(tmp_path_factory) -> Path:
    """A BOJ-hike study next to a comparison that holds a boj_rotation run, so the page links to it."""
    results = tmp_path_factory.mktemp("results")
    cmp = results / "compare-20260101T000000-beef"
    cmp.mkdir()
    (cmp / "compare.json").write_text(json.dumps({"runs": [{"theme": "boj_rotation"}, {"theme": "buy_and_hold"}]}))
    (cmp / "compare.html").write_text("<!DOCTYPE html><html><body>compare</body></html>")
    result = CliRunner().invoke(main, ["study", "--family", "boj", "--kind", "hike", "--basket", "1631,1632",
                                       "--after", "20", "--out", str(results)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return Path(result.stdout.splitlines()[-1])


def test_study_page_loads_offline_with_its_chart_and_tables(study_page, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, fetched = watch(page)

    page.goto(study_page.as_uri(), wait_until="load")

    assert problems == [] and fetched == []
    assert "SYNTHETIC DEMO DATA" in page.locator("#themebt-synthetic").inner_text()
    for chart_id in CHART_IDS:
        width = page.locator(f"#{chart_id} img").evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 300, f"{chart_id} did not draw"
    rows = {"table-tests": 3, "table-events": 5}  # horizons 1, 5, 20; the 2006-2025 hikes before December 2025
    assert set(rows) == set(TABLE_IDS)
    for table_id, count in rows.items():
        assert page.locator(f"#{table_id} tbody tr").count() == count, table_id
    assert "2000-08-11 boj:hike" in page.locator("#skipped").inner_text()
    link = page.locator("#compare-links a")
    assert link.count() == 1 and "boj_rotation" in link.inner_text()
    link.click()
    page.wait_for_load_state("load")
    assert page.url.endswith("compare-20260101T000000-beef/compare.html")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.goto(study_page.as_uri(), wait_until="load")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 30_000
    page.close()
