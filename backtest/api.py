"""The Python API: the calls behind `themebt run`, `compare` and `sweep`, for notebooks and scripts.

    import backtest as tb
    run = tb.run("configs/boj_rotation.yaml", data="demo", start="2020-01-06", end="2021-12-30")
    run.metrics["strategy"]["sharpe"], run.returns.tail()
    run.chart()                       # a matplotlib Figure
    folder = run.write("results")     # the same folder `themebt run` writes

Nothing here prints, exits or changes process-wide state: matplotlib's backend and rcParams are as
they were after a run and a chart. Bad input raises a ThemebtError subclass (backtest.errors) with
the file, field and fix.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from backtest.config import RunSpec
    from backtest.research.run import ComputedRun


def load_config(path: str | Path) -> "RunSpec":
    """Read and validate a theme config (YAML); a ConfigError names the file, field and fix."""
    from backtest.config import load_config as _load

    return _load(path)


def _date(value, name: str) -> dt.date | None:
    from backtest.errors import ConfigError

    if value is None or isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(file=name, field=repr(value), problem="not a date", fix="Write YYYY-MM-DD.") from None


def spec_with(config: "str | Path | RunSpec", data: str | None = None, start=None, end=None,
              clamp: bool = False, where: str = "start/end", allow_gaps: bool = False) -> "RunSpec":
    """A config (path or loaded spec) with the CLI's --data, --start, --end and --clamp overrides applied.

    Its `resolved` config, written to the run folder as config.yaml, holds the overrides and absolute
    paths, so re-running that file from any folder gives the same run.
    """
    from backtest.config import RunSpec
    from backtest.data import parse_data_option
    from backtest.errors import ConfigError

    spec = config if isinstance(config, RunSpec) else load_config(config)
    changes: dict[str, Any] = {}
    if data is not None:
        changes["data"] = parse_data_option(data, spec.data.files)
    if start is not None:
        changes["start"] = _date(start, "start")
    if end is not None:
        changes["end"] = _date(end, "end")
    if clamp:
        changes["clamp"] = True
    if allow_gaps:
        changes["allow_gaps"] = True
    spec = dataclasses.replace(spec, **changes)
    if spec.start and spec.end and spec.end < spec.start:
        raise ConfigError(file=where, field="period", problem=f"end {spec.end} is before start {spec.start}",
                          fix="Swap the dates.")
    return dataclasses.replace(spec, resolved=_resolved_with(spec))


def _resolved_with(spec) -> dict:
    from backtest.errors import DataError
    from backtest.safeio import expand_user

    resolved = dict(spec.resolved)
    resolved["period"] = {"start": spec.start.isoformat() if spec.start else None,
                          "end": spec.end.isoformat() if spec.end else None}
    data = dict(resolved.get("data") or {})
    data["source"] = spec.data.kind
    data["path"] = str(expand_user(spec.data.path, lambda problem: DataError(
        file=f"{spec.data.kind}:{spec.data.path}", field="data folder", problem=problem,
        fix="Give the folder's full path.")).resolve()) if spec.data.path else None
    data["dividends"] = spec.dividends_path
    resolved["data"] = data
    resolved["events"] = {**(resolved.get("events") or {}), "folder": spec.events_folder,
                          "allow_gaps": spec.allow_gaps}
    return resolved


@dataclass
class Run:
    """One backtest computed in memory. Nothing is written until `write`, `tearsheet` or `chart(path)`."""

    computed: "ComputedRun"
    folder: Path | None = None
    _written_warnings: list[str] | None = field(default=None, repr=False)
    _timings: dict | None = field(default=None, repr=False)

    # ----- what the run holds ------------------------------------------------------------------
    @property
    def spec(self) -> "RunSpec":
        return self.computed.spec

    @property
    def returns(self) -> "pd.DataFrame":
        """Daily returns of the theme and the benchmark (returns.csv)."""
        return self.computed.result.returns

    @property
    def positions(self) -> "pd.DataFrame":
        """Shares held per ticker at each session's close (positions.csv)."""
        return self.computed.result.positions

    @property
    def trades(self) -> "pd.DataFrame":
        """Every fill (trades.csv)."""
        return self.computed.result.trades

    @property
    def orders(self) -> "pd.DataFrame":
        """Every order and what became of it (orders.csv)."""
        return self.computed.result.orders

    @property
    def metrics(self) -> dict:
        """The dict metrics.json holds."""
        return self.computed.metrics

    @property
    def synthetic(self) -> bool:
        """True when the prices are the synthetic demo set: the numbers are not market history."""
        return self.computed.synthetic

    @property
    def warnings(self) -> list[str]:
        """The run's warnings (data, execution), and once written, those of the writing (a skipped tear sheet)."""
        return list(self.computed.warnings if self._written_warnings is None else self._written_warnings)

    def summary_lines(self, folder: bool = False, warnings: bool = True) -> list[str]:
        """The lines `themebt run` prints for this run: the synthetic label, the folder (once written,
        with folder=True), the metrics table, the execution note, the survivorship note, the warnings."""
        from backtest.data import SYNTHETIC_LABEL

        lines = [SYNTHETIC_LABEL] if self.synthetic else []
        if folder and self.folder is not None:
            lines.append(f"{self.folder}/")
        lines += [self.computed.table, self.computed.execution_note]
        if self.metrics.get("survivorship"):
            lines.append(self.metrics["survivorship"])
        if warnings:
            lines += [f"warning: {w}" for w in self.warnings]
        return lines

    @property
    def summary(self) -> str:
        """What `themebt run` prints for this run, without the folder line; warnings last."""
        return "\n".join(self.summary_lines())

    def __repr__(self) -> str:
        m = self.metrics
        tag = ", synthetic" if self.synthetic else ""
        return (f"<Run {self.spec.name}: {m['start']} to {m['end']}, CAGR {m['strategy']['cagr']:.2%}, "
                f"{self.computed.result.benchmark} {m['benchmark']['cagr']:.2%}{tag}>")

    # ----- files -------------------------------------------------------------------------------
    def write(self, out_dir: str | Path = "results", tearsheet: bool = True, ledger: bool = True,
              command: str = "", pool=None) -> Path:
        """Write the run folder `themebt run` writes (atomically, a new <run-id>/ under out_dir); its path.

        With ledger, the run is also a trial in out_dir's ledger.jsonl, as from the command line.
        pool: a backtest.research.workers.LocalPool that draws the tear sheet while this process writes
        the other files (the same bytes). Afterwards `timings` holds each phase's seconds.
        """
        from backtest.results.folder import check_writable
        from backtest.research.run import write_run_folder

        out_dir = Path(out_dir)
        check_writable(out_dir)
        outcome = write_run_folder(self.computed, out_dir, tearsheet=tearsheet, command=command or "backtest.api",
                                   ledger=ledger, pool=pool)
        self.folder = outcome.folder
        self._written_warnings = list(outcome.warnings)
        self._timings = dict(outcome.timings)
        return outcome.folder

    @property
    def timings(self) -> dict:
        """Seconds per phase: load, plan, engine, metrics, and once written, write and tear sheet."""
        return dict(self._timings if self._timings is not None else self.computed.timings)

    def tearsheet(self, path: str | Path) -> Path:
        """quantstats' HTML tear sheet of the theme against the benchmark, at `path`."""
        from backtest.report.tearsheet import tearsheet as write_tearsheet

        c, path = self.computed, Path(path)
        write_tearsheet(c.result.returns, c.result.strategy_name, c.result.benchmark, path, c.title,
                        c.periods_per_year, c.synthetic, note=c.metrics["survivorship"])
        return path

    def chart(self, path: str | Path | None = None) -> "Figure":
        """Growth of ¥1 for the theme and the benchmark, excess below: a Figure (also a PNG at `path`)."""
        from backtest.report.tearsheet import equity_figure, save_png

        c = self.computed
        fig = equity_figure(c.result.returns, c.result.strategy_name, c.result.benchmark, c.title)
        if path is not None:
            save_png(fig, Path(path))
        return fig


def run(config: "str | Path | RunSpec", data: str | None = None, start=None, end=None, clamp: bool = False,
        strict: bool = False, allow_gaps: bool = False) -> Run:
    """Backtest one theme config in memory, as `themebt run` does, and return the Run.

    data: "demo", "csv:PATH" or "store[:PATH]" (default: the config's); start/end: dates or
    "YYYY-MM-DD"; clamp: run on the span every instrument covers instead of refusing; strict: any
    data or run warning is an error; allow_gaps: run even when an event family the theme reads misses
    releases in the period (as events.allow_gaps; the run's metrics and summary say which).
    """
    from backtest.research.run import compute_run

    return Run(compute_run(spec_with(config, data, start, end, clamp, allow_gaps=allow_gaps), strict=strict))


@dataclass
class Compared:
    """Runs side by side: `table` (compare.csv), `text` (the terminal table), `returns` (aligned),
    `comparison` (backtest.report.compare.Comparison), `folder` (the written folder, or None)."""

    comparison: Any
    table: "pd.DataFrame"
    text: str
    warnings: list[str]
    folder: Path | None = None
    run_folders: list[Path] = field(default_factory=list)

    @property
    def returns(self) -> "pd.DataFrame":
        return self.comparison.returns

    @property
    def synthetic(self) -> bool:
        return bool(self.comparison.any_synthetic)

    def __repr__(self) -> str:
        return self.text


def compare(runs: Iterable["str | Path | Run"], out: str | Path | None = None, *, trials: int | None = None,
            trials_reason: str | None = None, block_sessions: int = 21, bootstrap_samples: int = 2000,
            quantstats: bool = False, results_dir: str | Path | None = None, pool=None) -> Compared:
    """Compare runs against the benchmark, as `themebt compare` does.

    runs: run folders, or Run objects (one not yet written is written first, without tear sheet or
    ledger line, into a temporary folder). With `out`, the comparison folder (compare.html, .csv,
    .json and, with quantstats, quantstats.html) is written there; it must not exist yet. pool: a
    backtest.research.workers.LocalPool that draws quantstats.html while this process writes the rest.
    """
    from backtest.report.compare import compare_runs, event_markers, format_table, table_frame

    folders: list[Path] = []
    scratch: Path | None = None
    for item in runs:
        if isinstance(item, Run):
            if item.folder is None:
                scratch = scratch or Path(tempfile.mkdtemp(prefix="themebt-compare-"))
                item.write(scratch, tearsheet=False, ledger=False)
            folders.append(Path(item.folder))  # type: ignore[arg-type]
        else:
            folders.append(Path(item))
    comparison = compare_runs(folders, trials=trials, block_sessions=block_sessions,
                              bootstrap_samples=bootstrap_samples, trials_reason=trials_reason,
                              results_dir=Path(results_dir) if results_dir is not None else None)
    folder = None
    if out is not None:
        from backtest.report.compare_page import write_comparison

        folder = write_comparison(comparison, Path(out), lambda: event_markers(comparison), quantstats=quantstats,
                                  pool=pool)
    return Compared(comparison=comparison, table=table_frame(comparison), text=format_table(comparison),
                    warnings=list(comparison.warnings), folder=folder, run_folders=folders)


def run_and_write(task: tuple) -> tuple[Run, dict]:
    """One config run and written in a worker of `themebt run --all --jobs`: (the written Run, its trial
    ledger line, for the parent to append in the configs' order). task: (spec, out_dir, tearsheet, command, strict)."""
    from backtest.research.run import ledger_entry

    spec, out_dir, tearsheet, command, strict = task
    result = run(spec, strict=strict)
    folder = result.write(out_dir, tearsheet=tearsheet, ledger=False, command=command)
    return result, ledger_entry(result.computed, folder)


def sweep(config: "str | Path | RunSpec", grid: dict[str, list], out_dir: str | Path = "results", *,
          engine: str = "fast", jobs: int = 1, top: int = 0, rank_by: str = "sharpe", tearsheets: bool = False,
          resume: str | Path | None = None, data: str | None = None, start=None, end=None,
          clamp: bool = False, cluster: str | None = None, on_point=None, on_folder=None, on_top=None,
          command: str = "backtest.api.sweep") -> dict:
    """Run a theme over a grid of parameters, as `themebt sweep` does; writes a sweep folder under out_dir.

    grid: param -> list of values, e.g. {"holding_sessions": [20, 60]}, each checked by the theme.
    cluster: a Dask scheduler address. on_point(done, total, record), on_folder(folder) and
    on_top(done, total) report progress (the command line draws its bars with them).
    Returns {"folder", "table" (results.csv as a DataFrame), "computed", "skipped", "top"}.
    """
    from backtest.research.sweep import check_grid, run_sweep

    spec = spec_with(config, data, start, end, clamp)
    checked = check_grid({k: list(v) for k, v in dict(grid).items()}, spec, file="grid")
    return run_sweep(spec, checked, out_dir=Path(out_dir), engine=engine, jobs=jobs, cluster=cluster,
                     resume=Path(resume) if resume is not None else None, top=top,
                     rank_by=rank_by, tearsheets=tearsheets, on_point=on_point, on_folder=on_folder,
                     on_top=on_top, command=command)
