"""Line up finished run folders on their common sessions and measure them side by side against the benchmark.

Reads files only (a run is never re-run): manifest.json, returns.csv and metrics.json are required;
config.yaml and trades.csv supply turnover and cost drag when present.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from backtest.results import metrics as m
from backtest.results import significance as stats
from backtest.errors import ResultsError, ThemebtError
from backtest.report.text_table import Column, table_lines

REQUIRED_FILES = ("manifest.json", "returns.csv", "metrics.json")
REBUILD = "Re-run its config with `themebt run CONFIG` to rebuild the folder."
NOT_A_RUN = ("Point at a folder written by `themebt run` (it holds manifest.json, returns.csv and "
             "metrics.json), or give its run id with --results.")

# (family, kinds or None for all, legend label): the events worth a vertical line on the excess chart
MARKER_GROUPS = (
    ("boj", ("hike",), "BOJ hike"),
    ("wages", None, "wage print (MHLW)"),
    ("shunto", ("first_tally",), "Shunto first tally"),
    ("us_policy", None, "US policy milestone"),
    # the milestones the governance theme trades on (its default kinds)
    ("governance", ("governance_code", "governance_code_revision", "cost_of_capital_request"), "governance milestone"),
)

# (key, label, kind); kind picks the format. The label's "{b}" is the benchmark's name. docs/compare.md
# defines each row and says where it comes from.
ROWS = (
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility", "pct"),
    ("sharpe", "Sharpe (daily returns)", "num"),
    ("sharpe_monthly", "Sharpe (monthly returns)", "num"),
    ("sortino", "Sortino", "num"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_length_sessions", "Max drawdown length (sessions)", "int"),
    ("longest_underwater_sessions", "Longest time under water (sessions)", "int"),
    ("calmar", "Calmar", "num"),
    ("hit_rate", "Hit rate (sessions up)", "pct"),
    ("turnover_annual", "Turnover (per year)", "pct"),
    ("cost_drag_annual", "Cost drag (per year)", "pct"),
    ("untraded_share_max", "Untraded sessions, thinnest holding", "pct"),
    ("excess_cagr", "Excess return vs {b} (CAGR)", "pct"),
    ("tracking_error", "Tracking error", "pct"),
    ("information_ratio", "Information ratio (annualised, daily)", "num"),
    ("information_ratio_monthly", "Information ratio (monthly returns)", "num"),
    ("beta", "Beta (daily returns)", "num"),
    ("beta_monthly", "Beta (monthly returns)", "num"),
    ("alpha_annual", "Alpha (annualised)", "pct"),
    ("alpha_t_stat", "Alpha t-stat (Newey-West)", "num"),
    ("up_capture", "Up capture (monthly)", "num"),
    ("down_capture", "Down capture (monthly)", "num"),
    ("ir_psr", "PSR of IR (P[true IR > 0])", "prob"),
    ("ir_dsr", "DSR of IR (deflated for trials)", "prob"),
    ("trials", "Trials behind the DSR", "int"),
    ("absolute_psr", "PSR of absolute Sharpe (P[Sharpe > 0])", "prob"),
    ("excess_ci_low", "Excess return 95% CI low", "pct"),
    ("excess_ci_high", "Excess return 95% CI high", "pct"),
)
RELATIVE_KEYS = ("excess_cagr", "tracking_error", "information_ratio", "information_ratio_monthly", "beta",
                 "beta_monthly", "alpha_annual", "alpha_t_stat", "up_capture", "down_capture", "ir_psr", "ir_dsr",
                 "trials", "excess_ci_low", "excess_ci_high", "turnover_annual", "cost_drag_annual",
                 "untraded_share_max")


@dataclass
class Run:
    """One run folder as read from disk. `returns` is returns.csv whole (index: sessions, the first
    row being the all-cash start); `strategy` and `benchmark` name its two columns."""

    folder: Path
    run_id: str
    strategy: str
    benchmark: str
    returns: pd.DataFrame
    manifest: dict
    metrics: dict
    config: dict | None
    trades: pd.DataFrame | None
    label: str = ""

    @property
    def synthetic(self) -> bool:
        return bool(self.manifest.get("data", {}).get("synthetic", False))

    @property
    def source(self) -> str:
        return str(self.manifest.get("data", {}).get("source", "unknown"))

    @property
    def periods_per_year(self) -> float:
        return float(self.metrics["periods_per_year"])

    @property
    def sessions(self) -> pd.DatetimeIndex:
        """Sessions that carry a return: every row but the all-cash start."""
        return self.returns.index[1:]

    def span(self) -> str:
        return f"{self.sessions[0].date()} to {self.sessions[-1].date()}"


@dataclass
class Comparison:
    """Runs aligned on common sessions. `returns`: index sessions, one column per run label;
    `benchmark_returns`: the first run's benchmark on the same sessions; `run_benchmarks`: each
    run's own benchmark column; `metrics`: column name → metric key → value (None if undefined)."""

    runs: list[Run]
    benchmark: str
    sessions: pd.DatetimeIndex
    returns: pd.DataFrame
    benchmark_returns: pd.Series
    run_benchmarks: pd.DataFrame
    periods_per_year: float
    metrics: dict[str, dict]
    trials: dict[str, int]
    trials_source: dict[str, str]
    sr_variance: dict[str, float]
    sr_variance_source: dict[str, str]
    ledgers: list[str]
    hac_lags: int
    block_sessions: int
    bootstrap_samples: int
    seed: int
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    @property
    def columns(self) -> list[str]:
        return [*self.labels, self.benchmark]

    @property
    def any_synthetic(self) -> bool:
        return any(r.synthetic for r in self.runs)

    def synthetic(self, column: str) -> bool:
        """Whether a column's numbers come from synthetic data (the benchmark's: the first run's data)."""
        run = self.runs[0] if column == self.benchmark else self.runs[self.labels.index(column)]
        return run.synthetic


# --------------------------------------------------------------------------- finding run folders


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".") and all((path / f).is_file() for f in REQUIRED_FILES[:2])


def resolve_run_folders(args, results_dir: Path, latest: int | None = None) -> list[Path]:
    """Run folders from paths or run ids (looked up under results_dir), then the `latest` newest runs there."""
    results_dir = Path(results_dir)
    folders: list[Path] = []
    for arg in args:
        path = Path(arg)
        if path.exists():
            folders.append(path)
        elif (results_dir / arg).exists():
            folders.append(results_dir / arg)
        else:
            raise ResultsError(path=str(arg),
                               problem=f"no such run folder (not a path, nor a run id in {results_dir}/)",
                               fix=f"Give a run folder's path, or a run id listed by `ls {results_dir}/`.")
    if latest:
        if not results_dir.is_dir():
            raise ResultsError(path=str(results_dir), problem="no such results folder",
                               fix="Point --results at the folder that holds your runs.")
        # run ids start with the UTC time, so their names sort by age
        found = sorted((p for p in results_dir.iterdir() if is_run_folder(p)), key=lambda p: p.name)
        if not found:
            raise ResultsError(path=str(results_dir), problem="no run folders here",
                               fix="Make some with `themebt run --all configs/`.")
        folders.extend(found[-latest:])
    return folders


# --------------------------------------------------------------------------- reading one run


def load_run(folder: Path) -> Run:
    """Read and check one run folder; any problem raises a ResultsError naming the file and the fix."""
    folder = Path(folder)
    if not folder.exists():
        raise ResultsError(path=str(folder), problem="no such run folder", fix=NOT_A_RUN)
    if not folder.is_dir():
        raise ResultsError(path=str(folder), problem="not a folder", fix=NOT_A_RUN)
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    if missing:
        raise ResultsError(path=str(folder), problem=f"not a run folder: {', '.join(missing)} missing", fix=NOT_A_RUN)
    manifest = _read_json(folder / "manifest.json")
    metrics_doc = _read_json(folder / "metrics.json")
    _check_hashes(folder, manifest)
    benchmark = manifest.get("benchmark")
    if not isinstance(benchmark, str) or not benchmark:
        raise ResultsError(path=str(folder / "manifest.json"), problem="no benchmark named", fix=REBUILD)
    if not isinstance(manifest.get("data", {}), dict):
        raise ResultsError(path=str(folder / "manifest.json"), problem="'data' is not a mapping", fix=REBUILD)
    ppy = metrics_doc.get("periods_per_year")
    if not isinstance(ppy, (int, float)) or isinstance(ppy, bool) or not math.isfinite(ppy) or not 1 <= ppy <= 400:
        raise ResultsError(path=str(folder / "metrics.json"),
                           problem=f"periods_per_year is {ppy!r}, not a number of sessions per year", fix=REBUILD)
    returns = _read_returns(folder / "returns.csv", benchmark)
    _check_span(folder, manifest, returns)
    strategy = next(c for c in returns.columns if c != benchmark)
    return Run(
        folder=folder,
        run_id=str(manifest.get("run_id") or folder.name),
        strategy=strategy,
        benchmark=benchmark,
        returns=returns,
        manifest=manifest,
        metrics=metrics_doc,
        config=_read_config(folder / "config.yaml"),
        trades=_read_trades(folder / "trades.csv"),
    )


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ResultsError(path=str(path), problem="not UTF-8 text", fix=REBUILD) from None
    except json.JSONDecodeError as exc:
        raise ResultsError(path=str(path), problem=f"not valid JSON ({exc.msg} at line {exc.lineno}; "
                                                   "truncated or edited?)", fix=REBUILD) from None
    if not isinstance(doc, dict):
        raise ResultsError(path=str(path), problem="not a JSON object", fix=REBUILD)
    return doc


def _check_hashes(folder: Path, manifest: dict) -> None:
    """Files listed in the manifest must still have the bytes the run wrote."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        return
    for name in ("returns.csv", "metrics.json", "trades.csv", "config.yaml"):
        expected = files.get(name)
        path = folder / name
        if not isinstance(expected, str) or not path.is_file():
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise ResultsError(path=str(path), problem="does not match the sha256 recorded in manifest.json "
                                                       "(changed or truncated after the run)", fix=REBUILD)


def _read_returns(path: Path, benchmark: str) -> pd.DataFrame:
    """returns.csv → index: sessions (tz-naive dates, increasing); columns: strategy, benchmark; floats."""
    def bad(problem: str):
        return ResultsError(path=str(path), problem=problem, fix=REBUILD)

    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
    except UnicodeDecodeError:
        raise bad("not UTF-8 text") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise bad(f"cannot be parsed as CSV ({str(exc).strip().splitlines()[-1]})") from None
    if raw.columns[0] != "date" or len(raw.columns) < 2:
        raise bad("the header is not 'date,<strategy>,<benchmark>'")
    if benchmark not in raw.columns:
        raise ResultsError(path=str(path), problem=f"no column for the benchmark '{benchmark}' "
                                                   f"(columns: {', '.join(raw.columns[1:])})", fix=REBUILD)
    others = [c for c in raw.columns[1:] if c != benchmark]
    if len(others) != 1:
        raise bad(f"expected one strategy column besides '{benchmark}', found {len(others)}")
    if len(raw) < 3:
        raise bad(f"only {len(raw)} rows; a comparison needs at least two sessions with returns")
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(raw["date"], format="%Y-%m-%d"), name="date")
    except (ValueError, TypeError):
        bad_rows = [i for i, d in enumerate(raw["date"]) if pd.to_datetime(d, format="%Y-%m-%d", errors="coerce")
                    is pd.NaT]
        first = bad_rows[0] if bad_rows else None
        raise bad(f"row {first + 2 if first is not None else '?'}: "
                  f"'{raw['date'].iloc[first] if first is not None else ''}' is not a YYYY-MM-DD date") from None
    if not dates.is_monotonic_increasing or dates.has_duplicates:
        raise bad("dates are not strictly increasing")
    frame = pd.DataFrame(index=dates)
    for col in (others[0], benchmark):
        values = pd.to_numeric(raw[col].str.strip().replace("", None), errors="coerce").to_numpy(dtype=float)
        broken = ~np.isfinite(values) | (values <= -1.0)
        if broken.any():
            i = int(np.flatnonzero(broken)[0])
            raise bad(f"row {i + 2}, column '{col}': '{raw[col].iloc[i]}' is not a daily return "
                      "(empty, not a number, or at most -100%; truncated?)")
        frame[col] = values
    return frame


def _check_span(folder: Path, manifest: dict, returns: pd.DataFrame) -> None:
    """A returns.csv cut short at a line break still parses; the manifest's session range catches it."""
    data = manifest.get("data", {})
    first, last = data.get("first_session"), data.get("last_session")
    if isinstance(last, str) and last != str(returns.index[-1].date()):
        raise ResultsError(path=str(folder / "returns.csv"),
                           problem=f"ends at {returns.index[-1].date()} but manifest.json says the run ends at "
                                   f"{last} (truncated?)", fix=REBUILD)
    if isinstance(first, str) and first != str(returns.index[0].date()):
        raise ResultsError(path=str(folder / "returns.csv"),
                           problem=f"starts at {returns.index[0].date()} but manifest.json says the run starts "
                                   f"at {first}", fix=REBUILD)


def _read_config(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a date like 2024-13-45
        raise ResultsError(path=str(path), problem=f"not valid YAML ({type(exc).__name__})", fix=REBUILD) from None
    return doc if isinstance(doc, dict) else None


def _read_trades(path: Path) -> pd.DataFrame | None:
    """trades.csv → columns fill_date (datetime), value_jpy, commission_jpy and, when the run recorded
    it, slippage_jpy (floats); None if there is no trades.csv."""
    if not path.is_file():
        return None
    try:
        trades = pd.read_csv(path)
        out = pd.DataFrame({
            "fill_date": pd.to_datetime(trades["fill_date"], format="%Y-%m-%d"),
            "value_jpy": pd.to_numeric(trades["value_jpy"], errors="raise").astype(float),
            "commission_jpy": pd.to_numeric(trades["commission_jpy"], errors="raise").astype(float),
        })
        if "slippage_jpy" in trades.columns:
            out["slippage_jpy"] = pd.to_numeric(trades["slippage_jpy"], errors="raise").astype(float)
    except (KeyError, ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as exc:
        raise ResultsError(path=str(path), problem=f"cannot be read ({type(exc).__name__}: {exc})",
                           fix=REBUILD) from None
    return out


# --------------------------------------------------------------------------- comparing


def _label_runs(runs: list[Run]) -> None:
    """Column labels: the strategy's name, with the run id's random suffix where two runs share it."""
    names = [r.strategy for r in runs]
    for run in runs:
        label = run.strategy
        if names.count(label) > 1 or label == run.benchmark:
            label = f"{run.strategy}-{run.run_id.rsplit('-', 1)[-1]}"
        run.label = label
    labels = [r.label for r in runs]
    for run in runs:
        if labels.count(run.label) > 1:
            run.label = run.run_id


def compare_runs(folders, trials: int | None = None, block_sessions: int = 21, bootstrap_samples: int = 2000,
                 seed: int = stats.BOOTSTRAP_SEED, trials_reason: str | None = None,
                 results_dir: Path | None = None) -> Comparison:
    """Read the run folders, align them on their common sessions and compute every column of the table.

    The Deflated Sharpe Ratio of each run counts the trials of its theme in the trial ledgers
    (results_dir's ledger.jsonl and the ones beside each run folder; backtest.results.ledger) on the same
    data and period, unless `trials` (with `trials_reason`) overrides the count.
    """
    if trials is not None and not (trials_reason or "").strip():
        raise ResultsError(path="--trials", problem="a trial count given without a reason",
                           fix="Say where the number comes from with --trials-reason, e.g. "
                               "--trials-reason '40 configurations tried in a notebook'.")
    warnings: list[str] = []
    runs: list[Run] = []
    seen: dict[Path, Path] = {}
    for folder in folders:
        key = Path(folder).resolve()
        if key in seen:
            warnings.append(f"{folder} is the same run as {seen[key]}; it is compared once")
            continue
        seen[key] = Path(folder)
        from backtest.results.readback import check_run_folder

        check_run_folder(Path(folder), warnings)  # read back as untrusted input: types, sizes, hashes present
        runs.append(load_run(Path(folder)))
    if not runs:
        raise ResultsError(path="(no runs)", problem="nothing to compare", fix="Give one or more run folders.")
    _label_runs(runs)

    first = runs[0]
    for run in runs[1:]:
        if run.benchmark != first.benchmark:
            raise ResultsError(path=str(run.folder), problem=f"its benchmark is {run.benchmark}, but {first.folder} "
                                                             f"uses {first.benchmark}",
                               fix="Compare runs against the same benchmark.")

    common = runs[0].sessions
    for run in runs[1:]:
        common = common.intersection(run.sessions)
    spans = "; ".join(f"{r.label} {r.span()} ({len(r.sessions)} sessions)" for r in runs)
    if len(common) < 2:
        raise ResultsError(path=", ".join(str(r.folder) for r in runs),
                           problem=f"the runs share fewer than two sessions ({spans})",
                           fix="Compare runs whose periods overlap.")
    trimmed = any(len(r.sessions) != len(common) for r in runs)
    if trimmed:
        warnings.append(f"the runs cover different sessions, so every number is computed on the "
                        f"{len(common)} sessions they share, {common[0].date()} to {common[-1].date()} "
                        f"(and differs from each run's own metrics.json): {spans}")

    sources = {r.source for r in runs}
    if len(sources) > 1:
        warnings.append("the runs use different data sources ("
                        + "; ".join(f"{r.label}: {r.source}" for r in runs)
                        + f"): each run is measured against its own {first.benchmark} column; "
                          f"the {first.benchmark} column of the table is {first.label}'s")
    if len({r.synthetic for r in runs}) > 1:
        warnings.append("synthetic demo data and market data are mixed in one comparison")
    bench_cols = pd.DataFrame({r.label: r.returns[r.benchmark].reindex(common) for r in runs})
    spread = float((bench_cols.max(axis=1) - bench_cols.min(axis=1)).abs().max())
    if len(sources) == 1 and spread > 1e-9:
        warnings.append(f"the runs' {first.benchmark} returns differ on shared sessions (by up to {spread:.2e}) "
                        "although the data source has the same name; each run is measured against its own")

    ppy_values = [r.periods_per_year for r in runs]
    if all(math.isclose(p, ppy_values[0], rel_tol=1e-9) for p in ppy_values):
        ppy = ppy_values[0]
    else:
        from backtest.market.calendar import sessions_per_year

        ppy = float(sessions_per_year(common))
        warnings.append(f"the runs were annualised with different sessions per year "
                        f"({', '.join(f'{p:.2f}' for p in ppy_values)}); the comparison uses {ppy:.2f}, "
                        f"the Tokyo calendar's figure for {common[0].year}-{common[-1].year}")

    returns = pd.DataFrame({r.label: r.returns[r.strategy].reindex(common) for r in runs})
    benchmark = first.returns[first.benchmark].reindex(common).rename(first.benchmark)

    # the headline significance is that of the active return over each run's own benchmark
    active = {r.label: returns[r.label] - bench_cols[r.label] for r in runs}
    moments = {r.label: stats.sharpe_moments(active[r.label]) for r in runs}
    records, ledgers = _ledger_records(runs, results_dir, warnings)
    n_trials, trials_source, sr_var, var_source = {}, {}, {}, {}
    compared = np.array([moments[r.label][0] for r in runs])
    for run in runs:
        fam = _family(run, records)
        ledger_srs = np.array([e["active_sharpe"] / math.sqrt(e["periods_per_year"]) for e in fam
                               if isinstance(e.get("active_sharpe"), (int, float))
                               and isinstance(e.get("periods_per_year"), (int, float)) and e["periods_per_year"] > 0],
                              dtype=float)
        theme = run.manifest.get("theme") or run.strategy
        if trials is None:
            n_trials[run.label] = len(fam)
            trials_source[run.label] = (f"{len(fam)} trial{'s' if len(fam) != 1 else ''} of {theme} on the same data "
                                        f"and period in the ledger" if ledgers else
                                        f"no ledger found: this run alone (1 trial of {theme})")
        else:
            n_trials[run.label] = int(trials)
            trials_source[run.label] = f"given with --trials: {trials_reason.strip()}"
            if int(trials) < len(fam):
                warnings.append(f"{run.label}: --trials {trials} is fewer than the {len(fam)} trials of {theme} "
                                "the ledger records on the same data and period: its DSR is too kind")
        if len(ledger_srs) >= 2 and np.isfinite(ledger_srs).all():
            sr_var[run.label] = float(np.var(ledger_srs, ddof=1))
            var_source[run.label] = f"the variance of the {len(ledger_srs)} ledger trials' IRs"
        elif len(runs) >= 2 and np.isfinite(compared).all():
            sr_var[run.label] = float(np.var(compared, ddof=1))
            var_source[run.label] = (f"the variance of the {len(runs)} compared runs' IRs (the ledger has fewer "
                                     f"than two trials of {theme})")
        else:
            sr, skew, kurt, n = moments[run.label]
            sr_var[run.label] = stats.sharpe_ratio_std(sr, n, skew, kurt) ** 2
            var_source[run.label] = "the sampling variance of the run's own IR (there is no spread of trials)"
    hac_lags = stats.newey_west_lags(len(common))

    table: dict[str, dict] = {}
    for run in runs:
        r, b = returns[run.label], bench_cols[run.label].rename(run.benchmark)
        table[run.label] = _column(run, r, b, common, ppy, moments[run.label], n_trials[run.label],
                                   sr_var[run.label], block_sessions, bootstrap_samples, seed, warnings)
    bench_row = m.summary(benchmark, ppy)
    bench_row.update({k: None for k in RELATIVE_KEYS})
    bench_row["sharpe_monthly"] = _finite(stats.monthly_figures(benchmark, benchmark)["sharpe"])
    sr, skew, kurt, n = stats.sharpe_moments(benchmark)
    bench_row["absolute_psr"] = _finite(stats.probabilistic_sharpe_ratio(sr, n, skew, kurt))
    table[first.benchmark] = bench_row

    return Comparison(
        runs=runs, benchmark=first.benchmark, sessions=common, returns=returns, benchmark_returns=benchmark,
        run_benchmarks=bench_cols, periods_per_year=ppy, metrics={k: m._rounded(v) for k, v in table.items()},
        trials=n_trials, trials_source=trials_source, sr_variance=sr_var, sr_variance_source=var_source,
        ledgers=ledgers, hac_lags=hac_lags, block_sessions=block_sessions, bootstrap_samples=bootstrap_samples,
        seed=seed, warnings=warnings,
    )


def _finite(x) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _ledger_records(runs: list[Run], results_dir: Path | None, warnings: list[str]) -> tuple[list[dict], list[str]]:
    """Every line of the ledgers that may hold these runs' trials: results_dir's and those up to three
    folders above each run (a sweep's top runs sit in <results>/sweep-*/top/)."""
    from backtest.results import ledger

    paths: list[Path] = []
    candidates = [Path(results_dir) / ledger.LEDGER] if results_dir is not None else []
    for run in runs:
        candidates += [parent / ledger.LEDGER for parent in list(Path(run.folder).resolve().parents)[:3]]
    for path in candidates:
        if path.is_file() and path.resolve() not in [p.resolve() for p in paths]:
            paths.append(path)
    records: list[dict] = []
    for path in paths:
        found, bad = ledger.read(path)
        records += found
        if bad:
            warnings.append(f"{path}: {bad} line{'s' if bad != 1 else ''} could not be read and "
                            f"{'are' if bad != 1 else 'is'} not counted as trials")
    return records, [str(p) for p in paths]


def _family(run: Run, records: list[dict]) -> list[dict]:
    """The ledger's trials of the run's theme on its data and period, with the run itself counted once."""
    from backtest.results import ledger

    data = run.manifest.get("data", {})
    theme, sha = run.manifest.get("theme"), data.get("sha256")
    first, last = data.get("first_session"), data.get("last_session")
    fam = []
    if all(isinstance(x, str) for x in (theme, sha, first, last)):
        fam = ledger.family(records, theme, sha, first, last)
    own = ledger.params_key((run.config or {}).get("params"))
    if run.run_id not in {e["run_id"] for e in fam} and own not in {ledger.params_key(e.get("params")) for e in fam}:
        full = run.returns.iloc[1:]
        moments = stats.sharpe_moments(full[run.strategy] - full[run.benchmark])
        fam.append({"run_id": run.run_id, "active_sharpe": moments[0] * math.sqrt(run.periods_per_year),
                    "periods_per_year": run.periods_per_year})
    return fam


def _column(run: Run, r: pd.Series, b: pd.Series, common: pd.DatetimeIndex, ppy: float, moments, n_trials: int,
            sr_var: float, block_sessions: int, samples: int, seed: int, warnings: list[str]) -> dict:
    out = m.summary(r, ppy)
    rel = m.relative(r, b, ppy)
    ab = stats.alpha_beta(r, b, ppy)
    up, down = stats.capture_ratios(stats.monthly_returns(r), stats.monthly_returns(b))
    monthly = stats.monthly_figures(r, b)
    b_cagr = m.cagr(b, ppy)
    out.update({
        "sharpe_monthly": _finite(monthly["sharpe"]),
        "excess_cagr": _finite(m.cagr(r, ppy) - b_cagr),
        "tracking_error": _finite(rel["tracking_error"]),
        "information_ratio": _finite(rel["information_ratio"]),
        "information_ratio_monthly": _finite(monthly["information_ratio"]),
        "beta": _finite(rel["beta"]),
        "beta_monthly": _finite(monthly["beta"]),
        "alpha_annual": _finite(rel["alpha_annual"]),
        "alpha_t_stat": _finite(ab["alpha_t_stat"]),
        "alpha_t_lags": ab["alpha_t_lags"],
        "up_capture": _finite(up),
        "down_capture": _finite(down),
        "months": monthly["months"],
    })
    daily = {"sharpe": out["sharpe"], "information_ratio": out["information_ratio"], "beta": out["beta"],
             "benchmark_sharpe": _finite(m.sharpe(b, ppy)), "tracking_error": out["tracking_error"]}
    out["daily_monthly_disagree"] = stats.disagreements(daily, monthly)
    if out["daily_monthly_disagree"]:
        def shown(k: str) -> str:
            if k == "sharpe" and daily.get("benchmark_sharpe") is not None:
                return (f"sharpe {daily[k]:.2f} daily vs {monthly[k]:.2f} monthly, the benchmark's "
                        f"{daily['benchmark_sharpe']:.2f} vs {monthly['benchmark_sharpe']:.2f}")
            return f"{k.replace('_', ' ')} {daily[k]:.2f} daily vs {monthly[k]:.2f} monthly"

        detail = "; ".join(shown(k) for k in out["daily_monthly_disagree"])
        thinnest = _liquidity(run, []).get("untraded_share_max")
        months = monthly.get("months") or 0
        # a holding that often did not trade explains the gap; otherwise it is most likely sampling noise
        cause = ("stale prices of untraded holdings can flatter daily figures; trust the monthly ones"
                 if thinnest is not None and thinnest >= STALE_SHARE else
                 f"no holding was often untraded, so this is most likely noise: with {months} months a monthly "
                 f"ratio's standard error is about {math.sqrt(12 / months):.2f}" if months else "")
        warnings.append(f"{run.label}: daily and monthly figures disagree ({detail}; margins "
                        + ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in stats.DISAGREEMENT_MARGIN.items())
                        + f"): {cause}")
    sr, skew, kurt, n = moments
    out["ir_per_session"] = _finite(sr)
    out["active_skewness"] = _finite(skew)
    out["active_excess_kurtosis"] = _finite(kurt - 3.0)
    out["ir_psr"] = _finite(stats.probabilistic_sharpe_ratio(sr, n, skew, kurt))
    out["trials"] = int(n_trials)
    out["expected_max_ir"] = _finite(stats.expected_max_sharpe(n_trials, sr_var) * math.sqrt(ppy))
    out["ir_dsr"] = _finite(stats.deflated_sharpe_ratio(sr, n, skew, kurt, n_trials, sr_var))
    a_sr, a_skew, a_kurt, a_n = stats.sharpe_moments(r)
    out["sharpe_per_session"] = _finite(a_sr)
    out["skewness"] = _finite(a_skew)
    out["excess_kurtosis"] = _finite(a_kurt - 3.0)
    out["absolute_psr"] = _finite(stats.probabilistic_sharpe_ratio(a_sr, a_n, a_skew, a_kurt))
    draws = stats.block_bootstrap_excess(r, b, ppy, block_sessions, samples, seed)
    lo, hi = stats.percentile_interval(draws)
    out["excess_ci_low"], out["excess_ci_high"] = _finite(lo), _finite(hi)
    out.update(_trading(run, common, ppy, warnings))
    out.update(_liquidity(run, warnings))
    return out


# A holding that did not trade on at least this share of its sessions can move daily figures.
STALE_SHARE = 0.05


def _liquidity(run: Run, warnings: list[str]) -> dict:
    """The share of sessions each holding did not trade, from metrics.json's liquidity (written by themebt run)."""
    liquidity = run.metrics.get("liquidity")
    if not isinstance(liquidity, dict):
        warnings.append(f"{run.label}: metrics.json has no liquidity record (a run from an older version), so the "
                        "share of sessions its holdings did not trade is not shown")
        return {"untraded_share_max": None, "untraded": None}
    shares = {}
    for ticker, row in sorted(liquidity.items()):
        if isinstance(row, dict) and isinstance(row.get("untraded_share"), (int, float)) \
                and math.isfinite(row["untraded_share"]):
            shares[str(ticker)] = {"untraded_share": float(row["untraded_share"]),
                                   "sessions_held": row.get("sessions_held"),
                                   "volume_known": bool(row.get("volume_known", False))}
    worst = max((v["untraded_share"] for v in shares.values()), default=None)
    return {"untraded_share_max": worst, "untraded": shares}


def _half_spread_bps(execution: dict) -> float | None:
    """The price concession per fill the run's config asked for: slippage_bps, or costs.half_spread_bps."""
    if isinstance(execution.get("slippage_bps"), (int, float)):
        return float(execution["slippage_bps"])
    costs = execution.get("costs")
    if isinstance(costs, dict) and isinstance(costs.get("half_spread_bps"), (int, float)):
        return float(costs["half_spread_bps"])
    return None


def _trading(run: Run, common: pd.DatetimeIndex, ppy: float, warnings: list[str]) -> dict:
    """Turnover and cost drag over the compared sessions, from trades.csv and config.yaml.

    Turnover = traded value / 2 / mean portfolio value / years (as backtest.results.metrics). Cost drag =
    (commission + slippage) / mean portfolio value / years, where slippage is trades.csv's slippage_jpy
    when the run recorded it, else the config's half-spread (slippage_bps or costs.half_spread_bps) ×
    traded value. The portfolio value is rebuilt as cash_jpy × ∏(1 + r), which is how the engine made
    the returns from it.
    """
    execution = (run.config or {}).get("execution") or {}
    cash = execution.get("cash_jpy")
    if run.trades is None or not isinstance(cash, (int, float)) or cash <= 0:
        warnings.append(f"{run.label}: {run.folder} has no trades.csv or no execution.cash_jpy in config.yaml, "
                        "so its turnover and cost drag are not shown")
        return {"turnover_annual": None, "cost_drag_annual": None}
    full = run.returns[run.strategy]
    values = float(cash) * (1.0 + full).cumprod()
    # from the session before the window's first return: on an untrimmed run that is the all-cash start,
    # the same sessions backtest.results.metrics averages over
    start = full.index.get_loc(common[0]) - 1
    mean_value = float(values.iloc[start:full.index.get_loc(common[-1]) + 1].mean())
    fills = run.trades[(run.trades["fill_date"] >= common[0]) & (run.trades["fill_date"] <= common[-1])]
    traded = float(fills["value_jpy"].sum())
    costs = float(fills["commission_jpy"].sum())
    if "slippage_jpy" in fills.columns:
        costs += float(fills["slippage_jpy"].sum())
    else:
        spread = _half_spread_bps(execution)
        if spread is None:
            warnings.append(f"{run.label}: config.yaml gives no half-spread, so its cost drag counts commission only")
        else:
            costs += spread / 1e4 * traded
        impact = (execution.get("costs") or {}).get("impact_bps") if isinstance(execution.get("costs"), dict) else 0
        if impact:
            warnings.append(f"{run.label}: its cost drag leaves out market impact ({impact:g} bp per 1% of volume), "
                            "which trades.csv does not record")
    years = len(common) / ppy
    return {"turnover_annual": _finite(traded / 2.0 / mean_value / years),
            "cost_drag_annual": _finite(costs / mean_value / years)}


# --------------------------------------------------------------------------- tables


def table_frame(comparison: Comparison) -> pd.DataFrame:
    """Index: metric keys (ROWS order); columns: run labels then the benchmark; values: floats or NaN."""
    data = {col: [comparison.metrics[col].get(key) for key, _, _ in ROWS] for col in comparison.columns}
    frame = pd.DataFrame(data, index=pd.Index([k for k, _, _ in ROWS], name="metric"), dtype=float)
    return frame


def no_minus_zero(x: float) -> float:
    """-0.001 shown to two decimals is '-0.00'; a table reads better with '0.00'."""
    return 0.0 if round(x, 2) == 0 else x


def format_value(value, kind: str, missing: str = "-", grouped: bool = False) -> str:
    """One table cell: kind pct | int | prob | num; `missing` for None or NaN; `grouped` puts commas in ints."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    if kind == "pct":
        return f"{no_minus_zero(value * 100):.2f}%"
    if kind == "int":
        return f"{int(value):,d}" if grouped else f"{int(value):d}"
    if kind == "prob":
        return f"{value:.3f}"
    return f"{no_minus_zero(value):.2f}"


def row_label(label: str, comparison: Comparison) -> str:
    return label.format(b=comparison.benchmark)


def _wrap_name(name: str, width: int) -> list[str]:
    """Split a column name after its underscores into lines of at most `width` (a longer part stays whole)."""
    words = name.split("_")
    parts = [w + "_" for w in words[:-1]] + [words[-1]]
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return lines


def format_table(comparison: Comparison) -> str:
    """The terminal table: one row per metric, one column per run and the benchmark."""
    labels = [row_label(label, comparison) for _, label, _ in ROWS]
    # the labels keep two more spaces before the first number column than the columns keep between them
    columns = [Column(min_width=max(len(label) for label in labels) + 2)]
    for c in comparison.columns:
        # a long run label wraps after its underscores, over as many header lines as it needs
        width = max(12, *(len(p) + 1 for p in c.split("_")))
        head = _wrap_name(c, width)
        if comparison.any_synthetic:
            head += ["synthetic", "demo data"] if comparison.synthetic(c) else ["", ""]
        columns.append(Column(tuple(head), "number", min_width=width))
    rows = [[label, *(format_value(comparison.metrics[c].get(key), kind) for c in comparison.columns)]
            for label, (key, _, kind) in zip(labels, ROWS)]
    lines = table_lines(columns, rows)
    lines.extend(footer(comparison))
    return "\n".join(line.rstrip() for line in lines)


def trials_line(comparison: Comparison) -> str:
    """How many trials each run's DSR counts, and where that number comes from."""
    labels = comparison.labels
    sources = [comparison.trials_source[label] for label in labels]
    counts = ", ".join(f"{label} {comparison.trials[label]}" for label in labels)
    if len(set(sources)) == 1 and sources[0].startswith("given with --trials"):
        return f"DSR trials: {comparison.trials[labels[0]]} for each run ({sources[0]})"
    if all(src.endswith("in the ledger") for src in sources):
        return f"DSR trials (configurations of each run's theme in the ledger, same data and period): {counts}"
    return "DSR trials: " + "; ".join(f"{label} {comparison.trials[label]} ({src})" for label, src in zip(labels, sources))


def footer(comparison: Comparison) -> list[str]:
    """The lines under the terminal table: window, annualisation, what the significance rows test."""
    s = comparison.sessions
    return [
        f"{s[0].date()} to {s[-1].date()}, {len(s)} sessions, annualised with "
        f"{comparison.periods_per_year:.1f} sessions/year",
        f"PSR/DSR of IR: active return over {comparison.benchmark} (skewness and excess kurtosis of the active "
        "returns); the absolute-Sharpe PSR tests Sharpe > 0 only",
        trials_line(comparison),
        f"alpha t-stat: Newey-West (HAC) standard error, {comparison.hac_lags} lags = floor(4(T/100)^(2/9)); "
        "capture ratios and monthly rows on calendar-month returns",
        f"95% CI: circular block bootstrap, {comparison.block_sessions}-session blocks, "
        f"{comparison.bootstrap_samples} samples",
    ]


def to_json(comparison: Comparison) -> dict:
    """Everything in the table and on the page, JSON-ready (fractions, not percent)."""
    s = comparison.sessions
    return {
        "benchmark": comparison.benchmark,
        "columns": comparison.columns,
        "window": {"first_session": str(s[0].date()), "last_session": str(s[-1].date()), "sessions": len(s),
                   "periods_per_year": comparison.periods_per_year},
        "runs": [{"label": r.label, "run_id": r.run_id, "folder": str(r.folder), "strategy": r.strategy,
                  "theme": r.manifest.get("theme"), "synthetic": r.synthetic, "data_source": r.source,
                  "data_sha256": r.manifest.get("data", {}).get("sha256"),
                  "first_session": str(r.sessions[0].date()), "last_session": str(r.sessions[-1].date())}
                 for r in comparison.runs],
        "metrics": comparison.metrics,
        "deflated_sharpe": {
            "tests": "information ratio: active return over the benchmark", "ledgers": comparison.ledgers,
            "by_run": {label: {"trials": comparison.trials[label], "trials_source": comparison.trials_source[label],
                               "ir_variance_per_session": m._rounded(comparison.sr_variance[label]),
                               "ir_variance_source": comparison.sr_variance_source[label]}
                       for label in comparison.labels}},
        "alpha_t_stat": {"standard_error": "Newey-West (HAC), Bartlett weights", "lags": comparison.hac_lags,
                         "lag_rule": "floor(4 * (T / 100) ** (2 / 9))"},
        "daily_monthly_margins": stats.DISAGREEMENT_MARGIN,
        "bootstrap": {"method": "circular block bootstrap, percentile interval", "level": 0.95,
                      "block_sessions": comparison.block_sessions, "samples": comparison.bootstrap_samples,
                      "seed": comparison.seed},
        "warnings": comparison.warnings,
    }


# --------------------------------------------------------------------------- event markers


def event_markers(comparison: Comparison) -> pd.DataFrame:
    """Events to mark on the charts, inside the compared window: columns event_date, group, description.

    The shipped event files plus each run's own events folder (config.yaml events.folder) when it
    still exists; an unreadable events folder only costs its markers, with a warning.
    """
    from backtest.events.calendar import list_events, load_events

    folders = []
    for run in comparison.runs:
        folder = ((run.config or {}).get("events") or {}).get("folder")
        if folder and folder not in folders:
            folders.append(folder)
    frames = []
    try:
        frames.append(list_events(load_events()))
    except ThemebtError as exc:
        comparison.warnings.append(f"shipped events could not be read, so no event markers: {exc}")
    for folder in folders:
        try:
            frames.append(list_events(load_events(folder)))
        except ThemebtError as exc:
            comparison.warnings.append(f"events folder {folder} is not marked: {exc}")
    if not frames:
        return pd.DataFrame(columns=["event_date", "group", "description"])
    events = pd.concat(frames, ignore_index=True).drop_duplicates(["family", "kind", "event_date", "description"])
    rows = []
    first, last = comparison.sessions[0], comparison.sessions[-1]
    for family, kinds, label in MARKER_GROUPS:
        pick = events["family"] == family
        if kinds is not None:
            pick &= events["kind"].isin(kinds)
        for _, ev in events[pick].iterrows():
            if first <= ev["event_date"] <= last:
                rows.append({"event_date": ev["event_date"], "group": label, "description": str(ev["description"])})
    frame = pd.DataFrame(rows, columns=["event_date", "group", "description"])
    return frame.sort_values("event_date", kind="mergesort").reset_index(drop=True)
