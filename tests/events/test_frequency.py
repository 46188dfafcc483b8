"""Event families declare how often they publish; a clock refuses (or records) a read of a family with holes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from backtest.errors import EventError
from backtest.events.calendar import EventCalendar, load_events
from backtest.events.frequency import EventGapError, Frequency, parse_frequencies, read_frequency_file
from backtest.market.calendar import sessions

HEADER = "family,kind,event_date,known_at,value\n"


def months(first: str, last: str) -> list[str]:
    """Every YYYY-MM from first to last, counted here without the project's helpers."""
    y, m = map(int, first.split("-"))
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def calendar(rows, frequencies: dict) -> EventCalendar:
    records = [{"family": f, "kind": k, "event_date": d, "known_at": f"{d}T08:30:00+09:00", "file": "survey.csv"}
               for f, k, d in rows]
    return EventCalendar(pd.DataFrame(records), parse_frequencies(frequencies, "frequency.yaml"))


def monthly_rows(month_list, family="survey", kind="release", day=10):
    return [(family, kind, f"{m}-{day:02d}") for m in month_list]


# ----- what "missing" means -------------------------------------------------------------------------------


def test_shipped_wages_miss_the_months_without_a_release():
    events = load_events()
    gaps = events.gaps("wages", dt.date(2005, 1, 4), dt.date(2025, 12, 30))
    # the file's release months, and every month from its first release to December 2025 (whose last session,
    # 2025-12-30, is the period's end), built here from the CSV itself
    frame = pd.read_csv(events.frame["file"][events.frame["family"] == "wages"].iloc[0])
    released = {d[:7] for d in frame["event_date"]}
    expected = months(min(released), "2025-12")
    assert list(gaps.expected) == expected
    assert list(gaps.missing) == [m for m in expected if m not in released]
    assert len(gaps.missing) == 33 and len(expected) == 40
    assert gaps.files[0].endswith("wages.csv")


def test_shipped_shunto_is_complete_and_irregular_families_expect_nothing():
    events = load_events()
    shunto = events.gaps("shunto", dt.date(2005, 1, 4), dt.date(2025, 12, 30))
    assert list(shunto.expected) == [str(y) for y in range(2014, 2026)] and shunto.complete
    for family in ("boj", "us_policy", "governance", "election"):
        gaps = events.gaps(family, dt.date(2005, 1, 4), dt.date(2025, 12, 30))
        assert not events.frequency(family).checked and gaps.expected == () and gaps.complete


def test_monthly_counts_the_release_month_and_only_months_that_are_over():
    rows = monthly_rows(["2024-01", "2024-02", "2024-04", "2024-05"])
    events = calendar(rows, {"survey": "monthly"})
    # the period ends on 2024-05-30, before May's last session (05-31): May is not checked yet
    gaps = events.gaps("survey", dt.date(2024, 1, 4), dt.date(2024, 5, 30))
    assert list(gaps.expected) == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert list(gaps.missing) == ["2024-03"]
    last_may = sessions("2024-05-01", "2024-05-31")[-1].date()
    gaps = events.gaps("survey", dt.date(2024, 1, 4), last_may)
    assert list(gaps.expected)[-1] == "2024-05" and list(gaps.missing) == ["2024-03"]


def test_the_span_starts_at_the_first_release_or_since():
    rows = monthly_rows(["2024-03", "2024-04"])
    late = calendar(rows, {"survey": "monthly"}).gaps("survey", dt.date(2023, 1, 4), dt.date(2024, 4, 30))
    assert list(late.expected) == ["2024-03", "2024-04"] and late.complete
    declared = calendar(rows, {"survey": {"frequency": "monthly", "since": "2024-01"}})
    gaps = declared.gaps("survey", dt.date(2023, 1, 4), dt.date(2024, 4, 30))
    assert list(gaps.missing) == ["2024-01", "2024-02"]


def test_kind_limits_what_counts():
    rows = [*monthly_rows(["2024-01", "2024-03"]), ("survey", "revision", "2024-02-20")]
    events = calendar(rows, {"survey": {"frequency": "monthly", "kind": "release"}})
    assert list(events.gaps("survey", dt.date(2024, 1, 4), dt.date(2024, 3, 29)).missing) == ["2024-02"]
    events = calendar(rows, {"survey": "monthly"})
    assert events.gaps("survey", dt.date(2024, 1, 4), dt.date(2024, 3, 29)).complete


def test_yearly_waits_for_its_due_month():
    rows = [("tally", "first", "2022-03-15"), ("tally", "first", "2024-03-15")]
    events = calendar(rows, {"tally": {"frequency": "yearly", "month": 3}})
    assert list(events.gaps("tally", dt.date(2022, 1, 4), dt.date(2024, 12, 30)).missing) == ["2023"]
    # a period ending in February 2025 does not expect 2025's tally yet
    assert list(events.gaps("tally", dt.date(2022, 1, 4), dt.date(2025, 2, 28)).expected) == ["2022", "2023", "2024"]
    assert list(events.gaps("tally", dt.date(2022, 1, 4), dt.date(2025, 3, 31)).missing) == ["2023", "2025"]


def test_scheduled_needs_each_listed_date_in_the_period():
    rows = [("meeting", "decision", "2024-01-23"), ("meeting", "decision", "2024-04-26")]
    freq = {"meeting": {"frequency": "scheduled", "dates": ["2024-01-23", "2024-03-19", "2024-04-26", "2024-06-14"]}}
    events = calendar(rows, freq)
    gaps = events.gaps("meeting", dt.date(2024, 1, 4), dt.date(2024, 5, 31))
    assert list(gaps.expected) == ["2024-01-23", "2024-03-19", "2024-04-26"] and list(gaps.missing) == ["2024-03-19"]


# ----- the clock: refuse, allow, or not checked ---------------------------------------------------------


def grid(start="2024-01-04", end="2024-05-31"):
    return sessions(start, end)


def test_a_clock_refuses_a_read_of_a_gappy_family_and_names_the_months():
    events = calendar(monthly_rows(["2024-01", "2024-04"]), {"survey": "monthly"})
    events.on_gaps = "refuse"
    clock = events.as_of(grid())
    with pytest.raises(EventGapError) as err:
        clock.sessions_since(10, "survey")
    text = str(err.value)
    assert text.startswith("survey.csv: family survey (monthly): the run reads this family, but 3 of the 5 monthly")
    assert "2024-02, 2024-03, 2024-05." in text and "--allow-gaps" in text and "narrow the period" in text
    # a read of another family, or of none at all, is fine
    assert clock.sessions_since(10, "boj") is None


def test_allow_records_the_gaps_and_reads():
    events = calendar(monthly_rows(["2024-01", "2024-04"]), {"survey": "monthly"})
    events.on_gaps = "allow"
    clock = events.as_of(grid())
    assert clock.sessions_since(len(clock.sessions) - 1, "survey") is not None
    assert list(events.gaps_allowed["survey"].missing) == ["2024-02", "2024-03", "2024-05"]


def test_not_checked_without_a_policy_or_for_irregular_families():
    events = calendar(monthly_rows(["2024-01", "2024-04"]), {"survey": "monthly"})
    events.as_of(grid()).known(10, "survey")  # on_gaps None: a clock outside a run does not check
    sparse = calendar(monthly_rows(["2024-01", "2024-04"]), {"survey": "irregular"})
    sparse.on_gaps = "refuse"
    sparse.as_of(grid()).known(10, "survey")
    undeclared = calendar(monthly_rows(["2024-01", "2024-04"]), {})
    undeclared.on_gaps = "refuse"
    undeclared.as_of(grid()).known(10)


def test_reading_every_family_checks_every_declared_one():
    events = calendar(monthly_rows(["2024-01", "2024-04"]), {"survey": "monthly"})
    events.on_gaps = "refuse"
    with pytest.raises(EventGapError, match="family survey"):
        events.as_of(grid()).known(10)


# ----- declarations -------------------------------------------------------------------------------------


def test_a_user_folder_declares_its_own_and_replaces_shipped_ones(tmp_path):
    (tmp_path / "survey.csv").write_text(HEADER + "survey,release,2024-01-10,2024-01-10T08:30:00+09:00,1\n")
    (tmp_path / "frequency.yaml").write_text("survey: {frequency: monthly, kind: release}\nwages: irregular\n")
    events = load_events(tmp_path)
    assert events.frequency("survey") == Frequency("survey", "monthly", kind="release",
                                                     file=str(tmp_path / "frequency.yaml"))
    assert not events.frequency("wages").checked
    assert events.frequency("shunto").frequency == "yearly"


@pytest.mark.parametrize("text, message", [
    ("wages: montly\n", r"frequency.yaml: wages.frequency: unknown frequency 'montly'. Did you mean 'monthly'\?"),
    ("wages: {frequency: monthly, every: 1}\n", r"wages.every: unknown key. "),
    ("wages: {frequency: monthly, month: 3}\n", r"wages.month: does not apply to a monthly family. Remove it"),
    ("shunto: {frequency: yearly, month: 13}\n", r"shunto.month: 13 is not a month number. Give the month \(1-12\)"),
    ("boj: {frequency: scheduled}\n", r"boj.dates: a scheduled family needs its list of dates"),
    ("boj: {frequency: scheduled, dates: [2024-01-23, 2024-13-01]}\n", r"line 1.*not a real date"),
    ("boj: {frequency: scheduled, dates: [2024-01-23, soon]}\n", r"boj.dates\[1\]: 'soon' is not a date"),
    ("wages: {frequency: monthly, since: last year}\n", r"wages.since: 'last year' is not a month or a date"),
    ("wages: {frequency: monthly, kind: Monthly Survey}\n", r"wages.kind: 'Monthly Survey' is not a kind name"),
    ("wages: {kind: monthly_survey}\n", r"wages.frequency: missing. Give one of monthly, yearly, scheduled"),
    ("Wages: monthly\n", r"frequency.yaml: Wages: not a valid family name"),
    ("- wages\n", r"\(top level\): expected a mapping of family names to frequencies"),
    ("wages: [monthly\n", r"frequency.yaml: line \d+, column \d+"),
])
def test_bad_declarations_are_clear_errors(tmp_path, text, message):
    (tmp_path / "frequency.yaml").write_text(text)
    with pytest.raises(EventError, match=message):
        read_frequency_file(tmp_path / "frequency.yaml")


def test_a_bad_declaration_in_a_user_folder_stops_loading(tmp_path):
    (tmp_path / "survey.csv").write_text(HEADER + "survey,release,2024-01-10,2024-01-10T08:30:00+09:00,1\n")
    (tmp_path / "frequency.yaml").write_text("survey: weekly\n")
    with pytest.raises(EventError, match=r"survey.frequency: unknown frequency 'weekly'.*monthly, yearly"):
        load_events(tmp_path)
