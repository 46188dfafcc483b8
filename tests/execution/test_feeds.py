"""The fast backtrader path: numpy feeds and the broker without no-op loops change no bar, fill or value."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from backtest.execution.backtrader import engine
from backtest.market.costs import CostModel
from backtest.execution.backtrader.engine import PresetCommission
from backtest.data import DataSource, load_prices
from backtest.events.calendar import load_events
from backtest.execution.backtrader.broker import FastBroker, fast_broker_class, plain_stock_scheme
from backtest.execution.backtrader.feeds import ArrayData, array_feeds, feed_arrays
from tests.conftest import make_prices, make_spec


def _gappy_prices():
    closes = {"TOPIX": [100.0, 101, 102, 101, 103, 104], "AAA": [np.nan, 500, 505, np.nan, 510, 520],
              "BBB": [1000.0, 990, 995, 1001, 1002, 1010]}
    prices = make_prices({k: [0.0 if np.isnan(x) else x for x in v] for k, v in closes.items()},
                         volume={"BBB": [1e6, 0.0, 1e6, 1e6, 1e6, 1e6]})
    nan = {t: np.isnan(np.asarray(v)) for t, v in closes.items()}
    frames = {}
    for f in ("open", "high", "low", "close", "volume"):
        frame = getattr(prices, f).copy()
        for t, mask in nan.items():
            frame.loc[mask, t] = np.nan
        if f == "volume":
            frame["TOPIX"] = np.nan  # an index has no volume
        frames[f] = frame
    return type(prices)(**frames, source="test", synthetic=True)


@pytest.mark.parametrize("make", [_gappy_prices, lambda: load_prices(DataSource("demo"), ["TOPIX", "1631", "6954"],
                                                                        "2020-01-06", "2020-12-30")])
def test_feed_arrays_are_the_engines_bars(make):
    prices = make()
    bars = feed_arrays(prices)
    tradable = prices.tradable.to_numpy()
    last = prices.close.ffill().to_numpy()
    for j, ticker in enumerate(prices.tickers):
        for line in ("open", "high", "low", "close"):
            raw = getattr(prices, line)[ticker].to_numpy()
            # a traded session's own bar; else the last close; before the first trade a placeholder no rule reads
            expected = np.where(tradable[:, j], raw, np.where(np.isfinite(last[:, j]), last[:, j], 1.0))
            np.testing.assert_array_equal(bars[line][:, j], expected, err_msg=f"{ticker} {line}")
        volume = prices.volume[ticker].to_numpy()
        expected = np.where(tradable[:, j], np.where(np.isnan(volume), np.inf, volume), 0.0)
        np.testing.assert_array_equal(bars["volume"][:, j], expected, err_msg=f"{ticker} volume")


def test_array_feed_lines_equal_pandas_feed_lines_after_a_run():
    prices = _gappy_prices()
    seen = {}

    class Record(bt.Strategy):
        def next(self):
            for d in self.datas:
                seen.setdefault((type(d).__name__, d._name), []).append(
                    (d.datetime[0], d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0], len(d)))

    bars = feed_arrays(prices)

    def pandas_feed(t):
        return bt.feeds.PandasData(dataname=engine.feed_frame(bars, prices.sessions, prices.tickers.index(t)),
                                   openinterest=None)

    for make in (pandas_feed, None):
        cerebro = bt.Cerebro(stdstats=False)
        feeds = array_feeds(prices) if make is None else {t: make(t) for t in prices.tickers}
        for ticker, feed in feeds.items():
            cerebro.adddata(feed, name=ticker)
        cerebro.addstrategy(Record)
        cerebro.run()
    for ticker in prices.tickers:
        assert seen[("ArrayData", ticker)] == seen[("PandasData", ticker)]


def test_array_feed_without_preload_gives_the_same_bars():
    prices = _gappy_prices()
    out = {}
    for preload in (True, False):
        got = []

        class Record(bt.Strategy):
            def next(self):
                got.append(tuple(d.close[0] for d in self.datas) + (self.datas[0].datetime[0],))

        cerebro = bt.Cerebro(stdstats=False, preload=preload, runonce=preload)
        for ticker, feed in array_feeds(prices).items():
            cerebro.adddata(feed, name=ticker)
        cerebro.addstrategy(Record)
        cerebro.run()
        out[preload] = got
    assert out[True] == out[False]


class Naive(bt.Strategy):
    """The textbook set-up: order_target_percent for every name on the first session of each month."""

    def next(self):
        if len(self) > 1 and self.data.datetime.date(0).month == self.data.datetime.date(-1).month:
            return
        for d in self.datas[1:]:
            self.order_target_percent(d, target=0.95 / (len(self.datas) - 1))


def test_naive_setup_ends_at_the_same_value_on_either_feed_and_broker():
    prices = load_prices(DataSource("demo"), ["TOPIX", "7203", "6758", "8306", "9983", "1631"], "2018-01-04",
                         "2020-12-30")
    values = []
    for fast in (False, True):
        cerebro = bt.Cerebro(stdstats=not fast)
        if fast:
            cerebro.setbroker(FastBroker())
        bars = feed_arrays(prices)
        feeds = array_feeds(prices) if fast else {
            t: bt.feeds.PandasData(dataname=engine.feed_frame(bars, prices.sessions, j), openinterest=None)
            for j, t in enumerate(prices.tickers)}
        for ticker, feed in feeds.items():
            cerebro.adddata(feed, name=ticker)
        cerebro.addstrategy(Naive)
        cerebro.run()
        values.append(cerebro.broker.getvalue())
    assert values[0] == values[1]


@pytest.mark.parametrize("config", [
    dict(theme="equal_weight", params={"basket": ["1631", "1632", "6954", "7203"]}),
    dict(theme="boj_rotation", params={"holding_sessions": 20}, events=True),
    dict(theme="domestic_demand_wages", params={"exporter_short": 0.3}, execution={"allow_short": True,
                                                                                   "max_gross_leverage": 1.6}, events=True),
    dict(theme="equal_weight", params={"basket": ["1631", "6954"]}, execution={"cash_buffer_pct": 0, "costs": {
        "preset": "tiered", "half_spread_bps": 40, "impact_bps": 5}}),
])
def test_engine_fast_path_is_identical_to_pandas_feeds_and_stock_broker(config):
    spec = make_spec(config["theme"], config["params"], **config.get("execution", {}))
    prices = load_prices(DataSource("demo"), spec.tickers, "2023-01-04", "2025-06-30")
    events = load_events() if config.get("events") else None
    results = {fast: engine.run_backtest(spec, prices, events, reference=not fast) for fast in (False, True)}
    slow, quick = results[False], results[True]
    assert len(quick.trades) > 5
    pd.testing.assert_series_equal(slow.values, quick.values, check_exact=True)
    pd.testing.assert_frame_equal(slow.positions, quick.positions, check_exact=True)
    pd.testing.assert_frame_equal(slow.trades, quick.trades, check_exact=True)
    pd.testing.assert_frame_equal(slow.orders, quick.orders, check_exact=True)


def test_plain_stock_schemes_are_recognised():
    assert plain_stock_scheme(PresetCommission(model=CostModel()))
    assert plain_stock_scheme(bt.CommInfoBase(stocklike=True, commission=0.001))
    assert not plain_stock_scheme(bt.CommInfoBase(stocklike=True, interest=0.03))
    assert not plain_stock_scheme(bt.CommInfoBase(stocklike=False, margin=1000.0, mult=10.0))
    assert not plain_stock_scheme(bt.CommInfoBase(stocklike=True, leverage=2.0))


def test_the_fast_broker_falls_back_where_the_loops_matter():
    """Short stock with credit interest: the loops charge cash every bar; both brokers agree."""
    prices = load_prices(DataSource("demo"), ["TOPIX", "7203"], "2021-01-04", "2021-12-30")

    class Short(bt.Strategy):
        def next(self):
            if len(self) == 1:
                self.sell(data=self.datas[1], size=1000)

    values = []
    for broker, interest in ((bt.brokers.BackBroker(), 0.05), (fast_broker_class()(), 0.05), (FastBroker(), 0.0)):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.setbroker(broker)
        cerebro.broker.setcash(10_000_000)
        cerebro.broker.setcommission(commission=0.001, stocklike=True, interest=interest)
        for ticker, feed in array_feeds(prices).items():
            cerebro.adddata(feed, name=ticker)
        cerebro.addstrategy(Short)
        cerebro.run()
        values.append(cerebro.broker.getvalue())
    assert values[0] == values[1]
    assert values[1] < values[2] - 1000  # the interest was charged


def test_fast_broker_class_layers_over_the_engines_broker():
    cls = fast_broker_class(engine.TokyoBroker)
    assert issubclass(cls, engine.TokyoBroker) and fast_broker_class(cls) is cls
    assert isinstance(ArrayData(dataname={"datetime": [1.0], **{k: [1.0] for k in ("open", "high", "low", "close",
                                                                                      "volume")}}), bt.feed.DataBase)
