"""Synthetic demo prices: a seeded market + sector + idiosyncratic factor model on the Tokyo calendar.

The model, per session t (about 245 a year, 2005-01-04 to 2025-12-30):

* Market (the demo TOPIX): log return m_t = mu + sigma_t * z_t, where z_t is Student-t with 4
  degrees of freedom scaled to unit variance (fat tails) and sigma_t follows GARCH(1,1)
  (alpha 0.08, beta 0.90) around 18% a year, so calm and turbulent years alternate.
* Sector s (the 17 TOPIX-17 sector ETFs 1617-1633): beta_s * m_t + e_st, with beta_s drawn in
  [0.7, 1.3] and e_st Student-t(5) at 7-13% a year, scaled by the market's volatility regime.
* Stock i in sector s: b_i * sector_st + u_it, with b_i in [0.8, 1.2] and u_it Student-t(4)
  at 18-32% a year, also regime-scaled. Broad ETFs (1306, 1321) track the market closely.
* Open, high, low, volume: the day's move is split into an overnight gap (35% of its variance)
  and an intraday part; high and low reach beyond open and close by a random fraction of the
  intraday volatility; volume is log-normal and rises on large moves, in whole trading units.

Synthetic fundamentals (``demo_fundamentals``) follow each stock's simulated prices: quarterly
disclosures 30-50 days after each quarter (full-year results in May, or February for December
year-ends), mostly in the afternoon after the close, with book value per share that catches up with
the price over a few quarters around a per-stock P/B level, ROE around a per-stock level moved by the
trailing year's return, IFRS and US GAAP reporters without ordinary profit, a few restatements and
forecast revisions. They are labelled synthetic wherever they are loaded.

Nothing in the model knows about any event: there is no planted theme effect, so a theme that
"wins" on this data has won by chance. Every random stream is seeded from DEMO_SEED and the
ticker's name, so adding an instrument never changes another one's prices.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import pandas as pd

from backtest.data.fundamentals import FIELDS, PERIOD_MONTHS
from backtest.market.calendar import sessions as tokyo_sessions
from backtest.market.instruments import Instrument, instruments

DEMO_SEED = 20050104
DEMO_START = "2005-01-04"
DEMO_END = "2025-12-30"
SESSIONS_PER_YEAR = 245.0

MARKET_VOL, MARKET_DRIFT = 0.18, 0.04
GARCH_ALPHA, GARCH_BETA = 0.08, 0.90
OVERNIGHT_VARIANCE_SHARE = 0.35


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng([DEMO_SEED, zlib.crc32(name.encode())])


def _student_t(rng: np.random.Generator, dof: float, n: int) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(dof, n) * np.sqrt((dof - 2.0) / dof)


def _market_returns(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily log returns of the market and its volatility regime (sigma_t / long-run sigma)."""
    rng = _rng("market")
    z = _student_t(rng, 4.0, n)
    long_run_var = MARKET_VOL**2 / SESSIONS_PER_YEAR
    omega = long_run_var * (1.0 - GARCH_ALPHA - GARCH_BETA)
    var = np.empty(n)
    ret = np.empty(n)
    prev_var, prev_shock = long_run_var, 0.0
    for t in range(n):
        var[t] = omega + GARCH_ALPHA * prev_shock**2 + GARCH_BETA * prev_var
        shock = np.sqrt(var[t]) * z[t]
        ret[t] = shock
        prev_var, prev_shock = var[t], shock
    drift = MARKET_DRIFT / SESSIONS_PER_YEAR - 0.5 * long_run_var
    return ret + drift, np.sqrt(var / long_run_var)


def _regime_scaled(rng, dof, annual_vol, regime) -> np.ndarray:
    daily = annual_vol / np.sqrt(SESSIONS_PER_YEAR)
    return daily * np.sqrt(regime) * _student_t(rng, dof, len(regime))


def _log_returns(universe: dict[str, Instrument], n: int) -> dict[str, np.ndarray]:
    market, regime = _market_returns(n)
    out = {"TOPIX": market}
    sector_returns = {}
    for inst in universe.values():
        if inst.kind == "etf" and inst.sector17 == inst.ticker:
            rng = _rng(inst.ticker)
            beta = rng.uniform(0.7, 1.3)
            vol = rng.uniform(0.07, 0.13)
            sector_returns[inst.ticker] = beta * market + _regime_scaled(rng, 5.0, vol, regime)
    out.update(sector_returns)
    for inst in universe.values():
        if inst.ticker in out:
            continue
        rng = _rng(inst.ticker)
        if inst.kind == "stock":
            base = sector_returns.get(inst.sector17, market)
            beta = rng.uniform(0.8, 1.2)
            out[inst.ticker] = beta * base + _regime_scaled(rng, 4.0, rng.uniform(0.18, 0.32), regime)
        else:
            # broad ETFs: the market plus a few basis points of tracking noise
            out[inst.ticker] = market + rng.normal(0.0, 0.0004, n)
    return out


def _start_level(inst: Instrument) -> float:
    rng = _rng("level:" + inst.ticker)
    if inst.kind == "index" or inst.ticker == "1306":
        return 1150.0  # TOPIX's level in January 2005; 1306 trades near the index level
    if inst.kind == "etf":
        return float(np.exp(rng.uniform(np.log(800), np.log(20000))))
    return float(np.exp(rng.uniform(np.log(400), np.log(12000))))


def _ohlcv(inst: Instrument, log_ret: np.ndarray) -> dict[str, np.ndarray]:
    rng = _rng("bars:" + inst.ticker)
    n = len(log_ret)
    close = _start_level(inst) * np.exp(np.cumsum(log_ret))
    daily_vol = max(np.std(log_ret), 1e-4)
    share = OVERNIGHT_VARIANCE_SHARE
    gap = share * log_ret + np.sqrt(share * (1 - share)) * daily_vol * rng.standard_normal(n)
    prev_close = np.concatenate([[close[0] / np.exp(log_ret[0])], close[:-1]])
    open_ = prev_close * np.exp(gap)
    intraday_vol = daily_vol * np.sqrt(1 - share)
    top = np.maximum(open_, close) * np.exp(np.abs(rng.standard_normal(n)) * 0.6 * intraday_vol)
    bottom = np.minimum(open_, close) * np.exp(-np.abs(rng.standard_normal(n)) * 0.6 * intraday_vol)
    decimals = 2 if inst.kind == "index" else 1
    open_, close = np.round(open_, decimals), np.round(close, decimals)
    high = np.maximum(np.round(top, decimals), np.maximum(open_, close))
    low = np.minimum(np.round(bottom, decimals), np.minimum(open_, close))
    if inst.kind == "index":
        volume = np.full(n, np.nan)
    else:
        base_units = {"etf": 5_000.0, "stock": 20_000.0}[inst.kind]
        activity = 1.0 + 3.0 * np.abs(log_ret) / daily_vol
        units = np.ceil(base_units * activity * rng.lognormal(0.0, 0.5, n))
        volume = units * inst.lot_size
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


@lru_cache(maxsize=1)
def demo_history() -> dict[str, pd.DataFrame]:
    """The whole demo history: field -> frame (index: sessions 2005-2025; columns: every known ticker)."""
    universe = instruments()
    grid = tokyo_sessions(DEMO_START, DEMO_END)
    returns = _log_returns(universe, len(grid))
    bars = {t: _ohlcv(universe[t], returns[t]) for t in universe}
    tickers = list(universe)
    return {
        f: pd.DataFrame({t: bars[t][f] for t in tickers}, index=grid, columns=tickers)
        for f in ("open", "high", "low", "close", "volume")
    }


def demo_tickers() -> list[str]:
    return list(instruments())


# --------------------------------------------------------------------------- synthetic fundamentals

# Fiscal years end in March, except for these December year-end companies (results in February).
DECEMBER_YEAR_END = frozenset({"7751", "2914", "2502", "2503"})
# Companies that move to IFRS (no ordinary profit line) from the fiscal year ending in the given year,
# and those reporting under US GAAP throughout; the rest report under Japanese GAAP.
IFRS_FROM = {"6758": 2022, "6501": 2015, "7203": 2021, "6902": 2016, "6981": 2022, "2914": 2012,
             "2502": 2016, "2503": 2017, "8766": 2026, "6594": 2015, "6954": 2026, "9983": 2014}
US_GAAP = frozenset({"7751", "6861"})
# When in the afternoon (or at lunch) results come out, with their chances.
DISCLOSURE_TIMES = (("15:00", 0.35), ("15:30", 0.35), ("16:00", 0.1), ("11:30", 0.1), ("13:00", 0.1))
RESTATEMENT_CHANCE = 0.04  # a disclosure corrected later (the same period disclosed again)
REVISION_CHANCE = 0.08  # a forecast revision between two quarterly reports


def _quarter_ends(december: bool, first: pd.Timestamp, last: pd.Timestamp) -> list[tuple[pd.Timestamp, str]]:
    """(period end, period type) of every fiscal quarter ending from first to last."""
    out = []
    for end in pd.date_range(first, last, freq="QE"):
        q = (end.month // 3) if december else ((end.month - 3) % 12) // 3
        out.append((end.normalize(), "FY" if q == 0 or (december and q == 4) else f"{q}Q"))
    return out


def _disclosure_time(rng: np.random.Generator, day: pd.Timestamp, sessions_index: pd.DatetimeIndex) -> pd.Timestamp:
    """The first session on or after ``day``, at one of the usual disclosure times (Tokyo)."""
    pos = min(int(sessions_index.searchsorted(day)), len(sessions_index) - 1)
    names, weights = zip(*DISCLOSURE_TIMES)
    clock = names[int(rng.choice(len(names), p=np.array(weights)))]
    hours, minutes = (int(x) for x in clock.split(":"))
    return (sessions_index[pos] + pd.Timedelta(hours=hours, minutes=minutes)).tz_localize("Asia/Tokyo")


def _stock_fundamentals(inst: Instrument, close: pd.Series, grid: pd.DatetimeIndex) -> list[dict]:
    """Quarterly disclosures of one demo stock whose book value and earnings follow its own price path.

    P/B mean-reverts to a per-stock level (low for banks and insurers) that drifts slowly, so the
    price moves P/B between reports and book value catches up over a few quarters; ROE is a
    per-stock level linked to that P/B level, moved by the stock's trailing year return.
    """
    rng = _rng("fundamentals:" + inst.ticker)
    ticker = inst.ticker
    financial = inst.sector17 in ("1631", "1632")
    quality = rng.standard_normal()
    pb_level = np.log(1.85) + 0.42 * quality + 0.18 * rng.standard_normal() - (0.5 if financial else 0.0)
    roe_level = 0.085 + 0.03 * quality + 0.012 * rng.standard_normal() - (0.025 if financial else 0.0)
    leverage = {"1631": 18.0, "1632": 8.0}.get(inst.sector17, rng.uniform(1.7, 3.0))
    turnover = {"1631": 0.025, "1632": 0.2}.get(inst.sector17, rng.uniform(0.5, 1.3))
    payout = rng.uniform(0.25, 0.45)
    december = ticker in DECEMBER_YEAR_END
    price0 = float(close.iloc[0])
    shares = float(np.round(np.exp(rng.uniform(np.log(4e11), np.log(1.5e13))) / price0, -3))
    treasury = float(np.round(shares * rng.uniform(0.002, 0.04), -2))
    sessions_index = tokyo_sessions("2004-01-01", "2026-03-31")
    last_day = pd.Timestamp(DEMO_END)
    # the price a report's book value catches up with: the last 60 sessions' mean close up to the period end
    smooth = close.rolling(60, min_periods=1).mean().to_numpy()
    closes, days_ns = close.to_numpy(), grid.values

    rows: list[dict] = []
    log_bps = None
    drift = 0.0
    fy_profit = 0.0
    for end, kind in _quarter_ends(december, pd.Timestamp("2004-03-31"), last_day):
        upto = int(np.searchsorted(days_ns, end.to_datetime64(), side="right"))
        price = float(smooth[upto - 1]) if upto else price0
        drift = 0.85 * drift + 0.12 * rng.standard_normal()
        target = np.log(price) - (pb_level + drift)
        log_bps = target if log_bps is None else log_bps + 0.35 * (target - log_bps)
        year_ago = int(np.searchsorted(days_ns, (end - pd.DateOffset(years=1)).to_datetime64(), side="right"))
        trailing = np.log(price / float(closes[year_ago - 1])) if year_ago else 0.0
        roe = float(np.clip(roe_level + 0.06 * trailing + 0.01 * rng.standard_normal(), -0.25, 0.35))
        treasury = float(np.round(treasury * (1 + max(0.0, rng.normal(0.01, 0.02))), -2))
        net_shares = shares - treasury
        bps = float(np.exp(log_bps))
        equity = bps * net_shares
        months = PERIOD_MONTHS[kind]
        if months == 3:
            fy_profit = 0.0
        fy_profit += roe * equity / 4.0
        profit = fy_profit
        assets = equity * leverage
        sales = assets * turnover * months / 12.0
        operating = profit / 0.68 + 0.01 * sales * rng.uniform(0, 1)
        year = end.year + (0 if december or end.month <= 3 else 1)  # the fiscal year's end
        standard = "US" if ticker in US_GAAP else ("IFRS" if year >= IFRS_FROM.get(ticker, 9999) else "JP")
        forecast_roe = roe_level + 0.5 * (roe - roe_level) + 0.01 * rng.standard_normal()
        forecast_profit = forecast_roe * equity * rng.uniform(0.97, 1.05)
        forecast_eps = forecast_profit / net_shares
        eps = profit / net_shares
        days = int(rng.integers(40, 51)) if kind == "FY" else int(rng.integers(30, 46))
        disclosed = _disclosure_time(rng, end + pd.Timedelta(days=days), sessions_index)
        if disclosed.tz_localize(None) > last_day + pd.Timedelta(days=1):
            break
        row = {
            "code": ticker,
            "disclosed_at": disclosed,
            "period_end": end,
            "period_type": kind,
            "document_type": f"{kind}FinancialStatements_Consolidated_{standard}",
            "net_sales": _yen(sales),
            "operating_profit": _yen(operating),
            "ordinary_profit": _yen(operating * 1.04) if standard == "JP" else np.nan,
            "profit": _yen(profit),
            "equity": _yen(equity),
            "total_assets": _yen(assets),
            "eps": round(eps, 2),
            "bps": round(bps, 2),
            "shares_outstanding": shares,
            "treasury_shares": treasury,
            "dividend_per_share": max(0.0, round(payout * eps * 2) / 2) if kind == "FY" else np.nan,
            "forecast_net_sales": _yen(assets * turnover * rng.uniform(0.97, 1.04)),
            "forecast_profit": _yen(forecast_profit),
            "forecast_eps": round(forecast_eps, 2),
            "forecast_dividend_per_share": max(0.0, round(payout * forecast_eps * 2) / 2),
        }
        rows.append(row)
        if rng.uniform() < RESTATEMENT_CHANCE:
            fix = 1.0 + rng.normal(0.0, 0.03)
            later = _disclosure_time(rng, disclosed.tz_localize(None).normalize()
                                     + pd.Timedelta(days=int(rng.integers(15, 60))), sessions_index)
            if later.tz_localize(None) <= last_day:
                rows.append({**row, "disclosed_at": later, "profit": _yen(profit * fix),
                             "operating_profit": _yen(operating * fix),
                             "ordinary_profit": _yen(operating * 1.04 * fix) if standard == "JP" else np.nan,
                             "eps": round(eps * fix, 2)})
        if kind != "FY" and rng.uniform() < REVISION_CHANCE:
            later = _disclosure_time(rng, disclosed.tz_localize(None).normalize()
                                     + pd.Timedelta(days=int(rng.integers(20, 45))), sessions_index)
            revised = forecast_profit * rng.uniform(0.8, 1.15)
            if later.tz_localize(None) <= last_day:
                fy_end = pd.Timestamp(year=year, month=12 if december else 3, day=31)
                rows.append({"code": ticker, "disclosed_at": later, "period_end": fy_end, "period_type": "FY",
                             "document_type": "EarnForecastRevision",
                             "forecast_profit": _yen(revised), "forecast_eps": round(revised / net_shares, 2)})
    return rows


def _yen(value: float) -> float:
    """Yen rounded to the million, as statements report them."""
    return float(np.round(value / 1e6) * 1e6)


@lru_cache(maxsize=1)
def demo_fundamentals() -> pd.DataFrame:
    """Synthetic quarterly disclosures of every demo stock (columns: backtest.data.fundamentals.FIELDS).

    One row per disclosure, sorted by code and disclosed_at. Synthetic: figures follow each stock's
    simulated price path, not any company's accounts.
    """
    universe = instruments()
    close = demo_history()["close"]
    rows: list[dict] = []
    for ticker, inst in universe.items():
        if inst.kind == "stock":
            rows.extend(_stock_fundamentals(inst, close[ticker], close.index))
    frame = pd.DataFrame.from_records(rows)
    return frame.reindex(columns=list(FIELDS)).sort_values(["code", "disclosed_at"], kind="mergesort") \
        .reset_index(drop=True)
