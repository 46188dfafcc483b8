"""Governance / ROE reform: overweight low price-to-book, cash-rich firms after dated governance milestones."""

from __future__ import annotations

from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import capped, overweight


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
    `max_weight`); otherwise the benchmark. themebt has no P/B data, so the basket is chosen by hand:
    by default the universe's banks and insurers, most of which traded below book value in early
    2023; replace it with a P/B screen of your own.
    Falsified if: the basket's excess return over TOPIX after the milestones is not positive.
    """

    params = dict(
        basket=("8306", "8316", "8411", "8308", "8309", "8766", "8725", "8630", "8750"),
        kinds=("governance_code", "governance_code_revision", "cost_of_capital_request"),
        holding_sessions=250,
        overweight=0.5,
        max_weight=1.0,
    )
    param_bounds = {"holding_sessions": (0, 10000), "overweight": (0.0, 1.0), "max_weight": (0.01, 1.0)}
    required_lists = {
        "basket": ("the basket is empty", 'List the low-P/B tickers, e.g. ["8306", "8316"].'),
        "kinds": ("no event kinds to act on",
                  "Name at least one governance kind, e.g. kinds: [cost_of_capital_request]."),
    }

    def state(self, view) -> bool:
        """In a window after a governance milestone, or not."""
        since = view.events.sessions_since("governance", kinds=self.p.kinds)
        if since is None:
            return False
        return self.p.holding_sessions == 0 or since < self.p.holding_sessions

    def target_weights(self, view):
        if not self.state(view):
            return {view.benchmark: 1.0}
        return capped(overweight(self.p.basket, view.benchmark, self.p.overweight), self.p.max_weight, view.benchmark)
