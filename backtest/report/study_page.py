"""Write a study folder: study.json, car.csv, study.html (inline SVG, no scripts) and study.png, atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING

import base64
import textwrap
import io
import json
from pathlib import Path

import pandas as pd

from backtest.data import SYNTHETIC_LABEL
from backtest.report.page_style import PAGE_STYLE
from backtest.report.pages import render
from backtest.report.tearsheet import SYNTHETIC_BANNER, plot_style

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
    # a screened basket is named by its rule in the page; the chart's title line has room for its size only
    basket = f"screened basket ({len(study.basket)} names)" if study.baskets else study.basket_label
    base = f"{basket} vs {study.benchmark} around {what} (N = {study.n}, {study.settings.model})"
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
    # matplotlib's defaults, whatever quantstats' import did to the global style
    with plot_style():
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
        # a long label (many kinds, a screen) on as many lines as it needs, never past the figure's edge
        ax.set_title("\n".join(textwrap.wrap(title, 130)), fontsize=9.5)
        ax.legend(loc="upper left", fontsize=9)
        fig.tight_layout()
        if fmt == "svg":
            fig.savefig(target, format="svg", metadata={"Date": None, "Creator": None})
        else:
            fig.savefig(target, format="png", dpi=90, metadata={"Software": None})
        plt.close(fig)


def _pct(x) -> str:
    return "–" if x is None or pd.isna(x) else f"{x * 100:.2f}%"


def _num(x, fmt=".2f") -> str:
    return "–" if x is None or pd.isna(x) else format(x, fmt)


def test_rows(study: Study) -> list[dict]:
    """The tests table: one row per CAR window, cells formatted."""
    rows = []
    for r in study.tests.to_dict(orient="records"):
        row = {"horizon": f"{r['horizon']:+d}", "n": r["n"], "positive": r["positive"], "caar": _pct(r["caar"]),
               "median_car": _pct(r["median_car"])}
        row.update({key: _num(r[key]) for key in ("t", "patell_z", "bmp_t", "kp_t")})
        row.update({key: _num(r[key], ".3f") for key in ("t_p", "patell_p", "bmp_p", "r_bar", "kp_p", "sign_p")})
        rows.append(row)
    return rows


def event_rows(study: Study) -> list[dict]:
    """The events table: one row per event, its CAR to each horizon (class pos/neg), β, σ, overlaps."""
    rows = []
    for eid, row in study.events.iterrows():
        cars = [{"cls": "pos" if study.car.loc[eid, h] > 0 else "neg", "text": _pct(study.car.loc[eid, h])}
                for h in study.settings.horizons]
        rows.append({"id": eid, "known_at": row.known_at, "day0": row.day0, "cars": cars, "beta": _num(row.beta),
                     "sigma": _pct(row.sigma), "overlaps": row.overlaps,
                     "basket": ", ".join(study.baskets.get(eid, ()))})
    return rows


STYLE = PAGE_STYLE + """
h1{font-size:21px;margin:16px 0 4px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid #ddd}
tbody th,thead th:first-child{text-align:left;font-weight:normal;white-space:nowrap}
td{white-space:nowrap}td.pos{color:#17662c}td.neg{color:#a3161c}td.overlap{color:#8a5a00;text-align:left}
td.names{white-space:normal;text-align:left;min-width:12em}
"""


TEMPLATE = "study.html.j2"


def render_page(study: Study, meta: dict, title: str, synthetic: bool, links: list[tuple[str, str]]) -> str:
    """study.html as one string: no scripts and nothing fetched, so it works offline and from file://."""
    s = study.settings
    svg = io.BytesIO()
    draw_chart(study, title, svg, "svg")
    context = {
        "style": STYLE, "banner": SYNTHETIC_BANNER, "synthetic": synthetic,
        "title_label": meta.get("label", "events"), "h1_label": meta.get("label", "the events"),
        "basket": study.basket_label, "benchmark": study.benchmark, "n": study.n, "skipped": list(study.skipped),
        "model": s.model, "before": s.before, "after": s.after, "estimation": s.estimation, "gap": s.gap,
        "source": meta.get("data", {}).get("source", ""),
        "chart": "data:image/svg+xml;base64," + base64.b64encode(svg.getvalue()).decode("ascii"),
        "caption": (f"CAAR (red) from {s.before} session(s) before day 0, with its {s.confidence:.0%} band from the "
                    "cross-sectional t distribution; each event's CAR as a faint line. Day 0 is the session at whose "
                    "open a backtest first trades the event; its return runs from the previous close to day 0's "
                    "close."),
        "test_rows": test_rows(study), "event_rows": event_rows(study), "per_event": bool(study.baskets),
        "horizons": [f"{h:+d}" for h in s.horizons],
        "overlapping": int((study.events["overlaps"] != "").sum()) if study.n else 0,
        "links": list(links),
    }
    return render(TEMPLATE, context)
