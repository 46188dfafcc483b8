"""The instruments themebt knows: ticker, name, kind, TOPIX-17 sector and trading unit (by date for stocks).

Trading units on the Tokyo Stock Exchange (JPX, "unification of trading units",
jpx.co.jp/equities/improvements/unit; /work/shared/MARKET.md):

* Domestic stocks: 100 shares for every stock from 2018-10-01, when the move to a single unit
  ended. Before that each issuer chose its unit (1, 10, 50, 100, 500, 1,000, 2,000 or 3,000
  shares), and many moved from 1,000 to 100 between 2014 and 2018, each on its own date. So the
  unit of a stock before 2018-10-01 is a per-instrument fact: instruments.csv column
  `unit_before_20181001`, or the config, and unknown where neither gives it.
* ETFs: their own unit (1 or 10 for the NEXT FUNDS ETFs here), not part of the unification.
* An index: 1, held as if through an index fund.

`unit_before_20181001` (instruments.csv, or a `units_before` mapping from the config) is either one
unit ("1000": the unit on every session before 2018-10-01) or units with the date each stopped
applying, oldest first, ending with the unit that ran up to 2018-10-01: "1000@2016-10-01;100" means
1,000 shares before 2016-10-01 and 100 from then on. Empty means not known.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from backtest.errors import ConfigError

INSTRUMENTS_FILE = Path(__file__).with_name("instruments.csv")
# From this session every domestic stock trades in units of 100 shares.
UNIFIED_UNITS_FROM = dt.date(2018, 10, 1)
UNIFIED_UNIT = 100


@dataclass(frozen=True)
class Instrument:
    ticker: str
    name: str
    kind: str  # index | etf | stock
    sector17: str  # the TOPIX-17 sector ETF code, empty for indices and broad ETFs
    lot_size: int  # TSE trading unit today; 1 for an index held as if through an index fund
    unit_before_20181001: str = ""  # a stock's unit before 2018-10-01 (see the module docstring); "" = unknown


@lru_cache(maxsize=1)
def instruments() -> dict[str, Instrument]:
    with INSTRUMENTS_FILE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for r in rows:
        before = (r.get("unit_before_20181001") or "").strip()
        if before:
            parse_unit_history(before, where=f"{INSTRUMENTS_FILE} ticker {r['ticker']}")
        out[r["ticker"]] = Instrument(r["ticker"], r["name"], r["kind"], r["sector17"], int(r["lot_size"]), before)
    return out


def lot_size(ticker: str, overrides: dict[str, int] | None = None, session=None,
             units_before: dict[str, int | str] | None = None) -> int:
    """The trading unit of `ticker`, on `session` when one is given.

    Without a session (the behaviour of every existing caller): a config override
    (execution.lot_sizes), else the registry, else 100 (every TSE stock since 2018-10).

    With a session: an override from `overrides` holds on every date (the user stated the unit).
    Otherwise an ETF or index keeps its registry unit on every date, and a stock trades in 100s from
    2018-10-01; before that its unit comes from `units_before` (ticker -> unit or unit history, e.g.
    from a config), else from instruments.csv's unit_before_20181001. Where neither knows it, the
    unit today is returned and unit_known() is False, so a caller can warn.
    """
    ticker = str(ticker)
    if overrides and ticker in overrides:
        return int(overrides[ticker])
    known = instruments().get(ticker)
    today = known.lot_size if known else UNIFIED_UNIT
    if session is None or (known is not None and known.kind != "stock"):
        return today
    day = _day(session)
    if day >= UNIFIED_UNITS_FROM:
        return UNIFIED_UNIT
    history = _history_for(ticker, known, units_before)
    if history is None:
        return today
    return _unit_on(history, day)


def unit_known(ticker: str, overrides: dict[str, int] | None = None, session=None,
               units_before: dict[str, int | str] | None = None) -> bool:
    """Whether lot_size(ticker, overrides, session, units_before) is a known fact rather than today's unit.

    True without a session, from 2018-10-01 on, for an ETF or index in the registry, or where an
    override, `units_before` or instruments.csv gives the unit. False for a stock (or a ticker the
    registry does not know) before 2018-10-01 without any of those.
    """
    ticker = str(ticker)
    if session is None or (overrides and ticker in overrides):
        return True
    known = instruments().get(ticker)
    if known is not None and known.kind != "stock":
        return True
    if _day(session) >= UNIFIED_UNITS_FROM:
        return True
    return _history_for(ticker, known, units_before) is not None


def parse_unit_history(text, where: str = "unit_before_20181001") -> list[tuple[int, dt.date | None]]:
    """'1000' or '1000@2016-10-01;100' -> [(unit, date it stopped applying or None for the last)], checked."""
    fix = "Write one unit such as 1000, or units with the date each stopped applying, e.g. 1000@2016-10-01;100."
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(file=where, field="unit_before_20181001", problem=f"{text!r} is not a trading unit", fix=fix)
    out: list[tuple[int, dt.date | None]] = []
    parts = [p.strip() for p in text.split(";")]
    for i, part in enumerate(parts):
        unit_text, _, until_text = part.partition("@")
        last = i == len(parts) - 1
        try:
            unit = int(unit_text.strip())
            until = dt.date.fromisoformat(until_text.strip()) if until_text.strip() else None
        except ValueError:
            raise ConfigError(file=where, field="unit_before_20181001", problem=f"{part!r} cannot be read",
                              fix=fix) from None
        if unit < 1 or (until is None) != last or (until is not None and until > UNIFIED_UNITS_FROM):
            raise ConfigError(file=where, field="unit_before_20181001",
                              problem=f"{text!r}: each unit but the last needs the date it stopped applying, "
                                      "before 2018-10-01, and units are whole numbers of shares ≥ 1", fix=fix)
        if out and until is not None and out[-1][1] is not None and until <= out[-1][1]:
            raise ConfigError(file=where, field="unit_before_20181001", problem=f"{text!r}: dates must rise", fix=fix)
        out.append((unit, until))
    return out


def _history_for(ticker: str, known: Instrument | None, units_before) -> list[tuple[int, dt.date | None]] | None:
    if units_before and ticker in units_before:
        return parse_unit_history(units_before[ticker], where=f"units before 2018-10-01 of {ticker}")
    if known is not None and known.unit_before_20181001:
        return parse_unit_history(known.unit_before_20181001, where=f"{INSTRUMENTS_FILE} ticker {ticker}")
    return None


def _unit_on(history: list[tuple[int, dt.date | None]], day: dt.date) -> int:
    for unit, until in history:
        if until is None or day < until:
            return unit
    return history[-1][0]


def _day(session) -> dt.date:
    return pd.Timestamp(session).date()
