"""Governance / ROE reform: overweight low price-to-book, cash-rich firms after dated governance milestones."""

from __future__ import annotations

from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.screens import Screen, parse_screen
from strategies.weights import capped, overweight

# the note's basket: members of the universe trading below book with a return on equity under 8%,
# the cheapest 10 by P/B, chosen on what was known at each rebalance
DEFAULT_SCREEN = parse_screen({"screen": {"universe": "demo_market", "where": ["pb < 1", "roe < 0.08"],
                                          "rank": "pb", "top": 10}}, "governance_reform", "params.basket")
RESCREEN = ("monthly", "quarterly", "never")


@register_theme("governance_reform")
class GovernanceReform(ThemeStrategy):
    """Overweight low price-to-book firms after TSE and FSA governance milestones.

    Idea: when the exchange asks boards to earn their cost of capital (the TSE's March 2023 request
    to firms trading below book) and the governance codes tighten, firms with idle capital buy back
    shares, raise dividends and sell cross-holdings, and their P/B re-rates toward 1.
    Signal: a governance event of one of `kinds` known at a decision point (event family "governance";
    by default the Corporate Governance Code, its revisions and the cost-of-capital request).
    Holds: for `holding_sessions` after the latest such event (0: from the first one to the end),
    the benchmark with `overweight` of the portfolio moved into `basket` (equal weights, none above
    `max_weight`); otherwise the benchmark. The basket is a screen by default (strategies.screens):
    members of the universe on the decision date with P/B below 1 and ROE below 8% as known then,
    the 10 cheapest by P/B, chosen again every month (`rescreen`: monthly, quarterly or never, which
    keeps the first choice of each window); baskets.csv in the run folder lists each choice. A
    fixed list (`basket: ["8306", ...]`, the former hand-picked banks and insurers) still works, and
    carries the hindsight of its picking.
    Falsified if: the basket's excess return over TOPIX after the milestones is not positive.
    """

    params = dict(
        basket=DEFAULT_SCREEN,
        rescreen="monthly",
        kinds=("governance_code", "governance_code_revision", "cost_of_capital_request"),
        holding_sessions=250,
        overweight=0.5,
        max_weight=1.0,
    )
    screen_params = ("basket",)
    param_bounds = {"holding_sessions": (0, 10000), "overweight": (0.0, 1.0), "max_weight": (0.01, 1.0)}
    required_lists = {
        "basket": ("the basket is empty", 'List the low-P/B tickers, e.g. ["8306", "8316"].'),
        "kinds": ("no event kinds to act on",
                  "Name at least one governance kind, e.g. kinds: [cost_of_capital_request]."),
    }

    @classmethod
    def validate_params(cls, given, file="config"):
        params = super().validate_params(given, file)
        if params["rescreen"] not in RESCREEN:
            from backtest.errors import ConfigError, did_you_mean

            raise ConfigError(file=file, field="params.rescreen", problem=f"unknown choice {params['rescreen']!r}",
                              fix=did_you_mean(params["rescreen"], RESCREEN))
        return params

    def in_window(self, view) -> bool:
        """In a window after a governance milestone, or not."""
        since = view.events.sessions_since("governance", kinds=self.p.kinds)
        if since is None:
            return False
        return self.p.holding_sessions == 0 or since < self.p.holding_sessions

    def state(self, view):
        """Out, or in (with a screen: and the month or quarter, so that each one screens again)."""
        if not self.in_window(view):
            return False
        if not isinstance(self.p.basket, Screen) or self.p.rescreen == "never":
            return True
        # the month of the last close seen: a new month's choice at its first close (and at a milestone)
        day = view.asof
        return (day.year, day.month if self.p.rescreen == "monthly" else (day.month - 1) // 3)

    def basket(self, view) -> list[str]:
        if isinstance(self.p.basket, Screen):
            return list(view.screen(self.p.basket)["ticker"])
        return list(self.p.basket)

    def target_weights(self, view):
        if not self.state(view):
            return {view.benchmark: 1.0}
        basket = self.basket(view)
        if not basket:
            return {view.benchmark: 1.0}  # nothing passes the screen: the market
        return capped(overweight(basket, view.benchmark, self.p.overweight), self.p.max_weight, view.benchmark)
