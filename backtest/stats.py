"""Statistics that say how far to trust a comparison: PSR, DSR, block bootstrap, alpha t-stat, capture ratios.

Pure functions of numpy arrays (a pandas Series works too). Sharpe ratios here are per period
(per session), not annualised, because that is the unit the formulas of Bailey and López de Prado
are written in; multiply by sqrt(periods_per_year) to annualise.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

EULER_GAMMA = 0.5772156649015329
# The demo data's seed: any fixed value makes the bootstrap repeatable; one shared value is easier to cite.
BOOTSTRAP_SEED = 20050104


def _array(x) -> np.ndarray:
    return np.asarray(x, dtype=float).ravel()


def sharpe_moments(returns) -> tuple[float, float, float, int]:
    """Per-period Sharpe ratio, skewness, kurtosis and the number of observations of a return series.

    SR = mean / standard deviation (ddof=1), with no risk-free rate, as in backtest.metrics.sharpe.
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
    autocorrelation survive. CAGR = (∏(1 + r))^(periods_per_year / n) − 1, as backtest.metrics.cagr.
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


def alpha_beta(returns, benchmark, periods_per_year: float) -> dict[str, float]:
    """OLS of r_t = α + β·b_t + ε_t: β, annualised α, and α's t-statistic.

    β = cov(r, b) / var(b); α = mean(r) − β·mean(b), annualised as α·periods_per_year (the same
    numbers as backtest.metrics.relative). t = α / se(α) with the classical OLS standard error
    se(α) = s·sqrt(1/n + mean(b)² / Σ(b − mean(b))²), s² = Σε² / (n − 2) (e.g. Greene,
    Econometric Analysis, ch. 4). No correction for heteroskedasticity or autocorrelation; the
    t-stat is the same for daily and annualised α.
    """
    r, b = _array(returns), _array(benchmark)
    n = len(r)
    nan = {"beta": float("nan"), "alpha_annual": float("nan"), "alpha_t_stat": float("nan")}
    if n < 3:
        return nan
    bm = b.mean()
    sxx = float(((b - bm) ** 2).sum())
    if not sxx > 0:
        return nan
    beta = float(((b - bm) * (r - r.mean())).sum() / sxx)
    alpha = float(r.mean() - beta * bm)
    resid = r - alpha - beta * b
    s2 = float((resid ** 2).sum() / (n - 2))
    se = math.sqrt(s2 * (1.0 / n + bm * bm / sxx))
    t = alpha / se if se > 0 else float("nan")
    return {"beta": beta, "alpha_annual": alpha * periods_per_year, "alpha_t_stat": float(t)}


def capture_ratios(returns, benchmark, periods_per_year: float) -> tuple[float, float]:
    """Up and down capture: the strategy's annualised return over the benchmark's, on up and on down sessions.

    up = A(r | b > 0) / A(b | b > 0), down = A(r | b < 0) / A(b | b < 0), with the geometric
    annualised return A(x) = (∏(1 + x))^(periods_per_year / len(x)) − 1 (Morningstar's capture
    ratio on sessions; the definition of empyrical's up_capture / down_capture). Above 1 up and
    below 1 down is the good side.
    """
    r, b = _array(returns), _array(benchmark)

    def ratio(mask: np.ndarray) -> float:
        if not mask.any():
            return float("nan")
        k = int(mask.sum())
        num = math.expm1(np.log1p(r[mask]).sum() * periods_per_year / k)
        den = math.expm1(np.log1p(b[mask]).sum() * periods_per_year / k)
        return num / den if den != 0 else float("nan")

    with np.errstate(divide="ignore", invalid="ignore"):
        return ratio(b > 0), ratio(b < 0)
