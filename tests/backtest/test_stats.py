"""PSR, DSR, bootstrap, alpha t-stat and capture ratios against the papers' worked numbers and independent sums."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats as sps

from backtest import metrics, stats


# --------------------------------------------------------------------------- Sharpe ratio tests


def test_sharpe_std_matches_the_2012_paper():
    # Bailey & López de Prado (2012), two hedge-fund index series of 134 monthly returns
    assert round(stats.sharpe_ratio_std(0.7079, 134, -0.2250, 2.9570), 4) == 0.1028
    assert round(stats.sharpe_ratio_std(0.8183, 134, -1.4455, 7.0497), 4) == 0.1550


def test_psr_matches_the_2012_paper():
    # 24 monthly returns with SR 0.458: normal returns, then the same SR with fat, left-skewed tails
    assert round(stats.probabilistic_sharpe_ratio(0.458, 24, 0.0, 3.0), 3) == 0.982
    assert round(stats.probabilistic_sharpe_ratio(0.458, 24, -2.448, 10.164), 3) == 0.913


def test_dsr_matches_the_2014_paper_example():
    # Bailey & López de Prado (2014): N = 100 trials, V[SR] = 1/2 annualised, best SR 2.5 annualised,
    # T = 1250 daily returns, skewness -3, kurtosis 10, 250 sessions a year
    ppy = 250
    sr, var = 2.5 / math.sqrt(ppy), 0.5 / ppy
    sr0 = stats.expected_max_sharpe(100, var)
    assert round(sr0, 4) == 0.1132
    assert round(sr0 * math.sqrt(ppy), 4) == 1.7894
    assert round(stats.deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, var), 4) == 0.9004


def test_dsr_by_hand_from_the_formula():
    sr, n, skew, kurt, trials, var = 0.05, 1000, -0.5, 6.0, 10, 0.0004
    z = (1 - 0.5772156649) * sps.norm.ppf(1 - 1 / 10) + 0.5772156649 * sps.norm.ppf(1 - 1 / (10 * math.e))
    sr0 = math.sqrt(var) * z
    expected = sps.norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2))
    assert stats.deflated_sharpe_ratio(sr, n, skew, kurt, trials, var) == pytest.approx(expected, rel=1e-12)


def test_one_trial_deflates_to_the_psr_against_zero():
    assert stats.expected_max_sharpe(1, 0.3) == 0.0
    psr = stats.probabilistic_sharpe_ratio(0.04, 500, 0.1, 4.0)
    assert stats.deflated_sharpe_ratio(0.04, 500, 0.1, 4.0, 1, 0.3) == psr
    with pytest.raises(ValueError):
        stats.expected_max_sharpe(0, 0.1)


@pytest.mark.parametrize(("n", "tolerance"), [(10, 0.025), (100, 0.01), (1000, 0.005)])
def test_expected_max_sharpe_is_close_to_the_exact_expected_maximum(n, tolerance):
    # exact E[max of n standard normals] = ∫ x · n φ(x) Φ(x)^(n-1) dx; the approximation slightly
    # overstates it, less so as n grows
    exact, _ = integrate.quad(lambda x: x * n * sps.norm.pdf(x) * sps.norm.cdf(x) ** (n - 1), -10, 10)
    assert exact < stats.expected_max_sharpe(n, 1.0) < exact * (1 + tolerance)
    assert stats.expected_max_sharpe(n, 4.0) == pytest.approx(2 * stats.expected_max_sharpe(n, 1.0))


def test_sharpe_moments_from_explicit_sums():
    r = np.array([0.01, -0.02, 0.03, 0.015, -0.005, 0.02, -0.01])
    n = len(r)
    mean = sum(r) / n
    m2 = sum((x - mean) ** 2 for x in r) / n
    m3 = sum((x - mean) ** 3 for x in r) / n
    m4 = sum((x - mean) ** 4 for x in r) / n
    sd = math.sqrt(m2 * n / (n - 1))
    sr, skew, kurt, count = stats.sharpe_moments(pd.Series(r))
    assert count == n
    assert sr == pytest.approx(mean / sd, rel=1e-12)
    assert skew == pytest.approx(m3 / m2 ** 1.5, rel=1e-12)
    assert kurt == pytest.approx(m4 / m2 ** 2, rel=1e-12)
    # the same Sharpe ratio as the table's, before annualising
    assert sr * math.sqrt(245) == pytest.approx(metrics.sharpe(pd.Series(r), 245), rel=1e-12)


def test_psr_is_nan_when_undefined():
    assert math.isnan(stats.probabilistic_sharpe_ratio(float("nan"), 100, 0.0, 3.0))
    assert math.isnan(stats.sharpe_ratio_std(0.5, 1, 0.0, 3.0))
    assert math.isnan(stats.sharpe_moments([0.01, 0.01, 0.01])[0])


# --------------------------------------------------------------------------- bootstrap


def _naive_bootstrap(r, b, ppy, block, samples, seed):
    """The same circular block bootstrap written as a loop over explicit resampled series."""
    n = len(r)
    blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(samples, blocks))
    out = []
    for row in starts:
        idx = np.concatenate([(s + np.arange(block)) % n for s in row])[:n]
        out.append(metrics.cagr(pd.Series(r[idx]), ppy) - metrics.cagr(pd.Series(b[idx]), ppy))
    return np.array(out)


def test_block_bootstrap_equals_an_explicit_resampling_loop():
    rng = np.random.default_rng(1)
    b = rng.normal(0.0004, 0.01, 203)
    r = b * 1.1 + rng.normal(0.0001, 0.004, 203)
    fast = stats.block_bootstrap_excess(r, b, 245, block_sessions=21, samples=300, seed=7)
    slow = _naive_bootstrap(r, b, 245, 21, 300, 7)
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_block_bootstrap_is_seeded_and_centred():
    rng = np.random.default_rng(2)
    b = rng.normal(0.0003, 0.01, 500)
    r = b + 0.0002
    one = stats.block_bootstrap_excess(r, b, 245, 21, 500)
    two = stats.block_bootstrap_excess(r, b, 245, 21, 500)
    other = stats.block_bootstrap_excess(r, b, 245, 21, 500, seed=99)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other)
    point = metrics.cagr(pd.Series(r), 245) - metrics.cagr(pd.Series(b), 245)
    lo, hi = stats.percentile_interval(one)
    assert lo < point < hi
    assert lo > 0  # a constant daily edge of 2 bp survives any resampling


def test_bootstrap_of_identical_series_is_zero():
    r = np.array([0.01, -0.02, 0.005, 0.0, 0.012])
    draws = stats.block_bootstrap_excess(r, r, 245, 2, 50)
    np.testing.assert_allclose(draws, 0.0, atol=1e-15)


def test_percentile_interval():
    assert stats.percentile_interval(np.arange(1001) / 1000) == pytest.approx((0.025, 0.975))
    assert all(math.isnan(x) for x in stats.percentile_interval(np.array([np.nan])))


# --------------------------------------------------------------------------- alpha, beta, capture


def test_alpha_beta_on_an_exact_line():
    b = np.array([0.01, -0.02, 0.015, 0.0, -0.005])
    r = 0.001 + 1.5 * b
    out = stats.alpha_beta(r, b, 245)
    assert out["beta"] == pytest.approx(1.5, rel=1e-12)
    assert out["alpha_annual"] == pytest.approx(0.001 * 245, rel=1e-10)
    assert out["alpha_t_stat"] > 1e6  # no residual: the intercept is certain


def test_alpha_t_stat_against_scipy_and_lstsq():
    rng = np.random.default_rng(3)
    b = rng.normal(0.0003, 0.011, 400)
    r = 0.0002 + 0.9 * b + rng.normal(0, 0.003, 400)
    out = stats.alpha_beta(r, b, 245)
    fit = sps.linregress(b, r)
    assert out["beta"] == pytest.approx(fit.slope, rel=1e-10)
    assert out["alpha_annual"] == pytest.approx(fit.intercept * 245, rel=1e-10)
    assert out["alpha_t_stat"] == pytest.approx(fit.intercept / fit.intercept_stderr, rel=1e-10)
    # and by the normal equations, with the covariance matrix s²(XᵀX)⁻¹
    x = np.column_stack([np.ones_like(b), b])
    coef, res, *_ = np.linalg.lstsq(x, r, rcond=None)
    cov = res[0] / (len(r) - 2) * np.linalg.inv(x.T @ x)
    assert out["alpha_t_stat"] == pytest.approx(coef[0] / math.sqrt(cov[0, 0]), rel=1e-10)
    # the table's beta and alpha come from backtest.metrics.relative: the same numbers
    rel = metrics.relative(pd.Series(r), pd.Series(b), 245)
    assert out["beta"] == pytest.approx(rel["beta"], rel=1e-10)
    assert out["alpha_annual"] == pytest.approx(rel["alpha_annual"], rel=1e-10)


def test_capture_ratios_by_hand():
    b = [0.01, -0.02, 0.03, -0.01]
    r = [0.02, -0.01, 0.03, -0.03]
    up, down = stats.capture_ratios(r, b, periods_per_year=4)
    # up sessions 1 and 3: two of them, so each product is raised to 4/2
    assert up == pytest.approx(((1.02 * 1.03) ** 2 - 1) / ((1.01 * 1.03) ** 2 - 1), rel=1e-12)
    assert up == pytest.approx(0.10376036 / 0.08222409, rel=1e-7)
    assert down == pytest.approx(((0.99 * 0.97) ** 2 - 1) / ((0.98 * 0.99) ** 2 - 1), rel=1e-12)


def test_capture_ratios_of_the_benchmark_itself_are_one():
    b = np.array([0.01, -0.02, 0.03, -0.01, 0.004])
    assert stats.capture_ratios(b, b, 245) == pytest.approx((1.0, 1.0))
    assert all(math.isnan(x) for x in stats.capture_ratios([0.01], [0.0], 245))


def test_capture_ratios_agree_with_empyrical():
    ep = pytest.importorskip("empyrical")
    rng = np.random.default_rng(4)
    b = pd.Series(rng.normal(0.0003, 0.01, 300))
    r = pd.Series(0.8 * b + rng.normal(0.0, 0.004, 300))
    # empyrical annualises daily data with 252 sessions; the ratio is compared at that setting
    up, down = stats.capture_ratios(r, b, 252)
    assert up == pytest.approx(ep.up_capture(r, b), rel=1e-10)
    assert down == pytest.approx(ep.down_capture(r, b), rel=1e-10)
    # empyrical's beta is the same OLS slope; its alpha is compounded, ours is arithmetic (mean × periods)
    assert stats.alpha_beta(r, b, 245)["beta"] == pytest.approx(ep.beta(r, b), rel=1e-10)
