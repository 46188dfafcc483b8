"""What a screen may know at each decision point of a run, built once per run as arrays.

ScreenFacts holds, for the run's tickers: the latest as-traded close known at each session, the
disclosures (fundamentals) ordered so that the latest one known at a decision point is one binary
search for all codes at once, and the membership of each universe a screen names. A disclosure is
known from the first decision point at or after its disclosure time, on the event calendar's clock
(backtest.events.calendar: 2i before session i's open, 2i+1 at its close; with news_at_open false, a
disclosure before an open waits for that session's close). The price a screen reads at a point is
the last close that point has seen (strategies.view.point_position), never a later one.

The screen's choice at every decision point where a theme asked for it is logged and written to
the run folder as baskets.csv (see baskets_frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from backtest.data.fundamentals import (  # RESULT_FIELDS: a row stating results
    PERIOD_MONTHS, RESULT_FIELDS, running_best, statement_rank)
from backtest.data.membership import Membership, MembershipMask, load_membership
from backtest.errors import StrategyError
from strategies.screens import FIELDS, RAW_FIELDS, Screen, parse_screen, select
from strategies.view import point_position

BASKET_COLUMNS = ["date", "point", "ticker", "rank"]


def screens_of(params: Mapping) -> dict[str, Screen]:
    """The params that are screens: name -> Screen."""
    return {name: value for name, value in params.items() if isinstance(value, Screen)}


def universe_codes(params: Mapping) -> list[str]:
    """Every code any screen of the params may choose (its universe's members at any date), sorted."""
    out: set[str] = set()
    for screen in screens_of(params).values():
        out.update(load_membership(screen.universe).codes)
    return sorted(out)


class _InForce:
    """Which disclosure row is in force at a decision point, per column, for a set of candidate rows.

    The rule of backtest.data.fundamentals (statement_rank, running_best), keyed by decision point
    instead of time: built once, rows in the order they become known (by point, then time), each with
    the best row so far of its column; a lookup is one binary search.
    """

    def __init__(self, cols, points, period_key, times, span: int):
        m = len(cols)
        self.span = span
        rank = statement_rank(cols, period_key, times)
        known = np.lexsort((np.arange(m), times, points, cols))  # the order the rows become known, column by column
        best = running_best(rank[known], cols[known], rank[known])
        self.row = np.where(best >= 0, known[np.maximum(best, 0)], -1) if m else best
        self.keys = (cols * span + points + 1)[known]
        self.cols = cols[known]
        self.points = points

    def at(self, point: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row in force per column, whether there is one) at a decision point."""
        if not len(self.keys):
            return np.zeros(k, dtype=np.int64), np.zeros(k, dtype=bool)
        q = np.arange(k, dtype=np.int64) * self.span + int(point) + 1
        pos = np.searchsorted(self.keys, q, side="right") - 1
        safe = np.maximum(pos, 0)
        ok = (pos >= 0) & (self.cols[safe] == np.arange(k)) & (self.row[safe] >= 0)
        return np.where(ok, self.row[safe], 0), ok


class ScreenFacts:
    """Prices, fundamentals and memberships of one run, as arrays over its tickers (columns).

    fundamentals: a long frame, one row per disclosure (backtest.data.fundamentals' Fundamentals.frame):
    columns code, disclosed_at (tz-aware), and where known period_end, period_type (1Q, 2Q, 3Q, FY)
    and the fields of strategies.screens.RAW_FIELDS (missing: unknown). Results fields come from the
    statement in force (see _InForce); dividend_per_share, given in full-year reports, from the
    latest statement that gives one.
    """

    def __init__(self, prices, fundamentals: pd.DataFrame | None, memberships: Mapping[str, Membership],
                 news_at_open: bool = True, synthetic_fundamentals: bool = False):
        from backtest.events.calendar import decision_points_at  # the event calendar's clock: time -> decision point

        self.sessions = prices.sessions
        self.tickers = list(prices.tickers)
        n, k = len(self.sessions), len(self.tickers)
        self.n, self.k = n, k
        close = prices.close
        ratio = getattr(prices, "as_traded_ratio", None)
        if ratio is not None:
            close = close * ratio.reindex(index=close.index, columns=close.columns).fillna(1.0)
        # the last as-traded close known at each session's close, NaN before a ticker's first trade
        self.price = close.ffill().to_numpy(dtype=float)
        self.code_order = np.argsort(np.argsort(np.array(self.tickers, dtype=object), kind="stable"), kind="stable")
        self.memberships = {name: m.mask(self.tickers) for name, m in memberships.items()}
        self.membership_info = dict(memberships)
        self.synthetic_fundamentals = synthetic_fundamentals
        self.log: dict[int, pd.DataFrame] = {}
        column = {t: j for j, t in enumerate(self.tickers)}
        frame = fundamentals if fundamentals is not None else pd.DataFrame(columns=["code", "disclosed_at"])
        cols = np.array([column.get(str(c), -1) for c in frame["code"]], dtype=np.int64)
        when = pd.DatetimeIndex(pd.to_datetime(frame["disclosed_at"], utc=True)) if len(frame) else \
            pd.DatetimeIndex([], tz="UTC")
        ns = np.asarray(when.as_unit("ns").asi8, dtype=np.int64)
        keep = (cols >= 0) & (ns != np.iinfo(np.int64).min)
        rows = frame.loc[keep]
        cols, ns = cols[keep], ns[keep]
        points = decision_points_at(ns, self.sessions, news_at_open) if len(ns) else np.zeros(0, dtype=np.int64)
        points = np.clip(points, -1, 2 * n)  # before the grid: known from the start; after it: never
        if "period_end" in rows:
            period = pd.to_datetime(rows["period_end"]).to_numpy().astype("datetime64[ns]").view(np.int64).copy()
            nat = pd.isna(rows["period_end"]).to_numpy()
        else:
            period, nat = np.zeros(len(rows), dtype=np.int64), np.ones(len(rows), dtype=bool)
        # a row without period_end covers the period up to its disclosure date, as Fundamentals has it
        period[nat] = when[keep].tz_convert("Asia/Tokyo").tz_localize(None).normalize()[nat].as_unit("ns").asi8
        self._raw = {}
        for name in RAW_FIELDS:
            values = pd.to_numeric(rows[name], errors="coerce") if name in rows else pd.Series(np.nan, index=rows.index)
            self._raw[name] = values.to_numpy(dtype=float)
        # year-to-date profit and EPS made annual as Fundamentals.annualised_arrays makes them: 12 / the months
        # the period covers (× 4 after one quarter, × 1 for a full year); NaN for a period type it does not know
        if "period_type" in rows:
            months = rows["period_type"].astype(str).str.strip().map(PERIOD_MONTHS)
            self._annual = 12.0 / months.to_numpy(dtype=float)
        else:
            self._annual = np.ones(len(rows))
        self._points = points
        statement = np.zeros(len(rows), dtype=bool)
        for name in RESULT_FIELDS:
            statement |= np.isfinite(self._raw[name])
        self._stmt_rows = np.flatnonzero(statement)
        self._dps_rows = np.flatnonzero(np.isfinite(self._raw["dividend_per_share"]))
        span = 2 * n + 2
        self._stmt = _InForce(cols[self._stmt_rows], points[self._stmt_rows], period[self._stmt_rows],
                              ns[self._stmt_rows], span)
        self._dps = _InForce(cols[self._dps_rows], points[self._dps_rows], period[self._dps_rows],
                             ns[self._dps_rows], span)

    def fresh(self) -> "ScreenFacts":
        """The same arrays with an empty log (a run plan's copy for another theme)."""
        other = object.__new__(ScreenFacts)
        other.__dict__.update(self.__dict__)
        other.log = {}
        return other

    # ----- lookups ---------------------------------------------------------------------------------
    def decision_date(self, point: int) -> pd.Timestamp:
        """The date whose membership counts at a point: session i's for its pre-open (2i) and close (2i+1)."""
        return self.sessions[min(int(point) // 2, self.n - 1)]

    def _latest(self, point: int) -> tuple[np.ndarray, np.ndarray]:
        """(row of the statement in force at the point per column, whether there is one)."""
        sub, ok = self._stmt.at(point, self.k)
        return (self._stmt_rows[sub] if len(self._stmt_rows) else sub), ok

    def values(self, fields: Iterable[str], point: int) -> dict[str, np.ndarray]:
        """Each field's value per column as known at the decision point (NaN: unknown)."""
        if not 0 <= int(point) < 2 * self.n:
            raise IndexError(f"decision point {point} is outside the run (0..{2 * self.n - 1})")
        pos, ok = self._latest(point)

        def raw(name: str) -> np.ndarray:
            if name == "dividend_per_share":
                sub, has = self._dps.at(point, self.k)
                if not len(self._dps_rows):
                    return np.full(self.k, np.nan)
                return np.where(has, self._raw[name][self._dps_rows[sub]], np.nan)
            if not len(self._stmt_rows):
                return np.full(self.k, np.nan)
            return np.where(ok, self._raw[name][pos], np.nan)

        def annual() -> np.ndarray:
            if not len(self._stmt_rows):
                return np.full(self.k, np.nan)
            return np.where(ok, self._annual[pos], np.nan)

        price = self.price[point_position(int(point))]
        out: dict[str, np.ndarray] = {}
        with np.errstate(invalid="ignore", divide="ignore"):
            for name in fields:
                if name in out:
                    continue
                if name in RAW_FIELDS:
                    out[name] = raw(name)
                elif name == "price":
                    out[name] = price.copy()
                elif name == "pb":
                    bps = raw("bps")
                    out[name] = np.where(bps > 0, price / bps, np.nan)
                elif name == "roe":
                    equity = raw("equity")
                    out[name] = np.where(equity > 0, raw("profit") * annual() / equity, np.nan)
                elif name == "per":
                    eps = raw("eps") * annual()
                    out[name] = np.where(eps > 0, price / eps, np.nan)
                elif name == "market_cap":
                    treasury = np.nan_to_num(raw("treasury_shares"), nan=0.0)
                    out[name] = price * (raw("shares_outstanding") - treasury)
                elif name == "dividend_yield":
                    out[name] = np.where(price > 0, raw("dividend_per_share") / price, np.nan)
                else:
                    raise StrategyError(theme="screen", problem=f"unknown field '{name}'",
                                        fix=f"Use one of {', '.join(FIELDS)}.")
        return out

    def known_at(self, point: int) -> np.ndarray:
        """The decision point from which the statement in force at `point` was known, per column (-1: none)."""
        pos, ok = self._latest(point)
        return np.where(ok, self._points[pos] if len(self._points) else -1, -1)

    def eligible(self, universe: str, point: int) -> np.ndarray:
        """Per column: a member of the universe on the decision date, with a price known at the point."""
        mask = self._membership(universe).on(self.decision_date(point))
        return mask & np.isfinite(self.price[point_position(int(point))])

    def _membership(self, universe: str) -> MembershipMask:
        if universe not in self.memberships:
            membership = load_membership(universe)
            self.membership_info[universe] = membership
            self.memberships[universe] = membership.mask(self.tickers)
        return self.memberships[universe]

    def members(self, universe: str, point: int) -> list[str]:
        mask = self._membership(universe).on(self.decision_date(point))
        return sorted(self.tickers[j] for j in np.flatnonzero(mask))

    def screen(self, rule: Screen | Mapping, point: int, record: bool = True) -> pd.DataFrame:
        """The codes the rule chooses at the point, in rank order: columns ticker, rank, then the rule's fields."""
        if not isinstance(rule, Screen):
            rule = parse_screen(rule, "theme", "screen")
        values = self.values(rule.fields, point)
        chosen = select(rule, values, self.eligible(rule.universe, point), self.code_order)
        out = pd.DataFrame({"ticker": [self.tickers[j] for j in chosen],
                            "rank": np.arange(1, len(chosen) + 1, dtype=np.int64)})
        for name in rule.fields:
            out[name] = values[name][chosen]
        if record:
            row = out.copy()
            row.insert(0, "point", int(point))
            row.insert(0, "date", self.sessions[point_position(int(point))].date())
            self.log[int(point)] = row
        return out

    def baskets_frame(self) -> pd.DataFrame:
        """Every logged choice, by decision point: date (the last session the point has seen), point, ticker,
        rank and the rule's fields."""
        if not self.log:
            return pd.DataFrame(columns=BASKET_COLUMNS)
        frames = [self.log[p] for p in sorted(self.log)]
        out = pd.concat(frames, ignore_index=True, sort=False)
        fields = [c for c in out.columns if c not in BASKET_COLUMNS]
        return out[BASKET_COLUMNS + fields]


# ----- loading -------------------------------------------------------------------------------------
def fundamentals_frame(source, codes: list[str]) -> tuple[pd.DataFrame | None, bool]:
    """The disclosures from the run's data source as one long frame (all codes; ScreenFacts keeps the run's),
    and whether they are synthetic; (None, False) when the source has none.

    Adapter over backtest.data.fundamentals: its Fundamentals' validated frame has the columns
    ScreenFacts reads. Read once per data source and process.
    """
    key = repr(source)
    if key not in _FUNDAMENTALS or getattr(source, "kind", "") != "demo":  # a store can change; the demo cannot
        try:
            from backtest.data import fundamentals as fund
        except ImportError:  # before the fundamentals module exists: no fundamentals
            return None, False
        loaded = fund.load_fundamentals(source)
        if len(_FUNDAMENTALS) > 4:
            _FUNDAMENTALS.clear()
        _FUNDAMENTALS[key] = (as_long_frame(loaded), bool(getattr(loaded, "synthetic", False)))
    return _FUNDAMENTALS[key]


_FUNDAMENTALS: dict[str, tuple[pd.DataFrame | None, bool]] = {}


def as_long_frame(loaded) -> pd.DataFrame | None:
    """A Fundamentals object (or a frame) as the long frame ScreenFacts reads."""
    if loaded is None:
        return None
    if isinstance(loaded, pd.DataFrame):
        return loaded
    for attr in ("frame", "table", "rows", "data"):
        value = getattr(loaded, attr, None)
        if isinstance(value, pd.DataFrame):
            return value
    raise StrategyError(theme="screen", problem=f"cannot read disclosures from {type(loaded).__name__}",
                        fix="Give a frame with code, disclosed_at and the fundamentals' fields.")


def build_facts(spec, prices, news_at_open: bool = True) -> ScreenFacts | None:
    """The run's ScreenFacts when its theme has a screen; None otherwise."""
    screens = screens_of(spec.params)
    if not screens:
        return None
    memberships = {s.universe: load_membership(s.universe) for s in screens.values()}
    frame, synthetic = fundamentals_frame(spec.data, list(prices.tickers))
    return ScreenFacts(prices, frame, memberships, news_at_open, synthetic)


def with_universes(spec, prices, load):
    """The run's prices with every member of its screens' universes added, on the same sessions.

    Members are read with the `union` coverage (a member listed later, or delisted, has prices only
    while it traded: that is its history, not a gap). On synthetic demo data, a synthetic dated
    universe lists and delists the demo's names: their prices before the first and after the last
    date of membership are removed, so the run meets listings and delistings.
    `load`: backtest.data.load_prices.
    """
    screens = screens_of(spec.params)
    if not screens:
        return prices
    codes = [c for c in universe_codes(spec.params) if c not in prices.tickers]
    for name, screen in screens.items():
        if any(f != "price" for f in screen.fields) and fundamentals_frame(spec.data, [])[0] is None:
            from backtest.errors import DataError

            raise DataError(file=spec.data.describe(), field="fundamentals",
                            problem=f"params.{name} is a screen on {', '.join(screen.fields)}, and this data has no "
                                    "fundamentals to screen on",
                            fix="Fetch or import them into the store (docs/real_data.md) and run with --data store, "
                                "or give the basket as a list of tickers.")
    frames = {f: getattr(prices, f) for f in ("open", "high", "low", "close", "volume")}
    coverage = dict(prices.coverage)
    ratio = prices.as_traded_ratio
    warnings = list(prices.warnings)
    if codes:
        extra = load(spec.data, codes, prices.sessions[0], prices.sessions[-1], coverage="union")
        extra_frames = {f: getattr(extra, f).reindex(prices.sessions) for f in frames}
        frames = {f: pd.concat([frames[f], extra_frames[f]], axis=1) for f in frames}
        coverage.update(extra.coverage)
        warnings.extend(extra.warnings)
        if ratio is not None or extra.as_traded_ratio is not None:
            mine = ratio if ratio is not None else pd.DataFrame(1.0, index=prices.sessions, columns=prices.tickers)
            theirs = (extra.as_traded_ratio.reindex(prices.sessions) if extra.as_traded_ratio is not None
                      else pd.DataFrame(1.0, index=prices.sessions, columns=codes))
            ratio = pd.concat([mine, theirs], axis=1).fillna(1.0)
    if fundamentals_frame(spec.data, [])[1] and not prices.synthetic:
        warnings.append("the fundamentals are synthetic while the prices are market data: the screens' choices "
                        "are not market history")
    for screen in screens.values():
        membership = load_membership(screen.universe)
        if membership.dated and membership.synthetic and prices.synthetic:
            frames, coverage = _listed_only(frames, coverage, membership)
        elif membership.synthetic:
            warnings.append(f"the screen's universe {screen.universe} ({membership.file}) is synthetic (made-up "
                            "listings and delistings) while the prices are market data: build a real one "
                            "(docs/real_data.md, A universe with history from J-Quants)")
        elif not membership.dated:
            warnings.append(f"the screen's universe {screen.universe} is a fixed list of today's names "
                            f"({membership.file}): survivors chosen with hindsight, members at every date")
    return dataclasses.replace(prices, **frames, as_traded_ratio=ratio, coverage=coverage, warnings=tuple(warnings))


def _listed_only(frames: dict, coverage: dict, membership: Membership):
    """Demo prices cut to each member's listed life: from its first date of membership to its last."""
    sessions = frames["close"].index
    days = sessions.values.astype("datetime64[D]")
    out = {f: frame.copy() for f, frame in frames.items()}
    coverage = dict(coverage)
    for code in membership.codes:
        if code not in out["close"].columns:
            continue
        spells = [i for i, t in enumerate(membership.tickers) if t == code]
        first = min(membership.start[i] for i in spells)
        last = max(membership.end[i] for i in spells)
        outside = (days < first) | (days > last)
        if not outside.any():
            continue
        for frame in out.values():
            frame.loc[outside, code] = np.nan
        listed = sessions[~outside]
        coverage[code] = (str(listed[0].date()), str(listed[-1].date())) if len(listed) else (None, None)
    return out, coverage
