"""Cost presets: each charges exactly its schedule, in the model and on hand-computed engine orders."""

from __future__ import annotations

import pytest

from backtest.config import spec_from_mapping
from backtest.market.costs import presets
from backtest.execution.backtrader.engine import run_backtest
from backtest.errors import ConfigError
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from tests.conftest import make_prices, make_spec


@register_theme("costs_buy_once")
class BuyOnce(ThemeStrategy):
    """Test theme: all in the benchmark from the first session."""

    params = dict()

    def target_weights(self, view):
        return {view.benchmark: 1.0} if view.is_first else None


def _model(preset, **kw):
    return spec_from_mapping({"theme": "costs_buy_once", "execution": {"costs": {"preset": preset, **kw}}}).costs


@pytest.mark.parametrize("value,fee", [(1, 183), (100_000, 183), (100_001, 419), (500_000, 419), (999_999, 754),
                                       (1_500_000, 1048), (1_500_001, 1414), (3e9, 1414)])
def test_tiered_preset_charges_the_broker_schedule_per_order(value, fee):
    assert _model("tiered").commission(value) == fee


@pytest.mark.parametrize("value,fee", [(100_000, 2200), (173_913, 2200), (400_000, 5060), (1_000_000, 12650)])
def test_percent_preset_charges_the_rate_with_a_minimum(value, fee):
    assert _model("percent").commission(value) == pytest.approx(fee)


def test_zero_preset_charges_nothing_and_is_the_default():
    default = spec_from_mapping({"theme": "costs_buy_once"}).costs
    assert default.preset == "zero" and default.commission(5e7) == 0
    assert default.half_spread_bps == presets()["half_spread_bps"] == 5


def test_the_simple_model_is_a_percentage_with_no_minimum():
    model = spec_from_mapping({"theme": "costs_buy_once", "execution": {"commission_bps": 10, "slippage_bps": 5}}).costs
    assert model.commission(100_000) == pytest.approx(100.0) and model.half_spread_bps == 5


def _one_buy(cash, costs, ticks=True, volume=None):
    prices = make_prices({"AAA": [1000.0, 1000.0, 1010.0]}, opens={"AAA": [1000.0, 1000.0, 1005.0]},
                         volume={"AAA": volume or [1e6] * 3}, spread=0.01)
    spec = make_spec("costs_buy_once", benchmark="AAA", cash_jpy=cash, costs=costs, ticks=ticks,
                     lot_sizes={"AAA": 100})
    result = run_backtest(spec, prices)
    return prices, result, result.trades.iloc[0]


def test_tiered_order_hand_computed():
    # ¥500,000: sized on 1,000 + one tick and the 419 fee, 400 shares; 400 x 1,000 = 400,000 -> 419
    prices, result, fill = _one_buy(500_000, {"preset": "tiered", "half_spread_bps": 0})
    assert (fill["shares"], fill["price"], fill["commission_jpy"]) == (400, 1000.0, 419.0)
    assert result.values.iloc[1] == pytest.approx(500_000 - 400_000 - 419 + 400 * 1000.0)


def test_percent_order_below_the_minimum_pays_the_minimum():
    prices, result, fill = _one_buy(150_000, {"preset": "percent", "half_spread_bps": 0})
    assert (fill["shares"], fill["price"], fill["commission_jpy"]) == (100, 1000.0, 2200.0)
    assert result.values.iloc[1] == pytest.approx(150_000 - 100_000 - 2200 + 100 * 1000.0)


def test_zero_preset_half_spread_rounds_up_to_the_next_tick():
    prices, result, fill = _one_buy(500_000, {"preset": "zero", "half_spread_bps": 5})
    assert fill["price"] == 1001.0, "1,000 x 1.0005 = 1,000.5, rounded up onto the 1-yen grid"
    assert fill["commission_jpy"] == 0.0


def test_impact_scales_with_the_share_of_the_sessions_volume():
    # 400 shares of 100,000 traded is 0.4%: 5 bp + 10 bp x 0.4 = 9 bp on the open
    prices, result, fill = _one_buy(500_000, {"preset": "zero", "half_spread_bps": 5, "impact_bps": 10},
                                    ticks=False, volume=[1e5] * 3)
    assert fill["shares"] == 400
    assert fill["price"] == pytest.approx(1000.0 * 1.0009)


BAD = {
    "both_models": ({"commission_bps": 10, "costs": {"preset": "zero"}},
                    "execution.commission_bps: given together with execution.costs"),
    "tiers_unsorted": ({"costs": {"preset": "tiered", "tiers": [{"up_to_jpy": 500000, "fee_jpy": 400},
                                                                 {"up_to_jpy": 100000, "fee_jpy": 100},
                                                                 {"fee_jpy": 900}]}},
                       "execution.costs.tiers[1].up_to_jpy: 100000 is below the previous row's 500000: the rows are not sorted"),
    "tiers_overlapping": ({"costs": {"preset": "tiered", "tiers": [{"up_to_jpy": 100000, "fee_jpy": 100},
                                                                    {"up_to_jpy": 100000, "fee_jpy": 200},
                                                                    {"fee_jpy": 900}]}},
                          "execution.costs.tiers[1].up_to_jpy: overlaps the row before it"),
    "tiers_negative": ({"costs": {"preset": "tiered", "tiers": [{"up_to_jpy": 100000, "fee_jpy": -5}, {"fee_jpy": 900}]}},
                       "execution.costs.tiers[0].fee_jpy: must be a number 0 or more, got -5.0"),
    "rate_negative": ({"costs": {"preset": "percent", "rate_bps": -1}},
                      "execution.costs.rate_bps: Input should be greater than or equal to 0"),
    "rate_on_zero": ({"costs": {"preset": "zero", "rate_bps": 10}},
                     "execution.costs.rate_bps: only used by preset percent, not zero"),
    "unknown_preset": ({"costs": {"preset": "flat"}}, "execution.costs.preset: "),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_cost_table_is_named_with_its_fix(case):
    execution, message = BAD[case]
    with pytest.raises(ConfigError) as err:
        spec_from_mapping({"theme": "costs_buy_once", "execution": execution}, file="c.yaml")
    text = str(err.value)
    assert text.startswith("c.yaml: ") and message in text
    assert text.rstrip().endswith(".")
