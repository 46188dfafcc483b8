"""The screening engine's loop compiled (numba) for runs whose rules reduce to arithmetic on arrays.

A sweep point on the screening engine keeps counts and sums, not rows (backtest.execution.records.Tally).
When the run has no tick grid, no participation cap, no market impact, a commission that is zero or a
rate, no dividends and no delisted instrument, every fill that goes through is the arithmetic of
backtest.execution.model.fill_whole_at_open, and this module runs the whole session loop of
backtest.execution.screening.simulate as one compiled function: the same numbers from the same float
operations in the same order (numpy's pairwise sum replicated where the rules sum an array), so its
values, counts and sums equal the Python loop's to the bit (tests/execution/test_compiled_loop.py).

The moment a rule would do more than that arithmetic (an instrument that did not trade, an open at its
daily limit, a buy the cash does not cover whole, an order that crosses zero), the compiled loop stops
and says so, and the Python loop runs the point from the start: a compiled run never bends a rule.
Without numba (it fails to import), every point takes the Python loop.
"""

from __future__ import annotations

import math
import time
from functools import cache

import numpy as np

from backtest.execution import model

# The compiled loop's answer when a rule needs the Python loop (see module docstring).
NEEDS_RULES = -1


def runs_compiled(run) -> bool:
    """Is this run's rule set one the compiled loop covers (the per-session conditions are checked as it goes)."""
    market, costs = run.market, run.market.costs
    return (market.ticks is None and market.max_participation is None and not market.impact_coefficient
            and not costs.impact_bps and costs.preset in ("zero", "percent") and run.dividends is None
            and not run.delistings and not run.ends)


def simulate_compiled(run, decided: dict) -> tuple | None:
    """The screening loop on this run's decisions, compiled: (values, held, orders, fills, traded_jpy,
    commission_jpy, largest_participation, requested_max), or None when the Python loop must run it
    (a rule the compiled loop does not cover, or numba missing)."""
    if not runs_compiled(run):
        return None
    loop = _compiled_loop()
    if loop is None:
        return None
    market, costs = run.market, run.market.costs
    n, k = market.close.shape
    chosen = sorted(p for p, w in decided.items() if w is not None and 0 <= p < 2 * n)
    slot = np.full(2 * n, -1, dtype=np.int64)
    slot[chosen] = np.arange(len(chosen))
    weights = np.array([decided[p] for p in chosen], dtype=float).reshape(len(chosen), k)
    percent = costs.preset == "percent"
    reserve = model.reserve_bps(costs)
    out = loop(
        market.open, market.high, market.low, market.close, market.volume, market.lower, market.upper,
        market.lots, market.ratio if market.ratio is not None else np.ones((n, k)), market.capped.astype(np.bool_),
        run.known_close, weights, slot, np.asarray(run.ticker_order, dtype=np.int64),
        float(run.settings.cash_jpy), float(run.settings.cash_buffer_pct), float(reserve),
        float(costs.half_spread_bps), percent, float(costs.rate_bps if percent else 0.0),
        float(costs.min_jpy if percent else 0.0), (reserve - costs.half_spread_bps) / 1e4,
    )
    if out[0] == NEEDS_RULES:
        return None
    return out[1:]


@cache
def warm() -> float:
    """Load (or compile) the loop's machine code now, on a two-session market: the seconds it took, once per
    process, 0 after. A sweep calls it before it times a point, so a point's time is the point's own."""
    start = time.perf_counter()
    loop = _compiled_loop()
    if loop is not None:
        ones = np.ones((2, 1))
        loop(ones, ones, ones, ones, ones, -np.inf * ones, np.inf * ones, ones, ones, np.ones(1, dtype=np.bool_),
             ones, np.full((1, 1), 0.5), np.array([0, -1, -1, -1], dtype=np.int64), np.zeros(1, dtype=np.int64),
             1e6, 5.0, 10.0, 0.0, True, 10.0, 0.0, 1e-3)
    return time.perf_counter() - start


@cache
def _compiled_loop():
    try:
        import numba
    except Exception:  # noqa: BLE001 - without a working numba the Python loop runs every point
        return None
    jit = numba.njit(cache=True, nogil=True)
    # the loop's helpers are looked up by name when it compiles: each becomes its compiled self
    names = ("_block_sum", "_pairwise_sum", "_target_shares", "_place", "_fill", "_session_loop")
    globals().update({name: jit(globals()[name]) for name in names})
    return globals()["_session_loop"]


def _pairwise_sum(a, lo, n):
    """numpy's sum of a contiguous float64 array (add.reduce's pairwise summation), to the bit: blocks of at
    most 128 summed eight ways, halves (cut at a multiple of 8) added. The halving runs on a stack of its
    own: a recursive compiled function cannot be loaded back from numba's cache."""
    if n <= 128:
        return _block_sum(a, lo, n)
    frame_lo = np.empty(64, dtype=np.int64)
    frame_n = np.empty(64, dtype=np.int64)
    frame_stage = np.zeros(64, dtype=np.int64)
    sums = np.empty(64)
    top, done = 0, 0
    frame_lo[0], frame_n[0] = lo, n
    while top >= 0:
        start, size = frame_lo[top], frame_n[top]
        if size <= 128:
            sums[done] = _block_sum(a, start, size)
            done += 1
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        stage = frame_stage[top]
        frame_stage[top] = stage + 1
        if stage == 2:  # both halves summed: left + right
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
            continue
        top += 1
        frame_lo[top] = start if stage == 0 else start + half
        frame_n[top] = half if stage == 0 else size - half
        frame_stage[top] = 0
    return sums[0]


def _block_sum(a, lo, n):
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


def _session_loop(open_, high, low, close, volume, lower, upper, lots, ratio, capped, known_close, weights, slot,
                  by_name, cash, buffer_pct, reserve, half_spread, percent, rate_bps, min_jpy, variable):
    """backtest.execution.screening.simulate for one run whose rules are arithmetic (see module docstring).

    Returns (status, values, held, orders, fills, traded_jpy, commission_jpy, largest_participation,
    requested_max); status NEEDS_RULES when the Python loop must run the point.
    """
    n, k = close.shape
    values = np.empty(n)
    held = np.zeros((n, k))
    shares = np.zeros(k)
    pend_j = np.empty(k, dtype=np.int64)
    pend_s = np.empty(k)
    pending = 0
    orders = 0
    up, down = 1 + half_spread / 1e4, 1 - half_spread / 1e4
    target = np.empty(k)
    price = np.empty(k)
    buy_values = np.empty(k)
    tally = np.zeros(5)  # fills, traded JPY, commission JPY, largest participation, largest requested
    for t in range(n):
        if t >= 1:
            m = slot[2 * t]
            if m >= 0:  # news known before the open: orders sized on the last close, filled at this open
                pending = _place(2 * t, weights[m], values[t - 1], shares, known_close, lots, by_name, buffer_pct,
                                 reserve, percent, rate_bps, min_jpy, variable, target, price, buy_values, pend_j,
                                 pend_s)
                orders += pending
            if pending:
                cash = _fill(t, False, pending, pend_j, pend_s, open_, high, low, close, volume, lower, upper, ratio,
                             capped, shares, cash, up, down, percent, rate_bps, min_jpy, tally)
                if math.isnan(cash):
                    return NEEDS_RULES, values, held, orders, 0, 0.0, 0.0, 0.0, 0.0
                pending = 0
        if t == 0 and slot[0] >= 0:  # the opening portfolio, bought in session 0's closing auction
            count = _place(0, weights[slot[0]], cash, shares, known_close, lots, by_name, buffer_pct, reserve, percent,
                           rate_bps, min_jpy, variable, target, price, buy_values, pend_j, pend_s)
            orders += count
            cash = _fill(0, True, count, pend_j, pend_s, open_, high, low, close, volume, lower, upper, ratio, capped,
                         shares, cash, up, down, percent, rate_bps, min_jpy, tally)
            if math.isnan(cash):
                return NEEDS_RULES, values, held, orders, 0, 0.0, 0.0, 0.0, 0.0
        total = 0.0
        for j in range(k):
            total += close[t, j] * shares[j]
        values[t] = cash + total
        held[t] = shares
        m = slot[2 * t + 1]
        if m >= 0:  # a close decision: orders sized on this close, filled at the next open
            pending = _place(2 * t + 1, weights[m], values[t], shares, known_close, lots, by_name, buffer_pct,
                             reserve, percent, rate_bps, min_jpy, variable, target, price, buy_values, pend_j, pend_s)
            orders += pending
    return 0, values, held, orders, int(tally[0]), tally[1], tally[2], tally[3], tally[4]


def _fill(t, at_close, count, pend_j, pend_s, open_, high, low, close, volume, lower, upper, ratio, capped, shares, cash,
          up, down, percent, rate_bps, min_jpy, tally):
    """fill_whole_at_open (or, at_close, the rules' closing-auction fill) for the pending orders: shares and the
    tally move in place; returns the cash after, or NaN where a rule would do more than this arithmetic."""
    for q in range(count):
        j, signed = pend_j[q], pend_s[q]
        v = volume[t, j]
        position = shares[j]
        buy = signed > 0
        size = abs(signed)
        if not v > 0 or (buy and position < 0) or (not buy and position > 0 and position < size):
            return math.nan  # no trade (the order waits), or an order crossing zero (two fees)
        r = ratio[t, j]
        if at_close:
            filled = (close[t, j] * r * (up if buy else down)) / r
        else:
            o = open_[t, j] * r
            if math.isfinite(upper[t, j]) and ((buy and o >= upper[t, j] - 1e-9) or (not buy and o <= lower[t, j] + 1e-9)):
                return math.nan  # the open at its daily limit: the order waits or is cancelled
            if buy:
                filled = min(min(o * up, high[t, j] * r), upper[t, j]) / r
            else:
                filled = max(max(o * down, low[t, j] * r), lower[t, j]) / r
        value = size * filled
        fee = 0.0
        if percent and value != 0:
            fee = max(value * rate_bps / 1e4, min_jpy)
        amount = signed * filled + fee
        if buy and not amount <= cash:
            return math.nan  # a buy the cash does not cover whole: trimmed, or waiting for the sells
        cash = cash - amount
        shares[j] += signed
        finite = math.isfinite(v)
        if capped[j] and finite:
            tally[4] = max(tally[4], size / v)
        tally[0] += 1
        tally[1] += value
        tally[2] += fee
        share = size / v if finite else 0.0
        if share > tally[3]:
            tally[3] = share
    return cash


def _target_shares(weights, value, price, lots_row, out):
    """model.target_shares into `out`."""
    for j in range(len(weights)):
        p = price[j]
        safe = p if (math.isfinite(p) and p > 0) else math.inf
        raw = weights[j] * value / safe
        units = math.floor(abs(raw) / lots_row[j] + 1e-9)
        out[j] = math.copysign(units * lots_row[j], raw) * (1.0 if units > 0 else 0.0)


def _place(point, w, value, shares, known_close, lots, by_name, buffer_pct, reserve, percent, rate_bps, min_jpy,
           variable, target, price, buy_values, pend_j, pend_s):
    """RunPlan.orders_for (no tick grid, nothing delisted): the orders into pend_j/pend_s, sells then buys in
    ticker order; returns how many."""
    k = len(w)
    i = max((point - 1) // 2, 0)
    for j in range(k):
        price[j] = known_close[i, j]  # NaN before a ticker's first trade: never sized, no order
    sized = value * (1.0 - buffer_pct / 100.0) / (1.0 + reserve / 1e4)
    _target_shares(w, sized, price, lots[i], target)
    if percent:
        count = 0
        for j in range(k):
            if target[j] > shares[j]:
                bought = (target[j] - shares[j]) * price[j]
                fee = max(abs(bought) * rate_bps / 1e4, min_jpy) if bought != 0 else 0.0
                buy_values[count] = max(fee - bought * variable, 0.0)
                count += 1
        if count:
            fixed = _pairwise_sum(buy_values, 0, count)
            if fixed > 0:
                _target_shares(w, sized - fixed, price, lots[i], target)
    count = 0
    for side in range(2):
        sells = side == 0
        for q in range(k):
            j = by_name[q]
            delta = (target[j] if math.isfinite(price[j]) else shares[j]) - shares[j]
            if (sells and delta < 0) or (not sells and delta > 0):
                pend_j[count] = j
                pend_s[count] = delta
                count += 1
    return count
