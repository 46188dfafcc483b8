"""The normalised frame every price source returns, and the registry of sources `themebt data fetch` knows."""

from __future__ import annotations

import pandas as pd

COLUMNS = ("open", "high", "low", "close", "volume")
# adj_close: close adjusted for splits and dividends (a total-return series), where the source knows dividends.
# raw_close: the close as traded that day, before any adjustment, where the source gives both.
# adj_factor: J-Quants' per-day split factor (0.2 on the ex-date of a 1:5 split); see backtest/data/adjustment.py.
OPTIONAL = ("adj_close", "raw_close", "adj_factor")

# What open/high/low/close mean, recorded with every stored ticker.
BASIS_SPLIT_ADJUSTED = "split_adjusted"  # adjusted for splits and reverse splits, not for dividends
BASIS_INDEX = "index_level"  # an index's points: nothing to adjust
BASIS_AS_GIVEN = "as_given"  # a user file: adjusted however its exporter adjusted it

SOURCES = ("jquants", "yahoo", "stooq")


def normalise(rows: pd.DataFrame, *, source: str, ticker: str, symbol: str, basis: str,
              currency: str | None = "JPY", notes: tuple[str, ...] = (), proxy: str | None = None) -> pd.DataFrame:
    """The one schema: index `date` (tz-naive session dates, ascending, unique); float64 open, high, low,
    close, volume, plus adj_close / raw_close when the source gives them. Rows without a close are
    dropped (no trade that day). Metadata travels in `frame.attrs`.
    """
    frame = rows.copy()
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.index)).normalize()
    frame.index.name = "date"
    for col in COLUMNS:
        if col not in frame:
            frame[col] = float("nan")
    keep = [c for c in (*COLUMNS, *OPTIONAL) if c in frame]
    frame = frame[keep].apply(pd.to_numeric, errors="coerce").astype("float64")
    frame = frame[frame["close"].notna() & (frame["close"] > 0)]
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    frame.attrs = {
        "source": source, "ticker": ticker, "symbol": symbol, "basis": basis, "currency": currency,
        "notes": list(notes), "proxy": proxy,
    }
    return frame


def empty(*, source: str, ticker: str, symbol: str, basis: str, notes: tuple[str, ...] = (), proxy=None) -> pd.DataFrame:
    rows = pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS}, index=pd.DatetimeIndex([], name="date"))
    return normalise(rows, source=source, ticker=ticker, symbol=symbol, basis=basis, notes=notes, proxy=proxy)


def make_source(name: str, **options):
    """A fetcher object with .name and .fetch(ticker, start, end); credentials are read only for jquants."""
    if name == "jquants":
        from backtest.data.jquants import JQuants

        return JQuants.from_environment(**options)
    if name == "yahoo":
        from backtest.data.yahoo import Yahoo

        return Yahoo(**options)
    if name == "stooq":
        from backtest.data.stooq import Stooq

        return Stooq(**options)
    raise ValueError(f"unknown source {name!r}")
