"""A numpy screening engine: the backtrader engine's execution model applied to a theme's decisions, for large sweeps.

Every theme's target weights are a function of what is known at D's close (backtest.signals.decide_all),
so they can be computed once and handed to a simulation that only does work on sessions where
something happens: a decision, a fill, a dividend. Between those sessions the book does not change
and its value is one matrix product. The reported result of a run stays backtrader's
(backtest.engine.run_backtest); tests/perf/test_fast_engine_parity.py holds the two together.

What is mirrored, and how:

* Decide at D's close, fill at D+1's open; a new decision cancels orders still pending (as
  `_Run.cancel_pending`); sells are sent before buys, each side in ticker order (ThemeStrategy._rebalance).
* Sizing as `ThemeStrategy._rebalance` / `_deltas`: the portfolio value less the cash buffer, divided
  by one plus the rate costs; the sizing price is `_Run.sizing_price` (D's close plus a tick for buys
  on the tick grid); whole trading units by the rule of `backtest.strategy._round_to_lot`; per-order
  fees taken off the budget once.
* The open fill price is `_Run.open_fill` itself (ticks, daily limits, spread and impact), called
  with a stand-in for the order; without ticks, limits and impact the same formula runs on arrays.
* A session without a trade fills nothing and the order waits; buys are trimmed to the cash there is
  by `_Run.filler` itself, and a trimmed rest is dropped (`_Run.cancel_trimmed`).
* Commission per execution is `CostModel.commission`; dividends going ex on D+1 are credited for
  the shares held at D's close, in cash at the end of D+1 (`_Run.credit_dividends`).

Not mirrored: the per-order records (orders.csv, trades.csv) beyond counts and sums.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backtest.config import RunSpec
from backtest.data.frame import PriceFrame
from backtest.dividends import entitled_cash
from backtest.feeds import feed_arrays


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
    timings: dict = field(default_factory=dict)

    @property
    def final_value(self) -> float:
        return float(self.values.iloc[-1])


# ----- the engine's parts, built as run_backtest builds them ---------------------------------------
def prepare(spec: RunSpec, prices: PriceFrame, events=None, plan=None):
    """The engine's `_Run` for this spec and these prices: clock, costs, tick schedule, limits, dividends."""
    from backtest.engine import prepare_run

    return prepare_run(spec, prices, events, plan)


def decisions(spec: RunSpec, prices: PriceFrame, events=None) -> dict[int, dict | None]:
    """The theme's target weights at each session's close (bar position -> weights, or None to hold)."""
    from backtest.signals import decide_all

    return decide_all(spec.theme_cls, spec.params, prices, events, spec.benchmark)


def decision_matrix(run, choices: dict[int, dict | None], theme: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked decisions as arrays: (session positions, weights with rows = those sessions, columns = run.tickers).

    Each decision passes the engine's own check (`_Run.check_weights`), so a bad weight fails here
    with the same message as in a backtrader run.
    """
    rows = sorted(i for i, w in choices.items() if w is not None)
    matrix = np.zeros((len(rows), len(run.tickers)))
    for r, i in enumerate(rows):
        for ticker, w in run.check_weights(choices[i], theme).items():
            matrix[r, run.column[ticker]] = w
    return np.asarray(rows, dtype=np.int64), matrix


# ----- pure pieces, each held equal to the engine's own rule by a test -----------------------------
def round_to_lots(shares: np.ndarray, lots: np.ndarray) -> np.ndarray:
    """`backtest.strategy._round_to_lot` on arrays: whole units toward zero."""
    units = np.floor(np.abs(shares) / lots + 1e-9)
    return np.copysign(units * lots, shares) * (units > 0)


def commissions(costs, values: np.ndarray) -> np.ndarray:
    """`CostModel.commission` of each traded value (JPY), on arrays."""
    values = np.abs(np.asarray(values, dtype=float))
    if costs.preset == "zero":
        return np.zeros_like(values)
    if costs.preset == "percent":
        out = values * costs.rate_bps / 1e4
        if not costs.min_jpy:
            return out
        out = np.maximum(out, costs.min_jpy)
    elif costs.preset == "tiered":
        bounds = np.array([math.inf if up is None else up for up, _ in costs.tiers])
        fees = np.array([fee for _, fee in costs.tiers])
        out = fees[np.minimum(np.searchsorted(bounds, values, side="left"), len(fees) - 1)]
    else:  # a preset this module does not know: ask the model, value by value
        out = np.array([costs.commission(v) for v in values])
    return np.where(values == 0, 0.0, out)


class _Line:
    """What `_Run.open_fill` and `_Run.filler` read of a feed line: the value at [0]."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __getitem__(self, ago):
        return self.value


class _Stamp:
    """The datetime line: backtrader's day number of the session, worked out only if a note asks for it."""

    __slots__ = ("session",)

    def __init__(self, session):
        self.session = session

    def __getitem__(self, ago):
        from backtrader.utils import date2num

        return date2num(self.session.to_pydatetime())


class _Bar:
    """A stand-in for a backtrader feed positioned on session i."""

    __slots__ = ("_name", "_len", "open", "high", "low", "close", "volume", "_session")

    def __init__(self, name, i, o, h, l, c, v, session=None):
        self._name, self._len, self._session = name, i + 1, session
        self.open, self.high, self.low, self.close, self.volume = _Line(o), _Line(h), _Line(l), _Line(c), _Line(v)

    @property
    def datetime(self):
        return _Stamp(self._session)

    def __len__(self):
        return self._len


class _Executed:
    __slots__ = ("remsize",)

    def __init__(self, remsize):
        self.remsize = remsize


class _Order:
    """A stand-in for a backtrader order, enough for `_Run.open_fill` and `_Run.filler`."""

    __slots__ = ("data", "executed", "info", "_buy")
    ref = None  # not in the run's order book: its notes go nowhere

    def __init__(self, data, remaining, buy):
        self.data, self.executed, self.info, self._buy = data, _Executed(remaining), {}, buy

    def isbuy(self):
        return self._buy

    def addinfo(self, **kwargs):
        self.info.update(kwargs)


class _Cash:
    """The broker as `_Run.filler` sees it: the cash at this moment of the session's fills."""

    __slots__ = ("cash",)

    def __init__(self):
        self.cash = 0.0

    def getcash(self):
        return self.cash


# ----- the simulation -----------------------------------------------------------------------------
def simulate(run, rows: np.ndarray, weights: np.ndarray, bars: dict[str, np.ndarray] | None = None,
             strategy_name: str = "strategy") -> FastResult:
    """Apply the execution model to checked decisions (see decision_matrix) and return the book.

    run: the engine's `_Run` (see prepare). bars: feed_arrays(run.prices), passed in to share it
    across many simulations of the same prices.
    """
    prices = run.prices
    settings, costs = run.settings, run.costs
    bars = bars if bars is not None else feed_arrays(prices)
    C = bars["close"]
    n, k = C.shape
    tickers = run.tickers
    lots = np.array([run.lots[t] for t in tickers], dtype=float)
    sort_order = np.array(sorted(range(k), key=lambda j: tickers[j]), dtype=np.int64)
    dividends = run.dividends
    # the array path of _Run.open_fill: no tick grid, no limit band, no volume-dependent impact
    simple_prices = run.ticks is None and not run.limits_on and not costs.impact_bps
    rate = (costs.rate_bps if costs.preset == "percent" else 0.0) + costs.half_spread_bps
    budget_share = (1.0 - settings.cash_buffer_pct / 100.0) / (1.0 + rate / 1e4)
    variable_rate = (rate - costs.half_spread_bps) / 1e4
    fixed_fees = costs.preset == "tiered" or (costs.preset == "percent" and costs.min_jpy > 0)
    cash_view = _Cash()
    fill = run.filler(cash_view)
    if simple_prices:
        # kept in the caller's dict: a sweep simulates the same prices and costs many times
        key = ("open_prices", costs.slip_bps())
        if key not in bars:
            bars[key] = open_prices(bars, costs)
        bars = {**bars, "buy_price": bars[key][0], "sell_price": bars[key][1]}

    values = np.empty(n)
    held = np.zeros((n, k))
    shares = np.zeros(k)
    cash = float(settings.cash_jpy)
    queued_dividend = 0.0
    pend_j = np.empty(0, dtype=np.int64)
    pend_size = np.empty(0)  # signed shares still to trade, in submission order
    n_orders = n_fills = 0
    traded = paid = 0.0

    decision_at = dict(zip(rows.tolist(), range(len(rows))))
    scheduled = set(decision_at)
    if dividends is not None:
        # shares held at the close before an ex-date are owed its dividend
        scheduled |= set((np.flatnonzero((dividends != 0).any(axis=1)) - 1).tolist())
    scheduled = sorted(e for e in scheduled if 0 <= e < n)
    ep = 0
    t = scheduled[0] if scheduled else n
    last = 0  # sessions before `last` are valued

    while t < n:
        if last < t:  # nothing happened in between: the book is fixed, its value one product
            values[last:t] = cash + C[last:t] @ shares
            held[last:t] = shares
        # ----- the broker's part of session t: fills at the open, then cash added at the end ------
        if len(pend_j):
            step = _fill_simple if simple_prices else _fill_each
            pend_j, pend_size, cash, done = step(t, pend_j, pend_size, shares, cash, bars, lots, run, fill, cash_view)
            n_fills += done[0]
            traded += done[1]
            paid += done[2]
        if queued_dividend:
            cash += queued_dividend
            queued_dividend = 0.0
        values[t] = cash + C[t] @ shares
        held[t] = shares
        last = t + 1
        # ----- the strategy's part: dividends owed tomorrow, then the decision -------------------------
        if dividends is not None and t + 1 < n:
            queued_dividend = entitled_cash(shares, dividends[t + 1])
        r = decision_at.get(t)
        if r is not None:
            w = weights[r]
            value = values[t] * budget_share
            price = _sizing_prices(run, t, w, C[t])
            target = round_to_lots(w * value / price, lots)
            if fixed_fees:
                buying = target > shares
                v = np.abs(target - shares)[buying] * price[buying]
                fixed = float(np.maximum(commissions(costs, v) - v * variable_rate, 0.0).sum())
                if fixed > 0:
                    target = round_to_lots(w * (value - fixed) / price, lots)
            delta = (target - shares)[sort_order]
            # superseded: whatever was pending is replaced by this batch, sells first
            pend_j = np.concatenate([sort_order[delta < 0], sort_order[delta > 0]])
            pend_size = (target - shares)[pend_j]
            n_orders += len(pend_j)
        if len(pend_j) or queued_dividend:
            t += 1
        else:
            while ep < len(scheduled) and scheduled[ep] <= t:
                ep += 1
            t = scheduled[ep] if ep < len(scheduled) else n
    if last < n:
        values[last:n] = cash + C[last:n] @ shares
        held[last:n] = shares
    return _result(run, values, held, strategy_name, n_orders, n_fills, traded, paid)


def _sizing_prices(run, t: int, w: np.ndarray, close: np.ndarray) -> np.ndarray:
    """ThemeStrategy._deltas' price: `_Run.sizing_price` for a name being bought into, D's close otherwise."""
    if run.ticks is None:
        return close
    price = close.copy()
    for j in np.flatnonzero(w > 0):
        price[j] = run.sizing_price(run.tickers[j], t, close[j])
    return price


def _commission_parts(costs, size: np.ndarray, position: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Commission of each execution. backtrader charges the part of an order that closes a position and
    the part that opens one separately (two minimum fees for an order that crosses zero)."""
    if costs.preset == "zero" or (costs.preset == "percent" and not costs.rate_bps and not costs.min_jpy):
        return np.zeros(len(size))
    crossing = (position != 0) & ((size > 0) != (position > 0))
    if not crossing.any():
        return commissions(costs, size * price)
    closed = np.where(crossing, np.minimum(np.abs(size), np.abs(position)), 0.0)
    opened = np.abs(size) - closed
    return commissions(costs, closed * price) + commissions(costs, opened * price)


def open_prices(bars: dict[str, np.ndarray], costs) -> tuple[np.ndarray, np.ndarray]:
    """`_Run.open_fill` on whole arrays when there is no tick grid, no limit band and no impact:
    the open moved against the trader by the half-spread, kept within the bar's range.
    Returns (buy prices, sell prices), each sessions × tickers."""
    slip = costs.slip_bps() / 1e4
    return (np.minimum(bars["open"] * (1 + slip), bars["high"]),
            np.maximum(bars["open"] * (1 - slip), bars["low"]))


def _fill_simple(t, pend_j, pend_size, shares, cash, bars, lots, run, fill, cash_view):
    """One session's fills on arrays; the engine's filler takes over from the first buy the cash cannot pay in full."""
    j, size = pend_j, pend_size
    costs = run.costs
    trades = bars["volume"][t, j] > 0
    buy = size > 0
    price = np.where(buy, bars["buy_price"][t, j], bars["sell_price"][t, j])
    comm = _commission_parts(costs, size, shares[j], price)
    spend = size * price + comm
    # orders queue sells first: what the sells bring in is there before the first buy
    live_buys = trades & buy
    spend_sells = float(spend[trades & ~buy].sum())
    before = np.maximum(cash - spend_sells - (np.cumsum(np.where(live_buys, spend, 0.0)) - spend), 0.0)
    # the filler's test on arrays: a buy fills whole if its units and their fee fit the cash there is
    short = live_buys & ~((size <= np.floor(before / price / lots[j]) * lots[j]) & (spend <= before))
    first_short = int(np.argmax(short)) if short.any() else len(j)
    done = trades.copy()
    done[first_short:] = False
    cash -= float(spend[done].sum())
    shares[j[done]] += size[done]
    n_done = int(done.sum())
    traded = float(np.abs(size[done]) @ price[done])
    paid = float(comm[done].sum())
    for b in range(first_short, len(j)):
        if not (trades[b] and buy[b]):
            continue
        # cash is short: the engine's filler decides, one order after another
        jj = int(j[b])
        bar = _Bar(run.tickers[jj], t, bars["open"][t, jj], bars["high"][t, jj], bars["low"][t, jj],
                   bars["close"][t, jj], bars["volume"][t, jj])
        cash_view.cash = cash
        got = fill(_Order(bar, float(size[b]), True), float(price[b]), 0)
        if got > 0:
            c = float(_commission_parts(costs, np.array([float(got)]), shares[[jj]], price[[b]])[0])
            cash -= got * float(price[b]) + c
            shares[jj] += got
            n_done += 1
            traded += got * float(price[b])
            paid += c
    # filled orders are done and trimmed ones dropped; a session without a trade carries the order
    keep = ~trades
    return j[keep], size[keep], cash, (n_done, traded, paid)


def _fill_each(t, pend_j, pend_size, shares, cash, bars, lots, run, fill, cash_view):
    """One session's fills, order by order, through the engine's own open price and filler."""
    costs = run.costs
    keep_j, keep_size = [], []
    n_done, traded, paid = 0, 0.0, 0.0
    for jj, remaining in zip(pend_j.tolist(), pend_size.tolist()):
        buy = remaining > 0
        bar = _Bar(run.tickers[jj], t, bars["open"][t, jj], bars["high"][t, jj], bars["low"][t, jj],
                   bars["close"][t, jj], bars["volume"][t, jj], run.prices.sessions[t])
        order = _Order(bar, remaining, buy)
        price = run.open_fill(order)
        if price is None:
            if not order.info.get("limit_cancel"):
                keep_j.append(jj)
                keep_size.append(remaining)
            continue
        cash_view.cash = cash
        got = fill(order, price, 0)
        if got <= 0:
            if not order.info.get("trimmed"):
                keep_j.append(jj)
                keep_size.append(remaining)
            continue
        signed = got if buy else -got
        c = float(_commission_parts(costs, np.array([signed]), shares[[jj]], np.array([price]))[0])
        cash -= signed * price + c
        shares[jj] += signed
        n_done += 1
        traded += got * price
        paid += c
        if got < abs(remaining) and not order.info.get("trimmed"):  # pragma: no cover - the filler only trims buys
            keep_j.append(jj)
            keep_size.append(remaining - signed)
    return np.asarray(keep_j, dtype=np.int64), np.asarray(keep_size, dtype=float), cash, (n_done, traded, paid)


def _result(run, values, held, name, n_orders, n_fills, traded, paid) -> FastResult:
    """Returns built as `_Run.result` builds them: the first session against the starting cash."""
    from backtest.dividends import total_return_index

    sessions = run.prices.sessions
    series = pd.Series(values, index=sessions, name=name)
    strat = series.pct_change()
    strat.iloc[0] = values[0] / run.settings.cash_jpy - 1.0
    bench = getattr(run, "fast_benchmark_returns", None)
    if bench is None:
        bench_div = None
        if run.plan is not None and run.plan.dividends is not None and run.benchmark in run.plan.dividends:
            bench_div = run.plan.dividends[run.benchmark]
        bench = run.fast_benchmark_returns = total_return_index(run.prices.close[run.benchmark], bench_div)
    returns = pd.DataFrame({name: strat, run.benchmark: bench}, index=sessions)
    returns.index.name = "date"
    return FastResult(returns=returns, values=series, shares=held, tickers=list(run.tickers), strategy_name=name,
                      benchmark=run.benchmark, orders=n_orders, fills=n_fills, traded_jpy=traded, commission_jpy=paid)


def run_fast(spec: RunSpec, prices: PriceFrame, events=None, plan=None, choices=None) -> FastResult:
    """The screening engine on one spec: decisions (unless given), checks, simulation; timings in result.timings."""
    t0 = time.perf_counter()
    run = prepare(spec, prices, events, plan)
    bars = feed_arrays(prices)
    t1 = time.perf_counter()
    choices = decisions(spec, prices, events) if choices is None else choices
    t2 = time.perf_counter()
    rows, weights = decision_matrix(run, choices, spec.theme_cls.__name__)
    t3 = time.perf_counter()
    result = simulate(run, rows, weights, bars, spec.name)
    t4 = time.perf_counter()
    result.timings = {"prepare_s": t1 - t0, "decide_s": t2 - t1, "check_s": t3 - t2, "engine_s": t4 - t3}
    return result
