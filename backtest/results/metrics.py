"""Performance metrics from daily returns, annualised with the calendar's sessions per year."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def cagr(returns: pd.Series, periods_per_year: float) -> float:
    growth = float(np.prod(1.0 + returns.to_numpy()))
    years = len(returns) / periods_per_year
    return growth ** (1.0 / years) - 1.0 if years > 0 and growth > 0 else float("nan")


def volatility(returns: pd.Series, periods_per_year: float) -> float:
    return float(returns.std(ddof=1) * math.sqrt(periods_per_year))


def sharpe(returns: pd.Series, periods_per_year: float) -> float:
    sd = returns.std(ddof=1)
    return float(returns.mean() / sd * math.sqrt(periods_per_year)) if sd > 0 else float("nan")


def sortino(returns: pd.Series, periods_per_year: float) -> float:
    downside = math.sqrt(float((np.minimum(returns.to_numpy(), 0.0) ** 2).mean()))
    return float(returns.mean() / downside * math.sqrt(periods_per_year)) if downside > 0 else float("nan")


def drawdown(returns: pd.Series) -> pd.Series:
    """Index: sessions; the fall from the running peak of cumulative wealth (0 or negative)."""
    wealth = (1.0 + returns).cumprod()
    return wealth / np.maximum(wealth.cummax(), 1.0) - 1.0


def drawdown_lengths(returns: pd.Series) -> tuple[float, int, int]:
    """Deepest drawdown, the length of that drawdown, and the longest time under water, in sessions.

    The length of the maximum drawdown counts the sessions from the peak before the deepest point
    until wealth is back at that peak (or to the last session if it never is). The longest time
    under water is the longest such run of sessions below a previous peak, whichever drawdown it is.
    """
    dd = drawdown(returns).to_numpy()
    if not len(dd):
        return 0.0, 0, 0
    under = dd < 0
    longest = run = 0
    for u in under:
        run = run + 1 if u else 0
        longest = max(longest, run)
    trough = int(np.argmin(dd))
    if not under[trough]:
        return 0.0, 0, 0
    start = trough
    while start > 0 and under[start - 1]:
        start -= 1
    end = trough
    while end + 1 < len(dd) and under[end + 1]:
        end += 1
    return float(dd[trough]), int(end - start + 1), int(longest)


def relative(returns: pd.Series, benchmark: pd.Series, periods_per_year: float) -> dict[str, float]:
    """Tracking error, information ratio, beta and annualised alpha (OLS on daily returns)."""
    active = returns - benchmark
    te = float(active.std(ddof=1) * math.sqrt(periods_per_year))
    ir = float(active.mean() * periods_per_year / te) if te > 0 else float("nan")
    var_b = float(benchmark.var(ddof=1))
    beta = float(returns.cov(benchmark) / var_b) if var_b > 0 else float("nan")
    alpha = float((returns.mean() - beta * benchmark.mean()) * periods_per_year)
    return {"tracking_error": te, "information_ratio": ir, "beta": beta, "alpha_annual": alpha}


def summary(series: pd.Series, periods_per_year: float) -> dict:
    """Headline metrics of one return series (index: sessions); JSON-ready, None where undefined."""
    mdd, mdd_len, underwater = drawdown_lengths(series)
    growth = cagr(series, periods_per_year)
    return {
        "total_return": _finite(float(np.prod(1 + series.to_numpy())) - 1),
        "cagr": _finite(growth),
        "volatility": _finite(volatility(series, periods_per_year)),
        "sharpe": _finite(sharpe(series, periods_per_year)),
        "sortino": _finite(sortino(series, periods_per_year)),
        "max_drawdown": _finite(mdd),
        "max_drawdown_length_sessions": mdd_len,
        "longest_underwater_sessions": underwater,
        "calmar": _finite(growth / abs(mdd)) if mdd < 0 else None,
        "hit_rate": _finite(float((series > 0).mean())),
    }


def rolling_information_ratio(returns: pd.Series, benchmark: pd.Series, window: int,
                              periods_per_year: float) -> pd.Series:
    """Index: sessions; the information ratio of the trailing `window` sessions, NaN until the window is full."""
    active = returns - benchmark
    mean = active.rolling(window).mean()
    sd = active.rolling(window).std(ddof=1)
    return (mean / sd.where(sd > 0) * math.sqrt(periods_per_year)).rename(returns.name)


def calendar_year_returns(returns: pd.Series) -> pd.Series:
    """Index: calendar years; the compounded return of the sessions in each year."""
    return (1.0 + returns).groupby(returns.index.year).prod() - 1.0


def compute_metrics(
    returns: pd.DataFrame, strategy: str, benchmark: str, periods_per_year: float,
    trades: pd.DataFrame | None = None, values: pd.Series | None = None,
) -> dict:
    """Headline metrics for the strategy and its benchmark; JSON-ready, None where undefined."""
    # the first session is the all-cash start: it has no return of its own
    r = returns[strategy].iloc[1:]
    b = returns[benchmark].iloc[1:]
    out: dict = {
        "start": str(returns.index[0].date()),
        "end": str(returns.index[-1].date()),
        "sessions": int(len(returns)),
        "periods_per_year": periods_per_year,
    }
    for key, series in (("strategy", r), ("benchmark", b)):
        out[key] = summary(series, periods_per_year)
    rel = relative(r, b, periods_per_year)
    out["relative"] = {k: _finite(v) for k, v in rel.items()}
    s_cagr, b_cagr = out["strategy"]["cagr"], out["benchmark"]["cagr"]
    out["relative"]["excess_cagr"] = _finite(s_cagr - b_cagr) if s_cagr is not None and b_cagr is not None else None
    out["monthly"] = monthly_block(r, b, out["strategy"]["sharpe"], out["relative"], out["benchmark"]["sharpe"])
    if trades is not None and values is not None:
        years = len(r) / periods_per_year
        mean_value = float(values.mean())
        traded = float(trades["value_jpy"].sum()) if len(trades) else 0.0
        costs = float(trades["commission_jpy"].sum()) if len(trades) else 0.0
        out["trading"] = {
            "fills": int(len(trades)),
            "turnover_annual": _finite(traded / 2.0 / mean_value / years) if years > 0 else None,
            "commission_jpy": costs,
            "commission_drag_annual": _finite(costs / mean_value / years) if years > 0 else None,
        }
    return _rounded(out)


def monthly_block(r: pd.Series, b: pd.Series, daily_sharpe, daily_relative: dict, benchmark_daily_sharpe=None) -> dict:
    """Sharpe, IR, beta and up/down capture from calendar-month returns, and the figures on which the
    daily and monthly numbers disagree (backtest.results.significance.disagreements)."""
    from backtest.results import significance as stats

    mo = stats.monthly_figures(r, b)
    up, down = stats.capture_ratios(stats.monthly_returns(r), stats.monthly_returns(b))
    daily = {"sharpe": daily_sharpe, "information_ratio": daily_relative.get("information_ratio"),
             "beta": daily_relative.get("beta"), "benchmark_sharpe": benchmark_daily_sharpe,
             "tracking_error": daily_relative.get("tracking_error")}
    return {"months": mo["months"], "sharpe": _finite(mo["sharpe"]),
            "information_ratio": _finite(mo["information_ratio"]), "beta": _finite(mo["beta"]),
            "benchmark_sharpe": _finite(mo["benchmark_sharpe"]), "up_capture": _finite(up),
            "down_capture": _finite(down), "daily_monthly_disagree": stats.disagreements(daily, mo)}


def untraded_shares(positions: pd.DataFrame, tradable: pd.DataFrame, volume_known: pd.Series) -> dict:
    """Per ticker held: sessions held at the close, and the share of them on which it did not trade.

    positions: index sessions, columns tickers, shares held at the close (positions.csv); tradable:
    the same shape, True where the ticker printed a price with non-zero volume (PriceFrame.tradable).
    A holding that did not trade keeps its last close, so its daily return is 0 that session: this
    lowers daily beta and flatters daily Sharpe. volume_known: per ticker, whether the source has
    volume at all (without it only a missing price counts as not traded). JSON-ready.
    """
    out = {}
    for ticker in positions.columns:
        held = positions[ticker].to_numpy() > 0
        if not held.any():
            continue
        traded = tradable[ticker].reindex(positions.index).fillna(False).to_numpy(dtype=bool)
        untraded = int((held & ~traded).sum())
        out[str(ticker)] = {"sessions_held": int(held.sum()), "untraded_sessions": untraded,
                            "untraded_share": untraded / int(held.sum()),
                            "volume_known": bool(volume_known.get(ticker, False))}
    return out


def _rounded(obj):
    """12 significant digits: the same run gives the same bytes on every machine."""
    if isinstance(obj, float):
        return float(f"{obj:.12g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    return obj
