"""Return basis: what each price series includes, one basis for strategy and benchmark, dividends on ex-dates."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.errors import ConfigError, DataError, did_you_mean

PRICE_ONLY, SPLIT_ADJUSTED, TOTAL_RETURN = "price_only", "split_adjusted", "total_return"
# a split-adjusted series is still a price-return series: only dividends make it total return
RUN_BASIS_OF = {PRICE_ONLY: "price", SPLIT_ADJUSTED: "price", TOTAL_RETURN: "total"}
DEFAULT_SOURCE_BASIS = {"demo": PRICE_ONLY, "csv": SPLIT_ADJUSTED}
DIVIDEND_COLUMNS = ("ticker", "ex_date", "amount_jpy")


@dataclass(frozen=True)
class BasisPlan:
    """How a run reaches its declared basis.

    run: 'price' or 'total'. sources: ticker -> what its prices include. dividends: index = sessions;
    columns = tickers; JPY per share (index points for an index) going ex on that session, 0 elsewhere;
    only for tickers whose prices lack them on a total-return run.
    """

    run: str
    sources: dict[str, str]
    dividends: pd.DataFrame | None = None
    dividends_file: str | None = None
    dividends_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)

    def manifest(self) -> dict:
        rows = 0 if self.dividends is None else int((self.dividends != 0).to_numpy().sum())
        return {"run": self.run, "sources": dict(self.sources), "dividends_file": self.dividends_file,
                "dividends_sha256": self.dividends_sha256, "ex_dates_credited": rows}

    def label(self) -> str:
        return "total return (dividends reinvested on ex-dates)" if self.run == "total" else "price return"


def read_dividends(path: str | Path, known: set[str] | None = None) -> pd.DataFrame:
    """A dividends CSV: one row per ticker and ex-date, amount_jpy per share on the prices' share basis.

    Returns columns ticker (str), ex_date (Timestamp), amount_jpy (float). Raises DataError naming the
    row for a bad date, a negative amount, an unknown ticker or a repeated (ticker, ex_date).
    """
    path = Path(path)
    file = str(path)
    from backtest.safeio import SMALL_FILE_BYTES, read_user_text

    text = read_user_text(path, 10 * SMALL_FILE_BYTES, lambda problem: DataError(
        file=file, field="(file)", problem=problem, fix="Give a UTF-8 CSV file of ticker,ex_date,amount_jpy."),
        encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in DIVIDEND_COLUMNS if c not in header]
    if missing:
        raise DataError(file=file, field="(header)", problem=f"missing column(s) {', '.join(missing)}; got {header}",
                        fix="Start the file with the line: ticker,ex_date,amount_jpy")
    rows: list = []
    seen: dict = {}
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        ticker = row["ticker"]
        if not ticker:
            raise DataError(file=file, field=f"row {n}, column ticker", problem="empty", fix="Give the TSE code, e.g. 7203.")
        if known is not None and ticker not in known:
            raise DataError(file=file, field=f"row {n}, column ticker", problem=f"unknown ticker '{ticker}'",
                            fix=f"{did_you_mean(ticker, known)} Tickers are TSE codes, as in the price data.")
        try:
            ex_date = pd.Timestamp(dt.date.fromisoformat(row["ex_date"]))
        except ValueError:
            raise DataError(file=file, field=f"row {n}, column ex_date", problem=f"{row['ex_date']!r} is not a date",
                            fix="Write dates as YYYY-MM-DD.") from None
        try:
            amount = float(row["amount_jpy"])
        except ValueError:
            amount = math.nan
        if not math.isfinite(amount) or amount < 0:
            raise DataError(file=file, field=f"row {n}, column amount_jpy",
                            problem=f"expected a dividend of 0 yen or more, got {row['amount_jpy']!r}",
                            fix="Write the amount per share as a plain number, e.g. 35.5.")
        key = (ticker, ex_date)
        if key in seen:
            raise DataError(file=file, field=f"row {n}", problem=f"{ticker} has ex-date {ex_date.date()} twice "
                            f"(first on row {seen[key]})", fix="Merge the two rows into one amount, or fix the date.")
        seen[key] = n
        rows.append((ticker, ex_date, amount))
    return pd.DataFrame(rows, columns=list(DIVIDEND_COLUMNS))


def plan_basis(spec, prices, known: set[str] | None = None) -> BasisPlan:
    """Check that the data can give the run's declared basis, the same for every ticker, and how.

    Raises ConfigError when a ticker's prices are on another basis than the run (total-return TOPIX
    against price-return stocks, say), or when a total-return run has no dividends for a ticker.
    """
    kind = getattr(spec.data, "kind", "demo")
    default = spec.source_basis or DEFAULT_SOURCE_BASIS.get(kind, SPLIT_ADJUSTED)
    sources = {t: spec.basis_by_ticker.get(t, default) for t in prices.tickers}
    file = spec.config_path
    if spec.basis == "price":
        mixed = sorted(t for t, b in sources.items() if b == TOTAL_RETURN)
        if mixed:
            raise ConfigError(
                file=file, field="basis",
                problem=f"the run is on price basis but {', '.join(mixed)} {'is' if len(mixed) == 1 else 'are'} "
                        "total return (dividends included); strategy and benchmark must share one basis",
                fix="Use price-return series for them, or set basis: total and give data.dividends for the others.",
            )
        warnings = ["data.dividends is ignored on the price basis"] if spec.dividends_path else []
        return BasisPlan("price", sources, warnings=warnings)
    needs = sorted(t for t, b in sources.items() if b != TOTAL_RETURN)
    if not needs:
        return BasisPlan("total", sources)
    if not spec.dividends_path:
        where = "the demo data has no dividends" if kind == "demo" else "their prices exclude dividends"
        raise ConfigError(
            file=file, field="basis",
            problem=f"basis total needs dividends for {', '.join(needs)}, and {where}",
            fix="Give data.dividends (a CSV of ticker,ex_date,amount_jpy), use total-return series "
                "(data.basis: total_return), or set basis: price.",
        )
    table = read_dividends(spec.dividends_path, known=(known or set()) | set(prices.tickers))
    frame = pd.DataFrame(0.0, index=prices.sessions, columns=needs)
    warnings = []
    first, last = prices.sessions[0], prices.sessions[-1]
    for ticker, ex_date, amount in table.itertuples(index=False):
        if ticker not in frame.columns or not first <= ex_date <= last:
            continue
        if ex_date not in frame.index:
            raise DataError(file=spec.dividends_path, field=f"{ticker} ex_date {ex_date.date()}",
                            problem="not a Tokyo trading session", fix="Use the ex-date as the exchange published it.")
        frame.loc[ex_date, ticker] += amount
    silent = [t for t in needs if t not in set(table["ticker"])]
    if silent:
        warnings.append(f"basis total: no dividends listed for {', '.join(silent)}; taken to have paid none")
    digest = hashlib.sha256(Path(spec.dividends_path).read_bytes()).hexdigest()
    return BasisPlan("total", sources, frame, spec.dividends_path, digest, warnings)


def total_return_index(close: pd.Series, dividends: pd.Series | None) -> pd.Series:
    """Daily returns with dividends reinvested on the ex-date: (close_t + div_t) / close_{t-1} - 1."""
    prev = close.ffill().shift(1)
    div = dividends.reindex(close.index).fillna(0.0) if dividends is not None else 0.0
    out = (close.ffill() + div) / prev - 1.0
    return out.fillna(0.0)


def entitled_cash(shares: np.ndarray, dividends_next: np.ndarray) -> float:
    """Cash due on the next session's ex-dates for shares held at today's close."""
    return float(np.nansum(shares * dividends_next))
