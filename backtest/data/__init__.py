"""One entry point for prices: load_prices(source, tickers, start, end) -> PriceFrame on Tokyo sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from backtest.calendar import sessions as tokyo_sessions
from backtest.data.frame import FIELDS, SYNTHETIC_LABEL, PriceFrame
from backtest.errors import DataError, did_you_mean

__all__ = ["DataSource", "PriceFrame", "SYNTHETIC_LABEL", "load_prices", "parse_data_option"]


@dataclass(frozen=True)
class DataSource:
    """Where prices come from: the built-in synthetic demo set, a folder of CSV files, or the local store."""

    kind: str = "demo"  # demo | csv | store
    path: str | None = None  # the CSV folder; for store, the store folder (None: $THEMEBT_STORE or ~/.themebt/store)
    files: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "store":
            from backtest.data.store import store_root

            return f"store:{store_root(self.path)}"
        return "demo (synthetic)" if self.kind == "demo" else f"csv:{self.path}"


def parse_data_option(text: str, files: dict[str, str] | None = None) -> DataSource:
    """Parse the CLI's --data value: 'demo', 'csv:PATH', 'store' or 'store:PATH'."""
    if text == "demo":
        return DataSource("demo")
    if text == "store" or (text.startswith("store:") and len(text) > 6):
        return DataSource("store", text[6:] or None)
    if text.startswith("csv:") and len(text) > 4:
        return DataSource("csv", text[4:], dict(files or {}))
    raise DataError(
        file="--data",
        field=repr(text),
        problem="unknown data source",
        fix="Use 'demo', 'csv:PATH' (a folder with one <ticker>.csv per ticker), or 'store' / 'store:PATH' "
            "(filled by `themebt data fetch` or `themebt data import`).",
    )


def load_prices(source: DataSource, tickers, start=None, end=None) -> PriceFrame:
    """Prices of `tickers` on every Tokyo session from start to end, NaN where a ticker did not trade."""
    tickers = list(dict.fromkeys(str(t) for t in tickers))
    notes: list[str] = []
    if source.kind == "demo":
        raw, synthetic, where = _demo_frames(tickers), True, "demo data"
    elif source.kind == "store":
        from backtest.data.store import load_store_frames

        raw, synthetic, where = load_store_frames(source.path, tickers, notes=notes), False, source.describe()
    else:
        raw, synthetic, where = _csv_frames(source, tickers, notes), False, f"csv:{source.path}"
    first = min(f.index[0] for f in raw.values() if len(f))
    last = max(f.index[-1] for f in raw.values() if len(f))
    start = pd.Timestamp(start) if start is not None else first
    end = pd.Timestamp(end) if end is not None else last
    if start > last or end < first:
        raise DataError(
            file=where, field="period",
            problem=(f"period.start {start.date()} is after the data's last session" if start > last
                     else f"period.end {end.date()} is before the data's first session")
            + f"; the data covers {first.date()} to {last.date()}",
            fix="Choose a period inside the data.",
        )
    if end < start:
        raise DataError(
            file=where, field="period", problem=f"end {end.date()} is before start {start.date()}",
            fix="Swap the dates or correct the config's period.",
        )
    grid = tokyo_sessions(start, end)
    if len(grid) == 0:
        raise DataError(
            file=where, field="period", problem=f"no Tokyo sessions between {start.date()} and {end.date()}",
            fix="Choose a period that contains trading days.",
        )
    warnings: list[str] = list(notes)
    columns = {f: {} for f in FIELDS}
    for ticker in tickers:
        frame = raw[ticker]
        off_grid = frame.index.difference(tokyo_sessions(frame.index[0], frame.index[-1])) if len(frame) else []
        if len(off_grid):
            warnings.append(
                f"{ticker}: {len(off_grid)} row(s) on days the Tokyo exchange was closed "
                f"(first {off_grid[0].date()}) were ignored"
            )
        aligned = frame.reindex(grid)
        if aligned["close"].notna().sum() == 0:
            span = f"{frame.index[0].date()} to {frame.index[-1].date()}" if len(frame) else "no rows"
            raise DataError(
                file=where, field=f"ticker {ticker}",
                problem=f"no prices between {grid[0].date()} and {grid[-1].date()} (the data covers {span})",
                fix="Choose a period inside the data, or add the missing history.",
            )
        warnings.extend(_gap_warnings(ticker, aligned["close"]))
        for f in FIELDS:
            columns[f][ticker] = aligned[f] if f in aligned else pd.Series(float("nan"), index=grid)
    frames = {f: pd.DataFrame(columns[f], index=grid, columns=tickers) for f in FIELDS}
    return PriceFrame(**frames, source=source.describe(), synthetic=synthetic, warnings=tuple(warnings))


def _gap_warnings(ticker: str, close: pd.Series) -> list[str]:
    """Say where a ticker has no price: it cannot trade on those sessions, and is valued at its last price."""
    present = close.notna().to_numpy()
    out = []
    first = present.argmax()
    if first > 0:
        out.append(
            f"{ticker}: no prices before {close.index[first].date()} ({first} session(s)); "
            "it cannot be traded before then"
        )
    inner = (~present[first:]).sum()
    if inner:
        missing = close.index[first:][~present[first:]]
        out.append(
            f"{ticker}: {inner} session(s) without a price after its first row (first {missing[0].date()}); "
            "no orders fill on those sessions and holdings are valued at the last price"
        )
    return out


def _demo_frames(tickers: list[str]) -> dict[str, pd.DataFrame]:
    from backtest.data.demo import demo_history

    history = demo_history()
    known = history["close"].columns
    for ticker in tickers:
        if ticker not in known:
            raise DataError(
                file="demo data", field=f"ticker {ticker}",
                problem="not in the demo universe",
                fix=f"{did_you_mean(ticker, known)} The demo set covers the tickers in backtest/data/instruments.csv.",
            )
    return {t: pd.DataFrame({f: history[f][t] for f in FIELDS}) for t in tickers}


def _csv_frames(source: DataSource, tickers: list[str], notes: list[str]) -> dict[str, pd.DataFrame]:
    from backtest.data.csv import find_ticker_file, price_csv_warnings, read_price_csv

    from backtest.safeio import expand_user

    folder = expand_user(source.path, lambda problem: DataError(
        file=f"csv:{source.path}", field="data folder", problem=problem, fix="Give the folder's full path."))
    out = {}
    for ticker in tickers:
        path = find_ticker_file(folder, ticker, source.files)
        frame = read_price_csv(path, ticker)
        notes.extend(f"{ticker} ({path.name}): {w}" for w in price_csv_warnings(frame))
        if "adj_close" in frame:
            # scale every price by the source's adjustment so that splits never look like crashes
            factor = frame["adj_close"] / frame["close"]
            frame = frame.assign(**{c: frame[c] * factor for c in ("open", "high", "low", "close")})
            frame = frame.drop(columns="adj_close")
        out[ticker] = frame
    return out
