"""The compiled screening loop (backtest.execution.compiled) gives the Python loop's book to the bit, and hands
every run a rule could bend back to it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.data import DataSource, load_prices
from backtest.execution import compiled
from backtest.execution.screening import decisions, prepare, simulate
from tests.conftest import make_spec

BASKET = ["1631", "1632", "6954", "7203", "8306", "9983", "6758", "6861", "6273", "8316"]
PLAIN = {"ticks": False, "price_limits": False, "max_participation": None, "impact_coefficient": 0}
PRICES = load_prices(DataSource("demo"), ["TOPIX", *BASKET], "2021-01-04", "2023-06-30")


def plan(execution: dict, params: dict | None = None):
    spec = make_spec("equal_weight", {"basket": BASKET, **(params or {})}, **execution)
    return spec, prepare(spec, PRICES)


def assert_same_book(run, decided):
    """The compiled loop ran, and its values, holdings, counts and sums are the Python loop's, bit for bit."""
    out = compiled.simulate_compiled(run, decided)
    assert out is not None, "the compiled loop handed this run to the Python loop"
    values, held, orders, fills, traded, commission, largest, requested = out
    python = simulate(run, decided, records=True)
    assert np.array_equal(values, python.values.to_numpy())
    assert np.array_equal(held, python.shares)
    assert (orders, fills) == (python.orders, python.fills)
    assert traded == python.traded_jpy and commission == python.commission_jpy
    assert (largest, requested) == (python.records.largest_participation, python.records.requested_max)
    tallied = simulate(run, decided, records=False)  # what a sweep point gets: the compiled loop's book
    assert tallied.returns.equals(python.returns)
    return fills


@pytest.mark.parametrize("execution", [
    pytest.param({**PLAIN, "commission_bps": 10, "slippage_bps": 5}, id="percent-spread"),
    pytest.param({**PLAIN, "costs": {"preset": "percent", "min_jpy": 2_000}}, id="percent-minimum-fee"),
    pytest.param({**PLAIN, "costs": {"preset": "zero"}}, id="zero-costs"),
    pytest.param({**PLAIN, "price_limits": True, "commission_bps": 10}, id="price-limits"),
    pytest.param({**PLAIN, "commission_bps": 10, "rebalance": "daily"}, id="daily-restore"),
    pytest.param({**PLAIN, "commission_bps": 10, "cash_buffer_pct": 1}, id="small-buffer"),
])
def test_the_compiled_loop_is_the_python_loop(execution):
    spec, run = plan(execution)
    assert compiled.runs_compiled(run)
    assert assert_same_book(run, decisions(run)) > 100


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_decisions_on_any_points(data):
    """Weights chosen at random points (close and pre-open, superseding each other), long-only, up to 95%."""
    _, run = plan({**PLAIN, "commission_bps": 10, "slippage_bps": 3})
    n, k = run.market.close.shape
    points = data.draw(st.lists(st.integers(0, 2 * n - 1), min_size=1, max_size=40, unique=True))
    decided = {}
    for point in sorted(points):
        raw = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), min_size=k, max_size=k)))
        decided[point] = raw / raw.sum() * 0.9 if raw.sum() else raw
    if not any(w.any() for w in decided.values()):
        decided[0] = np.full(k, 0.9 / k)
    assert_same_book(run, decided)


def test_a_rule_that_bites_hands_the_run_to_the_python_loop():
    # no cash buffer and whole shares: a basket that opens above its sizing price cannot be bought whole
    _, run = plan({**PLAIN, "cash_buffer_pct": 0, "costs": {"half_spread_bps": 0},
                   "lot_sizes": dict.fromkeys(BASKET, 1)})
    decided = decisions(run)
    assert compiled.simulate_compiled(run, decided) is None
    python = simulate(run, decided, records=True)
    assert python.records.frames()[0]["reason"].str.contains("trimmed").any()
    assert np.array_equal(simulate(run, decided, records=False).values, python.values)


def test_a_session_without_a_trade_hands_the_run_to_the_python_loop():
    _, run = plan({**PLAIN, "commission_bps": 10})
    decided = decisions(run)
    fill = sorted(p for p, w in decided.items() if w is not None)[3] // 2 + 1  # a close point fills the next open
    run.market.volume = run.market.volume.copy()
    run.market.volume[fill, run.column["7203"]] = 0.0
    assert compiled.simulate_compiled(run, decided) is None
    python = simulate(run, decided, records=True)
    assert python.records.frames()[0]["reason"].str.contains("carried: no trade").any()
    assert np.array_equal(simulate(run, decided, records=False).values, python.values)


@pytest.mark.parametrize("execution", [
    {}, {"ticks": False, "price_limits": False, "impact_coefficient": 0}, {**PLAIN, "costs": {"preset": "tiered"}},
    {**PLAIN, "costs": {"preset": "percent", "impact_bps": 3}}, {**PLAIN, "max_participation": 0.1},
])
def test_rules_the_compiled_loop_does_not_cover(execution):
    _, run = plan(execution)
    assert not compiled.runs_compiled(run)
    assert compiled.simulate_compiled(run, decisions(run)) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), max_size=700))
def test_the_pairwise_sum_is_numpys(values):
    compiled._compiled_loop()  # the compiled sum, as the loop calls it
    a = np.array(values, dtype=float)
    assert compiled._pairwise_sum(a, 0, len(a)) == float(a.sum())
