"""From split-adjusted prices back to the prices that traded, with J-Quants' per-day adjustment factor.

J-Quants publishes, for every stock and day, `AdjustmentFactor` (V1 daily_quotes) or `AdjFactor`
(V2 equities/bars/daily): 1.0 on most days, and on the ex-date of a split or reverse split the
ratio of shares before to shares after, e.g. 0.2 on the ex-date of a 1:5 split (one share became
five) and 10 on that of a 10:1 reverse split. Its adjusted fields scale every earlier day by the
product of the later factors:

    AdjustmentClose_t = Close_t × Π_{d > t} AdjustmentFactor_d
    AdjustmentVolume_t = Volume_t / Π_{d > t} AdjustmentFactor_d

so the as-traded values come back with the ratio

    ratio_t = Π_{d > t} 1 / AdjustmentFactor_d          (1.0 after the last split)
    as-traded price = adjusted price × ratio_t,  as-traded volume = adjusted volume / ratio_t

(Toyota's 1:5 split, ex-date 2021-09-29, factor 0.2: ratio 5 up to 2021-09-28, so an adjusted
close of ¥2,000 on 2021-09-28 traded at ¥10,000.) The product runs over every later row the source
holds, not only over the run's period, because the adjusted prices were scaled to the source's
latest share basis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_traded_ratio(factor: pd.Series) -> pd.Series:
    """ratio_t = product of 1 / factor over the rows after t, on the factor's own index (sorted by date).

    Missing factors count as 1.0 (no corporate action that day).
    """
    f = pd.to_numeric(factor, errors="coerce").astype("float64").fillna(1.0).to_numpy()
    inverse = 1.0 / f
    # product over strictly later rows: reverse cumulative product, shifted by one row
    later = np.cumprod(inverse[::-1])[::-1]
    ratio = np.append(later[1:], 1.0) if len(later) else later
    return pd.Series(ratio, index=factor.index, name=factor.name, dtype="float64")


def ratio_on_grid(factor: pd.Series, grid: pd.DatetimeIndex) -> pd.Series:
    """as_traded_ratio of a ticker's rows, read on a grid of sessions.

    A session without a row takes the ratio of the last row before it (the splits after that row
    are the ones after the session); a session before the first row takes the whole product.
    """
    ratio = as_traded_ratio(factor)
    if not len(ratio):
        return pd.Series(1.0, index=grid)
    on_grid = ratio.reindex(ratio.index.union(grid)).ffill().reindex(grid)
    before_all = float(ratio.iloc[0]) / float(pd.to_numeric(factor, errors="coerce").fillna(1.0).iloc[0])
    return on_grid.fillna(before_all).astype("float64")


def fold_dropped_factors(factor: pd.Series, keep: pd.Series) -> pd.Series:
    """Move the factor of each row about to be dropped (no trade, so no price) onto the next kept row.

    J-Quants returns a row with null prices on a day without a trade; when that day is a split's
    ex-date, dropping the row would lose the split. The product over later rows of every kept row
    is unchanged by the move. (A factor on dropped rows after the last kept row has no row to go to
    and is lost; the rows before it then miss that split.)
    """
    f = pd.to_numeric(factor, errors="coerce").astype("float64").fillna(1.0)
    keep = keep.to_numpy(dtype=bool)
    out = f.to_numpy().copy()
    pending = 1.0
    for i in range(len(out)):
        if keep[i]:
            out[i] *= pending
            pending = 1.0
        else:
            pending *= out[i]
            out[i] = 1.0
    return pd.Series(out, index=factor.index, name=factor.name)
