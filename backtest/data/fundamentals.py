"""Point-in-time company fundamentals: each figure known only from the moment it was disclosed.

The one home of fundamentals. A ``Fundamentals`` holds a long table of disclosures, one row per
(code, disclosed_at, period), with the columns in ``FIELDS``:

* ``code``: the TSE code as prices use it ("7203", "130A"), a string.
* ``disclosed_at``: when the figures became public, a tz-aware Asia/Tokyo Timestamp. A naive
  date-time is taken as Tokyo time. A disclosure with a date but no time (a date-only text, or a
  naive stamp at exactly midnight) is taken as ``NO_TIME`` (23:59:59 Tokyo) that day: after the
  close, so it is first usable at the next session's pre-open point and never the same day.
* ``period_end``: the last day of the period the figures cover (tz-naive date; NaT if not given).
* ``period_type``: "1Q", "2Q", "3Q", "FY" (J-Quants' TypeOfCurrentPeriod), "" if not given.
* ``document_type``: the kind of document (J-Quants' TypeOfDocument, e.g.
  "FYFinancialStatements_Consolidated_IFRS", "EarnForecastRevision"), "" if not given.
* money in yen, per-share figures in yen per share, shares in shares, all float with NaN for a
  blank. Results are cumulative for the fiscal year to ``period_end``, as Japanese quarterly
  reports (and J-Quants) give them: a 2Q row's ``profit`` is six months' profit; ``PERIOD_MONTHS``
  says how many months each period type covers, to annualise. ``equity``, ``total_assets``,
  ``bps``, the share counts are as at ``period_end``; ``shares_outstanding`` counts issued shares
  including ``treasury_shares`` (J-Quants' ShOutFY and TrShFY), so the shares held outside the
  company are their difference. ``ordinary_profit`` is blank for IFRS and
  US GAAP reporters (the line does not exist there). ``dividend_per_share`` is the fiscal year's
  total dividend per share, given in FY rows. ``forecast_*`` are the company's forecasts for the
  whole fiscal year (the current one in 1Q-3Q rows and revisions, the next one in FY rows).

What is known at a time ``ts`` (``known_at``, ``asof_arrays``), per code:

* the *statement*: among disclosures with ``disclosed_at <= ts`` that carry results (any of
  net_sales, operating_profit, ordinary_profit, profit, equity, total_assets, eps, bps), the one
  for the latest period, and of that period the latest disclosure. So a restatement (the same
  period disclosed again) supersedes the earlier figures from its own disclosure time, never
  before; a late restatement of an older period never hides a newer period's results.
* the *forecasts*: each forecast_* field from the latest disclosure (by disclosed_at; of two at
  the same time, the one for the later period) that gives that field, such as a forecast revision,
  which has no results of its own: a dividend revision updates forecast_dividend_per_share and
  leaves the profit forecast as it was. ``forecast_disclosed_at`` is the time of the latest
  disclosure giving any forecast.

Decision points (see backtest.events.calendar.EventClock): a run decides at the opening (point 0), before
the open of session i (point 2i) and at the close of session i (point 2i+1). A disclosure is usable
from the first decision point at or after its time, computed by the event clock's own function:
figures disclosed at 15:30 after a 15:00 close are usable at the next session's pre-open point and
trade at its open; figures disclosed at 11:30 are usable at that session's close.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, NoReturn

import numpy as np
import pandas as pd

from backtest.market.calendar import TOKYO
from backtest.errors import DataError, did_you_mean

FIELDS = (
    "code",
    "disclosed_at",
    "period_end",
    "period_type",
    "document_type",
    "net_sales",
    "operating_profit",
    "ordinary_profit",
    "profit",
    "equity",
    "total_assets",
    "eps",
    "bps",
    "shares_outstanding",
    "treasury_shares",
    "dividend_per_share",
    "forecast_net_sales",
    "forecast_profit",
    "forecast_eps",
    "forecast_dividend_per_share",
)
REQUIRED = ("code", "disclosed_at")
TEXT_FIELDS = ("code", "period_type", "document_type")
TIME_FIELDS = ("disclosed_at", "period_end")
NUMERIC_FIELDS = tuple(f for f in FIELDS if f not in TEXT_FIELDS + TIME_FIELDS)
# A row carrying any of these is a statement of results; one carrying none is a forecast revision or a notice.
RESULT_FIELDS = ("net_sales", "operating_profit", "ordinary_profit", "profit", "equity", "total_assets", "eps", "bps")
FORECAST_FIELDS = ("forecast_net_sales", "forecast_profit", "forecast_eps", "forecast_dividend_per_share")
SHARE_FIELDS = ("shares_outstanding", "treasury_shares")
# Months of the fiscal year a period type's cumulative results cover.
PERIOD_MONTHS = {"1Q": 3, "2Q": 6, "3Q": 9, "FY": 12}
# A disclosure with a date and no time is taken as known at this Tokyo time that day: after any close.
NO_TIME = dt.time(23, 59, 59)

_CODE = re.compile(r"^[0-9][0-9A-Z]{3}$")
_NS = "datetime64[ns]"
_NS_TOKYO = f"datetime64[ns, {TOKYO}]"
_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}\s*$")


# --------------------------------------------------------------------------- validation


def _fail(source: str, row: str, column: str, problem: str, fix: str) -> NoReturn:
    raise DataError(file=source, field=f"{row}, {column}" if row else column, problem=problem, fix=fix)


def _row_name(rows: np.ndarray | None, pos: int) -> str:
    return f"row {int(rows[pos]) if rows is not None else pos + 1}"


def _as_code(value) -> str:
    text = str(value).strip().upper()
    if len(text) == 5 and text.endswith("0") and _CODE.match(text[:4]):
        return text[:4]  # J-Quants' 5-digit code: 72030 -> 7203
    return text


def _parse_times(values: pd.Series, source: str, rows: np.ndarray | None) -> np.ndarray:
    """disclosed_at values -> UTC nanoseconds; naive means Tokyo, date-only means NO_TIME that day."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").array.as_unit("ns").asi8.copy() if values.notna().all() \
            else _parse_times(values.astype(object), source, rows)
    if pd.api.types.is_datetime64_dtype(values.dtype) and values.notna().all():
        naive = pd.DatetimeIndex(values)
        midnight = naive == naive.normalize()
        naive = naive.where(~midnight, naive + pd.Timedelta(hours=NO_TIME.hour, minutes=NO_TIME.minute,
                                                                seconds=NO_TIME.second))
        return naive.tz_localize(TOKYO).as_unit("ns").asi8.copy()
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        fast = _parse_time_texts(values)
        if fast is not None:
            return fast
    out = np.empty(len(values), dtype=np.int64)
    for pos, raw in enumerate(values.tolist()):
        stamp, date_only = None, False
        if isinstance(raw, str):
            date_only = bool(_DATE_ONLY.match(raw))
            try:
                stamp = pd.Timestamp(raw.strip()) if raw.strip() else None
            except (ValueError, TypeError, OverflowError):
                stamp = None
        elif isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            stamp, date_only = pd.Timestamp(raw), True
        elif raw is not None and not (isinstance(raw, float) and np.isnan(raw)):
            try:
                stamp = pd.Timestamp(raw)
            except (ValueError, TypeError, OverflowError):
                stamp = None
        if stamp is None or stamp is pd.NaT or not 1950 <= stamp.year <= 2100:
            _fail(source, _row_name(rows, pos), "disclosed_at",
                  f"{raw!r} is not a date-time" if stamp is None or stamp is pd.NaT
                  else f"{raw!r} is outside 1950..2100",
                  "Write it as YYYY-MM-DD HH:MM (Tokyo time), e.g. 2024-05-10 15:30, or with an offset, "
                  "e.g. 2024-05-10T15:30:00+09:00; a date alone is taken as after the close")
        if stamp.tzinfo is None:
            if date_only or stamp == stamp.normalize():
                stamp = pd.Timestamp.combine(stamp.date(), NO_TIME)
            stamp = stamp.tz_localize(TOKYO)
        out[pos] = stamp.as_unit("ns").value
    return out


def _parse_time_texts(values: pd.Series) -> np.ndarray | None:
    """The common case at speed: every cell an ISO date or date-time text without an offset, all in range.
    None sends the column through the row-by-row parser, which names the first bad row."""
    if not all(isinstance(v, str) for v in values.tolist()):
        return None
    text = values.astype(str).str.strip()
    if text.str.contains(r"[+Zz]|\d-\d\d:\d\d$|T.*-", regex=True).any():
        return None  # offsets: parsed one by one, each keeping its own
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return None
    if parsed.isna().any() or not ((parsed.dt.year >= 1950) & (parsed.dt.year <= 2100)).all():
        return None
    naive = pd.DatetimeIndex(parsed)
    midnight = naive == naive.normalize()
    naive = naive.where(~midnight, naive.normalize() + pd.Timedelta(hours=NO_TIME.hour, minutes=NO_TIME.minute,
                                                                    seconds=NO_TIME.second))
    return naive.tz_localize(TOKYO).as_unit("ns").asi8.copy()


def _parse_dates(values: pd.Series, source: str, rows: np.ndarray | None, column: str) -> np.ndarray:
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return pd.DatetimeIndex(values).normalize().as_unit("ns").to_numpy()
    if all(isinstance(v, str) for v in values.tolist()):
        text = values.astype(str).str.strip()
        given = (text != "").to_numpy()
        parsed = pd.to_datetime(text.where(given, None), format="ISO8601", errors="coerce")
        years = parsed.dt.year
        if not (given & (parsed.isna() | (years < 1950) | (years > 2100)).to_numpy()).any() \
                and not text.str.contains(r"[+Zz]", regex=True).any():
            return pd.DatetimeIndex(parsed).normalize().as_unit("ns").to_numpy()
    out = np.full(len(values), np.datetime64("NaT"), dtype=_NS)
    for pos, raw in enumerate(values.tolist()):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or (isinstance(raw, str) and not raw.strip()) \
                or raw is pd.NaT:
            continue
        try:
            stamp = pd.Timestamp(raw.strip() if isinstance(raw, str) else raw)
        except (ValueError, TypeError, OverflowError):
            stamp = None
        if stamp is None or stamp is pd.NaT or not 1950 <= stamp.year <= 2100:
            _fail(source, _row_name(rows, pos), column, f"{raw!r} is not a date",
                  "Write it as YYYY-MM-DD, e.g. 2024-03-31, or leave it empty")
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert(TOKYO).tz_localize(None)
        out[pos] = np.datetime64(stamp.normalize().as_unit("ns").to_datetime64(), "ns")
    return out


def _parse_numbers(values: pd.Series, source: str, rows: np.ndarray | None, column: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(values.dtype):
        _fail(source, "", column, "holds true/false values, not numbers", "Give numbers in yen, or leave cells empty")
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float, na_value=np.nan)
    else:
        raw = values.astype(object)
        blank = raw.isna().to_numpy().copy()
        text = raw.where(~blank, "").astype(str).str.strip().str.replace(",", "", regex=False)
        blank |= text.isin(("", "-", "－")).to_numpy()
        numbers = pd.to_numeric(text.where(~blank, "nan"), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(numbers) & ~blank
        if bad.any():
            pos = int(bad.argmax())
            _fail(source, _row_name(rows, pos), column, f"{values.iloc[pos]!r} is not a number",
                  "Write a plain number in yen (per-share figures in yen per share), or leave it empty")
    inf = np.isinf(numbers)
    if inf.any():
        pos = int(inf.argmax())
        _fail(source, _row_name(rows, pos), column, f"{values.iloc[pos]!r} is not a finite number",
              "Leave the cell empty when there is no figure")
    return numbers


def _clean(frame: pd.DataFrame, source: str, rows: np.ndarray | None) -> pd.DataFrame:
    """The validated table: FIELDS as columns in the documented dtypes, sorted by code, disclosed_at, period."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError("Fundamentals needs a pandas DataFrame with the columns in FIELDS")
    unknown = [c for c in frame.columns if c not in FIELDS]
    if unknown:
        _fail(source, "", str(unknown[0]), "unknown column",
              did_you_mean(str(unknown[0]), FIELDS) + " The columns are listed in backtest.data.fundamentals.FIELDS")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        _fail(source, "", ", ".join(missing), "required column missing" if len(missing) == 1
              else "required columns missing", "Add the columns code and disclosed_at (the others are optional)")
    frame = frame.reset_index(drop=True)
    n = len(frame)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    codes = frame["code"]
    code_list = []
    for pos, raw in enumerate(codes.tolist()):
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)  # a spreadsheet's 7203.0
        code = _as_code(raw) if raw is not None and not (isinstance(raw, float) and np.isnan(raw)) else ""
        if not _CODE.match(code):
            _fail(source, _row_name(rows, pos), "code", f"{raw!r} is not a TSE code",
                  "Use the 4-character code, e.g. 7203 or 130A (a 5-digit J-Quants code such as 72030 is fine too)")
        code_list.append(code)
    out["code"] = pd.array(code_list, dtype="str") if n else pd.array([], dtype="str")
    known = _parse_times(frame["disclosed_at"], source, rows)
    out["disclosed_at"] = pd.DatetimeIndex(known.view(_NS)).tz_localize("UTC").tz_convert(TOKYO)
    if "period_end" in frame:
        out["period_end"] = _parse_dates(frame["period_end"], source, rows, "period_end")
    else:
        out["period_end"] = np.full(n, np.datetime64("NaT"), dtype=_NS)
    for col in ("period_type", "document_type"):
        if col in frame:
            text = frame[col].astype(object).where(frame[col].notna(), "").map(lambda v: str(v).strip())
            out[col] = pd.array(text.to_numpy(dtype=object).astype(str), dtype="str")
        else:
            out[col] = pd.array([""] * n, dtype="str")
    for col in NUMERIC_FIELDS:
        out[col] = _parse_numbers(frame[col], source, rows, col) if col in frame else np.full(n, np.nan)
    for col in SHARE_FIELDS:
        neg = out[col].to_numpy() < 0
        if neg.any():
            pos = int(neg.argmax())
            _fail(source, _row_name(rows, pos), col, f"{out[col].iloc[pos]:g} shares is negative",
                  "Give the number of shares (0 or more), or leave it empty")
    key = ["code", "disclosed_at", "period_end", "period_type"]
    dupes = out.duplicated(key, keep=False).to_numpy()
    if dupes.any():
        first = int(dupes.argmax())
        same = [p for p in np.flatnonzero(dupes) if out.loc[p, key].equals(out.loc[first, key])]
        r = out.loc[first]
        _fail(source, f"{_row_name(rows, int(same[0]))} and {_row_name(rows, int(same[1]))}", "code, disclosed_at, period",
              f"the same disclosure ({r['code']}, disclosed {r['disclosed_at'].isoformat()}, period "
              f"{_day(r['period_end'])} {r['period_type'] or '(no type)'}) is listed twice",
              "Keep one of the two rows; a restatement has its own, later disclosed_at")
    order = out.assign(_known=known).sort_values(["code", "_known", "period_end", "period_type"],
                                                 kind="mergesort").index
    return out.loc[order].reset_index(drop=True)


def _day(value) -> str:
    return "(no period_end)" if value is pd.NaT or pd.isna(value) else str(pd.Timestamp(value).date())


# --------------------------------------------------------------------------- the table


def _to_utc_ns(ts) -> int:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(TOKYO)
    return int(stamp.as_unit("ns").value)


def _times_ns(times) -> np.ndarray:
    """Query times as UTC nanoseconds: tz-aware stamps as they are, naive ones as Tokyo time, int64 as ns."""
    if isinstance(times, np.ndarray) and times.dtype == np.int64:
        return times
    index = pd.DatetimeIndex(times) if not isinstance(times, pd.DatetimeIndex) else times
    if index.tz is None:
        index = index.tz_localize(TOKYO)
    return index.as_unit("ns").asi8


@dataclass(frozen=True, eq=False)
class Fundamentals:
    """Disclosures of company figures, and what of them was known at any time (see the module docstring).

    ``Fundamentals(frame, source=..., synthetic=...)``: ``frame`` is a long DataFrame with the
    columns of FIELDS (code and disclosed_at required, others optional), validated on the way in:
    a bad row raises one DataError naming ``source``, the row and the fix. ``rows`` optionally gives
    each frame row's number as the user sees it (a CSV's line numbers) for those messages.

    ``frame`` afterwards holds every column of FIELDS in the documented dtypes, one row per
    disclosure, sorted by code, disclosed_at and period; it is read-only.
    """

    frame: pd.DataFrame
    source: str = "fundamentals"
    synthetic: bool = False
    rows: dataclasses.InitVar[Iterable[int] | None] = None

    def __post_init__(self, rows):
        line_numbers = None if rows is None else np.asarray(list(rows), dtype=np.int64)
        # a validated copy, owned here: the caller's frame can change without changing what was known
        object.__setattr__(self, "frame", _clean(self.frame, self.source, line_numbers))

    def __repr__(self) -> str:
        label = ", synthetic" if self.synthetic else ""
        return f"Fundamentals({len(self.frame)} disclosures, {len(self.codes)} codes, {self.source}{label})"

    def __len__(self) -> int:
        return len(self.frame)

    # ----- what is present --------------------------------------------------------------------
    @cached_property
    def codes(self) -> tuple[str, ...]:
        """The codes with at least one disclosure, sorted."""
        return tuple(sorted(set(self.frame["code"].tolist())))

    @cached_property
    def fields(self) -> tuple[str, ...]:
        """The numeric fields with at least one figure, in FIELDS order."""
        return tuple(f for f in NUMERIC_FIELDS if self.frame[f].notna().any())

    # ----- the point-in-time state ------------------------------------------------------------
    @cached_property
    def _states(self) -> dict:
        """After each (code, disclosure time): which row is the statement and which gives each forecast.

        Arrays, one entry per distinct (code, disclosed_at), sorted by code then time: ``time`` (UTC
        ns), ``statement``, ``forecast`` (the latest row with any forecast) and ``by_field[f]`` for
        each forecast field (row positions in ``frame``, -1 for none yet), and per code the slice
        ``start[code]:stop[code]``.
        """
        f = self.frame
        n = len(f)
        codes = f["code"].to_numpy(dtype=object).astype(str)
        times = f["disclosed_at"].array.as_unit("ns").asi8
        period_key = f["period_end"].to_numpy().view(np.int64).copy()
        nat = f["period_end"].isna().to_numpy()
        # a row without period_end counts as covering the period up to its disclosure date
        period_key[nat] = (f["disclosed_at"].dt.tz_localize(None).dt.normalize()[nat]).to_numpy().view(np.int64)
        is_statement = f[list(RESULT_FIELDS)].notna().any(axis=1).to_numpy()
        has_forecast = f[list(FORECAST_FIELDS)].notna().any(axis=1).to_numpy()
        code_id = np.unique(codes, return_inverse=True)[1] if n else np.zeros(0, dtype=np.int64)
        rank = statement_rank(code_id, period_key, times)
        best_stmt = running_best(np.where(is_statement, rank, -1), code_id, rank)
        # forecasts: the latest disclosure giving each; the frame is sorted by code and time already
        order = np.arange(n)
        best_fc = running_best(np.where(has_forecast, order, -1), code_id, order)
        by_field = {col: running_best(np.where(f[col].notna().to_numpy(), order, -1), code_id, order)
                    for col in FORECAST_FIELDS}
        # one state per (code, time): the last row of each group has seen every row of the group
        last = np.ones(n, dtype=bool)
        if n > 1:
            last[:-1] = (codes[1:] != codes[:-1]) | (times[1:] != times[:-1])
        state_code = codes[last]
        start: dict[str, int] = {}
        stop: dict[str, int] = {}
        for pos, code in enumerate(state_code.tolist()):
            start.setdefault(code, pos)
            stop[code] = pos + 1
        return {"time": times[last], "statement": best_stmt[last], "forecast": best_fc[last],
                "by_field": {col: rows[last] for col, rows in by_field.items()},
                "start": start, "stop": stop}

    def _state_index(self, code: str, times_ns: np.ndarray) -> np.ndarray:
        """Position in the state arrays of the state in force at each time (-1 before any disclosure)."""
        s = self._states
        lo, hi = s["start"].get(code, 0), s["stop"].get(code, 0)
        pos = np.searchsorted(s["time"][lo:hi], times_ns, side="right") - 1
        return np.where(pos >= 0, pos + lo, -1)

    def known_at(self, ts) -> pd.DataFrame:
        """What was known at ``ts`` (tz-aware, or naive meaning Tokyo time), one row per code.

        Index: code (only codes with something disclosed by ``ts``); columns: FIELDS except code,
        plus forecast_disclosed_at. The result columns come from the statement in force (the latest
        period, in its latest version disclosed by ``ts``), each forecast_* column from the latest
        disclosure giving it; forecast_disclosed_at is the latest disclosure giving any forecast.
        """
        t = np.array([_to_utc_ns(ts)], dtype=np.int64)
        states, names = [], []
        for code in self.codes:
            k = int(self._state_index(code, t)[0])
            if k >= 0:
                names.append(code)
                states.append(k)
        return self._assemble(names, np.array(states, dtype=np.int64))

    @cached_property
    def _columns(self) -> dict[str, np.ndarray]:
        """Each column of ``frame`` as a numpy array (disclosed_at as UTC datetime64[ns])."""
        out = {}
        for col in FIELDS:
            if col == "disclosed_at":
                out[col] = self.frame[col].array.as_unit("ns").asi8.view(_NS)
            elif col in TEXT_FIELDS:
                out[col] = self.frame[col].to_numpy(dtype=object)
            else:
                out[col] = self.frame[col].to_numpy()
        return out

    def _assemble(self, names: list[str], states: np.ndarray) -> pd.DataFrame:
        s = self._states
        stmt, fc = s["statement"][states], s["forecast"][states]
        cols = self._columns

        def pick(col: str, rows: np.ndarray):
            values = cols[col]
            blank = "" if col in TEXT_FIELDS else (np.datetime64("NaT") if col in TIME_FIELDS else np.nan)
            out = np.full(len(rows), blank, dtype=values.dtype)
            hit = rows >= 0
            out[hit] = values[rows[hit]]
            if col == "disclosed_at":
                return pd.DatetimeIndex(out).tz_localize("UTC").tz_convert(TOKYO)
            return pd.array(out, dtype="str") if col in TEXT_FIELDS else out

        data = {col: pick(col, s["by_field"][col][states] if col in FORECAST_FIELDS else stmt)
                for col in FIELDS[1:]}
        data["forecast_disclosed_at"] = pick("disclosed_at", fc)
        return pd.DataFrame(data, index=pd.Index(names, name="code", dtype="str"))

    def asof_arrays(self, decision_times, codes: Iterable[str], field: str) -> np.ndarray:
        """One field as known at many times, for many codes: a times × codes array.

        ``decision_times``: tz-aware timestamps (naive ones are Tokyo time) or int64 UTC
        nanoseconds, e.g. ``point_times(sessions)``; any order. ``codes``: TSE codes (unknown codes
        give an all-blank column). Numeric fields give float64 with NaN where nothing is known;
        disclosed_at and period_end give datetime64[ns] (UTC for disclosed_at) with NaT;
        period_type and document_type give objects ("" where nothing is known).
        """
        if field not in FIELDS or field == "code":
            raise DataError(file=self.source, field=f"field {field!r}", problem="not a field of the disclosures",
                            fix=did_you_mean(field, FIELDS[1:]))
        t = _times_ns(decision_times)
        codes = [str(c) for c in codes]
        s = self._states
        rows_of = s["by_field"][field] if field in FORECAST_FIELDS else s["statement"]
        values = self._columns[field]
        blank = np.datetime64("NaT") if field in TIME_FIELDS else ("" if field in TEXT_FIELDS else np.nan)
        dtype = values.dtype if field in TIME_FIELDS else (object if field in TEXT_FIELDS else float)
        out = np.full((len(t), len(codes)), blank, dtype=dtype)
        for j, code in enumerate(codes):
            if code not in s["start"]:
                continue
            k = self._state_index(code, t)
            rows = np.where(k >= 0, rows_of[np.maximum(k, 0)], -1)
            hit = rows >= 0
            out[hit, j] = values[rows[hit]]
        return out

    def annualised_arrays(self, decision_times, codes: Iterable[str], field: str = "profit") -> np.ndarray:
        """A result as known at many times, scaled to a full year: ``asof_arrays`` × 12 / the months its
        period covers (PERIOD_MONTHS of the statement's period_type: a 1Q profit × 4, a FY profit × 1).
        NaN where nothing is known or the period type is not 1Q, 2Q, 3Q or FY. For ROE:
        ``annualised_arrays(t, codes, "profit") / asof_arrays(t, codes, "equity")``.
        """
        flows = ("net_sales", "operating_profit", "ordinary_profit", "profit", "eps")
        if field not in flows:
            raise DataError(file=self.source, field=f"field {field!r}", problem="not a result that accrues over "
                            "the period", fix="Annualise one of " + ", ".join(flows))
        values = self.asof_arrays(decision_times, codes, field)
        kinds = self.asof_arrays(decision_times, codes, "period_type")
        months = np.vectorize(lambda k: PERIOD_MONTHS.get(k, np.nan), otypes=[float])(kinds) if kinds.size \
            else np.zeros(kinds.shape)
        return values * 12.0 / months

    # ----- decision points --------------------------------------------------------------------
    def first_usable_points(self, sessions: pd.DatetimeIndex) -> np.ndarray:
        """For each row of ``frame``, the first decision point of a run over ``sessions`` that may use it.

        int64, aligned with ``frame``: 2i where the disclosure was known at or before session i's
        open (pre-open point; 0 is the opening), 2i+1 where known during session i (its close), 2n
        after the last close, negative before the grid. The event clock's own function computes it.
        """
        from backtest.events.calendar import checked_sessions, decision_points_at

        sessions = checked_sessions(sessions)
        return decision_points_at(self.frame["disclosed_at"].array.as_unit("ns").asi8, sessions)

    def pre_open_sessions(self, sessions: pd.DatetimeIndex) -> np.ndarray:
        """Positions i (1..n-1) of sessions before whose open some disclosure became known: where a run must
        hold a pre-open decision point (2i) to act on it at that open, as EventClock.pre_open_news does for
        events. Sorted, unique, int64."""
        points = self.first_usable_points(sessions)
        n = len(sessions)
        points = points[(points >= 2) & (points < 2 * n) & (points % 2 == 0)]
        return np.unique(points // 2)

    def asof_points(self, sessions: pd.DatetimeIndex, codes: Iterable[str], field: str) -> np.ndarray:
        """``asof_arrays`` at every decision point of a run over ``sessions``: a (2n) × codes array, row p
        being decision point p (the opening and pre-open points 2i, the closes 2i+1)."""
        return self.asof_arrays(point_times(sessions), codes, field)

    # ----- conversions ------------------------------------------------------------------------
    def select(self, codes: Iterable[str]) -> "Fundamentals":
        """The disclosures of the given codes only."""
        wanted = {str(c) for c in codes}
        return Fundamentals(self.frame[self.frame["code"].isin(wanted)], source=self.source,
                            synthetic=self.synthetic)


def statement_rank(group: np.ndarray, period_key: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Each row's rank as the statement in force, the higher the better: by group (a code), then period,
    then disclosure time, then row order. So among the rows known, the latest period wins, and of that
    period the latest disclosure: a restatement replaces the figures from its own time, and a late
    restatement of an older period never hides a newer one. The one rule of known_at, asof_arrays and
    the screens' facts (backtest.execution.facts)."""
    n = len(group)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((np.arange(n), times, period_key, group))] = np.arange(n)
    return rank


def running_best(candidate: np.ndarray, group: np.ndarray, ranking: np.ndarray) -> np.ndarray:
    """Per row, in the order the rows become known, the row index of the highest-ranked candidate so far in its group.

    ``candidate`` holds each row's rank (non-negative) or -1; ranks must sort groups in order (every
    rank of group g above every rank of an earlier group), so a running maximum never crosses into
    a later group, and a maximum carried over from an earlier group is reset to -1.
    """
    n = len(candidate)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    best = np.maximum.accumulate(candidate)
    row_of_rank = np.empty(n, dtype=np.int64)
    row_of_rank[ranking] = np.arange(n)
    out = np.where(best >= 0, row_of_rank[np.maximum(best, 0)], -1)
    stale = (out >= 0) & (group[np.maximum(out, 0)] != group)
    out[stale] = -1
    return out


def point_times(sessions: pd.DatetimeIndex) -> np.ndarray:
    """The time of each decision point of a run over ``sessions``, as UTC nanoseconds (int64, length 2n).

    Point 2i is session i's open (news known at or before it trades at that open; point 0 is the
    opening), point 2i+1 its close: a disclosure is usable at point p when ``disclosed_at`` is at or
    before ``point_times(sessions)[p]``, which is what ``first_usable_points`` computes.
    """
    from backtest.events.calendar import checked_sessions, session_times_ns

    sessions = checked_sessions(sessions)
    opens, closes = session_times_ns(sessions)
    out = np.empty(2 * len(sessions), dtype=np.int64)
    out[0::2], out[1::2] = opens, closes
    return out


# --------------------------------------------------------------------------- loading


def load_fundamentals(data, codes: Iterable[str] | None = None) -> Fundamentals | None:
    """The fundamentals of a data source: the synthetic demo's for "demo", the store's for "store"
    (or "store:PATH", or a store DataSource) when fetched or imported, None when the source has none
    (a CSV price folder, an empty store).

    ``data``: a backtest.data.DataSource, a RunSpec (its ``data``), or the --data text ("demo",
    "store", "store:PATH", "csv:PATH"). ``codes`` limits the codes loaded (None: all).
    """
    from backtest.data import DataSource, parse_data_option

    if isinstance(getattr(data, "data", None), DataSource):
        data = data.data
    source = data if isinstance(data, DataSource) else parse_data_option(str(data))
    if source.kind == "demo":
        from backtest.data.demo import demo_fundamentals

        found: Fundamentals | None = Fundamentals(demo_fundamentals(), source=DEMO_SOURCE, synthetic=True)
    elif source.kind == "store":
        found = _store_fundamentals(source.path)
    else:
        found = None
    return found if found is None or codes is None else found.select(codes)


DEMO_SOURCE = "demo fundamentals (synthetic)"


def _store_fundamentals(root) -> Fundamentals | None:
    """The store's fundamentals (see read_store_fundamentals), or None when it holds none."""
    return read_store_fundamentals(root)


# --------------------------------------------------------------------------- the store

# Beside a source's prices: <store>/<source>/fundamentals/<CODE>.parquet (the code's disclosures, columns
# FIELDS) and <CODE>.json (the span of disclosure dates fetched, rows, first and last disclosure).
STORE_FOLDER = "fundamentals"
# Which source's disclosures a code uses when several hold it: the official feed, then the user's file.
STORE_PREFERENCE = ("jquants", "csv")


def _paths(store, source: str, code: str) -> tuple[Path, Path]:
    from backtest.data.store import _safe

    folder = store.root / source / STORE_FOLDER
    return folder / f"{_safe(code)}.parquet", folder / f"{_safe(code)}.json"


def _stored_meta(store, source: str, code: str) -> dict | None:
    from backtest.data.store import _locked, _read_meta

    frame_path, meta_path = _paths(store, source, code)
    if not (frame_path.is_file() and meta_path.is_file()):
        return None
    with _locked(meta_path.parent, shared=True):
        return _read_meta(meta_path)


def _read_stored(store, source: str, code: str) -> pd.DataFrame:
    from backtest.data.store import STORE_FIX, _locked, _need_pyarrow
    from backtest.safeio import FileProblem, read_head

    frame_path, _ = _paths(store, source, code)
    _need_pyarrow(frame_path)
    with _locked(frame_path.parent, shared=True):
        try:
            read_head(frame_path, 1)
            frame = pd.read_parquet(frame_path)
        except FileProblem as exc:
            raise DataError(file=str(frame_path), field="fundamentals file", problem=exc.problem, fix=STORE_FIX) \
                from None
        except Exception as exc:  # pyarrow raises several types for a damaged file; all mean the same
            raise DataError(file=str(frame_path), field="fundamentals file",
                            problem=f"cannot be read ({type(exc).__name__})", fix=STORE_FIX) from None
    if not isinstance(frame, pd.DataFrame) or (len(frame) and set(frame["code"]) != {code}):
        raise DataError(file=str(frame_path), field="fundamentals file", problem=f"does not hold only code {code}",
                        fix=STORE_FIX)
    return frame


def store_fundamentals(store, source: str, code: str, frame: pd.DataFrame, coverage: tuple, symbol: str,
                       notes: Iterable[str] = ()) -> Fundamentals:
    """Validate one code's disclosures and write them (parquet + record) under the store's lock, atomically."""
    import json

    from backtest import __version__
    from backtest.data.store import ENV_ROOT, _locked, _need_pyarrow
    from backtest.safeio import write_atomic_files

    frame_path, meta_path = _paths(store, source, code)
    checked = Fundamentals(frame, source=f"{source} {symbol}")
    if set(checked.codes) - {code}:
        raise DataError(file=f"{source} {symbol}", field="code", problem=f"rows of other codes "
                        f"({', '.join(sorted(set(checked.codes) - {code}))}) among {code}'s disclosures",
                        fix="Fetch or import each code's disclosures under its own code")
    table = checked.frame
    record = {
        "ticker": code, "source": source, "symbol": symbol, "kind": "fundamentals",
        "coverage": {"start": _day(coverage[0]), "end": _day(coverage[1])},
        "rows": int(len(table)),
        "first": str(table["disclosed_at"].iloc[0].date()) if len(table) else None,
        "last": str(table["disclosed_at"].iloc[-1].date()) if len(table) else None,
        "notes": list(notes),
        "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "themebt_version": __version__,
    }
    _need_pyarrow(frame_path)
    try:
        frame_path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(frame_path.parent, shared=False):
            # the disclosures and their record replace the old pair together, or neither does
            write_atomic_files({
                frame_path: lambda p: table.to_parquet(p, engine="pyarrow", index=False),
                meta_path: lambda p: _write_text(p, json.dumps(record, indent=2, ensure_ascii=False) + "\n"),
            })
    except OSError as exc:
        raise DataError(file=str(frame_path.parent), field="store", problem=f"cannot be written ({exc.strerror})",
                        fix=f"Free disk space, or point --store or {ENV_ROOT} at a writable folder.") from None
    return checked


def _write_text(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


def _update_fundamentals(store, fetcher, code: str, symbol: str, start, end):
    """One code's disclosures brought up to [start, end]: nothing is asked for when the span is stored already.

    A code's disclosures come whole in one paged request, so a wider span refetches the code and adds the
    disclosures not stored yet (a restatement is a new disclosure, so it is added, never overwritten).
    """
    from backtest.data.store import FetchRow

    source = fetcher.name
    meta = _stored_meta(store, source, code)
    old = _read_stored(store, source, code) if meta is not None else None
    if meta is not None:
        lo, hi = pd.Timestamp(meta["coverage"]["start"]), pd.Timestamp(meta["coverage"]["end"])
        if lo <= start and end <= hi:
            return FetchRow(code, symbol, "up to date", 0, meta.get("first") or "", meta.get("last") or "")
        start, end = min(start, lo), max(end, hi)
    new = fetcher.fetch_fundamentals(code, start, end)
    if len(new) == 0 and old is None:
        return FetchRow(code, symbol, "no data", note=f"{source} returned no disclosures for {symbol} from "
                        f"{_day(start)} to {_day(end)}: the code may not be a company's (an ETF or index has none), "
                        "or your plan may not cover the period")
    fresh = Fundamentals(new, source=f"{source} {symbol}").frame if len(new) else None
    parts = [p for p in (old, fresh) if p is not None and len(p)]
    merged = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    key = ["code", "disclosed_at", "period_end", "period_type"]
    merged = merged.drop_duplicates(key, keep="last")
    added = len(merged) - (len(old) if old is not None else 0)
    checked = store_fundamentals(store, source, code, merged, (start, end), symbol)
    days = checked.frame["disclosed_at"]
    status = "fetched" if old is None else ("extended" if added else "up to date")
    return FetchRow(code, symbol, status, int(added), str(days.iloc[0].date()), str(days.iloc[-1].date()))


def fetch_fundamentals(store, fetcher, codes: Iterable[str], start, end, on_ticker=None):
    """Fetch each code's disclosures into the store with the store's own resumable, paced loop (Store.fetch):
    a failure is recorded and the next code tried; a refusal that would repeat (credentials, rate limit) stops."""
    return store.fetch(fetcher, codes, start, end, on_ticker=on_ticker,
                       update=lambda f, code, symbol, a, b: _update_fundamentals(store, f, code, symbol, a, b))


def import_fundamentals(store, path: str | Path) -> list:
    """Store a user CSV of disclosures (see read_fundamentals_csv) as source 'csv', one file per code,
    replacing what was imported for those codes before. Returns one FetchRow per code."""
    from backtest.data.store import FetchRow

    found = read_fundamentals_csv(path)
    rows = []
    for code, table in found.frame.groupby("code", sort=True):
        days = table["disclosed_at"]
        store_fundamentals(store, "csv", str(code), table, (days.iloc[0].normalize(), days.iloc[-1].normalize()),
                           str(path))
        rows.append(FetchRow(str(code), str(path), "imported", len(table), str(days.iloc[0].date()),
                             str(days.iloc[-1].date())))
    return rows


def read_store_fundamentals(root=None, codes: Iterable[str] | None = None) -> Fundamentals | None:
    """Every code's disclosures in the store (``root``: None means $THEMEBT_STORE or ~/.themebt/store), or
    None when it holds none. A code held by several sources is read from the first in STORE_PREFERENCE."""
    from backtest.data.store import Store

    store = Store(root)
    if not store.root.is_dir():
        return None
    wanted = None if codes is None else {str(c) for c in codes}
    sources = sorted((p.name for p in store.root.iterdir() if (p / STORE_FOLDER).is_dir()),
                     key=lambda s: (STORE_PREFERENCE.index(s) if s in STORE_PREFERENCE else len(STORE_PREFERENCE), s))
    chosen: dict[str, str] = {}
    for source in sources:
        for meta in sorted((store.root / source / STORE_FOLDER).glob("*.json")):
            code = meta.stem
            if (wanted is None or code in wanted) and code not in chosen and _stored_meta(store, source, code):
                chosen[code] = source
    if not chosen:
        return None
    frames = [_read_stored(store, source, code) for code, source in sorted(chosen.items())]
    return Fundamentals(pd.concat(frames, ignore_index=True), source=f"store:{store.root}")


def read_fundamentals_csv(path: str | Path) -> Fundamentals:
    """A user CSV of disclosures (columns: FIELDS; code and disclosed_at required), validated.

    Errors name the file, the line and the fix. Rows may come in any order.
    """
    from backtest.safeio import csv_rows, read_user_text

    name = str(path)

    def unreadable(problem: str) -> DataError:
        return DataError(file=name, field="(file)", problem=problem,
                         fix="Give a UTF-8 CSV file with a header line naming the columns")

    text = read_user_text(Path(path), 200 * 1024 * 1024, unreadable, encoding="utf-8-sig")
    header: list[str] | None = None
    records: list[list[str]] = []
    lines: list[int] = []
    for line, row in csv_rows(text):
        if header is None:
            header = [c.strip() for c in row]
            for col in header:
                if col not in FIELDS:
                    raise DataError(file=name, field=col or "(empty column name)", problem="unknown column",
                                    fix=did_you_mean(col, FIELDS) + " The columns are: " + ",".join(FIELDS))
            dupes = sorted({c for c in header if header.count(c) > 1})
            if dupes:
                raise DataError(file=name, field=dupes[0], problem="column appears twice", fix="Keep one of them")
            continue
        if len(row) != len(header):
            raise DataError(file=name, field=f"row {line}", problem=f"{len(row)} fields but the header has "
                            f"{len(header)}", fix="Quote fields that contain commas, and give every row the "
                            "header's columns")
        records.append([c.strip() for c in row])
        lines.append(line)
    if header is None:
        raise DataError(file=name, field="header", problem="the file is empty",
                        fix="Start it with a header line such as code,disclosed_at,period_end,period_type,profit,equity")
    frame = pd.DataFrame(records, columns=header, dtype=object)
    return Fundamentals(frame, source=name, synthetic=False, rows=lines)
