"""The Tokyo execution model end to end: tick grid around table changes, limit days and trims in orders.csv,
the run summary, annualisation from the calendar, and the documented switches."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import backtest.research.run as run_module
from backtest.cli.main import main
from backtest.config import spec_from_mapping
from backtest.data import DataSource, load_prices
from backtest.execution.backtrader.engine import instrument_kind, run_backtest
from backtest.market.instruments import lot_size
from backtest.research.run import execute_run
from strategies.base import ThemeStrategy
from backtest.market.ticks import TickSchedule
from strategies.registry import register_theme
from tests.conftest import make_prices, make_spec


@register_theme("realism_alternate")
class Alternate(ThemeStrategy):
    """Test theme: all in universe[0] on even sessions, all in universe[1] on odd ones."""

    params = dict(universe=("7203", "6324"))

    def target_weights(self, view):
        pick = self.p.universe[len(view.history("close", sessions=10_000)) % 2]
        return {pick: 1.0}


@register_theme("realism_rotate")
class Rotate(ThemeStrategy):
    """Test theme: all in universe[0] decided at the first session's close, all in universe[1] at the second's."""

    params = dict(universe=("AAA", "BBB"))

    def target_weights(self, view):
        return {1: {self.p.universe[0]: 1.0}, 3: {self.p.universe[1]: 1.0}}.get(view.point)


def _alternating_fills(start, end):
    prices = load_prices(DataSource("demo"), ["TOPIX", "7203", "6324"], start, end)
    spec = make_spec("realism_alternate", {"universe": ["7203", "6324"]})
    result = run_backtest(spec, prices)
    tickers = prices.tickers
    schedule = TickSchedule(prices.sessions, {t: instrument_kind(t) for t in tickers},
                            {t: lot_size(t) for t in tickers}, prices.close)
    fills = result.trades.assign(fill_date=pd.to_datetime(result.trades["fill_date"]))
    fills["table"] = [schedule.table(t, list(prices.sessions).index(d)).name
                      for t, d in zip(fills["ticker"], fills["fill_date"])]
    return fills


def _multiple(price, step):
    return abs(price / step - round(price / step)) < 1e-6


@pytest.mark.parametrize("start,end,ticker,change,before,after", [
    # 7203 (about ¥5,600 here) is a large constituent: 10-yen standard ticks, then 1 yen from 2014-01-14
    ("2013-12-16", "2014-02-14", "7203", "2014-01-14", 10, 1),
    # 6324 (about ¥55,000 here) joins the fine table with the TOPIX500 extension: 100 yen, then 10 yen
    ("2023-05-15", "2023-06-23", "6324", "2023-06-05", 100, 10),
])
def test_every_fill_is_on_the_tick_grid_on_both_sides_of_a_table_change(start, end, ticker, change, before, after):
    fills = _alternating_fills(start, end)
    mine = fills[fills["ticker"] == ticker]
    early, late = mine[mine["fill_date"] < change], mine[mine["fill_date"] >= change]
    assert len(early) >= 5 and len(late) >= 5
    assert all(_multiple(p, before) for p in early["price"]), early["price"].tolist()
    assert all(_multiple(p, after) for p in late["price"]), late["price"].tolist()
    # the finer grid is really used after the change, not just allowed
    assert not all(_multiple(p, before) for p in late["price"])
    assert set(early["table"]) == {"standard"} and set(late["table"]) != {"standard"}


def test_fills_are_on_the_grid_for_every_stock_and_etf_in_a_long_demo_run():
    prices = load_prices(DataSource("demo"), ["TOPIX", "1306", "1631", "1632", "8306", "8316"], "2013-06-03", "2016-06-30")
    spec = make_spec("realism_alternate", {"universe": ["1631", "8306"]})
    result = run_backtest(spec, prices)
    tickers = prices.tickers
    schedule = TickSchedule(prices.sessions, {t: instrument_kind(t) for t in tickers},
                            {t: lot_size(t) for t in tickers}, prices.close)
    assert len(result.trades) > 500
    for row in result.trades.itertuples():
        i = list(prices.sessions).index(pd.Timestamp(row.fill_date))
        table = schedule.table(row.ticker, i)
        assert table.on_grid(row.price), (row.ticker, row.fill_date, row.price, table.name)
        assert prices.low[row.ticker].iloc[i] - table.tick(row.price) <= row.price
        assert row.price <= prices.high[row.ticker].iloc[i] + table.tick(row.price)


def _rotation_prices(a_open_ratio):
    closes = {"AAA": [1000.0, 1000.0, 900.0, 900.0], "BBB": [500.0, 500.0, 500.0, 500.0]}
    opens = {"AAA": [1000.0, 1000.0, 1000.0 * a_open_ratio, 900.0], "BBB": [500.0] * 4}
    return make_prices(closes, opens=opens, spread=0.0)


def test_with_cash_for_90_percent_of_the_targets_the_buys_are_trimmed_after_the_sells():
    # AAA is sold at an open 10% under the close the rotation was sized on: the sale pays for 90% of BBB
    prices = _rotation_prices(0.9)
    spec = make_spec("realism_rotate", {"universe": ["AAA", "BBB"]}, benchmark="AAA",
                     costs={"preset": "zero", "half_spread_bps": 0}, lot_sizes={"AAA": 100, "BBB": 100},
                     max_participation=None, impact_coefficient=0)
    result = run_backtest(spec, prices)
    sell, buy = result.orders.iloc[1], result.orders.iloc[2]
    assert (sell["side"], buy["side"]) == ("sell", "buy"), "sells are placed, and filled, before buys"
    assert sell["fill_date"] == buy["fill_date"] == prices.sessions[2].date()
    held = sell["shares_filled"]
    cash = 100_000_000 - held * 1000.0 + held * 900.0
    assert buy["status"] == "partial"
    assert buy["shares_filled"] == math.floor(cash / 500.0 / 100) * 100
    assert buy["shares_filled"] == pytest.approx(0.9 * buy["shares_ordered"], rel=0.01)
    assert "trimmed at the open" in buy["reason"] and "not enough cash" in buy["reason"]
    counts = run_module.order_counts(result.orders)
    assert counts["trimmed"] == 1 and counts["not_fully_filled"] == 1


def _csv_folder(tmp_path, closes, opens):
    folder = tmp_path / "prices"
    folder.mkdir()
    grid = make_prices(closes, opens=opens, start="2024-01-04", spread=0.0)
    for t in grid.tickers:
        frame = pd.DataFrame({"Date": grid.sessions.strftime("%Y-%m-%d"), "Open": grid.open[t], "High": grid.high[t],
                              "Low": grid.low[t], "Close": grid.close[t], "Volume": 1e6})
        frame.to_csv(folder / f"{t}.csv", index=False)
    return folder, grid


def test_a_limit_up_open_leaves_the_buy_unfilled_that_day_in_orders_csv_and_the_summary(tmp_path):
    closes = {"TOPIX": [2000.0] * 5, "AAA": [1000.0, 1000.0, 1300.0, 1000.0, 1000.0]}
    opens = {"TOPIX": [2000.0] * 5, "AAA": [1000.0, 1000.0, 1300.0, 1000.0, 1000.0]}
    folder, grid = _csv_folder(tmp_path, closes, opens)
    # the theme decides on session 1, so its buy meets the limit-up open of session 2
    raw = {"theme": "realism_rotate", "params": {"universe": ["TOPIX", "AAA"]},
           "data": {"source": "csv", "path": str(folder)}, "execution": {"impact_coefficient": 0}}
    spec = spec_from_mapping(raw, file="r.yaml")
    outcome = execute_run(spec, tmp_path / "out", tearsheet=False)
    orders = pd.read_csv(outcome.folder / "orders.csv", dtype={"ticker": str})
    buy = orders[orders["ticker"] == "AAA"].iloc[0]
    assert buy["fill_date"] == str(grid.sessions[3].date())
    assert buy["reason"].startswith(f"carried: opened limit-up at 1,300.0 on {grid.sessions[2].date()}")
    lines = outcome.execution_note.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("execution: open at the first close; news before an open → that open, else close → "
                               "next open; rebalance on_change; units 100 (stocks) / ETF units; TSE ticks; daily "
                               "limits (carry); costs: preset zero + 5 bp half-spread; ≤ 10% of volume; no impact")
    assert lines[1] == "orders: 3 placed, 0 trimmed, 1 carried, 0 not fully filled (orders.csv)"
    assert lines[2].startswith("capacity: largest fill")
    metrics = json.loads((outcome.folder / "metrics.json").read_text())
    assert metrics["orders"]["carried"] == 1
    assert metrics["execution"]["ticks"] and metrics["execution"]["price_limits"]


def test_annualised_volatility_uses_the_sessions_per_year_in_the_data(tmp_path):
    spec = spec_from_mapping({"theme": "boj_rotation"}, file="a.yaml")
    import dataclasses

    spec = dataclasses.replace(spec, start=pd.Timestamp("2016-01-04").date(), end=pd.Timestamp("2019-12-30").date())
    outcome = execute_run(spec, tmp_path, tearsheet=False)
    returns = pd.read_csv(outcome.folder / "returns.csv", index_col=0, parse_dates=True)
    per_year = returns.index.year.value_counts().to_numpy()
    ppy = float(np.mean(per_year))
    assert 240 <= ppy <= 247 and ppy != 252
    r = returns.iloc[1:, 0].to_numpy()
    expected = np.std(r, ddof=1) * np.sqrt(ppy)
    metrics = json.loads((outcome.folder / "metrics.json").read_text())
    assert metrics["strategy"]["volatility"] == pytest.approx(expected, rel=1e-9)
    assert metrics["annualisation"]["sessions_per_year"] == pytest.approx(ppy)
    growth = np.prod(1 + r)
    assert metrics["strategy"]["cagr"] == pytest.approx(growth ** (ppy / len(r)) - 1, rel=1e-9)
    manifest = json.loads((outcome.folder / "manifest.json").read_text())
    assert manifest["calendar"]["name"].startswith("exchange_calendars") and "XTKS" in manifest["calendar"]["name"]


def test_a_run_past_the_calendars_last_known_session_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(run_module, "last_known_session", lambda: pd.Timestamp("2023-06-30"))
    spec = spec_from_mapping({"theme": "boj_rotation", "period": {"start": "2023-01-04", "end": "2023-12-28"}})
    outcome = execute_run(spec, tmp_path, tearsheet=False)
    assert "the backtest runs past the last session the trading calendar knows" in outcome.warnings


def test_run_help_names_every_switch():
    text = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    for switch in ("execution.ticks", "execution.price_limits", "execution.limit_action", "carry|cancel",
                   "execution.costs.preset", "zero|tiered|percent", "half_spread_bps", "basis: price|total"):
        assert switch in text, switch


def test_switching_every_rule_off_gives_fills_at_the_open():
    prices = _rotation_prices(1.0)
    spec = make_spec("realism_rotate", {"universe": ["AAA", "BBB"]}, benchmark="AAA", ticks=False,
                     price_limits=False, costs={"preset": "zero", "half_spread_bps": 0})
    trades = run_backtest(spec, prices).trades
    opens = prices.open
    for row in trades.itertuples():
        assert row.price == opens[row.ticker].loc[pd.Timestamp(row.fill_date)]
