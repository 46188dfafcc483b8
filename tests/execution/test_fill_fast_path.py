"""fill_session's array path gives the rules' result to the bit, and hands every session a rule can bite to them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtest.market.costs import CostModel
from backtest.execution import model


def market(rng, k=12, n=3, costs=None, upper=None, lower=None, volume=None):
    sessions = pd.bdate_range("2024-01-04", periods=n)
    close = 100 * np.exp(rng.normal(0, 0.02, (n, k)).cumsum(axis=0)) + rng.uniform(0, 5000, k)
    open_ = close * (1 + rng.normal(0, 0.01, (n, k)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, (n, k)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, (n, k)))
    return model.Market(
        sessions=sessions, tickers=[f"T{j}" for j in range(k)], open=open_, high=high, low=low, close=close,
        volume=rng.uniform(1e4, 1e6, (n, k)) if volume is None else volume,
        lower=np.full((n, k), -np.inf) if lower is None else lower,
        upper=np.full((n, k), np.inf) if upper is None else upper,
        lots=np.full((n, k), 100.0), vol=np.full((n, k), np.nan),
        costs=costs or CostModel("percent", rate_bps=10.0, min_jpy=0.0, half_spread_bps=5.0),
        capped=np.ones(k, dtype=bool), ratio=rng.choice([1.0, 0.5, 2.0], (n, k)))


def orders_and_book(rng, k, cash_scale=1.0):
    held = rng.integers(0, 30, k).astype(float) * 100
    target = rng.integers(0, 30, k).astype(float) * 100
    orders = [model.Order(j=j, remaining=size, ordered=size, due=1, target=float(target[j]))
              for j, size in model.order_sequence([f"T{j}" for j in range(k)], target, held)]
    cash = float(cash_scale * 5e6)
    return orders, held, cash


def both_ways(monkeypatch, m, t, build):
    """fill_session with its array path, then with the rules alone, on fresh copies of the same orders."""
    out = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(model, "fill_whole_at_open", lambda *a, **k: None)
        orders, held, cash = build()
        fills, waiting, cash_after, stats = model.fill_session(m, t, orders, cash, held)
        out.append(([(f.order.j, f.shares, f.price, f.commission, f.participation, f.reference) for f in fills],
                    [o.j for o in waiting], cash_after, stats, held.tolist(),
                    [(o.status, o.remaining, o.notes, o.asked) for o in orders]))
        monkeypatch.undo()
    return out


@pytest.mark.parametrize("seed", range(30))
def test_the_array_path_is_the_rules_to_the_bit(seed, monkeypatch):
    rng = np.random.default_rng(seed)
    m = market(rng)

    def build():
        return orders_and_book(np.random.default_rng(seed + 1000), 12, cash_scale=1.0 + seed % 3)

    orders, held, cash = build()
    assert orders, "every case has orders"
    taken = model.fill_whole_at_open(m, 1, *build()[:1], cash, held.copy())
    fast, rules = both_ways(monkeypatch, m, 1, build)
    assert fast == rules
    if taken is not None:
        assert all(s == "filled" for s, *_ in fast[5])


def test_a_few_orders_go_to_the_rules_loop():
    rng = np.random.default_rng(7)
    m = market(rng)
    orders, held, _ = orders_and_book(np.random.default_rng(8), 12)
    assert model.fill_whole_at_open(m, 1, orders[: model.ARRAY_PATH_FROM - 1], 1e12, held) is None


def test_the_usual_session_takes_the_array_path():
    rng = np.random.default_rng(7)
    m = market(rng)
    orders, held, _ = orders_and_book(np.random.default_rng(8), 12)
    assert model.fill_whole_at_open(m, 1, orders, 1e12, held) is not None


@pytest.mark.parametrize("case", ["no trade", "limit", "cap", "tiered", "short cash", "ticks", "impact"])
def test_a_session_a_rule_can_bite_goes_to_the_rules(case, monkeypatch):
    rng = np.random.default_rng(3)
    k, n = 12, 3
    kwargs = {}
    if case == "no trade":
        volume = rng.uniform(1e4, 1e6, (n, k))
        volume[1, :] = 0.0
        kwargs["volume"] = volume
    m = market(rng, k, n, **kwargs)
    orders, held, cash = orders_and_book(np.random.default_rng(4), k)
    if case == "limit":
        buys = [o.j for o in orders if o.remaining > 0]
        m.upper[1, :] = m.open[1, :] * m.ratio[1, :] * 2
        m.lower[1, :] = 0.0
        m.upper[1, buys[0]] = m.open[1, buys[0]] * m.ratio[1, buys[0]]  # opens limit-up
    elif case == "cap":
        m.max_participation = 0.1
    elif case == "tiered":
        m.costs = CostModel("tiered", tiers=((None, 500.0),), half_spread_bps=5.0)
    elif case == "short cash":
        cash = -1e9  # not even the sells pay for the first buy
    elif case == "ticks":
        m.ticks = object()
    elif case == "impact":
        m.impact_coefficient = 0.5
    assert model.fill_whole_at_open(m, 1, orders, cash, held.copy()) is None
    if case == "limit":
        # an open away from a finite limit still fills on arrays, as the rules fill it
        m.upper[1, :] = m.open[1, :] * m.ratio[1, :] * 2

        def build():
            return orders_and_book(np.random.default_rng(4), k)

        fast, rules = both_ways(monkeypatch, m, 1, build)
        assert fast == rules
        assert model.fill_whole_at_open(m, 1, *build()[:1], math.inf, build()[1]) is not None
