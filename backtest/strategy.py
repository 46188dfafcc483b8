"""ThemeStrategy: the backtrader Strategy every theme subclasses; themes say what weights, this says how."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import backtrader as bt

from backtest.errors import ConfigError, StrategyError, did_you_mean

_ENGINE_PARAMS = {"run"}


class ThemeStrategy(bt.Strategy):
    """Base of every theme.

    A theme sets `params` (its defaults, which are also the keys a config may give) and implements
    `target_weights(view)`: a dict ticker -> weight to rebalance to at the next open, or None to hold.
    The view holds only what is known at the close of `view.asof`. Optional `param_bounds` gives
    (low, high) limits per numeric parameter.
    """

    params = (("run", None),)
    theme_key: str | None = None
    param_bounds: dict[str, tuple[float, float]] = {}
    # list parameters that must not be empty: name -> (problem, fix) for the config error
    required_lists: dict[str, tuple[str, str]] = {}

    # ----- the part a theme writes -------------------------------------------------------------
    def target_weights(self, view) -> dict[str, float] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def tickers_for(cls, params: dict[str, Any]) -> list[str]:
        """Tickers the theme may hold: every parameter whose name ends in 'basket' or is 'universe'."""
        out: list[str] = []
        for name, value in params.items():
            if name.endswith("basket") or name == "universe":
                out.extend(str(t) for t in value)
        return out

    # ----- configuration -----------------------------------------------------------------------
    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {k: v for k, v in cls.params._getitems() if k not in _ENGINE_PARAMS}

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def validate_params(cls, given: dict[str, Any], file: str = "config") -> dict[str, Any]:
        """Merge a config's params over the defaults, checking names, types and bounds."""
        defaults = cls.default_params()
        out = dict(defaults)
        for name, value in given.items():
            field = f"params.{name}"
            if name not in defaults:
                raise ConfigError(file=file, field=field, problem="unknown parameter", fix=did_you_mean(name, defaults))
            out[name] = _coerce(value, defaults[name], file, field)
            if name in cls.param_bounds:
                lo, hi = cls.param_bounds[name]
                if not lo <= out[name] <= hi:
                    raise ConfigError(
                        file=file, field=field, problem=f"expected a value from {lo} to {hi}, got {value!r}",
                        fix=f"Choose a value in [{lo}, {hi}].",
                    )
        for name, (problem, fix) in cls.required_lists.items():
            if not out[name]:
                raise ConfigError(file=file, field=f"params.{name}", problem=problem, fix=fix)
        return out

    @classmethod
    def detached(cls, **params):
        """The theme's decision logic without backtrader: an object whose target_weights(view) can be called anywhere."""
        p = SimpleNamespace(**{**cls.default_params(), **params})
        attrs: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            if klass is ThemeStrategy or not (isinstance(klass, type) and issubclass(klass, ThemeStrategy)):
                continue
            attrs.update({k: v for k, v in vars(klass).items() if not k.startswith("__") and k != "params"})
        obj = type(f"{cls.__name__}Logic", (), attrs)()
        obj.p = obj.params = p
        return obj

    # ----- backtrader side -----------------------------------------------------------------------
    def __init__(self):
        self._run = self.p.run
        self._feeds = {d._name: d for d in self.datas}

    def notify_order(self, order):
        self._run.on_order(order, self)

    def next(self):
        i = len(self) - 1
        run = self._run
        run.mark(i, self.broker, self._feeds)
        run.credit_dividends(i, self.broker)
        run.cancel_trimmed(self)
        weights = self.target_weights(run.view(i))
        if weights is None:
            return
        self._rebalance(run.check_weights(weights, type(self).__name__), i)

    def _deltas(self, weights, tickers, value, i):
        run = self._run
        out = []
        for ticker in tickers:
            feed = self._feeds[ticker]
            w = weights.get(ticker, 0.0)
            price = run.sizing_price(ticker, i, feed.close[0]) if w > 0 else feed.close[0]
            target = _round_to_lot(w * value / price, run.lots[ticker])
            current = self.broker.getposition(feed).size
            if target != current:
                out.append((ticker, feed, target, current, price))
        return out

    def stop(self):
        self._run.close_open_orders()

    def _rebalance(self, weights: dict[str, float], i: int) -> None:
        """Sell first, then buy, in whole trading units sized on the decision session's close."""
        run = self._run
        run.cancel_pending(self, reason=f"superseded by the rebalance decided on {run.session(i).date()}")
        ex = run.settings
        costs = run.costs
        # reserve the costs of buying, so a full rotation does not run out of cash at the open
        rate = (costs.rate_bps if costs.preset == "percent" else 0.0) + costs.half_spread_bps
        value = self.broker.getvalue() * (1.0 - ex.cash_buffer_pct / 100.0) / (1.0 + rate / 1e4)
        tickers = sorted(set(weights) | run.held(self.broker, self._feeds))
        deltas = self._deltas(weights, tickers, value, i)
        # per-order fees and minimums are not a rate: take what the buys would pay off the budget, once
        fixed = sum(max(costs.commission(abs(t - c) * p) - abs(t - c) * p * (rate - costs.half_spread_bps) / 1e4, 0.0)
                    for _, _, t, c, p in deltas if t > c)
        if fixed > 0:
            deltas = self._deltas(weights, tickers, value - fixed, i)
        for ticker, feed, target, current, _ in sorted(deltas, key=lambda d: d[2] - d[3] > 0):
            size = target - current
            order = self.sell(data=feed, size=-size) if size < 0 else self.buy(data=feed, size=size)
            run.on_submit(order, ticker, i, target, current)


def _round_to_lot(shares: float, lot: int) -> int:
    """Whole trading units, rounded toward zero so a target never over-spends."""
    units = math.floor(abs(shares) / lot + 1e-9)
    return int(math.copysign(units * lot, shares)) if units else 0


def _coerce(value: Any, default: Any, file: str, field: str) -> Any:
    """Check a config value against the default's type (tuples of str accept YAML lists)."""

    def bad(kind: str, fix: str):
        return ConfigError(file=file, field=field, problem=f"expected {kind}, got {value!r}", fix=fix)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false", "Write true or false.")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number", "Write an integer such as 60.")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a number", "Write a number such as 0.2.")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise bad("text", "Write a quoted string.")
        return str(value)
    if isinstance(default, (tuple, list)):
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise bad("a list of names or tickers", 'Write a YAML list, e.g. ["1631", "1632"].')
        if len(set(map(str, value))) != len(value):
            raise bad("a list without repeats", "Remove the duplicated entries.")
        return tuple(str(v) for v in value)
    if default is None:
        return value
    raise StrategyError(theme=field, problem=f"parameter default of type {type(default).__name__} is not supported", fix="Use bool, int, float, str or a tuple of str.")
