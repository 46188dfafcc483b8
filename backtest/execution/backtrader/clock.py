"""One session clock for every preloaded feed of a run, so a bar moves the run forward once, not once per line of every feed.

backtrader steps a preloaded run by asking each feed for its next timestamp and moving the index of
each of its line buffers (datetime, open, high, low, close, volume, open interest): on a 500-name run
that is 3,500 index moves and 1,000 method calls a bar, a third of the engine's time. The engine's
feeds all carry the run's one calendar, so their positions are one number. A ClockedBuffer reads its
index and length from a SessionClock shared by the feeds, plus its own offset, so a write to one buffer
(anything of backtrader's that moves a single line) still moves that line only; ClockedCerebro moves
the clock once a bar when every feed shares it, and runs backtrader's own loop otherwise.
"""

from __future__ import annotations

import backtrader as bt
import numpy as np
from backtrader.linebuffer import LineBuffer


class SessionClock:
    """The position of every buffer on the clock: `idx` (backtrader's index of the current bar) and `count` (bars seen)."""

    __slots__ = ("idx", "count", "stamps", "close")

    def __init__(self, stamps: list[float], close=None):
        self.idx = 0
        self.count = 0
        self.stamps = [*stamps, float("inf")]  # backtrader day numbers, then the end
        self.close = close  # sessions × feeds closes (the broker values the book from it), or None

    def peek(self) -> float:
        return self.stamps[self.count]

    def step(self) -> None:
        self.idx += 1
        self.count += 1


class ClockedBuffer(LineBuffer):
    """A LineBuffer whose index and length are the clock's plus offsets of its own (0 until something moves it alone)."""

    _clock: SessionClock
    _idx_offset: int
    _len_offset: int

    @property
    def _idx(self) -> int:
        return self._clock.idx + self._idx_offset

    @_idx.setter
    def _idx(self, value: int) -> None:
        self._idx_offset = value - self._clock.idx

    @property
    def lencount(self) -> int:
        return self._clock.count + self._len_offset

    @lencount.setter
    def lencount(self, value: int) -> None:
        self._len_offset = value - self._clock.count


def attach(buffers, clock: SessionClock) -> None:
    """Put preloaded, unbounded line buffers on `clock`, keeping where each one stands now."""
    for buf in buffers:
        if type(buf) is not LineBuffer:  # pragma: no cover - data lines are plain LineBuffers
            raise TypeError(f"cannot put a {type(buf).__name__} on a session clock")
        idx, count = buf._idx, buf.lencount
        del buf.__dict__["_idx"], buf.__dict__["lencount"]
        buf.__class__ = ClockedBuffer
        buf._clock = clock
        buf._idx = idx
        buf.lencount = count


def share_clock(datas) -> SessionClock | None:
    """Put every data's lines on one new clock, with the closes stacked for the broker (each data's
    `clock_column` says which is its); None, and nothing moved, unless every data is a preloaded array
    feed on the same calendar at the same bar (then backtrader steps them one by one)."""
    if not datas or any(getattr(d, "session_clock", None) is None for d in datas):
        return None
    first = datas[0].session_clock
    if any(d.session_clock.stamps != first.stamps for d in datas):
        return None
    lines = [tuple(d.lines) for d in datas]
    if any(buf._idx != lines[0][0]._idx or buf.lencount != lines[0][0].lencount for bufs in lines for buf in bufs):
        return None
    shared = SessionClock(first.stamps[:-1], np.column_stack([d.close_column() for d in datas]))
    shared.idx, shared.count = lines[0][0]._idx, lines[0][0].lencount
    for column, (data, bufs) in enumerate(zip(datas, lines)):
        for buf in bufs:  # every buffer stands where the clock does: offsets 0
            buf._clock, buf._idx_offset, buf._len_offset = shared, 0, 0
        data.session_clock = shared
        data.clock_column = column
    return shared


class ClockedCerebro(bt.Cerebro):
    """Cerebro whose preloaded, vectorised run steps a shared session clock once a bar (see the module's note).

    Everything else of the bar is backtrader's own, in its order: timers, the strategies' open and
    close callbacks, the broker, the writers. Without a shared clock (other feeds, another mode) it is
    plain Cerebro.
    """

    def _runonce(self, runstrats):
        clock = share_clock(self.datas)
        if clock is None:
            return super()._runonce(runstrats)
        for strat in runstrats:
            strat._once()
            strat.reset()
        while True:
            dt0 = clock.peek()
            if dt0 == float("inf"):
                break
            clock.step()
            self._check_timers(runstrats, dt0, cheat=True)
            if self.p.cheat_on_open:
                for strat in runstrats:
                    strat._oncepost_open()
                    if self._event_stop:
                        return
            self._brokernotify()
            if self._event_stop:
                return
            self._check_timers(runstrats, dt0, cheat=False)
            for strat in runstrats:
                strat._oncepost(dt0)
                if self._event_stop:
                    return
                self._next_writers(runstrats)
