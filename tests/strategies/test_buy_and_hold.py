"""BuyAndHold: one purchase on the first session, then nothing, whatever happens."""

from __future__ import annotations

import numpy as np

from strategies.buy_and_hold import BuyAndHold
from tests.strategies.conftest import (
    assert_no_lookahead,
    assert_trades_follow_decisions,
    assert_valid_weights,
    decisions,
    engine_run,
    grid_prices,
    make_events,
)

PRICES = grid_prices(["TOPIX", "1306", "1631"], n=30)
EVENTS = make_events(("boj", "hike", "2024-01-10T15:00:00+09:00"))


def test_buys_on_the_first_session_only():
    assert decisions(BuyAndHold, {}, PRICES, EVENTS) == {0: {"TOPIX": 1.0}}
    assert decisions(BuyAndHold, {"basket": ["1306", "1631"]}, PRICES, EVENTS) == {0: {"1306": 0.5, "1631": 0.5}}


def test_weights_long_only_and_full():
    for w in decisions(BuyAndHold, {"basket": ["1306", "1631"]}, PRICES, EVENTS).values():
        assert_valid_weights(w)
        assert abs(sum(w.values()) - 1) < 1e-12


def test_no_lookahead():
    assert_no_lookahead(BuyAndHold, {}, PRICES, EVENTS, [("boj", "cut", "2024-01-25T15:00:00+09:00")])


def test_engine_replicates_the_benchmark():
    prices = grid_prices(["TOPIX"], n=30)
    result = engine_run("buy_and_hold", {}, prices, None)
    assert_trades_follow_decisions(result, prices, {0: {"TOPIX": 1.0}})
    # the opening portfolio is bought at the first close, the price the benchmark is measured from
    assert len(result.trades) == 1 and str(result.trades["fill_date"][0]) == str(prices.sessions[0].date())
    assert result.trades["price"][0] == prices.close["TOPIX"].iloc[0]
    # so the portfolio moves with the index from the start (no costs; the cash left is under one unit)
    ret = result.returns
    assert np.allclose(ret.iloc[:, 0], ret["TOPIX"], atol=1e-4)
