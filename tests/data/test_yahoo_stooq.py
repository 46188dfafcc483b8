"""backtest.data.yahoo and backtest.data.stooq against recorded chart-API JSON and CSV downloads."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import responses
from responses import matchers

from backtest.data.http import FetchError
from backtest.data.stooq import CSV_URL, Stooq
from backtest.data.yahoo import CHART_URL, Yahoo
from backtest.errors import DataError
from tests.data.conftest import fixture_text

CHART_7203 = CHART_URL.format(symbol="7203.T")


# ----- Yahoo ----------------------------------------------------------------------------------------


@responses.activate
def test_yahoo_chart_is_read_on_tokyo_dates(no_sleep):
    responses.add(responses.GET, CHART_7203, body=fixture_text("yahoo_chart_7203.json"), match=[
        matchers.query_param_matcher({"period1": "1704294000", "period2": "1704898800", "interval": "1d",
                                      "events": "div,splits", "includeAdjustedClose": "true"}),
    ])
    frame = Yahoo(http=no_sleep("yahoo")).fetch("7203", "2024-01-04", "2024-01-10")
    # bars are stamped 00:00 UTC = 09:00 Tokyo; the null bar (no trade) is dropped
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2024-01-04", "2024-01-05", "2024-01-10"]
    assert frame.loc["2024-01-04", "close"] == 2640.0
    assert frame.loc["2024-01-04", "adj_close"] == 2610.0, "adj_close includes the later dividend"
    assert frame.attrs["basis"] == "split_adjusted" and frame.attrs["currency"] == "JPY"
    assert frame.attrs["dividends"] == [["2024-01-05", 30.0]]
    assert frame.attrs["notes"] == ["splits (already adjusted by Yahoo): 2024-01-04 5:1"]
    assert frame.attrs["proxy"] is None


@responses.activate
def test_yahoo_topix_is_the_1306_proxy_and_says_so(no_sleep):
    responses.add(responses.GET, CHART_URL.format(symbol="1306.T"), body=fixture_text("yahoo_chart_1306.json"))
    frame = Yahoo(http=no_sleep("yahoo")).fetch("TOPIX", "2024-01-04", "2024-01-05")
    assert frame.attrs["symbol"] == "1306.T"
    assert "not the index" in frame.attrs["proxy"]
    assert frame["close"].tolist() == [2490.0, 2505.0]


@responses.activate
def test_yahoo_unknown_ticker(no_sleep):
    responses.add(responses.GET, CHART_URL.format(symbol="9999.T"), status=404,
                  body=fixture_text("yahoo_chart_not_found.json"))
    with pytest.raises(FetchError) as info:
        Yahoo(http=no_sleep("yahoo")).fetch("9999", "2024-01-04", "2024-01-05")
    assert str(info.value) == (
        "yahoo https://query1.finance.yahoo.com/v8/finance/chart/9999.T: ticker 9999: not found "
        "(HTTP 404: No data found, symbol may be delisted). Check the ticker: Yahoo knows TSE issues as <code>.T, e.g. 7203.T."
    )
    assert not info.value.fatal, "one unknown ticker does not stop the others"


@responses.activate
def test_yahoo_error_with_http_200(no_sleep):
    responses.add(responses.GET, CHART_7203, body=fixture_text("yahoo_chart_not_found.json"))
    with pytest.raises(DataError, match="Yahoo has no data for 7203.T"):
        Yahoo(http=no_sleep("yahoo")).fetch("7203", "2024-01-04", "2024-01-05")


@responses.activate
def test_yahoo_429_with_retry_after_then_success(no_sleep):
    responses.add(responses.GET, CHART_7203, status=429, headers={"Retry-After": "3"}, body="Too Many Requests")
    responses.add(responses.GET, CHART_7203, body=fixture_text("yahoo_chart_7203.json"))
    source = Yahoo(http=no_sleep("yahoo"))
    assert len(source.fetch("7203", "2024-01-04", "2024-01-10")) == 3
    assert source.http.waits == [3.0]


@responses.activate
def test_yahoo_empty_range(no_sleep):
    empty = {"chart": {"result": [{"meta": {"currency": "JPY"}, "indicators": {"quote": [{}]}}], "error": None}}
    responses.add(responses.GET, CHART_7203, json=empty)
    assert Yahoo(http=no_sleep("yahoo")).fetch("7203", "2024-01-06", "2024-01-07").empty


@responses.activate
@pytest.mark.parametrize("mutate, words", [
    (lambda d: d["chart"]["result"][0]["indicators"]["quote"][0]["close"].pop(), "close has 3 values for 4 timestamps"),
    (lambda d: d["chart"]["result"][0]["indicators"].pop("quote"), "no indicators.quote"),
    (lambda d: d["chart"]["result"][0]["indicators"]["quote"][0]["open"].__setitem__(0, "x"), "open holds a value that is not a number"),
    (lambda d: d.pop("chart"), "no 'chart' object"),
])
def test_yahoo_malformed(no_sleep, mutate, words):
    data = json.loads(fixture_text("yahoo_chart_7203.json"))
    mutate(data)
    responses.add(responses.GET, CHART_7203, json=data)
    with pytest.raises(FetchError) as info:
        Yahoo(http=no_sleep("yahoo")).fetch("7203", "2024-01-04", "2024-01-10")
    assert words in str(info.value)


@responses.activate
def test_yahoo_other_currency_is_recorded(no_sleep):
    data = json.loads(fixture_text("yahoo_chart_7203.json"))
    data["chart"]["result"][0]["meta"]["currency"] = "USD"
    responses.add(responses.GET, CHART_7203, json=data)
    assert Yahoo(http=no_sleep("yahoo")).fetch("7203", "2024-01-04", "2024-01-10").attrs["currency"] == "USD"


# ----- Stooq ----------------------------------------------------------------------------------------


@responses.activate
def test_stooq_csv(no_sleep):
    responses.add(responses.GET, CSV_URL, body=fixture_text("stooq_7203.csv"), content_type="text/csv", match=[
        matchers.query_param_matcher({"s": "7203.jp", "i": "d", "d1": "20240104", "d2": "20240110"}),
    ])
    frame = Stooq(http=no_sleep("stooq")).fetch("7203", "2024-01-04", "2024-01-10")
    assert frame["close"].tolist() == [2640.0, 2690.0, 2750.0]
    assert frame.index[0] == pd.Timestamp("2024-01-04") and frame.attrs["basis"] == "split_adjusted"


@responses.activate
def test_stooq_topix_is_the_index(no_sleep):
    responses.add(responses.GET, CSV_URL, body=fixture_text("stooq_tpx.csv"),
                  match=[matchers.query_param_matcher({"s": "^tpx", "i": "d", "d1": "20240104", "d2": "20240105"})])
    frame = Stooq(http=no_sleep("stooq")).fetch("TOPIX", "2024-01-04", "2024-01-05")
    assert frame["close"].tolist() == [2460.0, 2475.0]
    assert frame.attrs["basis"] == "index_level" and frame.attrs["proxy"] is None


@responses.activate
def test_stooq_no_data_is_empty(no_sleep):
    responses.add(responses.GET, CSV_URL, body=fixture_text("stooq_no_data.txt"))
    assert Stooq(http=no_sleep("stooq")).fetch("9999", "2024-01-04", "2024-01-05").empty


@responses.activate
def test_stooq_browser_check_page(no_sleep):
    responses.add(responses.GET, CSV_URL, body=fixture_text("stooq_interstitial.html"), content_type="text/html")
    with pytest.raises(FetchError) as info:
        Stooq(http=no_sleep("stooq")).fetch("7203", "2024-01-04", "2024-01-05")
    assert "a web page instead of CSV" in str(info.value)
    assert "themebt data import" in str(info.value)


@responses.activate
def test_stooq_daily_limit_stops_the_fetch(no_sleep):
    responses.add(responses.GET, CSV_URL, body="Exceeded the daily hits limit")
    with pytest.raises(FetchError, match="daily download limit") as info:
        Stooq(http=no_sleep("stooq")).fetch("7203", "2024-01-04", "2024-01-05")
    assert info.value.fatal


@responses.activate
def test_stooq_malformed_csv_names_stooq_not_a_temp_file(no_sleep):
    responses.add(responses.GET, CSV_URL, body="Date,Open,High,Low,Close\n2024-01-04,1,2,1,abc\n")
    with pytest.raises(FetchError) as info:
        Stooq(http=no_sleep("stooq")).fetch("7203", "2024-01-04", "2024-01-05")
    text = str(info.value)
    assert text.startswith("stooq 7203.jp: row 2, column 'Close': the downloaded CSV is malformed: 'abc' is not a number")
    assert "/tmp" not in text


@responses.activate
def test_stooq_server_error_then_timeout_gives_up(no_sleep):
    import requests

    responses.add(responses.GET, CSV_URL, status=500)
    responses.add(responses.GET, CSV_URL, body=requests.ConnectTimeout())
    client = no_sleep("stooq", retries=1)
    with pytest.raises(FetchError, match="after 2 tries"):
        Stooq(http=client).fetch("7203", "2024-01-04", "2024-01-05")
