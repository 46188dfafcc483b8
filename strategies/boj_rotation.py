"""BOJ rotation: hold rate beneficiaries for a while after a Bank of Japan policy-rate hike."""

from __future__ import annotations

from backtest.strategy import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import equal_weight


@register_theme("boj_rotation")
class BojRotation(ThemeStrategy):
    """Rotate from TOPIX into banks and financials after a BOJ hike.

    Idea: higher policy rates widen banks' lending margins and lift insurers' reinvestment yields.
    Signal: a BOJ decision of one of `kinds` known by the close of D (event family "boj").
    Holds: `basket`, equally weighted, for `holding_sessions` sessions; otherwise the benchmark.
    Falsified if: the basket's excess return over TOPIX across the holding windows is not positive.
    """

    params = dict(basket=("1631", "1632"), holding_sessions=60, kinds=("hike",))
    param_bounds = {"holding_sessions": (1, 2500)}

    def in_window(self, view) -> bool:
        since = view.events.sessions_since("boj", kinds=self.p.kinds)
        return since is not None and since < self.p.holding_sessions

    def target_weights(self, view):
        now = self.in_window(view)
        before = view.previous()
        if before is not None and self.in_window(before) == now:
            return None  # no change of state: hold what we have
        return equal_weight(self.p.basket) if now else {view.benchmark: 1.0}
