"""Exporters → domestic rotation: switch between an exporter and a domestic basket on events and a yen trend."""

from __future__ import annotations

from typing import Any

from backtest.errors import ConfigError
from backtest.events.calendar import FAMILY_PATTERN, KIND_PATTERN
from strategies.signals import WAGE_TRIGGERS, strong_wages_since, trend
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from strategies.weights import capped, overweight

STRONG_WAGES = "strong_wages"


@register_theme("exporter_domestic_rotation")
class ExporterDomesticRotation(ThemeStrategy):
    """Switch between exporters and domestic demand on tariff news, wage prints and the yen's trend.

    Idea: exporters (autos, electronics, machinery) earn abroad and gain from a weak yen and open
    trade; tariffs and a strengthening yen hurt them, while strong wages help domestic sales.
    Signal: the latest event known at a decision point among `domestic_on` and `exporter_on`, each
    entry "family:kind", "family" or "strong_wages" (a shunto first tally above `shunto_threshold`,
    or real / nominal wage growth above `real_wage_threshold` / `nominal_wage_threshold`); while no
    such event is within `holding_sessions`, the trend of `fx_series` (a price series quoted in yen
    per foreign unit, such as USD/JPY; empty turns it off): its close more than `fx_band_pct`
    percent above its `fx_trend_sessions`-session average means a weakening yen (`fx_invert` flips
    a series quoted the other way).
    Holds: the benchmark with `overweight` of the portfolio (all of it by default) moved into
    `domestic_basket` or `exporter_basket` (equal weights, none above `max_weight`); the benchmark
    when events give no side and the yen has no trend. The demo data has no FX series.
    Falsified if: the basket held does not beat the other basket, and TOPIX, over the switches.
    """

    params = dict(
        exporter_basket=("1622", "1625", "1624"),
        domestic_basket=("1630", "1617", "1628", "1626", "1633"),
        domestic_on=("us_policy:tariff", STRONG_WAGES),
        exporter_on=("us_policy:trade_deal",),
        holding_sessions=60,
        shunto_threshold=3.0,
        real_wage_threshold=0.0,
        nominal_wage_threshold=3.0,
        fx_series="",
        fx_trend_sessions=60,
        fx_band_pct=1.0,
        fx_invert=False,
        overweight=1.0,
        max_weight=1.0,
    )
    param_bounds = {
        "holding_sessions": (1, 2500),
        "shunto_threshold": (-20.0, 50.0),
        "real_wage_threshold": (-20.0, 50.0),
        "nominal_wage_threshold": (-20.0, 50.0),
        "fx_trend_sessions": (2, 1000),
        "fx_band_pct": (0.0, 50.0),
        "overweight": (0.0, 1.0),
        "max_weight": (0.01, 1.0),
    }
    required_lists = {
        "exporter_basket": ("the basket is empty", "List its tickers."),
        "domestic_basket": ("the basket is empty", "List its tickers."),
    }

    @classmethod
    def tickers_for(cls, params: dict[str, Any]) -> list[str]:
        """The two baskets, and the yen series, which is read but never traded."""
        out = super().tickers_for(params)
        return [*out, params["fx_series"]] if params.get("fx_series") else out

    @classmethod
    def validate_params(cls, given, file="config"):
        params = super().validate_params(given, file)
        for name in ("domestic_on", "exporter_on"):
            for token in params[name]:
                _check_trigger(token, file, f"params.{name}")
        both = sorted(set(params["domestic_on"]) & set(params["exporter_on"]))
        if both:
            raise ConfigError(file=file, field="params.exporter_on",
                              problem=f"{', '.join(both)} is also in domestic_on", fix="Give each trigger one side.")
        if params["fx_series"] in (*params["exporter_basket"], *params["domestic_basket"]):
            raise ConfigError(file=file, field="params.fx_series", problem=f"{params['fx_series']} is in a basket",
                              fix="Name a price series that the theme only reads, such as a USD/JPY file.")
        return params

    def since(self, view, trigger: str) -> int | None:
        if trigger == STRONG_WAGES:
            return strong_wages_since(view, WAGE_TRIGGERS, self.p.shunto_threshold, self.p.real_wage_threshold,
                                      self.p.nominal_wage_threshold)
        family, _, kind = trigger.partition(":")
        return view.events.sessions_since(family, kinds=(kind,) if kind else None)

    def state(self, view) -> str:
        """"domestic", "exporter" or "benchmark"."""
        latest = {}
        for side, triggers in (("domestic", self.p.domestic_on), ("exporter", self.p.exporter_on)):
            ages = (self.since(view, t) for t in triggers)
            found = [s for s in ages if s is not None and s < self.p.holding_sessions]
            if found:
                latest[side] = min(found)
        if len(latest) == 1:
            return next(iter(latest))
        if len(latest) == 2 and latest["domestic"] != latest["exporter"]:
            return min(latest, key=latest.get)
        # no event in force, or both sides on one session: the yen decides
        if not self.p.fx_series:
            return "benchmark"
        direction = trend(view, self.p.fx_series, self.p.fx_trend_sessions, self.p.fx_band_pct)
        if self.p.fx_invert:
            direction = -direction
        return {1: "exporter", -1: "domestic", 0: "benchmark"}[direction]

    def target_weights(self, view):
        now = self.state(view)
        if now == "benchmark":
            return {view.benchmark: 1.0}
        basket = self.p.exporter_basket if now == "exporter" else self.p.domestic_basket
        return capped(overweight(basket, view.benchmark, self.p.overweight), self.p.max_weight, view.benchmark)


def _check_trigger(token: str, file: str, field: str) -> None:
    family, colon, kind = token.partition(":")
    if token == STRONG_WAGES or (FAMILY_PATTERN.match(family) and (not colon or KIND_PATTERN.match(kind))):
        return
    raise ConfigError(file=file, field=field, problem=f"'{token}' is not a trigger",
                      fix='Write "family:kind" (e.g. "us_policy:tariff"), "family", or "strong_wages".')
