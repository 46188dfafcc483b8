"""TSE tick sizes: the tables, and which one applies to an instrument on a session (see data/tick_tables.yaml)."""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from backtest.errors import ConfigError

TICK_FILE = Path(__file__).with_name("tick_tables.yaml")
# prices are snapped to a millionth of a yen first, so float noise never lands a price in the next band
_PRICE_DECIMALS = 6


@dataclass(frozen=True)
class TickTable:
    """A tick-size table: steps of (up_to_jpy, tick_jpy); a price uses the first step it does not exceed."""

    name: str
    steps: tuple[tuple[float | None, float], ...]

    def tick(self, price: float) -> float:
        for up_to, tick in self.steps:
            if up_to is None or price <= up_to:
                return tick
        return self.steps[-1][1]

    def up(self, price: float) -> float:
        """The lowest price on the grid at or above `price` (what a buyer pays)."""
        p = round(float(price), _PRICE_DECIMALS)
        t = self.tick(p)
        return round(math.ceil(p / t - 1e-9) * t, 4)

    def down(self, price: float) -> float:
        """The highest price on the grid at or below `price` (what a seller gets)."""
        p = round(float(price), _PRICE_DECIMALS)
        t = self.tick(p)
        return round(math.floor(p / t + 1e-9) * t, 4)

    def on_grid(self, price: float) -> bool:
        p = round(float(price), _PRICE_DECIMALS)
        t = self.tick(p)
        return abs(p / t - round(p / t)) < 1e-6


def check_steps(steps, field: str, file: str, key: str = "up_to_jpy", value: str = "tick_jpy",
                positive: bool = True) -> tuple:
    """Validate a step table: bounds strictly rising, one open-ended last step, no negative (or zero) values."""
    out: list[tuple] = []
    for n, (bound, amount) in enumerate(steps, start=1):
        where = f"{field}[{n - 1}]"
        if amount is None or not math.isfinite(amount) or amount < 0 or (positive and amount == 0):
            least = "above 0" if positive else "0 or more"
            raise ConfigError(file=file, field=f"{where}.{value}", problem=f"must be a number {least}, got {amount!r}",
                              fix=f"Give each row a {value} {least}.")
        if bound is not None and (not math.isfinite(bound) or bound <= 0):
            raise ConfigError(file=file, field=f"{where}.{key}", problem=f"must be a positive number, got {bound!r}",
                              fix=f"Give {key} in yen, above 0; leave it out only on the last row.")
        if out and out[-1][0] is None:
            raise ConfigError(file=file, field=f"{field}[{n - 2}].{key}", problem="only the last row may be open-ended",
                              fix=f"Give every row but the last a {key}.")
        if out and bound is not None and bound <= out[-1][0]:
            problem = ("overlaps the row before it" if bound == out[-1][0]
                       else f"{bound:g} is below the previous row's {out[-1][0]:g}: the rows are not sorted")
            raise ConfigError(file=file, field=f"{where}.{key}", problem=problem,
                              fix=f"Sort the rows by {key}, each bound above the one before.")
        out.append((None if bound is None else float(bound), float(amount)))
    if not out:
        raise ConfigError(file=file, field=field, problem="the table is empty", fix="Give at least one row.")
    if out[-1][0] is not None:
        raise ConfigError(file=file, field=f"{field}[{len(out) - 1}].{key}",
                          problem="the last row has an upper bound, so higher prices have no row",
                          fix=f"Leave {key} out (or null) on the last row.")
    return tuple(out)


@lru_cache(maxsize=1)
def shipped() -> dict:
    """The shipped rules file, parsed."""
    return yaml.safe_load(TICK_FILE.read_text(encoding="utf-8"))


def tables(overrides: dict | None = None) -> dict[str, TickTable]:
    raw = shipped()["tables"]
    out = {name: TickTable(name, tuple((None if b is None else float(b), float(t)) for b, t in steps))
           for name, steps in raw.items()}
    for name, steps in (overrides or {}).items():
        out[name] = TickTable(name, tuple(steps))
    return out


def _date(value) -> pd.Timestamp:
    return pd.Timestamp(value).normalize()


# ----- large constituents -----------------------------------------------------------------------
@dataclass(frozen=True)
class Membership:
    """Periods (ticker, from, to) in which a ticker was a large constituent (TOPIX100, then TOPIX500)."""

    periods: tuple[tuple[str, pd.Timestamp, pd.Timestamp | None], ...]
    source: str

    def mask(self, ticker: str, sessions: pd.DatetimeIndex) -> np.ndarray:
        out = np.zeros(len(sessions), dtype=bool)
        for t, start, end in self.periods:
            if t == ticker:
                out |= (sessions >= start) & ((sessions <= end) if end is not None else True)
        return out


def shipped_membership() -> Membership:
    rows = []
    for period in shipped()["large_constituents"]:
        end = _date(period["to"]) if period.get("to") else None
        rows += [(str(t), _date(period["from"]), end) for t in period["tickers"]]
    return Membership(tuple(rows), source=f"{TICK_FILE.name} (demo approximation)")


def read_membership(path: str | Path, field: str = "execution.ticks.large_constituents") -> Membership:
    """A CSV with columns ticker,from,to (to empty: still a member), one row per membership period."""
    import io

    from backtest.safeio import SMALL_FILE_BYTES, FileProblem, read_user_file

    path = Path(path)
    file = str(path)
    try:
        # one reader for every user path: a device, a pipe or a huge file is refused before it is read
        text = read_user_file(path, SMALL_FILE_BYTES).decode("utf-8-sig")
    except FileProblem as exc:
        raise ConfigError(file=file, field=field, problem="no such file" if exc.missing else exc.problem,
                          fix="Give a CSV of ticker,from,to (dates YYYY-MM-DD; to empty while still a member).") from None
    except UnicodeDecodeError:
        raise ConfigError(file=file, field=field, problem="is not UTF-8 text", fix="Save it as UTF-8 CSV.") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if not {"ticker", "from"} <= set(header):
            raise ConfigError(file=file, field="(header)", problem=f"expected columns ticker,from,to, got {header}",
                              fix="Start the file with the line: ticker,from,to")
        rows = []
        for n, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            try:
                start = _date(dt.date.fromisoformat(row["from"]))
                end = _date(dt.date.fromisoformat(row["to"])) if row.get("to") else None
            except ValueError:
                raise ConfigError(file=file, field=f"row {n}", problem=f"dates {row.get('from')!r}/{row.get('to')!r} "
                                  "are not YYYY-MM-DD", fix="Write dates as YYYY-MM-DD.") from None
            if not row["ticker"]:
                raise ConfigError(file=file, field=f"row {n}, column ticker", problem="empty",
                                  fix="Give the TSE code, e.g. 7203.")
            if end is not None and end < start:
                raise ConfigError(file=file, field=f"row {n}", problem=f"to {end.date()} is before from {start.date()}",
                                  fix="Swap the dates.")
            rows.append((row["ticker"], start, end))
    return Membership(tuple(rows), source=file)


# ----- which table, when ------------------------------------------------------------------------
class TickSchedule:
    """The tick table of each ticker on each session; None for an index (held as if through a fund)."""

    def __init__(self, sessions: pd.DatetimeIndex, kinds: dict[str, str], lots: dict[str, int],
                 closes: pd.DataFrame, membership: Membership | None = None, overrides: dict | None = None):
        self.sessions = sessions
        self.tables = tables(overrides)
        self.names = list(self.tables)
        self.membership = membership or shipped_membership()
        rules = shipped()
        self._eras = [(_date(e["from"]), e["table"]) for e in rules["large_constituent_tables"]]
        self._etf = rules["etf"]
        self._codes: dict[str, np.ndarray] = {}
        for ticker, kind in kinds.items():
            if kind == "index":
                continue
            if kind == "etf":
                names = self._etf_tables(lots.get(ticker, 1), closes[ticker].ffill().to_numpy())
            else:
                names = self._stock_tables(ticker)
            self._codes[ticker] = np.array([self.names.index(n) for n in names], dtype=np.int16)

    def _stock_tables(self, ticker: str) -> list[str]:
        member = self.membership.mask(ticker, self.sessions)
        names = np.full(len(self.sessions), "standard", dtype=object)
        for start, table in self._eras:
            names[member & np.asarray(self.sessions >= start)] = table
        return list(names)

    def _etf_tables(self, lot: int, close: np.ndarray) -> list[str]:
        rules = self._etf
        fine_from, unit1_from = _date(rules["fine_from"]), _date(rules["unit1_table_from"])
        down, up, lag = rules["unit1_down_at_or_below_jpy"], rules["unit1_up_at_or_above_jpy"], rules["unit1_switch_after_sessions"]
        names = []
        state, switch_at, switch_to = None, None, None
        for i, day in enumerate(self.sessions):
            if day < fine_from:
                names.append("standard")
                continue
            if lot != 1:
                names.append("fine")
                continue
            if day >= unit1_from:
                names.append("etf_unit1")
                continue
            if state is None:
                before = close[i - 1] if i > 0 else close[i]
                state = "fine" if not (before <= down) else "standard"
            if switch_at is not None and i >= switch_at:
                state, switch_at = switch_to, None
            names.append(str(state))
            # a close at a threshold switches the table two sessions later
            if switch_at is None and math.isfinite(close[i]):
                if state == "fine" and close[i] <= down:
                    switch_at, switch_to = i + lag, "standard"
                elif state == "standard" and close[i] >= up:
                    switch_at, switch_to = i + lag, "fine"
        return names

    def table_index(self, tickers: list[str]) -> np.ndarray:
        """sessions × tickers: the position in `names` of each ticker's table on each session, -1 where none applies."""
        out = np.full((len(self.sessions), len(tickers)), -1, dtype=np.int64)
        for j, ticker in enumerate(tickers):
            codes = self._codes.get(ticker)
            if codes is not None:
                out[:, j] = codes
        return out

    def table(self, ticker: str, i: int) -> TickTable | None:
        codes = self._codes.get(ticker)
        return None if codes is None else self.tables[self.names[codes[i]]]

    def tick(self, ticker: str, i: int, price: float) -> float:
        table = self.table(ticker, i)
        return 0.0 if table is None else table.tick(price)
