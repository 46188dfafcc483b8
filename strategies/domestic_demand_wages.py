"""Domestic demand after wage data: overweight domestic-demand sectors for a while after a strong wage print."""

from __future__ import annotations

from backtest.errors import ConfigError
from strategies.signals import WAGE_TRIGGERS, check_choices, strong_wages_since
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import blend, capped, equal_weight, overweight


@register_theme("domestic_demand_wages")
class DomesticDemandWages(ThemeStrategy):
    """Overweight domestic-demand sectors against exporters after a strong wage print.

    Idea: wage growth that beats inflation lifts household spending, which domestic sales
    (retail, foods, transport, services, property) feel first, while exporters live on foreign demand.
    Signal: a strong wage print known at a decision point among `triggers`: a Rengo shunto first tally
    above `shunto_threshold` (%), or a Monthly Labour Survey release with real wage growth above
    `real_wage_threshold` or nominal growth above `nominal_wage_threshold` (% year on year).
    Holds: for `holding_sessions` after the latest strong print, the benchmark with `overweight` of
    the portfolio moved into `domestic_basket` (equal weights, none above `max_weight`) and, where the
    config allows shorting, `exporter_short` sold short in `exporter_basket`; otherwise the benchmark.
    Falsified if: `domestic_basket` does not beat `exporter_basket` (and TOPIX) over the windows.
    """

    params = dict(
        domestic_basket=("1630", "1617", "1628", "1626", "1633"),
        exporter_basket=("1622", "1625", "1624"),
        triggers=WAGE_TRIGGERS,
        shunto_threshold=3.0,
        real_wage_threshold=0.0,
        nominal_wage_threshold=3.0,
        holding_sessions=60,
        overweight=0.5,
        exporter_short=0.0,
        max_weight=1.0,
    )
    param_bounds = {
        "shunto_threshold": (-20.0, 50.0),
        "real_wage_threshold": (-20.0, 50.0),
        "nominal_wage_threshold": (-20.0, 50.0),
        "holding_sessions": (1, 2500),
        "overweight": (0.0, 1.0),
        "exporter_short": (0.0, 1.0),
        "max_weight": (0.01, 1.0),
    }
    required_lists = {
        "triggers": ("no wage triggers", f"Name at least one of {', '.join(WAGE_TRIGGERS)}."),
        "domestic_basket": ("the basket is empty", 'List the domestic-demand tickers, e.g. ["1630", "1617"].'),
    }

    @classmethod
    def validate_params(cls, given, file="config"):
        params = super().validate_params(given, file)
        check_choices(params["triggers"], WAGE_TRIGGERS, file, "params.triggers")
        if params["exporter_short"] > 0 and not params["exporter_basket"]:
            raise ConfigError(file=file, field="params.exporter_short", problem="there is no exporter_basket to short",
                              fix="List exporter tickers in exporter_basket, or set exporter_short: 0.")
        return params

    def state(self, view) -> bool:
        """In a window after a strong wage print, or not."""
        since = strong_wages_since(view, self.p.triggers, self.p.shunto_threshold, self.p.real_wage_threshold,
                                   self.p.nominal_wage_threshold)
        return since is not None and since < self.p.holding_sessions

    def target_weights(self, view):
        if not self.state(view):
            return {view.benchmark: 1.0}
        long = capped(overweight(self.p.domestic_basket, view.benchmark, self.p.overweight), self.p.max_weight,
                      view.benchmark)
        if not self.p.exporter_short:
            return long
        weights = blend((1.0, long), (-self.p.exporter_short, equal_weight(self.p.exporter_basket)))
        return {t: w for t, w in weights.items() if w != 0.0}
