"""DomesticDemandWages: domestic overweight exactly after wage prints above their thresholds."""

from __future__ import annotations

import pytest

from backtest.errors import ConfigError
from strategies.domestic_demand_wages import DomesticDemandWages
from tests.conftest import make_spec
from tests.strategies.conftest import (
    assert_engine_follows_signal,
    assert_no_lookahead,
    assert_valid_weights,
    at,
    decisions,
    engine_run,
    grid_prices,
    make_events,
)

DOMESTIC = ["1630", "1617", "1628"]
EXPORTERS = ["1622", "1625"]
PARAMS = {"domestic_basket": DOMESTIC, "exporter_basket": EXPORTERS, "holding_sessions": 5, "overweight": 0.6,
          "triggers": ["shunto", "real_wages", "nominal_wages"]}
PRICES = grid_prices(["TOPIX", *DOMESTIC, *EXPORTERS], n=45)
EVENTS = make_events(
    ("shunto", "first_tally", "2024-01-05T17:00:00+09:00", 2.5),  # weak: never fires
    ("wages", "monthly_survey", "2024-01-11T08:30:00+09:00", -0.5, 2.0),  # weak on both
    ("wages", "monthly_survey", "2024-01-19T08:30:00+09:00", 0.4, 2.5),  # real > 0: acts on 01-19
    ("shunto", "first_tally", "2024-02-02T17:00:00+09:00", 5.3),  # strong, after the close: acts on 02-05
    ("wages", "monthly_survey", "2024-02-20T08:30:00+09:00", -1.0, 3.5),  # nominal > 3: acts on 02-20
    ("shunto", "final_tally", "2024-02-26T17:00:00+09:00", 9.9),  # a final tally is not a trigger
)
OVER = {"TOPIX": 0.4, "1630": 0.2, "1617": 0.2, "1628": 0.2}
BENCH = {"TOPIX": 1.0}


def test_strong_prints_open_windows_and_only_they():
    got = decisions(DomesticDemandWages, PARAMS, PRICES, EVENTS)
    real, shunto, nominal = at(PRICES, "2024-01-19"), at(PRICES, "2024-02-05"), at(PRICES, "2024-02-20")
    assert got == {0: BENCH, real: OVER, real + 5: BENCH, shunto: OVER, shunto + 5: BENCH,
                   nominal: OVER, nominal + 5: BENCH}


@pytest.mark.parametrize(
    "triggers, days",
    [(["shunto"], ["2024-02-05"]), (["real_wages"], ["2024-01-19"]), (["nominal_wages"], ["2024-02-20"])],
)
def test_each_trigger_alone(triggers, days):
    got = decisions(DomesticDemandWages, {**PARAMS, "triggers": triggers}, PRICES, EVENTS)
    opened = [i for i, w in got.items() if w != BENCH]
    assert opened == [at(PRICES, d) for d in days]


def test_by_default_only_shunto_triggers():
    # the shipped monthly wage file is incomplete, so the default reads the complete shunto family only
    params = {k: v for k, v in PARAMS.items() if k != "triggers"}
    got = decisions(DomesticDemandWages, params, PRICES, EVENTS)
    assert [i for i, w in got.items() if w != BENCH] == [at(PRICES, "2024-02-05")]


def test_thresholds_are_strictly_above():
    params = {**PARAMS, "triggers": ["shunto"], "shunto_threshold": 5.3}
    assert decisions(DomesticDemandWages, params, PRICES, EVENTS) == {0: BENCH}
    params["shunto_threshold"] = 2.4
    opened = [i for i, w in decisions(DomesticDemandWages, params, PRICES, EVENTS).items() if w != BENCH]
    assert opened == [at(PRICES, "2024-01-09"), at(PRICES, "2024-02-05")]


def test_a_new_strong_print_inside_a_window_extends_it():
    events = make_events(("wages", "monthly_survey", "2024-01-19T08:30:00+09:00", 0.4, 2.5),
                         ("wages", "monthly_survey", "2024-01-23T08:30:00+09:00", 0.9, 2.5))
    got = decisions(DomesticDemandWages, PARAMS, PRICES, events)
    assert got == {0: BENCH, at(PRICES, "2024-01-19"): OVER, at(PRICES, "2024-01-23") + 5: BENCH}


def test_weights_long_only_sum_and_cap():
    got = decisions(DomesticDemandWages, {**PARAMS, "max_weight": 0.1}, PRICES, EVENTS)
    for w in got.values():
        assert_valid_weights(w, max_weight=0.1)
    assert got[at(PRICES, "2024-01-19")] == pytest.approx({"TOPIX": 0.7, "1630": 0.1, "1617": 0.1, "1628": 0.1})


def test_exporter_short_only_when_asked():
    got = decisions(DomesticDemandWages, {**PARAMS, "exporter_short": 0.2}, PRICES, EVENTS)
    w = got[at(PRICES, "2024-01-19")]
    assert w == pytest.approx({**OVER, "1622": -0.1, "1625": -0.1})
    assert_valid_weights(w, allow_short=True)
    for w in decisions(DomesticDemandWages, PARAMS, PRICES, EVENTS).values():
        assert_valid_weights(w)


def test_short_without_permission_is_refused_by_the_engine():
    from backtest.errors import StrategyError

    with pytest.raises(StrategyError, match="negative weight"):
        engine_run("domestic_demand_wages", {**PARAMS, "exporter_short": 0.2}, PRICES, EVENTS)


def test_short_run_when_allowed():
    params = {**PARAMS, "exporter_short": 0.2}
    result = engine_run("domestic_demand_wages", params, PRICES, EVENTS, allow_short=True, max_gross_leverage=1.5)
    short = result.positions.loc[PRICES.sessions[at(PRICES, "2024-01-19") + 1], "1622"]
    assert short < 0


def test_config_errors():
    with pytest.raises(ConfigError, match=r"params.triggers: unknown choice 'shunt'. Did you mean 'shunto'\?"):
        make_spec("domestic_demand_wages", {"triggers": ["shunt"]})
    with pytest.raises(ConfigError, match=r"params.overweight: expected a value from 0.0 to 1.0"):
        make_spec("domestic_demand_wages", {"overweight": 1.5})
    with pytest.raises(ConfigError, match=r"params.exporter_short: there is no exporter_basket"):
        make_spec("domestic_demand_wages", {"exporter_basket": [], "exporter_short": 0.1})


def test_no_lookahead():
    extra = [("wages", "monthly_survey", "2024-02-14T08:30:00+09:00", 2.0, 5.0),
             ("shunto", "first_tally", "2024-01-26T17:00:00+09:00", 6.0)]
    assert_no_lookahead(DomesticDemandWages, PARAMS, PRICES, EVENTS, extra)


def test_engine_trades_only_after_the_signal_session():
    assert_engine_follows_signal(DomesticDemandWages, PARAMS, PRICES, EVENTS, "1630", "2024-01-19")
