"""PriceFrame: daily prices of several tickers on one grid of Tokyo sessions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

FIELDS = ("open", "high", "low", "close", "volume")
SYNTHETIC_LABEL = "SYNTHETIC DEMO DATA: not market history"


@dataclass(frozen=True)
class PriceFrame:
    """Prices aligned on the session grid.

    Each of open/high/low/close/volume: index = sessions (tz-naive dates), columns = tickers,
    values in JPY (index points for an index), NaN on a session where the ticker did not trade
    (before its first row, or a gap). Volume is NaN throughout for a ticker whose source has none.
    """

    open: pd.DataFrame
    high: pd.DataFrame
    low: pd.DataFrame
    close: pd.DataFrame
    volume: pd.DataFrame
    source: str
    synthetic: bool
    warnings: tuple[str, ...] = field(default=())
    basis: str = "price"

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return self.close.index

    @property
    def tickers(self) -> list[str]:
        return list(self.close.columns)

    @cached_property
    def tradable(self) -> pd.DataFrame:
        """True where the ticker printed a price that session (a zero-volume quote is not a trade)."""
        no_trade = self.volume.fillna(1.0) <= 0
        return self.close.notna() & ~no_trade

    def data_hash(self) -> str:
        """sha256 of the aligned values: two runs on the same hash saw the same prices."""
        h = hashlib.sha256()
        h.update(",".join(self.tickers).encode())
        h.update(np.asarray(self.sessions.asi8).tobytes())
        for name in FIELDS:
            h.update(np.ascontiguousarray(getattr(self, name).to_numpy(dtype="float64")).tobytes())
        return h.hexdigest()

    def slice(self, start=None, end=None) -> "PriceFrame":
        pick = slice(start, end)
        return PriceFrame(
            *(getattr(self, f).loc[pick] for f in FIELDS),
            source=self.source,
            synthetic=self.synthetic,
            warnings=self.warnings,
            basis=self.basis,
        )
