"""Write a comparison folder: compare.html (inline SVG charts, no scripts), compare.csv, compare.json and
quantstats' multi-strategy report, built in a hidden temporary folder and renamed into place whole."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import re
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pandas as pd

from backtest.results import metrics as m
from backtest.report.compare import ROWS, Comparison, format_value, row_label, table_frame, to_json
from backtest.errors import ResultsError
from backtest.report.page_style import PAGE_STYLE
from backtest.results.significance import DISAGREEMENT_MARGIN
from backtest.report.tearsheet import SYNTHETIC_BANNER, _quiet_matplotlib, eoy_chart_svg
from backtest.results.folder import write_csv, write_json

PAGE = "compare.html"
QUANTSTATS_PAGE = "quantstats.html"
# Ids of every chart <figure>; the browser test checks that each one is on the page and drawn.
CHART_IDS = ("chart-growth", "chart-excess", "chart-drawdown", "chart-rolling-ir", "chart-bootstrap")
TABLE_IDS = ("table-metrics", "table-significance", "table-liquidity", "table-yearly-excess", "table-runs")
BENCH_COLOUR = "#777777"
# (marker, colour) per event group: shapes along the top edge, so events never look like a run's line
EVENT_MARKERS = {"BOJ hike": ("v", "#b00020"), "wage print (MHLW)": ("o", "#1a7f37"),
                 "Shunto first tally": ("s", "#0b6e6e"), "US policy milestone": ("D", "#5b2a86")}


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


def write_comparison(comparison: Comparison, out: Path, markers: pd.DataFrame, quantstats: bool = True,
                     pool=None) -> Path:
    """The comparison folder at `out`: compare.html, compare.csv, compare.json and (if asked) quantstats.html.

    pool: a backtest.research.workers.LocalPool to draw quantstats.html in while this process writes the rest
    (the same bytes); None draws it here."""

    def fill(folder: Path) -> None:
        drawing = pool.submit(write_quantstats, comparison, folder / QUANTSTATS_PAGE) if quantstats and pool else None
        write_csv(table_frame(comparison), folder / "compare.csv")
        write_json(to_json(comparison), folder / "compare.json")
        if drawing is not None:
            drawing.result()
        elif quantstats:
            write_quantstats(comparison, folder / QUANTSTATS_PAGE)
        from backtest.report.study_page import related_studies

        studies = related_studies(Path(out).parent, [r.manifest.get("theme") for r in comparison.runs])
        (folder / PAGE).write_text(render_page(comparison, markers, QUANTSTATS_PAGE if quantstats else None,
                                               studies), encoding="utf-8")

    return write_folder(out, fill)


# --------------------------------------------------------------------------- quantstats


def write_quantstats(comparison: Comparison, path: Path) -> None:
    """quantstats' HTML report with every run as a column against the benchmark, made to work offline."""
    _quiet_matplotlib()
    import quantstats as qs

    bench = comparison.benchmark_returns.rename(comparison.benchmark)
    title = f"{len(comparison.runs)} runs vs {comparison.benchmark}"
    if comparison.any_synthetic:
        title += " — synthetic demo data"
    from backtest.report.tearsheet import savefig_without_redraw

    with warnings.catch_warnings(), _enough_quantstats_colours(len(comparison.runs) + 1), savefig_without_redraw():
        warnings.simplefilter("ignore")
        # a Series benchmark, never a ticker: a ticker string makes quantstats download prices
        qs.reports.html(comparison.returns.copy(), benchmark=bench, output=str(path), title=title,
                        periods_per_year=float(comparison.periods_per_year), download_filename=str(path))
    with _plot_style():
        eoy = eoy_chart_svg(comparison.returns, bench)
    from backtest.report.tearsheet import deterministic_svg, replace_eoy_chart, replace_row

    text = deterministic_svg(path.read_text(encoding="utf-8"))
    text = replace_row(text, "Information Ratio", "Information Ratio (per session, not annualised)")
    text = replace_row(text, "Kurtosis", "Excess Kurtosis")
    text = replace_row(text, "Prob. Sharpe Ratio", "Prob. Sharpe Ratio (absolute, vs 0)")
    # quantstats' year-by-year chart misplaces its bars on windows longer than about ten years (#518)
    text = replace_eoy_chart(text, eoy)
    # its template fetches a favicon from the web and calls an undefined save() on load
    text = re.sub(r'\s*<link rel="shortcut icon"[^>]*>', "", text)
    text = text.replace('<body onload="save()">', "<body>")
    if comparison.any_synthetic:
        text = text.replace("<body>", "<body>" + SYNTHETIC_BANNER, 1)
    path.write_text(text, encoding="utf-8")


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


@contextmanager
def _plot_style():
    """Matplotlib's defaults for our charts, whatever quantstats' import did to the global style."""
    import matplotlib
    import matplotlib.style

    _quiet_matplotlib()
    with matplotlib.rc_context():
        matplotlib.style.use("default")
        _quiet_matplotlib()
        yield


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


# --------------------------------------------------------------------------- tables


def _fmt(value, kind: str) -> str:
    return format_value(value, kind, missing="–", grouped=True)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _name(label: str) -> str:
    """A column name that may break after its underscores, so long theme names do not widen the table."""
    return "_<wbr>".join(_e(part) for part in str(label).split("_"))


def _synthetic_tag(on: bool) -> str:
    return '<br><span class="synthetic-tag">synthetic demo data</span>' if on else ""


def metrics_table(c: Comparison) -> str:
    head = "".join(f"<th>{_name(col)}{_synthetic_tag(c.synthetic(col))}</th>" for col in c.columns)
    rows = []
    for key, label, kind in ROWS:
        cells = "".join(f"<td>{_fmt(c.metrics[col].get(key), kind)}</td>" for col in c.columns)
        rows.append(f'<tr data-metric="{key}"><th scope="row">{_e(row_label(label, c))}</th>{cells}</tr>')
    return (f'<table id="table-metrics"><thead><tr><th>metric</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def significance_table(c: Comparison) -> str:
    rows = []
    for label in c.labels:
        r = c.metrics[label]
        flags = r.get("daily_monthly_disagree") or []
        rows.append(
            f"<tr><th scope=\"row\">{_e(label)}{_synthetic_tag(c.synthetic(label))}</th>"
            f"<td>{_fmt(r.get('information_ratio'), 'num')}</td><td>{_fmt(r.get('active_skewness'), 'num')}</td>"
            f"<td>{_fmt(r.get('active_excess_kurtosis'), 'num')}</td><td>{_fmt(r.get('ir_psr'), 'prob')}</td>"
            f"<td>{_fmt(r.get('trials'), 'int')}</td>"
            f"<td>{_fmt(r.get('expected_max_ir'), 'num')}</td><td><strong>{_fmt(r.get('ir_dsr'), 'prob')}</strong></td>"
            f"<td>{_fmt(r.get('alpha_t_stat'), 'num')}</td>"
            f"<td>{_fmt(r.get('sharpe'), 'num')}</td><td>{_fmt(r.get('absolute_psr'), 'prob')}</td>"
            f"<td>{_fmt(r.get('excess_cagr'), 'pct')}</td>"
            f"<td>{_fmt(r.get('excess_ci_low'), 'pct')} to {_fmt(r.get('excess_ci_high'), 'pct')}</td>"
            f"<td>{_e(', '.join(f.replace('_', ' ') for f in flags) or 'agree')}</td></tr>")
    head = ("<tr><th>run</th><th>IR (annualised)</th><th>skewness of active</th><th>excess kurtosis of active</th>"
            "<th>PSR of IR</th><th>trials N</th><th>E[max IR] of N trials</th><th>DSR of IR</th>"
            f"<th>alpha t-stat (Newey-West, {c.hac_lags} lags)</th><th>absolute Sharpe</th>"
            "<th>PSR of absolute Sharpe</th><th>excess return</th><th>95% interval</th>"
            "<th>daily vs monthly</th></tr>")
    return f'<table id="table-significance"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def liquidity_table(c: Comparison) -> str:
    """Per run, each holding's share of held sessions on which it did not trade (metrics.json's liquidity)."""
    rows = []
    for label in c.labels:
        held = c.metrics[label].get("untraded")
        if held is None:
            cells = '<td colspan="2">not recorded (a run from an older version)</td>'
        elif not held:
            cells = '<td colspan="2">no holdings</td>'
        else:
            items = sorted(held.items(), key=lambda kv: -kv[1]["untraded_share"])
            text = ", ".join(f"{_e(t)} {_fmt(v['untraded_share'], 'pct')}"
                             + ("" if v.get("volume_known") else " (no volume data)") for t, v in items)
            cells = f"<td>{_fmt(items[0][1]['untraded_share'], 'pct')}</td><td class=\"wrap\">{text}</td>"
        rows.append(f"<tr><th scope=\"row\">{_e(label)}</th>{cells}</tr>")
    head = "<tr><th>run</th><th>thinnest holding</th><th>each holding: share of held sessions not traded</th></tr>"
    return f'<table id="table-liquidity"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


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


def yearly_excess_table(c: Comparison) -> str:
    bench_year = m.calendar_year_returns(c.benchmark_returns)
    excess = {label: m.calendar_year_returns(c.returns[label]) - m.calendar_year_returns(c.run_benchmarks[label])
              for label in c.labels}
    partial = _partial_years(c)
    head = "".join(f"<th>{_name(label)}</th>" for label in c.labels) + f"<th>{_e(c.benchmark)} return</th>"
    rows = []
    for year in bench_year.index:
        mark = " (part)" if year in partial else ""
        cells = []
        for label in c.labels:
            v = float(excess[label].loc[year])
            cls = "pos" if v > 0 else "neg" if v < 0 else ""
            cells.append(f'<td class="{cls}">{_fmt(v, "pct")}</td>')
        cells.append(f"<td>{_fmt(float(bench_year.loc[year]), 'pct')}</td>")
        rows.append(f"<tr><th scope=\"row\">{year}{mark}</th>{''.join(cells)}</tr>")
    return (f'<table id="table-yearly-excess"><thead><tr><th>year</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def runs_table(c: Comparison) -> str:
    rows = []
    for run in c.runs:
        rows.append(
            f"<tr><th scope=\"row\">{_e(run.label)}{_synthetic_tag(run.synthetic)}</th>"
            f"<td>{_e(run.manifest.get('theme', ''))}</td><td class=\"wrap\"><code>{_e(run.run_id)}</code></td>"
            f"<td class=\"wrap\">{_e(run.source)}</td><td>{_e(run.span())}</td><td>{len(run.sessions):,d}</td>"
            f"<td class=\"wrap\"><code>{_e(run.folder)}</code></td></tr>")
    head = ("<tr><th>column</th><th>theme</th><th>run id</th><th>data</th><th>run's own sessions</th>"
            "<th>sessions</th><th>folder</th></tr>")
    return f'<table id="table-runs"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


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


def render_page(c: Comparison, markers: pd.DataFrame, quantstats_file: str | None,
                studies: list[tuple[str, str]] = ()) -> str:
    """compare.html as one string: no scripts and nothing fetched, so it works offline and from file://.

    studies: (href, label) of event studies beside it on the runs' event families (themebt study)."""
    with _plot_style():
        return _render(c, markers, quantstats_file, studies)


def _render(c: Comparison, markers: pd.DataFrame, quantstats_file: str | None, studies=()) -> str:
    s = c.sessions
    groups = sorted(set(markers["group"])) if len(markers) else []
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f"<title>themebt compare: {len(c.runs)} runs vs {_e(c.benchmark)}</title>",
             f"<style>{STYLE}</style></head><body>"]
    if c.any_synthetic:
        parts.append(SYNTHETIC_BANNER)
    parts.append("<main>")
    parts.append(f"<h1>{len(c.runs)} theme runs vs {_e(c.benchmark)}</h1>")
    parts.append(f'<p class="sub">{s[0].date()} to {s[-1].date()}, {len(s):,d} common sessions, annualised with '
                 f"{c.periods_per_year:.1f} sessions per year. "
                 + ("Columns marked <span class=\"synthetic-tag\">synthetic demo data</span> are computed on "
                    "synthetic prices, not market history." if c.any_synthetic else "") + "</p>")
    if c.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in c.warnings)
        parts.append(f'<div class="warnings" id="warnings"><strong>Warnings</strong><ul>{items}</ul></div>')
    if quantstats_file:
        parts.append(f'<p>quantstats\' multi-strategy report of the same runs against {_e(c.benchmark)}: '
                     f'<a href="{_e(quantstats_file)}" id="link-quantstats">{_e(quantstats_file)}</a> '
                     "(also shown at the bottom of this page).</p>")
    if studies:
        links = ", ".join(f'<a href="{_e(href)}" class="link-study">{_e(label)}</a>' for href, label in studies)
        parts.append(f"<p>Event studies of the events these themes trade on (themebt study): {links}.</p>")

    parts.append("<h2>Metrics</h2>")
    parts.append(f'<div class="scroll">{metrics_table(c)}</div>')
    parts.append('<p class="note">Every row is defined, with its source, in themebt\'s docs/compare.md. '
                 'Relative rows use each run\'s own benchmark column. Turnover and cost drag '
                 "come from trades.csv over the compared sessions, per year, as a share of the mean portfolio "
                 "value; cost drag is commission plus slippage (trades.csv's slippage_jpy where the run recorded "
                 "it, else the config's half-spread × traded value).</p>")

    def figure(chart_id: str, uri: str, caption: str) -> str:
        return (f'<figure id="{chart_id}"><img src="{uri}" alt="{_e(caption)}">'
                f"<figcaption>{caption}</figcaption></figure>")

    parts.append("<h2>Growth</h2>")
    parts.append(figure("chart-growth", chart_growth(c), f"Growth of ¥1 for each run and {_e(c.benchmark)} (dashed)."))
    parts.append(f"<h2>Cumulative excess return vs {_e(c.benchmark)}</h2>")
    event_note = (f"Marked along the top, with a grey line: {_e(', '.join(groups))} ({len(markers)} events, "
                  "on their event dates)."
                  if groups else "No marked events fall in this window.")
    parts.append(figure("chart-excess", chart_excess(c, markers),
                        f"Wealth of each run divided by the wealth of {_e(c.benchmark)}, minus one. {event_note}"))
    parts.append("<h2>Drawdowns</h2>")
    parts.append(figure("chart-drawdown", chart_drawdown(c),
                        f"Fall from the running peak of each run and of {_e(c.benchmark)} (dashed)."))
    parts.append("<h2>Rolling 12-month information ratio</h2>")
    parts.append(figure("chart-rolling-ir", chart_rolling_ir(c),
                        f"Annualised mean over standard deviation of the daily return over {_e(c.benchmark)}, "
                        f"over the trailing {rolling_window(c)} sessions."))
    parts.append(f"<h2>Excess return over {_e(c.benchmark)} by calendar year</h2>")
    parts.append(f'<div class="scroll">{yearly_excess_table(c)}</div>')
    parts.append('<p class="note">Each run\'s compounded return in the year minus its benchmark\'s; the last '
                 "column is the benchmark's own return. (part): the window covers only part of the year.</p>")

    parts.append("<h2>How much to trust it</h2>")
    parts.append(f'<div class="scroll">{significance_table(c)}</div>')
    trial_items = "".join(f"<li>{_e(r.label)}: N = {c.trials[r.label]} ({_e(c.trials_source[r.label])}); "
                          f"spread of IRs: {_e(c.sr_variance_source[r.label])}</li>" for r in c.runs)
    ledgers = ", ".join(f"<code>{_e(p)}</code>" for p in c.ledgers) or "none found"
    parts.append(
        f'<div class="note" id="dsr-trials"><p>The question is whether a run beats {_e(c.benchmark)}, so the '
        f"headline test is on its <strong>active return</strong> (daily return minus {_e(c.benchmark)}'s): PSR of "
        "IR is the probability that the true information ratio is above 0, allowing for the skewness and excess "
        "kurtosis of the active returns (Bailey &amp; López de Prado 2012). DSR of IR is the same probability "
        "against the IR that the best of N trials would reach by luck alone (Bailey &amp; López de Prado 2014). "
        "N counts every configuration of the run's theme in the trial ledger on the same data and period "
        f"(ledgers read: {ledgers}); --trials N with --trials-reason overrides it. The PSR of absolute Sharpe "
        "only tests Sharpe &gt; 0, which a theme can pass while it loses to the benchmark. IRs are annualised "
        "here; the tests use them per session. The alpha t-stat uses a Newey-West (HAC) standard error with "
        f"{c.hac_lags} lags (floor(4(T/100)^(2/9)), T = {len(c.sessions)}). \"daily vs monthly\" names the "
        "figures whose daily and monthly values differ in sign or by more than "
        + ", ".join(f"{_e(k.replace('_', ' '))} {v:g}" for k, v in DISAGREEMENT_MARGIN.items())
        + f".</p><ul>{trial_items}</ul></div>")
    parts.append(figure("chart-bootstrap", chart_bootstrap(c),
                        f"Excess return per year over {_e(c.benchmark)} (dot) and its 95% interval from a circular "
                        f"block bootstrap: {c.bootstrap_samples:,d} resamples of {c.block_sessions}-session blocks, "
                        f"seed {c.seed}, the run and its benchmark resampled together."))

    parts.append("<h2>Holdings that did not trade</h2>")
    parts.append(f'<div class="scroll">{liquidity_table(c)}</div>')
    parts.append('<p class="note">A holding that does not trade keeps its last close, so its daily return is 0: '
                 "thin holdings lower daily beta and flatter daily Sharpe. Compare the monthly rows above.</p>")

    parts.append("<h2>Runs</h2>")
    parts.append(f'<div class="scroll">{runs_table(c)}</div>')
    if quantstats_file:
        parts.append(f"<h2>quantstats report</h2><p class=\"note\">All runs against {_e(c.benchmark)}, by "
                     f"quantstats {_qs_version()}, annualised with the same {c.periods_per_year:.1f} sessions per year. "
                     "Its information ratio is per session (not annualised) and its kurtosis is excess kurtosis."
                     "</p>")
        parts.append(f'<iframe id="quantstats-report" src="{_e(quantstats_file)}" '
                     'title="quantstats report"></iframe>')
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _qs_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("quantstats")
    except metadata.PackageNotFoundError:
        return "(unknown version)"
