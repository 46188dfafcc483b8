"""J-Quants (JPX's official API): daily split-adjusted bars for TSE codes and TOPIX, over V2 (API key) or V1 (tokens)."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pandas as pd

from backtest.data.http import Fixes, HttpClient
from backtest.data.sources import BASIS_INDEX, BASIS_SPLIT_ADJUSTED, empty, normalise
from backtest.errors import DataError

BASE_V2 = "https://api.jquants.com/v2"
BASE_V1 = "https://api.jquants.com/v1"
CREDENTIALS_FILE = "~/.themebt/credentials.toml"
ENV_HELP = (
    "Set JQUANTS_API_KEY (V2, from the J-Quants dashboard), or JQUANTS_REFRESH_TOKEN, or "
    "JQUANTS_MAIL_ADDRESS and JQUANTS_PASSWORD (V1); or put api_key under [jquants] in "
    f"{CREDENTIALS_FILE} (or the file named by THEMEBT_CREDENTIALS), outside any repository."
)
_CODE = re.compile(r"^[0-9][0-9A-Z]{3}0?$")

# Field names of a daily bar: V2 abbreviates them, V1 spells them out.
# adj_factor: the day's split factor (1.0 on most days, 0.2 on the ex-date of a 1:5 split); kept so that
# the prices as traded can be recovered (backtest/data/adjustment.py).
_V2_STOCK = {"open": "AdjO", "high": "AdjH", "low": "AdjL", "close": "AdjC", "volume": "AdjVo", "raw_close": "C",
             "adj_factor": "AdjFactor"}
_V1_STOCK = {"open": "AdjustmentOpen", "high": "AdjustmentHigh", "low": "AdjustmentLow", "close": "AdjustmentClose",
             "volume": "AdjustmentVolume", "raw_close": "Close", "adj_factor": "AdjustmentFactor"}
_V2_INDEX = {"open": "O", "high": "H", "low": "L", "close": "C"}
_V1_INDEX = {"open": "Open", "high": "High", "low": "Low", "close": "Close"}


def jquants_code(ticker: str) -> str:
    """The 5-digit J-Quants code of a 4-character TSE code: '7203' -> '72030', '130A' -> '130A0'."""
    ticker = str(ticker).strip().upper()
    if not _CODE.match(ticker):
        raise DataError(
            file="jquants", field=f"ticker {ticker}", problem="not a TSE code",
            fix="Use a 4-character code such as 7203 or 130A, or TOPIX for the index.",
        )
    return ticker if len(ticker) == 5 else ticker + "0"


class JQuants:
    """Fetch daily bars from J-Quants.

    Prices are J-Quants' adjusted fields (splits, reverse splits and rights issues; not dividends), so
    basis is split_adjusted; raw_close keeps the close as traded and adj_factor the day's adjustment
    factor (AdjustmentFactor / AdjFactor). TOPIX needs the Light plan or above.
    """

    name = "jquants"

    def __init__(self, *, api_key: str | None = None, refresh_token: str | None = None,
                 mail_address: str | None = None, password: str | None = None, http: HttpClient | None = None,
                 requests_per_minute: float | None = None):
        api_key = clean_credential(api_key, "api_key")
        refresh_token = clean_credential(refresh_token, "refresh_token")
        mail_address = clean_credential(mail_address, "mail_address")
        password = clean_credential(password, "password")
        if not (api_key or refresh_token or (mail_address and password)):
            raise DataError(file="jquants", field="credentials", problem="no J-Quants credentials found", fix=ENV_HELP)
        self.version = "v2" if api_key else "v1"
        self._api_key, self._refresh, self._mail, self._password = api_key, refresh_token, mail_address, password
        self._id_token: str | None = None
        fixes = Fixes(
            auth="J-Quants refused the credentials: check the key or token (V1 refresh tokens expire after a week). "
                 + ENV_HELP,
            forbidden="Your J-Quants plan does not include this data or period (TOPIX needs Light or above; "
                      "Free covers about two years with a 12-week delay).",
            not_found="Check the code; J-Quants covers TSE-listed issues only.",
            rate_limited="J-Quants allows 5/60/120/500 requests a minute on Free/Light/Standard/Premium: "
                         "pass --rate with your plan's figure and run the same command again.",
        )
        self.http = http or HttpClient("jquants", fixes=fixes, backoff_s=5.0)
        self.http.fixes = fixes
        if requests_per_minute:
            self.http.min_interval_s = 60.0 / requests_per_minute
        self.http.secrets = tuple(s for s in (*self.http.secrets, api_key, refresh_token, mail_address, password) if s)

    @classmethod
    def from_environment(cls, env=None, http: HttpClient | None = None, requests_per_minute: float | None = None):
        """Credentials from environment variables, else from the credentials file; never from the repository."""
        from backtest.safeio import expand_user

        env = os.environ if env is None else env
        found = {key: clean_credential(env.get(var), key, var) for key, var in ENV_VARS.items()}
        if not any(found.values()):
            where = env.get("THEMEBT_CREDENTIALS") or CREDENTIALS_FILE
            path = expand_user(where, lambda problem: DataError(
                file="THEMEBT_CREDENTIALS", field="credentials", problem=problem,
                fix="Give the credentials file's full path."))
            found = _read_credentials_file(path)
        return cls(**found, http=http, requests_per_minute=requests_per_minute)

    def symbol(self, ticker: str) -> str:
        return "TOPIX" if ticker == "TOPIX" else jquants_code(ticker)

    def fetch(self, ticker: str, start, end) -> pd.DataFrame:
        """Daily bars from start to end inclusive, in the schema of backtest.data.sources.normalise; empty if none."""
        start, end = pd.Timestamp(start), pd.Timestamp(end)
        symbol = self.symbol(ticker)
        is_index = ticker == "TOPIX"
        base = BASE_V2 if self.version == "v2" else BASE_V1
        if self.version == "v2":
            path, key = ("/indices/bars/daily/topix", "data") if is_index else ("/equities/bars/daily", "data")
            fields = _V2_INDEX if is_index else _V2_STOCK
        else:
            path, key = ("/indices/topix", "topix") if is_index else ("/prices/daily_quotes", "daily_quotes")
            fields = _V1_INDEX if is_index else _V1_STOCK
        params = {"from": start.strftime("%Y-%m-%d"), "to": end.strftime("%Y-%m-%d")}
        if not is_index:
            params["code"] = symbol
        url = base + path
        rows = self._paginated(url, params, key, ticker)
        basis = BASIS_INDEX if is_index else BASIS_SPLIT_ADJUSTED
        if not rows:
            return empty(source=self.name, ticker=ticker, symbol=symbol, basis=basis)
        frame = self._frame(rows, fields, url, ticker)
        if "adj_factor" in frame:
            from backtest.data.adjustment import fold_dropped_factors

            # a day without a trade comes back with null prices and is dropped; its split factor must not be
            frame = frame.sort_index(kind="stable")
            traded = frame["close"].notna() & (frame["close"] > 0)
            frame["adj_factor"] = fold_dropped_factors(frame["adj_factor"], traded)
        return normalise(frame, source=self.name, ticker=ticker, symbol=symbol, basis=basis)

    def fetch_fundamentals(self, ticker: str, start=None, end=None) -> pd.DataFrame:
        """Every disclosure of a TSE code (V2 /fins/summary, V1 /fins/statements) disclosed from start to end
        inclusive (None: no bound), as a frame with the columns of backtest.data.fundamentals.FIELDS."""
        from backtest.data.fundamentals import FIELDS

        symbol = jquants_code(ticker)
        if self.version == "v2":
            url, key, fields = BASE_V2 + "/fins/summary", "data", _V2_FINS
        else:
            url, key, fields = BASE_V1 + "/fins/statements", "statements", _V1_FINS
        rows = self._paginated(url, {"code": symbol}, key, ticker)
        if not all(isinstance(r, dict) for r in rows):
            raise self.http.malformed(url, ticker, "a row of the answer is not an object")
        frame = fins_frame(rows, fields, lambda problem: self.http.malformed(url, ticker, problem))
        if len(frame):
            day = frame["disclosed_at"].str.slice(0, 10)
            keep = pd.Series(True, index=frame.index)
            if start is not None:
                keep &= day >= pd.Timestamp(start).strftime("%Y-%m-%d")
            if end is not None:
                keep &= day <= pd.Timestamp(end).strftime("%Y-%m-%d")
            frame = frame[keep].reset_index(drop=True)
        return frame.reindex(columns=list(FIELDS))

    # ----- internals -------------------------------------------------------------------------
    def _headers(self, ticker: str) -> dict:
        if self.version == "v2":
            return {"x-api-key": self._api_key}
        if self._id_token is None:
            self._id_token = self._login(ticker)
        return {"Authorization": f"Bearer {self._id_token}"}

    def _login(self, ticker: str) -> str:
        """V1: mail and password give a refresh token (a week), which gives an ID token (24 hours)."""
        if not self._refresh:
            url = f"{BASE_V1}/token/auth_user"
            answer = self.http.json(
                self.http.post(url, ticker=ticker, json_body={"mailaddress": self._mail, "password": self._password}),
                url, ticker,
            )
            self._refresh = _token(answer, "refreshToken", self.http, url, ticker)
            self.http.secrets = (*self.http.secrets, self._refresh)
        url = f"{BASE_V1}/token/auth_refresh"
        answer = self.http.json(self.http.post(url, ticker=ticker, params={"refreshtoken": self._refresh}), url, ticker)
        token = _token(answer, "idToken", self.http, url, ticker)
        self.http.secrets = (*self.http.secrets, token)
        return token

    def _paginated(self, url: str, params: dict, key: str, ticker: str) -> list[dict]:
        rows: list[dict] = []
        query = dict(params)
        seen = set()
        while True:
            payload = self.http.json(self.http.get(url, ticker=ticker, params=query, headers=self._headers(ticker)),
                                     url, ticker)
            batch = payload.get(key)
            if not isinstance(batch, list):
                shown = ", ".join(sorted(payload)[:6]) or "nothing"
                raise self.http.malformed(url, ticker, f"no '{key}' list in the answer (keys: {shown})")
            rows.extend(batch)
            page = payload.get("pagination_key")
            if not page:
                return rows
            if not isinstance(page, str):
                raise self.http.malformed(url, ticker, "the pagination_key is not text")
            if page in seen:  # a server that repeats a page key would otherwise loop for ever
                raise self.http.malformed(url, ticker, "the same pagination_key came back twice")
            seen.add(page)
            query["pagination_key"] = page

    def _frame(self, rows: list[dict], fields: dict[str, str], url: str, ticker: str) -> pd.DataFrame:
        if not all(isinstance(r, dict) for r in rows):
            raise self.http.malformed(url, ticker, "a row of the answer is not an object")
        raw = pd.DataFrame.from_records(rows)
        missing = [f for f in ("Date", fields["close"]) if f not in raw]
        if missing:
            raise self.http.malformed(url, ticker, f"rows lack the field(s) {', '.join(missing)}")
        dates = pd.to_datetime(raw["Date"].astype(str), format="mixed", errors="coerce")
        if dates.isna().any():
            bad = raw["Date"][dates.isna()].iloc[0]
            raise self.http.malformed(url, ticker, f"{bad!r} is not a date")
        out = pd.DataFrame(index=pd.DatetimeIndex(dates))
        for name, field in fields.items():
            if field not in raw:
                continue
            values = pd.to_numeric(raw[field].to_numpy(), errors="coerce")
            text = raw[field].to_numpy()
            odd = pd.isna(values) & pd.notna(text) & (pd.Series(text).astype(str).str.strip() != "").to_numpy()
            if odd.any():
                raise self.http.malformed(url, ticker, f"{field} = {text[odd.argmax()]!r} is not a number")
            out[name] = values
        return out


# Disclosures (決算短信 summaries): our field <- J-Quants field(s), the first non-blank wins. V2 abbreviates, V1
# spells out. Forecasts: 1Q-3Q reports and revisions forecast the current fiscal year (F*); a FY report forecasts
# the next one (NxF* / NextYearForecast*), which fins_frame prefers for FY results.
_V2_FINS = {
    "code": ("Code",), "date": ("DiscDate",), "time": ("DiscTime",), "number": ("DiscNo",),
    "period_end": ("CurPerEn",), "period_type": ("CurPerType",), "document_type": ("DocType",),
    "net_sales": ("Sales",), "operating_profit": ("OP",), "ordinary_profit": ("OdP",), "profit": ("NP",),
    "equity": ("Eq",), "total_assets": ("TA",), "eps": ("EPS",), "bps": ("BPS",),
    "shares_outstanding": ("ShOutFY",), "treasury_shares": ("TrShFY",), "dividend_per_share": ("DivAnn",),
    "forecast_net_sales": ("FSales",), "forecast_profit": ("FNP",), "forecast_eps": ("FEPS",),
    "forecast_dividend_per_share": ("FDivAnn",),
    "next_net_sales": ("NxFSales",), "next_profit": ("NxFNP", "NxFNp"), "next_eps": ("NxFEPS",),
    "next_dividend_per_share": ("NxFDivAnn",),
}
_V1_FINS = {
    "code": ("LocalCode",), "date": ("DisclosedDate",), "time": ("DisclosedTime",), "number": ("DisclosureNumber",),
    "period_end": ("CurrentPeriodEndDate",), "period_type": ("TypeOfCurrentPeriod",),
    "document_type": ("TypeOfDocument",),
    "net_sales": ("NetSales",), "operating_profit": ("OperatingProfit",), "ordinary_profit": ("OrdinaryProfit",),
    "profit": ("Profit",), "equity": ("Equity",), "total_assets": ("TotalAssets",), "eps": ("EarningsPerShare",),
    "bps": ("BookValuePerShare",),
    "shares_outstanding": ("NumberOfIssuedAndOutstandingSharesAtTheEndOfFiscalYearIncludingTreasuryStock",),
    "treasury_shares": ("NumberOfTreasuryStockAtTheEndOfFiscalYear",),
    "dividend_per_share": ("ResultDividendPerShareAnnual",),
    "forecast_net_sales": ("ForecastNetSales",), "forecast_profit": ("ForecastProfit",),
    "forecast_eps": ("ForecastEarningsPerShare",), "forecast_dividend_per_share": ("ForecastDividendPerShareAnnual",),
    "next_net_sales": ("NextYearForecastNetSales",), "next_profit": ("NextYearForecastProfit",),
    "next_eps": ("NextYearForecastEarningsPerShare",),
    "next_dividend_per_share": ("NextYearForecastDividendPerShareAnnual",),
}
_FINS_NUMBERS = ("net_sales", "operating_profit", "ordinary_profit", "profit", "equity", "total_assets", "eps", "bps",
                 "shares_outstanding", "treasury_shares", "dividend_per_share")
_FINS_FORECASTS = ("net_sales", "profit", "eps", "dividend_per_share")
_BLANKS = ("", "-", "－", "None", "null")


def fins_frame(rows: list[dict], fields: dict, malformed) -> pd.DataFrame:
    """J-Quants disclosure rows -> the columns of backtest.data.fundamentals.FIELDS (disclosed_at as text
    'YYYY-MM-DD HH:MM:SS', or the date alone when the time is blank, which Fundamentals takes as after the
    close). Documents of the same code, time and period (a results report and a dividend revision released
    together) are merged field by field, the later disclosure number winning."""

    def column(name: str) -> pd.Series:
        out = pd.Series([None] * len(rows), dtype=object)
        for source in reversed(fields[name]):  # the first name listed wins where several are present
            values = pd.Series([r.get(source) for r in rows], dtype=object)
            present = values.map(lambda v: v is not None and str(v).strip() not in _BLANKS)
            out = out.where(~present, values)
        return out

    def numbers(name: str) -> pd.Series:
        raw = column(name)
        values = pd.to_numeric(raw.map(lambda v: None if v is None else str(v).replace(",", "").strip()),
                               errors="coerce")
        odd = values.isna() & raw.notna()
        if odd.any():
            raise malformed(f"{fields[name][0]} = {raw[odd].iloc[0]!r} is not a number")
        return values.astype(float)

    if not rows:
        return pd.DataFrame()
    for name in ("code", "date"):
        if all(r.get(fields[name][0]) in (None, "") for r in rows):
            raise malformed(f"rows lack the field {fields[name][0]}")
    date = column("date")
    if date.isna().any():
        raise malformed(f"a row has no {fields['date'][0]}")
    parsed = pd.to_datetime(date.astype(str), format="mixed", errors="coerce")
    if parsed.isna().any():
        raise malformed(f"{date[parsed.isna()].iloc[0]!r} is not a date")
    time = column("time").map(lambda v: "" if v is None else str(v).strip())
    bad_time = ~time.str.fullmatch(r"(\d{1,2}:\d{2}(:\d{2})?)?")
    if bad_time.any():
        raise malformed(f"{fields['time'][0]} = {time[bad_time].iloc[0]!r} is not a time")
    day = parsed.dt.strftime("%Y-%m-%d")
    out = pd.DataFrame({
        "code": column("code").astype(str).str.strip(),
        "disclosed_at": (day + " " + time).str.strip(),
        "period_end": column("period_end"),
        "period_type": column("period_type").fillna(""),
        "document_type": column("document_type").fillna(""),
    })
    for name in _FINS_NUMBERS:
        out[name] = numbers(name)
    fy_report = out["document_type"].str.startswith("FYFinancialStatements")
    for name in _FINS_FORECASTS:
        current, following = numbers(f"forecast_{name}"), numbers(f"next_{name}")
        out[f"forecast_{name}"] = following.where(fy_report & following.notna(), current.fillna(following))
    number = column("number").fillna("").astype(str)
    out = out.assign(_number=number).sort_values(["_number"], kind="mergesort")
    key = ["code", "disclosed_at", "period_end", "period_type"]
    merged = out.drop(columns="_number").groupby(key, sort=False, dropna=False).last()
    return merged.reset_index()


def _token(answer: dict, key: str, http: HttpClient, url: str, ticker: str) -> str:
    token = answer.get(key)
    if not isinstance(token, str) or not token:
        raise http.malformed(url, ticker, f"no {key} in the answer")
    return token


ENV_VARS = {"api_key": "JQUANTS_API_KEY", "refresh_token": "JQUANTS_REFRESH_TOKEN",
            "mail_address": "JQUANTS_MAIL_ADDRESS", "password": "JQUANTS_PASSWORD"}
# Keys and tokens are visible ASCII; a mail address has no control characters; a password may hold
# spaces inside but not line breaks or other control characters.
_TOKEN = re.compile(r"\A[\x21-\x7e]+\Z")
_NO_CONTROL = re.compile(r"\A[^\x00-\x1f\x7f]+\Z")


def clean_credential(value, name: str, where: str = "credentials") -> str | None:
    """A credential as read from the environment, a file or a paste: surrounding white space (a CRLF file, a
    trailing line break) removed, then checked, so a bad one is refused here, naming where it came from and
    never quoting it, instead of reaching the HTTP layer."""
    if value is None:
        return None
    value = str(value).strip() if name != "password" else str(value).strip("\r\n")
    if not value:
        return None
    pattern = _NO_CONTROL if name in ("password", "mail_address") else _TOKEN
    if not pattern.match(value):
        raise DataError(file=where, field=name,
                        problem="contains spaces, line breaks, non-ASCII or control characters "
                                "(the value is not shown)",
                        fix="Copy it again from the J-Quants dashboard, as one line of plain text.")
    return value


def _read_credentials_file(path: Path) -> dict:
    from backtest.safeio import SMALL_FILE_BYTES, FileProblem, read_user_file

    empty_ = {"api_key": None, "refresh_token": None, "mail_address": None, "password": None}
    if not path.exists():
        return empty_
    if _inside_repository(path):
        raise DataError(
            file=str(path), field="credentials", problem="the credentials file is inside a git repository",
            fix=f"Move it to {CREDENTIALS_FILE} (or set THEMEBT_CREDENTIALS to a path outside any repository), "
                "so that it can never be committed.",
        )
    try:
        section = tomllib.loads(read_user_file(path, SMALL_FILE_BYTES).decode("utf-8")).get("jquants", {})
    except FileProblem as exc:
        raise DataError(file=str(path), field="credentials", problem=exc.problem,
                        fix="Point THEMEBT_CREDENTIALS at a regular TOML file.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        # the decoder's message can quote the line it stopped at, which may be a key: name the type only
        raise DataError(file=str(path), field="credentials", problem=f"cannot be read as TOML ({type(exc).__name__})",
                        fix='Write it as:  [jquants]  then  api_key = "..."') from None
    if not isinstance(section, dict):
        section = {}
    out = {}
    for key in empty_:
        value = section.get(key)
        if value is not None and not isinstance(value, str):
            raise DataError(file=str(path), field=f"jquants.{key}", problem="is not a text value",
                            fix=f'Write it in quotes:  {key} = "..."')
        out[key] = clean_credential(value, key, str(path))
    return out


def _inside_repository(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in path.resolve().parents)
