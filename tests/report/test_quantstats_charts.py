"""quantstats' per-run charts drawn in another process: the report is the same bytes, whichever drew them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.report.compare import compare_runs
from backtest.report.compare_page import column_charts, write_quantstats
from backtest.report.quantstats_charts import chart_key
from tests.report.test_compare import _series, write_run_folder

pytest.importorskip("quantstats")


@pytest.fixture
def three_runs(tmp_path):
    r1, b = _series(1)
    r2, _ = _series(2, beta=0.8, edge=0.0003)
    r3, _ = _series(3, beta=1.1, edge=-0.0002)
    return [write_run_folder(tmp_path / f"run-{k}", name, r, b)
            for k, (name, r) in enumerate((("alpha_theme", r1), ("beta_theme", r2), ("gamma_theme", r3)))]


def test_charts_drawn_apart_give_the_report_drawn_whole(three_runs, tmp_path):
    c = compare_runs(three_runs)
    whole = write_quantstats(c, tmp_path / "whole.html")
    assert (whole.taken, whole.drawn_here) == (0, 0)
    charts = column_charts(c)
    assert len(charts) == 3 * 3  # drawdown periods, heatmap and distribution of each run
    apart = write_quantstats(c, tmp_path / "apart.html", charts)
    assert (apart.taken, apart.drawn_here) == (9, 0)  # every per-run chart came from the other drawing
    assert (tmp_path / "apart.html").read_bytes() == (tmp_path / "whole.html").read_bytes()


def test_a_chart_that_does_not_match_is_drawn_here(three_runs, tmp_path):
    """Charts drawn for other returns are never used: the report draws its own, and is the same."""
    c = compare_runs(three_runs)
    write_quantstats(c, tmp_path / "whole.html")
    other = compare_runs(three_runs[:2])
    use = write_quantstats(c, tmp_path / "mixed.html", column_charts(other))
    assert use.drawn_here == 3 and use.taken == 6  # gamma_theme's three were not drawn for this report
    assert (tmp_path / "mixed.html").read_bytes() == (tmp_path / "whole.html").read_bytes()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-0.1, max_value=0.1), min_size=2, max_size=20), st.integers(0, 19),
       st.floats(min_value=1e-9, max_value=1e-3))
def test_a_chart_key_tells_apart_series_that_differ_anywhere(values, where, bump):
    index = pd.date_range("2024-01-04", periods=len(values), freq="D")
    one = pd.Series(values, index=index, name="x")
    other = one.copy()
    other.iloc[where % len(values)] += bump
    kwargs = {"title": "x", "savefig": {"fname": None}}
    assert chart_key("distribution", (one,), kwargs) == chart_key("distribution", (one.copy(),), {"title": "x"})
    assert chart_key("distribution", (one,), kwargs) != chart_key("distribution", (other,), kwargs)
    assert chart_key("distribution", (one,), kwargs) != chart_key("distribution", (one.rename("y"),), kwargs)
    assert chart_key("distribution", (one,), kwargs) != chart_key("distribution", (one,), {"title": "y"})
    shifted = pd.Series(values, index=index + pd.Timedelta(days=1), name="x")
    assert chart_key("distribution", (one,), kwargs) != chart_key("distribution", (shifted,), kwargs)
    assert chart_key("drawdowns_periods", (one,), kwargs) != chart_key("distribution", (one,), kwargs)
    assert np.isfinite(one.to_numpy()).all()
