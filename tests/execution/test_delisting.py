"""A holding whose prices end (delisted) is sold at its last price, in both engines alike, and reported."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from backtest.execution.backtrader.engine import run_backtest
from backtest.execution.screening import run_fast
from tests.conftest import make_prices, make_spec

N, LAST = 30, 8  # 7203's prices end at session 8 of 30 (2024-01-04 .. 2024-02-15)


def _prices(volume_7203: float = 1e6):
    rng = np.random.default_rng(7)
    path = lambda: list(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, N))).round(1))  # noqa: E731
    gone = path()
    gone[LAST + 1:] = [np.nan] * (N - LAST - 1)
    return make_prices({"TOPIX": path(), "6758": path(), "7203": gone},
                       volume={"7203": [volume_7203] * N})


def _both(spec, prices):
    return run_backtest(spec, prices), run_fast(spec, prices)


def _spec(**execution):
    return make_spec("equal_weight", {"basket": ["6758", "7203"], "rebalance_months": 1},
                     commission_bps=0, slippage_bps=0, **execution)


def test_a_delisted_holding_leaves_the_portfolio_at_its_last_close_in_both_engines():
    prices = _prices()
    spec = _spec()
    bt_run, fast = _both(spec, prices)
    column = prices.tickers.index("7203")
    held = bt_run.positions["7203"].to_numpy()
    assert held[LAST - 1] > 0 and (held[LAST:] == 0).all()
    np.testing.assert_array_equal(fast.shares[:, column], held)
    last_close = float(prices.close["7203"].iloc[LAST])
    sale = bt_run.trades[(bt_run.trades["ticker"] == "7203") & (bt_run.trades["side"] == "sell")]
    assert len(sale) == 1
    assert sale["fill_date"].iloc[0] == prices.sessions[LAST].date()
    assert sale["price"].iloc[0] == pytest.approx(last_close)
    assert sale["shares"].iloc[0] == held[LAST - 1]
    # no cost, no slippage: the cash rises by exactly shares × last close at that close (nothing else trades then)
    cash = bt_run.values - bt_run.positions["6758"] * prices.close["6758"] - bt_run.positions["7203"] * prices.close[
        "7203"].fillna(0.0)
    assert cash.iloc[LAST] - cash.iloc[LAST - 1] == pytest.approx(held[LAST - 1] * last_close)
    # the orders record says why, in both engines, row for row
    orders, trades = fast.records.frames()
    pd.testing.assert_frame_equal(orders, bt_run.orders, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(trades, bt_run.trades, check_exact=False, rtol=1e-9)
    np.testing.assert_allclose(fast.values.to_numpy(), bt_run.values.to_numpy(), rtol=1e-9)
    exit_row = orders[(orders["ticker"] == "7203") & (orders["side"] == "sell")]
    assert exit_row["reason"].iloc[0].startswith("delisted: 7203's prices end on 2024-01-17")
    assert exit_row["status"].iloc[0] == "filled"
    # the February rebalance asks for 7203 again: refused, never sized on its stale last price
    refused = orders[(orders["ticker"] == "7203") & (orders["status"] == "refused")]
    assert len(refused) == 1 and refused["reason"].iloc[0].startswith("delisted: 7203's prices end on 2024-01-17")


def test_without_the_sale_the_position_would_have_stayed_at_a_stale_price():
    # the independent check: shares held after the last close are worth nothing in a portfolio that
    # only holds 6758 and cash; value = cash + 6758 shares × close, exactly, on every later session
    prices = _prices()
    bt_run, _ = _both(_spec(), prices)
    later = slice(LAST + 1, 20)  # before the February rebalance
    cash = bt_run.values.iloc[later] - bt_run.positions["6758"].iloc[later] * prices.close["6758"].iloc[later]
    assert np.allclose(cash, cash.iloc[0])
    assert cash.iloc[0] > 0.4 * bt_run.values.iloc[LAST]


def test_the_sale_is_whole_even_where_the_volume_cap_would_bind():
    prices = _prices(volume_7203=2000.0)  # 10% of it is 200 shares: the opening buy is capped and carried
    bt_run, fast = _both(_spec(max_participation=0.1), prices)
    assert bt_run.positions["7203"].iloc[LAST - 1] > 0
    assert bt_run.positions["7203"].iloc[LAST:].eq(0).all()
    sale = bt_run.trades[(bt_run.trades["ticker"] == "7203") & (bt_run.trades["fill_date"] == prices.sessions[LAST].date())
                         & (bt_run.trades["side"] == "sell")]
    trades = bt_run.trades[bt_run.trades["ticker"] == "7203"]
    bought = trades.loc[trades["side"] == "buy", "shares"].sum()
    assert (trades["side"] == "buy").sum() > 1  # the buy was carried over several sessions by the cap
    assert sale["shares"].sum() == bought > 200
    orders, trades = fast.records.frames()
    pd.testing.assert_frame_equal(trades, bt_run.trades, check_exact=False, rtol=1e-9)
    np.testing.assert_allclose(fast.values.to_numpy(), bt_run.values.to_numpy(), rtol=1e-9)


def test_prices_that_run_to_the_end_of_the_period_are_not_a_delisting():
    prices = _prices()
    cut = dataclasses.replace(prices, **{f: getattr(prices, f).iloc[:LAST + 1] for f in
                                         ("open", "high", "low", "close", "volume")})
    bt_run, _ = _both(_spec(), cut)
    assert bt_run.positions["7203"].iloc[-1] > 0
    assert not bt_run.orders["reason"].str.startswith("delisted").any()


def test_the_run_summary_reports_the_delisting():
    from backtest.research.run import delisted_line, delisted_sales

    prices = _prices()
    bt_run, _ = _both(_spec(), prices)
    sales = delisted_sales(bt_run.orders)
    assert [(s["ticker"], s["date"]) for s in sales] == [("7203", "2024-01-17")]
    assert delisted_line(sales).startswith("delisted: 1 holding(s) sold in their last session's closing auction")
