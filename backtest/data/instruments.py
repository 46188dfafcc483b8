"""The instruments themebt knows: ticker, name, kind, TOPIX-17 sector and trading unit."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

INSTRUMENTS_FILE = Path(__file__).with_name("instruments.csv")


@dataclass(frozen=True)
class Instrument:
    ticker: str
    name: str
    kind: str  # index | etf | stock
    sector17: str  # the TOPIX-17 sector ETF code, empty for indices and broad ETFs
    lot_size: int  # TSE trading unit; 1 for an index held as if through an index fund


@lru_cache(maxsize=1)
def instruments() -> dict[str, Instrument]:
    with INSTRUMENTS_FILE.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return {
        r["ticker"]: Instrument(r["ticker"], r["name"], r["kind"], r["sector17"], int(r["lot_size"]))
        for r in rows
    }


def lot_size(ticker: str, overrides: dict[str, int] | None = None) -> int:
    """The trading unit: a config override, else the registry, else 100 (every TSE stock since 2018-10)."""
    if overrides and ticker in overrides:
        return int(overrides[ticker])
    known = instruments().get(ticker)
    return known.lot_size if known else 100
