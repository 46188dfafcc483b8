"""A backtrader daily feed filled from numpy arrays in one step, instead of one pandas look-up per bar and field.

backtrader's PandasData reads every value with `DataFrame.iloc[row, col]`; on a 50 × 5,000 run that
is 1.5 million scalar look-ups, two thirds of the time of a run that does nothing. ArrayData copies
each column into its line buffer once, and steps through the bars by moving the buffers' indices.
The bars are the run plan's (`backtest.execution.plan.bars`), shared with the screening engine.
"""

from __future__ import annotations

from array import array

import backtrader as bt
import numpy as np
import pandas as pd
from backtrader.utils import date2num

from backtest.data.frame import PriceFrame
from backtest.execution.backtrader.clock import SessionClock, attach

LINES = ("open", "high", "low", "close", "volume")


def session_numbers(sessions: pd.DatetimeIndex) -> np.ndarray:
    """backtrader's float day numbers of the sessions, by its own date2num, as PandasData stores them."""
    return np.array([date2num(ts.to_pydatetime()) for ts in sessions], dtype=float)


def feed_arrays(prices: PriceFrame) -> dict[str, np.ndarray]:
    """The engines' bars for every ticker at once (backtest.execution.plan.bars): line -> sessions × tickers."""
    from backtest.execution.plan import bars

    return bars(prices)


class ArrayData(bt.feed.DataBase):
    """Daily bars from arrays: `dataname` is a dict with 'datetime' (backtrader day numbers) and
    open/high/low/close/volume (1-D float arrays of one length).

    With preload (backtrader's default) every line buffer is filled at once and put on a session clock
    (backtest/execution/backtrader/clock.py): the per-bar step moves the clock, not each buffer; without
    preload the bars are read one by one from the same arrays.
    """

    params = (("openinterest", None),)

    def start(self):
        super().start()
        source = self.p.dataname
        self._columns = {"datetime": np.asarray(source["datetime"], dtype=float)}
        for name in LINES:
            self._columns[name] = np.asarray(source[name], dtype=float)
        self._columns["openinterest"] = np.zeros(len(self._columns["datetime"]))
        self._row = -1
        self.session_clock = None

    # ----- loading ---------------------------------------------------------------------------------
    def preload(self):
        for alias in self.getlinealiases():
            line = getattr(self.lines, alias)
            line.array = array("d", self._columns[alias].tolist())
        self._row = len(self._columns["datetime"])
        self._last()
        self.home()
        self._tick_nullify()
        self._dtline = self.lines.datetime
        self._n = len(self._columns["datetime"])
        if all(buf.mode == buf.UnBounded for buf in self.lines):  # pragma: no branch - exactbars is never set
            # every line on one clock of this feed's own; ClockedCerebro puts the run's feeds on a shared one
            self.session_clock = SessionClock(self._columns["datetime"].tolist())
            attach(self.lines, self.session_clock)

    def _load(self):
        self._row += 1
        if self._row >= len(self._columns["datetime"]):
            return False
        for alias in self.getlinealiases():
            getattr(self.lines, alias)[0] = self._columns[alias][self._row]
        return True

    def close_column(self) -> np.ndarray:
        """The closes of every bar (ClockedCerebro stacks them for the broker's valuation)."""
        return self._columns["close"]

    # ----- the per-bar step of a preloaded run -----------------------------------------------------
    def advance_peek(self):
        if self.session_clock is None:
            return super().advance_peek()
        return self.session_clock.stamps[self._dtline.lencount]

    def advance(self, size=1, datamaster=None, ticks=True):
        # Only the clock moves. The broker reads open/high/low from the lines when the bar's tick_*
        # attributes are unset, which for whole daily bars are the same values.
        if self.session_clock is None or datamaster is not None or self._dtline.lencount + size > self._n:
            return super().advance(size, datamaster, ticks)
        self.session_clock.idx += size
        self.session_clock.count += size


def array_feeds(prices: PriceFrame, bars: dict[str, np.ndarray] | None = None) -> dict[str, ArrayData]:
    """One ArrayData per ticker of prices, in prices.tickers order, from the engines' bars (see feed_arrays)."""
    stamps = session_numbers(prices.sessions)
    bars = bars if bars is not None else feed_arrays(prices)
    return {
        ticker: ArrayData(dataname={"datetime": stamps, **{name: bars[name][:, j] for name in LINES}})
        for j, ticker in enumerate(prices.tickers)
    }
