"""The backtrader engine of record: Cerebro drives time, a broker executes, one adapter strategy holds the theme.

Every rule (sizing, units, ticks, limits, participation, impact, cash, commission) comes from the
run plan and backtest.execution.model, which the numpy screening engine calls too. backtrader runs
the clock (with `cheat_on_open`, so news known before an open can fill at that open), keeps the
cash and positions, values the book at each close and carries each order through its life.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from backtest.config import RunSpec
from backtest.data.frame import PriceFrame
from backtest.market.dividends import BasisPlan
from backtest.execution import model
from backtest.execution.plan import RunPlan, instrument_kind, prepare_run, returns_frame
from backtest.execution.records import ORDER_COLUMNS, TRADE_COLUMNS, Records
from backtest.execution.backtrader.broker import fast_broker_class
from backtest.execution.backtrader.clock import ClockedCerebro
from backtest.execution.backtrader.feeds import array_feeds
from strategies.view import point_position

__all__ = ["RunResult", "run_backtest", "prepare_run", "instrument_kind", "ORDER_COLUMNS", "TRADE_COLUMNS"]


@dataclass
class RunResult:
    """What one backtest produced, as plain pandas objects.

    returns: index = sessions; columns = [strategy name, benchmark]; simple daily returns, both from
    session 0's close. values: index = sessions; portfolio value in JPY at each close.
    positions: index = sessions; columns = tickers; shares held at the close.
    trades: one row per fill. orders: one row per order, filled or not.
    cash_weight: index = sessions; the share of the portfolio held in cash at each close.
    """

    returns: pd.DataFrame
    values: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    orders: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    strategy_name: str = "strategy"
    benchmark: str = "TOPIX"
    basis: dict = field(default_factory=dict)
    execution: dict = field(default_factory=dict)
    cash_weight: pd.Series | None = None
    capacity: dict = field(default_factory=dict)
    baskets: pd.DataFrame | None = None  # a screened basket's choice at each rebalance (backtest.execution.facts)
    timings: dict = field(default_factory=dict)  # seconds: plan, engine


class PresetCommission(bt.CommInfoBase):
    """backtrader commission for a CostModel: its percentage CommInfo cannot charge per-order fees or minimums."""

    params = (("model", None), ("stocklike", True), ("commtype", bt.CommInfoBase.COMM_FIXED), ("percabs", True))

    def _getcommission(self, size, price, pseudoexec):
        return self.p.model.commission(abs(size) * price)


# relative cash a buy must leave to be filled on the batch's arrays: the broker books cash by backtrader's
# arithmetic, which may differ from the model's in the last bits, and must never disagree on a fit
CASH_MARGIN = 1e-9


class _Book:
    """What the adapter and the broker share in one backtrader run: the plan, the records, the marks."""

    def __init__(self, run: RunPlan):
        self.run = run
        self.records = Records(run.tickers, run.prices.sessions, run.ends, run.prices.session_dates)
        n, k = run.n, len(run.tickers)
        self.values = np.full(n, np.nan)
        self.cash = np.full(n, np.nan)
        self.shares = np.zeros((n, k))
        # backtrader order ref (or, in a batch run, a running number) -> the model's order, while it may still fill
        self.pending: dict[int, model.Order] = {}
        self.dividends_jpy = 0.0
        self.batch = False  # a rebalance's orders executed by the broker as one batch, without backtrader Orders
        self.feeds: list = []  # the feeds in run.tickers order (set by the strategy)
        self.sent = 0
        self._positions: np.ndarray = np.zeros(k)
        self._positions_version: int | None = None
        self._positions_feeds: list | None = None

    def positions(self, broker, feeds) -> np.ndarray:
        """Shares held per feed (read-only): looked up again only after a fill, when the broker counts them (book_version)."""
        version = getattr(broker, "book_version", None)
        if version is None or version != self._positions_version or feeds is not self._positions_feeds:
            held = np.array([broker.getposition(f).size for f in feeds], dtype=float)
            held.flags.writeable = False
            self._positions, self._positions_version, self._positions_feeds = held, version, feeds
        return self._positions


class TokyoBroker(bt.brokers.BackBroker):
    """backtrader's broker, its market orders filled by backtest.execution.model.fill_session."""

    params = (("book", None),)

    def _try_exec_market(self, order, popen, phigh, plow):
        self.fill_now(order, len(order.data) - 1)

    def fill_now(self, order, t: int, at_close: bool = False) -> None:
        book = self.p.book
        mine = book.pending.get(order.ref)
        if mine is None or (mine.due > t and not at_close):
            return  # backtrader never fills on the creation bar; a close decision fills from the next session
        run = book.run
        # the rules read and move this order's own position only
        shares = np.zeros(len(run.tickers))
        shares[mine.j] = self.getposition(order.data).size
        # sells go first in the queue: one still waiting here was carried earlier in this session or before
        sells_waiting = mine.remaining > 0 and any(o.remaining < 0 for o in book.pending.values())
        fills, waiting, _, stats = model.fill_session(run.market, t, [mine], self.cash, shares, at_close=at_close,
                                                      sells_waiting=sells_waiting)
        queued = order in self.pending
        if queued:
            # outside the broker's own loop (the opening portfolio): off the queue while it executes, as
            # in that loop, or backtrader's one-cancels-other check takes the order for its own sibling
            self.pending.remove(order)
        for f in fills:
            self._planned = abs(f.shares)
            self._execute(order, ago=0, price=f.price)
        if queued and order.alive():
            self.pending.append(order)
        book.records.session(t, [mine], fills, stats)
        if not waiting:
            book.pending.pop(order.ref, None)
            if order.alive():
                # dropped by the model (trimmed for cash, cancelled at a limit): off the queue as cancelled
                order.cancel()
                self.notify(order)

    def planned_size(self, order, price, ago):
        return self._planned

    def notify(self, order):
        """No order notifications: the one strategy (ThemeRunner) has no notify_order or notify_trade, and
        the run's records are kept by backtest.execution.records; backtrader would clone every order at
        each change of status for them and book its own Trade objects, work nobody reads."""


class BatchFills(TokyoBroker):
    """A TokyoBroker (put in front of the fast broker's loops): the orders of a rebalance executed as one
    batch at the fill session's open (or, for the opening portfolio, at session 0's close), without a
    backtrader Order each.

    Cerebro still drives time, the strategy still decides and the broker still holds the cash and the
    positions and executes: each order is filled by backtest.execution.model.fill_session, in the
    queue's order, against the broker's cash, and booked with backtrader's own cash and position
    arithmetic (BackBroker._execute for a plain stock scheme, step for step), so values, orders.csv and
    trades.csv are those of the per-order run (tests/execution/test_feeds.py holds them equal to the bit).
    What a batch leaves out is backtrader's order objects: no notify_order or notify_trade, and no
    backtrader order history (the run's orders and fills are in orders.csv and trades.csv).
    """

    cash: float  # BackBroker's cash, set by backtrader

    def next(self):
        book = self.p.book
        if book.pending:
            self.fill_batch(len(book.feeds[0]) - 1)
        return super().next()

    def fill_batch(self, t: int, at_close: bool = False) -> None:
        book = self.p.book
        run = book.run
        due = [(key, mine) for key, mine in book.pending.items() if mine.due <= t or at_close]
        if not at_close and len(due) >= model.ARRAY_PATH_FROM:
            # the usual rebalance, where every order fills whole at the open, on arrays; each buy fits with a
            # margin far above the rounding by which the broker's cash arithmetic can differ from the model's
            orders = [mine for _, mine in due]
            shares = book.positions(self, book.feeds).copy()
            whole = model.fill_whole_at_open(run.market, t, orders, self.cash, shares,
                                             margin=CASH_MARGIN * (abs(self.cash) + 1.0))
            if whole is not None:
                fills, _, _, stats = whole
                for f in fills:
                    self._book_fill(book.feeds[f.order.j], f.shares, f.price)
                book.records.session(t, orders, fills, stats)
                for key, _ in due:
                    del book.pending[key]
                return
        # sells go first in the queue: while one waits (carried earlier in this session or before), a buy's
        # rest waits for its cash
        sells = sum(1 for o in book.pending.values() if o.remaining < 0)
        for key, mine in due:
            feed = book.feeds[mine.j]
            shares = np.zeros(len(run.tickers))
            shares[mine.j] = self.getposition(feed).size
            sell = mine.remaining < 0
            fills, waiting, _, stats = model.fill_session(run.market, t, [mine], self.cash, shares,
                                                          at_close=at_close, sells_waiting=mine.remaining > 0 and sells > 0)
            for f in fills:
                self._book_fill(feed, f.shares, f.price)
            book.records.session(t, [mine], fills, stats)
            if not waiting:
                del book.pending[key]
            if sell and (not waiting or mine.remaining >= 0):
                sells -= 1

    def _book_fill(self, data, size: float, price: float) -> None:
        """BackBroker._execute's cash and position steps for a stock scheme (leverage 1, no interest, short
        cash on), in its order of operations; the commission is the scheme's own."""
        comminfo = self.getcommissioninfo(data)
        position = self.positions[data]
        pprice_orig = position.price
        psize, pprice, opened, closed = position.pseudoupdate(size, price)
        pnl = comminfo.profitandloss(-closed, pprice_orig, price)
        cash = self.cash
        if closed:
            closedvalue = comminfo.getvaluesize(-closed, pprice_orig)
            closecash = closedvalue
            if closedvalue > 0:
                closecash /= comminfo.get_leverage()
            cash += closecash + pnl * comminfo.stocklike
            cash -= comminfo.getcommission(closed, price)
            cash += comminfo.cashadjust(-closed, position.adjbase, price)
            self.cash = cash
        if opened:
            openedvalue = comminfo.getvaluesize(opened, price)
            opencash = openedvalue
            if openedvalue > 0:
                opencash /= comminfo.get_leverage()
            cash -= opencash
            cash -= comminfo.getcommission(opened, price)
            if cash < 0.0:
                opened = 0  # as backtrader: an opening it cannot pay for is not executed
            else:
                position.adjbase = price
                self.cash = cash
        if closed + opened:
            comminfo.confirmexec(closed + opened, price)
            position.update(closed + opened, price)


class ThemeRunner(bt.Strategy):
    """The one backtrader strategy: holds a theme, asks the run plan at each decision point, sends its orders."""

    params = (("book", None),)

    def __init__(self):
        self._book = self.p.book
        self._run = self._book.run
        self._feeds = [self.getdatabyname(t) for t in self._run.tickers]
        self._book.feeds = self._feeds

    def _getminperstatus(self):
        # backtrader measures every feed's length against its minimum period on every bar; the feeds only
        # grow, so once all are past their minimum (a negative status) they stay past it
        status = getattr(self, "_minperstatus", 0)
        return status if status < 0 else super()._getminperstatus()

    def next_open(self):
        t = len(self.datas[0]) - 1
        if t in self._run.pre_open_sessions:
            weights = self._run.decide(2 * t)
            if weights is not None:
                self._rebalance(2 * t, weights, self._book.values[t - 1])

    def next(self):
        t = len(self) - 1
        book, run, broker = self._book, self._run, self.broker
        self._mark(t)
        if t == 0:
            weights = run.decide(0)
            if weights is not None:
                orders = self._rebalance(0, weights, broker.getcash())
                if book.batch:
                    broker.fill_batch(0, at_close=True)
                for order in orders:
                    broker.fill_now(order, 0, at_close=True)
                broker._get_value()
                self._mark(0)
        if t in run.delistings:
            self._delisted(t)
        cash = run.entitled_dividends(t, book.shares[t])
        if cash:
            # owed for shares held at this close; paid at the end of the next session, after its fills
            broker.add_cash(cash)
            book.dividends_jpy += cash
        weights = run.decide(2 * t + 1)
        if weights is not None:
            self._rebalance(2 * t + 1, weights, book.values[t])

    def _delisted(self, t: int) -> None:
        """Holdings whose prices end at session t: sold in its closing auction (run.delisting_orders)."""
        book, broker = self._book, self.broker
        held = book.positions(broker, self._feeds)
        exits = self._run.delisting_orders(t, held)
        if not exits:
            return
        book.records.placed(t, exits, [], held)
        for mine in exits:
            feed = self._feeds[mine.j]
            order = self.buy(data=feed, size=mine.remaining) if mine.remaining > 0 else self.sell(data=feed, size=-mine.remaining)
            mine.handle = order
            book.pending[order.ref] = mine
            broker.fill_now(order, t, at_close=True)
        broker._get_value()
        self._mark(t)

    def _mark(self, t: int) -> None:
        book = self._book
        book.values[t] = self.broker.getvalue()
        book.cash[t] = self.broker.getcash()
        book.shares[t] = book.positions(self.broker, self._feeds)

    def _rebalance(self, point: int, weights: np.ndarray, value: float) -> list:
        """Cancel what still waits, then send the plan's orders: sells first, then buys."""
        book, run = self._book, self._run
        position = point_position(point)
        waiting = list(book.pending.values())
        if waiting:
            book.records.superseded(waiting, position)
            for mine in waiting:
                if mine.handle is not None:
                    self.cancel(mine.handle)
            book.pending.clear()
        held = book.positions(self.broker, self._feeds)
        orders, refused = run.orders_for(point, weights, value, held)
        book.records.placed(position, orders, refused, held)
        sent: list = []
        if book.batch:  # the broker executes them at the fill session (BatchFills)
            for mine in orders:
                book.sent += 1
                book.pending[book.sent] = mine
            return sent
        for mine in orders:
            feed = self._feeds[mine.j]
            size = mine.remaining
            order = self.buy(data=feed, size=size) if size > 0 else self.sell(data=feed, size=-size)
            mine.handle = order
            book.pending[order.ref] = mine
            sent.append(order)
        return sent

    def stop(self):
        self._book.records.ended(list(self._book.pending.values()))


def feed_frame(bars: dict[str, np.ndarray], sessions: pd.DatetimeIndex, j: int) -> pd.DataFrame:
    """One ticker's bars (column j of backtest.execution.plan.bars) as the frame backtrader's PandasData reads."""
    return pd.DataFrame({line: bars[line][:, j] for line in ("open", "high", "low", "close", "volume")}, index=sessions)


def run_backtest(spec: RunSpec, prices: PriceFrame, events=None, plan: BasisPlan | None = None, *,
                 reference: bool = False) -> RunResult:
    """Run spec's theme on prices (which must include spec.tickers) and return plain frames.

    plan: how the run reaches its return basis (see backtest.market.dividends.plan_basis); worked out here
    when not given. reference: run on backtrader's own PandasData feeds and stock broker, one backtrader
    Order per order, instead of the numpy-backed feeds, the broker without no-op loops
    (backtest/execution/backtrader/feeds.py, backtest/execution/backtrader/broker.py) and each rebalance
    executed as one batch (BatchFills): the set-up tests/execution/test_feeds.py holds the faster one equal to.
    """
    settings = spec.execution
    started = time.perf_counter()
    run = prepare_run(spec, prices, events, plan)
    planned = time.perf_counter()
    book = _Book(run)
    cerebro = ClockedCerebro(stdstats=False, runonce=True, preload=True, quicknotify=True, cheat_on_open=True)
    if reference:
        feeds = {t: bt.feeds.PandasData(dataname=feed_frame(run.bars, prices.sessions, j), openinterest=None)
                 for j, t in enumerate(prices.tickers)}
    else:
        feeds = array_feeds(prices, run.bars)
    for ticker, feed in feeds.items():
        cerebro.adddata(feed, name=ticker)
    if reference:
        broker = TokyoBroker(book=book)
    else:
        book.batch = True
        broker = type("BatchTokyoBroker", (BatchFills, fast_broker_class(TokyoBroker)), {})(book=book)
    cerebro.setbroker(broker)
    broker.setcash(settings.cash_jpy)
    broker.addcommissioninfo(PresetCommission(model=run.costs))
    broker.set_checksubmit(False)
    broker.set_filler(broker.planned_size)
    cerebro.addstrategy(ThemeRunner, book=book)
    cerebro.run()
    result = _result(book, spec.name)
    result.timings = {"plan": planned - started, "engine": time.perf_counter() - planned}
    return result


def _result(book: _Book, name: str) -> RunResult:
    run = book.run
    sessions = run.prices.sessions
    values = pd.Series(book.values, index=sessions, name=name)
    returns = returns_frame(run, book.values, name)
    positions = pd.DataFrame(np.round(book.shares).astype(np.int64), index=sessions, columns=run.tickers)
    positions.index.name = "date"
    orders, trades = book.records.frames()
    cash_weight = pd.Series(book.cash / book.values, index=sessions, name="cash_weight")
    warnings = list(run.prices.warnings) + list(run.plan.warnings if run.plan else [])
    return RunResult(
        returns=returns, values=values, positions=positions, trades=trades, orders=orders,
        warnings=warnings,
        strategy_name=name, benchmark=run.benchmark,
        basis={**(run.plan.manifest() if run.plan else {}), "dividends_credited_jpy": book.dividends_jpy},
        execution=run.describe(), cash_weight=cash_weight,
        capacity=capacity(book.records, run.settings),
        baskets=run.facts.baskets_frame() if run.facts is not None else None,
    )


def capacity(records: Records, settings) -> dict:
    """The largest share of a session's volume a fill took, and the capital at which the orders would
    first have asked for more than execution.max_participation (orders scale with the capital)."""
    cap = settings.max_participation
    asked = records.requested_max
    out = {"largest_participation": records.largest_participation, "largest_requested_participation": asked,
           "max_participation": cap}
    if cap is None or not asked:
        out["capacity_jpy"] = None
    else:
        out["capacity_jpy"] = settings.cash_jpy * cap / asked
    return out
