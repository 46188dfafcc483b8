"""Event studies: a basket's abnormal return against a benchmark around dated events, and its tests.

Day 0 of an event is the session at whose open a backtest first trades it
(``EventCalendar.first_trade_sessions``): the engine's own decision point, pre-open news included.
Returns are close to close, so day 0's return runs from the close of session -1 to the close of
day 0. Formulas, with their sources, are in docs/study.md; every function here is a pure function
of prices and settings, with no file access and no printing.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from backtest.errors import ConfigError
from backtest.report.text_table import Column, table_lines
from backtest.report.study_page import PAGE, chart_title, compare_links, draw_chart, render_page
from backtest.results.folder import write_csv, write_json, write_run

MODELS = ("market-adjusted", "market")
OVERLAP_MODES = ("keep", "drop")
DEFAULT_HORIZONS = (1, 5, 20, 60)


@dataclass(frozen=True)
class StudySettings:
    """The event window [-before, +after] around day 0, the abnormal-return model and its estimation window.

    The estimation window is `estimation` sessions ending `gap` sessions before the event window's first
    session (gap sessions lie between them), so it never overlaps the event window.
    """

    before: int = 5
    after: int = 60
    model: str = "market-adjusted"
    estimation: int = 250
    gap: int = 10
    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    confidence: float = 0.95
    overlap: str = "keep"

    @property
    def taus(self) -> np.ndarray:
        return np.arange(-self.before, self.after + 1)

    @property
    def min_estimation(self) -> int:
        """Estimation sessions with a return that a model needs: half the window, at least 10."""
        return max(10, math.ceil(self.estimation / 2))


def resolve_horizons(given, before: int, after: int) -> tuple[int, ...]:
    """The horizons of the per-event table: the user's, checked against the window, or the defaults that fit."""
    if not given:
        out = [h for h in DEFAULT_HORIZONS if h <= after]
        if after not in out:
            out.append(after)
        return tuple(out)
    out = sorted(set(int(h) for h in given))
    for h in out:
        if not -before <= h <= after:
            raise ConfigError(file="--horizon", field=str(h), problem=f"outside the event window [-{before}, +{after}]",
                              fix="Use horizons between -BEFORE and +AFTER, or widen the window with --after.")
    return tuple(out)


def check_settings(s: StudySettings) -> None:
    if s.model not in MODELS:
        raise ConfigError(file="--model", field=s.model, problem="unknown abnormal-return model",
                          fix=f"Use one of: {', '.join(MODELS)}.")
    if s.overlap not in OVERLAP_MODES:
        raise ConfigError(file="--overlap", field=s.overlap, problem="unknown overlap mode",
                          fix=f"Use one of: {', '.join(OVERLAP_MODES)}.")
    if s.before < 0 or s.after < 0 or s.gap < 0:
        raise ConfigError(file="--before/--after/--gap", field="window", problem="negative number of sessions",
                          fix="Use 0 or more sessions.")
    if s.estimation < 20:
        raise ConfigError(file="--estimation", field=str(s.estimation), problem="fewer than 20 sessions",
                          fix="Estimate on at least 20 sessions (250, about a year, is usual).")
    if not 0.5 <= s.confidence < 1:
        raise ConfigError(file="--confidence", field=str(s.confidence), problem="not between 0.5 and 1",
                          fix="Use e.g. 0.95.")


def basket_returns(close: pd.DataFrame, basket) -> pd.Series:
    """Equal-weight daily basket return: the mean close-to-close return of the members that have one.

    close: index sessions, columns tickers, NaN where no trade. A member's return on a session needs its
    close on that session and the previous one; the basket has no return where no member has one.
    """
    members = close[list(basket)]
    returns = members / members.shift(1) - 1.0
    return returns.mean(axis=1, skipna=True)


def simple_returns(close: pd.Series) -> pd.Series:
    return close / close.shift(1) - 1.0


@dataclass
class Study:
    """One event study's results.

    events: one row per event studied (id, family, kind, event_date, known_at, day0, alpha, beta, sigma,
    estimation_sessions, overlaps); ar and car: index event ids, columns tau (-before..after);
    path: index tau (caar, ci_low, ci_high, t, p, n); tests: one row per horizon; skipped: events not
    studied, each with the reason.
    """

    settings: StudySettings
    basket: tuple[str, ...]
    benchmark: str
    events: pd.DataFrame
    ar: pd.DataFrame
    car: pd.DataFrame
    scar: pd.DataFrame
    path: pd.DataFrame
    tests: pd.DataFrame
    skipped: list[dict] = field(default_factory=list)
    first_session: str = ""
    last_session: str = ""
    # a basket chosen at each event (by a screen, at the event's decision point): event id -> its members;
    # empty for one fixed basket. basket is then every name any studied event held.
    baskets: dict[str, tuple[str, ...]] = field(default_factory=dict)
    basket_rule: str = ""

    @property
    def n(self) -> int:
        return len(self.events)

    @property
    def basket_label(self) -> str:
        """The basket as a reader sees it: its names, or the rule that chose one at each event."""
        if self.baskets:
            rule = f" by {self.basket_rule}" if self.basket_rule else ""
            return f"a basket chosen at each event{rule} ({len(self.basket)} names in all)"
        return ", ".join(self.basket)


def run_study(close: pd.DataFrame, basket, benchmark: str, events: pd.DataFrame, settings: StudySettings,
              basket_rule: str = "") -> Study:
    """The event study of `basket` against `benchmark`.

    close: index sessions, columns at least basket and benchmark (NaN where no trade).
    basket: the tickers, or a mapping event id -> the tickers held for that event (a basket chosen at
    each event's decision point, basket_rule saying how); an event without names is skipped.
    events: columns id, family, kind, event_date, known_at, day0 (a session, or NaT when no session of
    the grid trades the event).
    """
    check_settings(settings)
    s = settings
    sessions = close.index
    per_event = isinstance(basket, Mapping)
    returns_of: dict[tuple, np.ndarray] = {}

    def basket_of(members) -> np.ndarray:
        key = tuple(members)
        if key not in returns_of:
            returns_of[key] = basket_returns(close, key).to_numpy(dtype=float)
        return returns_of[key]

    rb = None if per_event else basket_of(basket)
    rm = simple_returns(close[benchmark]).to_numpy(dtype=float)
    width = s.before + s.after + 1
    taus = s.taus
    d = 2 if s.model == "market" else 1  # parameters the model spends on the estimation window

    rows, ars, scars, skipped = [], [], [], []
    ordered = events.assign(p0=sessions.get_indexer(pd.DatetimeIndex(events["day0"])))
    ordered = ordered.sort_values(["p0", "id"], kind="mergesort")
    for ev in ordered.itertuples(index=False):
        def skip(reason: str):
            skipped.append({"id": ev.id, "family": ev.family, "kind": ev.kind, "event_date": ev.event_date,
                            "day0": _day(ev.day0), "reason": reason})

        if pd.isna(ev.day0):
            skip("no session of the data trades it (it is known after the last session)")
            continue
        p0 = ev.p0
        if p0 < 0:
            skip(f"day 0 {_day(ev.day0)} is outside the price data ({sessions[0].date()} to {sessions[-1].date()})")
            continue
        start, end = p0 - s.before, p0 + s.after
        est_end = start - s.gap - 1
        est_start = est_end - s.estimation + 1
        if start < 1:
            skip(f"the event window starts before the data's first return ({sessions[0].date()})")
            continue
        if end >= len(sessions):
            skip(f"the event window ends after the data's last session ({sessions[-1].date()}): "
                 f"it needs {end - len(sessions) + 1} more session(s)")
            continue
        if est_start < 1:
            skip(f"the estimation window ({s.estimation} sessions ending {s.gap} before the event window) "
                 f"starts before the data's first return ({sessions[0].date()})")
            continue
        if per_event:
            members = tuple(basket.get(ev.id, ()))
            if not members:
                skip(f"no names chosen for it{' by ' + basket_rule if basket_rule else ''}")
                continue
            rb = basket_of(members)
        assert rb is not None
        window = slice(start, end + 1)
        ev_b, ev_m = rb[window], rm[window]
        missing = np.isnan(ev_b) | np.isnan(ev_m)
        if missing.any():
            first = sessions[start + int(np.argmax(missing))].date()
            skip(f"no prices in its window: {int(missing.sum())} of {width} session(s) have no basket or "
                 f"benchmark return (first {first})")
            continue
        est = slice(est_start, est_end + 1)
        eb, em = rb[est], rm[est]
        ok = ~(np.isnan(eb) | np.isnan(em))
        n_est = int(ok.sum())
        if n_est < s.min_estimation:
            skip(f"only {n_est} of {s.estimation} estimation sessions have a return (needs {s.min_estimation})")
            continue
        eb, em = eb[ok], em[ok]
        if s.model == "market":
            xm = em - em.mean()
            sxx = float(xm @ xm)
            if sxx <= 0:
                skip("the benchmark does not move in the estimation window: no beta can be estimated")
                continue
            beta = float(xm @ (eb - eb.mean())) / sxx
            alpha = float(eb.mean() - beta * em.mean())
            resid = eb - alpha - beta * em
            sigma2 = float(resid @ resid) / (n_est - d)
        else:
            alpha, beta = 0.0, 1.0
            sigma2 = float(np.var(eb - em, ddof=1))
        if not sigma2 > 0:
            skip("abnormal returns do not vary in the estimation window: nothing to standardise by")
            continue
        ar = ev_b - alpha - beta * ev_m
        car = np.cumsum(ar)
        k = np.arange(1, width + 1, dtype=float)
        if s.model == "market":
            # Var(CAR) = σ²·(k + S_k'(X'X)⁻¹S_k): the estimation error of α and β adds to the
            # disturbance's (MacKinlay 1997, eq. 10 and 14), S_k the sum of [1, R_m] over the first k days
            xtx = np.array([[n_est, em.sum()], [em.sum(), em @ em]])
            inv = np.linalg.inv(xtx)
            sums = np.column_stack([k, np.cumsum(ev_m)])
            var = sigma2 * (k + np.einsum("ij,jk,ik->i", sums, inv, sums))
        else:
            var = sigma2 * k
        scar = car / np.sqrt(var)
        rows.append({"id": ev.id, "family": ev.family, "kind": ev.kind, "event_date": ev.event_date,
                     "known_at": ev.known_at, "day0": _day(ev.day0), "_start": start, "_end": end,
                     "alpha": alpha, "beta": beta, "sigma": math.sqrt(sigma2), "estimation_sessions": n_est,
                     "estimation_first": _day(sessions[est_start]), "estimation_last": _day(sessions[est_end])})
        ars.append(ar)
        scars.append(scar)

    rows, ars, scars = _apply_overlap(rows, ars, scars, skipped, s)
    table = pd.DataFrame(rows, columns=["id", "family", "kind", "event_date", "known_at", "day0", "_start", "_end",
                                        "alpha", "beta", "sigma", "estimation_sessions", "estimation_first",
                                        "estimation_last"])
    ids = list(table["id"])
    ar = pd.DataFrame(np.array(ars).reshape(len(ids), width), index=ids, columns=taus)
    car = ar.cumsum(axis=1)
    scar = pd.DataFrame(np.array(scars).reshape(len(ids), width), index=ids, columns=taus)
    table["overlaps"] = overlapping(table["_start"].to_numpy(), table["_end"].to_numpy(), ids)
    starts = table["_start"].to_numpy()
    n_est = table["estimation_sessions"].to_numpy(dtype=float)
    path = caar_path(car, s.confidence)
    tests = pd.DataFrame([horizon_tests(car[h].to_numpy(), scar[h].to_numpy(), n_est, d, starts, h + s.before + 1, h)
                          for h in s.horizons])
    table = table.drop(columns=["_start", "_end"]).set_index("id")
    chosen = {eid: tuple(basket[eid]) for eid in ids} if per_event else {}
    held = tuple(sorted({t for members in chosen.values() for t in members})) if per_event else tuple(basket)
    return Study(settings=s, basket=held, benchmark=benchmark, events=table, ar=ar, car=car, scar=scar,
                 path=path, tests=tests, skipped=skipped, first_session=_day(sessions[0]),
                 last_session=_day(sessions[-1]), baskets=chosen, basket_rule=basket_rule if per_event else "")


def _apply_overlap(rows, ars, scars, skipped, s: StudySettings):
    """With overlap 'drop', keep an event only if its window does not overlap the last kept one's."""
    if s.overlap == "keep":
        return rows, ars, scars
    keep_rows, keep_ar, keep_scar = [], [], []
    for row, ar, scar in zip(rows, ars, scars):
        if keep_rows and row["_start"] <= keep_rows[-1]["_end"]:
            skipped.append({"id": row["id"], "family": row["family"], "kind": row["kind"],
                            "event_date": row["event_date"], "day0": row["day0"],
                            "reason": f"its window overlaps the window of {keep_rows[-1]['id']} (--overlap drop)"})
            continue
        keep_rows.append(row)
        keep_ar.append(ar)
        keep_scar.append(scar)
    return keep_rows, keep_ar, keep_scar


def overlapping(starts: np.ndarray, ends: np.ndarray, ids) -> list[str]:
    """For each event, the ids of the other events whose windows share a session with its own, '; '-joined."""
    out = []
    for i in range(len(starts)):
        hits = [ids[j] for j in range(len(starts)) if j != i and starts[j] <= ends[i] and starts[i] <= ends[j]]
        out.append("; ".join(hits))
    return out


def caar_path(car: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """CAAR at each tau with its cross-sectional t and the `confidence` band (index: tau)."""
    n = len(car)
    mean = car.mean(axis=0)
    if n >= 2:
        se = car.std(axis=0, ddof=1) / math.sqrt(n)
        q = sps.t.ppf(0.5 + confidence / 2, n - 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = mean / se.where(se > 0)
        p = pd.Series(2 * sps.t.sf(np.abs(t.to_numpy(dtype=float)), n - 1), index=car.columns)
        low, high = mean - q * se, mean + q * se
    else:
        nan = pd.Series(np.nan, index=car.columns)
        t = p = low = high = nan
    return pd.DataFrame({"caar": mean, "ci_low": low, "ci_high": high, "t": t, "p": p, "n": n}, index=car.columns)


def horizon_tests(car: np.ndarray, scar: np.ndarray, n_est: np.ndarray, d: int, starts: np.ndarray, length: int,
                  horizon: int) -> dict:
    """The tests of H0: mean CAR(-before, horizon) = 0 across the N events (see docs/study.md)."""
    n = len(car)
    out = {"horizon": int(horizon), "sessions": int(length), "n": n, "caar": _f(car.mean()) if n else None,
           "median_car": _f(np.median(car)) if n else None}
    nan = None
    out.update(t=nan, t_p=nan, patell_z=nan, patell_p=nan, bmp_t=nan, bmp_p=nan, r_bar=nan, kp_t=nan, kp_p=nan,
               positive=int((car > 0).sum()), sign_p=nan)
    if n == 0:
        return out
    dof = n_est - d
    if np.all(dof > 2):
        z = float(scar.sum() / math.sqrt(np.sum(dof / (dof - 2))))
        out.update(patell_z=z, patell_p=float(2 * sps.norm.sf(abs(z))))
    nonzero = int((car != 0).sum())
    if nonzero:
        out["sign_p"] = float(sps.binomtest(int((car > 0).sum()), nonzero, 0.5).pvalue)
    if n < 2:
        return out
    sd = car.std(ddof=1)
    if sd > 0:
        t = float(car.mean() / (sd / math.sqrt(n)))
        out.update(t=t, t_p=float(2 * sps.t.sf(abs(t), n - 1)))
    ssd = scar.std(ddof=1)
    r_bar = mean_overlap_correlation(starts, length)
    out["r_bar"] = r_bar
    if ssd > 0:
        bmp = float(scar.mean() / (ssd / math.sqrt(n)))
        out.update(bmp_t=bmp, bmp_p=float(2 * sps.t.sf(abs(bmp), n - 1)))
        factor = (1 - r_bar) / (1 + (n - 1) * r_bar)
        if factor > 0:
            kp = bmp * math.sqrt(factor)
            out.update(kp_t=kp, kp_p=float(2 * sps.t.sf(abs(kp), n - 1)))
    return out


def mean_overlap_correlation(starts: np.ndarray, length: int) -> float:
    """r̄: the mean correlation, over pairs of events, of two CARs of `length` sessions from `starts`.

    Under H0 (abnormal returns serially uncorrelated with equal variance) two CARs over the same basket
    are correlated by the share of sessions their windows have in common; 0 when no windows overlap.
    """
    n = len(starts)
    if n < 2:
        return 0.0
    starts = np.asarray(starts, dtype=float)
    shared = np.clip(length - np.abs(starts[:, None] - starts[None, :]), 0, None) / length
    return float((shared.sum() - n) / (n * (n - 1)))


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _day(x) -> str:
    return "" if pd.isna(x) else pd.Timestamp(x).strftime("%Y-%m-%d")


def event_frame(calendar, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """The events of an EventCalendar with their day 0 on `sessions` (columns id, family, kind, event_date,
    known_at, day0); ids are '<event_date> <family>:<kind>', numbered when two coincide."""
    frame = calendar.frame.reset_index(drop=True)
    day0 = calendar.first_trade_sessions(sessions).to_numpy()
    out = pd.DataFrame({
        "family": frame["family"].astype(str),
        "kind": frame["kind"].astype(str),
        "event_date": [pd.Timestamp(x).strftime("%Y-%m-%d") for x in frame["event_date"]],
        "known_at": [pd.Timestamp(x).strftime("%Y-%m-%d %H:%M %z") for x in frame["known_at"]],
        "day0": pd.to_datetime(day0),
    })
    ids = [f"{r.event_date} {r.family}:{r.kind}" for r in out.itertuples()]
    seen: dict[str, int] = {}
    unique = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        unique.append(i if seen[i] == 1 else f"{i} #{seen[i]}")
    out.insert(0, "id", unique)
    return out


def clean(obj):
    """NaN and infinities to None, numpy scalars to Python, so the JSON is valid and stable."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def to_json(study: Study, meta: dict) -> dict:
    """study.json: settings, data, every test at every horizon, each event's CAR at the horizons, the skipped."""
    s = study.settings
    events = []
    for eid, row in study.events.iterrows():
        events.append({
            "id": eid, "family": row.family, "kind": row.kind, "event_date": row.event_date,
            "known_at": row.known_at, "day0": row.day0, "alpha": row.alpha, "beta": row.beta, "sigma": row.sigma,
            "estimation": {"sessions": row.estimation_sessions, "first": row.estimation_first,
                           "last": row.estimation_last},
            "overlaps": [x for x in row.overlaps.split("; ") if x],
            "car": {f"{h:+d}": study.car.loc[eid, h] for h in s.horizons},
            "scar": {f"{h:+d}": study.scar.loc[eid, h] for h in s.horizons},
            **({"basket": list(study.baskets[eid])} if study.baskets else {}),
        })
    path = [{"tau": int(t), **{k: r[k] for k in ("caar", "ci_low", "ci_high", "t", "p")}}
            for t, r in study.path.iterrows()]
    return clean({
        **meta,
        "basket": list(study.basket),
        **({"basket_rule": study.basket_rule or "chosen at each event"} if study.baskets else {}),
        "benchmark": study.benchmark,
        "settings": {"before": s.before, "after": s.after, "model": s.model, "estimation_sessions": s.estimation,
                     "gap_sessions": s.gap, "horizons": list(s.horizons), "confidence": s.confidence,
                     "overlap": s.overlap, "min_estimation_sessions": s.min_estimation},
        "sessions": {"first": study.first_session, "last": study.last_session},
        "n_events": study.n,
        "n_overlapping": int((study.events["overlaps"] != "").sum()) if study.n else 0,
        "tests": study.tests.to_dict(orient="records"),
        "caar_path": path,
        "events": events,
        "skipped": study.skipped,
    })


def format_table(study: Study) -> str:
    """The terminal's report: the tests at each horizon, then each event's CAR at the horizons."""
    s = study.settings
    basket = study.basket_label if study.baskets else f"basket {study.basket_label}"
    lines = [f"{study.n} event(s), {basket} vs {study.benchmark}, {s.model} model, "
             f"window [-{s.before}, +{s.after}] around day 0 (the first session that trades the event)"]
    # fixed widths (no gap), numbers on the right: the columns line up with the header above them
    tests_columns = [Column(h, "number", w) for h, w in (
        ("CAR to", 7), ("N", 5), ("CAAR", 9), ("t", 7), ("p", 7), ("Patell", 8), ("p", 7), ("BMP", 7), ("p", 7),
        ("KP", 7), ("p", 7), ("pos", 6), ("sign p", 8))]

    def num(x, fmt):
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)

    rows = []
    for r in study.tests.to_dict(orient="records"):
        r = clean(r)
        rows.append([f"{r['horizon']:+d}", f"{r['n']:d}",
                     num(r["caar"] * 100 if r["caar"] is not None else None, ".2f") + "%",
                     num(r["t"], ".2f"), num(r["t_p"], ".3f"), num(r["patell_z"], ".2f"), num(r["patell_p"], ".3f"),
                     num(r["bmp_t"], ".2f"), num(r["bmp_p"], ".3f"), num(r["kp_t"], ".2f"), num(r["kp_p"], ".3f"),
                     f"{r['positive']:d}", num(r["sign_p"], ".3f")])
    lines += table_lines(tests_columns, rows, gap="")
    lines.append("")
    event_columns = [Column("event", "text", 34), Column("day 0", "number", 12),
                     *(Column(f"CAR {h:+d}", "number", 10) for h in s.horizons), Column("  overlaps")]
    rows = [[eid[:33], str(row.day0), *(f"{study.car.loc[eid, h] * 100:.2f}%" for h in s.horizons),
             "  yes" if row.overlaps else ""] for eid, row in study.events.iterrows()]
    lines += table_lines(event_columns, rows, gap="")
    for eid, members in study.baskets.items():
        lines.append(f"basket of {eid}: {', '.join(members)}")
    for sk in study.skipped:
        lines.append(f"skipped {sk['id']}: {sk['reason']}")
    return "\n".join(lines)


def write_study(study: Study, out_dir: Path, name: str, meta: dict, synthetic: bool) -> Path:
    """results/study-<UTC time>-<name>-<hex>/ with study.json, car.csv, study.html and study.png, whole or not at all."""
    title = chart_title(study, meta, synthetic)
    links = compare_links(out_dir, meta.get("families", []))

    def fill(folder: Path, run_id: str) -> None:
        write_json(to_json(study, meta), folder / "study.json")
        car = study.car.copy()
        car.index.name = "event"
        car.columns = [f"{t:+d}" for t in car.columns]
        write_csv(car, folder / "car.csv")
        (folder / PAGE).write_text(render_page(study, meta, title, synthetic, links), encoding="utf-8")
        png = io.BytesIO()
        draw_chart(study, title, png, "png")
        (folder / "study.png").write_bytes(png.getvalue())

    return write_run(out_dir, name, fill, prefix="study-")
