"""Load a run config: safe YAML, validated into a frozen RunSpec, every mistake named with its fix."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backtest.data import DataSource
from backtest.errors import ConfigError, ThemebtError, did_you_mean
from backtest.safeyaml import check_size, short_reason, shown, parse_yaml

# \Z, not $: `$` also matches before a final line break, which would put a newline in a folder name
RUN_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


ISO_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def parse_iso_date(value) -> dt.date:
    """A date written YYYY-MM-DD (or a YAML date): never a number of seconds, a week date or a date-time."""
    if isinstance(value, dt.datetime):
        raise ValueError("a date-time is not a session date; write YYYY-MM-DD")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a real date ({exc})") from None
    raise ValueError("expected a date written YYYY-MM-DD")


class Period(_Strict):
    start: dt.date | None = None
    end: dt.date | None = None
    clamp: bool = Field(False, description="shrink the period to the span every instrument's data covers")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _iso(cls, v):
        return None if v is None else parse_iso_date(v)


class TierRow(_Strict):
    up_to_jpy: float | None = None
    fee_jpy: float


class TickStep(_Strict):
    up_to_jpy: float | None = None
    tick_jpy: float


class Costs(_Strict):
    """Commission preset plus spread model; unset values come from backtest/market/cost_presets.yaml."""

    preset: Literal["zero", "tiered", "percent"] = Field("zero", description="commission schedule")
    tiers: list[TierRow] | None = Field(None, description="tiered: fee per order by order value")
    rate_bps: float | None = Field(None, ge=0, le=500, description="percent: commission, basis points of value")
    min_jpy: float | None = Field(None, ge=0, le=1e7, description="percent: minimum commission per order")
    half_spread_bps: float | None = Field(None, ge=0, le=200, description="price concession on every fill")
    impact_bps: float = Field(0.0, ge=0, le=100, description="extra bp per 1% of the session's volume taken")


class Ticks(_Strict):
    enabled: bool = True
    tables: dict[str, list[TickStep]] = Field(default_factory=dict, description="replace shipped tick tables by name")
    large_constituents: str | None = Field(None, description="CSV ticker,from,to of large-constituent periods")


class Execution(_Strict):
    cash_jpy: float = Field(100_000_000, gt=0, le=1e13, description="starting cash in JPY")
    commission_bps: float | None = Field(None, ge=0, le=200, description="simple model: commission, bp of value")
    slippage_bps: float | None = Field(None, ge=0, le=200, description="simple model: half-spread against the open, bp")
    costs: Costs | None = Field(None, description="Japanese cost preset and spread model (default: zero + 5 bp)")
    ticks: bool | Ticks = Field(True, description="round fills to the TSE tick grid")
    price_limits: bool = Field(True, description="no fill at the open when it is at the daily limit")
    limit_action: Literal["carry", "cancel"] = Field("carry", description="what a limit-day order does next")
    allow_short: bool = Field(False, description="allow negative weights")
    max_gross_leverage: float = Field(1.0, gt=0, le=3, description="sum of absolute weights allowed")
    cash_buffer_pct: float = Field(0.0, ge=0, le=20, description="percent of the portfolio kept in cash")
    lot_sizes: dict[str, int] = Field(default_factory=dict, description="trading unit per ticker")
    units_before: dict[str, int | str] = Field(default_factory=dict, description="a stock's trading unit before "
                                               "2018-10-01, e.g. 1000 or '1000@2016-10-01;100'")
    max_participation: float | None = Field(0.10, gt=0, le=1, description="most of a session's volume one fill may "
                                            "take (null: no cap)")
    impact_coefficient: float = Field(1.0, ge=0, le=10, description="square-root market impact: coefficient × "
                                      "daily volatility × sqrt(fill / session volume); 0 turns it off")
    impact_vol_sessions: int = Field(20, ge=5, le=500, description="sessions of returns behind the daily volatility")
    news_at_open: bool = Field(True, description="news known before a session's open trades at that open (false: "
                               "every event waits for a close, the rule before pre-open decisions)")
    rebalance: Literal["on_change", "monthly", "daily"] = Field(
        "on_change", description="when the target weights are restored: when the theme changes them, or also on "
                                 "the first session of each month, or every session")

    @field_validator("lot_sizes")
    @classmethod
    def _positive_lots(cls, v):
        for ticker, lot in v.items():
            if lot < 1:
                raise ValueError(f"lot size of {ticker} must be a whole number ≥ 1, got {lot}")
        return v

    @property
    def ticks_on(self) -> bool:
        return self.ticks.enabled if isinstance(self.ticks, Ticks) else bool(self.ticks)


SourceBasis = Literal["price_only", "split_adjusted", "total_return"]


class DataConfig(_Strict):
    source: Literal["demo", "csv", "store"] = "demo"
    path: str | None = None  # csv: the folder; store: the store folder (default $THEMEBT_STORE or ~/.themebt/store)
    files: dict[str, str] = Field(default_factory=dict)
    basis: SourceBasis | None = Field(None, description="what the prices include; demo: price_only, csv: split_adjusted")
    basis_by_ticker: dict[str, SourceBasis] = Field(default_factory=dict, description="per-ticker exceptions")
    dividends: str | None = Field(None, description="CSV of ticker,ex_date,amount_jpy for the total basis")


class EventsConfig(_Strict):
    folder: str | None = None


class RunConfig(_Strict):
    theme: str
    name: str | None = None
    description: str | None = None
    benchmark: str = "TOPIX"
    basis: Literal["price", "total"] = "price"
    period: Period = Period()
    params: dict[str, Any] = Field(default_factory=dict)
    execution: Execution = Execution()
    data: DataConfig = DataConfig()
    events: EventsConfig = EventsConfig()


FIXES = {
    "theme": "Name a registered theme; `themebt themes` lists them.",
    "benchmark": "Use TOPIX, or a ticker your data has.",
    "period": "Write dates as YYYY-MM-DD.",
    "period.clamp": "Write true or false.",
    "execution.cash_jpy": "Give the starting cash in yen, e.g. 100_000_000.",
    "execution.commission_bps": "Give basis points between 0 and 200, e.g. 10 for 0.10%.",
    "execution.slippage_bps": "Give basis points between 0 and 200, e.g. 5.",
    "execution.max_gross_leverage": "Give a number above 0 and at most 3; 1 means no leverage.",
    "execution.cash_buffer_pct": "Give a percentage between 0 and 20.",
    "execution.lot_sizes": "Map tickers to whole trading units, e.g. {'1306': 10}.",
    "execution.max_participation": "Give a share of the session's volume above 0 and at most 1, e.g. 0.1, or null "
                                   "for no cap.",
    "execution.impact_coefficient": "Give a number from 0 (no impact) to 10; 1 is the square-root law's usual value.",
    "execution.impact_vol_sessions": "Give a whole number of sessions from 5 to 500, e.g. 20.",
    "execution.rebalance": "Use on_change, monthly or daily.",
    "execution.news_at_open": "Write true or false.",
    "execution.units_before": "Map tickers to their unit before 2018-10-01, e.g. {'8306': '1000@2016-10-01;100'}.",
    "execution.costs": "Write costs: {preset: zero | tiered | percent, half_spread_bps: 5}; see docs/execution.md.",
    "execution.costs.preset": "Use zero, tiered or percent.",
    "execution.costs.rate_bps": "Give basis points between 0 and 500, e.g. 126.5 for 1.265%.",
    "execution.costs.min_jpy": "Give the minimum commission per order in yen, 0 or more.",
    "execution.costs.half_spread_bps": "Give basis points between 0 and 200, e.g. 5.",
    "execution.costs.impact_bps": "Give basis points between 0 and 100 per 1% of the session's volume.",
    "execution.ticks": "Write true, false, or {enabled: true, tables: {...}, large_constituents: FILE}.",
    "execution.price_limits": "Write true or false.",
    "execution.limit_action": "Use carry (try again next session) or cancel.",
    "basis": "Use price or total.",
    "data.source": "Use demo, csv or store.",
    "data.basis": "Use price_only, split_adjusted or total_return: what the source's prices include.",
    "data.basis_by_ticker": "Map tickers to price_only, split_adjusted or total_return.",
}


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs, validated; the engine never sees YAML."""

    theme: str
    theme_cls: type
    params: dict[str, Any]
    benchmark: str
    start: dt.date | None
    end: dt.date | None
    execution: Execution
    data: DataSource
    events_folder: str | None
    name: str
    config_path: str
    resolved: dict = field(default_factory=dict)
    basis: str = "price"
    source_basis: str | None = None
    basis_by_ticker: dict[str, str] = field(default_factory=dict)
    dividends_path: str | None = None
    costs: Any = None
    tick_tables: dict = field(default_factory=dict)
    large_constituents: str | None = None
    clamp: bool = False  # --clamp / period.clamp: run on the span every instrument covers instead of refusing

    @property
    def tickers(self) -> list[str]:
        """Every ticker the run trades or measures against, the benchmark first."""
        return list(dict.fromkeys([self.benchmark, *self.theme_cls.tickers_for(self.params)]))


def load_config(path: str | Path) -> RunSpec:
    path = Path(path)
    file = str(path)
    raw, text = _read_yaml(path)
    try:
        return _validated(raw, file, path.parent)
    except ConfigError as exc:
        line = line_of(text, str(exc.fields.get("field", "")))
        if line is None:
            raise
        # the line of the value a validation error is about, after the fix so the message reads as before
        raise ConfigError(**{**exc.fields, "fix": f"{exc.fields.get('fix', '')} (line {line})"}) from None


def line_of(text: str, dotted: str) -> int | None:
    """The line of the value a dotted config path such as execution.costs.tiers[0].fee_jpy names, if found."""
    if not dotted or dotted.startswith(("(", "line ")):
        return None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except Exception:  # noqa: BLE001 - the text loaded once already; a line is a nicety, never an error
        return None
    parts = [p for p in re.split(r"\.|(\[\d+\])", dotted) if p]
    found = None
    while parts and node is not None:
        part = parts[0]
        if isinstance(node, yaml.SequenceNode) and re.fullmatch(r"\[\d+\]|\d+", part):
            index = int(part.strip("[]"))
            node = node.value[index] if index < len(node.value) else None
            parts = parts[1:]
        elif isinstance(node, yaml.MappingNode):
            match = None
            for size in range(len(parts), 0, -1):  # keys may hold dots ('1306.T'): the longest key first
                key = ".".join(p for p in parts[:size] if not p.startswith("["))
                if any(p.startswith("[") for p in parts[:size]):
                    continue
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                        match = (size, key_node, value_node)
                        break
                if match:
                    break
            if not match:
                break
            size, key_node, node = match
            found = key_node
            parts = parts[size:]
            continue
        else:
            break
        found = node
    return None if found is None else found.start_mark.line + 1


def spec_from_mapping(raw: dict, file: str = "<config>", base: Path | None = None) -> RunSpec:
    """Validate an in-memory config (tests, sweeps) exactly as a file would be."""
    if isinstance(raw, dict):
        check_size(raw, file)
    return _validated(raw, file, base or Path("."))


def _validated(raw, file: str, base: Path) -> RunSpec:
    """The spec of a loaded config; any exception while validating it is a ConfigError, never a traceback."""
    try:
        try:
            cfg = RunConfig.model_validate(raw)
        except ValidationError as exc:
            raise _config_error(file, exc) from None
        return _resolve(cfg, file, base=base)
    except ThemebtError:
        raise
    except Exception as exc:  # noqa: BLE001 - a value no check foresaw (a 4000-digit number, ...) is still the config's
        raise ConfigError(file=file, field="(config)", problem=f"a value cannot be used ({short_reason(exc)})",
                          fix="Check the numbers and lists in the config against docs/ and configs/.") from None


def _read_yaml(path: Path) -> tuple[dict, str]:
    from backtest.safeio import SMALL_FILE_BYTES, FileProblem, read_user_file

    file = str(path)
    try:
        data = read_user_file(path, SMALL_FILE_BYTES)
    except FileProblem as exc:
        if exc.missing:
            raise ConfigError(
                file=file, field="(file)", problem="no such config file",
                fix="Check the path; the shipped configs are in configs/.",
            ) from None
        raise ConfigError(file=file, field="(file)", problem=exc.problem,
                          fix="Give a YAML config file; the shipped configs are in configs/.") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(file=file, field="(file)", problem=f"cannot be read (not UTF-8: byte 0x{data[exc.start]:02x} "
                          f"at offset {exc.start})", fix="Save it as UTF-8 text.") from None
    raw = parse_yaml(text, file)
    if not isinstance(raw, dict):
        raise ConfigError(
            file=file, field="(top level)", problem="expected a mapping of keys such as theme, params, execution",
            fix="Start from one of the files in configs/.",
        )
    return raw, text


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = RunConfig
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        model = fields[part].annotation
        # `bool | Ticks`, `Costs | None`: the mapping member is the one with keys
        model = next((m for m in get_args(model) if isinstance(m, type) and issubclass(m, BaseModel)), model)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


_UNION_TAGS = {"bool", "Ticks"}


def _config_error(file: str, exc: ValidationError) -> ConfigError:
    errors = exc.errors()
    # a `bool | mapping` field fails both ways; a mapping given means the mapping's error is the one to show
    err = next((e for e in errors if not (e["type"] == "bool_type" and isinstance(e.get("input"), dict))), errors[0])
    loc = tuple(str(p) for p in err["loc"] if p not in _UNION_TAGS)
    dotted = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        parent = _model_at(loc[:-1])
        choices = list(parent.model_fields) if parent else []
        return ConfigError(file=file, field=dotted, problem="unknown key", fix=did_you_mean(loc[-1], choices))
    if err["type"] == "missing":
        return ConfigError(file=file, field=dotted, problem="required key is missing", fix=FIXES.get(dotted, "Add it."))
    got = err.get("input")
    problem = err["msg"].replace("Value error, ", "")
    if got is not None and not isinstance(got, (dict, list)):
        problem = f"{problem}, got {shown(got)}"
    fix = FIXES.get(dotted) or FIXES.get(".".join(loc[:2])) or FIXES.get(loc[0], "Correct the value.")
    return ConfigError(file=file, field=dotted, problem=problem, fix=fix)


def _resolve(cfg: RunConfig, file: str, base: Path) -> RunSpec:
    from strategies import get_theme

    theme_cls = get_theme(cfg.theme, file)
    params = theme_cls.validate_params(cfg.params, file)
    if cfg.name is not None and not RUN_NAME.match(cfg.name):
        raise ConfigError(
            file=file, field="name", problem=f"{shown(cfg.name)} cannot be used in a folder name",
            fix="Use letters, digits, '-', '_' or '.', at most 64 characters, no '/' or '..'.",
        )
    if cfg.benchmark.startswith(("=", "+", "-", "@")):
        # the benchmark names a column of returns.csv, which compare reads back by that exact name
        raise ConfigError(file=file, field="benchmark", problem=f"{shown(cfg.benchmark)} starts with a character a "
                          "spreadsheet runs as a formula", fix="Use TOPIX, or the ticker's plain code.")
    if cfg.period.start and cfg.period.end and cfg.period.end < cfg.period.start:
        raise ConfigError(
            file=file, field="period.end", problem=f"{cfg.period.end} is before period.start {cfg.period.start}",
            fix="Swap the dates.",
        )
    for where, value in (("data.path", cfg.data.path), ("events.folder", cfg.events.folder)):
        if value and "\x00" in value:  # the OS refuses such paths with a bare ValueError
            raise ConfigError(file=file, field=where, problem="the path contains a NUL character",
                              fix="Write the folder's path as plain text.")
    if cfg.data.source == "csv" and not cfg.data.path:
        raise ConfigError(file=file, field="data.path", problem="csv data needs a folder", fix="Set data.path, or pass --data csv:PATH.")
    data_path = _relative(cfg.data.path, base, file, "data.path")
    events_folder = _relative(cfg.events.folder, base, file, "events.folder")
    execution = cfg.execution
    if execution.allow_short is False and execution.max_gross_leverage > 1:
        raise ConfigError(
            file=file, field="execution.max_gross_leverage",
            problem=f"{execution.max_gross_leverage} needs borrowing, which a long-only cash account cannot do",
            fix="Keep it at 1 or below, or set execution.allow_short: true for long-short books.",
        )
    for ticker, history in execution.units_before.items():
        from backtest.market.instruments import parse_unit_history

        try:
            parse_unit_history(history, where=file)
        except ConfigError as exc:
            raise ConfigError(file=file, field=f"execution.units_before.{ticker}", problem=exc.fields["problem"],
                              fix=exc.fields["fix"]) from None
    costs, tick_tables = _execution_rules(execution, file)
    large = execution.ticks.large_constituents if isinstance(execution.ticks, Ticks) else None
    large = _relative(large, base, file, "execution.ticks.large_constituents")
    if large and not Path(large).is_file():
        raise ConfigError(file=file, field="execution.ticks.large_constituents", problem=f"no such file: {large}",
                          fix="Give a CSV of ticker,from,to; see docs/execution.md.")
    dividends = _relative(cfg.data.dividends, base, file, "data.dividends")
    if dividends and not Path(dividends).is_file():
        raise ConfigError(file=file, field="data.dividends", problem=f"no such file: {dividends}",
                          fix="Give a CSV of ticker,ex_date,amount_jpy, or remove the key.")
    resolved = cfg.model_dump(mode="json")
    resolved["params"] = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
    return RunSpec(
        theme=cfg.theme,
        theme_cls=theme_cls,
        params=params,
        benchmark=cfg.benchmark,
        start=cfg.period.start,
        end=cfg.period.end,
        execution=execution,
        data=DataSource(cfg.data.source, data_path, dict(cfg.data.files)),
        events_folder=events_folder,
        name=cfg.name or cfg.theme,
        config_path=file,
        resolved=resolved,
        basis=cfg.basis,
        source_basis=cfg.data.basis,
        basis_by_ticker=dict(cfg.data.basis_by_ticker),
        dividends_path=dividends,
        costs=costs,
        tick_tables=tick_tables,
        large_constituents=large,
        clamp=cfg.period.clamp,
    )


def _relative(path: str | None, base: Path, file: str = "<config>", where: str = "path") -> str | None:
    """A path of the config, relative to the config's folder; `~user` of an unknown user is a ConfigError."""
    from backtest.safeio import expand_user

    if not path:
        return path
    if "\x00" in path:
        raise ConfigError(file=file, field=where, problem="the path contains a NUL character",
                          fix="Write the path as plain text.")
    expanded = expand_user(path, lambda problem: ConfigError(
        file=file, field=where, problem=problem, fix="Write the path in full, or with ~/ for your own home folder."))
    if not expanded.is_absolute():
        return str((base / path).resolve())
    return path


def _execution_rules(ex: Execution, file: str):
    """The cost model and tick-table overrides, each table checked: sorted, not overlapping, not negative."""
    from backtest.market.costs import CostModel, presets
    from backtest.market.ticks import check_steps, tables

    shipped = presets()
    if ex.costs is not None and (ex.commission_bps is not None or ex.slippage_bps is not None):
        field = "execution.commission_bps" if ex.commission_bps is not None else "execution.slippage_bps"
        raise ConfigError(file=file, field=field, problem="given together with execution.costs",
                          fix="Use costs: {preset, half_spread_bps, …} alone; commission_bps/slippage_bps are the "
                              "simple model (a percentage, no minimum).")
    if ex.costs is None and (ex.commission_bps is not None or ex.slippage_bps is not None):
        # the simple model: a flat percentage with no minimum, and the slippage as the half-spread
        costs = CostModel("percent", rate_bps=ex.commission_bps or 0.0, min_jpy=0.0,
                          half_spread_bps=ex.slippage_bps or 0.0)
    else:
        c = ex.costs or Costs()
        half = shipped["half_spread_bps"] if c.half_spread_bps is None else c.half_spread_bps
        tiers: tuple = ()
        if c.preset == "tiered":
            rows = c.tiers if c.tiers is not None else [TierRow(**r) for r in shipped["tiered"]["tiers"]]
            tiers = check_steps([(r.up_to_jpy, r.fee_jpy) for r in rows], "execution.costs.tiers", file,
                                key="up_to_jpy", value="fee_jpy", positive=False)
        elif c.tiers is not None:
            raise ConfigError(file=file, field="execution.costs.tiers", problem=f"only used by preset tiered, not {c.preset}",
                              fix="Remove tiers, or set preset: tiered.")
        rate = min_jpy = 0.0
        if c.preset == "percent":
            rate = shipped["percent"]["rate_bps"] if c.rate_bps is None else c.rate_bps
            min_jpy = shipped["percent"]["min_jpy"] if c.min_jpy is None else c.min_jpy
        elif c.rate_bps is not None or c.min_jpy is not None:
            key = "rate_bps" if c.rate_bps is not None else "min_jpy"
            raise ConfigError(file=file, field=f"execution.costs.{key}", problem=f"only used by preset percent, not {c.preset}",
                              fix=f"Remove {key}, or set preset: percent.")
        costs = CostModel(c.preset, tiers=tiers, rate_bps=rate, min_jpy=min_jpy, half_spread_bps=half,
                          impact_bps=c.impact_bps)
    tick_tables = {}
    if isinstance(ex.ticks, Ticks):
        known = tables()
        for name, rows in ex.ticks.tables.items():
            field = f"execution.ticks.tables.{name}"
            if name not in known:
                raise ConfigError(file=file, field=field, problem="unknown tick table", fix=did_you_mean(name, known))
            tick_tables[name] = check_steps([(r.up_to_jpy, r.tick_jpy) for r in rows], field, file)
    return costs, tick_tables
