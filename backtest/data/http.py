"""One retrying HTTP helper for the price sources: timeouts, back-off, Retry-After, and errors that name the fix."""

from __future__ import annotations

import email.utils
import json
import random
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests

from backtest import __version__
from backtest.errors import DataError

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Headers that carry credentials: sent to the origin of the URL asked for, never to a host a redirect names.
CREDENTIAL_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})
# The shortest piece of a secret that is masked wherever it appears.
FRAGMENT = 8
# How much of a server's answer is masked and then shortened for a message (far more than is shown).
MASK_WINDOW = 8192
USER_AGENT = f"themebt/{__version__}"


class FetchError(DataError):
    """A DataError raised while fetching; `fatal` means the next ticker would fail the same way (auth, rate limit)."""

    def __init__(self, fatal: bool = False, **fields):
        self.fatal = fatal
        super().__init__(**fields)


@dataclass
class Fixes:
    """What to tell the user for each kind of refusal; a source fills in its own wording."""

    auth: str = "Check your credentials."
    forbidden: str = "Your account may not include this data."
    not_found: str = "Check the ticker."
    rate_limited: str = "Wait a few minutes and run the same command again; stored tickers are not fetched twice."


@dataclass
class HttpClient:
    """GET/POST with retries on timeouts, dropped connections, 429 and 5xx.

    Waits grow as backoff_s * 2**attempt, scaled by a jitter in [0.5, 1.0) from a seeded generator;
    a Retry-After header wins when present. `sleep` and `clock` are injectable so tests never wait.
    Messages name the source, the ticker and the URL without its query, so keys and tokens never show.
    """

    source: str
    fixes: Fixes = field(default_factory=Fixes)
    session: requests.Session | None = None
    timeout_s: tuple[float, float] = (10.0, 60.0)
    retries: int = 4
    backoff_s: float = 2.0
    max_wait_s: float = 120.0
    min_interval_s: float = 0.0
    seed: int = 0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    secrets: tuple[str, ...] = ()
    waits: list[float] = field(default_factory=list)

    def __post_init__(self):
        self.session = self.session or requests.Session()
        self._rng = random.Random(self.seed)
        self._last_request: float | None = None

    def get(self, url: str, *, ticker: str, params=None, headers=None) -> requests.Response:
        return self.request("GET", url, ticker=ticker, params=params, headers=headers)

    def post(self, url: str, *, ticker: str, params=None, headers=None, json_body=None) -> requests.Response:
        return self.request("POST", url, ticker=ticker, params=params, headers=headers, json_body=json_body)

    def request(self, method, url, *, ticker, params=None, headers=None, json_body=None) -> requests.Response:
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        attempt = 0
        while True:
            self._pace()
            try:
                response = self._send(method, url, params, headers, json_body, ticker)
            except requests.Timeout:
                problem = f"no answer within {self.timeout_s[1]:g} s"
                response = None
            except requests.ConnectionError as exc:
                problem = f"could not connect ({type(exc).__name__})"
                response = None
            except FetchError:
                raise
            except Exception as exc:  # noqa: BLE001 - the HTTP layer's own refusals quote headers: name the type only
                raise FetchError(
                    True, file=self.where(url), field=f"ticker {ticker}",
                    problem=f"the request could not be sent ({type(exc).__name__})",
                    fix="Check the credentials for stray spaces, quotes or line breaks, and the network settings; "
                        "then run the same command again.",
                ) from None
            if response is not None:
                if response.status_code < 400:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise self._refusal(response, url, ticker)
                problem = self._status_problem(response)
            if attempt >= self.retries:
                raise self._gave_up(response, url, ticker, problem, attempt + 1)
            self._wait(attempt, response)
            attempt += 1

    def _send(self, method, url, params, headers, json_body, ticker) -> requests.Response:
        """One request, following redirects by hand: credentials go to the first URL's origin and nowhere else."""
        home = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            response = self.session.request(method, url, params=params, headers=headers, json=json_body,
                                            timeout=self.timeout_s, allow_redirects=False)
            location = response.headers.get("Location") if response.status_code in REDIRECTS else None
            if not location:
                return response
            url = urljoin(getattr(response, "url", None) or url, location)
            params = None  # the Location is the whole new address
            if _origin(url) != home:
                headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, json_body = "GET", None
        raise FetchError(file=self.where(url), field=f"ticker {ticker}",
                         problem=f"more than {MAX_REDIRECTS} redirects",
                         fix=f"The {self.source} service may be misconfigured; try again later.")

    # ----- payloads ------------------------------------------------------------------------
    def json(self, response: requests.Response, url: str, ticker: str) -> dict:
        """The response body as a JSON object, or a DataError saying what came back instead."""
        try:
            payload = response.json()
        except (ValueError, json.JSONDecodeError):
            raise self.malformed(url, ticker, f"the answer is not JSON (starts with "
                                              f"{_preview(self._scrub((response.text or '')[:MASK_WINDOW]))})") from None
        if not isinstance(payload, dict):
            raise self.malformed(url, ticker, f"expected a JSON object, got {type(payload).__name__}")
        return payload

    def malformed(self, url: str, ticker: str, problem: str) -> FetchError:
        return FetchError(
            file=self.where(url), field=f"ticker {ticker}", problem=self._scrub(problem),
            fix=f"The {self.source} format may have changed or the service may be failing; try again later, "
                "or export the prices to CSV and use `themebt data import`.",
        )

    def where(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{self.source} {parts.scheme}://{parts.netloc}{parts.path}"

    # ----- internals -----------------------------------------------------------------------
    def _pace(self) -> None:
        """Keep at least min_interval_s between requests, so a per-minute quota is not hit at all."""
        now = self.clock()
        if self.min_interval_s and self._last_request is not None:
            gap = self.min_interval_s - (now - self._last_request)
            if gap > 0:
                self.waits.append(gap)
                self.sleep(gap)
                now = self.clock()
        self._last_request = now

    def _wait(self, attempt: int, response) -> None:
        delay = None
        if response is not None:
            delay = retry_after_s(response.headers.get("Retry-After"))
        if delay is None:
            delay = self.backoff_s * (2 ** attempt) * (0.5 + self._rng.random() / 2)
        delay = min(max(delay, 0.0), self.max_wait_s)
        self.waits.append(delay)
        self.sleep(delay)

    def _status_problem(self, response) -> str:
        detail = _server_message(response, self._scrub)
        label = "rate limit reached" if response.status_code == 429 else "server error"
        return self._scrub(f"{label} (HTTP {response.status_code}{': ' + detail if detail else ''})")

    def _refusal(self, response, url: str, ticker: str) -> FetchError:
        status = response.status_code
        detail = _server_message(response, self._scrub)
        said = f": {detail}" if detail else ""
        where, field_ = self.where(url), f"ticker {ticker}"
        if status == 401:
            return FetchError(True, file=where, field=field_, problem=self._scrub(f"credentials refused (HTTP 401{said})"),
                              fix=self.fixes.auth)
        if status == 403:
            return FetchError(True, file=where, field=field_, problem=self._scrub(f"access denied (HTTP 403{said})"),
                              fix=self.fixes.forbidden)
        if status == 404:
            return FetchError(file=where, field=field_, problem=self._scrub(f"not found (HTTP 404{said})"),
                              fix=self.fixes.not_found)
        return FetchError(file=where, field=field_, problem=self._scrub(f"request refused (HTTP {status}{said})"),
                          fix=f"Check the ticker and dates; if they are right, the {self.source} service may have changed.")

    def _gave_up(self, response, url, ticker, problem, tries) -> FetchError:
        limited = response is not None and response.status_code == 429
        fix = self.fixes.rate_limited if limited else (
            "Check the network connection, or try again later; "
            "stored tickers are kept and the next fetch resumes where this one stopped."
        )
        return FetchError(limited, file=self.where(url), field=f"ticker {ticker}",
                          problem=f"{problem}, after {tries} tries", fix=fix)

    def _scrub(self, text: str) -> str:
        return mask_secrets(text, self.secrets)


def mask_secrets(text: str, secrets) -> str:
    """text with every fragment of a secret replaced by ***: any FRAGMENT or more characters of one, in any case.

    Masks before anything is shortened, so a cut-off echo cannot leave a prefix of a key behind.
    """
    text = str(text)
    grams: dict[int, set[str]] = {}
    for secret in secrets:
        secret = str(secret or "").strip().casefold()
        if not secret:
            continue
        size = min(FRAGMENT, len(secret))
        grams.setdefault(size, set()).update(secret[i:i + size] for i in range(len(secret) - size + 1))
    if not grams:
        return text
    folded = text.casefold()
    if len(folded) != len(text):  # a few characters change length when case-folded; lower() keeps positions
        folded = text.lower()
    hidden = bytearray(len(text))
    for size, known in grams.items():
        for i in range(len(folded) - size + 1):
            if folded[i:i + size] in known:
                hidden[i:i + size] = b"\x01" * size
    if not any(hidden):
        return text
    out, i = [], 0
    while i < len(text):
        if hidden[i]:
            while i < len(text) and hidden[i]:
                i += 1
            out.append("***")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.netloc.rsplit("@", 1)[-1]).lower()


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _server_message(response, scrub: Callable[[str], str] = str) -> str:
    """The server's own words, masked and then short: J-Quants and Yahoo put them in JSON; others in plain text."""
    text = response.text or ""
    try:
        body = json.loads(text) if len(text) <= 2**20 else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        for path in (("message",), ("chart", "error", "description"), ("finance", "error", "description")):
            node = body
            for key in path:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, str) and node:
                return _short(scrub(node[:MASK_WINDOW]))
    if text.lstrip().startswith("<"):
        return ""
    # masked before it is shortened; only the start is masked, as only the start is ever shown
    return _short(scrub(" ".join(text[:MASK_WINDOW].split())))


def _preview(text: str) -> str:
    return repr(_short(" ".join((text or "").split()), 40)) if text and text.strip() else "nothing: the body is empty"


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
