"""The compiled screening loop (backtest.execution.compiled) gives the Python loop's book to the bit, under every
Tokyo rule the Python loop applies."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.config import load_config
from backtest.data import DataSource, load_prices, parse_data_option
from backtest.events.calendar import load_events
from backtest.execution import compiled
from backtest.execution.screening import decisions, prepare, simulate
from backtest.market.dividends import plan_basis
from tests.conftest import REPO, make_prices, make_spec, total_return_case

BASKET = ["1631", "1632", "6954", "7203", "8306", "9983", "6758", "6861", "6273", "8316"]
PLAIN = {"ticks": False, "price_limits": False, "max_participation": None, "impact_coefficient": 0}
PRICES = load_prices(DataSource("demo"), ["TOPIX", *BASKET], "2021-01-04", "2023-06-30")


def plan(execution: dict, params: dict | None = None, basket=BASKET, prices=PRICES):
    spec = make_spec("equal_weight", {"basket": basket, **(params or {})}, **execution)
    return spec, prepare(spec, prices)


def assert_same_book(run, decided) -> int:
    """The compiled loop's values, holdings, counts and sums are the Python loop's, bit for bit; its fills."""
    out = compiled.simulate_compiled(run, decided)
    assert out is not None, "the compiled loop did not take this run"
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


def reasons(run, decided) -> str:
    """orders.csv's reasons of the Python loop's run, one text: which rules the case exercised."""
    orders, _ = simulate(run, decided, records=True).records.frames()
    return " ".join(orders["reason"].fillna("").astype(str))


@pytest.mark.parametrize("execution, exercised", [
    pytest.param({**PLAIN, "commission_bps": 10, "slippage_bps": 5}, "", id="percent-spread"),
    pytest.param({**PLAIN, "costs": {"preset": "percent", "min_jpy": 2_000}}, "", id="percent-minimum-fee"),
    pytest.param({**PLAIN, "costs": {"preset": "zero"}}, "", id="zero-costs"),
    pytest.param({**PLAIN, "commission_bps": 10, "rebalance": "daily"}, "", id="daily-restore"),
    pytest.param({}, "participation limit", id="default-tokyo-rules"),
    pytest.param({"costs": {"preset": "tiered"}}, "", id="tiered-fees"),
    pytest.param({"costs": {"preset": "percent", "impact_bps": 3}, "limit_action": "cancel"}, "", id="impact-cancel"),
    pytest.param({"max_participation": 0.001}, "participation limit", id="tight-volume-cap"),
    # whole shares and no buffer: a basket that opens above its sizing price runs out of cash
    pytest.param({**PLAIN, "cash_buffer_pct": 0, "costs": {"half_spread_bps": 0}, "lot_sizes": dict.fromkeys(BASKET, 1)},
                 "trimmed", id="cash-short-trimmed"),
    pytest.param({"cash_buffer_pct": 0, "costs": {"preset": "tiered", "half_spread_bps": 0},
                  "lot_sizes": dict.fromkeys(BASKET, 1)}, "trimmed", id="cash-short-ticks"),
])
def test_the_compiled_loop_is_the_python_loop(execution, exercised):
    spec, run = plan(execution)
    decided = decisions(run)
    assert assert_same_book(run, decided) > 50
    assert exercised in reasons(run, decided)


def test_limits_and_a_missing_session():
    """An open at its daily limit, and a session in which a name did not trade: both carry the order."""
    _, run = plan({"commission_bps": 10})
    decided = decisions(run)
    fill = sorted(p for p, w in decided.items() if w is not None)[3] // 2 + 1  # a close point fills the next open
    j = run.column["7203"]
    run.market.volume = run.market.volume.copy()
    run.market.volume[fill, j] = 0.0
    run.market.upper = run.market.upper.copy()
    k = run.column["6954"]
    run.market.upper[fill, k] = run.market.open[fill, k] * run.ratio[fill, k]  # opened limit-up
    run.derived.clear()  # the compiled loop's copy of the plan's arrays is made again
    assert_same_book(run, decided)
    text = reasons(run, decided)
    assert "carried: no trade in 7203" in text and "limit-up" in text


def test_dividends_delistings_and_shorts():
    """A total-return run with dividends, a holding whose prices end (sold at its last close), and a book that
    crosses zero (two fees)."""
    spec = make_spec("domestic_demand_wages", {"exporter_short": 0.4, "overweight": 0.6}, allow_short=True,
                     max_gross_leverage=2.0, costs={"preset": "percent"})
    prices = load_prices(DataSource("demo"), spec.tickers, "2022-01-04", "2025-06-30")
    run = prepare(spec, prices, load_events(), plan_basis(spec, prices))
    decided = decisions(run)
    assert assert_same_book(run, decided) > 10
    assert (simulate(run, decided).shares < 0).any()
    # 7203's prices end at session 8 of 30, while held
    rng = np.random.default_rng(7)
    path = lambda: list(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 30))).round(1))  # noqa: E731
    gone = path()
    gone[9:] = [np.nan] * 21
    prices = make_prices({"TOPIX": path(), "6758": path(), "7203": gone}, volume={"7203": [1e6] * 30})
    delisting = make_spec("equal_weight", {"basket": ["6758", "7203"]}, commission_bps=10, slippage_bps=5)
    run = prepare(delisting, prices)
    assert run.delistings
    assert_same_book(run, decisions(run))
    assert "delisted" in reasons(run, decisions(run))


def test_a_total_return_run_with_dividends(tmp_path):
    spec, prices, basis = total_return_case(tmp_path)
    run = prepare(spec, prices, plan=basis)
    assert run.dividends is not None and run.dividends.any()
    assert_same_book(run, decisions(run))


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config(path):
    spec = dataclasses.replace(load_config(path), start="2022-01-04", end="2025-06-30")
    prices = load_prices(spec.data, spec.tickers, spec.start, spec.end)
    run = prepare(spec, prices, load_events(spec.events_folder), plan_basis(spec, prices))
    assert_same_book(run, decisions(run))


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_on_real_data(path, real_data):
    """Real Tokyo prices: split factors (units, ticks and limits on as-traded prices), untraded sessions."""
    spec = load_config(path)
    if path.stem == "governance_reform":
        pytest.skip("screens on fundamentals the real folder does not have")
    spec = dataclasses.replace(spec, start="2016-01-04", end="2023-12-28",
                               data=parse_data_option(f"csv:{real_data}", spec.data.files))
    prices = load_prices(spec.data, spec.tickers, spec.start, spec.end)
    run = prepare(spec, prices, load_events(spec.events_folder), plan_basis(spec, prices))
    assert_same_book(run, decisions(run))


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_any_decisions_on_any_points(data):
    """Weights chosen at random points (close and pre-open, superseding each other), long-only, under a rule set
    drawn from the plain one and the Tokyo defaults."""
    execution = data.draw(st.sampled_from([{**PLAIN, "commission_bps": 10, "slippage_bps": 3}, {},
                                           {"max_participation": 0.01, "costs": {"preset": "tiered"}}]))
    _, run = plan(execution)
    n, k = run.market.close.shape
    points = data.draw(st.lists(st.integers(0, 2 * n - 1), min_size=1, max_size=40, unique=True))
    decided = {}
    for point in sorted(points):
        raw = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0]), min_size=k, max_size=k)))
        decided[point] = raw / raw.sum() * data.draw(st.sampled_from([0.5, 0.9, 0.99])) if raw.sum() else raw
    assert_same_book(run, decided)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e9, 1e9, allow_nan=False), max_size=700))
def test_the_pairwise_sum_is_numpys(values):
    compiled._compiled_loop()  # the compiled sum, as the loop calls it
    a = np.array(values, dtype=float)
    assert compiled._pairwise_sum(a, 0, len(a)) == float(a.sum())


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(0, 1e6, allow_nan=False), st.integers(0, 10**12).map(lambda n: n / 1e6),
                 st.integers(0, 10**10).map(lambda n: (n + 0.5) / 1e4)), st.sampled_from([4, 6]))
def test_the_decimal_round_is_pythons(x, digits):
    """The tick grid rounds with Python's round(x, digits); the compiled loop's restatement gives the same double."""
    compiled._compiled_loop()
    assert compiled._round(x, 10.0 ** digits) == round(x, digits)


def test_more_fee_tiers_than_the_loop_holds_take_the_python_loop():
    tiers = [{"up_to_jpy": 10_000 * (i + 1), "fee_jpy": 10 * (i + 1)} for i in range(compiled.MOST_TIERS)]
    _, run = plan({"costs": {"preset": "tiered", "tiers": tiers + [{"up_to_jpy": None, "fee_jpy": 999}]}})
    assert not compiled.runs_compiled(run) and compiled.simulate_compiled(run, decisions(run)) is None
    python = simulate(run, decisions(run), records=True)
    assert np.array_equal(simulate(run, decisions(run), records=False).values, python.values)


def test_without_numba_every_point_takes_the_python_loop(monkeypatch):
    _, run = plan({})
    decided = decisions(run)
    python = simulate(run, decided, records=True)
    monkeypatch.setattr(compiled, "_compiled_loop", lambda: None)
    assert compiled.simulate_compiled(run, decided) is None
    assert np.array_equal(simulate(run, decided, records=False).values, python.values)


def test_warming_the_loop_counts_once():
    compiled.warm()
    assert compiled.warm() == 0.0  # a sweep subtracts it from its first point's time only
