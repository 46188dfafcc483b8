"""One run's execution plan, shared by both engines: the market arrays, the decision points, the
theme's checked decisions and the orders they become.

The backtrader engine of record (backtest.execution.backtrader.engine) and the numpy screening engine
(backtest.execution.screening) are two drivers of this one object: each asks it for decisions and orders at
the same points and fills them with backtest.execution.model.fill_session, so they agree by
construction; tests/execution/test_screening_parity.py checks that they do.

Timing (docs/execution.md): the opening point (0) sets the first portfolio, bought in session 0's
closing auction, the price both legs of the run are measured from; each session i then has a
pre-open point (2i, held only when news became known overnight; fills at i's open) and a close point
(2i+1; fills at i+1's open).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd

from backtest.config import Execution, RunSpec
from backtest.data.frame import PriceFrame
from backtest.market.instruments import instruments, lot_size
from backtest.market.dividends import BasisPlan, plan_basis
from backtest.errors import StrategyError
from backtest.execution import model
from backtest.market.limits import limit_band
from backtest.market.ticks import TickSchedule, read_membership
from strategies.view import MarketView, decision_point_array, decision_points, point_position, pre_open_sessions

WEIGHT_TOLERANCE = 1e-6
# an index has no volume; it is held as if through an index fund, so no volume caps its fills
INDEX_VOLUME = math.inf


def instrument_kind(ticker: str) -> str:
    """index, etf or stock; a ticker the registry does not know is taken to be a stock."""
    known = instruments().get(ticker)
    return known.kind if known else "stock"


def fill_session_of(point: int) -> int:
    """The session whose open (or, for the opening point, close) fills a decision point's orders."""
    return 0 if point == 0 else (point // 2 if point % 2 == 0 else point // 2 + 1)


def bars(prices: PriceFrame) -> dict[str, np.ndarray]:
    """The engines' bars for every ticker at once: line -> sessions × tickers array.

    A session without a trade repeats the last close with volume 0, so it never fills an order at a
    stale price. Before a ticker's first trade there is no price to repeat: the bars hold 1.0 with
    volume 0, a placeholder no rule reads (orders for it are refused as not listed yet), so no
    later price ever appears before its time.
    """
    close = prices.close
    last_close = close.ffill()
    tradable = prices.tradable
    out = {
        "open": prices.open.where(tradable, last_close),
        "high": prices.high.where(tradable, last_close),
        "low": prices.low.where(tradable, last_close),
        "close": close.where(tradable, last_close),
        "volume": prices.volume.fillna(INDEX_VOLUME).where(tradable, 0.0),
    }
    return {name: np.ascontiguousarray(f.fillna(1.0 if name != "volume" else 0.0).to_numpy(dtype=float))
            for name, f in out.items()}


class RunPlan:
    """Everything both engines share for one run. Built by prepare_run."""

    def __init__(self, prices: PriceFrame, clock, benchmark: str, settings: Execution, theme,
                 costs, ticks: TickSchedule | None = None, plan: BasisPlan | None = None,
                 ratio: np.ndarray | None = None, facts=None):
        self.facts = facts  # backtest.execution.facts.ScreenFacts when the theme screens, else None
        self.prices, self.clock, self.benchmark, self.settings = prices, clock, benchmark, settings
        self.theme = theme
        self.theme_name = type(theme).__name__
        self.tickers = prices.tickers
        self.column = {t: j for j, t in enumerate(self.tickers)}
        self.ticker_order = model.ticker_order(self.tickers)  # the order of a rebalance's orders
        self.costs = costs
        self.ticks = ticks
        self.plan = plan
        self.kinds = {t: instrument_kind(t) for t in self.tickers}
        # the last close known at each session, NaN before a ticker's first trade: what sizing may read
        self.known_close = np.ascontiguousarray(prices.close.ffill().to_numpy(dtype=float))
        self.bars = bars(prices)
        n, k = self.bars["close"].shape
        self.n = n
        # Units, ticks and limits are rules on the prices that traded: with split factors, as-traded
        # price = adjusted price × ratio, and one as-traded share is `ratio` adjusted shares.
        self.ratio = as_traded_ratio(prices) if ratio is None else ratio
        self.lots, self.unknown_units = units_by_session(prices, settings)
        self.lots = self.lots * self.ratio
        index = np.array([self.kinds[t] == "index" for t in self.tickers], dtype=bool)
        if settings.price_limits:
            as_traded_close = prices.close * self.ratio
            lower, upper = (f.to_numpy(dtype=float) for f in limit_band(as_traded_close))
            lower = np.where(np.isfinite(upper) & ~index, lower, -np.inf)
            upper = np.where(np.isfinite(upper) & ~index, upper, np.inf)
        else:
            lower, upper = np.full((n, k), -np.inf), np.full((n, k), np.inf)
        # row-major like the bars, so the compiled loop (backtest.execution.compiled) reads one layout
        self.ratio, self.lots, lower, upper = (np.ascontiguousarray(a, dtype=float)
                                               for a in (self.ratio, self.lots, lower, upper))
        # the volatility only feeds the square-root impact: without it, an all-NaN view of no memory
        vol = (model.daily_volatility(prices.close.to_numpy(dtype=float), settings.impact_vol_sessions)
               if settings.impact_coefficient else np.broadcast_to(np.nan, (n, k)))
        self.market = model.Market(
            sessions=prices.sessions, tickers=self.tickers, open=self.bars["open"], high=self.bars["high"],
            low=self.bars["low"], close=self.bars["close"], volume=self.bars["volume"], lower=lower, upper=upper,
            lots=self.lots, vol=vol, costs=costs, ticks=ticks, max_participation=settings.max_participation,
            impact_coefficient=settings.impact_coefficient, limit_action=settings.limit_action, capped=~index,
            ratio=self.ratio,
        )
        self.dividends = None
        if plan is not None and plan.dividends is not None:
            self.dividends = plan.dividends.reindex(columns=self.tickers).fillna(0.0).to_numpy()
        # instruments whose prices end before the run does (delisted): column -> its last traded session
        self.ends = price_ends(prices, self.bars["volume"])
        self.delistings: dict[int, list[int]] = {}
        for j, t in sorted(self.ends.items()):
            self.delistings.setdefault(t, []).append(j)
        self.pre_open_sessions = pre_open_sessions(clock, n)
        self.last_weights: np.ndarray | None = None
        self._checked: tuple[dict, np.ndarray] | None = None  # the last weights checked, and their array
        # arrays a driver derives from the plan once (backtest.execution.compiled), shared with for_theme's copies
        self.derived: dict = {}
        self.restores = restore_points(prices.sessions, settings.rebalance)
        self.benchmark_returns = benchmark_returns(prices, benchmark, plan)  # one leg for every sweep point

    def for_theme(self, theme) -> "RunPlan":
        """This plan with another theme (or the same theme's other parameters): everything else is shared."""
        other = copy.copy(self)
        other.theme, other.theme_name = theme, type(theme).__name__
        other.last_weights = other._checked = None
        other.__dict__.pop("_acts", None)
        other.facts = self.facts.fresh() if self.facts is not None else None
        return other

    # ----- decisions -----------------------------------------------------------------------------
    def points(self) -> list[int]:
        """Every decision point the engines hold, in order."""
        return decision_points(self.n, self.pre_open_sessions)

    def asked_points(self) -> list[int]:
        """The decision points where decide may give weights, in order: every point, or for a theme with a
        calendar (Theme.may_act) the points where it may act and those where execution.rebalance restores
        its targets. decide returns None at every other point, so a driver may skip them."""
        acts = self.theme_acts()
        points = decision_point_array(self.n, self.pre_open_sessions)
        if acts is None:
            return points.tolist()
        return points[acts[points] | self.restores[points]].tolist()

    def theme_acts(self) -> np.ndarray | None:
        """By decision point (0 .. 2n-1): may the theme act there (Theme.may_act), or None: anywhere."""
        if "_acts" not in self.__dict__:
            days = self.prices.sessions.to_numpy()
            asof = days[np.maximum((np.arange(2 * self.n) - 1) // 2, 0)]  # point_position of every point
            before = np.concatenate([np.array(["NaT"], dtype=days.dtype), asof[:-1]])
            acts = self.theme.may_act(asof, before)
            self._acts = None if acts is None else np.asarray(acts, dtype=bool)
        return self._acts

    def view(self, point: int) -> MarketView:
        return MarketView.at_point(self.prices, self.clock, self.benchmark, point, self.facts)

    def decide(self, point: int) -> np.ndarray | None:
        """The checked target weights (per ticker) at a decision point, or None to hold.

        With execution.rebalance monthly or daily, a close point where the theme holds restores the
        latest targets on the first session of each month, or every session.
        """
        acts = self.theme_acts()
        weights = self.theme.decide(self.view(point)) if acts is None or acts[point] else None
        if weights is not None:
            self.last_weights = self.check_weights(weights)
            return self.last_weights
        return self.last_weights if self.restores[point] else None

    def check_weights(self, weights: dict) -> np.ndarray:
        """The weights per ticker, or one StrategyError naming the first thing wrong with them.

        A theme often gives the same weights at every rebalance: equal to the last ones checked, and all
        Python floats as those were, they are that array again (the engines never write into it)."""
        if self._checked is not None and weights == self._checked[0] and all(
                type(w) is float for w in weights.values()):
            return self._checked[1]
        out = self._plain_weights(weights)
        if out is None:
            out = self._weights_one_by_one(weights)
        else:
            self._checked = (dict(weights), out)
        self._check_totals(out)
        return out

    def _plain_weights(self, weights: dict) -> np.ndarray | None:
        """The usual case on arrays: str tickers of the universe, Python floats, finite, long-only unless shorts
        are allowed. None when anything else is there (the one-by-one check then says what)."""
        values = list(weights.values())
        if not all(type(w) is float for w in values):
            return None
        columns = [self.column.get(ticker, -1) if type(ticker) is str else -1 for ticker in weights]
        if -1 in columns:
            return None
        w = np.array(values)
        if not np.isfinite(w).all() or (not self.settings.allow_short and (w < 0).any()):
            return None
        out = np.zeros(len(self.tickers))
        out[columns] = w  # a later duplicate column cannot happen: dict keys are distinct strings
        return out

    def _weights_one_by_one(self, weights: dict) -> np.ndarray:
        theme = self.theme_name
        out = np.zeros(len(self.tickers))
        for ticker, w in weights.items():
            ticker = str(ticker)
            if ticker not in self.column:
                raise StrategyError(
                    theme=theme, problem=f"target weight for '{ticker}', which is not in the run's universe",
                    fix="Add the ticker to a *basket parameter in the config, or fix the theme.",
                )
            if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) or not math.isfinite(w):
                raise StrategyError(theme=theme, problem=f"weight of {ticker} is {w!r}", fix="Return finite numbers.")
            if w < 0 and not self.settings.allow_short:
                raise StrategyError(
                    theme=theme, problem=f"negative weight {w:.4f} for {ticker} in a long-only run",
                    fix="Set execution.allow_short: true, or keep weights ≥ 0.",
                )
            out[self.column[ticker]] = float(w)
        return out

    def _check_totals(self, out: np.ndarray) -> None:
        theme = self.theme_name
        gross = float(np.abs(out).sum())
        if gross > self.settings.max_gross_leverage + WEIGHT_TOLERANCE:
            raise StrategyError(
                theme=theme, problem=f"weights add up to {gross:.4f}, above execution.max_gross_leverage "
                f"{self.settings.max_gross_leverage}", fix="Scale the weights down, or allow leverage in the config.",
            )
        if out.sum() > 1 + WEIGHT_TOLERANCE:
            raise StrategyError(
                theme=theme, problem=f"net weight {out.sum():.4f} exceeds 1: a cash account cannot borrow",
                fix="Keep the net weight at or below 1.",
            )

    # ----- orders --------------------------------------------------------------------------------
    def sizing_prices(self, i: int, weights: np.ndarray) -> np.ndarray:
        """The last close known at session i; for a name being bought on the tick grid, one tick above it,
        so a buy sized on it still fits if the open prints a tick higher."""
        price = self.known_close[i].copy()
        if self.ticks is not None:
            for j in np.flatnonzero(weights > 0):
                if math.isfinite(price[j]):
                    table = self.ticks.table(self.tickers[j], i)
                    if table is not None:
                        r = self.ratio[i, j]
                        price[j] = price[j] + table.tick(price[j] * r) / r
        return price

    def orders_for(self, point: int, weights: np.ndarray, value: float, held: np.ndarray
                   ) -> tuple[list[model.Order], list[int]]:
        """The orders of a rebalance at a decision point, sized on the last close it has seen.

        Returns (orders in submission order, columns refused as not listed yet). An order carries
        `due`, the first session it may fill in.
        """
        i = point_position(point)
        price = self.sizing_prices(i, weights)
        fills_in = fill_session_of(point)
        unlisted = [j for j in np.flatnonzero(weights != 0)
                    if not math.isfinite(price[j]) or self.ends.get(int(j), fills_in) < fills_in]
        price = price.copy()
        price[unlisted] = np.nan  # never sized: no order for them
        target = model.size_targets(weights, value, price, self.lots[i], held, self.costs,
                                    self.settings.cash_buffer_pct)
        target = np.where(np.isfinite(price), target, held)
        due, targets = fill_session_of(point), target.tolist()
        orders = [model.Order(j=j, remaining=size, ordered=size, due=due, target=targets[j])
                  for j, size in model.order_sequence(self.tickers, target, held, self.ticker_order)]
        return orders, [int(j) for j in unlisted]

    def delisting_orders(self, t: int, held: np.ndarray) -> list[model.Order]:
        """At the close of session t: the sale of every holding whose prices end there (delisted), in its
        closing auction at the last price, whole, without the volume cap, so it leaves the portfolio."""
        out = []
        for j in self.delistings.get(t, ()):
            if held[j] != 0:
                order = model.Order(j=j, remaining=-float(held[j]), ordered=-float(held[j]), due=t, target=0.0,
                                    exit=True)
                order.note(f"delisted: {self.tickers[j]}'s prices end on {self.prices.sessions[t].date()}; "
                           "sold in that session's closing auction")
                out.append(order)
        return out

    def entitled_dividends(self, i: int, shares: np.ndarray) -> float:
        """Cash owed for shares held at session i's close on the dividends going ex on session i+1."""
        if self.dividends is None or i + 1 >= self.n:
            return 0.0
        return float(np.nansum(shares * self.dividends[i + 1]))

    def describe(self) -> dict:
        ex = self.settings
        return {
            "timing": "opening portfolio in session 0's closing auction; news known before an open trades at "
                      "that open; news known during a session is decided at its close and fills at the next open",
            "ticks": bool(self.ticks is not None),
            "tick_membership": self.ticks.membership.source if self.ticks is not None else None,
            "price_limits": bool(ex.price_limits),
            "limit_action": ex.limit_action,
            "costs": self.costs.describe(),
            "commission_preset": self.costs.preset,
            "half_spread_bps": self.costs.half_spread_bps,
            "impact_bps": self.costs.impact_bps,
            "max_participation": ex.max_participation,
            "impact_coefficient": ex.impact_coefficient,
            "impact_vol_sessions": ex.impact_vol_sessions,
            "rebalance": ex.rebalance,
            "news_at_open": ex.news_at_open,
            # synthetic demo prices have no splits: they are the prices that traded
            "as_traded_rules": bool(self.prices.adjustment_known or self.prices.synthetic),
            "units_unknown_before_2018_10_01": self.unknown_units,
            "index_instruments": "no ticks, limits or volume cap: held as if through an index fund",
        }


def price_ends(prices: PriceFrame, volume: np.ndarray) -> dict[int, int]:
    """Columns whose data ends before the run's last session (delisted, or the source stops): column -> the
    last session it traded in. The source's own last row (PriceFrame.coverage) decides where it is known;
    for a frame built by hand, the last close in it."""
    n = len(prices.sessions)
    out: dict[int, int] = {}
    if n == 0:
        return out
    last_day = prices.sessions[-1]
    traded = volume > 0
    closes_at_end = ~np.isnan(prices.close.to_numpy(dtype=float)[-1])
    for j, ticker in enumerate(prices.tickers):
        span = prices.coverage.get(ticker)
        if span is not None and span[1] is not None:
            if pd.Timestamp(span[1]) >= last_day:
                continue
        elif closes_at_end[j]:
            continue
        rows = np.flatnonzero(traded[:, j])
        if len(rows) and rows[-1] < n - 1:
            out[j] = int(rows[-1])
    return out


def as_traded_ratio(prices: PriceFrame) -> np.ndarray:
    """sessions × tickers: as-traded price ÷ adjusted price (1.0 where the data gives no split factor)."""
    ratio = prices.as_traded_ratio
    if ratio is None:
        return np.ones(prices.close.shape)
    return ratio.reindex(index=prices.sessions, columns=prices.tickers).fillna(1.0).to_numpy(dtype=float)


def units_by_session(prices: PriceFrame, settings: Execution) -> tuple[np.ndarray, list[str]]:
    """sessions × tickers trading units in as-traded shares, by date (100 for stocks from 2018-10-01,
    before that each stock's own unit where known), and the tickers whose earlier unit is unknown."""
    from backtest.market.instruments import UNIFIED_UNITS_FROM, unit_known

    sessions = prices.sessions
    before = sessions[sessions < pd.Timestamp(UNIFIED_UNITS_FROM)]
    days: list | None = None  # the dates before the unification, converted once if a history needs them
    out = np.empty((len(sessions), len(prices.tickers)))
    out[:] = [lot_size(ticker, settings.lot_sizes) for ticker in prices.tickers]
    unknown = []
    for j, ticker in enumerate(prices.tickers):
        if not len(before) or (settings.lot_sizes and ticker in settings.lot_sizes):
            continue  # a unit the config states holds on every date (lot_size)
        if not unit_known(ticker, settings.lot_sizes, before[0], settings.units_before):
            unknown.append(ticker)
            continue
        # a known history: the unit on each session before the unification
        days = list(before.date) if days is None else days
        out[: len(before), j] = [lot_size(ticker, settings.lot_sizes, day, settings.units_before) for day in days]
    return out, unknown


def prepare_run(spec: RunSpec, prices: PriceFrame, events=None, plan: BasisPlan | None = None) -> RunPlan:
    """The plan of one run: event clock, theme, return basis, costs, tick schedule, limits, dividends."""
    settings = spec.execution
    clock = events.as_of(prices.sessions, settings.news_at_open) if events is not None else None
    plan = plan or plan_basis(spec, prices)
    costs = spec.costs
    if costs is None:
        from backtest.config import _execution_rules

        costs, _ = _execution_rules(settings, spec.config_path)
    ratio = as_traded_ratio(prices)
    ticks = None
    if settings.ticks_on:
        lots = {t: lot_size(t, settings.lot_sizes) for t in prices.tickers}
        kinds = {t: instrument_kind(t) for t in prices.tickers}
        membership = read_membership(spec.large_constituents) if spec.large_constituents else None
        ticks = TickSchedule(prices.sessions, kinds, lots, prices.close * ratio, membership, spec.tick_tables)
    theme = spec.theme_cls(**spec.params)
    from backtest.execution.facts import build_facts

    facts = build_facts(spec, prices, settings.news_at_open)
    return RunPlan(prices, clock, spec.benchmark, settings, theme, costs, ticks=ticks, plan=plan, ratio=ratio,
                   facts=facts)


def restore_points(sessions: pd.DatetimeIndex, rebalance: str) -> np.ndarray:
    """By decision point (0 .. 2n-1): does execution.rebalance restore the latest targets there where the theme
    holds: every close point (daily), the close of each month's first session after the first (monthly), none
    (on_change)."""
    points = np.arange(2 * len(sessions))
    close = points % 2 == 1
    if rebalance == "daily":
        return close
    if rebalance != "monthly":
        return np.zeros(len(points), dtype=bool)
    i = (points - 1) // 2
    months = sessions.month.to_numpy()
    return close & (i > 0) & (months[i] != months[np.maximum(i - 1, 0)])


def benchmark_returns(prices: PriceFrame, benchmark: str, plan: BasisPlan | None) -> pd.Series:
    """The benchmark's daily returns on the run's basis (with its dividends on a total-return run)."""
    from backtest.market.dividends import total_return_index

    bench_div = None
    if plan is not None and plan.dividends is not None and benchmark in plan.dividends:
        bench_div = plan.dividends[benchmark]
    return total_return_index(prices.close[benchmark], bench_div)


def returns_frame(run: RunPlan, values: np.ndarray, name: str) -> pd.DataFrame:
    """Daily returns of both legs from session 0's close: the strategy's against its starting cash (so day 0
    is its opening costs), the benchmark's on the run's basis. Index: sessions; columns: [name, benchmark]."""
    values = np.asarray(values, dtype=float)
    strategy = np.empty(len(values))
    with np.errstate(divide="ignore", invalid="ignore"):  # Series.pct_change's arithmetic: inf or NaN where it is
        strategy[1:] = values[1:] / values[:-1] - 1.0
    if len(values):
        strategy[0] = values[0] / run.settings.cash_jpy - 1.0
    benchmark = run.benchmark_returns.to_numpy(copy=True)
    returns = pd.DataFrame({name: strategy, run.benchmark: benchmark}, index=run.prices.sessions)
    returns.index.name = "date"
    return returns
