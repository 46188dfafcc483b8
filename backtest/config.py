"""Load a run config: safe YAML, validated into a frozen RunSpec, every mistake named with its fix."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backtest.data import DataSource
from backtest.errors import ConfigError, did_you_mean

RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    start: dt.date | None = None
    end: dt.date | None = None


class Execution(_Strict):
    cash_jpy: float = Field(100_000_000, gt=0, le=1e13, description="starting cash in JPY")
    commission_bps: float = Field(10.0, ge=0, le=200, description="commission per trade, basis points of value")
    slippage_bps: float = Field(5.0, ge=0, le=200, description="price slippage against the open, basis points")
    allow_short: bool = Field(False, description="allow negative weights")
    max_gross_leverage: float = Field(1.0, gt=0, le=3, description="sum of absolute weights allowed")
    cash_buffer_pct: float = Field(0.0, ge=0, le=20, description="percent of the portfolio kept in cash")
    lot_sizes: dict[str, int] = Field(default_factory=dict, description="trading unit per ticker")

    @field_validator("lot_sizes")
    @classmethod
    def _positive_lots(cls, v):
        for ticker, lot in v.items():
            if lot < 1:
                raise ValueError(f"lot size of {ticker} must be a whole number ≥ 1, got {lot}")
        return v


class DataConfig(_Strict):
    source: Literal["demo", "csv"] = "demo"
    path: str | None = None
    files: dict[str, str] = Field(default_factory=dict)


class EventsConfig(_Strict):
    folder: str | None = None


class RunConfig(_Strict):
    theme: str
    name: str | None = None
    description: str | None = None
    benchmark: str = "TOPIX"
    period: Period = Period()
    params: dict[str, Any] = Field(default_factory=dict)
    execution: Execution = Execution()
    data: DataConfig = DataConfig()
    events: EventsConfig = EventsConfig()


FIXES = {
    "theme": "Name a registered theme; `themebt themes` lists them.",
    "benchmark": "Use TOPIX, or a ticker your data has.",
    "period": "Write dates as YYYY-MM-DD.",
    "execution.cash_jpy": "Give the starting cash in yen, e.g. 100_000_000.",
    "execution.commission_bps": "Give basis points between 0 and 200, e.g. 10 for 0.10%.",
    "execution.slippage_bps": "Give basis points between 0 and 200, e.g. 5.",
    "execution.max_gross_leverage": "Give a number above 0 and at most 3; 1 means no leverage.",
    "execution.cash_buffer_pct": "Give a percentage between 0 and 20.",
    "execution.lot_sizes": "Map tickers to whole trading units, e.g. {'1306': 10}.",
    "data.source": "Use demo or csv.",
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

    @property
    def tickers(self) -> list[str]:
        """Every ticker the run trades or measures against, the benchmark first."""
        return list(dict.fromkeys([self.benchmark, *self.theme_cls.tickers_for(self.params)]))


def load_config(path: str | Path) -> RunSpec:
    path = Path(path)
    file = str(path)
    raw = _read_yaml(path)
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(file, exc) from None
    return _resolve(cfg, file, base=path.parent)


def spec_from_mapping(raw: dict, file: str = "<config>", base: Path | None = None) -> RunSpec:
    """Validate an in-memory config (tests, sweeps) exactly as a file would be."""
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(file, exc) from None
    return _resolve(cfg, file, base=base or Path("."))


def _read_yaml(path: Path) -> dict:
    file = str(path)
    if not path.is_file():
        raise ConfigError(
            file=file, field="(file)", problem="no such config file",
            fix="Check the path; the shipped configs are in configs/.",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file=file, field="(file)", problem=f"cannot be read ({exc})", fix="Save it as UTF-8 text.") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(syntax)"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(file=file, field=where, problem=f"YAML syntax error: {problem}", fix="Fix the YAML at that position.") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            file=file, field="(top level)", problem="expected a mapping of keys such as theme, params, execution",
            fix="Start from one of the files in configs/.",
        )
    return raw


def _model_at(loc: tuple) -> type[BaseModel] | None:
    model: Any = RunConfig
    for part in loc:
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        model = fields[part].annotation
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _config_error(file: str, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err["loc"])
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
        problem = f"{problem}, got {got!r}"
    fix = FIXES.get(dotted) or FIXES.get(".".join(loc[:2])) or FIXES.get(loc[0], "Correct the value.")
    return ConfigError(file=file, field=dotted, problem=problem, fix=fix)


def _resolve(cfg: RunConfig, file: str, base: Path) -> RunSpec:
    from strategies import get_theme

    theme_cls = get_theme(cfg.theme, file)
    params = theme_cls.validate_params(cfg.params, file)
    if cfg.name is not None and not RUN_NAME.match(cfg.name):
        raise ConfigError(
            file=file, field="name", problem=f"{cfg.name!r} cannot be used in a folder name",
            fix="Use letters, digits, '-', '_' or '.', at most 64 characters, no '/' or '..'.",
        )
    if cfg.period.start and cfg.period.end and cfg.period.end < cfg.period.start:
        raise ConfigError(
            file=file, field="period.end", problem=f"{cfg.period.end} is before period.start {cfg.period.start}",
            fix="Swap the dates.",
        )
    if cfg.data.source == "csv" and not cfg.data.path:
        raise ConfigError(file=file, field="data.path", problem="csv data needs a folder", fix="Set data.path, or pass --data csv:PATH.")
    data_path = cfg.data.path
    if data_path and not Path(data_path).expanduser().is_absolute():
        data_path = str((base / data_path).resolve())
    events_folder = cfg.events.folder
    if events_folder and not Path(events_folder).expanduser().is_absolute():
        events_folder = str((base / events_folder).resolve())
    execution = cfg.execution
    if execution.allow_short is False and execution.max_gross_leverage > 1:
        raise ConfigError(
            file=file, field="execution.max_gross_leverage",
            problem=f"{execution.max_gross_leverage} needs borrowing, which a long-only cash account cannot do",
            fix="Keep it at 1 or below, or set execution.allow_short: true for long-short books.",
        )
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
    )
