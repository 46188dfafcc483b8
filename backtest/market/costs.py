"""Japanese trading costs: a commission preset (zero, tiered per order, percent with a minimum) plus a spread model."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PRESETS_FILE = Path(__file__).with_name("cost_presets.yaml")
PRESETS = ("zero", "tiered", "percent")


@lru_cache(maxsize=1)
def presets() -> dict:
    return yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CostModel:
    """What one order costs: commission by the preset, and a price concession of the spread model.

    tiers: (up_to_jpy or None, fee_jpy) rows, for the tiered preset. rate_bps and min_jpy: the percent
    preset. half_spread_bps: paid on every fill, against the trader. impact_bps: added for each 1% of
    the fill session's volume that the order takes.
    """

    preset: str = "zero"
    tiers: tuple[tuple[float | None, float], ...] = ()
    rate_bps: float = 0.0
    min_jpy: float = 0.0
    half_spread_bps: float = 0.0
    impact_bps: float = 0.0

    def commission(self, value_jpy: float) -> float:
        """JPY charged for one order (one execution) of this traded value; 0 for nothing traded.

        The schedule in plain Python (the engines ask it once per fill); backtest.execution.model.commission
        is its array form for many orders at once."""
        value = abs(float(value_jpy))
        if value == 0:
            return 0.0
        if self.preset == "percent":
            return max(value * self.rate_bps / 1e4, self.min_jpy)
        if self.preset == "tiered":
            for up_to, fee in self.tiers:
                if up_to is None or value <= up_to:
                    return float(fee)
            return float(self.tiers[-1][1])
        return 0.0

    def slip_bps(self, shares: float = 0.0, session_volume: float = float("nan")) -> float:
        """Basis points the fill price moves against the trader: half-spread plus volume-share impact."""
        bps = self.half_spread_bps
        if self.impact_bps and session_volume and math.isfinite(session_volume) and session_volume > 0:
            bps += self.impact_bps * 100.0 * abs(shares) / session_volume
        return bps

    def describe(self) -> str:
        if self.preset == "tiered":
            first, last = self.tiers[0], self.tiers[-1]
            if first[0] is None:  # one row: a flat fee per order
                head = f"preset tiered (¥{first[1]:,.0f} per order)"
            else:
                head = f"preset tiered (¥{first[1]:,.0f} up to ¥{first[0]:,.0f} … ¥{last[1]:,.0f})"
        elif self.preset == "percent":
            head = f"preset percent ({self.rate_bps:g} bp, min ¥{self.min_jpy:,.0f})"
        else:
            head = "preset zero"
        spread = f" + {self.half_spread_bps:g} bp half-spread"
        impact = f" + {self.impact_bps:g} bp per 1% of volume" if self.impact_bps else ""
        return head + spread + impact
