"""The numpy screening engine: the run plan's decisions and fills, driven by a plain loop, for large sweeps.

It asks the same RunPlan (backtest.execution.plan) for decisions and orders at the same decision
points as the backtrader engine of record (backtest.execution.backtrader.engine), and fills them with
the same backtest.execution.model.fill_session, so the two agree by construction;
tests/execution/test_screening_parity.py holds them together. What it skips is backtrader's machinery: between
sessions where something happens (a decision, a fill, a dividend) the book is fixed and its value is
one sum per close. A sweep point, which keeps counts and sums rather than rows, runs the same loop compiled
(backtest.execution.compiled), to the bit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backtest.config import RunSpec
from backtest.data.frame import PriceFrame
from backtest.execution import model
from backtest.execution.compiled import simulate_compiled
from backtest.execution.plan import RunPlan, prepare_run, returns_frame
from backtest.execution.records import Records, Tally
from strategies.view import point_position


@dataclass
class FastResult:
    """What a screening run produced.

    returns: index = sessions; columns = [strategy name, benchmark]; simple daily returns, built as
    RunResult.returns is. values: index = sessions; portfolio value in JPY at each close.
    shares: sessions × tickers array of shares held at each close.
    """

    returns: pd.DataFrame
    values: pd.Series
    shares: np.ndarray
    tickers: list[str]
    strategy_name: str
    benchmark: str
    orders: int = 0
    fills: int = 0
    traded_jpy: float = 0.0
    commission_jpy: float = 0.0
    records: Records | None = None
    timings: dict = field(default_factory=dict)

    @property
    def final_value(self) -> float:
        return float(self.values.iloc[-1])


def prepare(spec: RunSpec, prices: PriceFrame, events=None, plan=None) -> RunPlan:
    """The run plan both engines use for this spec and these prices."""
    return prepare_run(spec, prices, events, plan)


def decisions(run: RunPlan) -> dict[int, np.ndarray | None]:
    """The theme's checked target weights at every decision point of the run (point -> weights or None)."""
    return {point: run.decide(point) for point in run.asked_points()}


def simulate(run: RunPlan, decided: dict[int, np.ndarray | None], strategy_name: str = "strategy",
             records: bool = True) -> FastResult:
    """Apply the execution model to the decisions (see `decisions`) and return the book.

    records: keep every order's and fill's row (FastResult.records, orders.csv and trades.csv); False
    keeps only the counts and sums a sweep point reads (backtest.execution.records.Tally), the same
    numbers, sooner."""
    if not records:
        compiled = simulate_compiled(run, decided)
        if compiled is not None:
            values, held, n_orders, *tally = compiled
            return _result(run, values, held, strategy_name, n_orders, Tally.of(*tally))
    market = run.market
    C = market.close
    n, k = C.shape
    cash = float(run.settings.cash_jpy)
    shares = np.zeros(k)
    values = np.empty(n)
    held = np.zeros((n, k))
    pending: list[model.Order] = []
    book: Records | Tally = (Records(run.tickers, run.prices.sessions, run.ends, run.prices.session_dates)
                             if records else Tally())
    queued_dividend = 0.0
    n_orders = 0

    def place(point: int, weights: np.ndarray, value: float) -> None:
        nonlocal pending, n_orders
        position = point_position(point)
        if pending:
            book.superseded(pending, position)
        orders, refused = run.orders_for(point, weights, value, shares)
        book.placed(position, orders, refused, shares)
        n_orders += len(orders)
        pending = orders

    def fill(t: int, at_close: bool = False) -> None:
        # every pending order is due: fills come before the session's close decision places new ones
        nonlocal pending, cash
        fills, waiting, cash, stats = model.fill_session(market, t, pending, cash, shares, at_close=at_close)
        book.session(t, pending, fills, stats)
        pending = waiting

    # sessions where something can happen: a decision point, a dividend; fills follow pending orders
    candidates = set(decision_sessions(decided))
    if run.dividends is not None:
        candidates |= set((np.flatnonzero((run.dividends != 0).any(axis=1)) - 1).tolist())
    candidates |= set(run.delistings)
    active = sorted(x for x in candidates if 0 <= x < n)
    last = 0
    t = 0
    nxt = 0
    while t < n:
        if last < t:  # nothing happened in between: the book is fixed, its value one product
            values[last:t] = book_values(C[last:t], shares, cash)
            held[last:t] = shares
        if t >= 1:
            weights = decided.get(2 * t)
            if weights is not None:
                place(2 * t, weights, values[t - 1])
            if pending:
                fill(t)
            if queued_dividend:
                cash += queued_dividend
                queued_dividend = 0.0
        values[t] = book_values(C[t], shares, cash)
        if t == 0:
            weights = decided.get(0)
            if weights is not None:
                place(0, weights, cash)
                fill(0, at_close=True)
                values[0] = book_values(C[0], shares, cash)
        exits = run.delisting_orders(t, shares)
        if exits:  # holdings whose prices end here: sold in this closing auction
            book.placed(t, exits, [], shares)
            n_orders += len(exits)
            fills, _, cash, stats = model.fill_session(market, t, exits, cash, shares, at_close=True)
            book.session(t, exits, fills, stats)
            values[t] = book_values(C[t], shares, cash)
        held[t] = shares
        last = t + 1
        queued_dividend = run.entitled_dividends(t, shares)
        weights = decided.get(2 * t + 1)
        if weights is not None:
            place(2 * t + 1, weights, values[t])
        if pending or queued_dividend:
            t += 1
        else:
            while nxt < len(active) and active[nxt] <= t:
                nxt += 1
            t = active[nxt] if nxt < len(active) else n
    if last < n:
        values[last:n] = book_values(C[last:n], shares, cash)
        held[last:n] = shares
    book.ended(pending)
    return _result(run, values, held, strategy_name, n_orders, book)


def book_values(closes: np.ndarray, shares: np.ndarray, cash: float):
    """The book's value at one close (a row) or several (rows): cash plus the holdings summed left to right,
    the order the compiled loop sums them in (backtest.execution.compiled), so both give the same bits."""
    return cash + np.cumsum(closes * shares, axis=-1)[..., -1]


def decision_sessions(decided: dict) -> list[int]:
    """For each decision point with weights, the session of the last close it saw and the next one, where it fills."""
    out = []
    for point, w in decided.items():
        if w is None:
            continue
        out.append(point_position(point))
        out.append(point_position(point) + 1)
    return out


def _result(run: RunPlan, values, held, name, n_orders, book: Records | Tally) -> FastResult:
    """The book as a FastResult, its returns built as the backtrader engine builds them (returns_frame)."""
    series = pd.Series(values, index=run.prices.sessions, name=name)
    returns = returns_frame(run, values, name)
    return FastResult(returns=returns, values=series, shares=held, tickers=list(run.tickers), strategy_name=name,
                      benchmark=run.benchmark, orders=n_orders, fills=book.fill_count,
                      traded_jpy=float(book.traded_jpy), commission_jpy=float(book.commission_jpy),
                      records=book if isinstance(book, Records) else None)


def run_fast(spec: RunSpec, prices: PriceFrame, events=None, plan=None, choices=None, records: bool = True
             ) -> FastResult:
    """The screening engine on one spec: decisions (unless given), simulation; timings in result.timings.
    records=False: counts and sums only, as a sweep point keeps them (see simulate)."""
    t0 = time.perf_counter()
    run = prepare(spec, prices, events, plan)
    t1 = time.perf_counter()
    choices = decisions(run) if choices is None else choices
    t2 = time.perf_counter()
    result = simulate(run, choices, spec.name, records=records)
    t3 = time.perf_counter()
    result.timings = {"prepare_s": t1 - t0, "decide_s": t2 - t1, "engine_s": t3 - t2}
    return result
