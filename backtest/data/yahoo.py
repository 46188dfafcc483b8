"""Yahoo Finance's chart API: daily bars of `.T` tickers; TOPIX itself is not there, so ETF 1306 stands in."""

from __future__ import annotations

import math

import pandas as pd

from backtest.data.http import Fixes, HttpClient
from backtest.data.sources import BASIS_SPLIT_ADJUSTED, empty, normalise
from backtest.errors import DataError

CHART_URL = "https://query1.finance.yahoo.com/v8/finance/chart/{symbol}"
TOKYO = "Asia/Tokyo"
TOPIX_PROXY = "1306.T"
PROXY_WARNING = (
    "TOPIX from Yahoo is ETF 1306.T (NEXT FUNDS TOPIX ETF), not the index: its level differs, and its returns "
    "carry the fund's fees and tracking error. Use --source jquants or stooq for the index itself"
)
# Yahoo answers 429 to clients that do not look like a browser.
_BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def yahoo_symbol(ticker: str) -> str:
    return TOPIX_PROXY if ticker == "TOPIX" else f"{str(ticker).upper()}.T"


class Yahoo:
    """Fetch daily bars from Yahoo's chart API.

    open/high/low/close are split-adjusted (Yahoo rescales history after a split); adj_close is also
    adjusted for dividends, so it is a total-return series. The two must not be mixed across tickers.
    """

    name = "yahoo"

    def __init__(self, http: HttpClient | None = None, requests_per_minute: float | None = None):
        fixes = Fixes(
            auth="Yahoo refused the request (it sometimes demands a browser cookie): wait and retry, "
                 "use --source jquants or stooq, or download a CSV and use `themebt data import`.",
            forbidden="Yahoo refused the request: wait and retry, or use another source.",
            not_found="Check the ticker: Yahoo knows TSE issues as <code>.T, e.g. 7203.T.",
            rate_limited="Yahoo is limiting requests: wait a few minutes, pass --rate 30, and run the same "
                         "command again; stored tickers are not fetched twice.",
        )
        self.http = http or HttpClient("yahoo", fixes=fixes)
        self.http.fixes = fixes
        if requests_per_minute:
            self.http.min_interval_s = 60.0 / requests_per_minute

    def symbol(self, ticker: str) -> str:
        return yahoo_symbol(ticker)

    def fetch(self, ticker: str, start, end) -> pd.DataFrame:
        """Daily bars from start to end inclusive (Tokyo dates), in the normalised schema; empty if none."""
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        symbol = self.symbol(ticker)
        url = CHART_URL.format(symbol=symbol)
        period1 = int(start.tz_localize(TOKYO).timestamp())
        period2 = int((end + pd.Timedelta(days=1)).tz_localize(TOKYO).timestamp())
        params = {"period1": period1, "period2": period2, "interval": "1d", "events": "div,splits",
                  "includeAdjustedClose": "true"}
        response = self.http.get(url, ticker=ticker, params=params, headers={"User-Agent": _BROWSER_UA})
        payload = self.http.json(response, url, ticker)
        proxy = PROXY_WARNING if ticker == "TOPIX" else None
        chart = payload.get("chart")
        if not isinstance(chart, dict):
            raise self.http.malformed(url, ticker, "no 'chart' object in the answer")
        if chart.get("error"):
            error = chart["error"] if isinstance(chart["error"], dict) else {}
            raise DataError(
                file=self.http.where(url), field=f"ticker {ticker}",
                problem=f"Yahoo has no data for {symbol} ({error.get('description') or error.get('code') or 'error'})",
                fix=self.http.fixes.not_found,
            )
        results = chart.get("result")
        if not results:
            return empty(source=self.name, ticker=ticker, symbol=symbol, basis=BASIS_SPLIT_ADJUSTED, proxy=proxy)
        result = results[0] if isinstance(results, list) and isinstance(results[0], dict) else None
        if result is None:
            raise self.http.malformed(url, ticker, "chart.result is not a list of objects")
        meta = result.get("meta") or {}
        stamps = result.get("timestamp") or []
        if not stamps:
            return empty(source=self.name, ticker=ticker, symbol=symbol, basis=BASIS_SPLIT_ADJUSTED, proxy=proxy)
        frame = self._bars(result, stamps, url, ticker)
        frame = frame[(frame.index >= start) & (frame.index <= end)]
        notes = []
        events = result.get("events") or {}
        events = events if isinstance(events, dict) else {}
        split_items = events.get("splits") if isinstance(events.get("splits"), dict) else {}
        splits = sorted(
            f"{day.date()} {_number(s.get('numerator'))}:{_number(s.get('denominator'))}"
            for s in split_items.values() if isinstance(s, dict)
            for day in [_date_or_none(s.get("date"))] if day is not None
        )
        if splits:
            notes.append("splits (already adjusted by Yahoo): " + ", ".join(splits))
        out = normalise(frame, source=self.name, ticker=ticker, symbol=symbol, basis=BASIS_SPLIT_ADJUSTED,
                        currency=meta.get("currency"), notes=tuple(notes), proxy=proxy)
        out.attrs["dividends"] = _dividends(events, start, end)
        return out

    def _bars(self, result: dict, stamps: list, url: str, ticker: str) -> pd.DataFrame:
        indicators = result.get("indicators") or {}
        quotes = indicators.get("quote") if isinstance(indicators, dict) else None
        if not isinstance(quotes, list) or not quotes or not isinstance(quotes[0], dict):
            raise self.http.malformed(url, ticker, "no indicators.quote in the answer")
        quote = quotes[0]
        columns = {name: quote.get(name) for name in ("open", "high", "low", "close", "volume")}
        adj = indicators.get("adjclose")
        if isinstance(adj, list) and adj and isinstance(adj[0], dict):
            columns["adj_close"] = adj[0].get("adjclose")
        for name, values in columns.items():
            if values is None:
                columns[name] = [None] * len(stamps)
            elif not isinstance(values, list) or len(values) != len(stamps):
                raise self.http.malformed(url, ticker, f"{name} has {len(values) if isinstance(values, list) else 0} "
                                                       f"values for {len(stamps)} timestamps")
        try:
            index = pd.DatetimeIndex([_tokyo_date(s) for s in stamps])
        except (TypeError, ValueError, OverflowError):
            raise self.http.malformed(url, ticker, "a timestamp is not a number of seconds") from None
        frame = pd.DataFrame(columns, index=index)
        for name in columns:
            numbers = pd.to_numeric(frame[name], errors="coerce")
            if (numbers.isna() & frame[name].notna()).any():
                raise self.http.malformed(url, ticker, f"{name} holds a value that is not a number")
            frame[name] = numbers
        return frame


def _tokyo_date(seconds) -> pd.Timestamp:
    """Yahoo stamps a Tokyo daily bar at the session's open in UTC seconds; the Tokyo calendar date is the session."""
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").tz_convert(TOKYO).tz_localize(None).normalize()


def _date_or_none(seconds):
    """The Tokyo date of an event's timestamp, or None when the server sent something that is not one."""
    try:
        return _tokyo_date(seconds)
    except (TypeError, ValueError, OverflowError):
        return None


def _dividends(events: dict, start, end) -> list[list]:
    """[[ex-date, JPY per share], ...] from the chart's events, for a total-return series built elsewhere."""
    out = []
    items = events.get("dividends") if isinstance(events.get("dividends"), dict) else {}
    for item in items.values():
        if isinstance(item, dict) and isinstance(item.get("amount"), (int, float)) \
                and not isinstance(item.get("amount"), bool) and math.isfinite(item["amount"]):
            day = _date_or_none(item.get("date"))
            if day is not None and start <= day <= end:
                out.append([str(day.date()), float(item["amount"])])
    return sorted(out)


def _number(value) -> str:
    return f"{float(value):g}" if isinstance(value, (int, float)) else "?"
