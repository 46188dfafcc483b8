"""Every data-quality finding, with the one set of thresholds, for every caller.

What is malformed is refused where it is read: the CSV reader (backtest/data/csv.py) and the store's
reader (backtest/data/store.py) raise a DataError for a missing or non-positive price, a date out of
order, text in a number. What is merely suspicious is a `Finding` from this module: printed and kept
in a run's manifest.json, reported by `themebt data check`, and an error under `--strict` (of `run`
and of `data check` alike). One function, `session_findings`, looks at one ticker's prices on the
Tokyo sessions; a run gives it the sessions of its period (`check_prices`), `data check` the sessions
of a file or a stored frame (`check_frame`), so both find the same things in the same rows.

The findings (Finding.kind):

* gap: GAP_SESSIONS or more sessions in a row without a price inside a stock's or an index's
  history (a halt, a delisting or a hole in the data). For an ETF a session without a row is a
  session without a trade (the TOPIX-17 ETFs skip 1-25% of sessions): `liquidity()` reports it per
  run, never as a finding, and so do zero-volume sessions.
* stale: STALE_SESSIONS or more identical closes in a row (a vendor repeating the last price).
* split: a one-session move near a split ratio (SPLIT_FACTORS, within SPLIT_TOLERANCE) that the
  benchmark did not make too: a split left unadjusted.
* range: a high below the low, or an open or close more than RANGE_TOLERANCE outside the high-low
  range.
* currency: a median price below MIN_YEN (another currency, or units other than yen); from a
  store record, a currency other than JPY (fatal).
* off_calendar: rows on days the Tokyo exchange was closed (runs ignore them); a placeholder row that
  only repeats the previous close holds no price and is no finding.
* behind, proxy (store records only): the last price is more than STALE_SESSIONS - 1 sessions before
  the end of the span fetched, or the ticker is stored from a stand-in.

A one-session move that is not split-sized is no finding: Tokyo's daily limits let real prices move
20% and more in a session (the shipped real ETF and stock files do, and so does the demo set).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

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
# Real index files carry small rounding gaps between open/close and the high-low range.
RANGE_TOLERANCE = 0.005
# No Tokyo share, ETF or index trades below ¥5 for long: a median below it is another currency or unit.
MIN_YEN = 5.0
# The ticker whose moves tell a market-wide day from a split when `data check` has no run's benchmark.
BENCHMARK = "TOPIX"

FATAL, WARNING = "fatal", "warning"


@dataclass(frozen=True)
class Finding:
    """One suspicious stretch of one ticker's prices; `date` is its first session, `count` how many it spans."""

    kind: str  # gap | stale | split | range | currency | off_calendar | behind | proxy | unreadable | empty
    ticker: str
    date: dt.date | None
    message: str
    count: int = 1
    severity: str = WARNING  # fatal only for what no run can use: unreadable, empty, another currency
    source: str = ""

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        return {"kind": self.kind, "ticker": self.ticker, "date": self.date.isoformat() if self.date else None,
                "message": self.message}

    # the names `themebt data check` prints as its table's columns
    @property
    def check(self) -> str:
        return self.kind

    @property
    def first(self) -> str:
        return self.date.isoformat() if self.date else ""

    @property
    def detail(self) -> str:
        return self.message.removeprefix(f"{self.ticker}: ")


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


# ----- the findings -------------------------------------------------------------------------------------
def check_prices(prices: PriceFrame, benchmark: str | None = None) -> list[Finding]:
    """A run's findings: `session_findings` of every ticker over the run's sessions, in ticker order."""
    findings: list[Finding] = []
    bench = prices.close[benchmark] if benchmark in prices.close else None
    for ticker in prices.tickers:
        findings += session_findings(ticker, prices.close[ticker], prices.open[ticker], prices.high[ticker],
                                     prices.low[ticker], None if ticker == benchmark else bench)
    return findings


def session_findings(ticker: str, close: pd.Series, open_: pd.Series | None = None, high: pd.Series | None = None,
                     low: pd.Series | None = None, bench: pd.Series | None = None) -> list[Finding]:
    """Gaps, stale closes, split-like jumps, broken high-low ranges and a price level that is not yen.

    Each series is on the Tokyo sessions (NaN on a session without a price). A jump only counts as a
    suspected split when the benchmark (bench, on the same sessions) did not move alike that day, so a
    crash of the whole market is never reported as a split.
    """
    findings: list[Finding] = []
    if not is_etf(ticker):
        # an ETF's missing sessions are sessions without a trade: liquidity(), not a finding
        findings += _gaps(ticker, close)
    findings += _stale(ticker, close)
    findings += _splits(ticker, close, bench)
    if open_ is not None and high is not None and low is not None:
        findings += _range(ticker, open_, high, low, close)
    findings += _level(ticker, close)
    return findings


def off_calendar(frame: pd.DataFrame, ticker: str, sessions: pd.DatetimeIndex) -> Finding | None:
    """Rows of frame between the first and last of `sessions` on days the exchange was closed, if any
    carries a price (a placeholder repeating the previous close does not)."""
    if frame.empty or not len(sessions):
        return None
    inside = frame.index[(frame.index >= sessions[0]) & (frame.index <= sessions[-1])]
    off = inside.difference(sessions)
    off = off.difference(placeholder_rows(frame, off))
    if not len(off):
        return None
    return Finding("off_calendar", ticker, _day(off[0]), (
        f"{ticker}: {len(off)} row(s) on days the Tokyo exchange was closed (first {_day(off[0])}) were ignored"),
        count=len(off))


def check_frame(frame: pd.DataFrame, ticker: str, source: str = "", meta: dict | None = None,
                bench: pd.Series | None = None) -> list[Finding]:
    """The findings of one ticker's rows (index: dates; open, high, low, close[, volume]) over its own sessions,
    as a run over the same sessions would find them; with a store record (meta), its currency, proxy and
    how far it is behind the span fetched. bench: the benchmark's closes, by date."""
    from backtest.market.calendar import sessions as tokyo_sessions

    meta = meta or {}
    out: list[Finding] = []
    if frame.empty or "close" not in frame or not frame["close"].notna().any():
        return [Finding("empty", ticker, None, f"{ticker}: no prices at all", 0, FATAL, source)]
    priced = frame[frame["close"].notna()]
    grid = tokyo_sessions(priced.index[0], priced.index[-1])
    if not len(grid):  # a run refuses such data: it has no session to run on
        return [Finding("off_calendar", ticker, _day(priced.index[0]), (
            f"{ticker}: all {len(priced)} row(s) are on days the Tokyo exchange was closed (first "
            f"{_day(priced.index[0])}): no session to run on"), len(priced), FATAL, source)]
    odd = off_calendar(frame, ticker, grid)
    if odd is not None:
        out.append(odd)
    on_grid = frame.reindex(grid)
    columns = [on_grid[c] if c in on_grid else None for c in ("open", "high", "low")]
    out += session_findings(ticker, on_grid["close"], *columns,
                            bench=None if bench is None or ticker == BENCHMARK else bench.reindex(grid))
    asked_end = (meta.get("requested") or meta.get("coverage") or {}).get("end")
    if asked_end:
        # sessions up to today at most: a fetch may ask for days that have not happened yet
        until = min(pd.Timestamp(asked_end), pd.Timestamp.today().normalize())
        behind = len(tokyo_sessions(priced.index[-1] + pd.Timedelta(days=1), until))
        if behind >= STALE_SESSIONS:
            out.append(Finding("behind", ticker, _day(priced.index[-1]), (
                f"{ticker}: the last price is {behind} sessions before the end of the span asked for, {asked_end} "
                "(a delayed plan, a suspension or a delisting)"), behind))
    currency = meta.get("currency")
    if currency and currency != "JPY":
        out = [f for f in out if f.kind != "currency"]
        out.append(Finding("currency", ticker, None, f"{ticker}: prices are in {currency}, not JPY", len(frame), FATAL))
    if meta.get("proxy"):
        out.append(Finding("proxy", ticker, None, f"{ticker}: {meta['proxy']}", 0))
    return [_sourced(f, source) for f in out]


def check_store(store, source: str | None = None, tickers=None) -> list[Finding]:
    """The findings of every stored ticker (or those named), each with its own coverage record."""
    wanted = set(str(t) for t in tickers) if tickers else None
    out: list[Finding] = []
    bench = _stored_close(store, BENCHMARK)
    for entry in store.entries(source):
        if wanted is not None and entry.ticker not in wanted:
            continue
        try:
            frame = store.read(entry.source, entry.ticker)
        except DataError as exc:
            out.append(_unreadable(entry.ticker, entry.source, exc))
            continue
        out.extend(check_frame(frame, entry.ticker, entry.source, entry.meta, bench=bench))
    if wanted:
        have = {e.ticker for e in store.entries(source)}
        for ticker in sorted(wanted - have):
            out.append(Finding("empty", ticker, None, f"{ticker}: not in the store at {store.root}", 0, FATAL,
                               source or ""))
    return out


def check_csv_files(files: list[Path]) -> list[Finding]:
    """The findings of CSV price files (ticker = file name without .csv), read as a run reads them.

    A file the reader refuses is one fatal 'unreadable' finding with the reader's error. The
    benchmark's file among them (TOPIX.csv) tells a market-wide day from a split, as in a run.
    """
    frames: dict[Path, pd.DataFrame | DataError] = {}
    for file in files:
        try:
            frames[file] = _csv_frame(file)
        except DataError as exc:
            frames[file] = exc
    bench = next((f["close"] for p, f in frames.items() if p.stem == BENCHMARK and isinstance(f, pd.DataFrame)), None)
    out: list[Finding] = []
    for file, frame in frames.items():
        if isinstance(frame, DataError):
            out.append(_unreadable(file.stem, str(file), frame))
        else:
            out.extend(check_frame(frame, file.stem, str(file), bench=bench))
    return out


def check_csv_path(path: Path) -> list[Finding]:
    """The findings of a CSV file, or of every *.csv under a folder."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*.csv") if not any(part.startswith(".") for part in p.parts)) \
        if path.is_dir() else [path]
    return check_csv_files(files)


STRICT_FIX = ("Fix the data (or the config), or run without --strict to accept them; they are then printed "
              "and kept in the run's manifest.json")


def strict_error(where: str, warnings: list[str], fix: str = STRICT_FIX) -> DataError:
    """The error `--strict` raises instead of running on warned-about data (`data check --strict` too)."""
    shown = "; ".join(warnings[:5]) + (f"; and {len(warnings) - 5} more" if len(warnings) > 5 else "")
    return DataError(file=where, field="--strict", problem=f"{len(warnings)} warning(s) would be recorded: {shown}",
                     fix=fix)


# ----- helpers ------------------------------------------------------------------------------------------
def _csv_frame(file: Path) -> pd.DataFrame:
    """A CSV file's prices as a run sees them: read and validated, scaled by Adj Close where it has one."""
    from backtest.data import adjusted_by_close
    from backtest.data.csv import read_price_csv

    return adjusted_by_close(read_price_csv(file, file.stem))


def _stored_close(store, ticker: str) -> pd.Series | None:
    entry = store.find(ticker)
    if entry is None:
        return None
    try:
        return store.read(entry.source, ticker)["close"]
    except DataError:
        return None


def _unreadable(ticker: str, source: str, exc: DataError) -> Finding:
    return Finding("unreadable", ticker, None, f"{ticker}: {exc}", 0, FATAL, source)


def _sourced(finding: Finding, source: str) -> Finding:
    from dataclasses import replace

    return replace(finding, source=source) if source and not finding.source else finding


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a boolean array."""
    edges = np.diff(np.concatenate(([0], np.asarray(flags, dtype=bool).astype(np.int8), [0])))
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
        "Holdings are valued at the last price meanwhile"), sum(length for _, length in long))]


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
        f"to {_day(printed.index[start + n - 1])}{more}: stale prices? Check the source repeats no last price"),
        len(long))]


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
        "Use split-adjusted prices, or add an Adj Close column"), len(hits))]


def _range(ticker: str, open_: pd.Series, high: pd.Series, low: pd.Series, close: pd.Series) -> list[Finding]:
    h, lo = high.to_numpy(dtype=float), low.to_numpy(dtype=float)
    top, bottom = h * (1 + RANGE_TOLERANCE), lo * (1 - RANGE_TOLERANCE)
    bad = h < lo
    for values in (open_.to_numpy(dtype=float), close.to_numpy(dtype=float)):
        bad |= (values > top) | (values < bottom)
    hits = np.flatnonzero(bad)  # NaN compares False: a session without a price is never a broken range
    if not len(hits):
        return []
    date = _day(close.index[hits[0]])
    return [Finding("range", ticker, date, (
        f"{ticker}: high/low inconsistent on {len(hits)} day(s), first {date}: high below low, or open/close "
        f"more than {RANGE_TOLERANCE:.1%} outside the high-low range"), len(hits))]


def _level(ticker: str, close: pd.Series) -> list[Finding]:
    printed = close.dropna()
    if not len(printed) or float(printed.median()) >= MIN_YEN:
        return []
    return [Finding("currency", ticker, None, (
        f"{ticker}: median price {float(printed.median()):g} is below ¥{MIN_YEN:g}: another currency, or units "
        "other than yen?"), len(printed))]
