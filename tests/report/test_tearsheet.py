"""The tear sheet: the same bytes on every rerun, the run's own sessions per year, and labels that mean what they say."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.report.tearsheet import eoy_chart_svg, tearsheet

pytest.importorskip("quantstats")


def _returns(n: int = 260, start: str = "2023-01-04") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    grid = tokyo_sessions(start, pd.Timestamp(start) + pd.Timedelta(days=2 * n + 30))[: n + 1]
    b = rng.normal(0.0004, 0.01, n)
    r = 0.9 * b + rng.normal(0.0001, 0.003, n)
    return pd.DataFrame({"my_theme": np.r_[0.0, r], "TOPIX": np.r_[0.0, b]}, index=pd.DatetimeIndex(grid, name="date"))


def _sheet(folder, name: str) -> str:
    tearsheet(_returns(), "my_theme", "TOPIX", folder / name, "my_theme vs TOPIX", 244.3, True,
              note="survivorship: the basket is a fixed list")
    return (folder / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sheets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sheets")
    return _returns(), [_sheet(folder, "one.html"), folder]


@pytest.mark.slow
def test_written_twice_it_is_byte_identical(sheets):
    _, (one, folder) = sheets
    assert _sheet(folder, "two.html") == one
    assert "<dc:date>" not in one  # matplotlib stamps every SVG with the time it was drawn


def test_it_uses_the_runs_own_sessions_per_year(sheets):
    returns, (text, _) = sheets
    assert "Periods/Year: 244.3" in text
    r = returns["my_theme"].iloc[1:]
    sharpe = r.mean() / r.std(ddof=1) * math.sqrt(244.3)
    assert re.search(r"<tr><td>Sharpe</td><td>[^<]*</td><td>([^<]*)</td>", text).group(1) == f"{sharpe:.2f}".rstrip("0")


def test_one_annualised_information_ratio_and_excess_kurtosis_named_so(sheets):
    returns, (text, _) = sheets
    active = returns["my_theme"].iloc[1:] - returns["TOPIX"].iloc[1:]
    ir = active.mean() / active.std(ddof=1) * math.sqrt(244.3)
    assert f"<tr><td>Information Ratio (annualised)</td><td>-</td><td>{ir:.2f}</td></tr>" in text
    assert "<tr><td>Information Ratio</td>" not in text
    assert "<tr><td>Excess Kurtosis</td>" in text and "<tr><td>Kurtosis</td>" not in text
    # quantstats' small percent sign after CAGR has no glyph in common fonts: the row reads plain CAGR
    assert "<tr><td>CAGR</td>" in text and "\ufe6a" not in text
    kurt = returns["my_theme"].iloc[1:].kurt()  # pandas: Fisher (excess), as quantstats
    assert re.search(r"<tr><td>Excess Kurtosis</td><td>[^<]*</td><td>([^<]*)</td>", text).group(1) == \
        f"{kurt:.2f}".rstrip("0").rstrip(".")
    assert "Prob. Sharpe Ratio (absolute, vs 0)" in text


def test_survivorship_note_and_synthetic_banner(sheets):
    _, (text, _) = sheets
    assert 'id="themebt-survivorship"' in text and "fixed list" in text
    assert 'id="themebt-synthetic"' in text


def test_the_year_by_year_chart_is_ours_with_one_tick_per_year(sheets):
    _, (text, _) = sheets
    assert 'id="themebt-eoy"' in text and 'id="eoy-2023-strategy"' in text


def test_eoy_chart_has_a_labelled_tick_under_each_years_bars_for_21_years():
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2005-01-03", "2025-12-30")
    s = pd.Series(rng.normal(0.0003, 0.01, len(days)), index=days, name="s")
    b = pd.Series(rng.normal(0.0003, 0.01, len(days)), index=days, name="b")
    svg = eoy_chart_svg(s, b)
    for year in range(2005, 2026):
        assert f'id="eoy-{year}-benchmark"' in svg and f'id="eoy-{year}-strategy"' in svg
    assert len(re.findall(r'<g id="xtick_\d+"', svg)) == 21


def test_survivorship_is_noted_whenever_the_basket_is_a_fixed_list():
    from backtest.config import spec_from_mapping
    from backtest.research.run import survivorship_note

    with_basket = spec_from_mapping({"theme": "boj_rotation", "params": {"basket": ["1631", "1632"]}}, file="a.yaml")
    assert survivorship_note(with_basket).startswith("survivorship: the basket is a fixed list of names listed today")
    only_topix = spec_from_mapping({"theme": "buy_and_hold", "params": {"basket": []}}, file="b.yaml")
    assert survivorship_note(only_topix) is None


@pytest.mark.slow
def test_two_processes_write_the_same_tear_sheet(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    sheets = []
    for i in range(2):
        out = tmp_path / f"r{i}"
        subprocess.run([sys.executable, "-m", "backtest.cli.main", "run", str(REPO / "configs/governance_reform.yaml"),
                        "--start", "2022-01-04", "--end", "2024-12-30", "--out", str(out)],
                       check=True, capture_output=True, cwd=REPO)
        (folder,) = [p for p in out.iterdir() if p.is_dir()]
        sheets.append((folder / "tearsheet.html").read_bytes())
    assert sheets[0] == sheets[1]
