"""MarketView: what a strategy may know at one decision point of a run, and nothing later."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # a theme reads prices through the view only; the data layer is not its import
    from backtest.data.frame import PriceFrame

OPENING, PRE_OPEN, CLOSE = "opening", "pre_open", "close"


def point_position(point: int) -> int:
    """The last session whose close a decision point has seen (the opening point sees session 0's)."""
    return max((point - 1) // 2, 0)


def point_phase(point: int) -> str:
    return OPENING if point == 0 else (PRE_OPEN if point % 2 == 0 else CLOSE)


def decision_points(n: int, pre_open_sessions) -> list[int]:
    """Every decision point of a run over n sessions, in order: the opening (0), then for each session i
    its pre-open point (2i, only where news became known before its open) and its close (2i+1)."""
    return decision_point_array(n, pre_open_sessions).tolist()


def decision_point_array(n: int, pre_open_sessions) -> np.ndarray:
    """decision_points as an array."""
    points = np.arange(max(2 * n, 1))
    held = (points % 2 == 1) | (points == 0)
    news = [i for i in pre_open_sessions if 0 <= i < n]
    if news:
        held[2 * np.asarray(news, dtype=np.int64)] = True
    return points[held]


def pre_open_sessions(clock, n: int) -> frozenset[int]:
    """Sessions (1..n-1) before whose open news became known: where a pre-open point is held."""
    return frozenset(clock.pre_open_news().tolist()) if clock is not None else frozenset()


class EventsAsOf:
    """The event calendar as known at one decision point (see backtest.events.calendar.EventClock)."""

    def __init__(self, clock, i: int, point: int):
        self._clock, self._i, self._point = clock, i, point

    def sessions_since(self, family: str, kinds=None) -> int | None:
        """Sessions since the latest known event (0 at its decision point), None if none is known."""
        return None if self._clock is None else self._clock.sessions_since(self._i, family, kinds, point=self._point)

    def latest(self, family: str, kinds=None):
        return None if self._clock is None else self._clock.latest(self._i, family, kinds, point=self._point)

    def fired(self, family: str, kinds=None) -> bool:
        return False if self._clock is None else self._clock.fired(self._i, family, kinds, point=self._point)

    def known(self, family: str | None = None, kinds=None) -> pd.DataFrame:
        if self._clock is None:
            return pd.DataFrame()
        return self._clock.known(self._i, family, kinds, point=self._point)


class MarketView:
    """Prices up to and including the close of session `position`, and events known at the decision point.

    A run's decision points (see backtest.events.calendar.EventClock): the opening (point 0: the first
    portfolio, bought at session 0's close, on events known before session 0's open), then for each
    session i its close (point 2i+1) and, for i ≥ 1, before its open (point 2i, prices up to the close
    of i-1, held only on sessions with news known overnight). `MarketView(prices, clock, benchmark, i)`
    is the view at the close of session i. Built fresh for each decision, so a strategy holding on to
    one cannot see later sessions.
    """

    def __init__(self, prices: PriceFrame, clock, benchmark: str, i: int, point: int | None = None, facts=None):
        self._facts = facts  # backtest.execution.facts.ScreenFacts of the run, when its theme screens
        self.point = 2 * i + 1 if point is None else point
        i = point_position(self.point) if point is not None else i
        self._prices, self._clock, self._i = prices, clock, i
        self.benchmark = benchmark
        self.asof: pd.Timestamp = prices.session_stamps[i]
        self.position = i

    @property
    def phase(self) -> str:
        """OPENING, PRE_OPEN or CLOSE: where in the session this decision point is."""
        return point_phase(self.point)

    @property
    def events(self) -> EventsAsOf:
        """The event calendar as known at this decision point."""
        return EventsAsOf(self._clock, self._i, self.point)

    @classmethod
    def at_point(cls, prices: PriceFrame, clock, benchmark: str, point: int, facts=None) -> "MarketView":
        return cls(prices, clock, benchmark, point_position(point), point=point, facts=facts)

    @property
    def is_first(self) -> bool:
        """True at the opening decision point, when the portfolio is still all cash."""
        return self.point == 0

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
        """The view at the decision point before this one, for strategies that act on a change of state."""
        if self.point == 0:
            return None
        return MarketView.at_point(self._prices, self._clock, self.benchmark, self.point - 1, self._facts)

    # ----- fundamentals and screens (backtest.execution.facts), as known at this decision point ------------------
    def _screen_facts(self):
        if self._facts is None:
            from backtest.errors import StrategyError

            raise StrategyError(theme="view", problem="this run has no fundamentals or universes to screen on",
                                fix="Give the theme's basket as a screen in its config, e.g. basket: {screen: ...}.")
        return self._facts

    def fundamentals(self, field: str) -> pd.Series:
        """Index: tickers; a screen field (strategies.screens.FIELDS) as known at this point, NaN if unknown."""
        facts = self._screen_facts()
        return pd.Series(facts.values([field], self.point)[field], index=facts.tickers, name=field)

    def members(self, universe: str) -> list[str]:
        """The universe's members on this point's date."""
        return self._screen_facts().members(universe, self.point)

    def screen(self, rule) -> pd.DataFrame:
        """The names a screen (strategies.screens.Screen) chooses at this point, in rank order: columns
        ticker, rank and the rule's fields. Logged for the run folder's baskets.csv."""
        return self._screen_facts().screen(rule, self.point)
