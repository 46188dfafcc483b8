"""MarketView: what a strategy may know at the close of one session, and nothing later."""

from __future__ import annotations

import pandas as pd

from backtest.data.frame import PriceFrame


class EventsAsOf:
    """The event calendar as known at the close of session i (see backtest.events.EventClock)."""

    def __init__(self, clock, i: int):
        self._clock, self._i = clock, i

    def sessions_since(self, family: str, kinds=None) -> int | None:
        """Sessions since the latest known event (0 on its decision session), None if none is known."""
        return None if self._clock is None else self._clock.sessions_since(self._i, family, kinds)

    def latest(self, family: str, kinds=None):
        return None if self._clock is None else self._clock.latest(self._i, family, kinds)

    def fired(self, family: str, kinds=None) -> bool:
        return False if self._clock is None else self._clock.fired(self._i, family, kinds)

    def known(self, family: str | None = None, kinds=None) -> pd.DataFrame:
        if self._clock is None:
            return pd.DataFrame()
        return self._clock.known(self._i, family, kinds)


class MarketView:
    """Prices up to and including session i, and events known by its close.

    Built fresh for each decision, so a strategy holding on to one cannot see later sessions.
    """

    def __init__(self, prices: PriceFrame, clock, benchmark: str, i: int):
        self._prices, self._clock, self._i = prices, clock, i
        self.benchmark = benchmark
        self.asof: pd.Timestamp = prices.sessions[i]
        self.position = i
        self.events = EventsAsOf(clock, i)

    @property
    def is_first(self) -> bool:
        """True on the first session of the backtest, when the portfolio is still all cash."""
        return self._i == 0

    @property
    def tickers(self) -> list[str]:
        return self._prices.tickers

    def history(self, field: str = "close", sessions: int | None = None) -> pd.DataFrame:
        """Index: sessions up to asof; columns: tickers; NaN where a ticker did not trade."""
        frame = getattr(self._prices, field)
        lo = 0 if sessions is None else max(0, self._i + 1 - sessions)
        return frame.iloc[lo : self._i + 1]

    @property
    def close(self) -> pd.Series:
        """Index: tickers; the last close known at asof (NaN before a ticker's first trade)."""
        return self._prices.close.iloc[self._i]

    @property
    def tradable(self) -> pd.Series:
        """Index: tickers; True where the ticker traded at asof."""
        return self._prices.tradable.iloc[self._i]

    def previous(self) -> "MarketView | None":
        """The view one session earlier, for strategies that act on a change of state."""
        return None if self._i == 0 else MarketView(self._prices, self._clock, self.benchmark, self._i - 1)
