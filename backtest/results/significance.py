"""Statistics that say how far to trust a comparison: PSR, DSR, block bootstrap, HAC alpha t-stat, monthly figures.

Pure functions of numpy arrays (a pandas Series works too). Sharpe ratios here are per period
(per session), not annualised, because that is the unit the formulas of Bailey and López de Prado
are written in; multiply by sqrt(periods_per_year) to annualise.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

EULER_GAMMA = 0.5772156649015329
# The demo data's seed: any fixed value makes the bootstrap repeatable; one shared value is easier to cite.
BOOTSTRAP_SEED = 20050104


def _array(x) -> np.ndarray:
    return np.asarray(x, dtype=float).ravel()


def sharpe_moments(returns) -> tuple[float, float, float, int]:
    """Per-period Sharpe ratio, skewness, kurtosis and the number of observations of a return series.

    SR = mean / standard deviation (ddof=1), with no risk-free rate, as in backtest.results.metrics.sharpe.
    Skewness γ3 = m3 / m2^1.5 and kurtosis γ4 = m4 / m2² are the plain moment ratios (not
    bias-corrected; γ4 = 3 for a normal distribution, not the excess kurtosis).
    """
    r = _array(returns)
    n = len(r)
    if n < 3:
        return float("nan"), float("nan"), float("nan"), n
    sd = r.std(ddof=1)
    sr = float(r.mean() / sd) if sd > 0 else float("nan")
    skew = float(sps.skew(r, bias=True)) if sd > 0 else float("nan")
    kurt = float(sps.kurtosis(r, fisher=False, bias=True)) if sd > 0 else float("nan")
    return sr, skew, kurt, n


def sharpe_ratio_std(sr: float, n: int, skew: float, kurt: float) -> float:
    """Standard deviation of the Sharpe ratio estimate under non-normal returns.

    σ(SR̂) = sqrt((1 − γ3·SR̂ + (γ4 − 1)/4 · SR̂²) / (n − 1))
    (Bailey & López de Prado 2012, "The Sharpe Ratio Efficient Frontier", Journal of Risk 15(2);
    after Mertens 2002). γ4 is the kurtosis (3 if normal). NaN when the bracket is not positive.
    """
    bracket = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if n < 2 or not bracket > 0:
        return float("nan")
    return math.sqrt(bracket / (n - 1))


def probabilistic_sharpe_ratio(sr: float, n: int, skew: float, kurt: float, sr_benchmark: float = 0.0) -> float:
    """Probability that the true Sharpe ratio exceeds `sr_benchmark`, given the estimate `sr`.

    PSR(SR*) = Φ((SR̂ − SR*) · sqrt(n − 1) / sqrt(1 − γ3·SR̂ + (γ4 − 1)/4 · SR̂²))
    (Bailey & López de Prado 2012). All Sharpe ratios per period, not annualised.
    """
    sd = sharpe_ratio_std(sr, n, skew, kurt)
    if not (sd > 0 and math.isfinite(sr)):
        return float("nan")
    return float(sps.norm.cdf((sr - sr_benchmark) / sd))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of `n_trials` Sharpe estimates whose true Sharpe ratio is zero.

    E[max SR] ≈ sqrt(V[SR_n]) · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))), γ the
    Euler–Mascheroni constant (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio", Journal
    of Portfolio Management 40(5), after Bailey et al. 2014, Notices of the AMS). One trial has
    nothing to select from, so its expected maximum is 0.
    """
    if n_trials < 1:
        raise ValueError("n_trials must be at least 1")
    if n_trials == 1:
        return 0.0
    if not sr_variance >= 0:
        return float("nan")
    z = (1.0 - EULER_GAMMA) * sps.norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * sps.norm.ppf(
        1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * z)


def deflated_sharpe_ratio(sr: float, n: int, skew: float, kurt: float, n_trials: int, sr_variance: float) -> float:
    """PSR against the Sharpe ratio the best of `n_trials` skill-less trials would show by luck.

    DSR = PSR(SR₀) with SR₀ = expected_max_sharpe(N, V[SR_n])
    (Bailey & López de Prado 2014). `sr_variance` is the variance of the trials' per-period
    Sharpe ratios.
    """
    return probabilistic_sharpe_ratio(sr, n, skew, kurt, expected_max_sharpe(n_trials, sr_variance))


def _annualised_growth(log_sum: np.ndarray, n: int, periods_per_year: float) -> np.ndarray:
    return np.expm1(log_sum * periods_per_year / n)


def block_bootstrap_excess(returns, benchmark, periods_per_year: float, block_sessions: int = 21,
                           samples: int = 2000, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Bootstrap draws of the annualised excess return (strategy CAGR − benchmark CAGR).

    Circular block bootstrap (Politis & Romano 1992, "A circular block-resampling procedure for
    stationary data"): each draw glues ⌈n/L⌉ blocks of L consecutive sessions, starting at uniform
    random positions and wrapping around the end, and cuts the result to n sessions. Strategy and
    benchmark are resampled with the same blocks, so their correlation and short-range
    autocorrelation survive. CAGR = (∏(1 + r))^(periods_per_year / n) − 1, as backtest.results.metrics.cagr.
    Seeded numpy Generator (PCG64): the same inputs give the same draws.
    """
    r, b = _array(returns), _array(benchmark)
    if len(r) != len(b):
        raise ValueError("returns and benchmark must have the same length")
    n = len(r)
    if n == 0:
        return np.full(samples, np.nan)
    block = max(1, min(int(block_sessions), n))
    blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(samples, blocks))
    lengths = np.full(blocks, block)
    lengths[-1] = n - block * (blocks - 1)

    def draws(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logs = np.log1p(x)
        # prefix sums over the series followed by its first block make every block a difference of two sums
        prefix = np.concatenate([[0.0], np.cumsum(np.concatenate([logs, logs[:block]]))])
        sums = (prefix[starts + lengths] - prefix[starts]).sum(axis=1)
        return _annualised_growth(sums, n, periods_per_year)

    return draws(r) - draws(b)


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central `level` percentile interval of bootstrap draws (Efron's percentile method)."""
    d = _array(draws)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(d, [tail, 1.0 - tail])
    return float(lo), float(hi)


def newey_west_lags(n: int) -> int:
    """The Newey–West truncation lag for n observations: floor(4·(n/100)^(2/9)) (Newey & West 1994's rule)."""
    return int(math.floor(4.0 * (max(n, 0) / 100.0) ** (2.0 / 9.0)))


def alpha_beta(returns, benchmark, periods_per_year: float, lags: int | None = None) -> dict[str, float]:
    """OLS of r_t = α + β·b_t + ε_t: β, annualised α, and α's t-statistic with a Newey–West standard error.

    β = cov(r, b) / var(b); α = mean(r) − β·mean(b), annualised as α·periods_per_year (the same
    numbers as backtest.results.metrics.relative). t = α / se_HAC(α), where se_HAC is the square root of the
    first diagonal element of (XᵀX)⁻¹ S (XᵀX)⁻¹, X = [1, b], and
    S = Σ_t ε_t² x_t x_tᵀ + Σ_{l=1..L} (1 − l/(L+1)) Σ_t ε_t ε_{t−l} (x_t x_{t−l}ᵀ + x_{t−l} x_tᵀ)
    (Newey & West 1987, Bartlett weights; no small-sample correction, as statsmodels' HAC default).
    L = `lags`, by default newey_west_lags(n). Daily returns of thin holdings are autocorrelated, which
    the classical OLS error ignores. The t-stat is the same for daily and annualised α.
    """
    r, b = _array(returns), _array(benchmark)
    n = len(r)
    lag = newey_west_lags(n) if lags is None else int(lags)
    nan = {"beta": float("nan"), "alpha_annual": float("nan"), "alpha_t_stat": float("nan"),
           "alpha_t_lags": lag}
    if n < 3:
        return nan
    bm = b.mean()
    sxx = float(((b - bm) ** 2).sum())
    if not sxx > 0:
        return nan
    beta = float(((b - bm) * (r - r.mean())).sum() / sxx)
    alpha = float(r.mean() - beta * bm)
    resid = r - alpha - beta * b
    x = np.column_stack([np.ones(n), b])
    scores = x * resid[:, None]
    s = scores.T @ scores
    for lag_l in range(1, min(lag, n - 1) + 1):
        gamma = scores[lag_l:].T @ scores[:-lag_l]
        s += (1.0 - lag_l / (lag + 1.0)) * (gamma + gamma.T)
    xtx_inv = np.linalg.inv(x.T @ x)
    var_alpha = float((xtx_inv @ s @ xtx_inv)[0, 0])
    se = math.sqrt(var_alpha) if var_alpha > 0 else 0.0
    t = alpha / se if se > 0 else (math.copysign(math.inf, alpha) if alpha != 0 else float("nan"))
    return {"beta": beta, "alpha_annual": alpha * periods_per_year, "alpha_t_stat": float(t), "alpha_t_lags": lag}


def monthly_returns(returns) -> pd.Series:
    """Index: month ends; the compounded return of the sessions of each calendar month (a Series
    indexed by dates). The first and last months of a window may be part months."""
    s = pd.Series(returns, dtype=float)
    return (1.0 + s).groupby(s.index.to_period("M")).prod() - 1.0


def capture_ratios(returns, benchmark) -> tuple[float, float]:
    """Up and down capture on monthly returns (pass monthly_returns of each series).

    up = mean(r_m | b_m > 0) / mean(b_m | b_m > 0), down = mean(r_m | b_m < 0) / mean(b_m | b_m < 0):
    the strategy's mean return over the benchmark's up months divided by the benchmark's, and the
    same for down months (the standard definition, e.g. CFA Institute; arithmetic means of monthly
    returns). Above 1 up and below 1 down is the good side.
    """
    r, b = _array(returns), _array(benchmark)

    def ratio(mask: np.ndarray) -> float:
        if not mask.any():
            return float("nan")
        den = float(b[mask].mean())
        return float(r[mask].mean()) / den if den != 0 else float("nan")

    return ratio(b > 0), ratio(b < 0)


def monthly_figures(returns, benchmark) -> dict[str, float]:
    """Sharpe, information ratio and beta from monthly returns (pass daily Series indexed by sessions).

    Each series is compounded to calendar months (monthly_returns); Sharpe = mean/sd·√12, IR =
    mean(r_m − b_m)/sd(r_m − b_m)·√12, β = cov(r_m, b_m)/var(b_m), all with ddof=1. A price that
    does not move on sessions a holding did not trade lowers daily beta and flatters daily Sharpe;
    monthly figures are far less affected.
    """
    rm, bm = monthly_returns(returns), monthly_returns(benchmark)
    r, b = rm.to_numpy(), bm.to_numpy()
    a = r - b
    out = {"months": int(len(r)), "sharpe": float("nan"), "information_ratio": float("nan"), "beta": float("nan"),
           "benchmark_sharpe": float("nan")}
    if len(r) < 3:
        return out
    sd_r, sd_a, sd_b = r.std(ddof=1), a.std(ddof=1), b.std(ddof=1)
    out["sharpe"] = float(r.mean() / sd_r * math.sqrt(12)) if sd_r > 0 else float("nan")
    out["benchmark_sharpe"] = float(b.mean() / sd_b * math.sqrt(12)) if sd_b > 0 else float("nan")
    out["information_ratio"] = float(a.mean() / sd_a * math.sqrt(12)) if sd_a > 0 else float("nan")
    out["beta"] = float(np.cov(r, b, ddof=1)[0, 1] / b.var(ddof=1)) if sd_b > 0 else float("nan")
    return out


# A daily and a monthly figure "disagree" when their signs differ or they are further apart than this.
DISAGREEMENT_MARGIN = {"sharpe": 0.2, "information_ratio": 0.2, "beta": 0.1}


# Fewer months than this give monthly figures too noisy to hold the daily ones to.
MIN_MONTHS = 12
# A figure this close to 0 has no sign worth comparing (an IR of 0.02 against -0.02 is one answer: none).
SIGN_DEADBAND = 0.05


# An information ratio over a tracking error this small (annualised) is the ratio of two roundings.
MIN_TRACKING_ERROR = 1e-6


def disagreements(daily: dict, monthly: dict) -> list[str]:
    """The figures (keys of DISAGREEMENT_MARGIN) whose daily and monthly values differ in sign (both at least
    SIGN_DEADBAND away from 0) or by more than the margin; none when `monthly` has fewer than MIN_MONTHS
    months (its "months" key).

    Where both give the benchmark's Sharpe ratio ("benchmark_sharpe"), the Sharpe ratios are compared
    net of it: the market's own daily and monthly Sharpe ratios differ too (autocorrelation, a short
    sample), and what stale prices add is the strategy's gap beyond the benchmark's. An information
    ratio is not compared when the daily tracking error ("tracking_error") is below MIN_TRACKING_ERROR.
    """
    out = []
    if monthly.get("months", MIN_MONTHS) < MIN_MONTHS:
        return out
    bench_d, bench_m = daily.get("benchmark_sharpe"), monthly.get("benchmark_sharpe")
    net = all(x is not None and math.isfinite(x) for x in (bench_d, bench_m))
    te = daily.get("tracking_error")
    for key, margin in DISAGREEMENT_MARGIN.items():
        d, mo = daily.get(key), monthly.get(key)
        if key == "information_ratio" and te is not None and math.isfinite(te) and te < MIN_TRACKING_ERROR:
            continue
        if key == "sharpe" and net and d is not None and mo is not None:
            d, mo = d - bench_d, mo - bench_m
        if d is None or mo is None or not (math.isfinite(d) and math.isfinite(mo)):
            continue
        opposite = d * mo < 0 and min(abs(d), abs(mo)) >= SIGN_DEADBAND
        if opposite or abs(d - mo) > margin:
            out.append(key)
    return out
