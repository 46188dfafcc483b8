"""backtest.data.http: retries, back-off, Retry-After, and errors that name the source, ticker and fix."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
import responses

from backtest.data.http import FetchError, Fixes, HttpClient, retry_after_s

URL = "https://api.example.test/v2/bars"


@responses.activate
def test_server_errors_are_retried_with_growing_jittered_waits(no_sleep):
    for status in (500, 502, 503):
        responses.add(responses.GET, URL, status=status, body="busy")
    responses.add(responses.GET, URL, json={"ok": True})
    client = no_sleep(backoff_s=2.0, seed=7)
    assert client.get(URL, ticker="7203").json() == {"ok": True}
    assert len(responses.calls) == 4
    # 2 * 2**n scaled by a jitter in [0.5, 1.0)
    for n, wait in enumerate(client.waits):
        assert 2.0 * 2**n * 0.5 <= wait < 2.0 * 2**n
    again = no_sleep(backoff_s=2.0, seed=7)
    for status in (500, 502, 503):
        responses.add(responses.GET, URL, status=status)
    responses.add(responses.GET, URL, json={})
    again.get(URL, ticker="7203")
    assert again.waits == client.waits, "a seeded jitter gives the same waits"


@responses.activate
def test_retry_after_seconds_is_honoured(no_sleep):
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "7"}, json={"message": "Too Many Requests"})
    responses.add(responses.GET, URL, json={"data": []})
    client = no_sleep()
    client.get(URL, ticker="7203")
    assert client.waits == [7.0]


@responses.activate
def test_retry_after_is_capped(no_sleep):
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3600"})
    responses.add(responses.GET, URL, json={})
    client = no_sleep(max_wait_s=60)
    client.get(URL, ticker="7203")
    assert client.waits == [60]


def test_retry_after_http_date():
    soon = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= retry_after_s(soon) <= 31
    assert retry_after_s("not a date") is None
    assert retry_after_s(None) is None


@responses.activate
def test_rate_limit_that_never_lifts_stops_the_fetch(no_sleep):
    for _ in range(3):
        responses.add(responses.GET, URL, status=429, headers={"Retry-After": "1"})
    client = no_sleep(retries=2, fixes=Fixes(rate_limited="Pass --rate 5."))
    with pytest.raises(FetchError) as info:
        client.get(URL, ticker="7203")
    assert info.value.fatal
    assert str(info.value) == (
        "test https://api.example.test/v2/bars: ticker 7203: rate limit reached (HTTP 429), after 3 tries. Pass --rate 5."
    )


@responses.activate
def test_401_is_fatal_and_never_shows_the_key(no_sleep):
    key = "SECRET-API-KEY-123"
    responses.add(responses.GET, URL, status=401, json={"message": f"invalid key {key}"})
    client = no_sleep(secrets=(key,), fixes=Fixes(auth="Set JQUANTS_API_KEY."))
    with pytest.raises(FetchError) as info:
        client.get(URL + "?apikey=" + key, ticker="7203", headers={"x-api-key": key})
    assert info.value.fatal
    assert key not in str(info.value)
    assert str(info.value) == (
        "test https://api.example.test/v2/bars: ticker 7203: credentials refused (HTTP 401: invalid key ***). "
        "Set JQUANTS_API_KEY."
    )
    assert len(responses.calls) == 1, "a refusal is not retried"


@responses.activate
@pytest.mark.parametrize("status, fatal, words", [
    (403, True, "access denied (HTTP 403"),
    (404, False, "not found (HTTP 404"),
    (400, False, "request refused (HTTP 400"),
])
def test_refusals_name_the_status(no_sleep, status, fatal, words):
    responses.add(responses.GET, URL, status=status, json={"message": "nope"})
    with pytest.raises(FetchError) as info:
        no_sleep().get(URL, ticker="9999")
    assert info.value.fatal is fatal
    assert words in str(info.value) and "ticker 9999" in str(info.value)


@responses.activate
def test_timeouts_are_retried_then_reported(no_sleep):
    for _ in range(3):
        responses.add(responses.GET, URL, body=requests.ReadTimeout("read timed out"))
    client = no_sleep(retries=2, timeout_s=(1.0, 5.0))
    with pytest.raises(FetchError) as info:
        client.get(URL, ticker="7203")
    assert not info.value.fatal
    assert "no answer within 5 s, after 3 tries" in str(info.value)
    assert "resumes" in str(info.value)
    assert len(client.waits) == 2


@responses.activate
def test_connection_error_then_success(no_sleep):
    responses.add(responses.GET, URL, body=requests.ConnectionError("reset"))
    responses.add(responses.GET, URL, json={"data": [1]})
    assert no_sleep().get(URL, ticker="7203").json() == {"data": [1]}


@responses.activate
@pytest.mark.parametrize("body, words", [
    ("", "the body is empty"),
    ("<html>maintenance</html>", "not JSON (starts with '<html>maintenance</html>')"),
    ("[1, 2]", "expected a JSON object, got list"),
])
def test_malformed_payloads(no_sleep, body, words):
    responses.add(responses.GET, URL, body=body)
    client = no_sleep()
    with pytest.raises(FetchError) as info:
        client.json(client.get(URL, ticker="7203"), URL, "7203")
    assert words in str(info.value)
    assert "themebt data import" in str(info.value)


def test_pacing_keeps_a_minimum_interval():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    client = HttpClient("test", min_interval_s=12.0, sleep=sleep, clock=lambda: now[0])
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, URL, json={})
        mock.add(responses.GET, URL, json={})
        client.get(URL, ticker="a")
        now[0] += 2.0
        client.get(URL, ticker="b")
    assert slept == [10.0]
