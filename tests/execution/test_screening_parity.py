"""The numpy screening engine against backtrader: same decisions, same execution model, within a stated tolerance.

Both drive one RunPlan and fill with backtest.execution.model.fill_session, so they agree by
construction; these tests check that nothing else creeps in. Tolerance: final value within 0.1% and
|Δ annual return| below 1 bp for every theme config on a shortened demo period and, where
../shared/data/real exists, on real data. In practice the two agree to floating-point noise, and
their orders.csv and trades.csv are the same row for row.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from backtest.market.calendar import sessions_per_year
from backtest.config import load_config
from backtest.market.costs import CostModel
from backtest.data import DataSource, load_prices, parse_data_option
from backtest.market.dividends import plan_basis
from backtest.execution.backtrader.engine import run_backtest
from backtest.events.calendar import load_events
from backtest.execution.model import commission, round_to_lots
from backtest.execution.screening import run_fast
from backtest.results.metrics import cagr
from tests.conftest import REPO, make_spec, total_return_case

BASKET = ["1631", "1632", "6954", "7203", "8306", "9983"]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
# events of every family fall in this window (BOJ hikes, tariffs and trade deals, wage prints, the TSE's 2023 request)
DEMO_PERIOD = ("2022-01-04", "2025-06-30")
REAL_PERIOD = ("2019-01-04", "2023-12-28")


def assert_parity(spec, prices, events=None, plan=None):
    reference = run_backtest(spec, prices, events, plan=plan)
    fast = run_fast(spec, prices, events, plan=plan)
    final_bt, final_fast = reference.values.iloc[-1], fast.values.iloc[-1]
    assert abs(final_fast / final_bt - 1) < 1e-3, (final_bt, final_fast)
    ppy = sessions_per_year(prices.sessions)
    growth = [cagr(r.returns[spec.name].iloc[1:], ppy) for r in (reference, fast)]
    assert abs(growth[0] - growth[1]) < 1e-4, growth
    assert fast.fills == len(reference.trades)
    np.testing.assert_allclose(fast.values.to_numpy(), reference.values.to_numpy(), rtol=1e-9)
    orders, trades = fast.records.frames()
    pd.testing.assert_frame_equal(orders, reference.orders, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(trades, reference.trades, check_exact=False, rtol=1e-9)
    # a sweep point's run keeps counts and sums only: the same numbers, to the bit
    tally = run_fast(spec, prices, events, plan=plan, records=False)
    assert tally.records is None
    pd.testing.assert_series_equal(tally.values, fast.values, check_exact=True)
    assert (tally.orders, tally.fills) == (fast.orders, fast.fills) and tally.fills == len(trades)
    assert tally.traded_jpy == fast.traded_jpy == float(sum(trades["value_jpy"].tolist()))
    assert tally.commission_jpy == fast.commission_jpy == float(sum(trades["commission_jpy"].tolist()))
    return reference, fast


def _config_spec(path, start, end, data=None):
    spec = load_config(path)
    changes = {"start": start, "end": end}
    if data is not None:
        changes["data"] = data
    return dataclasses.replace(spec, **changes)


def _inputs(spec):
    prices = load_prices(spec.data, spec.tickers, spec.start, spec.end)
    plan = plan_basis(spec, prices)
    return prices, load_events(spec.events_folder), plan


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_on_demo_data(path):
    spec = _config_spec(path, *DEMO_PERIOD)
    reference, _ = assert_parity(spec, *_inputs(spec))
    assert len(reference.trades) >= 1


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_on_real_data(path, real_data):
    spec = load_config(path)
    spec = _config_spec(path, *REAL_PERIOD, data=parse_data_option(f"csv:{real_data}", spec.data.files))
    assert_parity(spec, *_inputs(spec))



@pytest.mark.parametrize("execution", [
    pytest.param({"ticks": False, "price_limits": False, "commission_bps": 10, "slippage_bps": 5}, id="arrays"),
    pytest.param({}, id="default-ticks-limits-zero-preset"),
    pytest.param({"costs": {"preset": "tiered"}}, id="tiered-fees"),
    pytest.param({"costs": {"preset": "percent", "impact_bps": 3}, "limit_action": "cancel"}, id="percent-impact"),
    # whole shares and no buffer: a basket that opens above its sizing price runs out of cash
    pytest.param({"cash_buffer_pct": 0, "costs": {"half_spread_bps": 0}, "ticks": False, "price_limits": False,
                  "lot_sizes": dict.fromkeys(BASKET, 1)}, id="cash-short-trimmed"),
    pytest.param({"cash_buffer_pct": 0, "costs": {"preset": "tiered", "half_spread_bps": 0},
                  "lot_sizes": dict.fromkeys(BASKET, 1)}, id="cash-short-ticks"),
])
def test_execution_rules_one_by_one(execution):
    spec = make_spec("equal_weight", {"basket": BASKET}, **execution)
    prices = load_prices(DataSource("demo"), spec.tickers, "2020-01-06", "2022-12-29")
    reference, _ = assert_parity(spec, prices, plan=plan_basis(spec, prices))
    if execution.get("cash_buffer_pct") == 0:
        assert reference.orders["reason"].str.contains("trimmed").any(), "the case exercises the filler"


def test_short_book_crossing_zero():
    spec = make_spec("domestic_demand_wages", {"exporter_short": 0.4, "overweight": 0.6}, allow_short=True,
                     max_gross_leverage=2.0, costs={"preset": "percent"})
    prices = load_prices(DataSource("demo"), spec.tickers, *DEMO_PERIOD)
    reference, _ = assert_parity(spec, prices, load_events(), plan_basis(spec, prices))
    assert (reference.positions < 0).any().any()


def test_dividends_on_a_total_return_run(tmp_path):
    spec, prices, plan = total_return_case(tmp_path)
    reference, fast = assert_parity(spec, prices, plan=plan)
    assert reference.basis["dividends_credited_jpy"] > 0
    np.testing.assert_allclose(fast.returns["TOPIX"], reference.returns["TOPIX"], rtol=0, atol=1e-15)


def test_round_to_lots_is_whole_units_toward_zero():
    rng = np.random.default_rng(5)
    shares = np.concatenate([rng.normal(0, 5000, 400), np.arange(-300, 301, 50, dtype=float), [99.9999999999, 0.0]])
    lots = rng.choice([1, 10, 100], len(shares)).astype(float)
    expected = [math.copysign((abs(round(s, 6)) // lot) * lot, s) if abs(s) >= lot - 1e-6 else 0.0
                for s, lot in zip(shares, lots)]
    np.testing.assert_array_equal(round_to_lots(shares, lots), expected)


@pytest.mark.parametrize("model", [
    CostModel("zero"), CostModel("percent", rate_bps=12.5, min_jpy=0.0), CostModel("percent", rate_bps=10, min_jpy=99),
    CostModel("tiered", tiers=((50_000.0, 55.0), (100_000.0, 99.0), (200_000.0, 115.0), (None, 275.0))),
])
def test_commissions_are_the_cost_models(model):
    values = np.array([0.0, 1.0, 49_999.0, 50_000.0, 50_000.01, 100_000.0, 150_000.0, 200_000.0, 1e7, -75_000.0])
    expected = [model.commission(v) for v in values]
    np.testing.assert_array_equal(commission(model, values), expected)


def test_commission_by_hand():
    tiered = CostModel("tiered", tiers=((50_000.0, 55.0), (100_000.0, 99.0), (None, 275.0)))
    assert [commission(tiered, v) for v in (0.0, 50_000.0, 50_000.01, 1e9)] == [0.0, 55.0, 99.0, 275.0]
    percent = CostModel("percent", rate_bps=12.5, min_jpy=99.0)
    assert [commission(percent, v) for v in (0.0, 10_000.0, 1_000_000.0)] == [0.0, 99.0, 1250.0]


def test_a_bad_weight_fails_with_the_engines_message():
    from backtest.errors import StrategyError
    from backtest.execution.screening import prepare

    spec = make_spec("equal_weight", {"basket": ["1631"]})
    prices = load_prices(DataSource("demo"), spec.tickers, "2023-01-04", "2023-03-30")
    run = prepare(spec, prices)
    with pytest.raises(StrategyError, match="which is not in the run's universe"):
        run.check_weights({"9999": 1.0})
    assert math.isfinite(run_fast(spec, prices).final_value)


def test_weights_equal_to_the_last_checked_are_still_checked():
    from backtest.errors import StrategyError
    from backtest.execution.screening import prepare

    spec = make_spec("equal_weight", {"basket": ["1631", "1632"]})
    run = prepare(spec, load_prices(DataSource("demo"), spec.tickers, "2023-01-04", "2023-03-30"))
    first = run.check_weights({"1631": 1.0})
    assert run.check_weights({"1631": 1.0}) is first  # the same weights again: the same array
    with pytest.raises(StrategyError, match="weight of 1631 is True"):
        run.check_weights({"1631": True})  # equal to 1.0 to Python, still not a weight
    with pytest.raises(StrategyError, match="weights add up to 1.2000"):
        run.check_weights({"1631": 0.6, "1632": 0.6})
    with pytest.raises(StrategyError, match="negative weight"):
        run.check_weights({"1631": -0.5})
