"""PSR, DSR, bootstrap, alpha t-stat and capture ratios against the papers' worked numbers and independent sums."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import stats as sps

from backtest.results import metrics
from backtest.results import significance as stats


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


def _hac_t_by_hand(r, b, lags):
    """Newey-West t of the OLS intercept, written out with loops from the textbook sandwich formula."""
    n = len(r)
    x = np.column_stack([np.ones(n), b])
    coef = np.linalg.solve(x.T @ x, x.T @ r)
    e = r - x @ coef
    s = np.zeros((2, 2))
    for t in range(n):
        s += e[t] ** 2 * np.outer(x[t], x[t])
    for lag in range(1, lags + 1):
        w = 1 - lag / (lags + 1)
        for t in range(lag, n):
            s += w * e[t] * e[t - lag] * (np.outer(x[t], x[t - lag]) + np.outer(x[t - lag], x[t]))
    bread = np.linalg.inv(x.T @ x)
    return coef[0] / math.sqrt((bread @ s @ bread)[0, 0])


def test_newey_west_lag_rule():
    # floor(4 (T/100)^(2/9)): 2442 sessions (2016-2025) -> 8 lags, 5140 (2005-2025) -> 9, 120 -> 4
    assert stats.newey_west_lags(2442) == math.floor(4 * 24.42 ** (2 / 9)) == 8
    assert stats.newey_west_lags(5140) == 9
    assert stats.newey_west_lags(120) == 4


def test_alpha_t_stat_is_newey_west_against_a_formula_written_here():
    rng = np.random.default_rng(3)
    b = rng.normal(0.0003, 0.011, 400)
    # autocorrelated residuals (a stale-price pattern): the classical error is too small for them
    noise = np.convolve(rng.normal(0, 0.003, 403), [1.0, 0.6, 0.3, 0.1], mode="valid")
    r = 0.0004 + 0.9 * b + noise
    out = stats.alpha_beta(r, b, 245)
    fit = sps.linregress(b, r)
    assert out["beta"] == pytest.approx(fit.slope, rel=1e-10)
    assert out["alpha_annual"] == pytest.approx(fit.intercept * 245, rel=1e-10)
    lags = math.floor(4 * (400 / 100) ** (2 / 9))
    assert out["alpha_t_lags"] == lags == 5
    assert out["alpha_t_stat"] == pytest.approx(_hac_t_by_hand(r, b, lags), rel=1e-10)
    # positively autocorrelated errors: the HAC t-stat is smaller than the classical one
    assert abs(out["alpha_t_stat"]) < abs(fit.intercept / fit.intercept_stderr)
    assert stats.alpha_beta(r, b, 245, lags=2)["alpha_t_stat"] == pytest.approx(_hac_t_by_hand(r, b, 2), rel=1e-10)
    # the table's beta and alpha come from backtest.results.metrics.relative: the same numbers
    rel = metrics.relative(pd.Series(r), pd.Series(b), 245)
    assert out["beta"] == pytest.approx(rel["beta"], rel=1e-10)
    assert out["alpha_annual"] == pytest.approx(rel["alpha_annual"], rel=1e-10)


def test_alpha_t_stat_agrees_with_statsmodels_hac():
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(8)
    b = rng.normal(0.0003, 0.011, 700)
    r = 0.0002 + 0.7 * b + rng.normal(0, 0.004, 700)
    out = stats.alpha_beta(r, b, 245)
    fit = sm.OLS(r, sm.add_constant(b)).fit(cov_type="HAC", cov_kwds={"maxlags": out["alpha_t_lags"]})
    assert out["alpha_t_stat"] == pytest.approx(fit.tvalues[0], rel=1e-9)


def _month_series(values_by_month: dict[str, list[float]]) -> pd.Series:
    idx, vals = [], []
    for month, values in values_by_month.items():
        days = pd.bdate_range(f"{month}-01", periods=len(values))
        idx += list(days)
        vals += values
    return pd.Series(vals, index=pd.DatetimeIndex(idx))


def test_capture_ratios_are_monthly_means_by_hand():
    # three months: the benchmark is up in Jan and Mar, down in Feb
    b = _month_series({"2024-01": [0.01, 0.02], "2024-02": [-0.03, 0.01], "2024-03": [0.02, 0.0]})
    r = _month_series({"2024-01": [0.02, 0.01], "2024-02": [-0.01, -0.01], "2024-03": [0.01, 0.0]})
    bm = [1.01 * 1.02 - 1, 0.97 * 1.01 - 1, 1.02 - 1]
    rm = [1.02 * 1.01 - 1, 0.99 * 0.99 - 1, 1.01 - 1]
    assert list(stats.monthly_returns(r)) == pytest.approx(rm)
    up, down = stats.capture_ratios(stats.monthly_returns(r), stats.monthly_returns(b))
    assert up == pytest.approx(((rm[0] + rm[2]) / 2) / ((bm[0] + bm[2]) / 2), rel=1e-12)
    assert down == pytest.approx(rm[1] / bm[1], rel=1e-12)


def test_capture_of_a_beta_07_strategy_is_about_07_both_ways():
    # the case: daily compounding and annualising gave 0.47 up / 0.86 down for beta 0.71
    rng = np.random.default_rng(11)
    days = pd.bdate_range("2010-01-01", periods=2500)
    b = pd.Series(rng.normal(0.0003, 0.012, len(days)), index=days)
    r = 0.7 * b + pd.Series(rng.normal(0, 0.002, len(days)), index=days)
    up, down = stats.capture_ratios(stats.monthly_returns(r), stats.monthly_returns(b))
    assert up == pytest.approx(0.7, abs=0.05) and down == pytest.approx(0.7, abs=0.05)


def test_capture_ratios_of_the_benchmark_itself_are_one():
    b = np.array([0.01, -0.02, 0.03, -0.01, 0.004])
    assert stats.capture_ratios(b, b) == pytest.approx((1.0, 1.0))
    assert all(math.isnan(x) for x in stats.capture_ratios([0.01], [0.0]))


def test_monthly_figures_and_disagreement_flags():
    # a thin holding: its price moves only every other session, so daily returns are stale half the time
    rng = np.random.default_rng(5)
    days = pd.bdate_range("2015-01-01", periods=2000)
    b = pd.Series(rng.normal(0.0003, 0.01, len(days)), index=days)
    wealth = (1 + b).cumprod().to_numpy()
    stale = wealth.copy()
    stale[1::2] = stale[:-1:2]  # last close carried over on every other session
    r = pd.Series(stale, index=days).pct_change().fillna(0.0)
    mo = stats.monthly_figures(r, b)
    rm, bm = (1 + r).groupby(r.index.to_period("M")).prod() - 1, (1 + b).groupby(b.index.to_period("M")).prod() - 1
    assert mo["months"] == len(bm)
    assert mo["beta"] == pytest.approx(np.cov(rm, bm)[0, 1] / np.var(bm, ddof=1), rel=1e-10)
    assert mo["sharpe"] == pytest.approx(rm.mean() / rm.std() * math.sqrt(12), rel=1e-10)
    a = rm - bm
    assert mo["information_ratio"] == pytest.approx(a.mean() / a.std() * math.sqrt(12), rel=1e-10)
    daily_beta = float(np.cov(r, b)[0, 1] / np.var(b, ddof=1))
    assert daily_beta < 0.7 < 0.9 < mo["beta"]  # stale prices hide beta day by day, not month by month
    assert "beta" in stats.disagreements({"beta": daily_beta, "sharpe": 0.5}, {"beta": mo["beta"], "sharpe": 0.55})
    assert stats.disagreements({"sharpe": 0.1}, {"sharpe": -0.05}) == ["sharpe"]  # sign
    assert stats.disagreements({"information_ratio": 0.02}, {"information_ratio": -0.02}) == []  # both about 0
    assert stats.disagreements({"sharpe": 0.1}, {"sharpe": -0.5, "months": 11}) == []  # too few months to judge
    assert stats.disagreements({"sharpe": 0.62, "beta": 0.9}, {"sharpe": 0.73, "beta": 0.95}) == []


def test_beta_agrees_with_empyrical():
    ep = pytest.importorskip("empyrical")
    rng = np.random.default_rng(4)
    b = pd.Series(rng.normal(0.0003, 0.01, 300))
    r = pd.Series(0.8 * b + rng.normal(0.0, 0.004, 300))
    # empyrical's beta is the same OLS slope; its alpha is compounded, ours is arithmetic (mean × periods)
    assert stats.alpha_beta(r, b, 245)["beta"] == pytest.approx(ep.beta(r, b), rel=1e-10)


def test_max_drawdown_length_and_longest_time_under_water_are_named_apart():
    # a long shallow drawdown (4 sessions under water), then a short deep one (1 session)
    r = pd.Series([0.01, -0.01, -0.001, 0.0, 0.0, 0.0125, 0.05, -0.2, 0.26, 0.01])
    wealth = np.cumprod(1 + r.to_numpy())
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    under = wealth < peak - 1e-15
    assert list(under) == [False, True, True, True, True, False, False, True, False, False]
    mdd, mdd_len, underwater = metrics.drawdown_lengths(r)
    assert mdd == pytest.approx(-0.2)
    assert mdd_len == 1  # the deepest drawdown: one session below its peak, recovered the next
    assert underwater == 4
    summary = metrics.summary(r, 245)
    assert (summary["max_drawdown_length_sessions"], summary["longest_underwater_sessions"]) == (1, 4)
    assert "max_drawdown_sessions" not in summary


def test_a_sharpe_gap_the_benchmark_has_too_is_not_a_disagreement():
    from backtest.results import significance as stats

    monthly = {"months": 42, "sharpe": 0.90, "information_ratio": -0.5, "beta": 1.0, "benchmark_sharpe": 0.90}
    daily = {"sharpe": 0.60, "information_ratio": -0.5, "beta": 1.0, "benchmark_sharpe": 0.60, "tracking_error": 0.02}
    assert stats.disagreements(daily, monthly) == []  # the market's own daily/monthly gap, nothing more
    assert stats.disagreements({**daily, "benchmark_sharpe": None}, monthly) == ["sharpe"]
    stale = {**daily, "sharpe": 0.85}  # 0.25 above the benchmark daily, 0 above it monthly
    assert stats.disagreements(stale, monthly) == ["sharpe"]


def test_an_information_ratio_without_tracking_error_is_not_compared():
    from backtest.results import significance as stats

    monthly = {"months": 120, "sharpe": 0.5, "information_ratio": -0.95, "beta": 1.0}
    daily = {"sharpe": 0.5, "information_ratio": -0.67, "beta": 1.0, "tracking_error": 1e-9}
    assert stats.disagreements(daily, monthly) == []
    assert stats.disagreements({**daily, "tracking_error": 0.01}, monthly) == ["information_ratio"]
