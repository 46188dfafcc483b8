"""The shared session clock and the broker's array valuation change no bar, fill or value of a run."""

from __future__ import annotations

import csv
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.data import DataSource, load_prices, parse_data_option
from backtest.execution import model
from backtest.execution.backtrader import engine
from backtest.execution.backtrader.broker import VECTOR_VALUATION_MIN, FastBroker, sequential_sum
from backtest.execution.backtrader.clock import ClockedCerebro, SessionClock, attach
from backtest.execution.backtrader.feeds import array_feeds, feed_arrays
from backtest.market.costs import CostModel
from backtest.market.instruments import instruments
from tests.conftest import make_spec


def _bars_seen(cerebro_cls, feeds):
    seen = []

    class Record(bt.Strategy):
        def next(self):
            seen.append(tuple((d.datetime[0], d.open[0], d.high[0], d.low[0], d.close[0], d.volume[0], len(d))
                              for d in self.datas))

    cerebro = cerebro_cls(stdstats=False)
    for ticker, feed in feeds.items():
        cerebro.adddata(feed, name=ticker)
    cerebro.addstrategy(Record)
    cerebro.run()
    return seen, cerebro


def _pandas_feeds(prices):
    bars = feed_arrays(prices)
    return {t: bt.feeds.PandasData(dataname=engine.feed_frame(bars, prices.sessions, j), openinterest=None)
            for j, t in enumerate(prices.tickers)}


def test_feeds_on_one_clock_show_every_bar_a_pandas_feed_shows():
    prices = load_prices(DataSource("demo"), ["TOPIX", "1631", "6954", "7203"], "2021-01-04", "2021-06-30")
    reference, _ = _bars_seen(bt.Cerebro, _pandas_feeds(prices))
    clocked, cerebro = _bars_seen(ClockedCerebro, array_feeds(prices))
    assert clocked == reference and len(clocked) == len(prices.sessions)
    clocks = {id(d.session_clock) for d in cerebro.datas}
    assert len(clocks) == 1  # the run really moved one clock


def test_clocked_cerebro_steps_feeds_off_the_clock_one_by_one():
    """A pandas feed among the array feeds: no shared clock, backtrader's own loop, the same bars."""
    prices = load_prices(DataSource("demo"), ["TOPIX", "1631", "6954"], "2021-01-04", "2021-03-31")
    mixed = {**array_feeds(prices), "TOPIX": _pandas_feeds(prices)["TOPIX"]}
    mixed = {t: mixed[t] for t in prices.tickers}
    reference, _ = _bars_seen(bt.Cerebro, _pandas_feeds(prices))
    seen, cerebro = _bars_seen(ClockedCerebro, mixed)
    assert seen == reference
    assert len({id(getattr(d, "session_clock", None)) for d in cerebro.datas}) > 1


def test_a_buffer_moved_alone_moves_alone_and_the_clock_moves_them_all():
    lines = [bt.linebuffer.LineBuffer() for _ in range(3)]
    for k, line in enumerate(lines):
        for x in range(5):
            line.forward(float(10 * k + x))
        line.home()
    clock = SessionClock([1.0, 2.0, 3.0, 4.0, 5.0])
    attach(lines, clock)
    clock.step()
    assert [line[0] for line in lines] == [0.0, 10.0, 20.0] and [len(line) for line in lines] == [1, 1, 1]
    lines[1].advance()  # backtrader moving one line: the others stay
    assert [line[0] for line in lines] == [0.0, 11.0, 20.0] and [len(line) for line in lines] == [1, 2, 1]
    clock.step()
    assert [line[0] for line in lines] == [1.0, 12.0, 21.0] and [len(line) for line in lines] == [2, 3, 2]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), max_size=60))
def test_sequential_sum_adds_left_to_right_as_a_loop_does(values):
    total = 0.0
    for x in values:
        total += x
    assert sequential_sum(np.array(values, dtype=float)) == total


def _many_names(n):
    known = instruments()
    return [t for t, i in known.items() if i.kind == "stock"][:n]


@pytest.mark.parametrize("execution", [
    {"commission_bps": 10.0, "lot_sizes": None},
    {"costs": {"preset": "tiered", "half_spread_bps": 20}, "cash_buffer_pct": 0},
])
def test_a_book_valued_as_arrays_and_filled_as_one_batch_equals_the_per_order_run(execution):
    """More names than VECTOR_VALUATION_MIN and rebalances of more than model.ARRAY_PATH_FROM orders: the
    fast path values the book on arrays and fills whole rebalances at once; the per-order reference
    (PandasData feeds, backtrader's stock broker, one backtrader Order per order) gives every bit back."""
    names = _many_names(VECTOR_VALUATION_MIN + 6)
    execution = {k: v for k, v in execution.items() if v is not None}
    spec = make_spec("equal_weight", {"basket": names, "rebalance_months": 1}, **execution)
    prices = load_prices(DataSource("demo"), spec.tickers, "2022-01-04", "2023-06-30")
    slow = engine.run_backtest(spec, prices, reference=True)
    quick = engine.run_backtest(spec, prices)
    held = (quick.positions[names] != 0).sum(axis=1)
    assert held.max() >= VECTOR_VALUATION_MIN  # the array valuation ran
    per_session = quick.trades.groupby("fill_date").size()
    assert per_session.max() >= model.ARRAY_PATH_FROM  # a rebalance big enough for one batch
    pd.testing.assert_series_equal(slow.values, quick.values, check_exact=True)
    pd.testing.assert_frame_equal(slow.positions, quick.positions, check_exact=True)
    pd.testing.assert_frame_equal(slow.trades, quick.trades, check_exact=True)
    pd.testing.assert_frame_equal(slow.orders, quick.orders, check_exact=True)


def test_the_batch_leaves_a_buy_at_the_edge_of_the_cash_to_the_rules():
    """fill_whole_at_open with a margin refuses a buy that fits the model's cash only by less than it."""
    k = model.ARRAY_PATH_FROM
    market = model.Market(
        sessions=pd.DatetimeIndex(["2024-01-04", "2024-01-05"]), tickers=[f"T{j}" for j in range(k)],
        open=np.full((2, k), 100.0), high=np.full((2, k), 100.0), low=np.full((2, k), 100.0),
        close=np.full((2, k), 100.0), volume=np.full((2, k), 1e6), lower=np.full((2, k), -math.inf),
        upper=np.full((2, k), math.inf), lots=np.ones((2, k)), vol=np.zeros((2, k)),
        costs=CostModel(), capped=np.zeros(k, dtype=bool))

    def orders():
        return [model.Order(j=j, remaining=10.0, ordered=10.0, due=1, target=10.0) for j in range(k)]

    exact = 100.0 * 10 * k  # every buy fits, the last one to the yen
    assert model.fill_whole_at_open(market, 1, orders(), exact, np.zeros(k)) is not None
    assert model.fill_whole_at_open(market, 1, orders(), exact, np.zeros(k), margin=1e-3) is None


def test_the_book_positions_are_shared_read_only():
    names = _many_names(3)
    spec = make_spec("equal_weight", {"basket": names})
    prices = load_prices(DataSource("demo"), spec.tickers, "2022-01-04", "2022-03-31")
    run = engine.prepare_run(spec, prices)
    book = engine._Book(run)
    broker = FastBroker()
    broker.start()
    feeds = list(array_feeds(prices).values())
    held = book.positions(broker, feeds)
    with pytest.raises(ValueError):
        held[0] = 1.0


def test_on_real_prices_a_thirty_name_book_is_the_per_order_runs_to_the_bit(real_data):
    """Real Tokyo prices (gaps, limit days, 100-share units, ticks, a participation cap by default): the
    clocked, array-valued, batched run gives the per-order reference's values, positions, orders and
    trades bit for bit."""
    with open(real_data / "universe.csv", newline="", encoding="utf-8") as handle:
        names = sorted(row["code"] for row in csv.DictReader(handle) if row["file"].startswith("stocks/"))[:30]
    spec = make_spec("equal_weight", {"basket": names, "rebalance_months": 1}, commission_bps=10.0)
    source = parse_data_option(f"csv:{real_data}", {"TOPIX": "index/topix_daily.csv"})
    prices = load_prices(source, spec.tickers, "2019-01-04", "2023-12-29")
    slow = engine.run_backtest(spec, prices, reference=True)
    quick = engine.run_backtest(spec, prices)
    assert (quick.positions[names] != 0).sum(axis=1).max() >= VECTOR_VALUATION_MIN
    pd.testing.assert_series_equal(slow.values, quick.values, check_exact=True)
    pd.testing.assert_frame_equal(slow.positions, quick.positions, check_exact=True)
    pd.testing.assert_frame_equal(slow.trades, quick.trades, check_exact=True)
    pd.testing.assert_frame_equal(slow.orders, quick.orders, check_exact=True)
