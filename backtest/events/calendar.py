"""A point-in-time calendar of dated events, and what of it is known at a session's close.

Events live in CSV files, one per family, in ``backtest/events/data/`` (shipped) and optionally in a
user folder. Every row carries ``known_at``, the time (with offset) at which a Tokyo investor could
first know the event. A strategy may act on an event at the close of its *decision session* — the
first session whose close (15:00 Tokyo, 15:30 from 2024-11-05; ``backtest.market.calendar.close_time``)
is at or after ``known_at`` — and its trades fill at the next session's open.

Conventions used for the shipped ``known_at`` stamps (see also ``backtest/events/data/README.md``):

- ``boj``: announced during the Tokyo day → ``event_date`` 15:00 JST (known by the close); the
  2001-02-28 meeting ran until 15:48 → 15:48; the 2001-03-19 meeting lasted about 8.5 hours → 18:00.
- ``shunto``: Rengo publishes its tallies in the late afternoon → 17:00 JST (next session acts).
- ``wages``: MHLW releases the Monthly Labour Survey at 08:30 JST → 08:30 (same session acts).
- ``us_policy``: ``event_date`` is a US Eastern date; the news reaches Tokyo the next Tokyo calendar
  day → ``event_date + 1 day`` 09:00 JST, unless the facts give a time (2025-07-22, 7:12pm EDT →
  2025-07-23 08:12 JST).
- ``governance``: published during the day → 17:00 JST (conservatively, the next session acts).
- ``election``: Sunday polling days, results at night → 23:00 JST (next session acts).

Events known before a session grid starts keep their real decision session, taken from the
exchange calendar, so they are never news on the grid's first bar. (Events known before the
exchange calendar's first session, 1998-01-05, are dated to that session.)

Each family may declare how often it publishes (``frequency.yaml``, see ``backtest.events.frequency``).
A calendar whose ``on_gaps`` is set (a run sets it) checks, the first time a clock is asked about a
family, that none of the family's expected releases is missing over the clock's session grid: with
"refuse" a missing release is an EventGapError, with "allow" the family's gaps are recorded in
``gaps_allowed`` for the run's summary and manifest.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.market import calendar
from backtest.errors import EventError, did_you_mean
from backtest.events.frequency import FREQUENCY_FILE, FamilyGaps, Frequency, family_gaps, gap_error, read_frequency_file

PACKAGE_FOLDER = Path(__file__).parent / "data"
TOKYO = calendar.TOKYO

COLUMNS = (
    "family",
    "kind",
    "event_date",
    "known_at",
    "value",
    "value2",
    "reference",
    "description",
    "source",
    "verified",
)
REQUIRED = ("family", "kind", "event_date", "known_at")
KNOWN_FAMILIES = ("boj", "shunto", "wages", "us_policy", "governance", "election")
FAMILY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
EARLIEST = dt.date(1990, 1, 1)
LATEST = dt.date(2100, 12, 31)
# Where a query error points when it is not about a file.
QUERY = "event calendar"

_NS = "datetime64[ns]"
_NS_TOKYO = f"datetime64[ns, {TOKYO}]"


# --------------------------------------------------------------------------- reading files


def load_events(user_folder: Path | str | None = None) -> EventCalendar:
    """The shipped events plus every ``*.csv`` in ``user_folder`` (if given), validated.

    Frequencies come from the shipped ``frequency.yaml`` and, family by family replacing them, from a
    ``frequency.yaml`` in ``user_folder``.
    """
    paths = _csv_files(PACKAGE_FOLDER, user=False)
    frequencies = read_frequency_file(PACKAGE_FOLDER / FREQUENCY_FILE)
    if user_folder is not None:
        paths += _csv_files(Path(user_folder), user=True)
        own = Path(user_folder) / FREQUENCY_FILE
        if own.exists():
            frequencies.update(read_frequency_file(own))
    return read_event_files(paths, frequencies)


def read_event_files(paths: Iterable[Path | str], frequencies: dict[str, Frequency] | None = None) -> EventCalendar:
    """Read and validate the given event CSV files into one calendar (with the families' frequencies, if given)."""
    records: list[dict] = []
    seen: dict[tuple, tuple[str, int]] = {}
    for path in paths:
        for line, rec in _read_file(Path(path)):
            key = (rec["family"], rec["kind"], rec["_known_utc"])
            if key in seen:
                first_file, first_line = seen[key]
                raise EventError(
                    file=first_file if first_file == rec["file"] else f"{first_file} and {rec['file']}",
                    field=f"row {first_line} and row {line}",
                    problem=(
                        f"the same event ({rec['family']}, {rec['kind']}, known_at "
                        f"{rec['known_at'].isoformat()}) is listed twice"
                    ),
                    fix="Keep one of the two rows (if they are different events, give them different kinds)",
                )
            seen[key] = (rec["file"], line)
            records.append(rec)
    return EventCalendar(pd.DataFrame.from_records(records) if records else None, frequencies)


def _csv_files(folder: Path, user: bool) -> list[Path]:
    if not folder.is_dir():
        raise EventError(
            file=str(folder),
            field="folder",
            problem="event folder not found" if not folder.exists() else "not a folder",
            fix=(
                "Pass the folder that holds your event CSV files"
                if user
                else "Reinstall themebt; its backtest/events/data folder is missing"
            ),
        )
    paths = sorted(folder.glob("*.csv"))
    if user and not paths:
        raise EventError(
            file=str(folder),
            field="folder",
            problem="no *.csv files in the event folder",
            fix="Put event CSV files (columns family,kind,event_date,known_at,...) in it, or do not pass it",
        )
    return paths


def _read_file(path: Path):
    """Yield (line number, record) for each data row of one event CSV, validating as it goes."""
    from backtest.safeio import SMALL_FILE_BYTES, csv_rows, read_user_text

    name = str(path)

    def unreadable(problem: str) -> EventError:
        fix = "Save the file as UTF-8 CSV" if "UTF-8" in problem else "Give regular CSV files in the event folder"
        return EventError(file=name, field="encoding" if "UTF-8" in problem else "(file)", problem=problem, fix=fix)

    text = read_user_text(path, SMALL_FILE_BYTES, unreadable, encoding="utf-8-sig")
    header: list[str] | None = None
    for line, row in csv_rows(text):
        if header is None:
            header = _check_header(name, [c.strip() for c in row])
            continue
        if len(row) != len(header):
            raise EventError(
                file=name,
                field=f"row {line}",
                problem=f"{len(row)} fields but the header has {len(header)}",
                fix="Quote fields that contain commas, and give every row the header's columns",
            )
        cells = dict(zip(header, (c.strip() for c in row)))
        yield line, _parse_row(name, line, cells)
    if header is None:
        raise EventError(
            file=name,
            field="header",
            problem="the file is empty",
            fix="Start it with the header line " + ",".join(COLUMNS),
        )


def _check_header(name: str, header: list[str]) -> list[str]:
    for col in header:
        if col not in COLUMNS:
            raise EventError(
                file=name,
                field=col or "(empty column name)",
                problem="unknown column",
                fix=did_you_mean(col, COLUMNS),
            )
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise EventError(file=name, field=dupes[0], problem="column appears twice", fix="Keep one of them")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise EventError(
            file=name,
            field=", ".join(missing),
            problem="required column missing" if len(missing) == 1 else "required columns missing",
            fix="Add the columns family,kind,event_date,known_at to the header line",
        )
    return header


def _parse_row(name: str, line: int, cells: dict[str, str]) -> dict:
    def fail(column: str, problem: str, fix: str):
        raise EventError(file=name, field=f"row {line}, {column}", problem=problem, fix=fix)

    family = cells["family"]
    if family not in KNOWN_FAMILIES and not FAMILY_PATTERN.match(family):
        fail(
            "family",
            f"'{family}' is not a known family nor a valid new family name",
            did_you_mean(family.lower(), KNOWN_FAMILIES)
            + " A new family name is lowercase letters, digits and _ (2 to 31 characters, starting with a letter)",
        )
    kind = cells["kind"]
    if not KIND_PATTERN.match(kind):
        fail("kind", f"'{kind}' is not a valid kind", "Use lowercase letters, digits and _, starting with a letter")

    raw = cells["event_date"]
    try:
        event_date = dt.date.fromisoformat(raw)
    except ValueError:
        fail("event_date", f"'{raw}' is not a date", "Write it as YYYY-MM-DD, e.g. 2024-03-19")
    if not EARLIEST <= event_date <= LATEST:
        fail("event_date", f"{raw} is outside {EARLIEST}..{LATEST}", "Check the year")

    raw = cells["known_at"]
    try:
        known = dt.datetime.fromisoformat(raw)
    except ValueError:
        fail(
            "known_at",
            f"'{raw}' is not a date-time",
            "Write it as an ISO date-time with offset, e.g. 2024-03-19T15:00:00+09:00",
        )
    if known.tzinfo is None or known.utcoffset() is None:
        fail(
            "known_at",
            f"'{raw}' has no timezone offset",
            "Add the offset, e.g. 2024-03-19T15:00:00+09:00 for Tokyo time",
        )
    # Check the range on the date as written first: converting year 9999 to Tokyo time would overflow.
    if not EARLIEST <= known.date() <= LATEST:
        fail("known_at", f"{raw} is outside {EARLIEST}..{LATEST}", "Check the year")
    known_at = pd.Timestamp(known).tz_convert(TOKYO).as_unit("ns")
    if known_at.date() < event_date - dt.timedelta(days=1):
        fail(
            "known_at",
            f"{raw} is more than a day before event_date {event_date}",
            "known_at is when the event could first be known, so it cannot precede the event; "
            "check for swapped columns or a typo in the year",
        )

    values = {}
    for column in ("value", "value2"):
        raw = cells.get(column, "")
        try:
            number = float(raw) if raw else math.nan
        except ValueError:
            fail(column, f"'{raw}' is not a number", "Write a plain number such as 0.25, or leave it empty")
        if raw and not math.isfinite(number):
            fail(column, f"'{raw}' is not a finite number", "Leave the cell empty when there is no value")
        values[column] = number

    raw = cells.get("verified", "").lower()
    if raw not in ("", "yes", "no"):
        fail("verified", f"'{cells['verified']}' is not yes or no", "Write yes if checked against the source, else no")

    return {
        "family": family,
        "kind": kind,
        "event_date": pd.Timestamp(event_date),
        "known_at": known_at,
        "value": values["value"],
        "value2": values["value2"],
        "reference": cells.get("reference", ""),
        "description": cells.get("description", ""),
        "source": cells.get("source", ""),
        "verified": raw == "yes",
        "file": name,
        "_known_utc": known_at.value,
    }


# --------------------------------------------------------------------------- session arithmetic


@lru_cache(maxsize=1)
def exchange_times() -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    """Every Tokyo session the exchange calendar knows, with its open and close in UTC nanoseconds."""
    real = calendar.sessions("1990-01-01", calendar.last_known_session())
    opens = np.array([calendar.open_time(s).value for s in real], dtype=np.int64)
    closes = np.array([calendar.close_time(s).value for s in real], dtype=np.int64)
    return real, opens, closes


def session_times_ns(sessions: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """Open and close times (UTC ns) of the given sessions; cached for real sessions, computed for others."""
    real, real_opens, real_closes = exchange_times()
    idx = real.get_indexer(sessions)
    opens = np.empty(len(sessions), dtype=np.int64)
    closes = np.empty(len(sessions), dtype=np.int64)
    hit = idx >= 0
    opens[hit], closes[hit] = real_opens[idx[hit]], real_closes[idx[hit]]
    for j in np.flatnonzero(~hit):
        opens[j] = calendar.open_time(sessions[j]).value
        closes[j] = calendar.close_time(sessions[j]).value
    return opens, closes


def checked_sessions(sessions) -> pd.DatetimeIndex:
    """sessions as tz-naive, strictly increasing session dates at ns resolution (ValueError otherwise)."""
    if not isinstance(sessions, pd.DatetimeIndex):
        sessions = pd.DatetimeIndex(sessions)
    if sessions.tz is not None:
        raise ValueError("sessions must be tz-naive session dates (as backtest.market.calendar.sessions gives)")
    if len(sessions) > 1 and not (sessions[1:] > sessions[:-1]).all():
        raise ValueError("sessions must be strictly increasing")
    return sessions.as_unit("ns")


def decision_points_at(known_ns: np.ndarray, sessions: pd.DatetimeIndex, news_at_open: bool = True) -> np.ndarray:
    """The decision point of each event known at ``known_ns`` (UTC ns), over a session grid.

    Decision points alternate: 2i is before the open of session i (news known at or before that
    open, e.g. overnight or after the previous close), 2i+1 is the close of session i (news known
    during the session, up to its close). Returns int64 points; 2n for an event after the last
    close; negative points for events decided before the grid starts, counted in real Tokyo
    sessions from the exchange calendar. news_at_open=False: news known before an open waits for
    that session's close (a pre-open point 2i becomes 2i+1), the older and slower rule.
    """
    points = _points_at(known_ns, sessions)
    return points if news_at_open else points | 1


def _points_at(known_ns: np.ndarray, sessions: pd.DatetimeIndex) -> np.ndarray:
    """decision_points_at with news trading at the open."""
    n = len(sessions)
    opens, closes = session_times_ns(sessions)
    pos = np.searchsorted(closes, known_ns, side="left").astype(np.int64)
    inside = pos < n
    pre = np.zeros(len(known_ns), dtype=bool)
    pre[inside] = known_ns[inside] <= opens[pos[inside]]
    points = np.where(inside, 2 * pos + np.where(pre, 0, 1), 2 * n).astype(np.int64)
    if n == 0:
        return points
    real, real_opens, real_closes = exchange_times()
    k = int(real.searchsorted(sessions[0], side="left"))
    if k == 0:
        return points
    # An event known by the close of the real session before the grid was decided before the grid.
    before = (pos == 0) & (known_ns <= real_closes[k - 1])
    p = np.searchsorted(real_closes[:k], known_ns[before], side="left")
    real_pre = known_ns[before] <= real_opens[p]
    points[before] = 2 * (p - k) + np.where(real_pre, 0, 1)
    return points


def _point_sessions(points: np.ndarray, sessions: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray]:
    """(decision session, first trading session) of decision points: the session whose close the
    decision sees, and the session at whose open its orders fill. datetime64[ns], NaT where unknown."""
    n = len(sessions)
    real = exchange_times()[0]
    k = int(real.searchsorted(sessions[0], side="left")) if n else 0

    def session_at(pos: np.ndarray) -> np.ndarray:
        out = np.full(len(pos), np.datetime64("NaT"), dtype=_NS)
        inside = (pos >= 0) & (pos < n)
        out[inside] = sessions.values[pos[inside]]
        earlier = (pos < 0) & (k + pos >= 0)
        out[earlier] = real.values[k + pos[earlier]]
        return out

    decided = np.where(points < 2 * n, (points - 1) // 2, n)  # after the last close: neither is on the grid
    return session_at(decided), session_at(decided + 1)


# --------------------------------------------------------------------------- the calendar


def _as_names(names) -> tuple[str, ...] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return (names,)
    return tuple(sorted({str(n) for n in names}))


class EventCalendar:
    """Dated events with point-in-time stamps.

    ``frame`` has one row per event, sorted by known_at, with columns family, kind (str),
    event_date (tz-naive datetime64), known_at (datetime64 Asia/Tokyo), value, value2 (float, NaN
    if empty), reference, description, source (str), verified (bool) and file (where the row came
    from).
    """

    def __init__(self, frame: pd.DataFrame | None = None, frequencies: dict[str, Frequency] | None = None):
        self.frame = _normalise(frame)
        self.frequencies: dict[str, Frequency] = dict(frequencies or {})
        # None: clocks do not check for gaps; "refuse": a read of a gappy family is an EventGapError;
        # "allow": it is recorded in gaps_allowed (family -> FamilyGaps of the last clock that read it)
        self.on_gaps: str | None = None
        self.gaps_allowed: dict[str, FamilyGaps] = {}

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"EventCalendar({len(self)} events, families {self.families()})"

    def families(self) -> list[str]:
        return sorted(self.frame["family"].unique())

    def kinds(self, family: str | Iterable[str] | None = None) -> list[str]:
        """The kinds present, for one family, several, or all."""
        return sorted(self.frame.loc[self._mask(family, None), "kind"].unique())

    def select(self, family: str | Iterable[str] | None = None, kinds: str | Iterable[str] | None = None) -> EventCalendar:
        """The events of the given family (or families) and kinds; None means all."""
        out = EventCalendar(self.frame[self._mask(family, kinds)], self.frequencies)
        out.on_gaps = self.on_gaps
        return out

    def frequency(self, family: str) -> Frequency:
        """The family's declared frequency; irregular when it declares none."""
        return self.frequencies.get(family) or Frequency(family=family, frequency="irregular")

    def gaps(self, family: str, start: dt.date | None = None, end: dt.date | None = None) -> FamilyGaps:
        """The family's expected and missing releases over [start, end] (see backtest.events.frequency).

        start None: from the family's first expected release; end None: to its last row.
        """
        freq = self.frequency(family)
        rows = self.frame[self.frame["family"] == family]
        files = tuple(sorted(set(rows["file"])))
        if freq.kind is not None:
            rows = rows[rows["kind"] == freq.kind]
        dates = [d.date() for d in rows["event_date"]]
        return family_gaps(freq, dates, files, start, end)

    def completeness(self, start: dt.date | None = None, end: dt.date | None = None) -> list[FamilyGaps]:
        """The gaps of every family present or declared, sorted by family; end None: the newest event's date."""
        if end is None and len(self.frame):
            end = self.frame["event_date"].max().date()
        names = sorted(set(self.families()) | set(self.frequencies))
        return [self.gaps(name, start, end) for name in names]

    def decision_sessions(self, sessions: pd.DatetimeIndex) -> pd.Series:
        """For each event, the last session whose close a strategy acting on it has seen.

        Returns a datetime64 Series aligned with ``frame`` (same index), named decision_session:
        for news known during a session (up to its close) that session; for news known before a
        session's open (overnight, after the previous close) the session before it. NaT if after
        the last session's close; for events known before the grid starts, real Tokyo sessions
        from the exchange calendar.
        """
        sessions = checked_sessions(sessions)
        decided, _ = _point_sessions(decision_points_at(self._known_ns(), sessions), sessions)
        return pd.Series(decided, index=self.frame.index, name="decision_session")

    def decision_points(self, sessions: pd.DatetimeIndex) -> np.ndarray:
        """For each event (in ``frame`` order), the decision point that first acts on it: the point whose
        orders fill at the open of first_trade_sessions (see decision_points_at)."""
        return decision_points_at(self._known_ns(), checked_sessions(sessions))

    def first_trade_sessions(self, sessions: pd.DatetimeIndex) -> pd.Series:
        """For each event, the session at whose open a strategy's orders on it first fill.

        News known at or before a session's open trades at that open; news known during a
        session trades at the next session's open. NaT where the grid ends first.
        """
        sessions = checked_sessions(sessions)
        _, first = _point_sessions(decision_points_at(self._known_ns(), sessions), sessions)
        return pd.Series(first, index=self.frame.index, name="first_trade_session")

    def as_of(self, sessions: pd.DatetimeIndex, news_at_open: bool = True) -> EventClock:
        """A clock answering what is known at each decision point of ``sessions`` (see EventClock).

        news_at_open=False moves news known before an open to that session's close, the older and
        slower rule, kept to measure what trading at the open changes.
        """
        return EventClock(self, sessions, news_at_open)

    def _known_ns(self) -> np.ndarray:
        return self.frame["known_at"].array.as_unit("ns").asi8

    def _mask(self, family, kinds) -> np.ndarray:
        families, kinds = _as_names(family), _as_names(kinds)
        mask = np.ones(len(self.frame), dtype=bool)
        present = set(self.frame["family"])
        if families is not None:
            for name in families:
                if name not in present and name not in KNOWN_FAMILIES and name not in self.frequencies:
                    raise EventError(
                        file=QUERY,
                        field="family",
                        problem=f"unknown event family '{name}'",
                        fix=did_you_mean(name, present | set(KNOWN_FAMILIES)),
                    )
            mask &= self.frame["family"].isin(families).to_numpy()
        if kinds is not None:
            available = set(self.frame.loc[mask, "kind"])
            for name in kinds:
                # A kind absent from a family with no rows at all is not a typo we can detect.
                if available and name not in available:
                    raise EventError(
                        file=QUERY,
                        field="kinds",
                        problem=f"no events of kind '{name}'" + (f" in family {', '.join(families)}" if families else ""),
                        fix=did_you_mean(name, available),
                    )
            mask &= self.frame["kind"].isin(kinds).to_numpy()
        return mask


def _normalise(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The calendar frame with every column present, the documented dtypes, sorted by known_at."""
    frame = pd.DataFrame(columns=[*COLUMNS, "file"]) if frame is None else frame.copy()
    for col in (*COLUMNS, "file"):
        if col not in frame.columns:
            frame[col] = "no" if col == "verified" else ""
    frame = frame[[*COLUMNS, "file"]]
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for col in ("family", "kind", "reference", "description", "source", "file"):
        out[col] = pd.array(frame[col].fillna("").astype(str).to_numpy(), dtype="str")
    out["event_date"] = pd.to_datetime(frame["event_date"]).astype(_NS).to_numpy()
    # Element-wise so that mixed offsets are fine and a naive stamp is refused, not taken as UTC.
    stamps = [pd.Timestamp(x) for x in frame["known_at"]]
    if any(t is pd.NaT or t.tzinfo is None for t in stamps):
        raise ValueError("known_at must be timestamps with a timezone")
    out["known_at"] = pd.DatetimeIndex([t.tz_convert(TOKYO) for t in stamps], dtype=_NS_TOKYO)
    for col in ("value", "value2"):
        out[col] = pd.to_numeric(frame[col].replace("", np.nan), errors="raise").astype(float).to_numpy()
    verified = frame["verified"]
    if verified.dtype != bool:
        verified = verified.fillna("no").astype(str).str.strip().str.lower().isin(["yes", "true"])
    out["verified"] = verified.astype(bool).to_numpy()
    out = out[[*COLUMNS, "file"]]
    return out.sort_values(["known_at", "family", "kind"], kind="mergesort").reset_index(drop=True)


# --------------------------------------------------------------------------- the clock


class EventClock:
    """What of an event calendar is known at each decision point of one session grid.

    A run has two decision points per session i: before its open (point 2i: news known at or before
    the open, prices up to the close of session i-1) and at its close (point 2i+1). Methods take the
    bar position ``i`` and answer at its close; ``point=`` asks at any decision point instead (a
    MarketView passes its own). An event is known at a point at or after its own; it *fires* there.
    Sessions since an event count from the last close its decision saw, so a holding window of N
    sessions holds for N sessions whichever point the news arrived at.
    """

    def __init__(self, events: EventCalendar, sessions: pd.DatetimeIndex, news_at_open: bool = True):
        self.sessions = checked_sessions(sessions)
        self._n = len(self.sessions)
        points = decision_points_at(events._known_ns(), self.sessions, news_at_open)
        decided, first = _point_sessions(points, self.sessions) if self._n else (
            np.full(len(points), np.datetime64("NaT"), dtype=_NS),) * 2
        frame = events.frame.copy()
        frame["decision_session"] = decided
        frame["first_trade_session"] = first
        # Points are non-decreasing in known_at already; the stable sort only guards that.
        order = np.argsort(points, kind="stable")
        self._events = events
        self._order = order
        self._frame = frame.iloc[order].reset_index(drop=True)
        self._points = points[order]
        self._cache: dict = {}
        self._checked: set[str] = set()

    def __repr__(self) -> str:
        return f"EventClock({len(self._frame)} events over {self._n} sessions)"

    def pre_open_news(self) -> np.ndarray:
        """Sessions (positions) before whose open some news became known: where a pre-open decision point is held."""
        p = self._points[(self._points >= 2) & (self._points < 2 * self._n) & (self._points % 2 == 0)]
        return np.unique(p // 2)

    def _entry(self, family, kinds) -> tuple[pd.DataFrame, np.ndarray]:
        # Fast path on the arguments as given: strategies ask the same question on every bar.
        try:
            return self._cache[(family, kinds)]
        except (KeyError, TypeError):
            pass
        key = (_as_names(family), _as_names(kinds))
        if key not in self._cache:
            mask = self._events._mask(*key)
            self._check_gaps(key[0])
            sel = mask[self._order]  # the mask is in calendar order, the clock rows in point order
            self._cache[key] = (self._frame[sel].reset_index(drop=True), self._points[sel])
        entry = self._cache[key]
        try:
            self._cache[(family, kinds)] = entry
        except TypeError:  # lists are not hashable; the normalised key still serves them
            pass
        return entry

    def _check_gaps(self, families: tuple[str, ...] | None) -> None:
        """Refuse (or record) a read of a family with missing releases over this clock's sessions."""
        events = self._events
        if events.on_gaps is None or not self._n:
            return
        names = families if families is not None else tuple(sorted(events.frequencies))
        start, end = self.sessions[0].date(), self.sessions[-1].date()
        for name in names:
            if name in self._checked or not events.frequency(name).checked:
                continue
            gaps = events.gaps(name, start, end)
            if gaps.missing:
                if events.on_gaps != "allow":
                    raise gap_error(gaps)
                events.gaps_allowed[name] = gaps
            self._checked.add(name)

    def _at(self, i, point) -> tuple[int, int]:
        """(position, point) of a question: the close of bar i, or the given decision point."""
        if point is None:
            if not 0 <= i < self._n:
                raise IndexError(f"bar {i} is outside the session grid (0..{self._n - 1})")
            return int(i), 2 * int(i) + 1
        if not 0 <= point < 2 * self._n:
            raise IndexError(f"decision point {point} is outside the session grid (0..{2 * self._n - 1})")
        return max((int(point) - 1) // 2, 0), int(point)

    def known(self, i: int, family: str | Iterable[str] | None = None, kinds: str | Iterable[str] | None = None,
              point: int | None = None) -> pd.DataFrame:
        """The events known by the close of ``sessions[i]`` (or at decision point ``point``).

        Returns a frame with the calendar's columns plus decision_session and first_trade_session,
        one row per event, sorted by known_at, index 0..n-1.
        """
        frame, points = self._entry(family, kinds)
        _, k = self._at(i, point)
        return frame.iloc[: np.searchsorted(points, k, side="right")].copy()

    def latest(self, i: int, family: str | Iterable[str] | None, kinds: str | Iterable[str] | None = None,
               point: int | None = None) -> pd.Series | None:
        """The most recently known event (a row of ``known``), or None if none is known."""
        frame, points = self._entry(family, kinds)
        _, k = self._at(i, point)
        m = np.searchsorted(points, k, side="right")
        return None if m == 0 else frame.iloc[m - 1].copy()

    def sessions_since(self, i: int, family: str | Iterable[str] | None, kinds: str | Iterable[str] | None = None,
                       point: int | None = None) -> int | None:
        """Sessions from the last close the latest known event's decision saw to the question's; None if none.

        0 at the event's own decision point, whether that is a close or a pre-open.
        """
        _, points = self._entry(family, kinds)
        position, k = self._at(i, point)
        m = np.searchsorted(points, k, side="right")
        return None if m == 0 else int(position - (int(points[m - 1]) - 1) // 2)

    def fired(self, i: int, family: str | Iterable[str] | None, kinds: str | Iterable[str] | None = None,
              point: int | None = None) -> bool:
        """Whether some event's decision point is exactly this one."""
        _, points = self._entry(family, kinds)
        _, k = self._at(i, point)
        m = np.searchsorted(points, k, side="left")
        return bool(m < len(points) and points[m] == k)


# --------------------------------------------------------------------------- listing


def list_events(calendar: EventCalendar, family: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The events for a listing: columns event_date, known_at, first_trade (the session at whose open a
    backtest's orders on it first fill; NaT past the exchange calendar), family, kind, value, verified
    (bool), description; one row per event, sorted by known_at then family and kind."""
    from backtest.market import calendar as xtks

    frame = calendar.select(family).frame
    grid = xtks.sessions("1998-01-05", xtks.last_known_session())
    frame = frame.assign(first_trade=calendar.select(family).first_trade_sessions(grid).to_numpy())
    cols = ["event_date", "known_at", "first_trade", "family", "kind", "value", "verified", "description"]
    return frame[cols].sort_values(["known_at", "family", "kind"], kind="mergesort").reset_index(drop=True)
