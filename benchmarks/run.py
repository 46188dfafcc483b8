"""Time themebt against a naive backtrader set-up, and its screening engine, sweeps and reports, on the demo data.

    python benchmarks/run.py                 # about 6 minutes on 2 cores; writes benchmarks/results-<UTC time>.md
    python benchmarks/run.py --out benchmarks/results.md     # the same, replacing the tracked results.md
    python benchmarks/run.py --quick --out /tmp/results.md   # small sizes, one repeat: a smoke test

Without --out, the results go to a new file benchmarks/results-<UTC time>.md, so a run never rewrites
the tracked benchmarks/results.md unless that file is asked for.

Cases, one after the other in this process (memory cases in child processes):
  (a) naive backtrader: default Cerebro() (observers on), PandasData feeds, order_target_percent per
      name (sells first, else buys are refused for cash), on the first session of each month;
  (b) themebt's engine (backtest.execution.backtrader.engine.run_backtest) on the same monthly equal weight (theme
      equal_weight, zero costs, lot 1, no tick grid or price limits, 5% in cash, like (a));
  (f) the numpy screening engine (backtest.execution.screening) on the same decisions, and a plain numpy loop;
  (c) every config in configs/ end to end (themebt run without the tear sheet); (d) a tear sheet;
  (e) a sweep in 1 and 2 local processes, and on a local Dask cluster.
Sizes: 50 instruments × 5,000 sessions and 200 × 2,500. The demo set has 79 tradable names; the extra
ones for 200 are drawn from the demo's own factor model here (benchmark only, never in instruments.csv).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

WEIGHT = 0.95  # share invested by both set-ups; the rest absorbs open-versus-close gaps


# ----- data ---------------------------------------------------------------------------------------------
def universe(n_names: int, n_sessions: int):
    """TOPIX plus n_names tradable names on the first n_sessions demo sessions (a PriceFrame)."""
    from backtest.data import DataSource, load_prices
    from backtest.data.demo import _log_returns, _ohlcv, demo_history
    from backtest.data.frame import FIELDS, PriceFrame
    from backtest.market.instruments import Instrument, instruments

    known = instruments()
    names = [t for t, i in known.items() if i.kind == "stock"] + [t for t, i in known.items() if i.kind == "etf"]
    names = names[:n_names]
    prices = load_prices(DataSource("demo"), ["TOPIX", *names])
    frames = {f: getattr(prices, f) for f in FIELDS}
    extra = n_names - len(names)
    if extra > 0:
        sectors = [t for t, i in known.items() if i.kind == "etf" and i.sector17 == t]
        more = {f"Z{k:03d}": Instrument(f"Z{k:03d}", f"synthetic {k}", "stock", sectors[k % len(sectors)], 100)
                for k in range(extra)}
        returns = _log_returns({**known, **more}, len(prices.sessions))
        bars = {t: _ohlcv(inst, returns[t]) for t, inst in more.items()}
        for f in FIELDS:
            added = pd.DataFrame({t: bars[t][f] for t in more}, index=prices.sessions)
            frames[f] = pd.concat([frames[f], added], axis=1)
        demo_history.cache_clear()
    frames = {f: v.iloc[:n_sessions] for f, v in frames.items()}
    return PriceFrame(**frames, source="demo (synthetic)", synthetic=True)


def spec_for(prices):
    from backtest.config import spec_from_mapping

    names = prices.tickers[1:]
    raw = {"theme": "equal_weight", "params": {"basket": names, "rebalance_months": 1},
           "execution": {"commission_bps": 0, "slippage_bps": 0, "cash_buffer_pct": 100 * (1 - WEIGHT),
                         "ticks": False, "price_limits": False, "lot_sizes": dict.fromkeys(prices.tickers, 1),
                         "max_participation": None, "impact_coefficient": 0}}
    return spec_from_mapping(raw, file="benchmark")


# ----- the set-ups ----------------------------------------------------------------------------------------
def naive(prices, sizing="percent"):
    """(a): the textbook backtrader set-up. sizing='size' orders the whole shares themebt would
    (order_target_percent rounds a sell down, leaving one share more than the target)."""
    import backtrader as bt

    from backtest.execution.backtrader.engine import feed_frame
    from backtest.execution.backtrader.feeds import feed_arrays

    bars = feed_arrays(prices)
    weight = WEIGHT / (len(prices.tickers) - 1)

    class MonthlyEqualWeight(bt.Strategy):
        def next(self):
            if len(self) > 1 and self.data.datetime.date(0).month == self.data.datetime.date(-1).month:
                return
            value = self.broker.getvalue()
            names = self.datas[1:]
            target = {d: math.floor(value * weight / d.close[0]) for d in names}
            # as themebt does, the first portfolio is bought at the first close (backtrader's cheat-on-close)
            at_close = len(self) == 1
            for d in sorted(names, key=lambda d: target[d] > self.getposition(d).size):
                if sizing == "percent":
                    self.order_target_percent(d, target=weight, coc=at_close)
                else:
                    self.order_target_size(d, target=target[d], coc=at_close)

    cerebro = bt.Cerebro()
    for j, ticker in enumerate(prices.tickers):
        cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame(bars, prices.sessions, j), openinterest=None),
                        name=ticker)
    cerebro.broker.setcash(100_000_000)
    cerebro.broker.set_coc(True)  # only for orders that ask for it (coc=True in their info)
    cerebro.addstrategy(MonthlyEqualWeight)
    cerebro.run()
    return cerebro.broker.getvalue()


def themebt_engine(prices, fast_path=True):
    """(b): backtest.execution.backtrader.engine.run_backtest; fast_path=False is its PandasData / stock-broker reference."""
    from backtest.execution.backtrader import engine

    return float(engine.run_backtest(spec_for(prices), prices, reference=not fast_path).values.iloc[-1])


def numpy_floor(prices):
    """The least any engine must do: size on D's close, trade at D+1's open, value the book every session."""
    o, c = prices.open.to_numpy()[:, 1:], prices.close.to_numpy()[:, 1:]
    months = prices.sessions.month.to_numpy()
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    n = len(c)
    values = np.empty(n)
    cash, shares = 100_000_000.0, np.zeros(c.shape[1])
    values[0] = cash
    w = WEIGHT / c.shape[1]
    for k, d in enumerate(starts):
        target = np.floor(values[d] * w / c[d])
        f = d + 1
        if f >= n:
            break
        cash -= (target - shares) @ o[f]
        shares = target
        end = starts[k + 1] + 1 if k + 1 < len(starts) else n
        values[f:end] = cash + c[f:end] @ shares
    return values[-1]


# ----- timing ----------------------------------------------------------------------------------------------
def timed(fn, repeats):
    """fn() `repeats` times: (wall seconds list, cpu seconds list, last result)."""
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus, out


def stats(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt_s(s):
    return f"{s['median']:.3f} s ({s['min']:.3f}–{s['max']:.3f}, n={s['n']})" if s["median"] >= 0.1 else \
        f"{s['median'] * 1000:.1f} ms ({s['min'] * 1000:.1f}–{s['max'] * 1000:.1f}, n={s['n']})"


# ----- memory, in a child process each -------------------------------------------------------------------
def memory_case(names: int, sessions: int, engine: str) -> dict:
    prices = universe(names, sessions)
    if engine == "fast":
        from backtest.execution.screening import decisions, prepare, simulate

        spec = spec_for(prices)
        run = prepare(spec, prices)
        choices = decisions(run)
    import gc
    import tracemalloc

    def once():
        if engine == "fast":
            simulate(run, choices)
        else:
            themebt_engine(prices)

    gc.collect()
    # reset the kernel's high-water mark, so the peak below is the run's own, not the data generation's
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS") * 1024
    once()
    after = _status_kib("VmHWM") * 1024
    gc.collect()
    # a second run under tracemalloc, which has a memory cost of its own
    tracemalloc.start()
    once()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"names": names, "sessions": sessions, "engine": engine, "rss_before": before, "rss_peak": after,
            "python_peak": traced}


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def memory(sizes, engine):
    out = []
    for names, sessions in sizes:
        text = subprocess.run([sys.executable, __file__, "--memory-case", f"{names}:{sessions}:{engine}"],
                              capture_output=True, text=True, check=True, cwd=REPO).stdout
        out.append(json.loads(text.strip().splitlines()[-1]))
    return out


def import_time() -> float:
    code = "import time; t=time.perf_counter(); import backtest.execution.screening; print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=REPO).stdout) for _ in range(3)]
    return statistics.median(runs)


# ----- the report -------------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for pkg in ("backtrader", "numpy", "pandas", "quantstats", "dask", "distributed", "tqdm"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "loadavg_at_start": load,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def default_out(now=None) -> Path:
    """A new results file, benchmarks/results-<UTC time>.md (a numbered suffix if that second is taken)."""
    import datetime as dt

    stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    path, n = REPO / "benchmarks" / f"results-{stamp}.md", 1
    while path.exists():
        n += 1
        path = REPO / "benchmarks" / f"results-{stamp}-{n}.md"
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat (a smoke test)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where the results go; give benchmarks/results.md to replace the tracked file  "
                             "[default: a new benchmarks/results-<UTC time>.md]")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the raw numbers to this JSON file")
    parser.add_argument("--render", type=Path, default=None, help="re-write --out from a JSON file of --json")
    parser.add_argument("--memory-case", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = default_out()
    if args.render:
        args.out.write_text(render(json.loads(args.render.read_text(encoding="utf-8"))), encoding="utf-8")
        return
    if args.memory_case:
        names, sessions, engine = args.memory_case.split(":")
        print(json.dumps(memory_case(int(names), int(sessions), engine)))
        return
    os.environ.setdefault("MPLBACKEND", "Agg")
    sizes = [(10, 500), (40, 400)] if args.quick else [(50, 5000), (200, 2500)]
    repeats = 1 if args.quick else args.repeats
    info = machine()
    report = {"machine": info, "sizes": {}, "quick": args.quick}
    t_start = time.perf_counter()
    for names, sessions in sizes:
        prices = universe(names, sessions)
        bars = names * len(prices.sessions)
        row = {"instrument_days": bars}
        print(f"[{names} × {sessions}] (a) naive backtrader …", flush=True)
        w, c, value_a = timed(lambda: naive(prices, "percent"), repeats)
        row["a"] = {"wall": stats(w), "cpu": stats(c), "final": value_a}
        row["a_same_orders_final"] = naive(prices, "size")
        print(f"[{names} × {sessions}] (b) themebt engine …", flush=True)
        w, c, value_b = timed(lambda: themebt_engine(prices), repeats)
        row["b"] = {"wall": stats(w), "cpu": stats(c), "final": value_b}
        w, c, value_ref = timed(lambda: themebt_engine(prices, fast_path=False), 1)
        row["b_pandas_reference"] = {"wall": stats(w), "cpu": stats(c), "final": value_ref}
        print(f"[{names} × {sessions}] (f) screening engine …", flush=True)
        from backtest.execution.screening import decisions, prepare, simulate

        spec = spec_for(prices)
        w, _, run = timed(lambda: prepare(spec, prices), 1)
        prep = w[0]
        w, _, choices = timed(lambda: decisions(run), 1)
        decide = w[0]
        w, c, fast = timed(lambda: simulate(run, choices), max(5, repeats * 3))
        row["f"] = {"wall": stats(w), "cpu": stats(c), "final": fast.final_value, "prepare_s": prep,
                    "decide_s": decide}
        w, c, floor_value = timed(lambda: numpy_floor(prices), 7)
        row["floor"] = {"wall": stats(w), "final": float(floor_value)}
        report["sizes"][f"{names}x{sessions}"] = row
    report["import_fast_engine_s"] = import_time()
    print("memory …", flush=True)
    mem_sizes = [(20, 500), (40, 500)] if args.quick else [(50, 2500), (50, 5000), (200, 2500)]
    report["memory"] = {"backtrader": memory(mem_sizes, "backtrader"), "fast": memory(mem_sizes, "fast")}
    print("(c) every config end to end …", flush=True)
    report["themes"] = themes(args.quick)
    print("(d) tear sheet …", flush=True)
    report["tearsheet"] = tearsheet_case(repeats)
    print("(e) sweep …", flush=True)
    report["sweep"] = sweep_case(args.quick)
    report["total_s"] = time.perf_counter() - t_start
    text = render(report)
    args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(text)
    print(f"written to {args.out}")


def themes(quick: bool) -> list[dict]:
    from backtest.config import load_config
    from backtest.research.run import execute_run

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted((REPO / "configs").glob("*.yaml")):
            spec = load_config(path)
            if quick:
                spec = dataclasses.replace(spec, start=pd.Timestamp("2023-01-04").date())
            w, c, outcome = timed(lambda: execute_run(spec, Path(tmp), tearsheet=False), 1)
            out.append({"config": path.name, "wall": w[0], "cpu": c[0], "sessions": outcome.metrics["sessions"],
                        "tickers": len(spec.tickers)})
    return out


def tearsheet_case(repeats: int) -> dict:
    from backtest.config import load_config
    from backtest.data import load_prices
    from backtest.execution.backtrader.engine import run_backtest
    from backtest.report.tearsheet import tearsheet

    spec = load_config(REPO / "configs" / "boj_rotation.yaml")
    prices = load_prices(spec.data, spec.tickers, spec.start, spec.end)
    result = run_backtest(spec, prices)
    with tempfile.TemporaryDirectory() as tmp:
        w, c, _ = timed(lambda: tearsheet(result.returns, spec.name, spec.benchmark, Path(tmp) / "t.html", "bench",
                                          245.0, True), repeats)
    return {"wall": stats(w), "cpu": stats(c), "sessions": len(prices.sessions)}


def sweep_case(quick: bool) -> dict:
    from backtest.config import load_config
    from backtest.research.sweep import parse_grid, points, run_sweep

    spec = load_config(REPO / "configs" / "robotics_reindustrialization.yaml")
    if quick:
        spec = dataclasses.replace(spec, start=pd.Timestamp("2022-01-04").date())
    grid = parse_grid(["holding_sessions=20,40,60,90,120,180", "overweight=0.2,0.4"], spec)
    n = len(points(grid))
    out = {"config": "robotics_reindustrialization.yaml", "points": n, "grid": "holding_sessions × overweight"}
    with tempfile.TemporaryDirectory() as tmp:
        from backtest.research.sweep import load_inputs

        load_inputs(spec)  # the parent loads the data once; forked workers inherit it
        for label, kwargs in (("1 process", {"jobs": 1}), ("2 processes", {"jobs": 2})):
            w, c, _ = timed(lambda: run_sweep(spec, grid, out_dir=Path(tmp), top=0, **kwargs), 1)
            out[label] = {"wall": w[0], "points_per_s": n / w[0]}
        one = out["1 process"]["points_per_s"]
        out["scaling_2"] = out["2 processes"]["points_per_s"] / (2 * one)
        try:
            import distributed
        except ImportError:
            out["dask"] = "distributed not installed"
        else:
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                          dashboard_address=None) as cluster:
                run_sweep(spec, {"holding_sessions": [20]}, out_dir=Path(tmp), top=0,
                          cluster=cluster.scheduler_address)  # warm the workers: imports and data
                w, _, _ = timed(lambda: run_sweep(spec, grid, out_dir=Path(tmp), top=0,
                                                  cluster=cluster.scheduler_address), 1)
            out["dask LocalCluster 2 workers"] = {"wall": w[0], "points_per_s": n / w[0]}
        w, _, _ = timed(lambda: run_sweep(spec, {"holding_sessions": [20, 60]}, out_dir=Path(tmp), top=0,
                                          engine="backtrader", jobs=1), 1)
        out["backtrader engine, 1 process"] = {"wall": w[0], "points_per_s": 2 / w[0]}
    return out


# Figures the issue quotes for other libraries on "this kind of machine"; bt and vectorbt are not
# dependencies of themebt and are not timed here.
QUOTED = {"bt_50x5000_s": 1.2, "vectorbt_50x5000_s": 0.28}


def targets(r: dict) -> list[str]:
    """The issue's targets, each marked met or not from the numbers of this run."""
    def mark(ok):
        return "met" if ok else "**not met**"

    out = ["## Targets", "", "| target | measured | |", "| --- | --- | --- |"]
    sizes = r["sizes"]
    for size, row in sizes.items():
        ratio = row["a"]["wall"]["median"] / row["b"]["wall"]["median"]
        out.append(f"| ≥ 6× the naive set-up's throughput at {size.replace('x', ' × ')} | {ratio:.1f}× wall "
                   f"({row['a']['cpu']['median'] / row['b']['cpu']['median']:.1f}× CPU) | {mark(ratio >= 6)} |")
    same = all(row["b"]["final"] == row["b_pandas_reference"]["final"] for row in sizes.values())
    close = all(abs(row["b"]["final"] / row["a_same_orders_final"] - 1) < 1e-12 for row in sizes.values())
    out.append(f"| identical final values | fast path = PandasData path: {'yes' if same else 'NO'}; = naive set-up "
               f"with the same orders: {'yes (to 1e-12)' if close else 'NO'} | {mark(same and close)} |")
    big = sizes.get("50x5000")
    if big:
        b = big["b"]["wall"]["median"]
        out.append(f"| stretch: faster than bt on the same work | {b:.2f} s; bt not timed here (the issue quotes "
                   f"{QUOTED['bt_50x5000_s']} s on its machine) | **not met** (by the quoted figure) |")
        f = big["f"]["wall"]["median"]
        out.append(f"| screening engine under 20 ms at 50 × 5,000 | {f * 1000:.1f} ms engine time (+ {big['f']['decide_s'] * 1000:.0f} ms "
                   f"for the theme's decisions, once per parameter set) | {mark(f < 0.020)} |")
        out.append(f"| over 10× faster than vectorbt | {QUOTED['vectorbt_50x5000_s'] / f:.0f}× the issue's quoted "
                   f"{QUOTED['vectorbt_50x5000_s']} s (vectorbt not timed here) | {mark(QUOTED['vectorbt_50x5000_s'] / f > 10)} "
                   f"(by the quoted figure) |")
        ratios = {k: v["f"]["wall"]["median"] / v["floor"]["wall"]["median"] for k, v in sizes.items()}
        shown = ", ".join(f"{v:.1f}× at {k.replace('x', ' × ')}" for k, v in ratios.items())
        verdicts = ", ".join(f"{mark(v <= 5)} at {k.replace('x', ' × ')}" for k, v in ratios.items())
        out.append(f"| a few (≤ 5) times the plain numpy loop | {shown} | {verdicts} |")
    out.append(f"| importable in well under a second | {r['import_fast_engine_s']:.2f} s | "
               f"{mark(r['import_fast_engine_s'] < 0.75)} |")
    mem = r["memory"]["backtrader"]
    days = np.array([c["names"] * c["sessions"] for c in mem], dtype=float)
    growth = np.array([c["rss_peak"] - c["rss_before"] for c in mem], dtype=float)
    if len(days) >= 2:
        slope, icept = np.polyfit(days, growth, 1)
        fit = np.max(np.abs(np.polyval([slope, icept], days) - growth)) / growth.max()
        out.append(f"| memory linear in instrument-days (bytes per instrument-day) | backtrader path {slope:,.0f} B "
                   f"(largest misfit of a straight line {fit:.0%}); screening engine "
                   f"{np.polyfit(days, [c['rss_peak'] - c['rss_before'] for c in r['memory']['fast']], 1)[0]:,.0f} B | "
                   f"{mark(fit < 0.15)} |")
    s = r["sweep"]
    out.append(f"| sweep throughput with N local workers ≥ 0.8 × N × one worker's | N = 2: {s['scaling_2']:.2f} "
               f"| {mark(s['scaling_2'] >= 0.8)} |")
    out.append("")
    return out


def render(r: dict) -> str:
    m = r["machine"]
    lines = ["# Benchmarks", "",
             "Made by `python benchmarks/run.py`" + (" --quick (small sizes: not the targets' sizes)" if r["quick"] else "")
             + f" in {r['total_s'] / 60:.1f} minutes. Times are wall-clock medians of the runs, with (min–max, n);",
             "CPU time is shown too, because the machine is shared. Demo data (synthetic).", "",
             "## Machine", "",
             f"- {m['nproc']} cores: {m['cpu']}; {m['memory_gib']} GiB; load average at start "
             f"{', '.join(f'{x:.2f}' for x in m['loadavg_at_start'] or [])} (other work shared the machine)",
             f"- Python {m['python']} on {m['platform']}",
             "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), ""]
    lines += targets(r)
    lines += ["## (a) naive backtrader vs (b) themebt's engine", "",
              "| size | (a) naive wall | (a) CPU | (b) themebt wall | (b) CPU | speed-up wall | speed-up CPU | "
              "(b) instrument-bars/s | (b) on PandasData + stock broker |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, row in r["sizes"].items():
        a, b = row["a"], row["b"]
        lines.append(
            f"| {size.replace('x', ' × ')} | {fmt_s(a['wall'])} | {a['cpu']['median']:.2f} s | {fmt_s(b['wall'])} | "
            f"{b['cpu']['median']:.2f} s | **{a['wall']['median'] / b['wall']['median']:.1f}×** | "
            f"{a['cpu']['median'] / b['cpu']['median']:.1f}× | {row['instrument_days'] / b['wall']['median']:,.0f} | "
            f"{row['b_pandas_reference']['wall']['median']:.2f} s |")
    lines += ["", "Final values (JPY):", "",
              "| size | (a) order_target_percent | (a) same whole-share orders | (b) themebt fast path | "
              "(b) PandasData reference | screening engine | (b) vs (a) same orders |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for size, row in r["sizes"].items():
        gap = abs(row["b"]["final"] / row["a_same_orders_final"] - 1)
        lines.append(f"| {size.replace('x', ' × ')} | {row['a']['final']:,.1f} | {row['a_same_orders_final']:,.1f} | "
                     f"{row['b']['final']:,.1f} | {row['b_pandas_reference']['final']:,.1f} | {row['f']['final']:,.1f} | "
                     f"{'identical' if gap == 0 else f'relative gap {gap:.1e}'} |")
    lines += ["", "`order_target_percent` sizes a sale as `(value - target) // price` shares, so a position it "
              "reduces keeps one share more than the whole-share target; the same set-up with "
              "`order_target_size(floor(value × w / close))` sends the orders themebt sends, and ends at the "
              "same value (a gap of order 1e-15 is the order in which cash is summed: themebt sends sells in "
              "ticker order, the naive loop in feed order).", "",
              "## (f) the screening engine (backtest.execution.screening)", "",
              "| size | engine (simulate) | CPU | decisions (theme, once per parameter set) | prepare | plain numpy floor | "
              "engine / floor |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for size, row in r["sizes"].items():
        f = row["f"]
        lines.append(f"| {size.replace('x', ' × ')} | {fmt_s(f['wall'])} | {f['cpu']['median'] * 1000:.1f} ms | "
                     f"{f['decide_s']:.3f} s | {f['prepare_s']:.3f} s | {fmt_s(row['floor']['wall'])} | "
                     f"{f['wall']['median'] / row['floor']['wall']['median']:.1f}× |")
    lines += ["", f"`import backtest.execution.screening` in a fresh interpreter: {r['import_fast_engine_s']:.2f} s (median of 3).", "",
              "## Peak memory (RSS), one child process per case", "",
              "Peak RSS is the kernel's high-water mark during the run (reset just before it); the Python "
              "peak is what tracemalloc saw allocated at once (numpy arrays included).", "",
              "| engine | size | instrument-days | RSS before the run | peak RSS | RSS growth | Python peak | "
              "Python peak per instrument-day |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for engine, cases in r["memory"].items():
        for case in cases:
            days = case["names"] * case["sessions"]
            lines.append(f"| {engine} | {case['names']} × {case['sessions']} | {days:,} | {case['rss_before'] / 2**20:.0f} MiB | "
                         f"{case['rss_peak'] / 2**20:.0f} MiB | {(case['rss_peak'] - case['rss_before']) / 2**20:.1f} MiB | "
                         f"{case['python_peak'] / 2**20:.1f} MiB | {case['python_peak'] / days:,.0f} B |")
    for engine, cases in r["memory"].items():
        days = np.array([c["names"] * c["sessions"] for c in cases], dtype=float)
        growth = np.array([c["rss_peak"] - c["rss_before"] for c in cases], dtype=float)
        traced = np.array([c["python_peak"] for c in cases], dtype=float)
        if len(days) >= 2 and np.ptp(days) > 0:
            slope, icept = np.polyfit(days, growth, 1)
            tslope, ticept = np.polyfit(days, traced, 1)
            lines.append(f"\n{engine}: RSS growth ≈ {icept / 2**20:.1f} MiB + {slope:,.0f} bytes per instrument-day; "
                         f"Python peak ≈ {ticept / 2**20:.1f} MiB + {tslope:,.0f} bytes per instrument-day "
                         "(least squares over the sizes above).")
    lines += ["", "## (c) every theme end to end (themebt run, no tear sheet; full demo period)", "",
              "| config | tickers | sessions | wall | CPU |", "| --- | --- | --- | --- | --- |"]
    for t in r["themes"]:
        lines.append(f"| {t['config']} | {t['tickers']} | {t['sessions']} | {t['wall']:.2f} s | {t['cpu']:.2f} s |")
    ts = r["tearsheet"]
    lines += ["", "## (d) tear sheet", "", f"quantstats HTML of one run ({ts['sessions']} sessions): {fmt_s(ts['wall'])}.",
              "", "## (e) sweep", ""]
    s = r["sweep"]
    lines.append(f"{s['config']}, {s['points']} points ({s['grid']}), screening engine, no top re-runs:")
    lines.append("")
    for key, val in s.items():
        if isinstance(val, dict):
            lines.append(f"- {key}: {val['wall']:.2f} s, {val['points_per_s']:.2f} points/s")
        elif key == "dask":
            lines.append(f"- dask: {val}")
    lines.append(f"- scaling with 2 local processes: {s['scaling_2']:.2f} × (2 × one process's throughput)")
    lines += ["", "One measurement of small points (tens of ms each on the screening engine): the scaling figure moves "
              "with the machine's other load and with the pool's start-up. On a Dask cluster each point also pays "
              "for shipping the task and its result, which dominates points this small; Dask pays off for "
              "backtrader points and for clusters with more cores than this machine.", ""]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
