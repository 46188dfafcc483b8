"""One run from spec to results folder: data, events, engine, metrics, files."""

from __future__ import annotations

import dataclasses
import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from backtest import __version__
from backtest.market.calendar import calendar_version, last_known_session, sessions_per_year
from backtest.config import RunSpec
from backtest.data import SYNTHETIC_LABEL, load_prices
from backtest.market.instruments import instruments
from backtest.market.dividends import plan_basis
from backtest.execution.backtrader.engine import RunResult, run_backtest
from backtest.errors import ConfigError, DataError, StrategyError, did_you_mean
from backtest.report.text_table import Column, table_lines
from backtest.results.metrics import compute_metrics
from backtest.data.quality import check_prices, liquidity, strict_error
from backtest.results.folder import dump_config, sha256_file, write_csv, write_json, write_run

PACKAGES = ("backtrader", "pandas", "numpy", "quantstats", "click", "exchange_calendars", "pydantic", "PyYAML")


@dataclass
class RunOutcome:
    folder: Path
    metrics: dict
    result: RunResult
    synthetic: bool
    synthetic_label: str
    table: str
    execution_note: str
    warnings: list[str]
    survivorship: str | None = None
    timings: dict = dataclasses.field(default_factory=dict)  # seconds per phase (themebt run --timings)


def check_tickers(spec: RunSpec) -> None:
    """On demo data every ticker must be one the demo set has; say which config field names it."""
    if spec.data.kind != "demo":
        return
    known = instruments()
    for ticker in spec.tickers:
        if ticker not in known:
            field = "benchmark" if ticker == spec.benchmark else _param_naming(spec, ticker)
            raise ConfigError(file=spec.config_path, field=field, problem=f"unknown ticker '{ticker}'",
                              fix=f"{did_you_mean(ticker, known)} Tickers are TSE codes as strings, e.g. \"1631\".")


def _param_naming(spec: RunSpec, ticker: str) -> str:
    for name, value in spec.params.items():
        if isinstance(value, (list, tuple)) and ticker in value:
            return f"params.{name}[{list(value).index(ticker)}]"
    return "params"


def load_run_inputs(spec: RunSpec, strict: bool = False):
    """Prices (on the run's return basis), events, basis plan and data-quality findings of a spec.

    Every problem here is the config's or the data's, raised before anything is written; with
    strict, data warnings are errors too. Shared by single runs and sweeps.

    Every instrument the run can hold or reads (spec.tickers: the benchmark, the theme's tickers and
    any series it reads) must have data over the whole period; otherwise the run is refused, or,
    with spec.clamp (--clamp, period.clamp), cut to the span they all cover (prices.period says so).
    """
    from backtest.events.calendar import load_events

    check_tickers(spec)
    try:
        prices = load_prices(spec.data, spec.tickers, spec.start, spec.end,
                             coverage="clamp" if spec.clamp else "require")
    except DataError as exc:
        if exc.fields.get("field") != "period":
            raise
        # a period outside the data is the config's doing: name the config, and the data it asked
        raise ConfigError(file=spec.config_path, field="period",
                          problem=f"{exc.fields['problem']} ({exc.fields['file']})", fix=exc.fields["fix"]) from None
    from backtest.execution.facts import with_universes

    prices = with_universes(spec, prices, load_prices)  # a screen's universe: every member, listed or not
    quality = check_prices(prices, spec.benchmark)
    if strict and (prices.warnings or quality):
        raise strict_error(prices.source, [*prices.warnings, *map(str, quality)])
    events = load_events(spec.events_folder)
    # a read of an event family that misses releases in the period is refused, or with allow_gaps recorded
    events.on_gaps = "allow" if spec.allow_gaps else "refuse"
    # refuse a basis the data cannot give before anything runs, so no results folder is left behind
    plan = plan_basis(spec, prices, known=set(instruments()))
    return dataclasses.replace(prices, basis=plan.run), events, plan, quality


@dataclass
class ComputedRun:
    """One run computed in memory, nothing written yet: what write_run_folder turns into a folder."""

    spec: RunSpec
    prices: object
    plan: object
    quality: list
    result: RunResult
    metrics: dict
    periods_per_year: float
    warnings: list[str]
    title: str
    timings: dict = dataclasses.field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.prices.synthetic)

    @property
    def table(self) -> str:
        return format_table(self.metrics, self.result.strategy_name, self.result.benchmark)

    @property
    def execution_note(self) -> str:
        return execution_note(self.spec, self.metrics)


def execute_run(spec: RunSpec, out_dir: Path, tearsheet: bool = True, command: str = "", strict: bool = False,
                ledger: bool = True, pool=None) -> RunOutcome:
    """Run one spec and write its folder; with strict, any warning is an error raised before anything is written.

    With ledger, the run is appended as a trial to out_dir's ledger.jsonl (backtest.results.ledger).
    """
    from backtest.results.folder import check_writable

    check_writable(out_dir)
    return write_run_folder(compute_run(spec, strict), out_dir, tearsheet=tearsheet, command=command, ledger=ledger,
                            pool=pool)


def compute_run(spec: RunSpec, strict: bool = False) -> ComputedRun:
    """Run one spec in memory: returns, positions, trades, orders, metrics and warnings; writes nothing.

    With strict, any warning is an error.
    """
    started = time.perf_counter()
    prices, events, plan, quality = load_run_inputs(spec, strict)
    loaded = time.perf_counter()
    try:
        result = run_backtest(spec, prices, events, plan=plan)
    except StrategyError as exc:
        # weights the execution settings forbid come from the config's params: say which config
        raise ConfigError(file=spec.config_path, field=f"theme {spec.theme}", problem=exc.fields.get("problem", str(exc)),
                          fix=exc.fields.get("fix", "Correct the params or the execution settings.")) from None
    ran = time.perf_counter()
    ppy = sessions_per_year(prices.sessions)
    metrics = compute_metrics(result.returns, result.strategy_name, result.benchmark, ppy, result.trades, result.values)
    metrics["orders"] = order_counts(result.orders)
    metrics["annualisation"] = {
        "sessions_per_year": ppy,
        "method": "mean number of XTKS sessions in the calendar years the data covers; sqrt of it for volatility "
                  "and Sharpe, sessions / it for CAGR years",
        "calendar": calendar_version(),
    }
    metrics["basis"] = plan.run
    metrics["execution"] = result.execution
    metrics["capacity"] = result.capacity
    metrics["cash_weight_mean"] = float(result.cash_weight.mean()) if result.cash_weight is not None else None
    metrics["synthetic_data"] = prices.synthetic
    metrics["period"] = period_record(prices)
    from backtest.results.metrics import untraded_shares

    # every instrument's sessions without a trade in the period (a data fact), and each holding's
    # share of its held sessions without one (what flatters daily figures)
    metrics["data_liquidity"] = liquidity(prices)
    metrics["liquidity"] = untraded_shares(result.positions, prices.tradable, prices.volume.notna().any())
    metrics["survivorship"] = survivorship_note(spec)
    metrics["delisted"] = delisted_sales(result.orders)
    metrics["event_gaps"] = [events.gaps_allowed[f].as_dict() for f in sorted(events.gaps_allowed)]
    warnings = [*result.warnings, *map(str, quality)]
    if prices.sessions[-1] > last_known_session():
        warnings.append("the backtest runs past the last session the trading calendar knows")
    if strict and warnings:
        raise strict_error(prices.source, warnings)
    label = f"{result.strategy_name} vs {result.benchmark}, {plan.label()}"
    title = f"{label} — {SYNTHETIC_LABEL}" if prices.synthetic else f"{label} ({prices.source})"
    timings = {"load": loaded - started, **result.timings, "metrics": time.perf_counter() - ran}
    return ComputedRun(spec=spec, prices=prices, plan=plan, quality=quality, result=result, metrics=metrics,
                       periods_per_year=ppy, warnings=warnings, title=title, timings=timings)


def write_run_folder(run: ComputedRun, out_dir: Path, tearsheet: bool = True, command: str = "",
                     ledger: bool = True, pool=None) -> RunOutcome:
    """Write a computed run's folder under out_dir, atomically (backtest.results.folder.write_run); with ledger,
    append it as a trial to out_dir's ledger.jsonl. pool: a backtest.research.workers.LocalPool to draw the
    tear sheet in while this process writes the other files (the same bytes either way); None draws it here."""
    spec, prices, result, metrics, ppy, quality = (run.spec, run.prices, run.result, run.metrics,
                                                   run.periods_per_year, run.quality)
    warnings = list(run.warnings)
    timings = dict(run.timings)

    def fill(folder: Path, run_id: str) -> None:
        from backtest.report.tearsheet import equity_png, tearsheet as write_tearsheet

        started = time.perf_counter()
        drawing = None
        if tearsheet:
            args = (result.returns, result.strategy_name, result.benchmark, folder / "tearsheet.html", run.title,
                    ppy, prices.synthetic)
            drawing = pool.submit(write_tearsheet, *args, note=metrics["survivorship"]) if pool is not None else None
        dump_config(spec.resolved, folder / "config.yaml")
        write_csv(result.returns, folder / "returns.csv")
        write_csv(result.positions, folder / "positions.csv")
        write_csv(result.trades, folder / "trades.csv", index=False)
        write_csv(result.orders, folder / "orders.csv", index=False)
        if result.baskets is not None:
            write_csv(result.baskets, folder / "baskets.csv", index=False)
        write_json(metrics, folder / "metrics.json")
        equity_png(result.returns, result.strategy_name, result.benchmark, folder / "equity.png", run.title)
        written = time.perf_counter()
        if tearsheet:
            try:
                if drawing is None:
                    write_tearsheet(*args, note=metrics["survivorship"])
                else:
                    drawing.result()
            except OSError:
                raise  # a full disk is the run's failure, not the chart's
            except Exception as exc:  # noqa: BLE001 - quantstats cannot draw every legal run (one session, no moves)
                (folder / "tearsheet.html").unlink(missing_ok=True)
                warnings.append(f"tear sheet skipped: quantstats cannot draw it for this run ({type(exc).__name__}); "
                                "metrics.json and equity.png have the results")
        # drawn beside the writes: the tear sheet's own time is what the run waited for after them
        timings["write"] = written - started
        timings["tear sheet"] = time.perf_counter() - written
        manifest = _manifest(spec, prices, run_id, command, ppy, warnings, folder)
        manifest["data_quality"] = [f.as_dict() for f in quality]
        manifest["period"] = metrics["period"]
        manifest["liquidity"] = metrics["data_liquidity"]
        manifest["basis"] = result.basis
        manifest["execution"] = result.execution
        manifest["event_gaps"] = metrics["event_gaps"]
        write_json(manifest, folder / "manifest.json")

    folder = write_run(out_dir, spec.name, fill)
    if ledger:
        from backtest.results import ledger as trials

        note = trials.try_append(out_dir, [ledger_entry(run, folder)])
        if note:
            warnings.append(note)
    return RunOutcome(
        folder=folder, metrics=metrics, result=result, synthetic=prices.synthetic, synthetic_label=SYNTHETIC_LABEL,
        table=run.table, execution_note=run.execution_note, warnings=warnings, survivorship=metrics["survivorship"],
        timings=timings,
    )


def ledger_entry(run: ComputedRun, folder: Path) -> dict:
    """The trial ledger's line of a run written to folder (backtest.results.ledger)."""
    from backtest.results import ledger as trials

    spec, prices = run.spec, run.prices
    return trials.record(
        kind="run", run_id=folder.name, theme=spec.theme, name=spec.name, params=spec.resolved.get("params", {}),
        data_sha256=prices.data_hash(), data_source=prices.source, first_session=prices.sessions[0],
        last_session=prices.sessions[-1], sessions=len(prices.sessions), periods_per_year=run.periods_per_year,
        active_sharpe=run.metrics["relative"]["information_ratio"], synthetic=prices.synthetic)


def run_in_worker(task: tuple) -> tuple[RunOutcome, dict]:
    """One whole run (tear sheet drawn here) in a worker of `themebt run --all --jobs`: its outcome and its
    ledger line, which the parent appends in the configs' order, as --jobs 1 does."""
    spec, out_dir, tearsheet, command, strict = task
    run = compute_run(spec, strict)
    outcome = write_run_folder(run, out_dir, tearsheet=tearsheet, command=command, ledger=False)
    return outcome, ledger_entry(run, outcome.folder)


def survivorship_note(spec: RunSpec) -> str | None:
    """A warning when the theme holds a fixed list of names: today's listed names, chosen with hindsight."""
    if not [t for t in spec.tickers if t != spec.benchmark]:
        return None
    return ("survivorship: the basket is a fixed list of names listed today, chosen with hindsight; names "
            "delisted or merged away over the period are missing, which flatters the theme")


def delisted_sales(orders) -> list[dict]:
    """The holdings sold because their prices ended (delisted): ticker, date, shares and price (orders.csv)."""
    from backtest.execution.records import DELISTED

    reason = orders["reason"].fillna("").astype(str)
    rows = orders[reason.str.startswith(DELISTED) & (orders["status"] != "refused")]
    return [{"ticker": str(r.ticker), "date": str(r.fill_date) if r.fill_date is not None else None,
             "shares": int(r.shares_filled), "price": float(r.fill_price) if r.shares_filled else None}
            for r in rows.itertuples()]


def delisted_line(sales: list[dict]) -> str:
    """The summary line of a run that held names whose prices ended ('' otherwise)."""
    if not sales:
        return ""
    shown = ", ".join(f"{s['ticker']} on {s['date']}" for s in sales[:5]) + (", …" if len(sales) > 5 else "")
    return (f"delisted: {len(sales)} holding(s) sold in their last session's closing auction at the last price "
            f"({shown}; orders.csv, trades.csv)")


def order_counts(orders) -> dict:
    """How many orders were placed, trimmed for cash, carried to a later session, or never fully filled."""
    reason = orders["reason"].fillna("")
    unfilled = ~orders["status"].isin(["filled"])
    return {
        "total": int(len(orders)),
        "trimmed": int(reason.str.contains("trimmed", regex=False).sum()),
        "carried": int(reason.str.contains("carried:", regex=False).sum()),
        "not_fully_filled": int(unfilled.sum()),
    }


def period_record(prices) -> dict:
    """The period asked for, the one the run holds, whether it was clamped, and what each instrument's data covers."""
    record = dict(prices.period) if prices.period else {}
    record["coverage"] = {t: {"first": a, "last": b} for t, (a, b) in prices.coverage.items()}
    return record


def period_line(period: dict, record: str | None = "manifest.json") -> str:
    """The summary line of a clamped run ('' otherwise); `record` names the file that lists each instrument's dates."""
    if not period.get("clamped"):
        return ""
    asked, held = period["requested"], period["actual"]
    listed = f"; {record} period.coverage lists each instrument" if record else ""
    return (f"period: clamped to {held['start']} to {held['end']}, the span every instrument's data covers "
            f"(asked for {asked['start'] or 'the data start'} to {asked['end'] or 'the data end'}{listed})")


def execution_note(spec: RunSpec, metrics: dict) -> str:
    """The execution model, what happened to the orders and how much the market could absorb, in three
    lines (a fourth when the period was clamped)."""
    ex = metrics.get("execution") or {}
    orders = metrics["orders"]
    ticks = "TSE ticks" if ex.get("ticks", True) else "no tick rounding"
    limits = f"daily limits ({ex.get('limit_action', 'carry')})" if ex.get("price_limits", True) else "no daily limits"
    costs = ex.get("costs", "")
    cap = ex.get("max_participation")
    volume = f"≤ {cap:.0%} of volume" if cap else "no volume cap"
    impact = f"sqrt impact ×{ex['impact_coefficient']:g}" if ex.get("impact_coefficient") else "no impact"
    timing = ("news before an open → that open, else close → next open" if ex.get("news_at_open", True)
              else "every event → its close → next open")
    lines = [
        f"execution: open at the first close; {timing}; "
        f"rebalance {ex.get('rebalance', 'on_change')}; units 100 (stocks) / ETF units; {ticks}; {limits}; "
        f"costs: {costs}; {volume}; {impact}; {metrics.get('basis', 'price')} basis; "
        + ("units, ticks and limits on as-traded prices" if ex.get("as_traded_rules")
           else "units, ticks and limits on adjusted prices (the data has no split factors)"),
        f"orders: {orders['total']} placed, {orders['trimmed']} trimmed, {orders['carried']} carried, "
        f"{orders['not_fully_filled']} not fully filled (orders.csv)",
    ]
    capacity = metrics.get("capacity") or {}
    if capacity:
        parts = [f"largest fill {capacity['largest_participation']:.1%} of its session's volume"]
        if capacity.get("capacity_jpy"):
            parts.append(f"orders up to {capacity['largest_requested_participation']:.0%} of a session's volume: "
                         f"the cap binds above ¥{capacity['capacity_jpy']:,.0f} of capital")
        if metrics.get("cash_weight_mean") is not None:
            parts.append(f"average cash {metrics['cash_weight_mean']:.1%}")
        lines.append("capacity: " + "; ".join(parts))
    unknown = ex.get("units_unknown_before_2018_10_01") or []
    if unknown:
        # a fact about the data's coverage, not a data error: said, recorded in metrics.json, never refused
        lines.append(f"units: before 2018-10-01 not known for {len(unknown)} stock(s) ({', '.join(unknown[:5])}"
                     f"{', …' if len(unknown) > 5 else ''}): today's unit of 100 used; set execution.units_before")
    if line := delisted_line(metrics.get("delisted") or []):
        lines.append(line)
    if line := period_line(metrics.get("period") or {}):
        lines.append(line)
    lines += event_gap_lines(metrics.get("event_gaps") or [], "manifest.json event_gaps")
    return "\n".join(lines)


def event_gap_lines(gaps: list[dict], listed_in: str) -> list[str]:
    """A summary line for each event family read with its missing releases allowed (FamilyGaps.as_dict rows)."""
    return [f"events: run with gaps allowed (--allow-gaps): {gap['family']} ({gap['frequency']}) misses "
            f"{gap['missing']} of {gap['expected']} releases from {gap['checked_from']} to "
            f"{gap['checked_to']} ({listed_in} lists them)" for gap in gaps]


def _manifest(spec, prices, run_id, command, ppy, warnings, folder: Path) -> dict:
    from backtest.data.demo import DEMO_SEED

    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "run_id": run_id,
        "themebt_version": __version__,
        "python": platform.python_version(),
        "packages": versions,
        "command": command,
        "config_file": spec.config_path,
        "theme": spec.theme,
        "strategy_class": spec.theme_cls.__name__,
        "benchmark": spec.benchmark,
        "data": {
            "source": prices.source,
            "synthetic": prices.synthetic,
            "label": SYNTHETIC_LABEL if prices.synthetic else "market data from the source above",
            "sha256": prices.data_hash(),
            "tickers": prices.tickers,
            "first_session": str(prices.sessions[0].date()),
            "last_session": str(prices.sessions[-1].date()),
            "basis": prices.basis,
        },
        "seed": DEMO_SEED if prices.synthetic else None,
        "calendar": {"name": calendar_version(), "sessions_per_year": ppy},
        "warnings": warnings,
        "files": {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".json", ".yaml")},
    }


def format_table(metrics: dict, strategy: str, benchmark: str) -> str:
    def pct(x):
        return "n/a" if x is None else f"{x * 100:.2f}%"

    def num(x):
        return "n/a" if x is None else f"{x:.2f}"

    rel = metrics["relative"]
    # fixed widths (no gap): the layout the README and every earlier summary show
    columns = [Column("", "text", 24), Column("CAGR", "number", 9), Column("Vol", "number", 9),
               Column("Sharpe", "number", 8), Column("MaxDD", "number", 9), Column("Excess", "number", 9),
               Column("IR", "number", 7)]
    rows = []
    for key, label in (("strategy", strategy), ("benchmark", benchmark)):
        m = metrics[key]
        excess = pct(rel["excess_cagr"]) if key == "strategy" else "-"
        ir = num(rel["information_ratio"]) if key == "strategy" else "-"
        rows.append([label[:23], pct(m["cagr"]), pct(m["volatility"]), num(m["sharpe"]), pct(m["max_drawdown"]),
                     excess, ir])
    lines = table_lines(columns, rows, gap="")
    lines.append(f"{metrics['start']} to {metrics['end']}, {metrics['sessions']} sessions, "
                 f"annualised with {metrics['periods_per_year']:.1f} sessions/year")
    return "\n".join(lines)

