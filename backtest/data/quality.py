"""Data-quality findings on a PriceFrame: long gaps, stale prices and suspected unadjusted splits.

The thresholds here are the only ones: `themebt data check` (backtest/data/checks.py) reads them
too, so a file it passes does not fail `run --strict`, and the other way round. Both look only at
the rows they are given; a run gives the sessions of its period.

A session without a row inside a ticker's history is a session without a trade. For an ETF that is
a fact about its liquidity (the TOPIX-17 ETFs skip 1-25% of sessions), reported per run by
`liquidity()`, never a data error. For a stock or an index, a stretch of GAP_SESSIONS or more is a
finding (a halt, a delisting or a hole in the data); shorter ones are liquidity too.
"""

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


def is_etf(ticker: str) -> bool:
    """True for an exchange-traded fund of the instrument registry (backtest/market/instruments.csv)."""
    from backtest.market.instruments import instruments

    known = instruments().get(str(ticker))
    return known is not None and known.kind == "etf"


def placeholder_rows(frame: pd.DataFrame, days) -> pd.DatetimeIndex:
    """Those of `days` (rows on days the exchange was closed) that only repeat the previous close.

    A vendor's index file carries such a row on 2020-10-01, the day the TSE halted all trading:
    open = high = low = close = the previous close, no volume. It holds no price, so ignoring it
    needs no warning.
    """
    days = pd.DatetimeIndex(days)
    if not len(days) or frame.empty:
        return pd.DatetimeIndex([])
    previous = frame["close"].shift(1)
    out = []
    for day in days:
        if day not in frame.index:
            continue
        row = frame.loc[day]
        if isinstance(row, pd.DataFrame):
            continue
        prev = previous.loc[day]
        prices = [row.get(c) for c in ("open", "high", "low", "close") if c in row]
        volume = row.get("volume")
        if (pd.notna(prev) and all(pd.notna(v) and v == prev for v in prices)
                and (volume is None or pd.isna(volume) or volume == 0)):
            out.append(day)
    return pd.DatetimeIndex(out)


def liquidity(prices: PriceFrame) -> dict[str, dict]:
    """Per ticker, over the frame's sessions from its first price on: how often it did not trade.

    {"sessions": n, "no_trade_sessions": k, "no_trade_share": k / n, "longest_no_trade_run": m}; a
    session without a trade has no price (no row in the source) or a volume of 0. An index has no
    volume, so only its missing prices count.
    """
    out = {}
    tradable = prices.tradable
    for ticker in prices.tickers:
        present = prices.close[ticker].notna().to_numpy()
        if not present.any():
            continue
        start = int(present.argmax())
        traded = tradable[ticker].to_numpy()[start:]
        idle = ~traded
        runs = _runs(idle)
        n = len(traded)
        out[ticker] = {
            "sessions": int(n),
            "no_trade_sessions": int(idle.sum()),
            "no_trade_share": round(float(idle.sum()) / n, 6) if n else 0.0,
            "longest_no_trade_run": int(max((length for _, length in runs), default=0)),
        }
    return out


def check_prices(prices: PriceFrame, benchmark: str | None = None) -> list[Finding]:
    """Gaps, stale closes and split-like jumps of every ticker, in ticker order.

    A jump only counts as a suspected split when the benchmark did not move alike that day, so a
    crash of the whole market is never reported as a split.
    """
    findings: list[Finding] = []
    bench = prices.close[benchmark] if benchmark in prices.close else None
    for ticker in prices.tickers:
        close = prices.close[ticker]
        if not is_etf(ticker):
            # an ETF's missing sessions are sessions without a trade: liquidity(), not a finding
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
