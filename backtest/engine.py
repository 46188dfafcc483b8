"""Run one theme on backtrader: decide at D's close, fill at D+1's open, in trading units, with costs, in JPY."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import backtrader as bt
import numpy as np
import pandas as pd

from backtest.config import Execution, RunSpec
from backtest.data.frame import PriceFrame
from backtest.data.instruments import lot_size
from backtest.errors import StrategyError
from backtest.view import MarketView

WEIGHT_TOLERANCE = 1e-6


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


ORDER_COLUMNS = [
    "order_id", "asof", "ticker", "side", "shares_ordered", "target_shares", "status",
    "fill_date", "shares_filled", "fill_price", "value_jpy", "commission_jpy", "reason",
]
TRADE_COLUMNS = ["asof", "fill_date", "ticker", "side", "shares", "price", "value_jpy", "commission_jpy", "order_id"]


class _Run:
    """The engine's bookkeeping, shared with ThemeStrategy: views, marks, orders and their fates."""

    def __init__(self, prices: PriceFrame, clock, benchmark: str, settings: Execution):
        self.prices, self.clock, self.benchmark, self.settings = prices, clock, benchmark, settings
        self.tickers = prices.tickers
        self.lots = {t: lot_size(t, settings.lot_sizes) for t in self.tickers}
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
            if rec["shares_filled"] and order.status == order.Canceled:
                rec["status"] = "partial"
            self.live.pop(order.ref, None)

    def _record_fill(self, order, rec: dict) -> None:
        filled = sum(abs(f["shares"]) for f in self.fills if f["order_id"] == rec["order_id"])
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
        mine = [f for f in self.fills if f["order_id"] == rec["order_id"]]
        rec["value_jpy"] = sum(f["value_jpy"] for f in mine)
        rec["fill_price"] = rec["value_jpy"] / rec["shares_filled"]
        rec["commission_jpy"] = sum(f["commission_jpy"] for f in mine)

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
    def filler(self, broker):
        """backtrader volume filler: no fill on a session without a trade; buys trimmed to the cash there is."""
        commission = self.settings.commission_bps / 1e4

        def fill(order, price, ago):
            remaining = abs(order.executed.remsize)
            data = order.data
            if data.volume[ago] <= 0:
                self.note(order, f"carried: no trade in {data._name} on {bt.num2date(data.datetime[ago]).date()}")
                return 0
            if not order.isbuy():
                return remaining
            lot = self.lots[data._name]
            affordable = math.floor(max(broker.getcash(), 0.0) / (price * (1 + commission)) / lot) * lot
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
        bench = self.prices.close[self.benchmark].ffill().pct_change().fillna(0.0)
        returns = pd.DataFrame({strategy_name: strat, self.benchmark: bench}, index=sessions)
        returns.index.name = "date"
        positions = pd.DataFrame(self.shares.astype(np.int64), index=sessions, columns=self.tickers)
        positions.index.name = "date"
        orders = pd.DataFrame(sorted(self.orders.values(), key=lambda r: r["order_id"]), columns=ORDER_COLUMNS)
        trades = pd.DataFrame(self.fills, columns=TRADE_COLUMNS).sort_values(["fill_date", "order_id"], kind="stable")
        return RunResult(
            returns=returns, values=values, positions=positions, trades=trades.reset_index(drop=True),
            orders=orders, warnings=list(self.prices.warnings), strategy_name=strategy_name,
            benchmark=self.benchmark,
        )


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


def run_backtest(spec: RunSpec, prices: PriceFrame, events=None) -> RunResult:
    """Run spec's theme on prices (which must include spec.tickers) and return plain frames."""
    settings = spec.execution
    clock = events.as_of(prices.sessions) if events is not None else None
    run = _Run(prices, clock, spec.benchmark, settings)
    cerebro = bt.Cerebro(stdstats=False, runonce=True, preload=True, quicknotify=True)
    for ticker in prices.tickers:
        cerebro.adddata(bt.feeds.PandasData(dataname=_feed_frame(prices, ticker), openinterest=None), name=ticker)
    broker = cerebro.broker
    broker.setcash(settings.cash_jpy)
    broker.setcommission(commission=settings.commission_bps / 1e4, stocklike=True)
    # slippage applies to the open fill too (slip_open), capped at the bar's high/low (slip_match)
    broker.set_slippage_perc(settings.slippage_bps / 1e4, slip_open=True, slip_limit=True, slip_match=True, slip_out=False)
    broker.set_checksubmit(False)
    broker.set_filler(run.filler(broker))
    cerebro.addstrategy(spec.theme_cls, run=run, **spec.params)
    cerebro.run()
    return run.result(spec.name)
