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

Nothing in the model knows about any event: there is no planted theme effect, so a theme that
"wins" on this data has won by chance. Every random stream is seeded from DEMO_SEED and the
ticker's name, so adding an instrument never changes another one's prices.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import pandas as pd

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
