"""Parameter sweeps: every point of a grid of theme parameters, in parallel, resumable, in one results table.

A sweep folder `results/sweep-<UTC time>-<theme>-<4hex>/` holds:

* `sweep.json`: what was asked (config, grid, engine, period, data) and the number of trials;
* `points/<point>-<id>.json`: one file per finished point, written whole (backtest.safeio.write_atomic),
  so an interrupted sweep resumes where it stopped and never computes a finished point twice;
* `results.csv`: one row per point: its parameters, its metrics, the number of trials, and the
  Deflated Sharpe Ratio of each point given all the trials (backtest.results.significance);
* `top/`: the best points re-run on backtrader, each a full run folder with its tear sheet.

The screening engine (backtest.execution.screening) is the default; `engine="backtrader"` runs the engine of
record for every point. Points run in local processes, or on a Dask distributed cluster.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from backtest.config import RunSpec
from backtest.errors import ConfigError, ResultsError

ENGINES = ("fast", "backtrader")
CONNECT_TIMEOUT_S = 10
SWEEP_FILE = "sweep.json"
POINTS = "points"
GAPS_FILE = "event_gaps.json"  # written when the points read event families with missing releases allowed
TABLE = "results.csv"
METRIC_KEYS = ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate")
RELATIVE_KEYS = ("excess_cagr", "information_ratio", "tracking_error", "beta", "alpha_annual")


# ----- the grid -----------------------------------------------------------------------------------
def parse_grid(options: Iterable[str], spec: RunSpec, file: str = "--grid") -> dict[str, list]:
    """`param=v1,v2,...` options -> param -> values, each value checked as a config value would be.

    Values are YAML scalars (60, 0.5, true, hike); a list value joins its items with '+'
    (basket=1631+1632,1633 gives two baskets). Every point of the grid is validated by the theme,
    so a typo fails here with the usual config message, before anything runs.
    """
    grid: dict[str, list] = {}
    for option in options:
        name, sep, text = option.partition("=")
        name = name.strip()
        if not sep or not name or not text.strip():
            raise ConfigError(file=file, field=repr(option), problem="expected param=value1,value2,...",
                              fix="Write e.g. --grid holding_sessions=20,60,120.")
        if name in grid:
            raise ConfigError(file=file, field=f"params.{name}", problem="given in two --grid options",
                              fix="List all its values in one --grid option.")
        values = [_scalar_or_list(token.strip()) for token in text.split(",") if token.strip()]
        if not values or any(v == [] for v in values):
            raise ConfigError(file=file, field=f"params.{name}", problem=f"{option[:60]!r} gives no value to sweep",
                              fix="Write e.g. --grid holding_sessions=20,60,120: an empty grid sweeps nothing.")
        grid[name] = values
    return check_grid(grid, spec, file)


def check_grid(grid: dict[str, list], spec: RunSpec, file: str = "grid") -> dict[str, list]:
    """Each value, and every point, validated by the theme as a config value would be; param -> values."""
    checked = {name: [spec.theme_cls.validate_params({name: v}, file=file)[name] for v in values]
               for name, values in grid.items()}
    if not checked or not all(checked.values()):
        raise ConfigError(file=file, field="(grid)", problem="no parameters to sweep",
                          fix="Give at least one parameter with values, e.g. holding_sessions=20,60.")
    for point in points(checked):
        spec.theme_cls.validate_params({**spec.params, **point}, file=file)
    return checked


def _scalar_or_list(token: str):
    if "+" in token:
        return [_scalar(t.strip()) for t in token.split("+") if t.strip()]
    return _scalar(token)


def _scalar(token: str):
    try:
        value = yaml.safe_load(token)
    except (yaml.YAMLError, ValueError):  # safe_load raises a bare ValueError on dates such as 2024-13-45
        return token
    return value if isinstance(value, (int, float, bool, str)) else token


def points(grid: dict[str, list]) -> list[dict]:
    """Every combination, the first grid parameter varying slowest."""
    names = list(grid)
    return [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]


def point_id(point: dict) -> str:
    """8 hex digits naming a point by its values, so a resumed sweep finds it whatever its position."""
    text = json.dumps(_jsonable(point), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def spec_for(spec: RunSpec, point: dict) -> RunSpec:
    """The base spec with the point's parameters, validated, and its resolved config updated."""
    params = spec.theme_cls.validate_params({**spec.params, **point}, file=spec.config_path)
    resolved = dict(spec.resolved)
    resolved["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return dataclasses.replace(spec, params=params, resolved=resolved)


# ----- one point ------------------------------------------------------------------------------------
# Inputs and prepared runs are shared by the points of one sweep or walk-forward, and forgotten when it
# ends (forgets_inputs): a file edited between two sweeps in one notebook is read again, never served stale.
_INPUTS: dict = {}


def load_inputs(spec: RunSpec):
    """Prices, events and return-basis plan of a spec, as `execute_run` loads them; cached per process."""
    key = (repr(spec.data), tuple(spec.tickers), spec.start, spec.end, spec.clamp, spec.events_folder, spec.allow_gaps,
           spec.basis, spec.source_basis, tuple(sorted(spec.basis_by_ticker.items())), spec.dividends_path)
    if key not in _INPUTS:
        from backtest.market.calendar import sessions_per_year
        from backtest.research.run import load_run_inputs

        prices, events, plan, _ = load_run_inputs(spec)
        if len(_INPUTS) > 8:
            _INPUTS.clear()
        _INPUTS[key] = (prices, events, plan, sessions_per_year(prices.sessions))
    return _INPUTS[key]


_RUNS: dict = {}


def forget_inputs() -> None:
    _INPUTS.clear()
    _RUNS.clear()


def forgets_inputs(workflow):
    """Run workflow with the caches above, emptied when it returns or fails."""
    import functools

    @functools.wraps(workflow)
    def wrapper(*args, **kwargs):
        try:
            return workflow(*args, **kwargs)
        finally:
            forget_inputs()

    return wrapper


def _prepared(spec: RunSpec, prices, events, plan):
    """The fast engine's parts depend on the tickers and execution settings, not on the theme's other parameters."""
    from backtest.execution.screening import prepare

    key = (id(prices), tuple(prices.tickers), spec.execution.model_dump_json(), spec.benchmark, spec.costs,
           repr(spec.tick_tables), spec.large_constituents)
    if key not in _RUNS:
        if len(_RUNS) > 8:
            _RUNS.clear()
        _RUNS[key] = prepare(spec, prices, events, plan)
    return _RUNS[key].for_theme(spec.theme_cls(**spec.params))


def evaluate(spec: RunSpec, engine: str = "fast") -> dict:
    """Run one spec on one engine and return its metrics (JSON-ready) and its daily returns.

    Returns {"metrics": {...}, "returns": Series of the strategy, "benchmark": Series, "seconds": float}.
    """
    from backtest.results.metrics import compute_metrics
    from backtest.results.significance import sharpe_moments

    start = time.perf_counter()
    prices, events, plan, ppy = load_inputs(spec)
    if engine == "fast":
        from backtest.execution.compiled import runs_compiled, warm
        from backtest.execution.screening import decisions, simulate

        run = _prepared(spec, prices, events, plan)
        if runs_compiled(run):
            start += warm()  # the compiled loop's machine code, loaded once per process: not this point's time
        result = simulate(run, decisions(run), spec.name, records=False)  # a point keeps counts, not rows
        returns, values = result.returns, result.values
        trading = {"fills": result.fills, "orders": result.orders, "traded_jpy": result.traded_jpy,
                   "commission_jpy": result.commission_jpy}
    elif engine == "backtrader":
        from backtest.execution.backtrader.engine import run_backtest

        result = run_backtest(spec, prices, events, plan=plan)
        returns, values = result.returns, result.values
        trading = {"fills": int(len(result.trades)), "orders": int(len(result.orders)),
                   "traded_jpy": float(result.trades["value_jpy"].sum()) if len(result.trades) else 0.0,
                   "commission_jpy": float(result.trades["commission_jpy"].sum()) if len(result.trades) else 0.0}
    else:
        raise ConfigError(file="--engine", field=repr(engine), problem="unknown engine", fix="Use fast or backtrader.")
    full = compute_metrics(returns, spec.name, spec.benchmark, ppy)
    strat = returns[spec.name].iloc[1:]
    sr, skew, kurt, n = sharpe_moments(strat.to_numpy())
    # the question a sweep answers is whether a point beats the benchmark: its active return's moments
    active = (returns[spec.name] - returns[spec.benchmark]).iloc[1:]
    ir, a_skew, a_kurt, _ = sharpe_moments(active.to_numpy())
    years = len(strat) / ppy
    mean_value = float(values.mean())
    metrics = {k: full["strategy"][k] for k in METRIC_KEYS}
    metrics.update({k: full["relative"].get(k) for k in RELATIVE_KEYS})
    metrics.update({
        "benchmark_cagr": full["benchmark"]["cagr"], "benchmark_sharpe": full["benchmark"]["sharpe"],
        "final_value_jpy": float(values.iloc[-1]), "sessions": int(full["sessions"]),
        "periods_per_year": ppy, "sharpe_per_session": _finite(sr), "skew": _finite(skew),
        "excess_kurtosis": _finite(kurt - 3.0), "ir_per_session": _finite(ir), "active_skew": _finite(a_skew),
        "active_excess_kurtosis": _finite(a_kurt - 3.0),
        "observations": int(n), **trading,
        "turnover_annual": _finite(trading["traded_jpy"] / 2.0 / mean_value / years) if years > 0 else None,
    })
    return {"metrics": metrics, "returns": returns[spec.name], "benchmark": returns[spec.benchmark],
            "seconds": time.perf_counter() - start, "event_gaps": read_with_gaps(events)}


def read_with_gaps(events) -> list[str]:
    """The event families this process has read with missing releases allowed (events.allow_gaps)."""
    return sorted(events.gaps_allowed) if events is not None else []


def allowed_gaps(spec: RunSpec, families) -> list[dict]:
    """What the families read with gaps allowed miss over spec's whole period (FamilyGaps.as_dict rows):
    what a sweep or walk-forward folder records, as a run's manifest.json does."""
    names = sorted(set(families))
    if not names:
        return []
    prices, events, _, _ = load_inputs(spec)
    first, last = prices.sessions[0].date(), prices.sessions[-1].date()
    return [events.gaps(name, first, last).as_dict() for name in names]


def _finite(x):
    return float(x) if x is not None and math.isfinite(x) else None


def run_point(task: dict) -> dict:
    """One grid point, in whatever process runs it: the record stored in points/."""
    spec = spec_for(task["spec"], task["point"])
    out = evaluate(spec, task["engine"])
    record = {"point": task["index"], "id": task["id"], "params": _jsonable(task["point"]), "engine": task["engine"],
              "metrics": out["metrics"], "seconds": out["seconds"], "pid": os.getpid()}
    if out["event_gaps"]:  # families read with missing releases allowed (--allow-gaps)
        record["event_gaps"] = out["event_gaps"]
    return record


# ----- the folder -------------------------------------------------------------------------------------
def sweep_folder_name(theme: str, now: dt.datetime) -> str:
    return f"sweep-{now:%Y%m%dT%H%M%S}-{theme}-{secrets.token_hex(2)}"


def new_sweep_folder(out_dir: Path, theme: str, now: dt.datetime | None = None, record: str | None = None) -> Path:
    """A new sweep folder with its points/ folder and, given its text, sweep.json: created whole by the one
    folder writer (backtest.results.folder.write_folder), so a failed or killed start leaves no half folder."""
    from backtest.results.folder import write_folder

    now = now or dt.datetime.now(dt.timezone.utc)

    def fill(tmp: Path, name: str) -> None:
        (tmp / POINTS).mkdir()
        if record is not None:
            (tmp / SWEEP_FILE).write_text(record, encoding="utf-8")

    return write_folder(out_dir, lambda: sweep_folder_name(theme, now), fill)


def _write_atomic(path: Path, text: str) -> None:
    """A point's record or the table, replaced whole or not at all (backtest.safeio.write_atomic)."""
    _replace(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _replace(path: Path, write: Callable[[str], None]) -> None:
    from backtest.safeio import write_atomic

    try:
        write_atomic(path, write)
    except OSError as exc:
        raise ResultsError(path=str(path), problem=f"cannot be written ({exc.strerror or type(exc).__name__}); "
                           "the previous version is kept", fix="Free disk space or make the folder writable, then "
                           f"carry on with --resume {path.parent if path.parent.name != POINTS else path.parent.parent}."
                           ) from None


def describe(spec: RunSpec, grid: dict, engine: str) -> dict:
    """What identifies a sweep: a resumed sweep must ask exactly this again."""
    return {
        "config_file": spec.config_path, "theme": spec.theme, "config": spec.resolved,
        "grid": _jsonable(grid), "engine": engine, "data": spec.data.describe(),
        "synthetic_data": spec.data.kind == "demo",
        "start": str(spec.start) if spec.start else None, "end": str(spec.end) if spec.end else None,
        "trials": len(points(grid)),
    }


def finished(folder: Path) -> dict[str, dict]:
    """id -> record of every point already stored in the folder."""
    from backtest.results.readback import read_point

    out = {}
    points_dir = Path(folder) / POINTS
    if not points_dir.is_dir():
        raise ResultsError(path=str(points_dir), problem="missing, or not a folder",
                           fix="Give a folder that `themebt sweep` created, or start a new sweep.")
    for path in sorted(points_dir.glob("*.json")):
        # only complete files are renamed into place; a record that is not well-formed was edited or damaged
        record = read_point(path, check_id=point_id)
        out[record["id"]] = record
    return out


# ----- the sweep --------------------------------------------------------------------------------------
@forgets_inputs
def run_sweep(spec: RunSpec, grid: dict, out_dir: Path = Path("results"), engine: str = "fast", jobs: int = 1,
              cluster: str | None = None, resume: Path | None = None, top: int = 3, rank_by: str = "sharpe",
              tearsheets: bool = True, on_point: Callable[[int, int, dict], None] | None = None,
              on_folder: Callable[[Path], None] | None = None, command: str = "",
              on_top: Callable[[int, int], None] | None = None) -> dict:
    """Run every point of `grid` not yet in the folder, write the table, re-run the top points on backtrader.

    on_folder(folder) is called once the folder is known; on_point(done, total, record) in this process
    after each point is stored (a progress bar; raising KeyboardInterrupt there stops the sweep, and
    what is stored stays stored).
    Returns {"folder", "table" (DataFrame), "computed" (ids run now), "skipped" (ids found), "top" (folders),
    "event_gaps" (what the event families read with gaps allowed miss over the period, also in event_gaps.json)}.
    """
    if engine not in ENGINES:
        raise ConfigError(file="--engine", field=repr(engine), problem="unknown engine", fix="Use fast or backtrader.")
    if rank_by not in METRIC_KEYS + RELATIVE_KEYS:
        raise ConfigError(file="--rank-by", field=repr(rank_by), problem="not a metric of the results table",
                          fix=f"Use one of {', '.join(METRIC_KEYS + RELATIVE_KEYS)}.")
    asked = describe(spec, grid, engine)
    grid_points = points(grid)
    # data problems are the config's: find them here, for every point's tickers, before a folder exists
    for point in grid_points:
        load_inputs(spec_for(spec, point))
    if resume is not None:
        folder = Path(resume)
        _check_resume(folder, asked)
    else:
        folder = new_sweep_folder(out_dir, spec.name, record=json.dumps(
            {**asked, "command": command, "created": dt.datetime.now(dt.timezone.utc).isoformat()},
            indent=2, sort_keys=True, default=str) + "\n")
    if on_folder is not None:
        on_folder(folder)
    done = finished(folder)
    tasks = [{"spec": spec, "point": p, "index": i, "id": point_id(p), "engine": engine}
             for i, p in enumerate(grid_points)]
    todo = [t for t in tasks if t["id"] not in done]
    skipped = [t["id"] for t in tasks if t["id"] in done]
    computed: list[str] = []
    total = len(tasks)

    def store(record: dict) -> None:
        name = f"{record['point']:05d}-{record['id']}.json"
        _write_atomic(folder / POINTS / name, json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")
        done[record["id"]] = record
        computed.append(record["id"])
        ledger_line(spec_for(spec, record["params"]), record, f"{folder.name}/{record['id']}", "sweep",
                    folder.parent)
        if on_point is not None:
            on_point(len(done), total, record)

    for record in _execute(todo, jobs, cluster):
        store(record)
    gaps = allowed_gaps(spec, [name for record in done.values() for name in record.get("event_gaps", [])])
    if gaps:
        _write_atomic(folder / GAPS_FILE, json.dumps(gaps, indent=1, sort_keys=True) + "\n")
    table = results_table(folder, grid_points)
    top_folders = []
    if top > 0 and len(table):
        top_folders = rerun_top(spec, table, folder, top, rank_by, tearsheets, command, on_top)
    return {"folder": folder, "table": table, "computed": computed, "skipped": skipped, "top": top_folders,
            "event_gaps": gaps}


def ledger_line(point_spec: RunSpec, record: dict, run_id: str, kind: str, results_dir: Path) -> None:
    """Append one grid point to the trial ledger of results_dir (backtest.results.ledger); a failure is a warning."""
    import warnings

    from backtest.results import ledger

    prices, _, _, ppy = load_inputs(point_spec)
    note = ledger.try_append(results_dir, [ledger.record(
        kind=kind, run_id=run_id, theme=point_spec.theme, name=point_spec.name,
        params=point_spec.resolved.get("params", {}), data_sha256=prices.data_hash(), data_source=prices.source,
        first_session=prices.sessions[0], last_session=prices.sessions[-1], sessions=len(prices.sessions),
        periods_per_year=ppy, active_sharpe=record["metrics"].get("information_ratio"), synthetic=prices.synthetic)])
    if note:
        warnings.warn(note, stacklevel=2)


def _check_resume(folder: Path, asked: dict) -> None:
    from backtest.results.readback import read_sweep_file

    path = folder / SWEEP_FILE
    if not folder.is_dir() or not (path.exists() or path.is_symlink()):
        raise ConfigError(file=str(folder), field="--resume", problem="not a sweep folder (no sweep.json)",
                          fix="Give a folder that `themebt sweep` created.")
    stored = read_sweep_file(path)
    for key in ("theme", "grid", "engine", "data", "start", "end", "config"):
        if json.dumps(stored.get(key), sort_keys=True, default=str) != json.dumps(asked.get(key), sort_keys=True,
                                                                                  default=str):
            raise ConfigError(file=str(path), field=key, problem="differs from this command's",
                              fix="Resume with the same config, --grid, --engine and period, or start a new sweep.")


# Work that would take less than this in one process stays in it: starting workers costs about as much.
SERIAL_BELOW_S = 1.0
# A batch of points sent to a worker is at least this much work, so small points do not pay a round trip each.
BATCH_S = 0.25


def run_points(tasks: list[dict]) -> list[dict]:
    """Several grid points in one worker's call (a batch): their records, in the tasks' order."""
    return [run_point(task) for task in tasks]


def batches(tasks: list, seconds_each: float, workers: int) -> list[list]:
    """tasks cut into batches of about BATCH_S of work each, with at least three batches per worker when
    there are enough tasks (so a slow batch does not leave the other workers idle at the end)."""
    by_time = math.ceil(BATCH_S / max(seconds_each, 1e-3))
    by_balance = math.ceil(len(tasks) / (3 * workers))
    size = max(1, min(by_time, by_balance))
    return [tasks[i:i + size] for i in range(0, len(tasks), size)]


def _execute(tasks: list[dict], jobs: int, cluster: str | None):
    """Yield each task's record as it finishes: in this process, in local processes, or on a Dask cluster.

    Locally, at most `jobs` workers (never more than there are points) take the points in batches
    (see `batches`). On the screening engine the first point runs in this process and tells what a
    point costs: when the rest is less work than starting workers (SERIAL_BELOW_S), it stays here;
    else the workers, forked after it, start with its data and prepared engine.
    """
    if not tasks:
        return
    if cluster:
        yield from _on_dask(tasks, cluster)
        return
    from backtest.research.workers import LocalPool, useful_workers

    if useful_workers(jobs, len(tasks)) <= 1:
        for task in tasks:
            yield run_point(task)
        return
    rest, seconds = tasks, BATCH_S  # a backtrader point is worth a worker's round trip on its own
    if all(task["engine"] == "fast" for task in tasks):
        first = run_point(tasks[0])
        yield first
        rest, seconds = tasks[1:], first["seconds"]
        if seconds * len(rest) < SERIAL_BELOW_S:
            for task in rest:
                yield run_point(task)
            return
    workers = useful_workers(jobs, len(rest))
    with LocalPool(workers) as pool:
        for records in pool.unordered(run_points, batches(rest, seconds, workers)):
            yield from records


def _on_dask(tasks: list[dict], address: str):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError(file="--cluster", field=address, problem="dask.distributed is not installed",
                          fix="pip install 'dask[distributed]', or leave out --cluster.") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except OSError as exc:
        raise ConfigError(file="--cluster", field=address, problem=f"cannot reach the scheduler ({exc})",
                          fix="Give the address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786.") from None
    try:
        futures = client.map(run_point, tasks, pure=False)
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()


def results_table(folder: Path, grid_points: list[dict] | None = None) -> pd.DataFrame:
    """One row per stored point: point, id, param_* columns, metrics, trials and the Deflated Sharpe Ratio.

    trials is the number of points in the grid; dsr deflates each point's information ratio (the
    per-session Sharpe ratio of its active return over the benchmark, with that return's skewness
    and kurtosis) for having been picked among that many (backtest.results.significance.deflated_sharpe_ratio): the
    probability that the point truly beats the benchmark, not that its Sharpe ratio is above zero.
    """
    from backtest.results.significance import deflated_sharpe_ratio

    records = sorted(finished(folder).values(), key=lambda r: r["point"])
    from backtest.results.readback import read_sweep_file

    asked = read_sweep_file(Path(folder) / SWEEP_FILE)
    # every table a person reads says when its numbers come from synthetic prices
    synthetic = bool(asked.get("synthetic_data", str(asked.get("data", "")).startswith("demo")))
    trials = len(grid_points) if grid_points is not None else len(records)
    rows = []
    for r in records:
        row = {"point": r["point"], "id": r["id"], "engine": r["engine"], "synthetic_data": synthetic}
        row.update({f"param_{k}": "+".join(map(str, v)) if isinstance(v, list) else v for k, v in r["params"].items()})
        row.update(r["metrics"])
        row["seconds"] = r["seconds"]
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table["trials"] = trials
    if "ir_per_session" not in table:  # a point stored by an older version: its DSR cannot be stated
        table["dsr"] = np.nan
        _replace(Path(folder) / TABLE, lambda tmp: table.to_csv(tmp, index=False, float_format="%.10g",
                                                                lineterminator="\n"))
        return table
    irs = table["ir_per_session"].astype(float)
    variance = float(np.nanvar(irs.to_numpy(), ddof=1)) if irs.notna().sum() > 1 else 0.0
    table["dsr"] = [
        deflated_sharpe_ratio(ir, int(n), sk, ku + 3.0, trials, variance)
        if all(x is not None and np.isfinite(x) for x in (ir, sk, ku)) else np.nan
        for ir, n, sk, ku in zip(irs, table["observations"], table["active_skew"], table["active_excess_kurtosis"])
    ]
    from backtest.results.folder import safe_frame

    # parameters may name tickers: text cells are made spreadsheet-safe, numbers are left as numbers
    _replace(Path(folder) / TABLE, lambda tmp: safe_frame(table).to_csv(tmp, index=False, float_format="%.10g",
                                                                         lineterminator="\n"))
    return table


def rerun_top(spec: RunSpec, table: pd.DataFrame, folder: Path, top: int, rank_by: str, tearsheets: bool,
              command: str, on_run: Callable[[int, int], None] | None = None) -> list[Path]:
    """The best `top` points by `rank_by`, each run again on backtrader into folder/top/ with a tear sheet.

    on_run(done, total) is called before the first run and after each (a progress bar)."""
    from backtest.research.run import execute_run

    best = table.sort_values(rank_by, ascending=(rank_by in ("volatility", "tracking_error")), na_position="last")
    records = finished(folder)
    out = []
    keys = list(best["id"].head(top))
    if on_run is not None and keys:
        on_run(0, len(keys))
    for point_key in keys:
        point = records[point_key]["params"]
        point_spec = dataclasses.replace(spec_for(spec, point), name=f"{spec.name}-{point_key}")
        # the same configuration as its grid point, which the ledger already holds
        outcome = execute_run(point_spec, Path(folder) / "top", tearsheet=tearsheets, command=command, ledger=False)
        out.append(outcome.folder)
        if on_run is not None:
            on_run(len(out), len(keys))
    return out
