"""TSE daily price limits (制限値幅): the band around the previous close that no trade may leave."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

LIMITS_FILE = Path(__file__).with_name("price_limits.yaml")
LOWEST_PRICE_JPY = 1.0


@lru_cache(maxsize=1)
def _tables() -> list[tuple[pd.Timestamp, np.ndarray, np.ndarray]]:
    """(in force from, bounds, widths) per table, oldest first; the open-ended last bound is +inf."""
    raw = yaml.safe_load(LIMITS_FILE.read_text(encoding="utf-8"))["tables"]
    out = []
    for table in raw.values():
        bounds = np.array([np.inf if b is None else float(b) for b, _ in table["steps"]])
        widths = np.array([float(w) for _, w in table["steps"]])
        out.append((pd.Timestamp(table["from"]), bounds, widths))
    return sorted(out, key=lambda t: t[0])


def limit_width(base: float, session) -> float:
    """The daily limit width in JPY for a base price (normally the previous close) on a session."""
    return float(limit_widths(np.array([base]), pd.DatetimeIndex([pd.Timestamp(session)]))[0])


def limit_widths(base: np.ndarray, sessions: pd.DatetimeIndex) -> np.ndarray:
    """Width for each (base price, session) pair; NaN where the base is unknown."""
    base = np.asarray(base, dtype=float)
    out = np.full(base.shape, np.nan)
    for start, bounds, widths in _tables():
        use = np.asarray(sessions >= start)
        # "未満": a base equal to a bound belongs to the next step up
        idx = np.searchsorted(bounds, np.where(np.isfinite(base), base, 0.0), side="right")
        idx = np.minimum(idx, len(widths) - 1)
        out = np.where(use & np.isfinite(base), widths[idx], out)
    return out


def limit_band(close: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lower and upper daily limits on each session from the previous traded close.

    close: index = sessions; columns = tickers; NaN where no trade. Returns two frames of that shape
    (JPY), NaN on a ticker's first session, where no previous close is known.
    """
    base = close.ffill().shift(1)
    width = np.column_stack([limit_widths(base[t].to_numpy(), close.index) for t in close.columns]) if len(
        close.columns) else np.empty((len(close), 0))
    width = pd.DataFrame(width, index=close.index, columns=close.columns)
    return np.maximum(base - width, LOWEST_PRICE_JPY), base + width
