"""One entry point for prices: load_prices(source, tickers, start, end) -> PriceFrame on Tokyo sessions."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from backtest.market.calendar import sessions as tokyo_sessions
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


COVERAGE_MODES = ("union", "require", "clamp")


def load_prices(source: DataSource, tickers, start=None, end=None, *, coverage: str = "union") -> PriceFrame:
    """Prices of `tickers` on every Tokyo session from start to end, NaN where a ticker did not trade.

    No session outside the data is ever added: the grid stops at the first and last session any
    ticker has. `coverage` says what happens when a ticker's rows do not span the whole period:

    * "union" (the default, for research code): the period is cut to the data's overall span and a
      ticker listed later is NaN before its first row.
    * "require" (runs): every ticker must have rows from the period's first to its last session;
      otherwise a DataError with field "period" lists the dates each ticker covers.
    * "clamp" (runs with --clamp): the period shrinks to the span every ticker covers.

    A start or end left None means the data's own span (the common span under require and clamp).
    The frame records each ticker's coverage and the period asked for and held (PriceFrame.period).
    """
    if coverage not in COVERAGE_MODES:
        raise ValueError(f"coverage must be one of {COVERAGE_MODES}, not {coverage!r}")
    tickers = list(dict.fromkeys(str(t) for t in tickers))
    notes: list[str] = []
    csv_files: dict[str, str] = {}
    if source.kind == "demo":
        raw, synthetic, where = _demo_frames(tickers), True, "demo data"
    elif source.kind == "store":
        from backtest.data.store import load_store_frames

        raw, synthetic, where = load_store_frames(source.path, tickers, notes=notes), False, source.describe()
    else:
        raw, synthetic, where = _csv_frames(source, tickers, csv_files), False, f"csv:{source.path}"
    spans = {t: (f.index[0], f.index[-1]) for t, f in raw.items() if len(f)}
    if not spans:
        raise DataError(file=where, field="tickers", problem="no rows for any of " + ", ".join(tickers),
                        fix="Add the price history, or choose tickers the data has.")
    first = min(a for a, _ in spans.values())
    last = max(b for _, b in spans.values())
    asked = (pd.Timestamp(start) if start is not None else None, pd.Timestamp(end) if end is not None else None)
    start = asked[0] if asked[0] is not None else first
    end = asked[1] if asked[1] is not None else last
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
    clamped = False
    if coverage == "union":
        grid = tokyo_sessions(max(start, first), min(end, last))
    else:
        grid, clamped = _covered_grid(where, tickers, spans, asked, coverage == "clamp")
    if len(grid) == 0:
        raise DataError(
            file=where, field="period", problem=f"no Tokyo sessions between {start.date()} and {end.date()}",
            fix="Choose a period that contains trading days.",
        )
    warnings: list[str] = list(notes)
    columns = {f: {} for f in FIELDS}
    ratios: dict[str, pd.Series] = {}
    for ticker in tickers:
        frame = raw[ticker]
        inside = frame.loc[grid[0]:grid[-1]]
        if ticker in csv_files:
            from backtest.data.csv import price_csv_warnings

            # the file's rows inside the period only: a flaw in 2002 says nothing about a run from 2016
            warnings.extend(f"{ticker} ({csv_files[ticker]}): {w}" for w in price_csv_warnings(inside))
        off_grid = inside.index.difference(grid)
        if len(off_grid):
            from backtest.data.quality import placeholder_rows

            quiet = placeholder_rows(frame, off_grid)
            loud = off_grid.difference(quiet)
            if len(loud):
                warnings.append(
                    f"{ticker}: {len(loud)} row(s) on days the Tokyo exchange was closed "
                    f"(first {loud[0].date()}) were ignored"
                )
        aligned = frame.reindex(grid)
        if aligned["close"].notna().sum() == 0:
            span = f"{frame.index[0].date()} to {frame.index[-1].date()}" if len(frame) else "no rows"
            raise DataError(
                file=where, field=f"ticker {ticker}",
                problem=f"no prices between {grid[0].date()} and {grid[-1].date()} (the data covers {span})",
                fix="Choose a period inside the data, or add the missing history.",
            )
        warnings.extend(_late_start_warning(ticker, aligned["close"]))
        for f in FIELDS:
            columns[f][ticker] = aligned[f] if f in aligned else pd.Series(float("nan"), index=grid)
        if "adj_factor" in frame and frame["adj_factor"].notna().any():
            from backtest.data.adjustment import ratio_on_grid

            ratios[ticker] = ratio_on_grid(frame["adj_factor"], grid)
    frames = {f: pd.DataFrame(columns[f], index=grid, columns=tickers) for f in FIELDS}
    ratio = None
    if ratios:
        ratio = pd.DataFrame({t: ratios.get(t, pd.Series(1.0, index=grid)) for t in tickers}, index=grid,
                             columns=tickers).astype("float64")
    period = {
        "requested": {"start": _iso(asked[0]), "end": _iso(asked[1])},
        "actual": {"start": _iso(grid[0]), "end": _iso(grid[-1])},
        "clamped": clamped,
    }
    return PriceFrame(**frames, source=source.describe(), synthetic=synthetic, warnings=tuple(warnings),
                      as_traded_ratio=ratio, coverage={t: (_iso(a), _iso(b)) for t, (a, b) in spans.items()},
                      period=period)


def _iso(value) -> str | None:
    return None if value is None else str(pd.Timestamp(value).date())


def _covered_grid(where: str, tickers: list[str], spans: dict, asked: tuple, clamp: bool):
    """The sessions every ticker covers inside the period asked for; refused (or clamped) where one falls short.

    A ticker covers a session when it has rows on or before it and on or after it: a missing row
    inside its span is a session without a trade, not a hole in its history.
    """
    missing = [t for t in tickers if t not in spans]
    if missing:
        raise DataError(file=where, field=f"ticker {missing[0]}", problem="no rows at all",
                        fix="Add the price history, or drop the ticker from the config.")
    common = (max(a for a, _ in spans.values()), min(b for _, b in spans.values()))
    start = asked[0] if asked[0] is not None else common[0]
    end = asked[1] if asked[1] is not None else common[1]
    wanted = tokyo_sessions(start, end) if start <= end else pd.DatetimeIndex([])
    if len(wanted) == 0:
        return wanted, False
    short = [t for t in tickers if spans[t][0] > wanted[0] or spans[t][1] < wanted[-1]]
    if not short:
        return wanted, False
    both = tokyo_sessions(max(wanted[0], common[0]), min(wanted[-1], common[1])) if common[0] <= common[1] \
        else pd.DatetimeIndex([])
    covers = _coverage_text(tickers, spans, short)
    if not clamp or len(both) == 0:
        if len(both) == 0:
            problem = (f"the instruments have no session in common between {start.date()} and "
                       f"{end.date()}; the data covers: {covers}")
            fix = "Choose instruments whose histories overlap, or a period where they all trade."
        else:
            problem = (f"the period {start.date()} to {end.date()} runs past the data of "
                       f"{', '.join(short)}; the data covers: {covers}")
            fix = (f"Run with --clamp (or period: {{clamp: true}} in the config) to use the common period "
                   f"{both[0].date()} to {both[-1].date()}, or give --start {both[0].date()} "
                   f"--end {both[-1].date()}. A period before an instrument existed would be reported as "
                   "cash held, not as a result")
        raise DataError(file=where, field="period", problem=problem, fix=fix)
    return both, True


def _coverage_text(tickers: list[str], spans: dict, short: list[str]) -> str:
    """'TOPIX 2001-06-25 to 2026-02-16; 1631*, 1632* 2016-02-04 to 2026-02-16': tickers grouped by span, * short."""
    groups: dict[tuple, list[str]] = {}
    for t in tickers:
        groups.setdefault(spans[t], []).append(t + ("*" if t in short else ""))
    parts = []
    for (a, b), names in groups.items():
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        parts.append(f"{shown} {a.date()} to {b.date()}")
    return "; ".join(parts) + " (* falls short of the period)"


def _late_start_warning(ticker: str, close: pd.Series) -> list[str]:
    """Under the union rule a ticker may start inside the period: say it cannot trade before its first row.

    Sessions without a price after the first row are no-trade sessions: the run reports them as
    liquidity (backtest.data.quality.liquidity), not as warnings.
    """
    present = close.notna().to_numpy()
    first = present.argmax()
    if first > 0:
        return [f"{ticker}: no prices before {close.index[first].date()} ({first} session(s)); "
                "it cannot be traded before then"]
    return []


def _demo_frames(tickers: list[str]) -> dict[str, pd.DataFrame]:
    from backtest.data.demo import demo_history

    history = demo_history()
    known = history["close"].columns
    for ticker in tickers:
        if ticker not in known:
            raise DataError(
                file="demo data", field=f"ticker {ticker}",
                problem="not in the demo universe",
                fix=f"{did_you_mean(ticker, known)} The demo set covers the tickers in backtest/market/instruments.csv.",
            )
    return {t: pd.DataFrame({f: history[f][t] for f in FIELDS}) for t in tickers}


def _csv_frames(source: DataSource, tickers: list[str], names: dict[str, str]) -> dict[str, pd.DataFrame]:
    """Each ticker's file, read and validated; `names` receives the file name of each, for warnings."""
    from backtest.data.csv import find_ticker_file, read_price_csv

    from backtest.safeio import expand_user

    folder = expand_user(source.path, lambda problem: DataError(
        file=f"csv:{source.path}", field="data folder", problem=problem, fix="Give the folder's full path."))
    out = {}
    for ticker in tickers:
        path = find_ticker_file(folder, ticker, source.files)
        frame = read_price_csv(path, ticker)
        names[ticker] = path.name
        if "adj_close" in frame:
            # scale every price by the source's adjustment so that splits never look like crashes
            factor = frame["adj_close"] / frame["close"]
            frame = frame.assign(**{c: frame[c] * factor for c in ("open", "high", "low", "close")})
            frame = frame.drop(columns="adj_close")
        out[ticker] = frame
    return out
