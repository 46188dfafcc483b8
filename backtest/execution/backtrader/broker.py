"""A backtrader broker that skips its per-bar credit-interest and futures cash loops when they cannot change anything.

BackBroker.next() walks every open position twice a bar: once to charge credit interest, once to move
futures' variation margin into cash. For plain stocks with no interest both give exactly 0.0 (a stock's
`cashadjust` is 0, and the interest rate is 0), yet each pass converts the bar's date and looks up the
commission scheme per position: on a 50 × 5,000 run that is half a million calls that add nothing.
The mixin runs the same bar without them whenever every commission scheme is a plain, interest-free
stock scheme, and falls back to backtrader's own next() otherwise, so the results are identical.

It also values a large book as arrays: between two fills the positions' sizes and prices do not move,
so on a shared session clock (backtest/execution/backtrader/clock.py) the bar's valuation is a few
vector operations over the held names, summed left to right as backtrader's loop sums them.
"""

from __future__ import annotations

import collections
from functools import partial

import backtrader as bt
import numpy as np
from backtrader.comminfo import CommInfoBase
from backtrader.order import Order
from backtrader.position import Position


_BASE_METHODS = ("cashadjust", "get_credit_interest", "_get_credit_interest", "getvaluesize", "profitandloss",
                 "get_leverage")


def plain_stock_scheme(comminfo) -> bool:
    """True when the scheme's per-bar interest and cash adjustment are always 0.0 and it values a position
    as backtrader's stock scheme does (size × price, no multiplier, no leverage); commissions may differ."""
    cls = type(comminfo)
    return (
        bool(comminfo.stocklike)
        and not comminfo.p.interest
        and comminfo.p.mult == 1.0
        and comminfo.p.leverage == 1.0
        and all(getattr(cls, name) is getattr(CommInfoBase, name) for name in _BASE_METHODS)
    )


# below this many open positions backtrader's loop values the book faster than array operations do
VECTOR_VALUATION_MIN = 24


class TrackedPosition(Position):
    """A Position that counts its changes on its broker (`book_version`), so the broker's arrays of the
    book are rebuilt after a fill and only then."""

    def __init__(self, owner, size=0, price=0.0):
        self._owner = owner
        super().__init__(size, price)

    def set(self, size, price):
        self._owner.book_version += 1
        return super().set(size, price)

    def fix(self, size, price):
        self._owner.book_version += 1
        return super().fix(size, price)

    def update(self, size, price, dt=None):
        self._owner.book_version += 1
        return super().update(size, price, dt)


def sequential_sum(values: np.ndarray) -> float:
    """values[0] + values[1] + ... from 0.0, left to right as a Python loop adds them (numpy's sum pairs them)."""
    return float(np.cumsum(values)[-1]) if len(values) else 0.0


class SkipNoOpLoops:
    """Mixin for a BackBroker (or a subclass of it): the bar's orders and valuation, without the no-op loops."""

    book_version = 0
    comminfo: dict  # BackBroker's commission schemes, set by backtrader

    def init(self):
        super().init()
        self.positions = collections.defaultdict(partial(TrackedPosition, self))
        self._arrays_version = -1
        self._arrays = ([], None)
        self._schemes_key = None
        self._schemes_plain = False

    def _plain_schemes(self) -> bool:
        """Every commission scheme a plain stock scheme (asked again only when the schemes change)."""
        key = tuple(map(id, self.comminfo.values()))
        if key != self._schemes_key:
            self._schemes_key = key
            self._schemes_plain = all(plain_stock_scheme(c) for c in self.comminfo.values())
        return self._schemes_plain

    def next(self):
        if self.p.fundmode or not self._plain_schemes():
            return super().next()
        while self._toactivate:
            self._toactivate.popleft().activate()
        if self.p.checksubmit:
            self.check_submitted()
        self._process_order_history()
        # One pass over the pending queue, as BackBroker.next does it.
        self.pending.append(None)
        while True:
            order = self.pending.popleft()
            if order is None:
                break
            if order.expire():
                self.notify(order)
                self._ococheck(order)
                self._bracketize(order, cancel=True)
            elif not order.active():
                self.pending.append(order)
            else:
                self._try_exec(order)
                if order.alive():
                    self.pending.append(order)
                elif order.status == Order.Completed:
                    self._bracketize(order)
        self._get_value()

    def _value_loop(self, items, clock) -> tuple[float, float, float]:
        """BackBroker._get_value's sums over the open positions, one by one: items are (close buffer, size,
        price), or (closes, size, price) when every one is on `clock`, a shared session clock."""
        pos_value = pos_value_unlever = unrealized = 0.0
        at = clock.idx if clock is not None else 0
        for line, size, price in items:
            # getvaluesize, profitandloss and get_leverage of a plain stock scheme, inlined: mult and leverage are 1.0
            close = line[at] if clock is not None else line.array[line._idx]
            dvalue = size * close
            dunrealized = size * (close - price) * 1.0
            pos_value += dvalue
            unrealized += dunrealized
            if dvalue > 0:
                pos_value_unlever += (dvalue - dunrealized) / 1.0
                pos_value_unlever += dunrealized
            else:
                pos_value_unlever += dvalue
        return pos_value, pos_value_unlever, unrealized

    def _book_arrays(self):
        """The open positions in the positions' order, looked up again only after a change: a list of items
        for _value_loop and their clock for a small book or one not on a shared clock, else arrays (sizes,
        prices, clock columns, clock)."""
        if self._arrays_version != self.book_version:
            self._arrays_version = self.book_version
            held = [(data, p) for data, p in self.positions.items() if p.size]
            clock = getattr(held[0][0], "session_clock", None) if held else None
            if clock is None or clock.close is None or any(
                    getattr(data, "session_clock", None) is not clock for data, _ in held):
                self._arrays = ([(data.lines.close, p.size, p.price) for data, p in held], None)
            elif len(held) < VECTOR_VALUATION_MIN:
                self._arrays = ([(data.lines.close.array, p.size, p.price) for data, p in held], clock)
            else:
                self._arrays = (np.array([p.size for _, p in held], dtype=float),
                                np.array([p.price for _, p in held], dtype=float),
                                np.array([data.clock_column for data, _ in held], dtype=np.intp), clock)
        return self._arrays

    def _get_value(self, datas=None, lever=False):
        """BackBroker._get_value over the open positions only, with its float operations in its order.

        A flat position adds exactly 0.0 to every sum, so leaving it out changes no bit; a run that
        holds 5 of 200 names no longer values 195 empty ones every bar.
        """
        if datas is not None or self._fundhist or not self.p.shortcash or not self._plain_schemes():
            return super()._get_value(datas=datas, lever=lever)
        while self._cash_addition:
            c = self._cash_addition.popleft()
            self._fundshares += c / self._fundval
            self.cash += c
        arrays = self._book_arrays()
        if len(arrays) == 2:
            pos_value, pos_value_unlever, unrealized = self._value_loop(*arrays)
        else:
            sizes, prices, columns, clock = arrays
            closes = clock.close[clock.idx, columns]
            dvalue = sizes * closes
            dunrealized = sizes * (closes - prices) * 1.0
            pos_value, unrealized = sequential_sum(dvalue), sequential_sum(dunrealized)
            # a long position adds (dvalue - dunrealized) and then dunrealized, a short one dvalue: two steps each
            long = dvalue > 0
            steps = np.empty(2 * len(dvalue))
            steps[0::2] = np.where(long, (dvalue - dunrealized) / 1.0, dvalue)
            steps[1::2] = np.where(long, dunrealized, 0.0)
            pos_value_unlever = sequential_sum(steps)
        self._value = self.cash + pos_value_unlever
        self._fundval = self._value / self._fundshares
        self._valuemkt = pos_value_unlever
        self._valuelever = self.cash + pos_value
        self._valuemktlever = pos_value
        self._leverage = pos_value / (pos_value_unlever or 1.0)
        self._unrealized = unrealized
        return self._value if not lever else self._valuelever


def fast_broker_class(base: type = bt.brokers.BackBroker) -> type:
    """`base` with SkipNoOpLoops in front, e.g. a broker subclass that adds its own fill rules."""
    if issubclass(base, SkipNoOpLoops):
        return base
    return type(f"Fast{base.__name__}", (SkipNoOpLoops, base), {})


FastBroker = fast_broker_class()
