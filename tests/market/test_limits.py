"""TSE daily price limits: the table by date, the band from the previous close, and limit days in the engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest.execution.backtrader.engine import run_backtest
from backtest.market.limits import limit_band, limit_width
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from tests.conftest import make_prices, make_spec


@pytest.mark.parametrize("base,day,width", [
    (99, "2024-01-04", 30), (100, "2024-01-04", 50), (699, "2024-01-04", 100), (999, "2024-01-04", 150),
    (1000, "2024-01-04", 300), (2991, "2024-01-04", 500), (5930, "2011-04-07", 1000), (7000, "2024-01-04", 1500),
    (10000, "2024-01-04", 3000), (49999, "2024-01-04", 7000), (5e7, "2024-01-04", 1e7),
    # the table replaced when arrowhead launched on 2010-01-04
    (999, "2009-12-30", 100), (1000, "2009-12-30", 200), (7000, "2009-12-30", 1000), (5e7, "2009-12-30", 1e7),
])
def test_limit_widths_follow_the_table_in_force_on_the_day(base, day, width):
    assert limit_width(base, day) == width


def test_the_band_is_set_from_the_previous_traded_close():
    grid = pd.DatetimeIndex(pd.to_datetime(["2024-01-04", "2024-01-05", "2024-01-09", "2024-01-10"]))
    close = pd.DataFrame({"A": [1000.0, np.nan, 1200.0, 1300.0]}, index=grid)
    lower, upper = limit_band(close)
    assert np.isnan(upper["A"].iloc[0])
    assert upper["A"].tolist()[1:] == [1300.0, 1300.0, 1500.0]
    assert lower["A"].tolist()[1:] == [700.0, 700.0, 900.0]


def test_the_lower_limit_never_goes_below_one_yen():
    grid = pd.DatetimeIndex(pd.to_datetime(["2024-01-04", "2024-01-05"]))
    lower, _ = limit_band(pd.DataFrame({"A": [20.0, 20.0]}, index=grid))
    assert lower["A"].iloc[1] == 1.0


@register_theme("limits_buy_b_first")
class BuyBFirst(ThemeStrategy):
    """Test theme: all in B, decided at the first session's close (so it fills at the second's open)."""

    params = dict(universe=("A", "B"))

    def target_weights(self, view):
        return {"B": 1.0} if view.point == 1 else None


@register_theme("limits_sell_b_second")
class SellBSecond(ThemeStrategy):
    """Test theme: all in B decided at the first session's close, all in A at the second's."""

    params = dict(universe=("A", "B"))

    def target_weights(self, view):
        return {1: {"B": 1.0}, 3: {"A": 1.0}}.get(view.point)


def _limit_up_prices():
    # B closes at 1,000 on day 0, opens and closes at the 1,300 limit on day 1, trades freely on day 2
    closes = {"A": [500.0] * 4, "B": [1000.0, 1300.0, 1000.0, 1010.0]}
    opens = {"A": [500.0] * 4, "B": [1000.0, 1300.0, 1000.0, 1005.0]}
    prices = make_prices(closes, opens=opens, spread=0.0)
    return prices


def test_a_buy_does_not_fill_at_a_limit_up_open_and_is_carried():
    prices = _limit_up_prices()
    result = run_backtest(make_spec("limits_buy_b_first", benchmark="A", max_participation=None, impact_coefficient=0), prices)
    (order,) = result.orders.itertuples()
    assert order.fill_date == prices.sessions[2].date(), "not on the limit-up day, the next session"
    assert order.status == "filled"
    assert "carried: opened limit-up at 1,300.0 on" in order.reason
    assert result.positions["B"].iloc[1] == 0 and result.positions["B"].iloc[2] > 0


def test_limit_action_cancel_cancels_and_records_the_order():
    prices = _limit_up_prices()
    result = run_backtest(make_spec("limits_buy_b_first", benchmark="A", max_participation=None, impact_coefficient=0, limit_action="cancel"), prices)
    (order,) = result.orders.itertuples()
    assert order.status == "cancelled: limit" and order.shares_filled == 0
    assert "cancelled: opened limit-up" in order.reason
    assert (result.positions["B"] == 0).all()


def test_with_limits_switched_off_the_limit_up_open_fills():
    prices = _limit_up_prices()
    result = run_backtest(make_spec("limits_buy_b_first", benchmark="A", max_participation=None, impact_coefficient=0, price_limits=False), prices)
    assert result.orders.iloc[0]["fill_date"] == prices.sessions[1].date()


def test_a_sell_does_not_fill_at_a_limit_down_open():
    closes = {"A": [500.0] * 5, "B": [1000.0, 1000.0, 700.0, 720.0, 730.0]}
    opens = {"A": [500.0] * 5, "B": [1000.0, 1000.0, 700.0, 710.0, 725.0]}
    prices = make_prices(closes, opens=opens, spread=0.0)
    result = run_backtest(make_spec("limits_sell_b_second", benchmark="A", max_participation=None, impact_coefficient=0), prices)
    sell = result.orders[(result.orders["ticker"] == "B") & (result.orders["side"] == "sell")].iloc[0]
    assert sell["fill_date"] == prices.sessions[3].date()
    assert "carried: opened limit-down at 700.0" in sell["reason"]


def test_a_fill_never_prints_beyond_the_daily_limit():
    # the open is one yen under the limit and the spread model would push the buy past it
    closes = {"A": [500.0] * 3, "B": [1000.0, 1290.0, 1290.0]}
    opens = {"A": [500.0] * 3, "B": [1000.0, 1299.0, 1290.0]}
    prices = make_prices(closes, opens=opens, spread=0.02)
    spec = make_spec("limits_buy_b_first", benchmark="A", max_participation=None, impact_coefficient=0, costs={"preset": "zero", "half_spread_bps": 50})
    fill = run_backtest(spec, prices).trades.iloc[0]
    assert fill["price"] == 1300.0
