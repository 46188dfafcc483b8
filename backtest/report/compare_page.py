"""Write a comparison folder: compare.html (inline SVG charts, no scripts), compare.csv, compare.json and
quantstats' multi-strategy report, built in a hidden temporary folder and renamed into place whole."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import secrets
import warnings
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable

import pandas as pd

from backtest.results import metrics as m
from backtest.report.compare import ROWS, Comparison, format_value, row_label, table_frame, to_json
from backtest.errors import ResultsError
from backtest.report.page_style import PAGE_STYLE
from backtest.report.pages import render
from backtest.report.quantstats_charts import ChartUse
from backtest.results.significance import DISAGREEMENT_MARGIN
from backtest.report.tearsheet import SYNTHETIC_BANNER, eoy_chart_svg, plot_style, quantstats_style
from backtest.results.folder import write_csv, write_json

PAGE = "compare.html"
QUANTSTATS_PAGE = "quantstats.html"
# Ids of every chart <figure>; the browser test checks that each one is on the page and drawn.
CHART_IDS = ("chart-growth", "chart-excess", "chart-drawdown", "chart-rolling-ir", "chart-bootstrap")
TABLE_IDS = ("table-metrics", "table-significance", "table-liquidity", "table-yearly-excess", "table-runs")
BENCH_COLOUR = "#777777"
# (marker, colour) per event group: shapes along the top edge, so events never look like a run's line
EVENT_MARKERS = {"BOJ hike": ("v", "#b00020"), "wage print (MHLW)": ("o", "#1a7f37"),
                 "Shunto first tally": ("s", "#0b6e6e"), "US policy milestone": ("D", "#5b2a86"),
                 "governance milestone": ("^", "#8a5a00")}


def default_out(results_dir: Path, now: dt.datetime | None = None) -> Path:
    """results/compare-<UTC time>-<4 hex>: sorts by time, and two comparisons in one second stay apart."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return Path(results_dir) / f"compare-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


def write_folder(out: Path, fill: Callable[[Path], None]) -> Path:
    """Create `out` whole or not at all, through the one writer of results folders; an existing `out` is
    never touched."""
    from backtest.results.folder import write_folder as write_results_folder

    out = Path(out)

    def taken(path: Path) -> ResultsError:
        return ResultsError(path=str(path), problem="already exists",
                            fix="Give --out a new folder name (compare never overwrites), or leave --out out.")

    if out.exists():
        raise taken(out)
    return write_results_folder(out.parent, lambda: out.name, lambda tmp, name: fill(tmp), taken=taken)


def write_comparison(comparison: Comparison, out: Path, markers: pd.DataFrame | Callable[[], pd.DataFrame],
                     quantstats: bool = True, pool=None) -> Path:
    """The comparison folder at `out`: compare.html, compare.csv, compare.json and (if asked) quantstats.html.

    markers: the event markers of compare.html (backtest.report.compare.event_markers), or a function
    giving them. pool: a backtest.research.workers.LocalPool that draws quantstats' per-run charts
    (backtest.report.quantstats_charts) while this process writes the rest and draws the rest of
    quantstats.html (the same bytes); None draws everything here."""

    def fill(folder: Path) -> None:
        # with a pool, quantstats' per-run charts are drawn there while this process writes the rest
        charts = pool.submit(column_charts, comparison) if quantstats and pool else None
        write_csv(table_frame(comparison), folder / "compare.csv")
        write_json(to_json(comparison), folder / "compare.json")
        from backtest.report.study_page import related_studies

        studies = related_studies(Path(out).parent, [r.manifest.get("theme") for r in comparison.runs])
        page = render_page(comparison, markers() if callable(markers) else markers,
                           QUANTSTATS_PAGE if quantstats else None, studies)
        if quantstats:
            write_quantstats(comparison, folder / QUANTSTATS_PAGE, charts)
        (folder / PAGE).write_text(page, encoding="utf-8")

    return write_folder(out, fill)


# --------------------------------------------------------------------------- quantstats


def write_quantstats(comparison: Comparison, path: Path, charts=None) -> ChartUse:
    """quantstats' HTML report with every run as a column against the benchmark, made to work offline.

    charts: the per-run charts drawn in another process (column_charts, or a Future of it): taken where
    they match the report's calls (backtest.report.quantstats_charts), drawn here where they do not."""
    from backtest.report.quantstats_charts import charts_drawn_elsewhere

    bench = comparison.benchmark_returns.rename(comparison.benchmark)
    title = f"{len(comparison.runs)} runs vs {comparison.benchmark}"
    if comparison.any_synthetic:
        title += " — synthetic demo data"
    with _drawing_settings(comparison) as qs, (charts_drawn_elsewhere(charts) if charts is not None
                                               else nullcontext(ChartUse())) as use:
        # a Series benchmark, never a ticker: a ticker string makes quantstats download prices
        qs.reports.html(comparison.returns.copy(), benchmark=bench, output=str(path), title=title,
                        periods_per_year=float(comparison.periods_per_year), download_filename=str(path))
    with plot_style():
        eoy = eoy_chart_svg(comparison.returns, bench)
    from backtest.report.tearsheet import deterministic_svg, relabel_metrics, replace_eoy_chart, replace_row

    text = deterministic_svg(path.read_text(encoding="utf-8"))
    text = replace_row(text, "Information Ratio", "Information Ratio (per session, not annualised)")
    text = relabel_metrics(text)
    # quantstats' year-by-year chart misplaces its bars on windows longer than about ten years (#518)
    text = replace_eoy_chart(text, eoy)
    # its template fetches a favicon from the web and calls an undefined save() on load
    text = re.sub(r'\s*<link rel="shortcut icon"[^>]*>', "", text)
    text = text.replace('<body onload="save()">', "<body>")
    if comparison.any_synthetic:
        text = text.replace("<body>", "<body>" + SYNTHETIC_BANNER, 1)
    path.write_text(text, encoding="utf-8")
    return use


def column_charts(comparison: Comparison) -> dict[str, bytes]:
    """The per-run charts of write_quantstats's report, drawn under the same settings (in a worker)."""
    from backtest.report.quantstats_charts import draw_column_charts

    with _drawing_settings(comparison):
        return draw_column_charts(comparison.returns.copy(), comparison.benchmark_returns.rename(comparison.benchmark))


@contextmanager
def _drawing_settings(comparison: Comparison):
    """What quantstats draws the comparison's report under; yields the quantstats module."""
    from backtest.report.tearsheet import savefig_without_redraw

    with warnings.catch_warnings(), quantstats_style() as qs, _enough_quantstats_colours(len(comparison.runs) + 1), \
            savefig_without_redraw():
        warnings.simplefilter("ignore")
        yield qs


@contextmanager
def _enough_quantstats_colours(n: int):
    """quantstats draws column i in its palette's colour i + 1 and has ten colours, so ten runs crash it:
    extend its palette (in place, as it hands out that list) for the length of one report."""
    try:
        from quantstats._plotting import core
    except ImportError:
        yield
        return
    palette = getattr(core, "_FLATUI_COLORS", None)
    if not isinstance(palette, list):
        yield
        return
    import matplotlib
    from matplotlib.colors import to_hex

    saved = list(palette)
    extra = [to_hex(c) for c in matplotlib.colormaps["tab20"].colors]
    while len(palette) < n + 1:
        palette.extend(extra)
    try:
        yield
    finally:
        palette[:] = saved


# --------------------------------------------------------------------------- charts


def _colours(n: int) -> list:
    import matplotlib

    # tab10 without its grey, which is the benchmark's colour
    palette = [c for i, c in enumerate(matplotlib.colormaps["tab10"].colors) if i != 7]
    if n > len(palette):
        palette = list(matplotlib.colormaps["tab20"].colors)
    return [palette[i % len(palette)] for i in range(n)]


def _legend(ax, handles=None, names=None) -> None:
    """The legend below the plot, never over the lines: in columns that fit the width, as many rows as it needs."""
    if handles is None:
        handles, names = ax.get_legend_handles_labels()
    ncol = max(1, min(4, len(names)))
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=ncol, fontsize=8, frameon=False)


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # "tight" keeps the legend below the axes inside the image, however many rows it has
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(height: float = 3.6):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, height))
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _percent_axis(ax) -> None:
    from matplotlib.ticker import PercentFormatter

    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def chart_growth(c: Comparison) -> str:
    fig, ax = _figure()
    for label, colour in zip(c.labels, _colours(len(c.labels))):
        ax.plot(c.sessions, (1 + c.returns[label]).cumprod(), color=colour, lw=1.1, label=label)
    ax.plot(c.sessions, (1 + c.benchmark_returns).cumprod(), color=BENCH_COLOUR, lw=1.4, ls="--", label=c.benchmark)
    ax.set_ylabel("growth of ¥1")
    _legend(ax)
    fig.tight_layout()
    return _svg(fig)


def chart_excess(c: Comparison, markers: pd.DataFrame) -> str:
    from matplotlib.lines import Line2D

    fig, ax = _figure(4.2)
    top = ax.get_xaxis_transform()  # x in dates, y in axes fractions: 1.0 is the top edge
    groups = []
    for _, ev in markers.iterrows():
        shape, colour = EVENT_MARKERS.get(ev["group"], ("|", "#555555"))
        ax.axvline(ev["event_date"], color="#9a9a9a", lw=0.6, alpha=0.45, zorder=1)
        ax.plot([ev["event_date"]], [1.0], shape, color=colour, ms=5, transform=top, clip_on=False, zorder=4)
        if ev["group"] not in groups:
            groups.append(ev["group"])
    ax.axhline(0, color="#333333", lw=0.8)
    for label, colour in zip(c.labels, _colours(len(c.labels))):
        excess = (1 + c.returns[label]).cumprod() / (1 + c.run_benchmarks[label]).cumprod() - 1
        ax.plot(c.sessions, excess, color=colour, lw=1.2, label=label, zorder=3)
    _percent_axis(ax)
    ax.set_ylabel(f"cumulative excess vs {c.benchmark}")
    handles, names = ax.get_legend_handles_labels()
    for group in groups:
        shape, colour = EVENT_MARKERS.get(group, ("|", "#555555"))
        handles.append(Line2D([0], [0], marker=shape, color=colour, lw=0, ms=5))
        names.append(group)
    _legend(ax, handles, names)
    fig.tight_layout()
    return _svg(fig)


def chart_drawdown(c: Comparison) -> str:
    fig, ax = _figure()
    for label, colour in zip(c.labels, _colours(len(c.labels))):
        ax.plot(c.sessions, m.drawdown(c.returns[label]), color=colour, lw=1.0, label=label)
    ax.plot(c.sessions, m.drawdown(c.benchmark_returns), color=BENCH_COLOUR, lw=1.3, ls="--", label=c.benchmark)
    _percent_axis(ax)
    ax.set_ylabel("drawdown")
    _legend(ax)
    fig.tight_layout()
    return _svg(fig)


def rolling_window(c: Comparison) -> int:
    return max(2, int(round(c.periods_per_year)))


def chart_rolling_ir(c: Comparison) -> str:
    fig, ax = _figure()
    window = rolling_window(c)
    ax.axhline(0, color="#333333", lw=0.8)
    for label, colour in zip(c.labels, _colours(len(c.labels))):
        ir = m.rolling_information_ratio(c.returns[label], c.run_benchmarks[label], window, c.periods_per_year)
        ax.plot(c.sessions, ir, color=colour, lw=1.0, label=label)
    ax.set_ylabel(f"IR, trailing {window} sessions")
    _legend(ax)
    fig.tight_layout()
    return _svg(fig)


def chart_bootstrap(c: Comparison) -> str:
    fig, ax = _figure(0.9 + 0.45 * len(c.labels))
    ax.axvline(0, color="#333333", lw=0.8)
    for i, (label, colour) in enumerate(zip(c.labels, _colours(len(c.labels)))):
        row = c.metrics[label]
        y = len(c.labels) - 1 - i
        lo, hi, mid = row.get("excess_ci_low"), row.get("excess_ci_high"), row.get("excess_cagr")
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [y, y], color=colour, lw=3, solid_capstyle="butt")
        if mid is not None:
            ax.plot([mid], [y], "o", color="black", ms=4)
    ax.set_yticks(range(len(c.labels)))
    ax.set_yticklabels(list(reversed(c.labels)), fontsize=8)
    ax.set_ylim(-0.7, len(c.labels) - 0.3)
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    ax.set_xlabel(f"excess return vs {c.benchmark} per year (CAGR difference), 95% interval")
    fig.tight_layout()
    return _svg(fig)


# --------------------------------------------------------------------------- the page's data


def _fmt(value, kind: str) -> str:
    return format_value(value, kind, missing="–", grouped=True)


def metric_rows(c: Comparison) -> list[dict]:
    return [{"key": key, "label": row_label(label, c), "cells": [_fmt(c.metrics[col].get(key), kind) for col in c.columns]}
            for key, label, kind in ROWS]


def significance_rows(c: Comparison) -> list[dict]:
    rows = []
    for label in c.labels:
        r = c.metrics[label]
        flags = r.get("daily_monthly_disagree") or []
        row = {"label": label, "synthetic": c.synthetic(label), "trials": _fmt(r.get("trials"), "int"),
               "flags": ", ".join(f.replace("_", " ") for f in flags) or "agree"}
        for key in ("information_ratio", "active_skewness", "active_excess_kurtosis", "expected_max_ir",
                    "alpha_t_stat", "sharpe"):
            row[key] = _fmt(r.get(key), "num")
        for key in ("ir_psr", "ir_dsr", "absolute_psr"):
            row[key] = _fmt(r.get(key), "prob")
        for key in ("excess_cagr", "excess_ci_low", "excess_ci_high"):
            row[key] = _fmt(r.get(key), "pct")
        rows.append(row)
    return rows


def liquidity_rows(c: Comparison) -> list[dict]:
    """Per run, each holding's share of held sessions on which it did not trade (metrics.json's liquidity),
    thinnest first; holdings None: not recorded (a run from an older version)."""
    rows = []
    for label in c.labels:
        held = c.metrics[label].get("untraded")
        holdings = None if held is None else [
            {"ticker": t, "share": _fmt(v["untraded_share"], "pct"), "volume_known": bool(v.get("volume_known"))}
            for t, v in sorted(held.items(), key=lambda kv: -kv[1]["untraded_share"])]
        rows.append({"label": label, "holdings": holdings})
    return rows


def _partial_years(c: Comparison) -> set[int]:
    """Years the window covers only in part, from the Tokyo calendar's sessions of that year."""
    from backtest.market.calendar import sessions as tokyo_sessions

    partial = set()
    for year in (c.sessions[0].year, c.sessions[-1].year):
        try:
            full = tokyo_sessions(f"{year}-01-01", f"{year}-12-31")
        except Exception:  # noqa: BLE001 - a calendar that does not know the year only loses the marker
            continue
        have = int((c.sessions.year == year).sum())
        if len(full) and have < len(full):
            partial.add(year)
    return partial


def yearly_rows(c: Comparison) -> list[dict]:
    bench_year = m.calendar_year_returns(c.benchmark_returns)
    excess = {label: m.calendar_year_returns(c.returns[label]) - m.calendar_year_returns(c.run_benchmarks[label])
              for label in c.labels}
    partial = _partial_years(c)
    rows = []
    for year in bench_year.index:
        cells = []
        for label in c.labels:
            v = float(excess[label].loc[year])
            cells.append({"cls": "pos" if v > 0 else "neg" if v < 0 else "", "text": _fmt(v, "pct")})
        rows.append({"year": year, "partial": year in partial, "excess": cells,
                     "benchmark": _fmt(float(bench_year.loc[year]), "pct")})
    return rows


def run_rows(c: Comparison) -> list[dict]:
    return [{"label": run.label, "synthetic": run.synthetic, "theme": run.manifest.get("theme", ""),
             "run_id": run.run_id, "source": run.source, "span": run.span(), "sessions": f"{len(run.sessions):,d}",
             "folder": str(run.folder)} for run in c.runs]


# --------------------------------------------------------------------------- the page

STYLE = PAGE_STYLE + """
h1{font-size:22px;margin:16px 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd}
tbody th{text-align:left;font-weight:normal;white-space:nowrap}
thead th{max-width:150px}td{white-space:nowrap}
td.pos{color:#17662c}td.neg{color:#a3161c}
.synthetic-tag{display:inline-block;background:#b00020;color:#fff;font-size:10.5px;font-weight:bold;
  padding:1px 5px;border-radius:3px;margin-top:2px}
.warnings li{margin:3px 0}
iframe{width:100%;height:900px;border:1px solid #ccc}
td.wrap{white-space:normal;overflow-wrap:anywhere;text-align:left}
#table-runs{table-layout:fixed;width:100%}#table-runs th,#table-runs td{overflow-wrap:anywhere;white-space:normal}
"""
TEMPLATE = "compare.html.j2"


def render_page(c: Comparison, markers: pd.DataFrame, quantstats_file: str | None,
                studies: list[tuple[str, str]] = ()) -> str:
    """compare.html as one string: no scripts and nothing fetched, so it works offline and from file://.

    studies: (href, label) of event studies beside it on the runs' event families (themebt study)."""
    with plot_style():
        return render(TEMPLATE, page_context(c, markers, quantstats_file, studies))


def page_context(c: Comparison, markers: pd.DataFrame, quantstats_file: str | None, studies=()) -> dict:
    """Everything compare.html.j2 shows, as plain values (the template escapes them); draws the charts."""
    s = c.sessions
    groups = sorted(set(markers["group"])) if len(markers) else []
    event_note = (f"Marked along the top, with a grey line: {', '.join(groups)} ({len(markers)} events, "
                  "on their event dates)." if groups else "No marked events fall in this window.")
    return {
        "style": STYLE, "banner": SYNTHETIC_BANNER, "synthetic": c.any_synthetic,
        "n_runs": len(c.runs), "benchmark": c.benchmark, "first": str(s[0].date()), "last": str(s[-1].date()),
        "n_sessions": f"{len(s):,d}", "periods_per_year": f"{c.periods_per_year:.1f}",
        "warnings": list(c.warnings), "quantstats_file": quantstats_file or "",
        "quantstats_version": _qs_version() if quantstats_file else "", "studies": list(studies),
        "columns": [{"label": col, "synthetic": c.synthetic(col)} for col in c.columns], "labels": list(c.labels),
        "metric_rows": metric_rows(c), "yearly_rows": yearly_rows(c), "significance_rows": significance_rows(c),
        "liquidity_rows": liquidity_rows(c), "run_rows": run_rows(c),
        "charts": {"growth": chart_growth(c), "excess": chart_excess(c, markers), "drawdown": chart_drawdown(c),
                   "rolling_ir": chart_rolling_ir(c), "bootstrap": chart_bootstrap(c)},
        "event_note": event_note, "rolling_window": rolling_window(c), "hac_lags": c.hac_lags,
        "n_obs": len(c.sessions), "ledgers": list(c.ledgers),
        "margins": [f"{k.replace('_', ' ')} {v:g}" for k, v in DISAGREEMENT_MARGIN.items()],
        "trial_items": [{"label": r.label, "n": c.trials[r.label], "source": c.trials_source[r.label],
                         "spread": c.sr_variance_source[r.label]} for r in c.runs],
        "bootstrap_samples": f"{c.bootstrap_samples:,d}", "block_sessions": c.block_sessions, "seed": c.seed,
    }


def _qs_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("quantstats")
    except metadata.PackageNotFoundError:
        return "(unknown version)"
