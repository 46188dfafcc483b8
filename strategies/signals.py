"""Signal pieces themes share, computed only from a MarketView, and a replay of a theme's decisions over a grid."""

from __future__ import annotations

import math
import weakref

import pandas as pd

from backtest.market import calendar
from backtest.errors import ConfigError, did_you_mean
from strategies.view import MarketView, decision_points, pre_open_sessions

# Filtered answers per event clock, so that a theme asking the same question on every bar does not
# rebuild a frame each time. Keyed weakly: a clock's entries go when its run ends.
_FILTERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sessions_since_session(view: MarketView, session: pd.Timestamp) -> int:
    """Sessions from `session` (a decision session at or before view.asof) to view.asof; 0 on it.

    A session before the grid starts is counted in real Tokyo sessions, as EventClock.sessions_since does.
    """
    index = view.history("close").index
    first = index[0]
    if session >= first:
        return view.position - int(index.searchsorted(session))
    return view.position + len(calendar.sessions(session, first)) - 1


def sessions_since_above(view: MarketView, family: str, kinds, column: str, threshold: float) -> int | None:
    """Sessions since the latest known event of `family`/`kinds` whose `column` is above `threshold`.

    None if no such event is known at view.asof. A NaN value never counts as above.
    """
    since_any = view.events.sessions_since(family, kinds)
    if since_any is None:
        return None
    # The cache is per clock, which the view keeps private; the two modules are one package.
    clock = view.events._clock
    # The known events are a prefix of the clock's rows, fixed by the position of the latest one.
    key = (family, _key(kinds), column, float(threshold), view.position - since_any)
    per_clock = _FILTERED.setdefault(clock, {})
    if key not in per_clock:
        known = view.events.known(family, kinds)
        hits = known[known[column] > threshold]
        per_clock[key] = None if hits.empty else hits["decision_session"].iloc[-1]
    session = per_clock[key]
    return None if session is None else sessions_since_session(view, session)


WAGE_TRIGGERS = ("shunto", "real_wages", "nominal_wages")


def strong_wages_since(view: MarketView, triggers, shunto_threshold: float, real_wage_threshold: float,
                       nominal_wage_threshold: float) -> int | None:
    """Sessions since the latest strong wage print among `triggers`, None if none is known.

    Triggers: "shunto" (a Rengo first tally above shunto_threshold, %), "real_wages" and
    "nominal_wages" (a Monthly Labour Survey release with real, resp. nominal, wage growth above
    its threshold, % year on year; the wages family keeps real growth in value and nominal in value2).
    """
    questions = {
        "shunto": ("shunto", "first_tally", "value", shunto_threshold),
        "real_wages": ("wages", "monthly_survey", "value", real_wage_threshold),
        "nominal_wages": ("wages", "monthly_survey", "value2", nominal_wage_threshold),
    }
    found = [sessions_since_above(view, *questions[t]) for t in triggers]
    found = [s for s in found if s is not None]
    return min(found) if found else None


def trend(view: MarketView, ticker: str, sessions: int, band_pct: float) -> int:
    """+1 if ticker's last close is above the mean of its last `sessions` closes by more than band_pct
    percent, -1 if below by more than that, 0 otherwise or while fewer than `sessions` closes exist.

    Sessions without a close are skipped, up to as many as the window is long: a foreign series
    misses some Tokyo sessions, and one gap should not switch the trend off.
    """
    closes = view.history("close", sessions=2 * sessions)[ticker].dropna().iloc[-sessions:]
    if len(closes) < sessions:
        return 0
    last, mean = closes.iloc[-1], closes.mean()
    if not (math.isfinite(last) and math.isfinite(mean)) or mean <= 0:
        return 0
    gap = (last / mean - 1.0) * 100.0
    return 1 if gap > band_pct else -1 if gap < -band_pct else 0


def check_choices(values, allowed, file: str, field: str) -> None:
    """Raise a ConfigError naming the first of `values` that is not one of `allowed`."""
    for value in values:
        if value not in allowed:
            hint = did_you_mean(value, allowed)
            if hint.startswith("Did you mean"):
                hint += f" The choices are {', '.join(allowed)}."
            raise ConfigError(file=file, field=field, problem=f"unknown choice '{value}'", fix=hint)


def decide_all(theme_cls, params: dict, prices, events=None, benchmark: str = "TOPIX") -> dict[int, dict | None]:
    """What the theme decides at each decision point of a run, without an engine.

    prices: a PriceFrame; events: an EventCalendar or None. Params are validated as a config's are.
    Returns decision point -> target weights, or None where the theme holds: the opening point 0,
    each session i's close (2i+1) and, on sessions with news known before the open, its pre-open
    point (2i). See strategies.view.MarketView for what each point sees.
    """
    theme = theme_cls(**theme_cls.validate_params(params, file="decide_all"))
    clock = events.as_of(prices.sessions) if events is not None else None
    points = decision_points(len(prices.sessions), pre_open_sessions(clock, len(prices.sessions)))
    return {point: theme.decide(MarketView.at_point(prices, clock, benchmark, point)) for point in points}


def _key(kinds):
    if kinds is None or isinstance(kinds, str):
        return kinds
    return tuple(sorted(kinds))
