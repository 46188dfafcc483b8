"""BOJ rotation: hold rate beneficiaries for a while after a Bank of Japan hike, and rotate out on easing."""

from __future__ import annotations

from backtest.errors import ConfigError
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import capped, equal_weight


@register_theme("boj_rotation")
class BojRotation(ThemeStrategy):
    """Rotate from TOPIX into banks and financials after a BOJ hike, and out again on easing if asked.

    Idea: higher policy rates widen banks' lending margins and lift insurers' reinvestment yields;
    easing squeezes them again.
    Signal: the latest BOJ decision known at a decision point (event family "boj") among `kinds`
    (rotate in) and `out_kinds` (rotate out; empty by default), any subset of hike, cut, framework
    or kinds of your own event files.
    Holds: `basket`, equally weighted (no name above `max_weight`, the excess in the benchmark),
    for `holding_sessions` sessions after an in-event; `out_basket` (the benchmark if empty) for
    `holding_sessions` after an out-event, which also ends an in-window at once; otherwise the benchmark.
    Falsified if: the basket's excess return over TOPIX across the holding windows is not positive.
    """

    params = dict(basket=("1631", "1632"), holding_sessions=60, kinds=("hike",), out_kinds=(), out_basket=(),
                  max_weight=1.0)
    param_bounds = {"holding_sessions": (1, 2500), "max_weight": (0.01, 1.0)}
    # an empty basket would sit in cash after every hike, which no one means
    required_lists = {"basket": ("the basket is empty", 'List the tickers to rotate into, e.g. ["1631", "1632"].')}

    @classmethod
    def validate_params(cls, given, file="config"):
        params = super().validate_params(given, file)
        both = sorted(set(params["kinds"]) & set(params["out_kinds"]))
        if both:
            raise ConfigError(file=file, field="params.out_kinds", problem=f"{', '.join(both)} is also in kinds",
                              fix="Give each BOJ event kind to kinds (rotate in) or out_kinds (rotate out), not both.")
        if not params["kinds"] and not params["out_kinds"]:
            raise ConfigError(file=file, field="params.kinds", problem="no event kinds to act on",
                              fix="Name at least one kind, e.g. kinds: [hike].")
        return params

    def state(self, view) -> str:
        """"in", "out" or "neutral", from the latest known event of the chosen kinds."""
        chosen = (*self.p.kinds, *self.p.out_kinds)
        since = view.events.sessions_since("boj", kinds=chosen)
        if since is None or since >= self.p.holding_sessions:
            return "neutral"
        if not self.p.out_kinds:
            return "in"
        # Two chosen events on one decision session: the one known later decides.
        latest = view.events.latest("boj", kinds=chosen)
        return "out" if latest["kind"] in self.p.out_kinds else "in"

    def target_weights(self, view):
        now = self.state(view)
        if now == "in":
            return capped(equal_weight(self.p.basket), self.p.max_weight, view.benchmark)
        if now == "out" and self.p.out_basket:
            return capped(equal_weight(self.p.out_basket), self.p.max_weight, view.benchmark)
        return {view.benchmark: 1.0}
