"""Helpers for theme tests: hand-made event calendars, price grids, and the no-look-ahead check."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.market import calendar
from backtest.execution.backtrader.engine import run_backtest
from backtest.execution.plan import fill_session_of
from backtest.events.calendar import EventCalendar
from strategies.signals import decide_all
from tests.conftest import make_prices, make_spec

START = "2024-01-04"


def make_events(*rows) -> EventCalendar:
    """A calendar from (family, kind, known_at ISO[, value[, value2]]) tuples; event_date = known_at's date."""
    records = []
    for n, (family, kind, known_at, *values) in enumerate(rows):
        values = [*values, None, None][:2]
        records.append({"family": family, "kind": kind, "event_date": known_at[:10], "known_at": known_at,
                        "value": values[0], "value2": values[1], "description": f"e{n}"})
    return EventCalendar(pd.DataFrame(records) if records else None)


def grid_prices(tickers, n: int = 40, start: str = START, seed: int = 0, closes: dict | None = None):
    """Prices for `tickers` on n Tokyo sessions from start: ¥1,000 with a small seeded walk."""
    rng = np.random.default_rng(seed)
    series = {t: list(1000.0 * np.cumprod(1 + rng.normal(0, 0.01, n))) for t in dict.fromkeys(tickers)}
    series.update(closes or {})
    return make_prices(series, start=start)


def at(prices, day: str) -> int:
    """The bar position of a session date."""
    return int(prices.sessions.get_loc(pd.Timestamp(day)))


def decisions(theme_cls, params, prices, events=None, benchmark="TOPIX") -> dict[int, dict]:
    """Only the rebalances, keyed by the session whose open fills them (0: the opening portfolio, bought
    at session 0's close): position -> target weights, rounded to 10 places. News known during a
    session fills at the next session's open; news known before an open fills at that open."""
    decided = decide_all(theme_cls, params, prices, events, benchmark)
    return {fill_session_of(k): {t: round(x, 10) for t, x in w.items()} for k, w in decided.items() if w is not None}


def assert_valid_weights(weights: dict, allow_short: bool = False, max_weight: float | None = None,
                         benchmark: str = "TOPIX") -> None:
    assert sum(weights.values()) <= 1 + 1e-9, weights
    if not allow_short:
        assert all(w >= 0 for w in weights.values()), weights
    if max_weight is not None:
        assert all(w <= max_weight + 1e-9 for t, w in weights.items() if t != benchmark), weights


def after(events: EventCalendar, prices, cut: int) -> np.ndarray:
    """Mask of the events first known after the close of session `cut`."""
    close = calendar.close_time(prices.sessions[cut])
    return (events.frame["known_at"] > close).to_numpy()


def perturbed(prices, events: EventCalendar, cut: int, seed: int, extra_rows=()):
    """Prices scaled at random after bar `cut`; events known after its close moved past the grid's end,
    and `extra_rows` added.

    Moved rather than dropped: the calendar refuses a query for a kind it has no rows of (a typo
    check), so the kinds must stay in the calendar.
    """
    events = events if events is not None else make_events()
    rng = np.random.default_rng(seed)
    n = len(prices.sessions)
    factor = np.ones((n, len(prices.tickers)))
    factor[cut + 1:] = rng.uniform(0.5, 1.5, size=(n - cut - 1, len(prices.tickers)))
    scale = pd.DataFrame(factor, index=prices.sessions, columns=prices.tickers)
    new_prices = make_prices({t: list(prices.close[t] * scale[t]) for t in prices.tickers},
                             start=str(prices.sessions[0].date()))
    frame = events.frame.copy()
    later = after(events, prices, cut)
    beyond = calendar.close_time(prices.sessions[-1]) + pd.Timedelta(days=1)
    frame.loc[later, "known_at"] = [beyond + pd.Timedelta(minutes=k) for k in range(int(later.sum()))]
    extra = make_events(*extra_rows).frame
    new_events = EventCalendar(pd.concat([frame, extra], ignore_index=True) if len(extra) else frame)
    return new_prices, new_events


def assert_no_lookahead(theme_cls, params, prices, events, extra_rows, cuts=None, seeds=(1, 2)) -> None:
    """Decisions up to each cut bar D are the same whatever prices and events come after D's close."""
    base = decide_all(theme_cls, params, prices, events)
    for cut in cuts or range(0, len(prices.sessions) - 1, 3):
        for seed in seeds:
            rows = [r for r in extra_rows if pd.Timestamp(r[2]) > calendar.close_time(prices.sessions[cut])]
            new_prices, new_events = perturbed(prices, events, cut, seed, rows)
            got = decide_all(theme_cls, params, new_prices, new_events)
            # every decision point up to cut's close: the opening, pre-opens and closes
            seen = [k for k in base if k <= 2 * cut + 1]
            assert [k for k in got if k <= 2 * cut + 1] == seen, (cut, seed)
            assert {k: got[k] for k in seen} == {k: base[k] for k in seen}, (cut, seed)


def engine_run(key: str, params: dict, prices, events, **execution):
    """A backtrader run of the theme on the given prices and events (no costs, no volume cap unless given)."""
    execution = {"commission_bps": 0, "slippage_bps": 0, "max_participation": None, "impact_coefficient": 0,
                 **execution}
    return run_backtest(make_spec(key, params, **execution), prices, events)


def assert_trades_follow_decisions(result, prices, decided: dict) -> None:
    """Every order fills on or after the session of its rebalance (see `decisions`), never before, and
    only the opening portfolio fills on the session whose close it has seen."""
    orders = result.orders
    assert len(orders), "the run placed no orders"
    first_fill = {}
    for order in orders.itertuples():
        first_fill.setdefault(order.order_id, order.asof)
    trades = result.trades
    assert len(trades)
    fill, asof = pd.to_datetime(trades["fill_date"]), pd.to_datetime(trades["asof"])
    opening = asof == prices.sessions[0]
    assert (fill[~opening] > asof[~opening]).all()
    fill_days = {prices.sessions[i] for i in decided}
    firsts = trades.groupby("order_id")["fill_date"].min()
    assert all(pd.Timestamp(d) >= min(f for f in fill_days) for d in firsts)


def assert_engine_follows_signal(theme_cls, params: dict, prices, events, ticker: str, fill_date: str):
    """A backtrader run of the theme: every order follows a decision, and `ticker` first fills on
    `fill_date`, the first session that could trade the signal. Returns the result."""
    result = engine_run(theme_cls.theme_key, params, prices, events)
    assert_trades_follow_decisions(result, prices, decisions(theme_cls, params, prices, events))
    first = result.trades[result.trades["ticker"] == ticker]["fill_date"].min()
    assert str(first) == fill_date
    return result
