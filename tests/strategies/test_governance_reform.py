"""GovernanceReform: the low-P/B basket after governance milestones, for a window or for good."""

from __future__ import annotations

import pytest

from backtest.errors import ConfigError
from strategies.governance_reform import GovernanceReform
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

BASKET = ["8306", "8316", "8411", "8766"]
# A hand-made calendar has only some kinds, and the calendar refuses a query for a kind it lacks.
KINDS = ["cost_of_capital_request", "governance_code_revision"]
PARAMS = {"basket": BASKET, "holding_sessions": 5, "overweight": 0.8, "kinds": KINDS}
PRICES = grid_prices(["TOPIX", *BASKET], n=45)
EVENTS = make_events(
    ("governance", "stewardship_code", "2024-01-10T17:00:00+09:00"),  # not among the default kinds
    ("governance", "cost_of_capital_request", "2024-01-19T17:00:00+09:00"),  # Friday 17:00: acts on 01-22
    ("governance", "governance_code_revision", "2024-02-14T17:00:00+09:00"),  # acts on 02-15
)
OVER = {"TOPIX": 0.2, "8306": 0.2, "8316": 0.2, "8411": 0.2, "8766": 0.2}
BENCH = {"TOPIX": 1.0}


def test_milestones_open_windows_and_only_they():
    got = decisions(GovernanceReform, PARAMS, PRICES, EVENTS)
    request, revision = at(PRICES, "2024-01-22"), at(PRICES, "2024-02-15")
    assert got == {0: BENCH, request: OVER, request + 5: BENCH, revision: OVER, revision + 5: BENCH}


def test_holding_zero_holds_from_the_first_milestone_on():
    got = decisions(GovernanceReform, {**PARAMS, "holding_sessions": 0}, PRICES, EVENTS)
    assert got == {0: BENCH, at(PRICES, "2024-01-22"): OVER}


def test_kinds_choose_the_milestones():
    got = decisions(GovernanceReform, {**PARAMS, "kinds": ["stewardship_code"]}, PRICES, EVENTS)
    start = at(PRICES, "2024-01-11")
    assert got == {0: BENCH, start: OVER, start + 5: BENCH}


def test_weights_long_only_sum_and_cap():
    got = decisions(GovernanceReform, {**PARAMS, "max_weight": 0.15}, PRICES, EVENTS)
    assert got[at(PRICES, "2024-01-22")] == {"TOPIX": 0.4, "8306": 0.15, "8316": 0.15, "8411": 0.15, "8766": 0.15}
    for w in got.values():
        assert_valid_weights(w, max_weight=0.15)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"params.kinds: no event kinds"):
        make_spec("governance_reform", {"kinds": []})
    with pytest.raises(ConfigError, match=r"params.holding_sessions: expected a value from 0 to 10000"):
        make_spec("governance_reform", {"holding_sessions": -1})


def test_no_lookahead():
    extra = [("governance", "cost_of_capital_request", "2024-02-01T17:00:00+09:00"),
             ("governance", "governance_code_revision", "2024-02-26T17:00:00+09:00")]
    assert_no_lookahead(GovernanceReform, PARAMS, PRICES, EVENTS, extra)


def test_engine_trades_only_after_the_signal_session():
    assert_engine_follows_signal(GovernanceReform, PARAMS, PRICES, EVENTS, "8306", "2024-01-22")
