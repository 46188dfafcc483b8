"""backtest.data.jquants against recorded J-Quants V1 and V2 responses."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from backtest.data.http import FetchError
from backtest.data.jquants import BASE_V1, BASE_V2, JQuants, jquants_code
from backtest.errors import DataError
from tests.data.conftest import fixture_text

KEY = "TEST-KEY-0123456789"
BARS = f"{BASE_V2}/equities/bars/daily"


def v2(no_sleep, **options) -> JQuants:
    return JQuants(api_key=KEY, http=no_sleep("jquants"), **options)


@pytest.mark.parametrize("ticker, code", [("7203", "72030"), ("130A", "130A0"), ("72030", "72030")])
def test_codes(ticker, code):
    assert jquants_code(ticker) == code


def test_not_a_code():
    with pytest.raises(DataError, match="jquants: ticker TOYOTA: not a TSE code"):
        jquants_code("TOYOTA")


@responses.activate
def test_v2_bars_follow_pagination_and_use_adjusted_fields(no_sleep):
    responses.add(responses.GET, BARS, body=fixture_text("jquants_v2_bars_72030_page1.json"), match=[
        matchers.query_param_matcher({"code": "72030", "from": "2024-01-04", "to": "2024-01-10"}),
        matchers.header_matcher({"x-api-key": KEY}),
    ])
    responses.add(responses.GET, BARS, body=fixture_text("jquants_v2_bars_72030_page2.json"), match=[
        matchers.query_param_matcher({"code": "72030", "from": "2024-01-04", "to": "2024-01-10",
                                      "pagination_key": "page-2-of-2"}),
    ])
    frame = v2(no_sleep).fetch("7203", "2024-01-04", "2024-01-10")
    # the 2024-01-09 row has null prices (no trade) and is dropped
    assert list(frame.index.strftime("%Y-%m-%d")) == ["2024-01-04", "2024-01-05", "2024-01-10"]
    assert list(frame.columns) == ["open", "high", "low", "close", "volume", "raw_close", "adj_factor"]
    assert frame.loc["2024-01-10"].tolist() == [2700.0, 2760.0, 2690.0, 2750.0, 31_000_000.0, 2750.0, 1.0]
    assert frame.attrs["basis"] == "split_adjusted"
    assert frame.attrs["symbol"] == "72030"


@responses.activate
def test_v2_topix(no_sleep):
    responses.add(responses.GET, f"{BASE_V2}/indices/bars/daily/topix", body=fixture_text("jquants_v2_topix.json"),
                  match=[matchers.query_param_matcher({"from": "2024-01-04", "to": "2024-01-09"})])
    frame = v2(no_sleep).fetch("TOPIX", "2024-01-04", "2024-01-09")
    assert frame["close"].tolist() == [2460.0, 2475.0, 2495.0]
    assert frame["volume"].isna().all()
    assert frame.attrs["basis"] == "index_level"


@responses.activate
def test_v1_logs_in_with_mail_and_password_then_uses_a_bearer_token(no_sleep):
    responses.add(responses.POST, f"{BASE_V1}/token/auth_user", body=fixture_text("jquants_v1_auth_user.json"),
                  match=[matchers.json_params_matcher({"mailaddress": "me@example.test", "password": "pw-123"})])
    responses.add(responses.POST, f"{BASE_V1}/token/auth_refresh", body=fixture_text("jquants_v1_auth_refresh.json"),
                  match=[matchers.query_param_matcher({"refreshtoken": "REFRESH-TOKEN-FROM-FIXTURE"})])
    responses.add(responses.GET, f"{BASE_V1}/prices/daily_quotes", body=fixture_text("jquants_v1_daily_quotes_72030.json"),
                  match=[matchers.header_matcher({"Authorization": "Bearer ID-TOKEN-FROM-FIXTURE"})])
    responses.add(responses.GET, f"{BASE_V1}/indices/topix", body=fixture_text("jquants_v1_topix.json"))
    source = JQuants(mail_address="me@example.test", password="pw-123", http=no_sleep("jquants"))
    stock = source.fetch("7203", "2021-09-28", "2021-09-29")
    # the adjusted close has no split jump; the raw close keeps the traded price
    assert stock["close"].tolist() == [2000.0, 1980.0]
    assert stock["raw_close"].tolist() == [10000.0, 1980.0]
    topix = source.fetch("TOPIX", "2021-09-28", "2021-09-29")
    assert topix["close"].tolist() == [2090.0, 2050.0]
    assert sum("auth_user" in c.request.url for c in responses.calls) == 1, "one login serves every request"


@responses.activate
def test_401_names_the_fix_and_hides_the_key(no_sleep):
    responses.add(responses.GET, BARS, status=401, body=fixture_text("jquants_error_401.json"))
    with pytest.raises(FetchError) as info:
        v2(no_sleep).fetch("7203", "2024-01-04", "2024-01-10")
    text = str(info.value)
    assert info.value.fatal and KEY not in text
    assert text.startswith("jquants https://api.jquants.com/v2/equities/bars/daily: ticker 7203: credentials refused "
                           "(HTTP 401: The incoming token is invalid or expired.). J-Quants refused the credentials")
    assert "JQUANTS_API_KEY" in text


@responses.activate
def test_403_says_the_plan_may_not_cover_it(no_sleep):
    responses.add(responses.GET, f"{BASE_V2}/indices/bars/daily/topix", status=403, json={"message": "Forbidden"})
    with pytest.raises(FetchError, match="TOPIX needs Light or above") as info:
        v2(no_sleep).fetch("TOPIX", "2024-01-04", "2024-01-10")
    assert info.value.fatal


@responses.activate
def test_429_without_retry_after_backs_off_then_succeeds(no_sleep):
    responses.add(responses.GET, BARS, status=429, json={"message": "Too Many Requests"})
    responses.add(responses.GET, BARS, status=503, body="")
    responses.add(responses.GET, BARS, body=fixture_text("jquants_v2_bars_72030_page2.json"))
    source = v2(no_sleep)
    frame = source.fetch("7203", "2024-01-09", "2024-01-10")
    assert len(frame) == 1
    assert len(source.http.waits) == 2 and 1.0 <= source.http.waits[0] < 2.0  # the client's 2 s base, jittered


@responses.activate
def test_unknown_code_gives_an_empty_frame(no_sleep):
    responses.add(responses.GET, BARS, json={"data": []})
    frame = v2(no_sleep).fetch("9999", "2024-01-04", "2024-01-10")
    assert frame.empty and list(frame.columns[:5]) == ["open", "high", "low", "close", "volume"]


@responses.activate
@pytest.mark.parametrize("payload, words", [
    ({"daily_quotes": []}, "no 'data' list in the answer (keys: daily_quotes)"),
    ({"data": [{"Code": "72030", "AdjC": 1.0}]}, "rows lack the field(s) Date"),
    ({"data": [{"Date": "2024-13-45", "AdjC": 1.0}]}, "'2024-13-45' is not a date"),
    ({"data": [{"Date": "2024-01-04", "AdjC": "n/a"}]}, "AdjC = 'n/a' is not a number"),
    ({"data": ["oops"]}, "a row of the answer is not an object"),
])
def test_malformed_answers(no_sleep, payload, words):
    responses.add(responses.GET, BARS, body=json.dumps(payload))
    with pytest.raises(FetchError) as info:
        v2(no_sleep).fetch("7203", "2024-01-04", "2024-01-10")
    assert words in str(info.value)


@responses.activate
def test_a_repeated_pagination_key_does_not_loop(no_sleep):
    page = {"data": [], "pagination_key": "same"}
    responses.add(responses.GET, BARS, json=page)
    responses.add(responses.GET, BARS, json=page)
    with pytest.raises(FetchError, match="the same pagination_key came back twice"):
        v2(no_sleep).fetch("7203", "2024-01-04", "2024-01-10")


@responses.activate
def test_numeric_strings_are_accepted(no_sleep):
    responses.add(responses.GET, BARS, json={"data": [
        {"Date": "2024-01-04", "AdjO": "2600.0", "AdjH": "2650", "AdjL": "2590", "AdjC": "2640.5", "AdjVo": 100, "C": "2640.5"}
    ]})
    frame = v2(no_sleep).fetch("7203", "2024-01-04", "2024-01-04")
    assert frame["close"].iloc[0] == 2640.5


def test_credentials_from_environment_choose_the_api_version():
    assert JQuants.from_environment(env={"JQUANTS_API_KEY": "k"}).version == "v2"
    assert JQuants.from_environment(env={"JQUANTS_REFRESH_TOKEN": "r"}).version == "v1"


def test_missing_credentials(tmp_path):
    with pytest.raises(DataError) as info:
        JQuants.from_environment(env={"THEMEBT_CREDENTIALS": str(tmp_path / "none.toml")})
    assert str(info.value).startswith("jquants: credentials: no J-Quants credentials found. Set JQUANTS_API_KEY")


def test_credentials_file_outside_a_repository(tmp_path):
    file = tmp_path / "home" / "credentials.toml"
    file.parent.mkdir()
    file.write_text('[jquants]\napi_key = "from-file"\n')
    source = JQuants.from_environment(env={"THEMEBT_CREDENTIALS": str(file)})
    assert source.version == "v2" and "from-file" in source.http.secrets


def test_credentials_file_inside_a_repository_is_refused(tmp_path):
    (tmp_path / ".git").mkdir()
    file = tmp_path / "credentials.toml"
    file.write_text('[jquants]\napi_key = "leaky"\n')
    with pytest.raises(DataError, match="inside a git repository") as info:
        JQuants.from_environment(env={"THEMEBT_CREDENTIALS": str(file)})
    assert "leaky" not in str(info.value)


def test_symbol_mapping():
    source = JQuants(api_key="k")
    assert source.symbol("TOPIX") == "TOPIX" and source.symbol("7203") == "72030"
