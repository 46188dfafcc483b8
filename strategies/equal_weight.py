"""Equal weight: a basket held in equal parts, rebalanced on a calendar, as a control for the themes."""

from __future__ import annotations

import numpy as np

from backtest.errors import ConfigError
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import capped, equal_weight

TOPIX17_ETFS = tuple(str(code) for code in range(1617, 1634))


@register_theme("equal_weight")
class EqualWeight(ThemeStrategy):
    """Hold a basket in equal weights, rebalanced on the first session of every few months.

    Idea: the control for a theme's timing; with the theme's basket it shows what holding the
    basket all the time earns, so the theme's windows must beat it, not only TOPIX.
    Signal: the calendar: the first session, then the first session of every `rebalance_months`-th
    month (1 monthly, 3 quarterly in January, April, July and October, 12 each January; 0 never).
    Holds: `basket` (by default the 17 TOPIX-17 sector ETFs) in equal weights, none above
    `max_weight` (the excess in the benchmark).
    Falsified if: not a bet; it is the yardstick.
    """

    params = dict(basket=TOPIX17_ETFS, rebalance_months=1, max_weight=1.0)
    param_bounds = {"rebalance_months": (0, 12), "max_weight": (0.01, 1.0)}
    required_lists = {"basket": ("the basket is empty", "List its tickers.")}

    @classmethod
    def validate_params(cls, given, file="config"):
        params = super().validate_params(given, file)
        if params["rebalance_months"] and 12 % params["rebalance_months"]:
            raise ConfigError(file=file, field="params.rebalance_months",
                              problem=f"{params['rebalance_months']} does not divide the year",
                              fix="Use 0, 1, 2, 3, 4, 6 or 12.")
        return params

    def __init__(self, **params):
        super().__init__(**params)
        self._weights: dict[str, dict[str, float]] = {}  # benchmark -> the weights, the same at every rebalance

    def rebalance_due(self, view) -> bool:
        before = view.previous()
        if before is None:
            return True
        months = self.p.rebalance_months
        if not months or view.asof.month == before.asof.month:
            return False
        return (view.asof.month - 1) % months == 0

    def may_act(self, asof, before):
        """rebalance_due on arrays of dates (the calendar alone decides)."""
        first = np.isnat(before)
        months = self.p.rebalance_months
        if not months:
            return first
        month = asof.astype("datetime64[M]").astype(np.int64) % 12 + 1
        month_before = before.astype("datetime64[M]").astype(np.int64) % 12 + 1
        return first | ((month != month_before) & ((month - 1) % months == 0))

    def target_weights(self, view):
        if not self.rebalance_due(view):
            return None
        weights = self._weights.get(view.benchmark)
        if weights is None:
            weights = self._weights[view.benchmark] = capped(equal_weight(self.p.basket), self.p.max_weight,
                                                             view.benchmark)
        return dict(weights)
