"""Company disclosures from J-Quants (recorded V1 and V2 answers), into the store and back, and CSV imports."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import responses
from responses import matchers

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.fundamentals import Fundamentals, fetch_fundamentals, load_fundamentals
from backtest.data.http import FetchError
from backtest.data.jquants import BASE_V1, BASE_V2, JQuants
from backtest.data.store import Store
from tests.data.conftest import fixture_text, invoke

KEY = "TEST-KEY-0123456789"
SUMMARY = f"{BASE_V2}/fins/summary"
STATEMENTS = f"{BASE_V1}/fins/statements"


def tokyo(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize("Asia/Tokyo")


def v2(no_sleep) -> JQuants:
    return JQuants(api_key=KEY, http=no_sleep("jquants"))


def add_v2_pages(mock):
    mock.add(responses.GET, SUMMARY, body=fixture_text("jquants_v2_fins_summary_86970_page1.json"), match=[
        matchers.query_param_matcher({"code": "86970"}), matchers.header_matcher({"x-api-key": KEY})])
    mock.add(responses.GET, SUMMARY, body=fixture_text("jquants_v2_fins_summary_86970_page2.json"), match=[
        matchers.query_param_matcher({"code": "86970", "pagination_key": "fins-86970-page-2"})])


@responses.activate
def test_v2_summary_pages_blanks_forecasts_and_a_restatement(no_sleep):
    add_v2_pages(responses)
    frame = v2(no_sleep).fetch_fundamentals("8697")
    f = Fundamentals(frame, source="fixture")
    rows = f.frame
    assert len(rows) == 4 and set(rows["code"]) == {"8697"}
    assert rows["ordinary_profit"].isna().all(), "IFRS reports have no ordinary profit"
    fy = rows.iloc[0]
    assert fy["disclosed_at"] == tokyo("2023-04-27 15:30") and fy["period_type"] == "FY"
    assert fy["document_type"] == "FYFinancialStatements_Consolidated_IFRS"
    assert (fy["profit"], fy["equity"], fy["bps"], fy["dividend_per_share"]) == (50e9, 340e9, 640.0, 72.0)
    assert (fy["shares_outstanding"], fy["treasury_shares"]) == (528578441.0, 1e6)
    # a FY report forecasts the next year (NxF*); a 1Q report the current one (F*)
    assert (fy["forecast_profit"], fy["forecast_eps"], fy["forecast_dividend_per_share"]) == (52e9, 99.0, 75.0)
    q1 = rows.iloc[1]
    assert q1["forecast_net_sales"] == 135e9 and np.isnan(q1["bps"]) and np.isnan(q1["dividend_per_share"])
    # the FY restatement of 2023-08-10 13:00 replaces the FY figures only from its own time, and the newer 1Q
    # period stays the statement in force
    assert f.known_at(tokyo("2023-07-27 15:29")).loc["8697", "profit"] == 50e9
    assert f.known_at(tokyo("2023-08-10 12:59")).loc["8697", "period_type"] == "1Q"
    fy_profit = f.asof_arrays([tokyo("2023-08-10 12:59"), tokyo("2023-08-10 13:00")], ["8697"], "eps")
    assert fy_profit[:, 0].tolist() == [26.5, 26.5]
    restated = rows[(rows["period_type"] == "FY") & (rows["period_end"] == pd.Timestamp("2023-03-31"))]
    assert restated["profit"].tolist() == [50e9, 49e9]
    # the forecast revision moves the profit forecast only
    at = f.known_at(tokyo("2023-09-15 16:00"))
    assert at.loc["8697", "forecast_profit"] == 55e9 and at.loc["8697", "forecast_dividend_per_share"] == 75.0
    # 15:30 is after the 15:00 close of 2023-04-27 (a Thursday): first usable before the open of Friday 04-28
    grid = tokyo_sessions("2023-04-24", "2023-05-10")
    assert list(grid[:5].strftime("%m-%d")) == ["04-24", "04-25", "04-26", "04-27", "04-28"]
    assert f.first_usable_points(grid)[0] == 2 * 4
    assert [c.request.url.count("pagination_key") for c in responses.calls] == [0, 1]


@responses.activate
def test_v1_statements_with_us_gaap_a_date_only_row_and_login(no_sleep):
    responses.add(responses.POST, f"{BASE_V1}/token/auth_refresh", body=fixture_text("jquants_v1_auth_refresh.json"))
    responses.add(responses.GET, STATEMENTS, body=fixture_text("jquants_v1_fins_statements_77510.json"), match=[
        matchers.query_param_matcher({"code": "77510"}),
        matchers.header_matcher({"Authorization": "Bearer ID-TOKEN-FROM-FIXTURE"})])
    source = JQuants(refresh_token="REFRESH-TOKEN-FROM-FIXTURE", http=no_sleep("jquants"))
    f = Fundamentals(source.fetch_fundamentals("7751"), source="fixture")
    rows = f.frame
    assert list(rows["document_type"]) == ["FYFinancialStatements_Consolidated_US",
                                           "1QFinancialStatements_Consolidated_US", "DividendForecastRevision"]
    assert rows["ordinary_profit"].isna().all(), "US GAAP reports have no ordinary profit"
    assert rows.iloc[0]["forecast_profit"] == 260e9 and rows.iloc[0]["dividend_per_share"] == 110.0
    # no DisclosedTime: taken as after the close, so the next session's pre-open at the earliest
    assert rows.iloc[2]["disclosed_at"] == tokyo("2023-06-02 23:59:59")
    at = f.known_at(tokyo("2023-06-05 09:00"))
    assert at.loc["7751", "forecast_dividend_per_share"] == 130.0 and at.loc["7751", "forecast_profit"] == 260e9
    assert at.loc["7751", "period_type"] == "1Q" and at.loc["7751", "profit"] == 55e9


@responses.activate
def test_v1_japanese_gaap_keeps_ordinary_profit(no_sleep):
    responses.add(responses.POST, f"{BASE_V1}/token/auth_refresh", body=fixture_text("jquants_v1_auth_refresh.json"))
    responses.add(responses.GET, STATEMENTS, body=fixture_text("jquants_v1_fins_statements_13010.json"),
                  match=[matchers.query_param_matcher({"code": "13010"})])
    source = JQuants(refresh_token="REFRESH-TOKEN-FROM-FIXTURE", http=no_sleep("jquants"))
    row = Fundamentals(source.fetch_fundamentals("1301"), source="fixture").frame.iloc[0]
    assert (row["ordinary_profit"], row["profit"], row["forecast_profit"]) == (6.5e9, 4.5e9, 4.6e9)
    assert row["disclosed_at"] == tokyo("2023-05-12 15:00")


def test_documents_released_together_are_merged_field_by_field():
    from backtest.data.jquants import _V2_FINS, fins_frame

    base = {"Code": "13010", "DiscDate": "2024-05-10", "DiscTime": "15:00:00", "CurPerType": "FY",
            "CurPerEn": "2024-03-31"}
    rows = [{**base, "DiscNo": "2", "DocType": "DividendForecastRevision", "NP": "", "FDivAnn": "50"},
            {**base, "DiscNo": "1", "DocType": "FYFinancialStatements_Consolidated_JP", "NP": "1000",
             "OdP": "1500", "NxFDivAnn": "45"}]
    frame = fins_frame(rows, _V2_FINS, ValueError)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["profit"] == 1000.0 and row["ordinary_profit"] == 1500.0
    assert row["document_type"] == "DividendForecastRevision"  # the later disclosure number
    assert row["forecast_dividend_per_share"] == 50.0


@responses.activate
@pytest.mark.parametrize("payload, words", [
    ({"statements": []}, "no 'data' list in the answer (keys: statements)"),
    ({"data": [{"Code": "86970", "DiscDate": "2023-02-30"}]}, "'2023-02-30' is not a date"),
    ({"data": [{"Code": "86970", "DiscDate": "2023-04-27", "NP": "lots"}]}, "NP = 'lots' is not a number"),
    ({"data": [{"Code": "86970", "DiscDate": "2023-04-27", "DiscTime": "after lunch"}]}, "is not a time"),
])
def test_malformed_answers(no_sleep, payload, words):
    responses.add(responses.GET, SUMMARY, body=json.dumps(payload))
    with pytest.raises(FetchError) as info:
        v2(no_sleep).fetch_fundamentals("8697")
    assert words in str(info.value)


@responses.activate
def test_401_stops_with_the_fix_and_hides_the_key(no_sleep):
    responses.add(responses.GET, SUMMARY, status=401, body=fixture_text("jquants_error_401.json"))
    with pytest.raises(FetchError) as info:
        v2(no_sleep).fetch_fundamentals("8697")
    assert info.value.fatal and KEY not in str(info.value)
    assert "credentials refused (HTTP 401" in str(info.value) and "JQUANTS_API_KEY" in str(info.value)


@responses.activate
def test_429_backs_off_then_pages_on(no_sleep):
    responses.add(responses.GET, SUMMARY, status=429, json={"message": "Too Many Requests"})
    add_v2_pages(responses)
    source = v2(no_sleep)
    assert len(source.fetch_fundamentals("8697")) == 4
    assert len(source.http.waits) == 1


# --------------------------------------------------------------------------- the store


@responses.activate
def test_store_fetch_resumes_and_load_fundamentals_reads_it(no_sleep, tmp_path):
    add_v2_pages(responses)
    store = Store(tmp_path)
    source = v2(no_sleep)
    report = fetch_fundamentals(store, source, ["8697"], pd.Timestamp("2020-01-01"), pd.Timestamp("2023-12-29"))
    assert [(r.ticker, r.status, r.added) for r in report.rows] == [("8697", "fetched", 4)]
    assert (tmp_path / "jquants" / "fundamentals" / "8697.parquet").is_file()
    calls = len(responses.calls)
    again = fetch_fundamentals(store, source, ["8697"], pd.Timestamp("2021-01-01"), pd.Timestamp("2023-06-30"))
    assert again.rows[0].status == "up to date" and len(responses.calls) == calls, "nothing is fetched twice"
    f = load_fundamentals(f"store:{tmp_path}")
    assert f is not None and not f.synthetic and f.codes == ("8697",) and len(f) == 4
    assert f.source == f"store:{tmp_path}"
    assert load_fundamentals(f"store:{tmp_path / 'empty'}") is None
    # the prices of the same store are untouched by the fundamentals beside them
    assert store.entries() == []


def test_a_fatal_refusal_stops_the_store_fetch(tmp_path):
    class Refusing:
        name = "jquants"

        def symbol(self, ticker):
            return ticker + "0"

        def fetch_fundamentals(self, ticker, start, end):
            raise FetchError(True, file="jquants", field=f"ticker {ticker}", problem="credentials refused",
                             fix="Check the key.")

    report = fetch_fundamentals(Store(tmp_path), Refusing(), ["7203", "6758"], pd.Timestamp("2024-01-01"),
                                pd.Timestamp("2024-06-28"))
    assert [r.status for r in report.rows] == ["failed", "not tried"] and report.stopped is not None


# --------------------------------------------------------------------------- the CLI




def test_cli_fetch_fundamentals_then_resume(tmp_path, no_credentials):
    store = tmp_path / "store"
    with responses.RequestsMock() as mock:
        add_v2_pages(mock)
        first = invoke("data", "fetch", "--source", "jquants", "--fundamentals", "--tickers", "TOPIX,8697",
                       "--start", "2020-01-01", "--end", "2023-12-29", "--store", store, env={"JQUANTS_API_KEY": KEY})
        assert first.exit_code == 0, first.output + first.stderr
        assert re.search(r"^8697\s+86970\s+fetched\s+4\s+2023-04-27\s+2023-09-15", first.stdout, re.M)
        assert "TOPIX" not in first.stdout, "an index has no disclosures to fetch"
        assert "1 of 1 code(s) stored" in first.stdout and KEY not in first.stdout + first.stderr
        calls = len(mock.calls)
        again = invoke("data", "fetch", "--source", "jquants", "--fundamentals", "--tickers", "8697",
                       "--start", "2020-01-01", "--end", "2023-12-29", "--store", store, env={"JQUANTS_API_KEY": KEY})
        assert again.exit_code == 0 and "up to date" in again.stdout and len(mock.calls) == calls


def test_cli_fundamentals_from_yahoo_is_refused(tmp_path, no_credentials):
    result = invoke("data", "fetch", "--source", "yahoo", "--fundamentals", "--tickers", "7203", "--start",
                    "2024-01-01", "--store", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --source: yahoo: has no company disclosures. Fetch fundamentals with "
                                    "--source jquants")


def test_cli_import_fundamentals(tmp_path, no_credentials):
    good = tmp_path / "fund.csv"
    good.write_text("code,disclosed_at,period_end,period_type,profit,equity,bps\n"
                    "7203,2024-05-08 13:55,2024-03-31,FY,4944933000000,34220991000000,2563.38\n"
                    "8306,2024-05-15 15:00,2024-03-31,FY,1490781000000,19965000000000,1669.00\n"
                    "7203,2024-08-01 13:25,2024-06-30,1Q,1333143000000,35000000000000,\n", encoding="utf-8")
    store = tmp_path / "store"
    result = invoke("data", "import", "--fundamentals", good, "--store", store)
    assert result.exit_code == 0, result.output + result.stderr
    assert re.search(r"^7203\s+\S+\s+imported\s+2\s+2024-05-08\s+2024-08-01", result.stdout, re.M)
    assert "2 of 2 code(s) stored" in result.stdout
    f = load_fundamentals(f"store:{store}")
    assert f.codes == ("7203", "8306")
    assert f.known_at(tokyo("2024-08-01 13:25")).loc["7203", "period_type"] == "1Q"

    bad = tmp_path / "bad.csv"
    bad.write_text("code,disclosed_at,profit\n7203,2024-05-08 13:55,1\n7203,2024-05-08 13:55,2\n", encoding="utf-8")
    result = invoke("data", "import", "--fundamentals", bad, "--store", store)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {bad}: row 2 and row 3, code, disclosed_at, period: the same "
                                    "disclosure (7203, disclosed 2024-05-08T13:55:00+09:00")
    bad.write_text("code,disclosed_at,profit\n7203,2024-05-08,12 billion\n", encoding="utf-8")
    result = invoke("data", "import", "--fundamentals", bad, "--store", store)
    assert result.exit_code == 2 and f"{bad}: row 2, profit: '12 billion' is not a number" in result.stderr
    bad.write_text("code,profit\n7203,1\n", encoding="utf-8")
    result = invoke("data", "import", "--fundamentals", bad, "--store", store)
    assert result.exit_code == 2 and "disclosed_at: required column missing" in result.stderr
