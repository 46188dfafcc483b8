"""ExporterDomesticRotation: event triggers pick a side for a window; the yen's trend picks it in between."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.errors import ConfigError
from strategies.exporter_domestic_rotation import ExporterDomesticRotation
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

EXPORTERS = ["1622", "1625"]
DOMESTIC = ["1630", "1617"]
PARAMS = {"exporter_basket": EXPORTERS, "domestic_basket": DOMESTIC, "holding_sessions": 5,
          "wage_triggers": ["shunto", "real_wages", "nominal_wages"]}
# USD/JPY (yen per dollar): flat for 20 sessions, up 1% a session for 10 (the yen weakens), then down.
N = 45
USDJPY = [150.0] * 20 + [150.0 * 1.01**k for k in range(1, 11)] + [150.0 * 1.01**10 * 0.99**k for k in range(1, 16)]
PRICES = grid_prices(["TOPIX", *EXPORTERS, *DOMESTIC], n=N, closes={"USDJPY": USDJPY})
EVENTS = make_events(
    ("us_policy", "tariff", "2024-01-10T09:00:00+09:00"),  # acts on 01-10
    ("shunto", "first_tally", "2024-01-12T17:00:00+09:00", 2.0),  # weak
    ("us_policy", "trade_deal", "2024-01-17T08:12:00+09:00"),  # acts on 01-17, ends the tariff window
    ("wages", "monthly_survey", "2024-02-06T08:30:00+09:00", 0.5, 3.5),  # strong: acts on 02-06
)
EXP = {"1622": 0.5, "1625": 0.5}
DOM = {"1630": 0.5, "1617": 0.5}
BENCH = {"TOPIX": 1.0}


def test_events_pick_the_side_for_a_window():
    got = decisions(ExporterDomesticRotation, PARAMS, PRICES, EVENTS)
    tariff, deal, wages = at(PRICES, "2024-01-10"), at(PRICES, "2024-01-17"), at(PRICES, "2024-02-06")
    assert got == {0: BENCH, tariff: DOM, deal: EXP, deal + 5: BENCH, wages: DOM, wages + 5: BENCH}


def test_triggers_are_configurable():
    params = {**PARAMS, "domestic_on": ["us_policy"], "exporter_on": []}
    got = decisions(ExporterDomesticRotation, params, PRICES, EVENTS)
    tariff, deal = at(PRICES, "2024-01-10"), at(PRICES, "2024-01-17")
    # the tariff's window (sessions 01-10 to 01-16) ends at 01-16's close; the deal, known before
    # 01-17's open, restores the domestic side at that open (the exit orders never fill)
    assert got == {0: BENCH, tariff: DOM, deal: DOM, deal + 5: BENCH}


def test_two_sides_at_one_decision_point_leave_it_to_the_yen():
    events = make_events(("us_policy", "tariff", "2024-01-10T09:00:00+09:00"),
                         ("us_policy", "trade_deal", "2024-01-10T08:30:00+09:00"))
    assert decisions(ExporterDomesticRotation, PARAMS, PRICES, events) == {0: BENCH}


def test_yen_trend_between_events():
    params = {**PARAMS, "domestic_on": [], "exporter_on": [], "fx_series": "USDJPY", "fx_trend_sessions": 5,
              "fx_band_pct": 1.0}
    got = decisions(ExporterDomesticRotation, params, PRICES, None)
    closes = np.array(USDJPY)
    expected_side = []
    for i in range(N):
        window = closes[max(0, i - 4): i + 1]
        gap = (window[-1] / window.mean() - 1) * 100 if len(window) == 5 else 0.0
        expected_side.append("exp" if gap > 1 else "dom" if gap < -1 else "bench")
    # decided at a close, filled at the next open
    changes = {0: expected_side[0]} | {i + 1: s for i, s in enumerate(expected_side) if i and s != expected_side[i - 1]}
    as_weights = {"exp": EXP, "dom": DOM, "bench": BENCH}
    assert got == {i: as_weights[s] for i, s in changes.items()}
    assert "exp" in changes.values() and "dom" in changes.values()


def test_fx_invert_flips_the_sides():
    params = {**PARAMS, "domestic_on": [], "exporter_on": [], "fx_series": "USDJPY", "fx_trend_sessions": 5}
    plain = decisions(ExporterDomesticRotation, params, PRICES, None)
    flipped = decisions(ExporterDomesticRotation, {**params, "fx_invert": True}, PRICES, None)
    swap = {"1622": "1630", "1625": "1617", "1630": "1622", "1617": "1625", "TOPIX": "TOPIX"}
    assert flipped == {i: {swap[t]: x for t, x in w.items()} for i, w in plain.items()}


def test_events_override_the_yen():
    params = {**PARAMS, "fx_series": "USDJPY", "fx_trend_sessions": 5}
    got = decisions(ExporterDomesticRotation, params, PRICES, EVENTS)
    wages = at(PRICES, "2024-02-06")  # the yen trend says exporters here
    assert got[wages] == DOM


def test_fx_series_is_read_not_traded():
    spec = make_spec("exporter_domestic_rotation", {**PARAMS, "fx_series": "USDJPY"})
    assert "USDJPY" in spec.tickers
    params = {**PARAMS, "fx_series": "USDJPY", "fx_trend_sessions": 5}
    for w in decisions(ExporterDomesticRotation, params, PRICES, EVENTS).values():
        assert "USDJPY" not in w


def test_weights_long_only_sum_and_cap():
    params = {**PARAMS, "overweight": 0.6, "max_weight": 0.2}
    got = decisions(ExporterDomesticRotation, params, PRICES, EVENTS)
    assert got[at(PRICES, "2024-01-10")] == {"TOPIX": 0.6, "1630": 0.2, "1617": 0.2}
    for w in got.values():
        assert_valid_weights(w, max_weight=0.2)


def test_config_errors():
    with pytest.raises(ConfigError, match=r"params.domestic_on: 'US policy' is not a trigger"):
        make_spec("exporter_domestic_rotation", {"domestic_on": ["US policy"]})
    with pytest.raises(ConfigError, match=r"params.exporter_on: us_policy:tariff is also in domestic_on"):
        make_spec("exporter_domestic_rotation", {"exporter_on": ["us_policy:tariff"]})
    with pytest.raises(ConfigError, match=r"params.fx_series: 1622 is in a basket"):
        make_spec("exporter_domestic_rotation", {"fx_series": "1622"})


def test_strong_wages_reads_only_shunto_by_default():
    params = {k: v for k, v in PARAMS.items() if k != "wage_triggers"}
    got = decisions(ExporterDomesticRotation, params, PRICES, EVENTS)
    assert at(PRICES, "2024-02-06") not in got  # the monthly wage print is not read
    strong = make_events(("shunto", "first_tally", "2024-02-02T17:00:00+09:00", 5.0))
    got = decisions(ExporterDomesticRotation, params, PRICES, strong)
    assert got[at(PRICES, "2024-02-05")] == DOM


def test_wage_trigger_errors():
    with pytest.raises(ConfigError, match=r"params.wage_triggers: unknown choice 'real_wage'. Did you mean"):
        make_spec("exporter_domestic_rotation", {"wage_triggers": ["real_wage"]})
    with pytest.raises(ConfigError, match=r"params.wage_triggers: strong_wages needs a wage trigger"):
        make_spec("exporter_domestic_rotation", {"wage_triggers": []})
    make_spec("exporter_domestic_rotation", {"wage_triggers": [], "domestic_on": ["us_policy:tariff"]})


def test_no_lookahead():
    params = {**PARAMS, "fx_series": "USDJPY", "fx_trend_sessions": 5}
    extra = [("us_policy", "tariff", "2024-02-13T09:00:00+09:00"),
             ("wages", "monthly_survey", "2024-01-24T08:30:00+09:00", 2.0, 5.0)]
    assert_no_lookahead(ExporterDomesticRotation, params, PRICES, EVENTS, extra)


def test_engine_trades_only_after_the_signal_session():
    params = {**PARAMS, "fx_series": "USDJPY", "fx_trend_sessions": 5}
    result = assert_engine_follows_signal(ExporterDomesticRotation, params, PRICES, EVENTS, "1630", "2024-01-10")
    assert "USDJPY" not in set(result.trades["ticker"])
