"""Buy and hold: the benchmark replica every theme is measured against."""

from __future__ import annotations

from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import equal_weight


@register_theme("buy_and_hold")
class BuyAndHold(ThemeStrategy):
    """Buy the benchmark (or a basket) at the first session's close and never trade again.

    Idea: the control for every theme; its gap to the benchmark's own returns is what one purchase
    costs: commission, slippage and the cash left over by whole units (with costs off, none).
    Signal: none; it buys the opening portfolio only, at the price the benchmark is measured from.
    Holds: the benchmark, or `basket` equally weighted at the start and then left to drift.
    Falsified if: not a bet; a theme that does not beat this after costs adds nothing.
    """

    params = dict(basket=())

    def target_weights(self, view):
        if not view.is_first:
            return None
        return equal_weight(self.p.basket) if self.p.basket else {view.benchmark: 1.0}
