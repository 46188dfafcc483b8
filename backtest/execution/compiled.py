"""The screening engine's loop compiled (numba): the Tokyo rules of a sweep point as one machine-code function.

A sweep point on the screening engine keeps counts and sums, not rows (backtest.execution.records.Tally).
This module runs backtest.execution.screening.simulate's whole session loop for such a point as one
compiled function: sizing on the last known close (a tick above it on the grid), lot rounding, the buys'
fixed fees, sells before buys in ticker order; at each fill the session's volume (no trade: the order
waits), the daily limit (carry or cancel), the participation cap (the rest waits), spread and impact,
the tick grid, the cash check (a buy trimmed to the cash, or waiting for the sells still to fill), the
commission (one fee per side of an order crossing zero); dividends and the sale of delisted holdings at
their last close. It restates backtest.execution.model's rules with the same float operations in the
same order (numpy's pairwise sum and Python's decimal round() replicated where the rules use them), so
its values, holdings, counts and sums equal the Python loop's to the bit; tests/execution/test_compiled_loop.py
holds them together on every rule set and on random decisions. A rule added to model.fill_session must be
added here too, or runs_compiled must send its runs to the Python loop.

Without numba (it fails to import), every point takes the Python loop.
"""

from __future__ import annotations

import math
import time
from functools import cache

import numpy as np

from backtest.execution import model

# commission presets the compiled loop knows, by code
PRESETS = {"zero": 0, "percent": 1, "tiered": 2}
# Fee tiers and tick tables reach the loop as tuples of this fixed size (values, not arrays: a call that passes
# an array counts references on it, which costs more than the rule), so every run compiles to one function.
MOST_TIERS, MOST_TABLES, MOST_ROWS = 8, 8, 12


def runs_compiled(run) -> bool:
    """Does the compiled loop cover this run's rules."""
    market = run.market
    ticks = market.ticks
    return (market.costs.preset in PRESETS and len(market.costs.tiers) <= MOST_TIERS
            and (ticks is None or (len(ticks.names) <= MOST_TABLES
                                   and all(len(t.steps) <= MOST_ROWS for t in ticks.tables.values()))))


def simulate_compiled(run, decided: dict) -> tuple | None:
    """The screening loop on this run's decisions, compiled: (values, held, orders, fills, traded_jpy,
    commission_jpy, largest_participation, requested_max), or None when the Python loop must run it
    (a rule the compiled loop does not cover, or numba missing)."""
    if not runs_compiled(run):
        return None
    loop = _compiled_loop()
    if loop is None:
        return None
    n, k = run.market.close.shape
    chosen = sorted(p for p, w in decided.items() if w is not None and 0 <= p < 2 * n)
    slot = np.full(2 * n, -1, dtype=np.int64)
    slot[chosen] = np.arange(len(chosen))
    weights = np.array([decided[p] for p in chosen], dtype=float).reshape(len(chosen), k)
    return loop(*_inputs(run), weights, slot)


def _inputs(run) -> tuple:
    """The plan's arrays and rules as the compiled loop reads them: made once per plan, shared by its copies."""
    made = run.derived.get("compiled")
    if made is not None:
        return made
    market, costs, settings = run.market, run.market.costs, run.settings
    n, k = market.close.shape
    ticks = market.ticks
    table_of = ticks.table_index(market.tickers) if ticks is not None else np.full((1, 1), -1, dtype=np.int64)
    steps = [ticks.tables[name].steps for name in ticks.names] if ticks is not None else []
    bounds = np.full((MOST_TABLES, MOST_ROWS), np.nan)  # NaN: the open-ended last row
    sizes = np.ones((MOST_TABLES, MOST_ROWS))
    rows_of = np.ones(MOST_TABLES, dtype=np.int64)
    for a, rows in enumerate(steps):
        rows_of[a] = len(rows)
        for b, (up_to, tick) in enumerate(rows):
            bounds[a, b] = np.nan if up_to is None else up_to
            sizes[a, b] = tick
    tiers = list(costs.tiers or ((None, 0.0),))
    tier_bounds = [np.inf if up_to is None else float(up_to) for up_to, _ in tiers]
    tier_fees = [float(fee) for _, fee in tiers]
    padding = MOST_TIERS - len(tiers)
    ends = np.full(k, n + 1, dtype=np.int64)  # the last session an instrument whose prices end traded in
    for j, last in run.ends.items():
        ends[j] = last
    exits_at = np.full(k, -1, dtype=np.int64)  # where its holding is sold: run.delistings, by column
    for t, columns in run.delistings.items():
        exits_at[columns] = t
    reserve = model.reserve_bps(costs)
    rules = tuple(float(x) for x in (
        settings.cash_jpy, settings.cash_buffer_pct, reserve, (reserve - costs.half_spread_bps) / 1e4,
        costs.half_spread_bps, costs.impact_bps, costs.rate_bps, costs.min_jpy,
        np.nan if market.max_participation is None else market.max_participation, market.impact_coefficient,
        PRESETS[costs.preset], market.limit_action == "cancel", ticks is not None, run.dividends is not None,
    ))
    fees = (rules, tuple(tier_bounds + [np.inf] * padding), tuple(tier_fees + [0.0] * padding), len(tiers))
    tables = (tuple(tuple(float(x) for x in row) for row in bounds), tuple(tuple(float(x) for x in row) for row in sizes),
              tuple(int(x) for x in rows_of))
    contiguous = np.ascontiguousarray
    made = run.derived["compiled"] = (
        market.open, market.high, market.low, market.close, market.volume, market.lower, market.upper,
        market.lots, market.ratio if market.ratio is not None else np.ones((n, k)),
        contiguous(market.vol) if market.impact_coefficient else np.zeros((1, 1)),
        market.capped.astype(np.bool_), run.known_close,
        contiguous(run.dividends, dtype=float) if run.dividends is not None else np.zeros((1, 1)),
        table_of, tables, fees, ends, exits_at, np.asarray(run.ticker_order, dtype=np.int64),
    )
    return made


_WARM: list[bool] = []  # the loop has run once in this process


def warm() -> float:
    """Load (or compile) the loop's machine code now, on a two-session market: the seconds it took the first time
    in a process, 0.0 after. A sweep calls it before it times a point, so a point's time is the point's own."""
    if _WARM:
        return 0.0
    _WARM.append(True)
    start = time.perf_counter()
    loop = _compiled_loop()
    if loop is not None:
        ones = np.ones((2, 1))
        rules = (1e6, 5.0, 10.0, 1e-3, 0.0, 0.0, 10.0, 0.0, np.nan, 0.0, 1.0, 0.0, 0.0, 0.0)
        row = (np.nan,) * MOST_ROWS
        tables = ((row,) * MOST_TABLES, ((1.0,) * MOST_ROWS,) * MOST_TABLES, (1,) * MOST_TABLES)
        fees = (rules, (np.inf,) * MOST_TIERS, (0.0,) * MOST_TIERS, 1)
        loop(ones, ones, ones, ones, ones, -np.inf * ones, np.inf * ones, ones, ones, np.zeros((1, 1)),
             np.ones(1, dtype=np.bool_), ones, np.zeros((1, 1)), np.full((1, 1), -1, dtype=np.int64), tables, fees,
             np.full(1, 3, dtype=np.int64), np.full(1, -1, dtype=np.int64), np.zeros(1, dtype=np.int64),
             np.full((1, 1), 0.5), np.array([0, -1, -1, -1], dtype=np.int64))
    return time.perf_counter() - start


@cache
def _compiled_loop():
    try:
        import numba
    except Exception:  # noqa: BLE001 - without a working numba the Python loop runs every point
        return None
    jit = numba.njit(cache=True, nogil=True)
    # the loop's helpers are looked up by name when it compiles: each becomes its compiled self
    names = ("_block_sum", "_pairwise_sum", "_two_product", "_round", "_tick", "_up", "_down", "_commission",
             "_commission_parts", "_fits", "_affordable", "_sqrt_impact_bps", "_price", "_fill", "_target_shares",
             "_place", "_book", "_session_loop")
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


# positions in the rules tuple (see _inputs)
CASH, BUFFER, RESERVE, VARIABLE, SPREAD, IMPACT_BPS, RATE, MIN_FEE, PARTICIPATION, IMPACT, PRESET, CANCEL, TICKS, \
    DIVIDENDS = range(14)


def _two_product(a, b):
    """a × b as the rounded product and its exact error (Dekker): their sum is the exact product."""
    p = a * b
    c = 134217729.0 * a
    a_hi = c - (c - a)
    a_lo = a - a_hi
    c = 134217729.0 * b
    b_hi = c - (c - b)
    b_lo = b - b_hi
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _round(x, scale):
    """Python's round(x, digits) for scale = 10**digits: the exact x × scale to the nearest integer (halves to
    even), divided by scale, as CPython's correctly rounded decimal conversion gives it (x ≥ 0, x × scale < 2**52)."""
    p, error = _two_product(x, scale)
    whole = math.floor(p)
    part = p - whole  # exact: p and its floor share an exponent's grid
    if part > 0.5 or (part == 0.5 and (error > 0 or (error == 0 and whole % 2 == 1))):
        whole += 1.0
    return whole / scale


def _tick(tables, a, price):
    """TickTable.tick of table a: the first row whose bound the price does not exceed."""
    bounds, sizes, rows = tables[0][a], tables[1][a], tables[2][a]
    for b in range(rows):
        if math.isnan(bounds[b]) or price <= bounds[b]:
            return sizes[b]
    return sizes[rows - 1]


def _up(tables, a, price):
    p = _round(price, 1e6)
    t = _tick(tables, a, p)
    return _round(math.ceil(p / t - 1e-9) * t, 1e4)


def _down(tables, a, price):
    p = _round(price, 1e6)
    t = _tick(tables, a, p)
    return _round(math.floor(p / t + 1e-9) * t, 1e4)


def _commission(fees, value):
    """CostModel.commission: JPY for one order of this traded value."""
    rules, tier_bounds, tier_fees, tiers = fees
    value = abs(value)
    if value == 0:
        return 0.0
    if rules[PRESET] == 1:
        return max(value * rules[RATE] / 1e4, rules[MIN_FEE])
    if rules[PRESET] == 2:
        for b in range(tiers):
            if value <= tier_bounds[b]:
                return tier_fees[b]
        return tier_fees[tiers - 1]
    return 0.0


def _commission_parts(fees, size, position, price):
    """model.commission_parts: one fee for the part that closes a position, one for the part that opens one."""
    if position != 0 and (size > 0) != (position > 0):
        closed = min(abs(size), abs(position))
        opened = abs(size) - closed
        return _commission(fees, closed * price) + _commission(fees, opened * price)
    return _commission(fees, abs(size) * price)


def _fits(fees, cash, shares, price, position):
    """model._fits: do `shares` and their commission fit in `cash`."""
    return shares * price + _commission_parts(fees, shares, position, price) <= cash


def _affordable(fees, cash, price, lot, position):
    """model.affordable: the most whole units whose value and commission fit in the cash."""
    if cash <= 0 or price <= 0 or lot <= 0:
        return 0.0
    hi = math.floor(cash / price / lot + 1e-9)
    if hi <= 0:
        return 0.0
    if _fits(fees, cash, hi * lot, price, position):
        return hi * lot
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(fees, cash, mid * lot, price, position):
            lo = mid
        else:
            hi = mid
    return lo * lot


def _sqrt_impact_bps(shares, volume, daily, coefficient):
    """model.sqrt_impact_bps: coefficient × daily volatility × sqrt(shares / volume), in basis points."""
    if coefficient == 0 or shares == 0 or not (volume > 0) or not math.isfinite(volume) or not math.isfinite(daily):
        return 0.0
    return coefficient * daily * math.sqrt(abs(shares) / volume) * 1e4


def _price(fees, tables, a, buy, shares, at_close, o, h, lo, c, v, up, dn, r, daily, capped):
    """The fill price of `shares` (fill_session's price_for): the open o (or the close c) moved by spread and impact,
    within the bar (h, lo) and the limit band (dn, up), on the tick grid of table a; NaN where the open sits at
    the limit. Prices adjusted; r: as-traded ÷ adjusted."""
    rules = fees[0]
    slip = rules[SPREAD]
    if rules[IMPACT_BPS] != 0 and capped and math.isfinite(v) and v > 0:
        slip += rules[IMPACT_BPS] * 100.0 * abs(shares) / v
    if capped:
        slip += _sqrt_impact_bps(shares, v, daily, rules[IMPACT])
    if at_close:
        c = c * r
        price = c * (1 + slip / 1e4) if buy else c * (1 - slip / 1e4)
        if a >= 0:
            price = _up(tables, a, price) if buy else _down(tables, a, price)
        return price / r
    o, h, lo = o * r, h * r, lo * r
    limited = math.isfinite(up)
    if limited:
        tol = 0.5 * _tick(tables, a, up) if a >= 0 else 1e-9
        if (buy and o >= up - tol) or (not buy and o <= dn + tol):
            return math.nan
    price = o * (1 + slip / 1e4) if buy else o * (1 - slip / 1e4)
    if a >= 0:
        h, lo = _up(tables, a, h), _down(tables, a, lo)
    price = min(min(price, h), up) if buy else max(max(price, lo), dn)
    if a >= 0:
        price = _up(tables, a, price) if buy else _down(tables, a, price)
        if limited and buy and price > up:
            price = _down(tables, a, up)
        elif limited and not buy and price < dn:
            price = _up(tables, a, dn)
    return price / r


def _fill(market, fees, tables, table_of, lots, t, at_close, queue, count, shares, cash, tally):
    """model.fill_session for the queue's first `count` orders: shares, the queue and the tally move in place;
    returns (cash after, how many orders still wait, now first in the queue)."""
    open_, high, low, close, volume, lower, upper, ratio, vol, capped = market
    rules = fees[0]
    columns, remaining, asked, exits = queue
    waiting = 0
    sells_waiting = False
    for q in range(count):
        j, left, exit_ = columns[q], remaining[q], exits[q]
        buy = left > 0
        v = volume[t, j]
        keep = True
        if v > 0:
            a = table_of[t, j] if rules[TICKS] != 0 else -1
            want = abs(left)
            lot = lots[t, j]
            capped_j = capped[j] and not exit_
            cap = math.inf
            if capped_j and not math.isnan(rules[PARTICIPATION]) and math.isfinite(v):
                cap = math.floor(rules[PARTICIPATION] * v / lot + 1e-9) * lot
            if capped_j and math.isfinite(v) and not asked[q]:
                tally[4] = max(tally[4], want / v)
            asked[q] = True
            size = min(want, cap)
            daily = vol[t, j] if rules[IMPACT] != 0 else 0.0
            o, h, lo, c, up, dn, r = open_[t, j], high[t, j], low[t, j], close[t, j], upper[t, j], lower[t, j], ratio[t, j]
            price = _price(fees, tables, a, buy, size, at_close, o, h, lo, c, v, up, dn, r, daily, capped[j])
            if math.isnan(price):  # the open at its limit: the order waits, or is cancelled
                keep = rules[CANCEL] == 0
            else:
                trimmed = False
                if buy:
                    position = shares[j]
                    fit = size if _fits(fees, cash, size, price, position) else _affordable(fees, cash, price, lot,
                                                                                             position)
                    if fit < size and sells_waiting:
                        size = fit  # the rest waits for the cash of sells still to fill
                    elif fit < size:
                        size, trimmed = fit, True
                    if fit < want and fit > 0:
                        price = _price(fees, tables, a, buy, size, at_close, o, h, lo, c, v, up, dn, r, daily, capped[j])
                if size > 0:
                    signed = size if buy else -size
                    fee = _commission_parts(fees, signed, shares[j], price)
                    cash -= signed * price + fee
                    shares[j] += signed
                    left -= signed
                    tally[0] += 1
                    tally[1] += abs(signed) * price
                    tally[2] += fee
                    share = size / v if math.isfinite(v) else 0.0
                    if share > tally[3]:
                        tally[3] = share
                keep = not trimmed and abs(left) > 0
        if keep:
            columns[waiting], remaining[waiting], asked[waiting], exits[waiting] = j, left, asked[q], exit_
            waiting += 1
            sells_waiting = sells_waiting or not buy
    return cash, waiting


def _target_shares(weights, value, price, lots_row, out):
    """model.target_shares into `out`."""
    for j in range(len(weights)):
        p = price[j]
        safe = p if (math.isfinite(p) and p > 0) else math.inf
        raw = weights[j] * value / safe
        units = math.floor(abs(raw) / lots_row[j] + 1e-9)
        out[j] = math.copysign(units * lots_row[j], raw) * (1.0 if units > 0 else 0.0)


def _place(point, w, value, shares, known_close, lots, ratio, table_of, tables, fees, ends, by_name, queue, work):
    """RunPlan.orders_for: the rebalance's orders into the queue (it replaces what waited), sells then buys in
    ticker order; returns how many."""
    rules = fees[0]
    target, price, buy_values = work
    k = len(w)
    i = max((point - 1) // 2, 0)
    fills_in = 0 if point == 0 else (point // 2 if point % 2 == 0 else point // 2 + 1)
    for j in range(k):
        p = known_close[i, j]  # NaN before a ticker's first trade: never sized, no order
        if rules[TICKS] != 0 and w[j] > 0 and math.isfinite(p) and table_of[i, j] >= 0:
            r = ratio[i, j]  # a buy is sized a tick above the close, so it still fits a tick higher
            p = p + _tick(tables, table_of[i, j], p * r) / r
        if w[j] != 0 and ends[j] < fills_in:
            p = math.nan  # its prices end before the order could fill
        price[j] = p
    sized = value * (1.0 - rules[BUFFER] / 100.0) / (1.0 + rules[RESERVE] / 1e4)
    _target_shares(w, sized, price, lots[i], target)
    if rules[PRESET] != 0:  # per-order fees and minimums are not a rate: taken off the budget once
        count = 0
        for j in range(k):
            if target[j] > shares[j]:
                bought = (target[j] - shares[j]) * price[j]
                buy_values[count] = max(_commission(fees, bought) - bought * rules[VARIABLE], 0.0)
                count += 1
        if count:
            fixed = _pairwise_sum(buy_values, 0, count)
            if fixed > 0:
                _target_shares(w, sized - fixed, price, lots[i], target)
    columns, remaining, asked, exits = queue
    count = 0
    for side in range(2):
        sells = side == 0
        for q in range(k):
            j = by_name[q]
            delta = (target[j] if math.isfinite(price[j]) else shares[j]) - shares[j]
            if (sells and delta < 0) or (not sells and delta > 0):
                columns[count], remaining[count], asked[count], exits[count] = j, delta, False, False
                count += 1
    return count


def _session_loop(open_, high, low, close, volume, lower, upper, lots, ratio, vol, capped, known_close, dividends,
                  table_of, tables, fees, ends, exits_at, by_name, weights, slot):
    """backtest.execution.screening.simulate for a sweep point (see module docstring). Returns (values, held,
    orders, fills, traded_jpy, commission_jpy, largest_participation, requested_max)."""
    n, k = close.shape
    market = (open_, high, low, close, volume, lower, upper, ratio, vol, capped)
    rules = fees[0]
    values = np.empty(n)
    held = np.zeros((n, k))
    shares = np.zeros(k)
    queue = (np.empty(k, dtype=np.int64), np.empty(k), np.zeros(k, dtype=np.bool_), np.zeros(k, dtype=np.bool_))
    exits = (np.empty(k, dtype=np.int64), np.empty(k), np.zeros(k, dtype=np.bool_), np.ones(k, dtype=np.bool_))
    work = (np.empty(k), np.empty(k), np.empty(k))
    tally = np.zeros(5)  # fills, traded JPY, commission JPY, largest participation, largest requested
    cash = rules[CASH]
    pending = 0
    orders = 0
    dividend = 0.0
    for t in range(n):
        if t >= 1:
            m = slot[2 * t]
            if m >= 0:  # news known before the open: orders sized on the last close, filled at this open
                pending = _place(2 * t, weights[m], values[t - 1], shares, known_close, lots, ratio, table_of, tables,
                                 fees, ends, by_name, queue, work)
                orders += pending
            if pending:
                cash, pending = _fill(market, fees, tables, table_of, lots, t, False, queue, pending, shares, cash,
                                      tally)
            if dividend != 0:
                cash += dividend
                dividend = 0.0
        if t == 0 and slot[0] >= 0:  # the opening portfolio, bought in session 0's closing auction
            pending = _place(0, weights[slot[0]], cash, shares, known_close, lots, ratio, table_of, tables, fees, ends,
                             by_name, queue, work)
            orders += pending
            cash, pending = _fill(market, fees, tables, table_of, lots, 0, True, queue, pending, shares, cash, tally)
        values[t] = cash + _book(close, t, shares)
        leaving = 0  # holdings whose prices end here: sold whole in this closing auction
        for j in range(k):
            if exits_at[j] == t and shares[j] != 0:
                exits[0][leaving], exits[1][leaving], exits[2][leaving] = j, -shares[j], False
                leaving += 1
        if leaving:
            orders += leaving
            cash, _ = _fill(market, fees, tables, table_of, lots, t, True, exits, leaving, shares, cash, tally)
            values[t] = cash + _book(close, t, shares)
        held[t] = shares
        if rules[DIVIDENDS] != 0 and t + 1 < n:  # owed for the shares held tonight, paid at the next session
            owed = work[2]
            for j in range(k):
                x = shares[j] * dividends[t + 1, j]
                owed[j] = 0.0 if math.isnan(x) else x
            dividend = _pairwise_sum(owed, 0, k)
        m = slot[2 * t + 1]
        if m >= 0:  # a close decision: orders sized on this close, filled at the next open
            pending = _place(2 * t + 1, weights[m], values[t], shares, known_close, lots, ratio, table_of, tables,
                             fees, ends, by_name, queue, work)
            orders += pending
    return values, held, orders, int(tally[0]), tally[1], tally[2], tally[3], tally[4]


def _book(close, t, shares):
    """The holdings' value at session t's close, summed left to right (screening.book_values' order)."""
    total = 0.0
    for j in range(len(shares)):
        total += close[t, j] * shares[j]
    return total
