"""How often each event family is expected to publish, and which of its releases are missing over a period.

A family's frequency is declared in a ``frequency.yaml`` beside its CSV files (the shipped one is
``backtest/events/data/frequency.yaml``; a user's events folder may hold its own, whose entries replace
the shipped ones family by family). What "missing" means, per frequency:

- ``monthly``: every calendar month of the checked span needs at least one release (a row of the
  family, of ``kind`` if given) whose ``event_date`` lies in that month. The release month counts, not
  the month the figures refer to: a survey of July published in September fills September.
- ``yearly``: every calendar year of the checked span needs a release dated in that year. ``month``
  (1-12, default 12) is the month by which the year's release is due (shunto: 3, the first tally
  comes in March); a year is checked once its due month is over.
- ``scheduled``: every date in ``dates`` inside the checked span needs a release on exactly that date.
- ``irregular`` (and every family without a declaration): nothing is expected, nothing is missing.

The checked span runs from the later of the period's start and the family's first expected release
(``since`` if declared, else the family's first row, else the period's start) to the period's end. A
month (or a yearly release's due month) is checked only once it is over: the period's end is on or
after its last Tokyo session, so the month in which a period ends counts only if the period runs to
that month's last session. Releases dated before the period's start still fill their month.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from backtest.errors import ConfigError, EventError, did_you_mean

FREQUENCY_FILE = "frequency.yaml"
FREQUENCIES = ("monthly", "yearly", "scheduled", "irregular")
KEYS = {
    "monthly": ("frequency", "kind", "since", "note"),
    "yearly": ("frequency", "kind", "since", "month", "note"),
    "scheduled": ("frequency", "kind", "since", "dates", "note"),
    "irregular": ("frequency", "note"),
}
ALL_KEYS = ("frequency", "kind", "since", "month", "dates", "note")
_FAMILY = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
_MONTH = re.compile(r"\A([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?\Z")
EXAMPLE = "e.g. `wages: monthly` or `shunto: {frequency: yearly, kind: first_tally, month: 3}`"
# How many missing months an error or a summary line names before it says "and N more".
SHOWN = 6


@dataclass(frozen=True)
class Frequency:
    """One family's declared frequency (see the module docstring), and the file that declared it."""

    family: str
    frequency: str
    kind: str | None = None
    since: dt.date | None = None
    month: int = 12
    dates: tuple[dt.date, ...] = ()
    note: str = ""
    file: str = ""

    @property
    def checked(self) -> bool:
        return self.frequency != "irregular"

    def describe(self) -> str:
        """Short text for a listing: 'monthly (monthly_survey)', 'yearly by March (first_tally)'."""
        text = self.frequency
        if self.frequency == "yearly" and self.month != 12:
            text += f" by {dt.date(2000, self.month, 1):%B}"
        if self.frequency == "scheduled":
            text += f" ({len(self.dates)} dates)"
        if self.kind:
            text += f", {self.kind}"
        return text


@dataclass(frozen=True)
class FamilyGaps:
    """Which expected releases of one family are missing between `start` and `end` (the checked span)."""

    family: str
    frequency: Frequency
    files: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    expected: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    def unit(self) -> str:
        return {"monthly": "monthly releases", "yearly": "yearly releases", "scheduled": "scheduled releases"}.get(
            self.frequency.frequency, "releases")

    def missing_text(self, shown: int = SHOWN) -> str:
        """'2022-10, 2022-11, …, and 27 more'."""
        head = ", ".join(self.missing[:shown])
        rest = len(self.missing) - shown
        return head + (f", and {rest} more" if rest > 0 else "")

    def summary(self) -> str:
        """'wages (monthly): 33 of 40 monthly releases missing from 2022-09 to 2025-12 (2022-10, ...)'."""
        span = f"from {self.expected[0]} to {self.expected[-1]}" if self.expected else "in the period"
        return (f"{self.family} ({self.frequency.describe()}): {len(self.missing)} of {len(self.expected)} "
                f"{self.unit()} missing {span} ({self.missing_text()})")

    def as_dict(self) -> dict:
        return {
            "family": self.family,
            "frequency": self.frequency.frequency,
            "kind": self.frequency.kind,
            "files": list(self.files),
            "checked_from": self.expected[0] if self.expected else None,
            "checked_to": self.expected[-1] if self.expected else None,
            "expected": len(self.expected),
            "missing": len(self.missing),
            "missing_list": list(self.missing),
        }


class EventGapError(EventError):
    """A run reads an event family with missing releases in its period (refused unless gaps are allowed)."""


def gap_error(gaps: FamilyGaps) -> EventGapError:
    files = " and ".join(gaps.files) if gaps.files else (gaps.frequency.file or "event calendar")
    span = f"from {gaps.expected[0]} to {gaps.expected[-1]}" if gaps.expected else "in the period"
    return EventGapError(
        file=files,
        field=f"family {gaps.family} ({gaps.frequency.describe()})",
        problem=(f"the run reads this family, but {len(gaps.missing)} of the {len(gaps.expected)} {gaps.unit()} "
                 f"expected {span} are missing: {gaps.missing_text()}"),
        fix=("Complete the file with the missing releases, narrow the period (--start/--end) to a span the file "
             "covers, or run anyway: themebt run --allow-gaps, events.allow_gaps: true in the config (sweeps and "
             "walk-forwards too), or tb.run(..., allow_gaps=True); the summary and manifest.json then say so"),
    )


# --------------------------------------------------------------------------- declarations


def read_frequency_file(path: Path) -> dict[str, Frequency]:
    """The declarations of one frequency.yaml, validated: family -> Frequency."""
    from backtest.safeio import SMALL_FILE_BYTES, read_user_text
    from backtest.safeyaml import check_size, parse_yaml

    name = str(path)

    def unreadable(problem: str) -> EventError:
        return EventError(file=name, field="(file)", problem=problem, fix="Save it as a UTF-8 YAML text file")

    text = read_user_text(path, SMALL_FILE_BYTES, unreadable, encoding="utf-8-sig")
    try:
        raw = parse_yaml(text, name)
        if raw is not None:
            check_size(raw, name)
    except ConfigError as exc:
        raise EventError(**exc.fields) from None
    return parse_frequencies(raw, name)


def parse_frequencies(raw, file: str) -> dict[str, Frequency]:
    """Declarations from loaded YAML (a mapping family -> frequency name or mapping), validated."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise EventError(file=file, field="(top level)", problem="expected a mapping of family names to frequencies",
                         fix=f"Write one line per family, {EXAMPLE}")
    out: dict[str, Frequency] = {}
    for family, entry in raw.items():
        out[str(family)] = _parse_entry(family, entry, file)
    return out


def _parse_entry(family, entry, file: str) -> Frequency:
    if not isinstance(family, str) or not _FAMILY.match(family):
        raise EventError(file=file, field=str(family), problem="not a valid family name",
                         fix="A family name is lowercase letters, digits and _ (2 to 31 characters, starting with a "
                             "letter), as in the events' family column")

    def fail(key: str, problem: str, fix: str):
        raise EventError(file=file, field=f"{family}.{key}" if key else family, problem=problem, fix=fix)

    if isinstance(entry, str):
        entry = {"frequency": entry}
    if not isinstance(entry, dict):
        fail("", f"expected a frequency name or a mapping, got {entry!r}"[:120], f"Write {EXAMPLE}")
    for key in entry:
        if key not in ALL_KEYS:
            fail(str(key), "unknown key", did_you_mean(str(key), ALL_KEYS))
    if "frequency" not in entry:
        fail("frequency", "missing", f"Give one of {', '.join(FREQUENCIES)}")
    frequency = entry["frequency"]
    if frequency not in FREQUENCIES:
        fail("frequency", f"unknown frequency {frequency!r}",
             did_you_mean(str(frequency), FREQUENCIES) + f" The frequencies are {', '.join(FREQUENCIES)}.")
    for key in entry:
        if key not in KEYS[frequency]:
            fail(str(key), f"does not apply to a {frequency} family",
                 f"Remove it; a {frequency} family takes {', '.join(KEYS[frequency])}")
    kind = entry.get("kind")
    if kind is not None and (not isinstance(kind, str) or not _KIND.match(kind)):
        fail("kind", f"{kind!r} is not a kind name", "Name the kind whose releases count, e.g. monthly_survey, or "
             "remove the key to count every kind")
    since = entry.get("since")
    if since is not None:
        since = _date(since, lambda problem: fail("since", problem, "Write the first expected release's month as "
                                                  "YYYY-MM (or a date YYYY-MM-DD)"))
    month = entry.get("month", 12)
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        fail("month", f"{month!r} is not a month number", "Give the month (1-12) by which each year's release is "
             "due, e.g. 3 for March")
    dates: tuple[dt.date, ...] = ()
    if frequency == "scheduled":
        given = entry.get("dates")
        if not isinstance(given, list) or not given:
            fail("dates", "a scheduled family needs its list of dates", "Write dates: [2024-01-23, 2024-03-19, ...]")
        parsed = []
        for i, value in enumerate(given):
            if isinstance(value, dt.datetime) or not isinstance(value, (dt.date, str)):
                fail(f"dates[{i}]", f"{value!r} is not a date", "Write each date as YYYY-MM-DD")
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else None
                except ValueError:
                    value = None
                if value is None:
                    fail(f"dates[{i}]", f"{given[i]!r} is not a date", "Write each date as YYYY-MM-DD")
            parsed.append(value)
        if len(set(parsed)) != len(parsed):
            fail("dates", "a date is listed twice", "List each scheduled date once")
        dates = tuple(sorted(parsed))
    note = entry.get("note", "")
    if not isinstance(note, str):
        fail("note", "expected text", "Quote the note")
    return Frequency(family=family, frequency=frequency, kind=kind, since=since, month=month, dates=dates,
                     note=note, file=file)


def _date(value, fail) -> dt.date:
    if isinstance(value, dt.datetime):
        fail(f"{value!r} is a date-time")
    if isinstance(value, dt.date):
        return value
    match = _MONTH.match(value) if isinstance(value, str) else None
    if not match:
        fail(f"{value!r} is not a month or a date")
    year, month, day = int(match[1]), int(match[2]), int(match[3] or 1)
    try:
        return dt.date(year, month, day)
    except ValueError:
        fail(f"{value!r} is not a real date")
    raise AssertionError  # pragma: no cover - fail raises


# --------------------------------------------------------------------------- what is missing


def last_session_of_month(year: int, month: int) -> dt.date:
    """The last Tokyo session of a month (from the exchange calendar; past its range, the last weekday)."""
    from backtest.events.calendar import exchange_times

    real = exchange_times()[0]
    first = dt.date(year, month, 1)
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    inside = real[(real >= str(first)) & (real < str(nxt))]
    if len(inside) and nxt <= real[-1].date():
        return inside[-1].date()
    day = nxt - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def family_gaps(freq: Frequency, event_dates: list[dt.date], files: tuple[str, ...], start: dt.date | None,
                end: dt.date | None) -> FamilyGaps:
    """The expected and missing releases of one family over [start, end] (None: its first release / last row).

    event_dates: the release dates of the family's rows (of freq.kind when it names one).
    """
    dates = sorted(event_dates)
    # a schedule lists its own dates; a monthly or yearly series is expected from its first row on
    first = freq.since if freq.frequency == "scheduled" else freq.since or (dates[0] if dates else start)
    begin = max(d for d in (start, first) if d is not None) if (start or first) else None
    if end is None:
        end = dates[-1] if dates else None
    expected: list[str] = []
    present: set[str] = set()
    if begin is not None and end is not None and freq.checked and begin <= end:
        if freq.frequency == "monthly":
            present = {f"{d:%Y-%m}" for d in dates}
            y, m = begin.year, begin.month
            while (y, m) <= (end.year, end.month) and last_session_of_month(y, m) <= end:
                expected.append(f"{y:04d}-{m:02d}")
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        elif freq.frequency == "yearly":
            present = {f"{d.year:04d}" for d in dates}
            for y in range(begin.year, end.year + 1):
                if last_session_of_month(y, freq.month) <= end:
                    expected.append(f"{y:04d}")
        elif freq.frequency == "scheduled":
            present = {d.isoformat() for d in dates}
            expected = [d.isoformat() for d in freq.dates if begin <= d <= end]
    missing = tuple(u for u in expected if u not in present)
    return FamilyGaps(family=freq.family, frequency=freq, files=files, start=begin, end=end,
                      expected=tuple(expected), missing=missing)
