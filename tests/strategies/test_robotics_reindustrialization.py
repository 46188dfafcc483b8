"""RoboticsReindustrialization: robotics overweight after US policy milestones, held or decaying."""

from __future__ import annotations

import pytest

from backtest.errors import ConfigError
from strategies.robotics_reindustrialization import RoboticsReindustrialization
from tests.conftest import make_spec
from tests.strategies.conftest import (
    assert_engine_follows_signal,
    assert_no_lookahead,
    assert_valid_weights,
    at,
    decisions,
    grid_prices,
    make_events,
)

BASKET = ["6954", "6506", "6861", "6273"]
PARAMS = {"basket": BASKET, "holding_sessions": 6, "overweight": 0.4}
PRICES = grid_prices(["TOPIX", *BASKET], n=45)
EVENTS = make_events(
    ("us_policy", "industrial_policy", "2024-01-09T09:00:00+09:00"),  # acts on 01-09
    ("us_policy", "tariff", "2024-01-12T09:00:00+09:00"),  # inside the window: extends it
    ("us_policy", "trade_deal", "2024-02-07T08:12:00+09:00"),  # acts on 02-07
    ("boj", "hike", "2024-02-16T15:00:00+09:00"),  # another family: ignored
)
OVER = {"TOPIX": 0.6, "6954": 0.1, "6506": 0.1, "6861": 0.1, "6273": 0.1}
BENCH = {"TOPIX": 1.0}


def test_milestones_open_windows_and_only_they():
    got = decisions(RoboticsReindustrialization, PARAMS, PRICES, EVENTS)
    start, tariff, deal = at(PRICES, "2024-01-09"), at(PRICES, "2024-01-12"), at(PRICES, "2024-02-07")
    assert got == {0: BENCH, start: OVER, tariff + 6: BENCH, deal: OVER, deal + 6: BENCH}


def test_kinds_choose_the_milestones():
    got = decisions(RoboticsReindustrialization, {**PARAMS, "kinds": ["trade_deal"]}, PRICES, EVENTS)
    deal = at(PRICES, "2024-02-07")
    assert got == {0: BENCH, deal: OVER, deal + 6: BENCH}


def test_decay_halves_the_overweight_every_half_life():
    params = {**PARAMS, "kinds": ["trade_deal"], "holding_sessions": 12, "half_life_sessions": 4, "step_sessions": 4}
    got = decisions(RoboticsReindustrialization, params, PRICES, EVENTS)
    deal = at(PRICES, "2024-02-07")
    assert sorted(got) == [0, deal, deal + 4, deal + 8, deal + 12]
    assert [got[deal + k]["6954"] for k in (0, 4, 8)] == [0.1, 0.05, 0.025]
    assert got[deal + 8]["TOPIX"] == 0.9 and got[deal + 12] == BENCH


def test_a_new_event_restores_the_full_overweight():
    params = {**PARAMS, "holding_sessions": 20, "half_life_sessions": 2, "step_sessions": 2}
    got = decisions(RoboticsReindustrialization, params, PRICES, EVENTS)
    tariff = at(PRICES, "2024-01-12")
    assert got[at(PRICES, "2024-01-09") + 2]["6954"] == 0.05
    assert got[tariff]["6954"] == 0.1


def test_weights_long_only_sum_and_cap():
    got = decisions(RoboticsReindustrialization, {**PARAMS, "overweight": 1.0, "max_weight": 0.2}, PRICES, EVENTS)
    assert got[at(PRICES, "2024-01-09")] == {"TOPIX": 0.2, "6954": 0.2, "6506": 0.2, "6861": 0.2, "6273": 0.2}
    for w in got.values():
        assert_valid_weights(w, max_weight=0.2)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"params.basket: the basket is empty"):
        make_spec("robotics_reindustrialization", {"basket": []})
    with pytest.raises(ConfigError, match=r"params.half_life_sessions: expected a whole number"):
        make_spec("robotics_reindustrialization", {"half_life_sessions": 2.5})


def test_no_lookahead():
    extra = [("us_policy", "tariff", "2024-01-30T09:00:00+09:00"),
             ("us_policy", "industrial_policy", "2024-02-21T09:00:00+09:00")]
    assert_no_lookahead(RoboticsReindustrialization, {**PARAMS, "half_life_sessions": 3, "step_sessions": 2},
                        PRICES, EVENTS, extra)


def test_engine_trades_only_after_the_signal_session():
    result = assert_engine_follows_signal(RoboticsReindustrialization, PARAMS, PRICES, EVENTS, "6954", "2024-01-09")
    # stocks trade in units of 100 shares
    assert (result.trades.loc[result.trades["ticker"] == "6954", "shares"] % 100 == 0).all()
