"""EqualWeight: equal weights on the first session and on the first session of each rebalance month."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.errors import ConfigError
from strategies.equal_weight import EqualWeight
from tests.conftest import make_spec
from tests.strategies.conftest import (
    assert_no_lookahead,
    assert_trades_follow_decisions,
    assert_valid_weights,
    decisions,
    engine_run,
    grid_prices,
)

BASKET = ["1617", "1618", "1619", "1620"]
PRICES = grid_prices(["TOPIX", *BASKET], n=140, start="2024-01-04")  # into mid-July 2024
EQUAL = {t: 0.25 for t in BASKET}


def first_sessions(months) -> list[int]:
    s = pd.Series(PRICES.sessions)
    return [int(s[(s.dt.year == 2024) & (s.dt.month == m)].index[0]) for m in months]


def fills_of(months) -> list[int]:
    """The opening portfolio at bar 0, then each month's rebalance, decided at its first close, fills the next session."""
    return [0] + [i + 1 for i in first_sessions(months)[1:]]


@pytest.mark.parametrize(
    "every, months", [(1, [1, 2, 3, 4, 5, 6, 7]), (3, [1, 4, 7]), (2, [1, 3, 5, 7]), (12, [1]), (0, [1])]
)
def test_rebalances_on_the_first_session_of_the_month(every, months):
    got = decisions(EqualWeight, {"basket": BASKET, "rebalance_months": every}, PRICES)
    assert sorted(got) == fills_of(months)
    assert all(w == EQUAL for w in got.values())


def test_first_session_mid_month_still_buys():
    prices = grid_prices(["TOPIX", *BASKET], n=30, start="2024-01-17")
    got = decisions(EqualWeight, {"basket": BASKET}, prices)
    assert sorted(got) == [0, int(prices.sessions.searchsorted(pd.Timestamp("2024-02-01"))) + 1]


def test_weights_sum_and_cap():
    got = decisions(EqualWeight, {"basket": BASKET, "max_weight": 0.2}, PRICES)
    for w in got.values():
        assert w == pytest.approx({**{t: 0.2 for t in BASKET}, "TOPIX": 0.2})
        assert_valid_weights(w, max_weight=0.2)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"params.rebalance_months: 5 does not divide the year"):
        make_spec("equal_weight", {"rebalance_months": 5})


def test_no_lookahead():
    assert_no_lookahead(EqualWeight, {"basket": BASKET}, PRICES, None, [], cuts=[0, 15, 19, 20, 60, 100])


def test_engine_trades_only_after_the_signal_session():
    params = {"basket": BASKET}
    result = engine_run("equal_weight", params, PRICES, None)
    assert_trades_follow_decisions(result, PRICES, decisions(EqualWeight, params, PRICES))


@pytest.mark.parametrize("rebalance", ["on_change", "monthly", "daily"])
@pytest.mark.parametrize("every", [0, 1, 3, 12])
def test_asking_only_where_the_calendar_can_act_changes_no_decision(every, rebalance):
    """may_act is rebalance_due on arrays: the engines that ask the theme only there decide as if they asked
    at every point, pre-open points included."""
    import numpy as np

    from backtest.data import DataSource, load_prices
    from backtest.events.calendar import load_events
    from backtest.execution.screening import prepare

    spec = make_spec("equal_weight", {"basket": BASKET, "rebalance_months": every}, rebalance=rebalance)
    prices = load_prices(DataSource("demo"), spec.tickers, "2022-11-01", "2024-03-29")
    run = prepare(spec, prices, load_events())
    assert run.pre_open_sessions, "the case holds pre-open points"
    acts = run.theme_acts()
    assert [bool(acts[p]) for p in run.points()] == [run.theme.rebalance_due(run.view(p)) for p in run.points()]
    everywhere = run.for_theme(spec.theme_cls(**spec.params))
    everywhere._acts = None  # no calendar: the theme is asked at every point
    expected = {p: w for p in everywhere.points() if (w := everywhere.decide(p)) is not None}
    asked = run.for_theme(spec.theme_cls(**spec.params))
    got = {p: w for p in asked.asked_points() if (w := asked.decide(p)) is not None}
    assert list(got) == list(expected) and got
    for p in expected:
        np.testing.assert_array_equal(got[p], expected[p])
