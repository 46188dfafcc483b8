"""The shared signal pieces and the test helpers themselves: filtered event ages, trends, caps, look-ahead."""

from __future__ import annotations

import pandas as pd
import pytest

from backtest.market import calendar
from backtest.errors import ConfigError
from strategies.signals import check_choices, decide_all, sessions_since_above, strong_wages_since, trend
from strategies.base import ThemeStrategy
from strategies.view import MarketView
from strategies.weights import capped, overweight
from tests.strategies.conftest import assert_no_lookahead, grid_prices, make_events

PRICES = grid_prices(["TOPIX", "AAA"], n=20, closes={"FX": [100.0] * 10 + [100.0 + 2 * k for k in range(1, 11)]})
EVENTS = make_events(
    ("shunto", "first_tally", "2023-12-20T17:00:00+09:00", 4.0),  # before the grid
    ("shunto", "first_tally", "2024-01-11T17:00:00+09:00", 1.0),  # weak; after 01-11's close: trades at 01-12's open
    ("wages", "monthly_survey", "2024-01-16T08:30:00+09:00", 0.2, 1.0),  # real > 0; before 01-16's open
)
CLOCK = EVENTS.as_of(PRICES.sessions)


def view(i: int) -> MarketView:
    return MarketView(PRICES, CLOCK, "TOPIX", i)


def test_sessions_since_above_skips_weak_events_and_counts_before_the_grid():
    # known after 12-20's close: its decision saw 12-20's close and traded at 12-21's open
    before = len(calendar.sessions("2023-12-20", "2024-01-04")) - 1
    got = [sessions_since_above(view(i), "shunto", "first_tally", "value", 3.0) for i in range(6)]
    assert got == [before + i for i in range(6)]
    assert sessions_since_above(view(3), "shunto", "first_tally", "value", 5.0) is None
    # 01-12 is bar 5; the tally was out before its open, so its age is 0 there and 1 at its close
    assert sessions_since_above(MarketView.at_point(PRICES, CLOCK, "TOPIX", 10), "shunto", "first_tally", "value", 0.5) == 0
    assert sessions_since_above(view(5), "shunto", "first_tally", "value", 0.5) == 1


def test_strong_wages_takes_the_latest_trigger():
    wages = int(PRICES.sessions.get_loc(calendar.sessions("2024-01-16", "2024-01-16")[0]))
    args = (3.0, 0.0, 3.0)
    before_open = MarketView.at_point(PRICES, CLOCK, "TOPIX", 2 * wages)
    assert strong_wages_since(before_open, ("shunto", "real_wages"), *args) == 0
    assert strong_wages_since(view(wages), ("shunto", "real_wages"), *args) == 1
    assert strong_wages_since(view(wages), ("shunto",), *args) > 10
    assert strong_wages_since(view(wages), ("nominal_wages",), *args) is None


def test_trend_needs_a_full_window_and_a_clear_gap():
    assert trend(view(3), "FX", 5, 1.0) == 0  # four closes only
    assert trend(view(9), "FX", 5, 1.0) == 0  # flat
    assert trend(view(12), "FX", 5, 1.0) == 1
    assert trend(view(12), "FX", 5, 50.0) == 0


def test_capped_moves_the_excess_to_the_spill():
    assert capped({"A": 0.5, "B": 0.3, "T": 0.2}, 0.25, "T") == pytest.approx({"A": 0.25, "B": 0.25, "T": 0.5})
    assert capped(overweight(["A"], "T", 1.0), 0.4, "T") == pytest.approx({"A": 0.4, "T": 0.6})
    assert capped({"A": 0.5}, 0.6, "T") == {"A": 0.5}


def test_check_choices_suggests():
    with pytest.raises(ConfigError, match="unknown choice 'real_wage'. Did you mean 'real_wages'"):
        check_choices(["real_wage"], ("shunto", "real_wages"), "f.yaml", "params.triggers")


class PeeksAtPrices(ThemeStrategy):
    """Test theme: buys AAA when tomorrow's close is higher (impossible in real life)."""

    params = dict()

    def target_weights(self, view):
        close = view._prices.close["AAA"]
        nxt = close.iloc[min(view.position + 1, len(close) - 1)]
        return {"AAA": 1.0} if nxt > close.iloc[view.position] else {"TOPIX": 1.0}


class PeeksAtEvents(ThemeStrategy):
    """Test theme: holds AAA if any boj event exists at all, known or not."""

    params = dict()

    def target_weights(self, view):
        return {"AAA": 1.0} if len(view.events._clock.known(len(view._prices.sessions) - 1, "boj")) else None


def test_the_look_ahead_check_catches_a_theme_that_peeks():
    events = make_events(("boj", "hike", "2024-01-05T15:00:00+09:00"))
    with pytest.raises(AssertionError):
        assert_no_lookahead(PeeksAtPrices, {}, PRICES, events, [])
    with pytest.raises(AssertionError):
        wages_only = make_events(("wages", "monthly_survey", "2024-01-05T08:30:00+09:00"))
        assert_no_lookahead(PeeksAtEvents, {}, PRICES, wages_only, [("boj", "hike", "2024-01-25T15:00:00+09:00")])


def test_decide_all_validates_params():
    from strategies.boj_rotation import BojRotation

    with pytest.raises(ConfigError, match="params.holding_sessions"):
        decide_all(BojRotation, {"holding_sessions": 0}, PRICES, EVENTS)
    decided = decide_all(BojRotation, {"basket": ["AAA"]}, PRICES, EVENTS)
    wages = int(PRICES.sessions.get_loc(pd.Timestamp("2024-01-16")))
    closes = [2 * i + 1 for i in range(len(PRICES.sessions))]
    # the opening, every close, and the pre-opens of the sessions with news before their open (01-12, 01-16)
    assert sorted(decided) == sorted([0, *closes, 2 * 5, 2 * wages]) and decided[0] == {"TOPIX": 1.0}


def test_trend_skips_sessions_without_a_close():
    fx = [100.0] * 10 + [100.0 + 2 * k for k in range(1, 11)]
    fx[11] = float("nan")
    prices = grid_prices(["TOPIX"], n=20, closes={"FX": fx})
    gappy = MarketView(prices, None, "TOPIX", 13)
    assert trend(gappy, "FX", 5, 1.0) == 1
