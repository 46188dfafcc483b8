"""Tear sheets and charts from a run's returns: quantstats HTML against TOPIX, and an equity PNG."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import pandas as pd

SYNTHETIC_BANNER = (
    '<div style="background:#b00020;color:#fff;font:bold 15px sans-serif;padding:10px 16px;'
    'text-align:center" id="themebt-synthetic">SYNTHETIC DEMO DATA: these results are not market history</div>'
)


def _quiet_matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    # stable SVG ids, so the same run draws the same file
    matplotlib.rcParams["svg.hashsalt"] = "themebt"
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    # quantstats asks for Arial, which containers rarely have
    matplotlib.rcParams["font.family"] = "DejaVu Sans"


def tearsheet(returns: pd.DataFrame, strategy: str, benchmark: str, path: Path, title: str,
              periods_per_year: float, synthetic: bool) -> None:
    """quantstats' full HTML report of `strategy` against `benchmark` (both columns of returns)."""
    _quiet_matplotlib()
    import quantstats as qs

    # tz-naive dates and a Series benchmark: a ticker string would make quantstats download data
    strat = returns[strategy].iloc[1:].rename(strategy)
    bench = returns[benchmark].iloc[1:].rename(benchmark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qs.reports.html(
            strat, benchmark=bench, output=str(path), title=title,
            periods_per_year=int(round(periods_per_year)), download_filename=str(path),
        )
    # quantstats' template calls an undefined save() on load: a console error in every browser
    text = Path(path).read_text(encoding="utf-8").replace('<body onload="save()">', "<body>", 1)
    if synthetic:
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + SYNTHETIC_BANNER, text, count=1)
    Path(path).write_text(text, encoding="utf-8")


def equity_png(returns: pd.DataFrame, strategy: str, benchmark: str, path: Path, title: str) -> None:
    """Cumulative return of the strategy and the benchmark, one PNG."""
    _quiet_matplotlib()
    import matplotlib.pyplot as plt

    wealth = (1 + returns[[strategy, benchmark]]).cumprod()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(wealth.index, wealth[strategy], label=strategy, color="#1f4e9c", lw=1.3)
    top.plot(wealth.index, wealth[benchmark], label=benchmark, color="#888888", lw=1.1)
    top.set_ylabel("growth of ¥1")
    top.legend(loc="upper left")
    top.set_title(title, fontsize=11)
    top.grid(alpha=0.3)
    excess = wealth[strategy] / wealth[benchmark] - 1
    bottom.fill_between(excess.index, excess, 0, color="#1f4e9c", alpha=0.35)
    bottom.set_ylabel(f"vs {benchmark}")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
