"""compare.html in a real headless Chromium: it loads offline with no console errors and every chart is drawn."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.report.compare import ROWS
from backtest.report.compare_page import CHART_IDS, TABLE_IDS
from backtest.config import spec_from_mapping
from backtest.research.run import execute_run
from tests.browser.conftest import CHROMIUM, watch
from tests.conftest import REPO

SCREENSHOT = REPO / "test-output" / "compare.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)


def _spec(theme: str, start: str, params: dict, name: str):
    raw = {"theme": theme, "name": name, "benchmark": "TOPIX", "period": {"start": start, "end": "2025-06-30"},
           "params": params, "execution": {"commission_bps": 10, "slippage_bps": 5}}
    return spec_from_mapping(raw, file="test-config")


@pytest.fixture(scope="module")
def page_folder(tmp_path_factory) -> Path:
    """Three short demo runs (one starting later) compared with the quantstats report included."""
    results = tmp_path_factory.mktemp("results")
    specs = [
        _spec("boj_rotation", "2024-01-04", {"basket": ["1631", "1632"], "holding_sessions": 60, "kinds": ["hike"]},
              "boj_rotation"),
        _spec("boj_rotation", "2024-01-04", {"basket": ["1631", "1632"], "holding_sessions": 20, "kinds": ["hike"]},
              "boj_short_hold"),
        _spec("buy_and_hold", "2024-04-01", {}, "buy_and_hold"),
    ]
    folders = [execute_run(spec, results, tearsheet=False).folder for spec in specs]
    out = results / "cmp"
    result = CliRunner().invoke(main, ["compare", *map(str, folders), "--out", str(out), "--bootstrap-samples", "500"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_page_loads_offline_with_every_chart(page_folder, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, fetched = watch(page)

    page.goto((page_folder / "compare.html").as_uri(), wait_until="load")

    assert problems == []
    assert fetched == []  # nothing from the network: the page works offline
    assert page.locator("#themebt-synthetic").is_visible()
    assert "SYNTHETIC DEMO DATA" in page.locator("#themebt-synthetic").inner_text()
    # one tag per synthetic column header in the metrics table: three runs and TOPIX
    assert page.locator("#table-metrics thead .synthetic-tag").count() == 4
    for chart_id in CHART_IDS:
        image = page.locator(f"#{chart_id} img")
        assert image.count() == 1, chart_id
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 300, f"{chart_id} did not draw"
    rows = {"table-metrics": len(ROWS), "table-significance": 3, "table-liquidity": 3, "table-yearly-excess": 2,
            "table-runs": 3}
    assert set(rows) == set(TABLE_IDS)
    for table_id, count in rows.items():
        assert page.locator(f"#{table_id} tbody tr").count() == count, table_id
    # the two boj_rotation runs share data and period: two trials of that theme in the ledger
    trials = page.locator("#dsr-trials").inner_text()
    assert "boj_rotation: N = 2" in trials and "boj_short_hold: N = 2" in trials and "buy_and_hold: N = 1" in trials
    assert "different sessions" in page.locator("#warnings").inner_text()

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 50_000

    # a full-page capture leaves the embedded report blank, so it gets its own screenshot
    report = page.frame_locator("#quantstats-report")
    assert "Key Performance Metrics" in report.locator("body").inner_text()
    shot = SCREENSHOT.with_name("compare-quantstats.png")
    page.locator("#quantstats-report").scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the frame paints once it is in view
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 50_000
    page.close()


def test_quantstats_report_loads_without_errors(page_folder, browser):
    page = browser.new_page()
    problems = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("request", lambda req: problems.append(req.url) if not req.url.startswith(("file://", "data:")) else None)
    page.goto((page_folder / "quantstats.html").as_uri(), wait_until="load")
    assert problems == []
    for name in ("boj_rotation", "boj_short_hold", "buy_and_hold", "TOPIX"):
        assert name in page.locator("body").inner_text()
    page.close()


def test_page_survives_being_moved(page_folder, browser, tmp_path):
    # everything is inline except the sibling quantstats.html: the folder can be copied anywhere
    moved = tmp_path / "moved"
    shutil.copytree(page_folder, moved)
    page = browser.new_page()
    failed = []
    page.on("requestfailed", lambda req: failed.append(req.url))
    page.goto((moved / "compare.html").as_uri(), wait_until="load")
    assert failed == []
    page.close()


@pytest.fixture(scope="module")
def twelve_runs(tmp_path_factory) -> Path:
    """Twelve short synthetic run folders compared with quantstats' report: more runs than its ten colours."""
    import numpy as np

    from tests.report.test_compare import write_run_folder

    results = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(12)
    b = rng.normal(0.0004, 0.011, 130)
    folders = [write_run_folder(results / f"run-{i:04d}", f"theme_number_{i:02d}_with_a_long_name",
                                0.8 * b + rng.normal(0.0001 * i, 0.004, 130), b) for i in range(12)]
    out = results / "cmp"
    result = CliRunner().invoke(main, ["compare", *map(str, folders), "--out", str(out), "--bootstrap-samples", "200"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow  # quantstats draws twelve columns: about 15 s
def test_twelve_runs_fit_a_1400px_page(twelve_runs, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto((twelve_runs / "compare.html").as_uri(), wait_until="load")
    assert problems == []
    assert page.locator("#table-runs tbody tr").count() == 12
    # the runs table wraps its long cells instead of scrolling sideways
    box = page.locator("#table-runs").evaluate("t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
    assert box[0] <= box[1], box
    for chart_id in CHART_IDS:
        width = page.locator(f"#{chart_id} img").evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 300, chart_id
    report = (twelve_runs / "quantstats.html").read_text(encoding="utf-8")
    assert 'id="themebt-eoy"' in report and 'id="eoy-2023-strategy11"' in report  # our year chart, all twelve runs
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT.with_name("compare-12-runs.png")), full_page=True)
    page.close()


@pytest.mark.slow
def test_tear_sheet_year_labels_sit_under_their_bars_on_a_21_year_run(tmp_path, browser):
    spec = spec_from_mapping({"theme": "boj_rotation", "benchmark": "TOPIX",
                              "period": {"start": "2005-01-04", "end": "2025-12-30"},
                              "params": {"basket": ["1631", "1632"], "holding_sessions": 60, "kinds": ["hike"]},
                              "execution": {"commission_bps": 10, "slippage_bps": 5}}, file="test-config")
    folder = execute_run(spec, tmp_path).folder
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto((folder / "tearsheet.html").as_uri(), wait_until="load")
    years = list(range(2005, 2026))
    # each year's tick label is centred between the left edge of its benchmark bar and the right edge of its
    # strategy bar (quantstats' own chart put the labels on the left and the bars on the right: #518)
    boxes = page.evaluate("""years => years.map((y, i) => {
        const bench = document.getElementById(`eoy-${y}-benchmark`).getBoundingClientRect();
        const strat = document.getElementById(`eoy-${y}-strategy`).getBoundingClientRect();
        const tick = document.querySelector(`#themebt-eoy #xtick_${i + 1}`).getBoundingClientRect();
        return [bench.left, strat.right, tick.left + tick.width / 2];
    })""", years)
    for year, (left, right, centre) in zip(years, boxes):
        assert left - 1 <= centre <= right + 1, (year, left, right, centre)
    assert page.locator("#themebt-survivorship").is_visible()
    page.locator("#eoy_returns").screenshot(path=str(SCREENSHOT.with_name("tearsheet-eoy.png")))
    page.close()
