"""Write a study folder: study.json, car.csv, study.html (inline SVG, no scripts) and study.png, atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import html
import io
import json
from pathlib import Path

import pandas as pd

from backtest.data import SYNTHETIC_LABEL
from backtest.report.page_style import PAGE_STYLE
from backtest.report.tearsheet import SYNTHETIC_BANNER, _quiet_matplotlib

PAGE = "study.html"
if TYPE_CHECKING:  # the page renders a finished study; the study is computed in research/
    from backtest.research.study import Study

CHART_IDS = ("chart-caar",)
TABLE_IDS = ("table-tests", "table-events")
# the themes that trade on each event family: a comparison of their runs is the study's natural neighbour
THEMES_BY_FAMILY = {
    "boj": ("boj_rotation",),
    "us_policy": ("robotics_reindustrialization", "exporter_domestic_rotation"),
    "governance": ("governance_reform",),
    "shunto": ("domestic_demand_wages", "exporter_domestic_rotation"),
    "wages": ("domestic_demand_wages", "exporter_domestic_rotation"),
}
MAX_COMPARE_LINKS = 5


def chart_title(study: Study, meta: dict, synthetic: bool) -> str:
    what = meta.get("label", "events")
    base = f"{', '.join(study.basket)} vs {study.benchmark} around {what} (N = {study.n}, {study.settings.model})"
    return f"{base} — {SYNTHETIC_LABEL}" if synthetic else f"{base} ({meta.get('data', {}).get('source', '')})"


def compare_links(out_dir: Path, families) -> list[tuple[str, str]]:
    """Sibling compare folders whose runs include a theme that trades on one of `families` (newest first)."""
    themes = {t for f in families for t in THEMES_BY_FAMILY.get(f, ())}
    out = []
    folder = Path(out_dir)
    if not themes or not folder.is_dir():
        return out
    for cmp in sorted(folder.glob("compare-*/compare.json"), reverse=True):
        try:
            runs = json.loads(cmp.read_text(encoding="utf-8")).get("runs", [])
        except (OSError, ValueError, AttributeError):
            continue  # an unreadable comparison only loses its link
        shared = sorted({str(r.get("theme")) for r in runs if isinstance(r, dict) and r.get("theme") in themes})
        if shared:
            out.append((f"../{cmp.parent.name}/compare.html", f"{cmp.parent.name} ({', '.join(shared)})"))
        if len(out) >= MAX_COMPARE_LINKS:
            break
    return out


def related_studies(results_dir: Path, themes) -> list[tuple[str, str]]:
    """Study folders in results_dir whose event family one of `themes` trades on, newest first, as
    (href relative to a sibling folder, label): the comparison page's way back to the studies."""
    families = {f for f, traded_by in THEMES_BY_FAMILY.items() if set(traded_by) & set(themes)}
    out = []
    folder = Path(results_dir)
    if not families or not folder.is_dir():
        return out
    for doc_path in sorted(folder.glob("study-*/study.json"), reverse=True):
        try:
            doc = json.loads(doc_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # an unreadable study only loses its link
        shared = sorted(set(doc.get("families") or []) & families) if isinstance(doc, dict) else []
        if shared:
            out.append((f"../{doc_path.parent.name}/{PAGE}", f"{doc_path.parent.name} ({doc.get('label', '')})"))
        if len(out) >= MAX_COMPARE_LINKS:
            break
    return out


def draw_chart(study: Study, title: str, target, fmt: str) -> None:
    """The CAAR path with its band, and each event's CAR as a faint line (x: sessions from day 0)."""
    import matplotlib
    import matplotlib.style

    _quiet_matplotlib()
    with matplotlib.rc_context():
        # matplotlib's defaults, whatever quantstats' import did to the global style
        matplotlib.style.use("default")
        _quiet_matplotlib()
        import matplotlib.pyplot as plt
        from matplotlib.ticker import PercentFormatter

        fig, ax = plt.subplots(figsize=(10, 4.4))
        taus = study.path.index.to_numpy()
        for eid in study.car.index:
            ax.plot(taus, study.car.loc[eid].to_numpy(), color="#1f4e9c", alpha=0.18, lw=0.8)
        p = study.path
        if study.n >= 2:
            ax.fill_between(taus, p["ci_low"].to_numpy(float), p["ci_high"].to_numpy(float), color="#1f4e9c",
                            alpha=0.18, lw=0, label=f"{study.settings.confidence:.0%} band (cross-sectional t)")
        ax.plot(taus, p["caar"].to_numpy(float), color="#b00020", lw=2.0, label="CAAR")
        ax.axhline(0, color="#555555", lw=0.8)
        ax.axvline(0, color="#555555", lw=0.8, ls="--")
        ax.set_xlabel("sessions from day 0 (the first session that trades the event)")
        ax.set_ylabel(f"cumulative abnormal return vs {study.benchmark}")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        ax.grid(alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.set_title(title, fontsize=9.5)
        ax.legend(loc="upper left", fontsize=9)
        fig.tight_layout()
        if fmt == "svg":
            fig.savefig(target, format="svg", metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(target, format="png", dpi=90, metadata={"Software": None})
        plt.close(fig)


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _pct(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{x * 100:.2f}%"


def _num(x, fmt=".2f") -> str:
    return "–" if x is None or pd.isna(x) else format(x, fmt)


def tests_table(study: Study) -> str:
    rows = []
    for r in study.tests.to_dict(orient="records"):
        rows.append(f'<tr><th scope="row">[−{study.settings.before}, {r["horizon"]:+d}]</th><td>{r["n"]}</td>'
                    f"<td>{_pct(r['caar'])}</td><td>{_pct(r['median_car'])}</td>"
                    f"<td>{_num(r['t'])}</td><td>{_num(r['t_p'], '.3f')}</td>"
                    f"<td>{_num(r['patell_z'])}</td><td>{_num(r['patell_p'], '.3f')}</td>"
                    f"<td>{_num(r['bmp_t'])}</td><td>{_num(r['bmp_p'], '.3f')}</td>"
                    f"<td>{_num(r['r_bar'], '.3f')}</td><td>{_num(r['kp_t'])}</td><td>{_num(r['kp_p'], '.3f')}</td>"
                    f"<td>{r['positive']} of {r['n']}</td><td>{_num(r['sign_p'], '.3f')}</td></tr>")
    head = ("<tr><th>CAR window</th><th>N</th><th>CAAR</th><th>median CAR</th><th>t</th><th>p</th>"
            "<th>Patell z</th><th>p</th><th>BMP t</th><th>p</th><th>r̄</th><th>KP t</th><th>p</th>"
            "<th>positive</th><th>sign p</th></tr>")
    return f'<table id="table-tests"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def events_table(study: Study) -> str:
    hs = study.settings.horizons
    rows = []
    for eid, row in study.events.iterrows():
        cars = "".join(
            f'<td class="{"pos" if study.car.loc[eid, h] > 0 else "neg"}">{_pct(study.car.loc[eid, h])}</td>' for h in hs)
        flag = f'<td class="overlap">{_e(row.overlaps)}</td>' if row.overlaps else "<td></td>"
        rows.append(f'<tr><th scope="row">{_e(eid)}</th><td>{_e(row.known_at)}</td><td>{_e(row.day0)}</td>{cars}'
                    f"<td>{_num(row.beta)}</td><td>{_pct(row.sigma)}</td>{flag}</tr>")
    head = ("<tr><th>event</th><th>known at</th><th>day 0</th>"
            + "".join(f"<th>CAR [−{study.settings.before}, {h:+d}]</th>" for h in hs)
            + "<th>β</th><th>σ (daily)</th><th>window overlaps</th></tr>")
    return f'<table id="table-events"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


STYLE = PAGE_STYLE + """
h1{font-size:21px;margin:16px 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd}
tbody th,thead th:first-child{text-align:left;font-weight:normal;white-space:nowrap}
td{white-space:nowrap}td.pos{color:#17662c}td.neg{color:#a3161c}td.overlap{color:#8a5a00;text-align:left}
"""


def render_page(study: Study, meta: dict, title: str, synthetic: bool, links: list[tuple[str, str]]) -> str:
    """study.html as one string: no scripts and nothing fetched, so it works offline and from file://."""
    s = study.settings
    svg = io.BytesIO()
    draw_chart(study, title, svg, "svg")
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode("ascii")
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f"<title>themebt study: {_e(meta.get('label', 'events'))}</title>",
             f"<style>{STYLE}</style></head><body>"]
    if synthetic:
        parts.append(SYNTHETIC_BANNER)
    parts.append("<main>")
    parts.append(f"<h1>Do {_e(meta.get('label', 'the events'))} move {_e(', '.join(study.basket))} "
                 f"against {_e(study.benchmark)}?</h1>")
    data = meta.get("data", {})
    parts.append(f'<p class="sub">{study.n} event(s) studied, {len(study.skipped)} skipped; {_e(s.model)} model; '
                 f"event window [−{s.before}, +{s.after}] sessions around day 0; estimation window {s.estimation} "
                 f"sessions ending {s.gap} session(s) before the event window; prices: {_e(data.get('source', ''))}"
                 + (" (synthetic demo data, not market history)" if synthetic else "") + ".</p>")
    if study.skipped:
        items = "".join(f"<li><strong>{_e(k['id'])}</strong>: {_e(k['reason'])}</li>" for k in study.skipped)
        parts.append(f'<div class="warnings" id="skipped"><strong>Skipped events</strong><ul>{items}</ul></div>')
    parts.append("<h2>Cumulative average abnormal return</h2>")
    caption = (f"CAAR (red) from {s.before} session(s) before day 0, with its {s.confidence:.0%} band from the "
               "cross-sectional t distribution; each event's CAR as a faint line. Day 0 is the session at whose "
               "open a backtest first trades the event; its return runs from the previous close to day 0's close.")
    parts.append(f'<figure id="chart-caar"><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}'
                 "</figcaption></figure>")
    parts.append("<h2>Tests</h2>")
    parts.append(f'<div class="scroll">{tests_table(study)}</div>')
    parts.append('<p class="note">H0: the mean CAR over the window is zero. t: cross-sectional t-test (MacKinlay '
                 "1997). Patell z: sum of standardised CARs (Patell 1976). BMP t: cross-sectional t of the "
                 "standardised CARs, robust to event-induced variance (Boehmer, Musumeci &amp; Poulsen 1991). "
                 "KP t: BMP adjusted for the correlation r̄ that overlapping windows give the CARs (after Kolari "
                 "&amp; Pynnönen 2010). sign p: exact two-sided binomial test of the share of positive CARs. "
                 "See docs/study.md.</p>")
    overlapping = int((study.events["overlaps"] != "").sum()) if study.n else 0
    if overlapping:
        parts.append(f'<p class="warnings" id="overlap-note">{overlapping} event(s) have windows that overlap '
                     "another event's: their CARs share sessions, so the plain t, Patell and BMP tests overstate the "
                     "evidence; read the KP column, or study with --overlap drop.</p>")
    parts.append("<h2>Each event</h2>")
    parts.append(f'<div class="scroll">{events_table(study)}</div>')
    parts.append('<h2>Compare the theme runs</h2>')
    if links:
        items = "".join(f'<li><a href="{_e(href)}">{_e(text)}</a></li>' for href, text in links)
        parts.append(f'<ul id="compare-links">{items}</ul>')
    else:
        parts.append('<p class="note" id="compare-links">No comparison of a theme trading on these events sits next '
                     "to this study. Run one with <code>themebt run configs/&lt;theme&gt;.yaml</code> and "
                     "<code>themebt compare --latest N</code>.</p>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)
