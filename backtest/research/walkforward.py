"""Walk-forward analysis: choose parameters on each training window, trade them on the window after it, stitch the trading windows.

Folds roll by the test length: train [s, s + train), test [s + train, s + train + test), then s moves
on by test, until the data ends (the last test window may be shorter). On each fold every grid point
is run on the training window (the screening engine by default) and the best by `rank_by` is
chosen; the chosen parameters then run on backtrader from the training window's start to the test
window's end, so that positions and signals are warmed up, and only the test window's returns are
kept. No test session is ever seen by the choice made for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.config import RunSpec
from backtest.errors import ConfigError
from backtest.research.sweep import _execute, _jsonable, forgets_inputs, point_id, points, run_points, spec_for
from backtest.research.workers import LocalPool, useful_workers

DURATION = re.compile(r"^\s*(\d+)\s*([ym])\s*$", re.I)


def parse_duration(text: str, field: str) -> pd.DateOffset:
    """'5y' or '18m' -> a calendar offset."""
    match = DURATION.match(str(text))
    if not match or int(match.group(1)) == 0:
        raise ConfigError(file=field, field=repr(text), problem="expected a length such as 5y or 18m",
                          fix="Give whole years (y) or months (m), above zero.")
    n, unit = int(match.group(1)), match.group(2).lower()
    return pd.DateOffset(years=n) if unit == "y" else pd.DateOffset(months=n)


@dataclass(frozen=True)
class Fold:
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp


def folds(sessions: pd.DatetimeIndex, train: pd.DateOffset, test: pd.DateOffset) -> list[Fold]:
    """Rolling folds on a session grid, every boundary counted from the first session, so the test
    windows follow each other without a gap or an overlap; every date is a session of the grid."""
    out = []
    first, last = sessions[0], sessions[-1]
    k = 0
    while True:
        begin = first + test * k if k else first
        cut = first + train + test * k
        stop = first + train + test * (k + 1)
        train_days = sessions[(sessions >= begin) & (sessions < cut)]
        test_days = sessions[(sessions >= cut) & (sessions < stop)]
        if len(test_days) == 0 or len(train_days) == 0:
            break
        out.append(Fold(train_days[0], train_days[-1], test_days[0], test_days[-1]))
        if test_days[-1] >= last:
            break
        k += 1
    return out


@dataclass
class WalkForward:
    """folds: one row per fold (dates, chosen parameters, in-sample and out-of-sample metrics).
    returns: index = sessions (the last training session, then every test session); columns =
    [name, benchmark]; the stitched out-of-sample daily returns (0 on the first row)."""

    folds: pd.DataFrame
    returns: pd.DataFrame
    metrics: dict
    insample: pd.DataFrame
    name: str
    benchmark: str
    periods_per_year: float
    synthetic: bool
    # (point spec, point record, "fold<k>/<point id>") of every in-sample grid point: the trial ledger's lines
    trials: list = dataclasses.field(default_factory=list)
    # what the event families read with missing releases allowed (--allow-gaps) miss over the whole period
    event_gaps: list = dataclasses.field(default_factory=list)


@forgets_inputs
def walk_forward(spec: RunSpec, grid: dict, train: str = "5y", test: str = "1y", engine: str = "fast",
                 rank_by: str = "sharpe", jobs: int = 1, cluster: str | None = None, on_fold=None) -> WalkForward:
    """Run the walk-forward of spec's theme over grid; see the module docstring."""
    from backtest.results.metrics import compute_metrics, sharpe
    from backtest.research.sweep import METRIC_KEYS, RELATIVE_KEYS, allowed_gaps, load_inputs

    if rank_by not in METRIC_KEYS + RELATIVE_KEYS:
        raise ConfigError(file="--rank-by", field=repr(rank_by), problem="not a metric",
                          fix=f"Use one of {', '.join(METRIC_KEYS + RELATIVE_KEYS)}.")
    train_off, test_off = parse_duration(train, "--train"), parse_duration(test, "--test")
    prices, _, _, ppy = load_inputs(spec)
    plan_folds = folds(prices.sessions, train_off, test_off)
    if not plan_folds:
        raise ConfigError(file="--train/--test", field=f"{train}/{test}",
                          problem=f"the data ({prices.sessions[0].date()} to {prices.sessions[-1].date()}) is shorter "
                                  "than one training window and a test session",
                          fix="Shorten --train, or use a longer period.")
    grid_points = points(grid)
    rows, pieces, bench_pieces, insample, trials = [], [], [], [], []
    windows = [dataclasses.replace(spec, start=fold.train_start.date(), end=fold.train_end.date()) for fold in plan_folds]
    fold_tasks = [[{"spec": window, "point": p, "index": i, "id": point_id(p), "engine": engine}
                   for i, p in enumerate(grid_points)] for window in windows]
    # One pool for the whole walk-forward: every fold's grid is one task (its points share the window's
    # data, loaded once by the worker that takes it), then every fold's out-of-sample run.
    workers = 1 if cluster else useful_workers(jobs, len(plan_folds))
    with LocalPool(workers) as pool:
        if cluster:
            fold_records = [list(_execute(tasks, jobs, cluster)) for tasks in fold_tasks]
        elif workers > 1:
            fold_records = list(pool.ordered(run_points, fold_tasks))
        else:
            fold_records = [run_points(tasks) for tasks in fold_tasks]
        fold_records = [sorted(records, key=lambda r: r["point"]) for records in fold_records]
        warms = [dataclasses.replace(spec_for(spec, grid_points[_best(records, rank_by)["point"]]),
                                     start=fold.train_start.date(), end=fold.test_end.date())
                 for fold, records in zip(plan_folds, fold_records)]
        tested = list(pool.ordered(_test_returns, warms) if workers > 1 else map(_test_returns, warms))
    for k, (fold, window, records, warm) in enumerate(zip(plan_folds, windows, fold_records, warms)):
        for r in records:
            trials.append((spec_for(window, r["params"]), r, f"fold{k}/{r['id']}"))
            insample.append({"fold": k, "point": r["point"], "id": r["id"], **{f"param_{n}": v for n, v in r["params"].items()},
                             **{m: r["metrics"][m] for m in ("cagr", "sharpe", "max_drawdown", "excess_cagr")}})
        chosen = _best(records, rank_by)
        point = grid_points[chosen["point"]]
        window_returns = tested[k][0].loc[fold.test_start:fold.test_end]
        pieces.append(window_returns[warm.name])
        bench_pieces.append(window_returns[warm.benchmark])
        oos = window_returns[warm.name]
        rows.append({
            "fold": k, "train_start": fold.train_start.date(), "train_end": fold.train_end.date(),
            "test_start": fold.test_start.date(), "test_end": fold.test_end.date(), "test_sessions": len(oos),
            **{f"param_{n}": _cell(v) for n, v in point.items()},
            "is_sharpe": chosen["metrics"]["sharpe"], "oos_sharpe": _finite(sharpe(oos, ppy)) if len(oos) > 2 else None,
            "is_cagr": chosen["metrics"]["cagr"],
            "oos_return": float(np.prod(1 + oos.to_numpy()) - 1),
            "oos_benchmark_return": float(np.prod(1 + window_returns[warm.benchmark].to_numpy()) - 1),
        })
        if on_fold is not None:
            on_fold(k + 1, len(plan_folds), rows[-1])
    stitched = pd.concat(pieces)
    bench = pd.concat(bench_pieces)
    # a zero first row at the last training session: metrics and tear sheets skip the first row as the start
    start_row = prices.sessions[prices.sessions < stitched.index[0]][-1]
    returns = pd.DataFrame({spec.name: stitched, spec.benchmark: bench})
    returns = pd.concat([pd.DataFrame({spec.name: [0.0], spec.benchmark: [0.0]}, index=[start_row]), returns])
    returns.index.name = "date"
    metrics = compute_metrics(returns, spec.name, spec.benchmark, ppy)
    table = pd.DataFrame(rows)
    metrics["walkforward"] = {
        "folds": len(rows), "train": train, "test": test, "engine": engine, "rank_by": rank_by,
        "trials_per_fold": len(grid_points),
        "mean_is_sharpe": _finite(float(np.nanmean([r["is_sharpe"] for r in rows if r["is_sharpe"] is not None])))
        if any(r["is_sharpe"] is not None for r in rows) else None,
        "oos_sharpe": metrics["strategy"]["sharpe"],
    }
    read = [name for records in fold_records for r in records for name in r.get("event_gaps", [])]
    read += [name for _, names in tested for name in names]
    return WalkForward(table, returns, metrics, pd.DataFrame(insample), spec.name, spec.benchmark, ppy,
                       prices.synthetic, trials, allowed_gaps(spec, read))


def _test_returns(warm: RunSpec) -> tuple[pd.DataFrame, list[str]]:
    """The chosen point's backtrader run from the training window's start to the test window's end: its returns,
    and the event families read with missing releases allowed."""
    from backtest.execution.backtrader.engine import run_backtest
    from backtest.research.sweep import load_inputs, read_with_gaps

    prices, events, plan, _ = load_inputs(warm)
    return run_backtest(warm, prices, events, plan=plan).returns, read_with_gaps(events)


def _best(records: list[dict], rank_by: str) -> dict:
    """The record with the highest `rank_by` (lowest for volatility and tracking error); ties go to the earlier point."""
    lower_is_better = rank_by in ("volatility", "tracking_error")

    def key(r):
        v = r["metrics"].get(rank_by)
        if v is None or not math.isfinite(v):
            return (1, 0.0, r["point"])
        return (0, v if lower_is_better else -v, r["point"])

    return min(records, key=key)


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


def _cell(v):
    return "+".join(map(str, v)) if isinstance(v, (list, tuple)) else v


def format_folds(wf: WalkForward) -> str:
    """The folds side by side: chosen parameters, in-sample and out-of-sample Sharpe."""
    from backtest.report.text_table import frame_table

    params = [c for c in wf.folds.columns if c.startswith("param_")]
    shown = wf.folds[["fold", "train_start", "train_end", "test_start", "test_end", *params, "is_sharpe", "oos_sharpe",
                      "oos_return", "oos_benchmark_return"]].rename(columns=lambda c: c.removeprefix("param_"))
    text = frame_table(shown, decimals=3)
    wfm = wf.metrics["walkforward"]
    mean_is = wfm["mean_is_sharpe"]
    oos = wfm["oos_sharpe"]
    summary = (f"in-sample Sharpe (mean of folds) {mean_is:.2f}   out-of-sample Sharpe (stitched) "
               f"{oos:.2f}" if mean_is is not None and oos is not None else "Sharpe undefined")
    return f"{text}\n{summary}"


def walkforward_folder_name(name: str, now: dt.datetime) -> str:
    return f"walkforward-{now:%Y%m%dT%H%M%S}-{name}-{secrets.token_hex(2)}"


def write_walkforward(wf: WalkForward, out_dir: Path, spec: RunSpec, grid: dict, command: str = "",
                      tearsheet: bool = True) -> Path:
    """A new folder walkforward-<UTC time>-<theme>-<hex>/, written whole or not at all."""
    from backtest.data import SYNTHETIC_LABEL
    from backtest.report.tearsheet import equity_png, tearsheet as write_tearsheet
    from backtest.results.folder import write_csv, write_json

    from backtest.results.folder import write_folder

    now = dt.datetime.now(dt.timezone.utc)

    def fill(tmp: Path, name: str) -> None:
        label = f"{wf.name} walk-forward (out of sample) vs {wf.benchmark}"
        title = f"{label} — {SYNTHETIC_LABEL}" if wf.synthetic else label
        write_csv(wf.returns, tmp / "returns.csv")
        write_csv(wf.folds, tmp / "folds.csv", index=False)
        write_csv(wf.insample, tmp / "insample.csv", index=False)
        write_json(wf.metrics, tmp / "metrics.json")
        write_json({"config_file": spec.config_path, "config": spec.resolved, "grid": _jsonable(grid),
                    "command": command, "synthetic_data": wf.synthetic, "periods_per_year": wf.periods_per_year,
                    "event_gaps": wf.event_gaps, "created": now.isoformat()}, tmp / "walkforward.json")
        equity_png(wf.returns, wf.name, wf.benchmark, tmp / "equity.png", title)
        if tearsheet:
            write_tearsheet(wf.returns, wf.name, wf.benchmark, tmp / "tearsheet.html", title, wf.periods_per_year,
                            wf.synthetic)

    # one writer for every results folder: a name clash is retried, then refused with a ResultsError naming the
    # folder, and so is a failed write (a full disk, a read-only folder); a killed write leaves a .tmp-* folder
    final = write_folder(out_dir, lambda: walkforward_folder_name(spec.name, now), fill)
    from backtest.research.sweep import ledger_line

    for point_spec, record, point_id_ in wf.trials:  # every in-sample grid point of every fold is a trial
        ledger_line(point_spec, record, f"{final.name}/{point_id_}", "walkforward", Path(out_dir))
    return final
