"""Tear sheets and charts leave the process's matplotlib alone: rcParams, style, backend, colour codes and
the font manager's log level are the same before and after, even on the call that first imports
quantstats (which sets a seaborn theme and Arial for the whole process when imported)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a tear sheet is quantstats' full report: about 5 s
def test_tearsheet_and_chart_leave_rcparams_as_they_were(tmp_path):
    # a fresh process, so that this call is the one that imports quantstats
    code = textwrap.dedent(f"""
        import logging
        import sys
        import matplotlib
        matplotlib.use("svg")
        from matplotlib import colors
        import backtest as tb

        assert "quantstats" not in sys.modules
        run = tb.run({str(ROOT / "configs" / "boj_rotation.yaml")!r}, data="demo",
                     start="2020-01-06", end="2020-06-30")
        before = dict(matplotlib.rcParams)
        blue = colors.to_rgba("b")
        level = logging.getLogger("matplotlib.font_manager").level
        run.tearsheet({str(tmp_path / "sheet.html")!r})
        after_sheet = dict(matplotlib.rcParams)
        run.chart({str(tmp_path / "chart.png")!r})
        after_chart = dict(matplotlib.rcParams)
        assert "quantstats" in sys.modules
        changed = sorted(k for k in before if before[k] != after_sheet.get(k))
        print("sheet", changed)
        print("chart", sorted(k for k in before if before[k] != after_chart.get(k)))
        print("backend", matplotlib.get_backend())
        print("blue", colors.to_rgba("b") == blue)
        print("font logger", logging.getLogger("matplotlib.font_manager").level == level)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["sheet []", "chart []", "backend svg", "blue True", "font logger True"]
    assert (tmp_path / "sheet.html").stat().st_size > 0


@pytest.mark.slow
def test_the_tearsheet_does_not_depend_on_the_process_style(tmp_path):
    """A notebook's style (here a grid, a serif font and thick lines) does not reach the tear sheet."""
    import matplotlib

    import backtest as tb
    from backtest.report.tearsheet import tearsheet

    run = tb.run(ROOT / "configs" / "boj_rotation.yaml", data="demo", start="2020-01-06", end="2020-06-30")
    c = run.computed
    args = (c.result.returns, c.result.strategy_name, c.result.benchmark)
    tearsheet(*args, tmp_path / "plain.html", "t", c.periods_per_year, True)
    with matplotlib.rc_context({"font.family": "serif", "axes.grid": False, "lines.linewidth": 4.0,
                                "axes.facecolor": "#eaeaf2", "font.size": 15}):
        tearsheet(*args, tmp_path / "styled.html", "t", c.periods_per_year, True)
    assert (tmp_path / "plain.html").read_bytes() == (tmp_path / "styled.html").read_bytes()
