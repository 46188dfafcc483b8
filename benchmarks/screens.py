"""Time a screen over a whole synthetic market, and a monthly-rebalanced screened theme end to end.

    python benchmarks/screens.py                          # 1,600 names × 5,000 sessions; prints the section
    python benchmarks/screens.py --out benchmarks/results.md   # and writes it into results.md (its own section)
    python benchmarks/screens.py --names 200 --sessions 1000   # a smoke test

The market is synthetic (never market history): `names` stocks on the first `sessions` Tokyo
sessions from 2005-01-04, log returns = beta × a market factor + idiosyncratic noise (seeded), a
tenth of them listed late and a tenth delisted early (a dated membership file with those spells,
prices only while listed), and quarterly disclosures for each (1Q, 2Q, 3Q, FY, 45 days or so after
each quarter end, 15:30 Tokyo, book value and profit that drift with the price).

Cases: (1) building the run's arrays (backtest.execution.facts.ScreenFacts); (2) the screen
`pb < 1 and roe < 0.08, rank pb, top 30` at the close of the first session of every month (median,
max); (3) the governance theme screening monthly from its first milestone (holding_sessions 0) on
the backtrader engine, end to end (run plan, decisions, engine), and (4) on the screening engine.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SEED = 20240331
SECTION = "## Screens over a whole market (benchmarks/screens.py)"
RULE = {"screen": {"universe": "", "where": ["pb < 1", "roe < 0.08"], "rank": "pb", "top": 30}}


def codes(n: int) -> list[str]:
    """TSE-shaped codes no real instrument in the registry uses: 5A00, 5A01, ..."""
    return [f"{5 + i // 2600}{chr(65 + (i // 100) % 26)}{i % 100:02d}" for i in range(n)]


def market(n_names: int, n_sessions: int):
    """(PriceFrame with TOPIX and the names, membership CSV text, disclosures frame), all synthetic."""
    from backtest.market.calendar import sessions as tokyo_sessions
    from backtest.data.frame import PriceFrame

    rng = np.random.default_rng(SEED)
    grid = tokyo_sessions("2005-01-04", "2030-12-30")[:n_sessions]
    n = len(grid)
    names = codes(n_names)
    m = rng.standard_t(4, n) * 0.011
    beta = rng.uniform(0.6, 1.4, n_names)
    idio = rng.standard_normal((n, n_names)) * rng.uniform(0.012, 0.025, n_names)
    log_ret = m[:, None] * beta[None, :] + idio
    level = np.exp(rng.uniform(np.log(300), np.log(8000), n_names))
    close = level * np.exp(np.cumsum(log_ret, axis=0))
    index = 1150.0 * np.exp(np.cumsum(m))
    first = np.zeros(n_names, dtype=int)
    last = np.full(n_names, n - 1)
    late = rng.choice(n_names, n_names // 10, replace=False)
    first[late] = rng.integers(250, n - 250, len(late))
    rest = np.setdiff1d(np.arange(n_names), late)
    gone = rng.choice(rest, n_names // 10, replace=False)
    last[gone] = rng.integers(250, n - 250, len(gone))
    rows = np.arange(n)[:, None]
    listed = (rows >= first[None, :]) & (rows <= last[None, :])
    close = np.where(listed, np.round(close, 1), np.nan)
    prev = np.vstack([close[:1], close[:-1]])
    open_ = np.where(np.isfinite(prev), prev, close)
    high = np.fmax(open_, close) * 1.01
    low = np.fmin(open_, close) * 0.99
    volume = np.where(listed, 1e6, np.nan)

    def frame(values, topix):
        return pd.DataFrame(np.column_stack([topix, values]), index=grid, columns=["TOPIX", *names])

    t = np.round(index, 2)
    prices = PriceFrame(frame(open_, t), frame(high, t * 1.005), frame(low, t * 0.995), frame(close, t),
                        frame(volume, np.full(n, np.nan)), source="synthetic benchmark market", synthetic=True,
                        coverage={**{c: (str(grid[first[j]].date()), str(grid[last[j]].date()))
                                     for j, c in enumerate(names)}, "TOPIX": (str(grid[0].date()), str(grid[-1].date()))})
    lines = ["# synthetic benchmark universe", "ticker,from,to"]
    lines += [f"{c},{grid[first[j]].date()},{'' if last[j] == n - 1 else grid[last[j]].date()}"
              for j, c in enumerate(names)]
    # quarterly disclosures: FY in May, 1Q in August, 2Q in November, 3Q in February, 15:30 Tokyo
    quarters = pd.date_range(grid[0] - pd.Timedelta(days=120), grid[-1], freq="QE-MAR")
    kinds = {3: "FY", 6: "1Q", 9: "2Q", 12: "3Q"}
    scale = {"FY": 1.0, "1Q": 0.25, "2Q": 0.5, "3Q": 0.75}
    out = []
    filled = pd.DataFrame(close, index=grid).ffill().bfill().to_numpy()
    for q in quarters:
        kind = kinds[q.month]
        at = q + pd.Timedelta(days=int(40 + rng.integers(0, 10)))
        pos = min(int(grid.searchsorted(at)), n - 1)
        price = filled[pos]
        pb = np.exp(rng.normal(0.1, 0.5, n_names))
        roe = rng.normal(0.08, 0.05, n_names)
        bps = price / pb
        shares = 1e8
        equity = bps * shares
        days = at + pd.to_timedelta(rng.integers(0, 5, n_names), unit="D")
        out.append(pd.DataFrame({
            "code": names, "disclosed_at": (days.normalize() + pd.Timedelta(hours=15, minutes=30)).tz_localize("Asia/Tokyo"),
            "period_type": kind, "bps": bps, "equity": equity, "profit": roe * equity * scale[kind],
            "eps": roe * bps * scale[kind], "shares_outstanding": shares, "treasury_shares": 0.0}))
    return prices, "\n".join(lines) + "\n", pd.concat(out, ignore_index=True)


def timed(fn, repeat: int = 1):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1600)
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=None, help="write the section into this results file")
    parser.add_argument("--skip-backtrader", action="store_true")
    args = parser.parse_args(argv)

    import backtest.execution.facts as facts
    from backtest.config import spec_from_mapping
    from backtest.data.membership import load_membership
    from backtest.execution.backtrader.engine import run_backtest
    from backtest.events.calendar import load_events
    from backtest.execution.facts import ScreenFacts
    from backtest.execution.screening import run_fast
    from strategies.screens import parse_screen

    started = time.perf_counter()
    (prices, membership_text, disclosures), (t_market,) = timed(lambda: market(args.names, args.sessions))
    with tempfile.TemporaryDirectory() as tmp:
        universe = Path(tmp) / "bench_universe.csv"
        universe.write_text(membership_text)
        rule = parse_screen({"screen": {**RULE["screen"], "universe": str(universe)}})
        membership = load_membership(universe)
        built, build_times = timed(lambda: ScreenFacts(prices, disclosures, {rule.universe: membership}), 3)
        sessions = prices.sessions
        month_starts = [i for i in range(1, len(sessions)) if sessions[i].month != sessions[i - 1].month]
        points = [2 * i + 1 for i in month_starts]
        per_point, chosen = [], []
        for p in points:
            t0 = time.perf_counter()
            frame = built.screen(rule, p, record=False)
            per_point.append(time.perf_counter() - t0)
            chosen.append(len(frame))
        row = {
            "names": args.names, "sessions": len(sessions), "disclosures": len(disclosures),
            "build_s": statistics.median(build_times), "screen_median_ms": 1e3 * statistics.median(per_point),
            "screen_max_ms": 1e3 * max(per_point), "rebalances": len(points),
            "chosen_median": statistics.median(chosen), "market_s": t_market,
        }
        facts.fundamentals_frame = lambda source, codes: (disclosures, True)  # the synthetic disclosures
        spec = spec_from_mapping({
            "theme": "governance_reform", "benchmark": "TOPIX",
            "params": {"basket": {"screen": {**RULE["screen"], "universe": str(universe)}}, "holding_sessions": 0,
                       "rescreen": "monthly"},
            "execution": {"cash_jpy": 10_000_000_000, "commission_bps": 10, "slippage_bps": 5},
        }, file="benchmarks/screens.py")
        events = load_events(None)
        fast, fast_times = timed(lambda: run_fast(spec, prices, events))
        row["fast_s"] = fast_times[0]
        row["fast_timings"] = fast.timings
        row["fast_orders"] = fast.orders
        if not args.skip_backtrader:
            result, bt_times = timed(lambda: run_backtest(spec, prices, events))
            row["backtrader_s"] = bt_times[0]
            row["backtrader_orders"] = len(result.orders)
            row["backtrader_final"] = float(result.values.iloc[-1])
            row["fast_final"] = float(fast.values.iloc[-1])
            row["rebalances_logged"] = int(result.baskets["point"].nunique()) if result.baskets is not None else 0
            row["delisted_sales"] = int(result.orders["reason"].fillna("").str.startswith("delisted:").sum())
    row["total_s"] = time.perf_counter() - started
    text = section(row)
    print(text)
    if args.out is not None:
        write_section(args.out, text)
    return 0


def section(row: dict) -> str:
    import os

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        SECTION, "",
        f"Made by `python benchmarks/screens.py` in {row['total_s']:.0f} s on {os.cpu_count()} cores "
        f"(Python {platform.python_version()}; load average at the end {load}). A synthetic market "
        f"(never market history): {row['names']:,} names × {row['sessions']:,} sessions, a tenth listed late and a "
        f"tenth delisted early, {row['disclosures']:,} quarterly disclosures. One run of each case unless said.",
        "",
        "| case | measured | target |",
        "| --- | --- | --- |",
        f"| build the run's arrays (prices, disclosures by code and time, membership), median of 3 | "
        f"{row['build_s']:.2f} s | once per run |",
        f"| screen `pb < 1 and roe < 0.08`, rank pb, top 30, at each of {row['rebalances']} monthly rebalances | "
        f"median {row['screen_median_ms']:.1f} ms, max {row['screen_max_ms']:.1f} ms "
        f"({row['chosen_median']:.0f} names chosen, median) | well under a second: "
        f"{'met' if row['screen_max_ms'] < 1000 else '**not met**'} |",
        f"| governance theme screening monthly, screening engine, end to end | {row['fast_s']:.1f} s "
        f"(plan {row['fast_timings']['prepare_s']:.1f} s, decisions {row['fast_timings']['decide_s']:.1f} s, "
        f"engine {row['fast_timings']['engine_s']:.1f} s; {row['fast_orders']:,} orders) | |",
    ]
    if "backtrader_s" in row:
        same = abs(row["backtrader_final"] / row["fast_final"] - 1)
        lines.append(f"| the same on the backtrader engine, end to end | {row['backtrader_s']:.1f} s "
                     f"({row['backtrader_orders']:,} orders, {row['delisted_sales']} delisted holdings sold, "
                     f"{row['rebalances_logged']} rebalances in baskets.csv; final value within {same:.1e} of the "
                     f"screening engine's) | under a minute: {'met' if row['backtrader_s'] < 60 else '**not met**'} |")
    lines.append("")
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    """Replace this script's section of a results file (or append it), leaving the rest as it is."""
    old = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text.rstrip("\n") + "\n", old) if SECTION in old else old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


if __name__ == "__main__":
    raise SystemExit(main())
