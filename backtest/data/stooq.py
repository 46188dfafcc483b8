"""Stooq's CSV download: daily bars of `.jp` tickers and the TOPIX index (^TPX)."""

from __future__ import annotations

import os
import tempfile

import pandas as pd

from backtest.data.csv import read_price_csv
from backtest.data.http import FetchError, Fixes, HttpClient
from backtest.data.sources import BASIS_INDEX, BASIS_SPLIT_ADJUSTED, empty, normalise
from backtest.errors import DataError

CSV_URL = "https://stooq.com/q/d/l/"
_IMPORT_FIX = (
    "Download the CSV in a browser (stooq.com, the ticker's page, 'Download data') and load it with "
    "`themebt data import FILE --ticker TICKER`, or use --source jquants or yahoo."
)


def stooq_symbol(ticker: str) -> str:
    return "^tpx" if ticker == "TOPIX" else f"{str(ticker).lower()}.jp"


class Stooq:
    """Fetch daily bars from Stooq's CSV endpoint.

    Stooq publishes split-adjusted prices and does not document how it treats dividends, so the
    basis is split_adjusted and there is no adj_close. Stooq answers 'No data' (HTTP 200) for an
    unknown symbol, and a web page instead of CSV to clients it suspects are robots.
    """

    name = "stooq"

    def __init__(self, http: HttpClient | None = None, requests_per_minute: float | None = None):
        fixes = Fixes(
            auth=_IMPORT_FIX, forbidden=_IMPORT_FIX,
            not_found="Check the ticker: Stooq knows TSE issues as <code>.jp and TOPIX as ^TPX.",
            rate_limited="Stooq limits downloads per day: try again tomorrow, or " + _IMPORT_FIX[0].lower() + _IMPORT_FIX[1:],
        )
        self.http = http or HttpClient("stooq", fixes=fixes)
        self.http.fixes = fixes
        if requests_per_minute:
            self.http.min_interval_s = 60.0 / requests_per_minute

    def symbol(self, ticker: str) -> str:
        return stooq_symbol(ticker)

    def fetch(self, ticker: str, start, end) -> pd.DataFrame:
        """Daily bars from start to end inclusive, in the normalised schema; empty if Stooq has none."""
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        symbol = self.symbol(ticker)
        basis = BASIS_INDEX if ticker == "TOPIX" else BASIS_SPLIT_ADJUSTED
        params = {"s": symbol, "i": "d", "d1": start.strftime("%Y%m%d"), "d2": end.strftime("%Y%m%d")}
        response = self.http.get(CSV_URL, ticker=ticker, params=params)
        text = response.content.decode("utf-8-sig", errors="replace")
        head = text.strip()[:200].lower()
        if head in ("no data", "brak danych") or not head:
            return empty(source=self.name, ticker=ticker, symbol=symbol, basis=basis)
        if "exceeded the daily hits limit" in head:
            raise FetchError(True, file=self.http.where(CSV_URL), field=f"ticker {ticker}",
                             problem="Stooq's daily download limit is used up", fix=self.http.fixes.rate_limited)
        if head.startswith("<") or "<html" in head:
            raise self.http.malformed(CSV_URL, ticker, "Stooq answered with a web page instead of CSV "
                                                       "(it asks clients that look automated to pass a browser check)")
        frame = self._parse(text, ticker, symbol)
        frame = frame[(frame.index >= start) & (frame.index <= end)]
        return normalise(frame, source=self.name, ticker=ticker, symbol=symbol, basis=basis)

    def _parse(self, text: str, ticker: str, symbol: str) -> pd.DataFrame:
        """Validate with the same reader as user CSV files, so a bad download reads like a bad file."""
        fd, name = tempfile.mkstemp(suffix=".csv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            return read_price_csv(name, ticker)
        except DataError as exc:
            fields = exc.fields
            raise FetchError(file=f"stooq {symbol}", field=fields.get("field", "answer"),
                             problem=f"the downloaded CSV is malformed: {fields.get('problem', exc)}",
                             fix=_IMPORT_FIX) from None
        finally:
            os.unlink(name)
