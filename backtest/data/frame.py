"""PriceFrame: daily prices of several tickers on one grid of Tokyo sessions."""

from __future__ import annotations

import dataclasses
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

    as_traded_ratio: None when the source carries no adjustment factor. Otherwise a sessions ×
    tickers float frame with as-traded price = adjusted price × ratio and as-traded volume =
    adjusted volume / ratio: the ratio at session t is the product, over later sessions d > t in
    the data, of 1 / AdjustmentFactor_d (J-Quants' factor: 0.2 on the ex-date of a 1:5 split, so
    a share before it traded at 5 × the adjusted price). 1.0 where no later split is known.
    Daily limits, the tick grid and trading units are rules on as-traded prices; see
    backtest/data/adjustment.py.

    coverage: ticker -> (first, last) date of the source's rows, before any period was applied.
    period: the period asked for and the one the frame holds ({"requested": {...}, "actual": {...},
    "clamped": bool}); empty for a frame built by hand.
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
    as_traded_ratio: pd.DataFrame | None = None
    coverage: dict = field(default_factory=dict)
    period: dict = field(default_factory=dict)

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return self.close.index

    @cached_property
    def session_stamps(self) -> list[pd.Timestamp]:
        """The sessions as Timestamps, boxed once: every decision's view reads one."""
        return list(self.sessions)

    @cached_property
    def session_dates(self) -> list:
        """The sessions as datetime.date, made once: the order book's records write one per order and fill."""
        return [day.date() for day in self.session_stamps]

    @property
    def tickers(self) -> list[str]:
        return list(self.close.columns)

    @property
    def adjustment_known(self) -> bool:
        """True when the source gave split factors, so as-traded prices can be recovered (as_traded_ratio)."""
        return self.as_traded_ratio is not None

    @property
    def adjustment_note(self) -> str:
        """One line for a run summary: which prices the Tokyo rules (ticks, limits, units) can see."""
        if self.adjustment_known:
            return "as-traded prices known from the source's adjustment factors"
        return "no adjustment factors in the data: rules ran on adjusted prices"

    def as_traded(self, field_name: str = "close") -> pd.DataFrame:
        """open/high/low/close or volume as traded that day (the adjusted values where no factor is known)."""
        values = getattr(self, field_name)
        if self.as_traded_ratio is None:
            return values
        ratio = self.as_traded_ratio.reindex(index=values.index, columns=values.columns).fillna(1.0)
        return values / ratio if field_name == "volume" else values * ratio

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
        if self.as_traded_ratio is not None:
            # only when present, so a frame without factors keeps the hash it always had
            h.update(b"as_traded_ratio")
            h.update(np.ascontiguousarray(self.as_traded_ratio.to_numpy(dtype="float64")).tobytes())
        return h.hexdigest()

    def slice(self, start=None, end=None) -> "PriceFrame":
        pick = slice(start, end)
        ratio = None if self.as_traded_ratio is None else self.as_traded_ratio.loc[pick]
        return dataclasses.replace(self, **{f: getattr(self, f).loc[pick] for f in FIELDS}, as_traded_ratio=ratio)
