"""Tear sheets and charts from a run's returns: quantstats HTML against TOPIX, and an equity PNG."""

from __future__ import annotations

import html
import io
import logging
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

SYNTHETIC_BANNER = (
    '<div style="background:#b00020;color:#fff;font:bold 15px sans-serif;padding:10px 16px;'
    'text-align:center" id="themebt-synthetic">SYNTHETIC DEMO DATA: these results are not market history</div>'
)


# The theme quantstats 0.0.86 sets with seaborn when it is imported (quantstats/_plotting/core.py);
# quantstats is pinned to 0.0.86, so this copy cannot drift from it.
QUANTSTATS_THEME = {
    "font_scale": 1.1,
    "rc": {
        "figure.figsize": (10, 6),
        "axes.facecolor": "white",
        "figure.facecolor": "white",
        "grid.color": "#dddddd",
        "grid.linewidth": 0.5,
        "lines.linewidth": 1.5,
        "text.color": "#333333",
        "xtick.color": "#666666",
        "ytick.color": "#666666",
    },
}


def _quiet_matplotlib():
    """Our fixed settings, set inside an rc_context (quantstats_style, plot_style): never on the process's rcParams."""
    import matplotlib

    # stable SVG ids, so the same run draws the same file
    matplotlib.rcParams["svg.hashsalt"] = "themebt"
    # quantstats asks for Arial, which containers rarely have
    matplotlib.rcParams["font.family"] = "DejaVu Sans"


@contextmanager
def _quiet_font_manager():
    """No 'font not found' warnings while we draw; the logger's level is put back afterwards."""
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _restored_colour_codes():
    """seaborn's theme (set by quantstats' import) redefines the one-letter colours 'b', 'g', 'r'... for
    the whole process; put them back afterwards."""
    from matplotlib import colors

    named = colors.get_named_colors_mapping()
    saved = {code: named[code] for code in "bgrmyckw" if code in named}
    try:
        yield
    finally:
        named.update(saved)
        cache = getattr(named, "cache", None)
        if isinstance(cache, dict):
            cache.clear()


@contextmanager
def quantstats_style():
    """The settings quantstats draws under, for the length of the block only: matplotlib's defaults,
    quantstats' own seaborn theme, DejaVu Sans and a fixed SVG salt. The process's rcParams, style and
    colour codes (a notebook's) are as they were afterwards, and the pictures do not depend on them.
    Yields the quantstats module. No backend switch: figures are saved straight to SVG or PNG."""
    import matplotlib
    import matplotlib.style

    with _restored_colour_codes(), _quiet_font_manager(), matplotlib.rc_context():
        matplotlib.style.use("default")
        import quantstats as qs  # its first import sets its theme: undone when the context closes
        import seaborn

        seaborn.set_theme(**QUANTSTATS_THEME)  # again, for a quantstats imported earlier by someone else
        _quiet_matplotlib()
        yield qs


@contextmanager
def plot_style():
    """Matplotlib's defaults for our own charts, for the length of the block only."""
    import matplotlib
    import matplotlib.style

    with _quiet_font_manager(), matplotlib.rc_context():
        matplotlib.style.use("default")
        _quiet_matplotlib()
        yield


def tearsheet(returns: pd.DataFrame, strategy: str, benchmark: str, path: Path, title: str,
              periods_per_year: float, synthetic: bool, note: str | None = None) -> None:
    """quantstats' full HTML report of `strategy` against `benchmark` (both columns of returns), made honest.

    quantstats gets the run's own sessions per year (a float such as 244.8). Afterwards: its
    information ratio row (per session) is replaced by the annualised one, its kurtosis row is named
    excess kurtosis (pandas' Fisher kurtosis), its absolute-Sharpe PSR is labelled so, its
    year-by-year chart (which misplaces bars after about ten years, quantstats #518) is replaced by
    our own, embedded SVG dates are removed so a rerun writes the same bytes, and `note` (the
    basket's survivorship) is shown under the title.
    """
    from backtest.results.metrics import relative

    # tz-naive dates and a Series benchmark: a ticker string would make quantstats download data
    strat = returns[strategy].iloc[1:].rename(strategy)
    bench = returns[benchmark].iloc[1:].rename(benchmark)
    with warnings.catch_warnings(), quantstats_style() as qs, savefig_without_redraw():
        warnings.simplefilter("ignore")
        qs.reports.html(
            strat, benchmark=bench, output=str(path), title=title,
            periods_per_year=float(periods_per_year), download_filename=str(path),
        )
        eoy = eoy_chart_svg(strat, bench)
    # quantstats' template calls an undefined save() on load: a console error in every browser
    text = Path(path).read_text(encoding="utf-8").replace('<body onload="save()">', "<body>", 1)
    text = offline_favicon(text)
    text = deterministic_svg(text)
    ir = relative(strat, bench, periods_per_year)["information_ratio"]
    text = replace_row(text, "Information Ratio", "Information Ratio (annualised)",
                       ["-", "-" if pd.isna(ir) else f"{ir:.2f}"])
    text = relabel_metrics(text)
    text = replace_eoy_chart(text, eoy)
    # the figure is used unrounded in every calculation; its header shows it as metrics.json does
    text = text.replace(f"Periods/Year: {float(periods_per_year)}", f"Periods/Year: {float(periods_per_year):.1f}", 1)
    if note:
        notice = ('<p id="themebt-survivorship" style="font:13px sans-serif;color:#7a4b00;background:#fff6d6;'
                  f'padding:6px 12px;margin:6px 0">{html.escape(note)}</p>')
        text = re.sub(r"(</h4>)", lambda m: m.group(1) + notice, text, count=1)
    if synthetic:
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + SYNTHETIC_BANNER, text, count=1)
    Path(path).write_text(text, encoding="utf-8")


@contextmanager
def savefig_without_redraw():
    """pyplot.savefig draws the figure once more after saving it (draw_idle, for a GUI window); on the
    Agg backend that drawing is thrown away, and quantstats saves every chart of its report through it.
    Inside this block pyplot.savefig only saves (the same bytes: nothing reads the extra drawing)."""
    import matplotlib.pyplot as plt

    original = plt.savefig

    def savefig(*args, **kwargs):
        return plt.gcf().savefig(*args, **kwargs)

    plt.savefig = savefig
    try:
        yield
    finally:
        plt.savefig = original


def offline_favicon(text: str) -> str:
    """quantstats' template links a favicon on the web: opened offline, the page would try to fetch it.
    Swap it for an empty inline icon, so the browser asks for nothing."""
    text = re.sub(r'\s*<link rel="(?:shortcut )?icon"[^>]*>', "", text)
    return re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + '\n    <link rel="icon" href="data:,">', text, count=1)


def deterministic_svg(text: str) -> str:
    """Drop the creation date matplotlib writes into every SVG, so the same run gives the same bytes."""
    return re.sub(r"\s*<dc:date>[^<]*</dc:date>", "", text)


def relabel_metrics(text: str) -> str:
    """quantstats' metric labels said as they are computed: its kurtosis is the excess kurtosis, its
    probabilistic Sharpe ratio is against 0, and its "CAGR﹪" carries a small percent sign that common
    fonts lack (a missing-glyph box in the browser)."""
    text = replace_row(text, "Kurtosis", "Excess Kurtosis")
    text = replace_row(text, "Prob. Sharpe Ratio", "Prob. Sharpe Ratio (absolute, vs 0)")
    return replace_row(text, "CAGR\ufe6a", "CAGR")


def replace_row(text: str, label: str, new_label: str, values: list[str] | None = None) -> str:
    """Rename a row of quantstats' metrics table (`<tr><td>label</td>...`), optionally with new cells."""
    def swap(m: re.Match) -> str:
        cells = m.group(1) if values is None else "".join(f"<td>{html.escape(v)}</td>" for v in values)
        return f"<tr><td>{html.escape(new_label)}</td>{cells}</tr>"

    return re.sub(rf"<tr><td>{re.escape(label)}</td>((?:<td>[^<]*</td>)*)</tr>", swap, text)


def eoy_chart_svg(strategy: pd.Series | pd.DataFrame, benchmark: pd.Series) -> str:
    """Inline SVG: the compounded return of each calendar year, the benchmark and each strategy side by side.

    Replaces quantstats' "EOY Returns vs Benchmark" chart, whose bars and year labels drift apart on
    runs longer than about ten years (quantstats #518). Years sit on a categorical axis, one tick per
    group of bars, so labels stay under their bars for any number of years. `strategy`: one Series,
    or a DataFrame with one column per run (compare's report).
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.ticker import PercentFormatter

    from backtest.results.metrics import calendar_year_returns

    frame = strategy.to_frame() if isinstance(strategy, pd.Series) else strategy
    b = calendar_year_returns(benchmark)
    years = [int(y) for y in b.index]
    x = np.arange(len(years), dtype=float)
    width = 0.8 / (len(frame.columns) + 1)
    palette = ["#348dc1", *(to_hex(c) for c in matplotlib.colormaps["tab20"].colors)]
    fig, ax = plt.subplots(figsize=(8, 4))
    series = [("benchmark", benchmark.name, b, "#fedd78")]
    for i, col in enumerate(frame.columns):
        role = "strategy" if len(frame.columns) == 1 else f"strategy{i}"
        series.append((role, col, calendar_year_returns(frame[col]).reindex(b.index), palette[i % len(palette)]))
    for k, (role, name, values, colour) in enumerate(series):
        offset = -0.4 + width * (k + 0.5)
        bars = ax.bar(x + offset, values.to_numpy(), width, color=colour, label=str(name))
        # ids the browser test uses to check that each year's label sits under its own bars
        for year, bar in zip(years, bars):
            bar.set_gid(f"eoy-{year}-{role}")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([str(y) for y in years], rotation=45 if len(years) > 8 else 0, fontsize=8)
    ax.set_xlim(-0.6, len(years) - 0.4)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title("EOY Returns vs Benchmark", fontweight="bold")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    return '<div id="themebt-eoy">' + svg[svg.index("<svg"):] + "</div>"


def replace_eoy_chart(text: str, eoy: str) -> str:
    """Swap the contents of quantstats' `<div id="eoy_returns">` for our chart."""
    return re.sub(r'(<div id="eoy_returns">).*?(</div>)', lambda m: m.group(1) + eoy + m.group(2), text,
                  count=1, flags=re.S)


def equity_figure(returns: pd.DataFrame, strategy: str, benchmark: str, title: str):
    """Cumulative return of the strategy and the benchmark, and the excess under it: a matplotlib Figure.

    Drawn on a bare `matplotlib.figure.Figure` (no pyplot, no backend switch) in matplotlib's default
    style, inside an rc_context: the process's backend, style and fonts (a notebook's) are left as they were.
    """
    import matplotlib
    import matplotlib.style
    from matplotlib.figure import Figure

    with matplotlib.rc_context():
        # the same picture whatever style the process has set
        matplotlib.style.use("default")
        matplotlib.rcParams["font.family"] = "DejaVu Sans"
        wealth = (1 + returns[[strategy, benchmark]]).cumprod()
        fig = Figure(figsize=(10, 6))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
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
    return fig


def save_png(fig, path: Path) -> None:
    """Write a Figure as PNG without a software tag, so the same figure gives the same bytes."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.style.use("default")
        fig.savefig(path, dpi=90, metadata={"Software": None})


def equity_png(returns: pd.DataFrame, strategy: str, benchmark: str, path: Path, title: str) -> None:
    """Cumulative return of the strategy and the benchmark, one PNG; leaves matplotlib's global state alone."""
    save_png(equity_figure(returns, strategy, benchmark, title), path)
