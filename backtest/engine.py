"""Run one theme on backtrader: decide at D's close, fill at D+1's open, in trading units, on TSE ticks and
daily limits, with Japanese costs, in JPY."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from backtest.config import Execution, RunSpec
from backtest.costs import CostModel, PresetCommission
from backtest.data.frame import PriceFrame
from backtest.data.instruments import instruments, lot_size
from backtest.dividends import BasisPlan, entitled_cash, plan_basis, total_return_index
from backtest.errors import StrategyError
from backtest.fastbroker import fast_broker_class
from backtest.feeds import array_feeds
from backtest.limits import limit_band
from backtest.ticks import TickSchedule, read_membership
from backtest.view import MarketView

WEIGHT_TOLERANCE = 1e-6
# False runs backtrader's PandasData feeds and stock broker: the reference the fast path is tested against
FAST_PATH = True


@dataclass
class RunResult:
    """What one backtest produced, as plain pandas objects.

    returns: index = sessions; columns = [strategy name, benchmark]; simple daily returns.
    values: index = sessions; portfolio value in JPY at each close.
    positions: index = sessions; columns = tickers; shares held at the close.
    trades: one row per fill. orders: one row per order, filled or not.
    """

    returns: pd.DataFrame
    values: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    orders: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    strategy_name: str = "strategy"
    benchmark: str = "TOPIX"
    basis: dict = field(default_factory=dict)
    execution: dict = field(default_factory=dict)


ORDER_COLUMNS = [
    "order_id", "asof", "ticker", "side", "shares_ordered", "target_shares", "status",
    "fill_date", "shares_filled", "fill_price", "value_jpy", "commission_jpy", "reason",
]
TRADE_COLUMNS = ["asof", "fill_date", "ticker", "side", "shares", "price", "value_jpy", "commission_jpy", "order_id"]


class _Run:
    """The engine's bookkeeping, shared with ThemeStrategy: views, marks, orders and their fates."""

    def __init__(self, prices: PriceFrame, clock, benchmark: str, settings: Execution,
                 costs: CostModel | None = None, ticks: TickSchedule | None = None, plan: BasisPlan | None = None):
        self.prices, self.clock, self.benchmark, self.settings = prices, clock, benchmark, settings
        self.tickers = prices.tickers
        self.lots = {t: lot_size(t, settings.lot_sizes) for t in self.tickers}
        self.costs = costs or CostModel("percent", rate_bps=settings.commission_bps or 0.0,
                                        half_spread_bps=settings.slippage_bps or 0.0)
        self.ticks = ticks
        self.plan = plan
        self.kinds = {t: instrument_kind(t) for t in self.tickers}
        self.limits_on = settings.price_limits
        self.lower, self.upper = (f.to_numpy() for f in limit_band(prices.close))
        self.open, self.high, self.low = (getattr(prices, f).to_numpy() for f in ("open", "high", "low"))
        self.volume = prices.volume.to_numpy()
        self.dividends = None
        if plan is not None and plan.dividends is not None:
            self.dividends = plan.dividends.reindex(columns=self.tickers).fillna(0.0).to_numpy()
        self.dividends_jpy = 0.0
        n, k = len(prices.sessions), len(self.tickers)
        self.values = np.full(n, np.nan)
        self.cash = np.full(n, np.nan)
        self.shares = np.zeros((n, k))
        self.orders: dict[int, dict] = {}
        self.live: dict[int, bt.Order] = {}
        self.fills: list[dict] = []
        self.column = {t: j for j, t in enumerate(self.tickers)}

    def session(self, i: int) -> pd.Timestamp:
        return self.prices.sessions[i]

    def view(self, i: int) -> MarketView:
        return MarketView(self.prices, self.clock, self.benchmark, i)

    def mark(self, i: int, broker, feeds) -> None:
        self.values[i] = broker.getvalue()
        self.cash[i] = broker.getcash()
        for ticker, feed in feeds.items():
            self.shares[i, self.column[ticker]] = broker.getposition(feed).size

    def credit_dividends(self, i: int, broker) -> None:
        """Shares held at session i's close are owed the dividends going ex on session i+1.

        The cash is added at the end of session i+1, as backtrader applies add_cash after that
        session's fills: a buy at the ex-date's open is not entitled, and the cash is not spent early.
        """
        if self.dividends is None or i + 1 >= len(self.prices.sessions):
            return
        cash = entitled_cash(self.shares[i], self.dividends[i + 1])
        if cash:
            broker.add_cash(cash)
            self.dividends_jpy += cash

    def held(self, broker, feeds) -> set[str]:
        return {t for t, f in feeds.items() if broker.getposition(f).size != 0}

    def check_weights(self, weights: dict, theme: str) -> dict[str, float]:
        out = {}
        for ticker, w in weights.items():
            ticker = str(ticker)
            if ticker not in self.column:
                raise StrategyError(
                    theme=theme, problem=f"target weight for '{ticker}', which is not in the run's universe",
                    fix="Add the ticker to a *basket parameter in the config, or fix the theme.",
                )
            if not isinstance(w, (int, float)) or not math.isfinite(w):
                raise StrategyError(theme=theme, problem=f"weight of {ticker} is {w!r}", fix="Return finite numbers.")
            if w < 0 and not self.settings.allow_short:
                raise StrategyError(
                    theme=theme, problem=f"negative weight {w:.4f} for {ticker} in a long-only run",
                    fix="Set execution.allow_short: true, or keep weights ≥ 0.",
                )
            out[ticker] = float(w)
        gross = sum(abs(w) for w in out.values())
        if gross > self.settings.max_gross_leverage + WEIGHT_TOLERANCE:
            raise StrategyError(
                theme=theme, problem=f"weights add up to {gross:.4f}, above execution.max_gross_leverage "
                f"{self.settings.max_gross_leverage}", fix="Scale the weights down, or allow leverage in the config.",
            )
        if sum(out.values()) > 1 + WEIGHT_TOLERANCE:
            raise StrategyError(
                theme=theme, problem=f"net weight {sum(out.values()):.4f} exceeds 1: a cash account cannot borrow",
                fix="Keep the net weight at or below 1.",
            )
        return out

    # ----- orders ------------------------------------------------------------------------------
    def on_submit(self, order, ticker: str, i: int, target: int, current: int) -> None:
        self.live[order.ref] = order
        self.orders[order.ref] = {
            "order_id": len(self.orders) + 1, "asof": self.session(i).date(), "ticker": ticker,
            "side": "buy" if order.isbuy() else "sell", "shares_ordered": abs(int(target - current)),
            "target_shares": int(target), "status": "submitted", "fill_date": None, "shares_filled": 0,
            "fill_price": np.nan, "value_jpy": 0.0, "commission_jpy": 0.0, "reason": "",
        }

    def note(self, order, text: str) -> None:
        rec = self.orders.get(order.ref)
        if rec is not None and text not in rec["reason"]:
            rec["reason"] = f"{rec['reason']}; {text}" if rec["reason"] else text

    def on_order(self, order, strategy) -> None:
        rec = self.orders.get(order.ref)
        if rec is None:
            return
        if order.status in (order.Partial, order.Completed) and order.executed.size:
            self._record_fill(order, rec)
        if order.status == order.Completed:
            rec["status"] = "filled"
            self.live.pop(order.ref, None)
        elif order.status == order.Partial:
            rec["status"] = "partial"
        elif order.status in (order.Canceled, order.Margin, order.Rejected, order.Expired):
            rec["status"] = {order.Canceled: "cancelled", order.Margin: "rejected: cash",
                             order.Rejected: "rejected", order.Expired: "expired"}[order.status]
            if order.status == order.Canceled and order.info.get("limit_cancel"):
                rec["status"] = "cancelled: limit"
            if rec["shares_filled"] and order.status == order.Canceled:
                rec["status"] = "partial"
            self.live.pop(order.ref, None)

    def _record_fill(self, order, rec: dict) -> None:
        filled = rec["shares_filled"]  # this order's fills so far: a rescan of every fill made long runs quadratic
        size = abs(int(round(order.executed.size))) - filled
        if size <= 0:
            return
        bits = order.executed.exbits[-1] if order.executed.exbits else None
        price = bits.price if bits else order.executed.price
        commission = (bits.closedcomm + bits.openedcomm) if bits else order.executed.comm
        fill_date = bt.num2date(bits.dt if bits else order.executed.dt).date()
        self.fills.append({
            "asof": rec["asof"], "fill_date": fill_date, "ticker": rec["ticker"], "side": rec["side"],
            "shares": size, "price": price, "value_jpy": size * price, "commission_jpy": commission,
            "order_id": rec["order_id"],
        })
        rec["fill_date"] = fill_date
        rec["shares_filled"] += size
        rec["value_jpy"] += size * price
        rec["fill_price"] = rec["value_jpy"] / rec["shares_filled"]
        rec["commission_jpy"] += commission

    def cancel_trimmed(self, strategy) -> None:
        """A buy trimmed for cash has spent the cash there was; its rest would fill on stale sizing."""
        for order in list(self.live.values()):
            if order.info.get("trimmed"):
                strategy.cancel(order)

    def cancel_pending(self, strategy, reason: str) -> None:
        for ref, order in list(self.live.items()):
            self.note(order, reason)
            strategy.cancel(order)

    def close_open_orders(self) -> None:
        for ref in list(self.live):
            rec = self.orders[ref]
            rec["status"] = "open at end of data" if not rec["shares_filled"] else "partial"
            self.note(self.live[ref], "the backtest ended before it could fill")
        self.live.clear()

    # ----- fills -------------------------------------------------------------------------------
    def tick_table(self, ticker: str, i: int):
        return self.ticks.table(ticker, i) if self.ticks is not None else None

    def sizing_price(self, ticker: str, i: int, price: float) -> float:
        """D's close plus one tick: a buy sized on it still fits if the open prints a tick higher."""
        table = self.tick_table(ticker, i)
        return price + table.tick(price) if table is not None else price

    def open_fill(self, order) -> float | None:
        """The price a market order gets at this session's open, or None if it cannot fill there.

        The open moves against the trader by the spread model, stays within the bar's range (widened
        to the tick grid) and the daily limits, and lands on the tick grid: buys round up, sells down.
        A session that opens at the limit in the order's direction gives no fill: the order is carried
        or cancelled (execution.limit_action) and says so in orders.csv.
        """
        data = order.data
        ticker, i = data._name, len(data) - 1
        j = self.column[ticker]
        buy = order.isbuy()
        price = data.open[0]
        if data.volume[0] <= 0:
            return price  # the filler refuses the fill and notes why
        table = self.tick_table(ticker, i)
        limited = self.limits_on and self.kinds[ticker] != "index" and math.isfinite(self.upper[i, j])
        lower, upper = (self.lower[i, j], self.upper[i, j]) if limited else (-math.inf, math.inf)
        if limited:
            tol = 0.5 * table.tick(upper) if table is not None else 1e-9
            if (buy and price >= upper - tol) or (not buy and price <= lower + tol):
                self._limit_day(order, buy, lower if not buy else upper, i)
                return None
        slip = self.costs.slip_bps(order.executed.remsize, self.volume[i, j]) / 1e4
        price = price * (1 + slip) if buy else price * (1 - slip)
        # backtrader's slip_match: slippage never takes a fill outside the session's range
        high, low = data.high[0], data.low[0]
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

    def _limit_day(self, order, buy: bool, limit: float, i: int) -> None:
        day = self.session(i).date()
        side = f"opened limit-up at {limit:,.1f}" if buy else f"opened limit-down at {limit:,.1f}"
        if self.settings.limit_action == "cancel":
            order.addinfo(limit_cancel=True)
            self.note(order, f"cancelled: {side} on {day} (daily price limit)")
        else:
            self.note(order, f"carried: {side} on {day} (daily price limit)")

    def filler(self, broker):
        """backtrader volume filler: no fill on a session without a trade; buys trimmed to the cash there is."""
        costs = self.costs

        def fill(order, price, ago):
            remaining = abs(order.executed.remsize)
            data = order.data
            if data.volume[ago] <= 0:
                self.note(order, f"carried: no trade in {data._name} on {bt.num2date(data.datetime[ago]).date()}")
                return 0
            if not order.isbuy():
                return remaining
            lot = self.lots[data._name]
            cash = max(broker.getcash(), 0.0)
            affordable = math.floor(cash / price / lot) * lot
            # per-order fees and minimums are not proportional: step down until the fee fits too
            while affordable > 0 and affordable * price + costs.commission(affordable * price) > cash:
                affordable -= lot
            if affordable < remaining:
                order.addinfo(trimmed=True)
                self.note(
                    order,
                    f"trimmed at the open from {int(remaining)} to {int(affordable)} shares: "
                    "not enough cash after the sells and costs",
                )
                return affordable
            return remaining

        return fill

    # ----- results -----------------------------------------------------------------------------
    def result(self, strategy_name: str) -> RunResult:
        sessions = self.prices.sessions
        values = pd.Series(self.values, index=sessions, name=strategy_name)
        start_cash = self.settings.cash_jpy
        strat = values.pct_change()
        strat.iloc[0] = values.iloc[0] / start_cash - 1.0
        bench_div = None
        if self.plan is not None and self.plan.dividends is not None and self.benchmark in self.plan.dividends:
            bench_div = self.plan.dividends[self.benchmark]
        bench = total_return_index(self.prices.close[self.benchmark], bench_div)
        returns = pd.DataFrame({strategy_name: strat, self.benchmark: bench}, index=sessions)
        returns.index.name = "date"
        positions = pd.DataFrame(self.shares.astype(np.int64), index=sessions, columns=self.tickers)
        positions.index.name = "date"
        orders = pd.DataFrame(sorted(self.orders.values(), key=lambda r: r["order_id"]), columns=ORDER_COLUMNS)
        trades = pd.DataFrame(self.fills, columns=TRADE_COLUMNS).sort_values(["fill_date", "order_id"], kind="stable")
        return RunResult(
            returns=returns, values=values, positions=positions, trades=trades.reset_index(drop=True),
            orders=orders, warnings=list(self.prices.warnings) + list(self.plan.warnings if self.plan else []),
            strategy_name=strategy_name, benchmark=self.benchmark,
            basis={**(self.plan.manifest() if self.plan else {}), "dividends_credited_jpy": self.dividends_jpy},
            execution=self.describe(),
        )

    def describe(self) -> dict:
        ex = self.settings
        return {
            "timing": "decide at D's close, fill at D+1's open (market order)",
            "ticks": bool(self.ticks is not None),
            "tick_membership": self.ticks.membership.source if self.ticks is not None else None,
            "price_limits": bool(self.limits_on),
            "limit_action": ex.limit_action,
            "costs": self.costs.describe(),
            "commission_preset": self.costs.preset,
            "half_spread_bps": self.costs.half_spread_bps,
            "impact_bps": self.costs.impact_bps,
            "index_instruments": "no ticks or limits: held as if through an index fund",
        }


def instrument_kind(ticker: str) -> str:
    """index, etf or stock; a ticker the registry does not know is taken to be a stock."""
    known = instruments().get(ticker)
    return known.kind if known else "stock"


class TokyoBroker(bt.brokers.BackBroker):
    """backtrader's broker with the open priced by _Run.open_fill: TSE ticks, daily limits, spread model."""

    params = (("run", None),)

    def _try_exec_market(self, order, popen, phigh, plow):
        # backtrader never fills on the creation bar
        if order.data.datetime[0] <= order.created.dt:
            return
        price = self.p.run.open_fill(order)
        if price is None:
            if order.info.get("limit_cancel"):
                # the order is off the pending queue while it is tried: cancelling is marking it
                order.cancel()
                self.notify(order)
            return
        self._execute(order, ago=0, price=price)


def _feed_frame(prices: PriceFrame, ticker: str) -> pd.DataFrame:
    """Bars backtrader can step through: a session without a trade repeats the last close with volume 0.

    The volume-0 bars never fill an order (see _Run.filler), so no trade happens at a stale price.
    """
    close = prices.close[ticker]
    filled_close = close.ffill().bfill()
    tradable = prices.tradable[ticker]
    frame = pd.DataFrame(
        {
            "open": prices.open[ticker].where(tradable, filled_close),
            "high": prices.high[ticker].where(tradable, filled_close),
            "low": prices.low[ticker].where(tradable, filled_close),
            "close": close.where(tradable, filled_close),
            # an index has no volume; any positive number marks its sessions as tradable
            "volume": prices.volume[ticker].fillna(1e12).where(tradable, 0.0),
        }
    )
    return frame.ffill()


def prepare_run(spec: RunSpec, prices: PriceFrame, events=None, plan: BasisPlan | None = None) -> _Run:
    """The bookkeeping of one run: event clock, return basis, costs, tick schedule, limits, dividends.

    Shared by the backtrader engine and the numpy screening engine, so both apply one execution model.
    """
    settings = spec.execution
    clock = events.as_of(prices.sessions) if events is not None else None
    plan = plan or plan_basis(spec, prices)
    costs = spec.costs
    if costs is None:
        from backtest.config import _execution_rules

        costs, _ = _execution_rules(settings, spec.config_path)
    ticks = None
    if settings.ticks_on:
        lots = {t: lot_size(t, settings.lot_sizes) for t in prices.tickers}
        kinds = {t: instrument_kind(t) for t in prices.tickers}
        membership = read_membership(spec.large_constituents) if spec.large_constituents else None
        ticks = TickSchedule(prices.sessions, kinds, lots, prices.close, membership, spec.tick_tables)
    return _Run(prices, clock, spec.benchmark, settings, costs=costs, ticks=ticks, plan=plan)


def run_backtest(spec: RunSpec, prices: PriceFrame, events=None, plan: BasisPlan | None = None) -> RunResult:
    """Run spec's theme on prices (which must include spec.tickers) and return plain frames.

    plan: how the run reaches its return basis (see backtest.dividends.plan_basis); worked out here
    when not given.
    """
    settings = spec.execution
    run = prepare_run(spec, prices, events, plan)
    costs = run.costs
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True, quicknotify=True)
    # numpy-backed feeds and a broker without its per-bar no-op loops: the same bars and fills, several times
    # faster (backtest/feeds.py, backtest/fastbroker.py; tests/perf/test_feeds.py holds both paths equal)
    if FAST_PATH:
        feeds = array_feeds(prices)
    else:
        feeds = {t: bt.feeds.PandasData(dataname=_feed_frame(prices, t), openinterest=None) for t in prices.tickers}
    for ticker, feed in feeds.items():
        cerebro.adddata(feed, name=ticker)
    broker = (fast_broker_class(TokyoBroker) if FAST_PATH else TokyoBroker)(run=run)
    cerebro.setbroker(broker)
    broker.setcash(settings.cash_jpy)
    broker.addcommissioninfo(PresetCommission(model=costs))
    broker.set_checksubmit(False)
    broker.set_filler(run.filler(broker))
    cerebro.addstrategy(spec.theme_cls, run=run, **spec.params)
    cerebro.run()
    return run.result(spec.name)
