"""Data checks for stored or CSV prices: gaps against the Tokyo calendar, stale prices, unadjusted splits, outliers, currency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.csv import RANGE_TOLERANCE, SPLIT_DOWN, SPLIT_UP, read_price_csv
from backtest.errors import DataError
from backtest.data.quality import GAP_SESSIONS, STALE_SESSIONS, is_etf, placeholder_rows

FATAL, WARNING = "fatal", "warning"
# A one-day move this large that is not split-sized is worth a look (2024-08-05 moved large caps ~20%).
OUTLIER_MOVE = 0.20
# The run's thresholds (backtest/data/quality.py), so that `data check` and `run --strict` agree:
# STALE_SESSIONS identical closes in a row are STALE_SESSIONS - 1 rows equal to the row before.
STALE_RUN = STALE_SESSIONS - 1
# A stretch of this many sessions without a row is a gap (a halt, a delisting or a hole) in a stock
# or an index; shorter ones, and any in an ETF, are sessions without a trade.
LONG_GAP = GAP_SESSIONS


@dataclass(frozen=True)
class Problem:
    ticker: str
    source: str
    severity: str  # fatal | warning
    check: str  # empty | price | off_calendar | gaps | stale | split | outlier | range | currency | proxy | unreadable
    first: str
    count: int
    detail: str


def check_frame(frame: pd.DataFrame, ticker: str, source: str = "", meta: dict | None = None) -> list[Problem]:
    """Problems in one ticker's daily frame (index: dates; columns: open, high, low, close[, volume])."""
    meta = meta or {}
    out: list[Problem] = []

    def add(severity, check, first, count, detail):
        out.append(Problem(ticker, source, severity, check, _day(first) if first is not None else "", int(count), detail))

    if frame.empty or "close" not in frame:
        add(FATAL, "empty", None, 0, "no prices at all")
        return out
    close = frame["close"]
    bad = close.isna() | ~(close > 0)
    if bad.any():
        add(FATAL, "price", close.index[bad.argmax()], bad.sum(), "close missing or not above 0")
    frame, close = frame[~bad], close[~bad]
    if frame.empty:
        return out

    grid = tokyo_sessions(frame.index[0], frame.index[-1])
    off = frame.index.difference(grid)
    off = off.difference(placeholder_rows(frame, off))  # a flat repeat of the last close holds no price
    if len(off):
        add(WARNING, "off_calendar", off[0], len(off), "rows on days the Tokyo exchange was closed (runs ignore them)")
    missing = grid.difference(frame.index)
    long = [(a, b) for a, b in _runs(grid.isin(missing)) if b - a >= LONG_GAP] if len(missing) else []
    if long and not is_etf(ticker):
        a, b = max(long, key=lambda r: r[1] - r[0])
        detail = (f"{len(long)} stretch(es) of {LONG_GAP} or more sessions without a row; the longest "
                  f"{b - a} sessions from {_day(grid[a])} ({len(missing)} of {len(grid)} sessions have no row "
                  "in all): a halt, a delisting or missing data")
        add(WARNING, "gaps", grid[long[0][0]], sum(b - a for a, b in long), detail)

    flat = _flat_runs(frame)
    if flat:
        start, length = flat[0]
        add(WARNING, "stale", frame.index[start], len(flat),
            f"{len(flat)} run(s) of ≥{STALE_RUN} rows with an unchanged close; the first has {length} rows")
    asked_end = (meta.get("requested") or meta.get("coverage") or {}).get("end")
    if asked_end:
        # sessions up to today at most: a fetch may ask for days that have not happened yet
        until = min(pd.Timestamp(asked_end), pd.Timestamp.today().normalize())
        behind = len(tokyo_sessions(frame.index[-1] + pd.Timedelta(days=1), until))
        if behind > STALE_RUN:
            add(WARNING, "stale", frame.index[-1], behind,
                f"last price is {behind} sessions before the end of the span asked for, {asked_end} "
                "(a delayed plan, a suspension or a delisting)")

    on_grid = close[close.index.isin(grid)]
    ratio = (on_grid / on_grid.shift(1)).iloc[1:]
    split = (ratio >= SPLIT_UP) | (ratio <= SPLIT_DOWN)
    if split.any():
        day = ratio.index[split.argmax()]
        add(FATAL, "split", day, split.sum(),
            f"close moves x{ratio[day]:.2f} in one session: an unadjusted split? "
            "Use split-adjusted prices (J-Quants adjusted fields, Yahoo, or an adjusted export)")
    move = (ratio - 1).abs()
    outlier = (move >= OUTLIER_MOVE) & ~split
    if outlier.any():
        day = move[outlier].idxmax()
        add(WARNING, "outlier", move[outlier].index[0], outlier.sum(),
            f"one-session moves of {OUTLIER_MOVE:.0%} or more; the largest {ratio[day] - 1:+.1%} on {_day(day)}")

    if {"open", "high", "low"} <= set(frame.columns):
        high, low = frame["high"], frame["low"]
        top, bottom = high * (1 + RANGE_TOLERANCE), low * (1 - RANGE_TOLERANCE)
        broken = (high < low) | (frame["open"] > top) | (frame["open"] < bottom) | (close > top) | (close < bottom)
        broken &= high.notna() & low.notna()
        if broken.any():
            add(WARNING, "range", frame.index[broken.argmax()], broken.sum(),
                f"high below low, or open/close more than {RANGE_TOLERANCE:.1%} outside the high-low range")

    currency = meta.get("currency")
    if currency and currency != "JPY":
        add(FATAL, "currency", None, len(frame), f"prices are in {currency}, not JPY")
    elif not currency and float(close.median()) < 5:
        add(WARNING, "currency", None, len(frame),
            f"median price {float(close.median()):g} is below ¥5: another currency, or units other than yen?")
    if meta.get("proxy"):
        add(WARNING, "proxy", None, 0, meta["proxy"])
    return out


def check_store(store, source: str | None = None, tickers=None) -> list[Problem]:
    """Problems of every stored ticker (or those named), each checked against its own coverage record."""
    wanted = set(str(t) for t in tickers) if tickers else None
    out = []
    for entry in store.entries(source):
        if wanted is not None and entry.ticker not in wanted:
            continue
        try:
            frame = store.read(entry.source, entry.ticker)
        except DataError as exc:
            out.append(Problem(entry.ticker, entry.source, FATAL, "unreadable", "", 0, str(exc)))
            continue
        out.extend(check_frame(frame, entry.ticker, entry.source, entry.meta))
    if wanted:
        have = {e.ticker for e in store.entries(source)}
        for ticker in sorted(wanted - have):
            out.append(Problem(ticker, source or "", FATAL, "empty", "", 0, f"not in the store at {store.root}"))
    return out


def check_csv_path(path: Path) -> list[Problem]:
    """Problems of a CSV file, or of every *.csv under a folder (ticker = file name without .csv)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*.csv") if not any(part.startswith(".") for part in p.parts)) \
        if path.is_dir() else [path]
    out = []
    for file in files:
        ticker = file.stem
        try:
            frame = read_price_csv(file, ticker)
        except DataError as exc:
            out.append(Problem(ticker, str(file), FATAL, "unreadable", "", 0, str(exc)))
            continue
        out.extend(check_frame(frame, ticker, str(file)))
    return out


def _flat_runs(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """(start row, length) of each run of ≥ STALE_RUN rows whose close equals the previous row's."""
    same = (frame["close"] == frame["close"].shift(1)).to_numpy()
    return [(a, b - a) for a, b in _runs(same) if b - a >= STALE_RUN]


def _runs(mask) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True runs in a boolean array."""
    mask = np.asarray(mask, dtype=bool)
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _day(value) -> str:
    return str(pd.Timestamp(value).date())
