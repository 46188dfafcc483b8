"""The Tokyo Stock Exchange's trading sessions (XTKS), from exchange_calendars."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

CALENDAR_NAME = "XTKS"
TOKYO = "Asia/Tokyo"
# The afternoon session was extended from 15:00 to 15:30 on this day.
CLOSE_MOVED_TO_1530 = pd.Timestamp("2024-11-05")


def calendar_version() -> str:
    import exchange_calendars

    return f"exchange_calendars {exchange_calendars.__version__} {CALENDAR_NAME}"


@lru_cache(maxsize=8)
def _calendar(start: str, end: str):
    import exchange_calendars as xcals

    return xcals.get_calendar(CALENDAR_NAME, start=start, end=end)


def sessions(start, end) -> pd.DatetimeIndex:
    """Tokyo sessions from start to end inclusive; index of tz-naive dates, named 'date'."""
    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    cal = _calendar("1998-01-01", last_known_session_bound())
    all_sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None) if cal.sessions.tz else cal.sessions
    out = all_sessions[(all_sessions >= start) & (all_sessions <= end)]
    return pd.DatetimeIndex(out, name="date")


def last_known_session_bound() -> str:
    """exchange_calendars knows XTKS holidays about a year ahead; ask no further."""
    import exchange_calendars as xcals

    return str(xcals.get_calendar(CALENDAR_NAME).last_session.date())


def last_known_session() -> pd.Timestamp:
    return pd.Timestamp(last_known_session_bound())


@lru_cache(maxsize=1)
def _session_times() -> tuple[dict, dict]:
    """Open and close of every session exchange_calendars knows (Tokyo time), by session date."""
    cal = _calendar("1998-01-01", last_known_session_bound())
    sessions = pd.DatetimeIndex(cal.sessions).tz_localize(None) if cal.sessions.tz else pd.DatetimeIndex(cal.sessions)
    opens = pd.DatetimeIndex(cal.opens).tz_convert(TOKYO)
    closes = pd.DatetimeIndex(cal.closes).tz_convert(TOKYO)
    return dict(zip(sessions, opens)), dict(zip(sessions, closes))


def open_time(session: pd.Timestamp) -> pd.Timestamp:
    """The session's opening time in Tokyo, from exchange_calendars (09:00); by that rule past its range."""
    known = _session_times()[0].get(pd.Timestamp(session).normalize())
    return known if known is not None else pd.Timestamp.combine(session.date(), dt.time(9, 0)).tz_localize(TOKYO)


def close_time(session: pd.Timestamp) -> pd.Timestamp:
    """The session's closing time in Tokyo, from exchange_calendars (15:00, 15:30 from 2024-11-05); past its
    range, by that rule."""
    known = _session_times()[1].get(pd.Timestamp(session).normalize())
    if known is not None:
        return known
    t = dt.time(15, 30) if session >= CLOSE_MOVED_TO_1530 else dt.time(15, 0)
    return pd.Timestamp.combine(session.date(), t).tz_localize(TOKYO)


def sessions_per_year(index: pd.DatetimeIndex) -> float:
    """Mean number of sessions in the calendar years the index covers (about 245 for Tokyo).

    Partial first and last years are counted from the full calendar, not from the index,
    so a run that starts in December is not annualised on a handful of sessions.
    """
    if len(index) == 0:
        return float("nan")
    years = range(index[0].year, index[-1].year + 1)
    counts = [len(sessions(f"{y}-01-01", f"{y}-12-31")) for y in years]
    counts = [c for c in counts if c > 0]
    return float(np.mean(counts))
