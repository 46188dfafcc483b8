"""Credentials against a fake J-Quants API on 127.0.0.1: stripped and checked where they are read, masked in
every message (any 8+ character piece, in any case, before the text is shortened), never sent to another host."""

from __future__ import annotations

import pytest

import backtest.data.jquants as jq
from backtest.data.http import FetchError, HttpClient, mask_secrets
from backtest.errors import DataError, ThemebtError
from tests.data.fakeapi import FakeApi, bars

KEY = "Sk-live-4f9A2c7E1b8D3a6F0e5C"
PASSWORD = "correct horse battery staple"


def pieces(secret: str, size: int = 8) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def leaks(text: str, secret: str) -> list[str]:
    """Every 8-character piece of the secret found in the text, in any case."""
    folded = text.casefold()
    return [p for p in pieces(secret.strip()) if p.casefold() in folded]


def client() -> HttpClient:
    return HttpClient("jquants", sleep=lambda s: None, clock=lambda: 0.0, retries=1)


@pytest.fixture
def api(monkeypatch):
    with FakeApi() as server:
        monkeypatch.setattr(jq, "BASE_V2", server.url + "/v2")
        monkeypatch.setattr(jq, "BASE_V1", server.url + "/v1")
        yield server


def echo_route(shape):
    """A 401 whose message carries the key the server received, shaped by `shape`."""
    def route(handler):
        received = handler.headers.get("x-api-key") or ""
        return 401, {}, {"message": shape(received)}
    return route


ECHOES = {
    "exact": lambda k: f"invalid x-api-key {k}",
    "upper": lambda k: f"INVALID KEY {k.upper()}",
    "lower": lambda k: f"invalid key {k.lower()}",
    "swapcase": lambda k: f"key {k.swapcase()} refused",
    "prefix_cut_by_preview": lambda k: "x" * 150 + k,
    "fragment_12": lambda k: f"key starting {k[:12]} is unknown",
    "fragment_middle": lambda k: f"..{k[5:15]}..",
    "twice": lambda k: f"{k} / {k}",
    "padded_long": lambda k: ("word " * 60) + k + (" word" * 60),
    "quoted_json": lambda k: f'{{"x-api-key": "{k}"}}',
    "no_separator": lambda k: f"abc{k}def",
    "fragment_upper_tail": lambda k: k[-9:].upper(),
    "inside_a_huge_answer": lambda k: "x " * 50 + k + " y" * 2_000_000,
}


@pytest.mark.parametrize("shape", sorted(ECHOES))
def test_an_echoed_key_never_reaches_a_message(api, shape):
    api.routes["/v2/equities/bars/daily"] = echo_route(ECHOES[shape])
    source = jq.JQuants(api_key=KEY, http=client())
    with pytest.raises(FetchError) as err:
        source.fetch("7203", "2024-01-04", "2024-01-31")
    text = str(err.value)
    assert "credentials refused (HTTP 401" in text
    assert leaks(text, KEY) == [], text
    assert api.headers_at("/v2/equities/bars/daily")[0]["x-api-key"] == KEY


@pytest.mark.parametrize("status", [404, 500, 429])
def test_an_echo_in_any_refusal_is_masked(api, status):
    api.routes["/v2/equities/bars/daily"] = lambda h: (status, {"Retry-After": "0"},
                                                       {"message": "bad " + h.headers.get("x-api-key", "").lower()})
    with pytest.raises(FetchError) as err:
        jq.JQuants(api_key=KEY, http=client()).fetch("7203", "2024-01-04", "2024-01-31")
    assert leaks(str(err.value), KEY) == []


@pytest.mark.parametrize("pasted", [KEY + "\n", KEY + "\r\n", "  " + KEY + "  ", "\t" + KEY, KEY + " \r\n"])
def test_a_key_with_white_space_around_it_is_stripped_where_it_is_read(api, pasted):
    api.routes["/v2/equities/bars/daily"] = lambda h: (200, {}, bars())
    source = jq.JQuants.from_environment({"JQUANTS_API_KEY": pasted}, http=client())
    frame = source.fetch("7203", "2024-01-04", "2024-01-05")
    assert len(frame) == 2
    assert api.headers_at("/v2/equities/bars/daily")[0]["x-api-key"] == KEY


@pytest.mark.parametrize("broken", [KEY[:10] + "\n" + KEY[10:], KEY[:10] + " " + KEY[10:], KEY + "\x00",
                                    KEY[:10] + "é" + KEY[10:], KEY[:10] + "\r" + KEY[10:], "\u3000" + KEY + "\u2028x"])
def test_a_key_that_cannot_be_a_header_is_refused_where_it_is_read_without_quoting_it(api, broken):
    with pytest.raises(DataError) as err:
        jq.JQuants.from_environment({"JQUANTS_API_KEY": broken}, http=client())
    text = str(err.value)
    assert "JQUANTS_API_KEY" in text and "not shown" in text
    assert leaks(text, KEY) == []
    assert api.seen == [], "nothing was sent"


def test_a_crlf_credentials_file_is_read_and_stripped(api, tmp_path):
    path = tmp_path / "credentials.toml"
    path.write_bytes(f'[jquants]\r\napi_key = "{KEY}\\r\\n"\r\n'.encode())
    api.routes["/v2/equities/bars/daily"] = lambda h: (200, {}, bars())
    source = jq.JQuants.from_environment({"THEMEBT_CREDENTIALS": str(path)}, http=client())
    source.fetch("7203", "2024-01-04", "2024-01-05")
    assert api.headers_at("/v2/equities/bars/daily")[0]["x-api-key"] == KEY


@pytest.mark.parametrize("content", ['[jquants]\napi_key = 12345678\n', f'[jquants]\napi_key = "{KEY}\n',
                                     '[jquants]\napi_key = ["a"]\n', f'[jquants]\napi_key = "{KEY[:5]}\\n{KEY[5:]}"\n'])
def test_a_bad_credentials_file_is_a_clear_error_that_never_quotes_it(tmp_path, content):
    path = tmp_path / "credentials.toml"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        jq.JQuants.from_environment({"THEMEBT_CREDENTIALS": str(path)})
    assert str(path) in str(err.value) and leaks(str(err.value), KEY) == []


def test_a_credentials_path_that_is_not_a_file_is_refused(tmp_path):
    import os

    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="is a named pipe, not a file"):
        jq.JQuants.from_environment({"THEMEBT_CREDENTIALS": str(fifo)})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_never_carries_the_key(api, status):
    with FakeApi() as elsewhere:
        elsewhere.routes["/steal"] = lambda h: (200, {}, bars())
        api.routes["/v2/equities/bars/daily"] = lambda h: (status, {"Location": elsewhere.url + "/steal"}, b"")
        jq.JQuants(api_key=KEY, http=client()).fetch("7203", "2024-01-04", "2024-01-05")
        (received,) = elsewhere.headers_at("/steal")
    assert "x-api-key" not in received and "authorization" not in received
    assert all(KEY not in value for value in received.values())


def test_a_redirect_on_the_same_host_keeps_the_key(api):
    api.routes["/v2/equities/bars/daily"] = lambda h: (302, {"Location": "/v2/moved"}, b"")
    api.routes["/v2/moved"] = lambda h: (200, {}, bars())
    frame = jq.JQuants(api_key=KEY, http=client()).fetch("7203", "2024-01-04", "2024-01-05")
    assert len(frame) == 2 and api.headers_at("/v2/moved")[0]["x-api-key"] == KEY


def test_a_v1_token_is_not_sent_to_another_host_either(api):
    with FakeApi() as elsewhere:
        elsewhere.routes["/steal"] = lambda h: (200, {}, {"daily_quotes": []})
        api.routes["/v1/token/auth_refresh"] = lambda h: (200, {}, {"idToken": "id-token-0123456789abcdef"})
        api.routes["/v1/prices/daily_quotes"] = lambda h: (307, {"Location": elsewhere.url + "/steal"}, b"")
        jq.JQuants(refresh_token="refresh-token-abcdef0123", http=client()).fetch("7203", "2024-01-04", "2024-01-05")
        (received,) = elsewhere.headers_at("/steal")
    assert "authorization" not in received


def test_endless_redirects_are_a_clear_error(api):
    api.routes["/v2/equities/bars/daily"] = lambda h: (302, {"Location": "/v2/equities/bars/daily"}, b"")
    with pytest.raises(FetchError, match="more than 5 redirects"):
        jq.JQuants(api_key=KEY, http=client()).fetch("7203", "2024-01-04", "2024-01-05")
    assert len(api.seen) == 6


def test_an_exception_of_the_http_library_becomes_themebts_error_without_the_header(api):
    # a header the library refuses: its own exception quotes the whole value
    http = client()
    with pytest.raises(ThemebtError) as err:
        http.get(api.url + "/v2/x", ticker="7203", headers={"x-api-key": KEY + "\n"})
    assert type(err.value).__name__ == "FetchError" and "could not be sent (InvalidHeader)" in str(err.value)
    assert leaks(str(err.value), KEY) == []


@pytest.mark.parametrize(("text", "secret", "shown"), [
    ("key ABCDEFGHIJ end", "abcdefghij", "key *** end"),
    ("ABCDEFGH", "xxABCDEFGHxx", "***"),
    ("ABCDEFG", "xxABCDEFGHxx", "ABCDEFG"),  # seven characters are not a piece of the key
    ("pw hunter2!", "hunter2", "pw ***!"),  # a secret shorter than 8 is masked whole
    ("none here", "abcdefghij", "none here"),
])
def test_masking_covers_every_piece_of_a_secret_in_any_case(text, secret, shown):
    assert mask_secrets(text, [secret]) == shown


def test_a_password_echoed_by_the_login_is_masked(api):
    api.routes["/v1/token/auth_user"] = lambda h: (403, {}, {"message": "wrong password " + PASSWORD.upper()})
    with pytest.raises(FetchError) as err:
        jq.JQuants(mail_address="me@example.com", password=PASSWORD, http=client()).fetch("7203", "2024-01-04",
                                                                                          "2024-01-05")
    assert leaks(str(err.value), PASSWORD) == []
