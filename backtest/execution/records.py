"""The order book's records, written the same way by both engines: one row per order, one per fill."""

from __future__ import annotations

import numpy as np
import pandas as pd

from backtest.execution import model

ORDER_COLUMNS = [
    "order_id", "asof", "ticker", "side", "shares_ordered", "target_shares", "status",
    "fill_date", "shares_filled", "fill_price", "value_jpy", "commission_jpy", "participation", "reason",
]
# the reason an order for an instrument that has not traded yet is refused (never sized on a later price)
NOT_LISTED = "not listed yet"
# the reason of a delisted holding's sale, and of an order for an instrument whose prices have ended
DELISTED = "delisted"
TRADE_COLUMNS = ["asof", "fill_date", "ticker", "side", "shares", "price", "value_jpy", "commission_jpy",
                 "slippage_jpy", "participation", "order_id"]


class Records:
    """orders.csv and trades.csv rows, and the run's execution statistics."""

    def __init__(self, tickers: list[str], sessions: pd.DatetimeIndex, ends: dict[int, int] | None = None,
                 dates: list | None = None):
        self.tickers, self.sessions = tickers, sessions
        self.ends = ends or {}  # column -> the last session it traded in, for instruments whose prices end
        # the sessions' dates, looked up once (a price frame's session_dates): a fill needs its date
        self.dates = dates if dates is not None else [day.date() for day in sessions]
        self.orders: list[dict] = []
        self.fills: list[dict] = []
        self.largest_participation = 0.0
        self.requested_max = 0.0

    def placed(self, position: int, orders: list[model.Order], refused: list[int], held: np.ndarray) -> None:
        """A rebalance decided with the close of session `position` seen: its orders, and its refusals."""
        asof = self.dates[position]
        for j in refused:
            row = self._row(asof, j, 0.0, float(held[j]), "refused")
            if self.ends.get(j, len(self.dates)) <= position:
                row["reason"] = (f"{DELISTED}: {self.tickers[j]}'s prices end on {self.dates[self.ends[j]]}, "
                                 "before this order could fill")
            else:
                row["reason"] = f"{NOT_LISTED}: {self.tickers[j]} has no price on or before the decision session"
            self.orders.append(row)
        for order in orders:
            order.record = self._row(asof, order.j, order.ordered, order.target, "submitted")
            self.orders.append(order.record)

    def _row(self, asof, j: int, ordered: float, target: float, status: str) -> dict:
        return {
            "order_id": len(self.orders) + 1, "asof": asof, "ticker": self.tickers[j],
            "side": "buy" if ordered > 0 else ("sell" if ordered < 0 else ""),
            "shares_ordered": abs(int(round(ordered))), "target_shares": int(round(target)), "status": status,
            "fill_date": None, "shares_filled": 0, "fill_price": np.nan, "value_jpy": 0.0, "commission_jpy": 0.0,
            "participation": 0.0, "reason": "",
        }

    def filled(self, t: int, fill: model.Fill) -> None:
        rec = fill.order.record
        whole = int(round(abs(fill.shares)))
        value = fill.value_jpy
        day = self.dates[t]
        participation = fill.participation
        self.fills.append({
            "asof": rec["asof"], "fill_date": day, "ticker": rec["ticker"], "side": rec["side"],
            "shares": whole, "price": fill.price, "value_jpy": value,
            "commission_jpy": fill.commission, "slippage_jpy": fill.slippage_jpy,
            "participation": participation, "order_id": rec["order_id"],
        })
        rec["fill_date"] = day
        rec["shares_filled"] += whole
        rec["value_jpy"] += value
        rec["fill_price"] = rec["value_jpy"] / rec["shares_filled"]
        rec["commission_jpy"] += fill.commission
        if participation > rec["participation"]:
            rec["participation"] = participation
        if participation > self.largest_participation:
            self.largest_participation = participation

    def session(self, t: int, orders: list[model.Order], fills: list[model.Fill], stats: dict) -> None:
        """What one call of model.fill_session did to `orders` in session t: their fills and where they stand."""
        self.requested_max = max(self.requested_max, stats["requested_max"])
        for fill in fills:
            self.filled(t, fill)
        for order in orders:
            self.update(order)

    def update(self, order: model.Order) -> None:
        """Bring an order's row up to date with its notes and where it stands."""
        rec = order.record
        if rec is None:
            return
        rec["reason"] = "; ".join(order.notes)
        if order.status == "filled":
            rec["status"] = "filled"
        elif order.status == "trimmed":
            rec["status"] = "partial" if rec["shares_filled"] else "cancelled"
        elif order.status == "cancelled: limit":
            rec["status"] = "partial" if rec["shares_filled"] else "cancelled: limit"
        elif rec["shares_filled"]:
            rec["status"] = "partial"

    def superseded(self, orders: list[model.Order], position: int) -> None:
        for order in orders:
            order.note(f"superseded by the rebalance decided on {self.dates[position]}")
            order.status = "cancelled"
            self.update(order)
            if order.record is not None and not order.record["shares_filled"]:
                order.record["status"] = "cancelled"

    def ended(self, orders: list[model.Order]) -> None:
        for order in orders:
            order.note("the backtest ended before it could fill")
            self.update(order)
            if order.record is not None:
                order.record["status"] = "partial" if order.record["shares_filled"] else "open at end of data"

    @property
    def fill_count(self) -> int:
        return len(self.fills)

    @property
    def traded_jpy(self) -> float:
        return float(sum(f["value_jpy"] for f in self.fills))

    @property
    def commission_jpy(self) -> float:
        return float(sum(f["commission_jpy"] for f in self.fills))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        orders = pd.DataFrame(self.orders, columns=ORDER_COLUMNS)
        trades = pd.DataFrame(self.fills, columns=TRADE_COLUMNS).sort_values(["fill_date", "order_id"], kind="stable")
        return orders, trades.reset_index(drop=True)


class Tally:
    """What a sweep point reads of the order book, kept without orders.csv and trades.csv rows: Records'
    calls, counts and sums (added in the order Records adds them, so they are the same numbers)."""

    def __init__(self):
        self.fill_count = 0
        self.traded_jpy = 0.0
        self.commission_jpy = 0.0
        self.largest_participation = 0.0
        self.requested_max = 0.0

    @classmethod
    def of(cls, fills: int, traded_jpy: float, commission_jpy: float, largest_participation: float = 0.0,
           requested_max: float = 0.0) -> "Tally":
        """A tally whose counts and sums were kept elsewhere (backtest.execution.compiled)."""
        out = cls()
        out.fill_count, out.traded_jpy, out.commission_jpy = int(fills), float(traded_jpy), float(commission_jpy)
        out.largest_participation, out.requested_max = float(largest_participation), float(requested_max)
        return out

    def placed(self, position: int, orders: list[model.Order], refused: list[int], held: np.ndarray) -> None:
        """Nothing to write: the engine counts the orders."""

    def session(self, t: int, orders: list[model.Order], fills: list[model.Fill], stats: dict) -> None:
        self.requested_max = max(self.requested_max, stats["requested_max"])
        for fill in fills:
            self.fill_count += 1
            self.traded_jpy += fill.value_jpy
            self.commission_jpy += fill.commission
            if fill.participation > self.largest_participation:
                self.largest_participation = fill.participation

    def superseded(self, orders: list[model.Order], position: int) -> None:
        for order in orders:
            order.status = "cancelled"

    def ended(self, orders: list[model.Order]) -> None:
        """Nothing to write."""
