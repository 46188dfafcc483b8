"""Shared test helpers: tiny price frames on real Tokyo sessions, specs built as a config would be."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.config import spec_from_mapping
from backtest.data.frame import PriceFrame

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_DATA = SHARED / "data" / "real"


def make_prices(closes: dict[str, list[float]], start: str = "2024-01-04", opens: dict | None = None,
                volume: dict | None = None, spread: float = 0.01, synthetic: bool = True) -> PriceFrame:
    """Bars on consecutive Tokyo sessions from `start`; open = previous close unless given.

    high/low sit `spread` above/below the bar, because backtrader caps slippage at them.
    """
    n = len(next(iter(closes.values())))
    grid = tokyo_sessions(start, pd.Timestamp(start) + pd.Timedelta(days=3 * n + 30))[:n]
    close = pd.DataFrame({t: np.asarray(v, dtype=float) for t, v in closes.items()}, index=grid)
    if opens is None:
        open_ = close.shift(1).fillna(close)
    else:
        open_ = pd.DataFrame({t: np.asarray(opens.get(t, closes[t]), dtype=float) for t in closes}, index=grid)
    hi = np.maximum(open_, close) * (1 + spread)
    lo = np.minimum(open_, close) * (1 - spread)
    vol = pd.DataFrame({t: np.asarray((volume or {}).get(t, [1e6] * n), dtype=float) for t in closes}, index=grid)
    return PriceFrame(open_, hi, lo, close, vol, source="test", synthetic=synthetic)


def changed_after(base: PriceFrame, cut: int, seed: int, scale: float) -> PriceFrame:
    """`base` with every open/high/low/close after session `cut` scaled at random (seeded), bars kept consistent."""
    rng = np.random.default_rng(seed)
    later = {}
    for f in ("open", "high", "low", "close"):
        frame = getattr(base, f).copy()
        frame.iloc[cut + 1:] *= scale * np.exp(rng.normal(0, 0.05, frame.iloc[cut + 1:].shape))
        later[f] = frame
    later["high"] = np.maximum(later["high"], np.maximum(later["open"], later["close"]))
    later["low"] = np.minimum(later["low"], np.minimum(later["open"], later["close"]))
    return type(base)(later["open"], later["high"], later["low"], later["close"], base.volume,
                      source="test", synthetic=True)


def make_spec(theme: str, params: dict | None = None, benchmark: str = "TOPIX", **execution):
    raw = {"theme": theme, "benchmark": benchmark, "params": params or {}, "execution": execution}
    return spec_from_mapping(raw, file="test-config")


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip("../shared/data/real is not present")
    return REAL_DATA


def total_return_case(folder: Path):
    """An equal-weight basket on the total-return basis with a small dividends file in `folder`, on demo prices
    of 2023-01 .. 2024-06: (spec, prices, basis plan)."""
    import dataclasses

    from backtest.data import DataSource, load_prices
    from backtest.market.dividends import plan_basis

    path = folder / "dividends.csv"
    path.write_text("ticker,ex_date,amount_jpy\n1631,2023-03-30,12.5\n1632,2023-09-28,40\n6954,2023-03-30,30\n"
                    "TOPIX,2023-03-30,15\n7203,2024-03-28,35\n")
    spec = dataclasses.replace(make_spec("equal_weight", {"basket": ["1631", "1632", "6954", "7203"]}),
                               basis="total", dividends_path=str(path))
    prices = load_prices(DataSource("demo"), spec.tickers, "2023-01-04", "2024-06-28")
    return spec, prices, plan_basis(spec, prices)
