"""BojRotation: in after hikes, out after cuts when asked, from exactly the first session that can trade each event.

The `decisions` helper keys each rebalance by the session whose open fills it: news known by a close
fills at the next open, news known after a close (or overnight) at the next session's open.
"""

from __future__ import annotations

import pytest

from backtest.market import calendar
from backtest.errors import ConfigError
from strategies.boj_rotation import BojRotation
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

BASKET = {"1631": 0.5, "1632": 0.5}
PRICES = grid_prices(["TOPIX", "1631", "1632", "1617", "1627"])
EVENTS = make_events(
    ("boj", "hike", "2024-01-10T15:00:00+09:00", 0.25),  # at the close: decided at 01-10's close, fills 01-11
    ("boj", "framework", "2024-01-23T15:00:00+09:00", 0.25),  # fills 01-24
    ("boj", "cut", "2024-01-31T15:48:00+09:00", 0.1),  # after the close: fills at 02-01's open
    ("boj", "hike", "2024-02-09T18:00:00+09:00", 0.25),  # Friday evening; 02-12 a holiday: fills at 02-13's open
)


def test_hikes_rotate_in_for_holding_sessions():
    got = decisions(BojRotation, {"holding_sessions": 5}, PRICES, EVENTS)
    hike1, hike2 = at(PRICES, "2024-01-11"), at(PRICES, "2024-02-13")
    bench = {"TOPIX": 1.0}
    assert got == {0: bench, hike1: BASKET, hike1 + 5: bench, hike2: BASKET, hike2 + 5: bench}


def test_default_is_the_first_slice_rule():
    """With no out_kinds: the basket exactly while the latest hike is under holding_sessions old."""
    decided = decisions(BojRotation, {"holding_sessions": 5}, PRICES, EVENTS)
    clock = EVENTS.as_of(PRICES.sessions)
    state, held = None, []
    for i in range(len(PRICES.sessions) - 1):
        state = decided.get(i + 1, state)  # what session i+1 holds from its open
        since = clock.sessions_since(i, "boj", ("hike",), point=2 * (i + 1))  # known before that open
        held.append(state == BASKET)
        assert held[-1] == (since is not None and since < 5), i


def test_any_subset_of_kinds():
    got = decisions(BojRotation, {"holding_sessions": 3, "kinds": ["framework", "cut"]}, PRICES, EVENTS)
    fw, cut = at(PRICES, "2024-01-24"), at(PRICES, "2024-02-01")
    assert got == {0: {"TOPIX": 1.0}, fw: BASKET, fw + 3: {"TOPIX": 1.0}, cut: BASKET, cut + 3: {"TOPIX": 1.0}}


def test_a_cut_rotates_out_at_once():
    params = {"holding_sessions": 20, "out_kinds": ["cut"], "out_basket": ["1617", "1627"]}
    got = decisions(BojRotation, params, PRICES, EVENTS)
    hike1, cut, hike2 = at(PRICES, "2024-01-11"), at(PRICES, "2024-02-01"), at(PRICES, "2024-02-13")
    out = {"1617": 0.5, "1627": 0.5}
    assert got == {0: {"TOPIX": 1.0}, hike1: BASKET, cut: out, hike2: BASKET}


def test_rotating_out_without_out_basket_means_the_benchmark():
    got = decisions(BojRotation, {"holding_sessions": 20, "out_kinds": ["cut"]}, PRICES, EVENTS)
    assert got[at(PRICES, "2024-02-01")] == {"TOPIX": 1.0}


def test_a_hike_before_the_grid_counts_real_sessions():
    events = make_events(("boj", "hike", "2023-12-27T15:00:00+09:00"))
    got = decisions(BojRotation, {"holding_sessions": 6}, PRICES, events)
    # 2023-12-27, 28, 29 are sessions before the grid (12-29 the last of the year), so bar 0 is the 4th:
    # the opening portfolio is in the basket, and bar 3's close (6 sessions on) decides the way out.
    assert len(calendar.sessions("2023-12-27", "2024-01-04")) == 4
    assert got == {0: BASKET, 4: {"TOPIX": 1.0}}


def test_weights_respect_max_weight():
    got = decisions(BojRotation, {"holding_sessions": 5, "max_weight": 0.3}, PRICES, EVENTS)
    weights = got[at(PRICES, "2024-01-11")]
    assert weights == pytest.approx({"1631": 0.3, "1632": 0.3, "TOPIX": 0.4})
    for w in got.values():
        assert_valid_weights(w, max_weight=0.3)


def test_kinds_in_both_lists_is_an_error():
    with pytest.raises(ConfigError, match=r"params.out_kinds: hike is also in kinds"):
        make_spec("boj_rotation", {"out_kinds": ["hike"]})


def test_no_lookahead():
    extra = [("boj", "cut", "2024-02-20T15:00:00+09:00"), ("boj", "hike", "2024-01-17T15:00:00+09:00")]
    params = {"holding_sessions": 4, "out_kinds": ["cut"], "out_basket": ["1617"]}
    assert_no_lookahead(BojRotation, params, PRICES, EVENTS, extra)


def test_engine_trades_only_after_the_signal_session():
    params = {"holding_sessions": 5}
    assert_engine_follows_signal(BojRotation, params, PRICES, EVENTS, "1631", "2024-01-11")


def test_news_after_the_close_fills_at_the_next_open_not_a_session_later():
    """The 02-09 hike was known at 18:00 on a Friday: the first open after it (02-13) fills it."""
    params = {"holding_sessions": 5, "kinds": ["hike"]}
    result = assert_engine_follows_signal(BojRotation, params, PRICES, make_events(("boj", "hike", "2024-02-09T18:00:00+09:00")), "1631", "2024-02-13")
    first = result.orders[result.orders["ticker"] == "1631"].iloc[0]
    assert str(first["asof"]) == "2024-02-09"  # sized on the last close known before that open
