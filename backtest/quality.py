"""Data-quality findings on a PriceFrame: long gaps, stale prices and suspected unadjusted splits."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest.data.frame import PriceFrame
from backtest.errors import DataError

# Illiquid sector ETFs go up to two weeks without a trade in real data; longer holes are more
# often a halt, a delisting or a broken export than a quiet market.
GAP_SESSIONS = 10
# Real Tokyo stocks and ETFs print at most five identical closes in a row over ten years; a
# longer flat run is a vendor repeating the last price.
STALE_SESSIONS = 6
# Share splits and reverse splits in Tokyo are almost always 1:2, 1:3, 1:4, 1:5 or 1:10.
SPLIT_FACTORS = (2, 3, 4, 5, 10)
# How far a day's own move may blur the split ratio and still count as "near" it.
SPLIT_TOLERANCE = 0.1


@dataclass(frozen=True)
class Finding:
    """One suspicious stretch of one ticker's prices; `date` is its first session."""

    kind: str  # gap | stale | split
    ticker: str
    date: dt.date
    message: str

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        return {"kind": self.kind, "ticker": self.ticker, "date": self.date.isoformat(), "message": self.message}


def check_prices(prices: PriceFrame, benchmark: str | None = None) -> list[Finding]:
    """Gaps, stale closes and split-like jumps of every ticker, in ticker order.

    A jump only counts as a suspected split when the benchmark did not move alike that day, so a
    crash of the whole market is never reported as a split.
    """
    findings: list[Finding] = []
    bench = prices.close[benchmark] if benchmark in prices.close else None
    for ticker in prices.tickers:
        close = prices.close[ticker]
        findings += _gaps(ticker, close)
        findings += _stale(ticker, close)
        findings += _splits(ticker, close, None if ticker == benchmark else bench)
    return findings


def strict_error(where: str, warnings: list[str]) -> DataError:
    """The error `--strict` raises instead of running on warned-about data."""
    shown = "; ".join(warnings[:5]) + (f"; and {len(warnings) - 5} more" if len(warnings) > 5 else "")
    return DataError(
        file=where, field="--strict",
        problem=f"{len(warnings)} warning(s) would be recorded: {shown}",
        fix="Fix the data (or the config), or run without --strict to accept them; they are then printed "
            "and kept in the run's manifest.json",
    )


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a boolean array."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def _day(ts) -> dt.date:
    return pd.Timestamp(ts).date()


def _gaps(ticker: str, close: pd.Series) -> list[Finding]:
    present = close.notna().to_numpy()
    if not present.any():
        return []
    first, last = present.argmax(), len(present) - present[::-1].argmax()
    # missing sessions before the first or after the last price are a listing or the data's end
    long = [(first + s, n) for s, n in _runs(~present[first:last]) if n >= GAP_SESSIONS]
    if not long:
        return []
    start, n = long[0]
    more = f"; {len(long)} such gaps in all" if len(long) > 1 else ""
    return [Finding("gap", ticker, _day(close.index[start]), (
        f"{ticker}: no price for {n} sessions from {_day(close.index[start])} to "
        f"{_day(close.index[start + n - 1])}{more}: a halt, a delisting or a hole in the data? "
        "Holdings are valued at the last price meanwhile"))]


def _stale(ticker: str, close: pd.Series) -> list[Finding]:
    printed = close.dropna()
    values = printed.to_numpy()
    if len(values) < STALE_SESSIONS:
        return []
    same = values[1:] == values[:-1]
    long = [(s, n + 1) for s, n in _runs(same) if n + 1 >= STALE_SESSIONS]
    if not long:
        return []
    start, n = long[0]
    more = f"; {len(long)} such runs in all" if len(long) > 1 else ""
    return [Finding("stale", ticker, _day(printed.index[start]), (
        f"{ticker}: the same close {values[start]:g} on {n} sessions in a row from {_day(printed.index[start])} "
        f"to {_day(printed.index[start + n - 1])}{more}: stale prices? Check the source repeats no last price"))]


def _near_split(ratio: np.ndarray) -> np.ndarray:
    """The split factor a ratio is near (negative for a reverse split), else 0."""
    out = np.zeros(len(ratio))
    for k in SPLIT_FACTORS:
        out[np.abs(ratio * k - 1) <= SPLIT_TOLERANCE] = k
        out[np.abs(ratio / k - 1) <= SPLIT_TOLERANCE] = -k
    return out


def _splits(ticker: str, close: pd.Series, bench: pd.Series | None) -> list[Finding]:
    printed = close.dropna()
    if len(printed) < 2:
        return []
    values = printed.to_numpy()
    ratio = values[1:] / values[:-1]
    factor = _near_split(ratio)
    if bench is not None:
        # the benchmark over the same two sessions: a market-wide move of the same size is no split
        b = bench.reindex(printed.index).ffill().to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            b_log = np.log(b[1:] / b[:-1])
            alike = np.nan_to_num(b_log / np.log(ratio)) >= 0.5
        factor[alike] = 0
    hits = np.flatnonzero(factor)
    if not len(hits):
        return []
    i = hits[0]
    k = int(abs(factor[i]))
    kind = f"a 1:{k} split" if factor[i] > 0 else f"a {k}:1 reverse split"
    date = _day(printed.index[i + 1])
    more = f"; {len(hits)} such days in all" if len(hits) > 1 else ""
    return [Finding("split", ticker, date, (
        f"{ticker}: the close moves x{ratio[i]:.3g} on {date} ({values[i]:g} -> {values[i + 1]:g})"
        f"{'' if bench is None else ' while the benchmark does not'}{more}: {kind} left unadjusted? "
        "Use split-adjusted prices, or add an Adj Close column"))]
