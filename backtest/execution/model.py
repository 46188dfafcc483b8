"""The Tokyo execution rules, once, as pure functions on numbers and arrays.

Both engines call these and nothing else for a rule: the backtrader engine of record
(backtest.execution.backtrader.engine) and the numpy screening engine (backtest.execution.screening). Neither re-states sizing,
lot rounding, the tick grid, daily limits, the cash check, participation, impact or commission.

Shapes: "per ticker" arrays have one entry per column of the run's PriceFrame; prices in JPY
(index points for an index), shares in the price series' own units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# A target never buys more than the weight allows: shares are rounded toward zero, with this much
# slack so that a target of exactly k units (up to float noise) is k units.
_UNIT_SLACK = 1e-9
# Impact needs a volatility; before a ticker has this many returns, its daily volatility is unknown
# and the participation cap alone applies.
MIN_VOL_RETURNS = 5


# ----- sizing -------------------------------------------------------------------------------------
def round_to_lots(shares, lots):
    """Whole trading units, toward zero, so a target never over-spends (scalars or arrays)."""
    shares = np.asarray(shares, dtype=float)
    lots = np.asarray(lots, dtype=float)
    units = np.floor(np.abs(shares) / lots + _UNIT_SLACK)
    out = np.copysign(units * lots, shares) * (units > 0)
    return float(out) if out.ndim == 0 else out


def reserve_bps(costs) -> float:
    """Basis points of a buy's value kept back for its costs: the percentage commission and the half-spread."""
    return (costs.rate_bps if costs.preset == "percent" else 0.0) + costs.half_spread_bps


def sizing_value(portfolio_value: float, cash_buffer_pct: float, costs) -> float:
    """The JPY the weights are applied to: the portfolio less the cash buffer, less the reserved costs."""
    return portfolio_value * (1.0 - cash_buffer_pct / 100.0) / (1.0 + reserve_bps(costs) / 1e4)


def target_shares(weights, value: float, prices, lots):
    """Shares per ticker that put `weights` of `value` JPY into each, in whole units toward zero.

    weights, prices, lots: per ticker. A ticker without a price (NaN) gets 0.
    """
    weights = np.asarray(weights, dtype=float)
    prices = np.asarray(prices, dtype=float)
    safe = np.where(np.isfinite(prices) & (prices > 0), prices, np.inf)
    return round_to_lots(weights * value / safe, lots)


def commission(costs, values):
    """JPY charged for each order (one execution) of these traded values; 0 for nothing traded."""
    if np.ndim(values) == 0:
        return costs.commission(values)  # the cost model's own schedule, in plain Python
    values = np.abs(np.asarray(values, dtype=float))
    if costs.preset == "percent":
        out = np.maximum(values * costs.rate_bps / 1e4, costs.min_jpy)
    elif costs.preset == "tiered":
        bounds = np.array([math.inf if up is None else up for up, _ in costs.tiers])
        fees = np.array([fee for _, fee in costs.tiers])
        out = fees[np.minimum(np.searchsorted(bounds, values, side="left"), len(fees) - 1)]
    else:
        out = np.zeros_like(values)
    out = np.where(values == 0, 0.0, out)
    return float(out) if out.ndim == 0 else out


def commission_parts(costs, size: float, position: float, price: float) -> float:
    """Commission of one execution. The part that closes a position and the part that opens one are
    charged separately (two minimum fees for an order that crosses zero), as a broker books them."""
    if position != 0 and (size > 0) != (position > 0):
        closed = min(abs(size), abs(position))
        opened = abs(size) - closed
        return commission(costs, closed * price) + commission(costs, opened * price)
    return commission(costs, abs(size) * price)


def fixed_fee_jpy(costs, buy_values) -> float:
    """What the buys' fees add above the reserved percentage: per-order fees and minimums are not a rate."""
    buy_values = np.asarray(buy_values, dtype=float)
    if not len(buy_values):
        return 0.0
    variable = (reserve_bps(costs) - costs.half_spread_bps) / 1e4
    return float(np.maximum(commission(costs, buy_values) - buy_values * variable, 0.0).sum())


def size_targets(weights, portfolio_value: float, sizing_prices, lots, held, costs, cash_buffer_pct: float):
    """Target shares for a rebalance: weights of the sizing value in whole units, with the buys'
    fixed fees taken off the budget once. weights, sizing_prices, lots, held: per ticker."""
    value = sizing_value(portfolio_value, cash_buffer_pct, costs)
    target = target_shares(weights, value, sizing_prices, lots)
    held = np.asarray(held, dtype=float)
    buying = target > held
    if costs.preset in ("tiered", "percent") and buying.any():
        fixed = fixed_fee_jpy(costs, (target - held)[buying] * np.asarray(sizing_prices, dtype=float)[buying])
        if fixed > 0:
            target = target_shares(weights, value - fixed, sizing_prices, lots)
    return target


def ticker_order(tickers: list[str]) -> list[int]:
    """The columns in ticker order: the order a rebalance's sells, and then its buys, are sent in."""
    return sorted(range(len(tickers)), key=lambda j: tickers[j])


def order_sequence(tickers: list[str], target, held, by_name: list[int] | None = None) -> list[tuple[int, float]]:
    """The orders of a rebalance as (column, signed shares): sells first, then buys, each in ticker order,
    so the sells' cash is there before the first buy. by_name: ticker_order(tickers), if already known."""
    delta = (np.asarray(target, dtype=float) - np.asarray(held, dtype=float)).tolist()
    if by_name is None:
        by_name = ticker_order(tickers)
    sells = [(j, delta[j]) for j in by_name if delta[j] < 0]
    buys = [(j, delta[j]) for j in by_name if delta[j] > 0]
    return sells + buys


# ----- the fill ----------------------------------------------------------------------------------
def affordable(cash: float, price: float, lot: float, costs, position: float = 0.0) -> float:
    """The most shares, in whole units, whose value and commission fit in `cash` (a buy).

    Commission never falls as the value rises, so the answer is found by bisection on the number of
    units: a handful of steps whatever the cash and the fee table.
    """
    if cash <= 0 or price <= 0 or lot <= 0:
        return 0.0
    hi = math.floor(cash / price / lot + _UNIT_SLACK)

    def fits(units: int) -> bool:
        shares = units * lot
        return shares * price + commission_parts(costs, shares, position, price) <= cash

    if hi <= 0:
        return 0.0
    if fits(hi):
        return hi * lot
    lo = 0  # fits(lo) is true: nothing costs nothing
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo * lot


def _fits(cash: float, shares: float, price: float, costs, position: float) -> bool:
    """Do `shares` (whole units) and their commission fit in `cash`: affordable()'s own test, so
    affordable(...) >= shares exactly when this is true (commission never falls as the value rises)."""
    return shares * price + commission_parts(costs, shares, position, price) <= cash


def participation_cap(volume: float, max_participation: float | None, lot: float) -> float:
    """The most shares one fill may take of a session's volume, in whole units; inf when there is no cap."""
    if max_participation is None or not math.isfinite(volume):
        return math.inf
    return math.floor(max_participation * volume / lot + _UNIT_SLACK) * lot


def sqrt_impact_bps(shares: float, volume: float, daily_vol: float, coefficient: float) -> float:
    """Market impact of a fill, in basis points: coefficient × daily volatility × sqrt(shares / volume).

    The square-root law of market impact (Almgren, Thum, Hauptmann and Li 2005; Tóth et al. 2011;
    Bouchaud, Bonart, Donier and Gould, "Trades, Quotes and Prices", 2018, ch. 12), with the
    session's volume standing in for the daily volume and the instrument's daily return volatility.
    """
    if not coefficient or shares == 0 or not (volume > 0) or not math.isfinite(volume) or not math.isfinite(daily_vol):
        return 0.0
    return coefficient * daily_vol * math.sqrt(abs(shares) / volume) * 1e4


def daily_volatility(close: np.ndarray, window: int) -> np.ndarray:
    """Each session's daily return volatility as known before its open: the standard deviation of the
    last `window` close-to-close log returns up to the previous session (NaN until MIN_VOL_RETURNS exist).

    close: sessions × tickers, NaN where no trade (skipped). Returns the same shape.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        c = close[:, j]
        traded = np.flatnonzero(np.isfinite(c) & (c > 0))
        if len(traded) < MIN_VOL_RETURNS + 1:
            continue
        r = np.diff(np.log(c[traded]))  # return ending at traded[1:]
        # the volatility known after the close of traded[m+1] uses returns r[..m]; it applies from the next session on
        csum = np.concatenate([[0.0], np.cumsum(r)])
        csq = np.concatenate([[0.0], np.cumsum(r * r)])
        m = np.arange(1, len(r) + 1)
        lo = np.maximum(m - window, 0)
        cnt = m - lo
        mean = (csum[m] - csum[lo]) / cnt
        var = np.maximum((csq[m] - csq[lo]) / cnt - mean * mean, 0.0) * cnt / np.maximum(cnt - 1, 1)
        vol = np.where(cnt >= MIN_VOL_RETURNS, np.sqrt(var), np.nan)
        known_after = traded[1:]  # session whose close completes the return
        col = np.full(n, np.nan)
        col[known_after] = vol
        # carried forward over untraded sessions, then shifted: session t sees what was known at t-1's close
        valid = np.isfinite(col)
        idx = np.where(valid, np.arange(n), -1)
        np.maximum.accumulate(idx, out=idx)
        filled = np.where(idx >= 0, col[np.maximum(idx, 0)], np.nan)
        out[1:, j] = filled[:-1]
    return out


def fill_price(buy: bool, open_: float, high: float, low: float, slip_bps: float, table=None,
               lower: float = -math.inf, upper: float = math.inf) -> float | None:
    """The price a market order gets at the open, or None when the open sits at the daily limit in the
    order's direction (no seller at limit-up, no buyer at limit-down).

    The open moves against the trader by slip_bps, stays within the session's range (widened outward
    to the tick grid) and the limit band, and lands on the grid: buys round up, sells down.
    """
    limited = math.isfinite(upper)
    if limited:
        tol = 0.5 * table.tick(upper) if table is not None else 1e-9
        if (buy and open_ >= upper - tol) or (not buy and open_ <= lower + tol):
            return None
    price = open_ * (1 + slip_bps / 1e4) if buy else open_ * (1 - slip_bps / 1e4)
    if table is not None:
        high, low = table.up(high), table.down(low)
    price = min(price, high, upper) if buy else max(price, low, lower)
    if table is not None:
        price = table.up(price) if buy else table.down(price)
        if limited and buy and price > upper:
            price = table.down(upper)
        elif limited and not buy and price < lower:
            price = table.up(lower)
    return price


def close_fill_price(buy: bool, close: float, slip_bps: float, table=None) -> float:
    """The price of an order in the closing auction: the close moved against the trader, on the grid."""
    price = close * (1 + slip_bps / 1e4) if buy else close * (1 - slip_bps / 1e4)
    if table is not None:
        price = table.up(price) if buy else table.down(price)
    return price


# ----- one session's fills ------------------------------------------------------------------------
@dataclass
class Order:
    """An order waiting to fill: column j, signed shares still to trade, and what happened to it."""

    j: int
    remaining: float
    ordered: float
    handle: object = None  # the engine's own order object, if it has one
    notes: list[str] = field(default_factory=list)
    status: str = "submitted"
    due: int = 0  # the first session it may fill in
    target: float = 0.0  # the shares the rebalance aims to hold
    record: dict | None = None  # its row of orders.csv
    asked: bool = False  # has it met a session that traded yet (its first ask sets the capacity)
    exit: bool = False  # a delisted holding's sale: the whole position in its last closing auction, no volume cap

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)


@dataclass
class Fill:
    """One execution: signed shares at a price, the commission, and the participation it took."""

    order: Order
    shares: float
    price: float
    commission: float
    participation: float
    reference: float = math.nan  # the bar's open (or close) the price moved away from: spread, impact, ticks

    @property
    def value_jpy(self) -> float:
        """What the fill traded, in JPY (positive for buys and sells alike)."""
        return abs(self.shares) * self.price

    @property
    def slippage_jpy(self) -> float:
        """What the price concession cost against the reference price, in JPY (positive: paid)."""
        return (self.price - self.reference) * self.shares


@dataclass
class Market:
    """What the fill rules read, per session and ticker (arrays sessions × tickers), built once per run.

    open/high/low/close/volume: the engine's bars (a session without a trade has volume 0; an index
    has no volume and an infinite one here). lower/upper: daily limit band (±inf where none applies).
    lots: trading units. vol: daily volatility known before each open (for impact).
    """

    sessions: object
    tickers: list[str]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    lots: np.ndarray
    vol: np.ndarray
    costs: object
    ticks: object = None
    max_participation: float | None = None
    impact_coefficient: float = 0.0
    limit_action: str = "carry"
    capped: np.ndarray = None  # per ticker: does the participation cap apply (not to an index)
    ratio: np.ndarray = None  # as-traded price ÷ adjusted price: ticks and limits apply on the traded price

    def table(self, j: int, t: int):
        return self.ticks.table(self.tickers[j], t) if self.ticks is not None else None

    def day(self, t: int) -> str:
        """Session t's date as the orders' notes write it (looked up only when a note needs it)."""
        return str(self.sessions[t].date())


def fill_session(market: Market, t: int, orders: list[Order], cash: float, shares: np.ndarray,
                 at_close: bool = False, sells_waiting: bool = False) -> tuple[list[Fill], list[Order], float, dict]:
    """Fill `orders` (in queue order) at session t's open against `cash` and the book `shares`.

    Updates `shares` in place. Returns (fills, orders still waiting, cash after, stats) where stats
    holds the largest requested participation of an order in a session that traded it.
    Rules, in order for each order: no trade in the session → it waits; the open at the limit in the
    order's direction → it waits (carry) or is cancelled; at most max_participation of the session's
    volume → the rest waits; a buy trimmed to the cash there is → the rest is dropped, unless sells of
    the same rebalance still wait to fill (sells_waiting, or a sell carried earlier in this list): then
    the rest waits for their cash.
    """
    if not at_close:
        whole = fill_whole_at_open(market, t, orders, cash, shares)
        if whole is not None:
            return whole
    fills: list[Fill] = []
    waiting: list[Order] = []
    requested_max = 0.0
    for order in orders:
        j = order.j
        buy = order.remaining > 0
        volume = market.volume[t, j]
        if not volume > 0:
            order.note(f"carried: no trade in {market.tickers[j]} on {market.day(t)}")
            waiting.append(order)
            sells_waiting = sells_waiting or not buy
            continue
        table = market.table(j, t)
        lower, upper = market.lower[t, j], market.upper[t, j]
        want = abs(order.remaining)
        lot = market.lots[t, j]
        capped = market.capped[j] and not order.exit
        cap = participation_cap(volume, market.max_participation, lot) if capped else math.inf
        if capped and math.isfinite(volume) and not order.asked:
            # the whole order against the first session that trades it: scale the capital by
            # max_participation over this, and the order would just fit
            requested_max = max(requested_max, want / volume)
        order.asked = True
        size = min(want, cap)

        r = 1.0 if market.ratio is None else market.ratio[t, j]

        def price_for(shares: float) -> float | None:
            slip = market.costs.slip_bps(shares, volume if market.capped[j] else float("nan"))
            if market.capped[j]:
                slip += sqrt_impact_bps(shares, volume, market.vol[t, j], market.impact_coefficient)
            if at_close:
                traded = close_fill_price(buy, market.close[t, j] * r, slip, table)
            else:
                traded = fill_price(buy, market.open[t, j] * r, market.high[t, j] * r, market.low[t, j] * r, slip,
                                    table, lower, upper)
            return None if traded is None else traded / r

        price = price_for(size)
        if price is None:
            side = f"opened limit-up at {upper:,.1f}" if buy else f"opened limit-down at {lower:,.1f}"
            if market.limit_action == "cancel":
                order.note(f"cancelled: {side} on {market.day(t)} (daily price limit)")
                order.status = "cancelled: limit"
            else:
                order.note(f"carried: {side} on {market.day(t)} (daily price limit)")
                waiting.append(order)
                sells_waiting = sells_waiting or not buy
            continue
        trimmed = short = False
        if buy:
            # the whole size fits (the usual case) or the most that does: the rules below only compare the two
            fit = size if _fits(cash, size, price, market.costs, shares[j]) else affordable(
                cash, price, lot, market.costs, shares[j])
            if fit < size and sells_waiting:
                order.note("carried: waiting for the cash of sells still to fill")
                size, short = fit, True
            elif fit < size:
                where = "close" if at_close else "open"
                order.note(f"trimmed at the {where} from {int(size)} to {int(fit)} shares: "
                           "not enough cash after the sells and costs")
                size, trimmed = fit, True
            if fit < want and fit > 0:
                # the impact is that of the shares traded; a smaller fill moves the price less, so it still fits
                price = price_for(size)
        if size < want and not trimmed and not short:
            order.note(f"carried: participation limit, at most {market.max_participation:.0%} of a session's volume")
        if size > 0:
            signed = size if buy else -size
            fee = commission_parts(market.costs, signed, shares[j], price)
            cash -= signed * price + fee
            shares[j] += signed
            order.remaining -= signed
            participation = size / volume if math.isfinite(volume) else 0.0
            reference = market.close[t, j] if at_close else market.open[t, j]
            fills.append(Fill(order, signed, price, fee, participation, reference))
        if trimmed:
            order.status = "trimmed"
        elif abs(order.remaining) > 0:
            waiting.append(order)
            sells_waiting = sells_waiting or not buy
        else:
            order.status = "filled"
    return fills, waiting, cash, {"requested_max": requested_max}



# Below this many orders the arrays cost more to set up than the rules' loop.
ARRAY_PATH_FROM = 8


def fill_whole_at_open(market: Market, t: int, orders: list[Order], cash: float, shares: np.ndarray,
                        margin: float = 0.0):
    """fill_session's result on arrays, for the usual session in which no rule can bite: every order's
    instrument traded, no tick grid, no open at a daily limit, no participation cap, no impact, a commission
    that is a rate (zero or percent), no order crossing zero, and every buy fits in the cash left
    before it (with `margin` yen to spare, for a caller that books the cash by its own arithmetic).
    Each number is computed with the same operations, in the same order, as the rules in fill_session,
    so the result is the same to the bit; None when any condition fails (the rules run). An order whose
    open is at its daily limit also goes to the rules.
    """
    costs = market.costs
    if (len(orders) < ARRAY_PATH_FROM or market.ticks is not None or market.max_participation is not None
            or market.impact_coefficient or costs.impact_bps or costs.preset not in ("zero", "percent")):
        return None
    js = np.fromiter((o.j for o in orders), dtype=np.intp, count=len(orders))
    signed = np.fromiter((o.remaining for o in orders), dtype=float, count=len(orders))
    volume = market.volume[t, js]
    if not np.all(volume > 0) or not np.all(signed != 0) or len(set(js.tolist())) != len(js):
        return None
    position = shares[js]
    buy = signed > 0
    size = np.abs(signed)
    if np.any(buy & (position < 0)) or np.any(~buy & (position > 0) & (position < size)):
        return None
    r = np.ones(len(js)) if market.ratio is None else market.ratio[t, js]
    slip = costs.half_spread_bps  # slip_bps without impact
    up, down = 1 + slip / 1e4, 1 - slip / 1e4
    lower, upper = market.lower[t, js], market.upper[t, js]
    o = market.open[t, js] * r
    if np.any(np.isfinite(upper) & np.where(buy, o >= upper - 1e-9, o <= lower + 1e-9)):
        return None  # an open at the limit in the order's direction: the rules carry or cancel it
    traded = np.where(buy, np.minimum(np.minimum(o * up, market.high[t, js] * r), upper),
                      np.maximum(np.maximum(o * down, market.low[t, js] * r), lower))
    price = traded / r
    value = size * price
    if costs.preset == "percent":
        fee = np.where(value == 0, 0.0, np.maximum(value * costs.rate_bps / 1e4, costs.min_jpy))
    else:
        fee = np.zeros(len(js))
    amount = signed * price + fee
    running = np.subtract.accumulate(np.concatenate(([cash], amount)))
    if np.any(buy & (amount > running[:-1] - margin)):
        return None  # a buy that does not fit whole: the rules trim or carry it
    requested_max = 0.0
    fills = []
    # the same float operations one order at a time, on Python floats (tolist gives each value's exact double)
    shares[js] += signed  # the columns are distinct, so this is each column's own addition
    opens = market.open[t, js].tolist()
    capped = market.capped[js].tolist()
    for order, j, s, z, p, f, v, o, c in zip(orders, js.tolist(), signed.tolist(), size.tolist(), price.tolist(),
                                            fee.tolist(), volume.tolist(), opens, capped):
        finite = math.isfinite(v)
        if c and finite and not order.asked:
            requested_max = max(requested_max, z / v)
        order.asked = True
        order.remaining -= s
        order.status = "filled"
        fills.append(Fill(order, s, p, f, z / v if finite else 0.0, o))
    return fills, [], float(running[-1]), {"requested_max": requested_max}
