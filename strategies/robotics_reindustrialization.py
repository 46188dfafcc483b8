"""Robotics on US reindustrialization: overweight factory automation after dated US industrial-policy milestones."""

from __future__ import annotations

from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import capped, overweight


@register_theme("robotics_reindustrialization")
class RoboticsReindustrialization(ThemeStrategy):
    """Overweight Japanese robotics and factory automation after US reindustrialization milestones.

    Idea: US factory building (infrastructure, CHIPS and IRA acts, tariffs that pull production
    onshore, the US–Japan investment agreement) needs robots, motion control and sensors, where
    Japanese makers hold large market shares.
    Signal: a US policy event of one of `kinds` known at a decision point (event family "us_policy";
    tariff, industrial_policy, trade_deal).
    Holds: for `holding_sessions` after the latest such event, the benchmark with `overweight` of
    the portfolio moved into `basket` (equal weights, none above `max_weight`). With
    `half_life_sessions` > 0 the overweight decays, halving every half_life_sessions, re-set every
    `step_sessions`; a new event restores it in full. Otherwise the benchmark.
    Falsified if: the basket's excess return over TOPIX across the windows is not positive.
    """

    params = dict(
        basket=("6954", "6506", "6861", "6273", "6268", "6324", "6383", "6645"),
        kinds=("industrial_policy", "tariff", "trade_deal"),
        holding_sessions=120,
        overweight=0.3,
        half_life_sessions=0,
        step_sessions=20,
        max_weight=1.0,
    )
    param_bounds = {
        "holding_sessions": (1, 2500),
        "overweight": (0.0, 1.0),
        "half_life_sessions": (0, 2500),
        "step_sessions": (1, 250),
        "max_weight": (0.01, 1.0),
    }
    required_lists = {
        "basket": ("the basket is empty", 'List the robotics tickers, e.g. ["6954", "6506"].'),
        "kinds": ("no event kinds to act on", "Name at least one us_policy kind, e.g. kinds: [industrial_policy]."),
    }

    def state(self, view) -> int | None:
        """None outside a window; inside, the decay step (always 0 without decay)."""
        since = view.events.sessions_since("us_policy", kinds=self.p.kinds)
        if since is None or since >= self.p.holding_sessions:
            return None
        return since // self.p.step_sessions if self.p.half_life_sessions else 0

    def target_weights(self, view):
        now = self.state(view)
        if now is None:
            return {view.benchmark: 1.0}
        by = self.p.overweight
        if self.p.half_life_sessions:
            by *= 0.5 ** (now * self.p.step_sessions / self.p.half_life_sessions)
        return capped(overweight(self.p.basket, view.benchmark, by), self.p.max_weight, view.benchmark)
