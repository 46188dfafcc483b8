"""Tests that the event calendar loads the facts faithfully and never reveals an event before it is known."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.market import calendar
from backtest.errors import EventError
from backtest.events.calendar import (
    COLUMNS,
    PACKAGE_FOLDER,
    EventCalendar,
    list_events,
    load_events,
    read_event_files,
)

FACTS = Path(__file__).resolve().parents[3] / "shared" / "facts"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
HEADER = ",".join(COLUMNS)


@pytest.fixture(scope="module")
def shipped() -> EventCalendar:
    return load_events()


def make_calendar(rows) -> EventCalendar:
    """A calendar from (family, kind, known_at ISO string) tuples; event_date = known_at's date."""
    return EventCalendar(
        pd.DataFrame(
            [
                {"family": f, "kind": k, "known_at": t, "event_date": t[:10], "description": f"e{n}"}
                for n, (f, k, t) in enumerate(rows)
            ]
        )
    )


def first_trade(family, kind, known_at, start="2018-01-01", end="2025-12-31") -> pd.Timestamp:
    """The session at whose open a strategy's orders on the event first fill."""
    cal = make_calendar([(family, kind, known_at)])
    return cal.first_trade_sessions(calendar.sessions(start, end)).iloc[0]


# --------------------------------------------------------------------------- shipped files


def test_shipped_files_share_one_header():
    for path in sorted(PACKAGE_FOLDER.glob("*.csv")):
        with open(path, encoding="utf-8") as f:
            assert f.readline().strip() == HEADER, path.name


def test_shipped_counts_match_the_facts(shipped):
    counts = shipped.frame.groupby("family").size().to_dict()
    assert counts == {"boj": 23, "shunto": 23, "wages": 7, "us_policy": 10, "governance": 7, "election": 15}
    shunto = shipped.select("shunto").frame["kind"].value_counts().to_dict()
    assert shunto == {"first_tally": 12, "final_tally": 11}
    assert shipped.frame["known_at"].is_monotonic_increasing


def test_shipped_dtypes(shipped):
    f = shipped.frame
    assert list(f.columns) == [*COLUMNS, "file"]
    assert str(f["known_at"].dt.tz) == "Asia/Tokyo"
    assert f["event_date"].dt.tz is None
    assert f["value"].dtype == float and f["verified"].dtype == bool
    wages = shipped.select("wages").frame
    row = wages[wages["reference"] == "2024-07"].iloc[0]
    assert (row["value"], row["value2"]) == (0.4, 3.6)
    assert row["description"] == "2024-07: nominal +3.6%, real +0.4% (preliminary)"


def test_shipped_known_at_conventions(shipped):
    def family(name):
        f = shipped.select(name).frame
        return f.assign(
            hhmm=f["known_at"].dt.strftime("%H:%M"),
            day_after=(f["known_at"].dt.tz_localize(None).dt.normalize() - f["event_date"]).dt.days,
            date=f["event_date"].dt.strftime("%Y-%m-%d"),
        ).set_index("date")

    for name, hhmm in [("shunto", "17:00"), ("wages", "08:30"), ("governance", "17:00"), ("election", "23:00")]:
        f = family(name)
        assert set(f["hhmm"]) == {hhmm} and set(f["day_after"]) == {0}, name
    assert (family("election")["event_date"].dt.day_of_week == 6).all()  # Sundays

    boj = family("boj")
    assert boj.loc["2001-02-28", "hhmm"] == "15:48" and boj.loc["2001-03-19", "hhmm"] == "18:00"
    assert set(boj.drop(["2001-02-28", "2001-03-19"])["hhmm"]) == {"15:00"} and set(boj["day_after"]) == {0}

    us = family("us_policy")
    assert us.loc["2025-07-22", "known_at"] == pd.Timestamp("2025-07-23T08:12", tz="Asia/Tokyo")
    others = us.drop("2025-07-22")
    assert set(others["hhmm"]) == {"09:00"} and set(others["day_after"]) == {1}


@pytest.mark.skipif(not FACTS.is_dir(), reason="shared facts folder not present")
def test_verified_flags_match_the_facts(shipped):
    def facts(name):
        with open(FACTS / name, encoding="utf-8", newline="") as f:
            return list(csv.DictReader(f))

    expected = {}
    for r in facts("boj_policy.csv"):
        expected[("boj", r["date"])] = r["verified"]
    for r in facts("wages_release.csv"):
        expected[("wages", r["date"])] = r["verified"]
    for r in facts("us_reindustrialization.csv"):
        expected[("us_policy", r["date"])] = r["verified"]
    for r in facts("governance.csv"):
        expected[(r["family"], r["date"])] = r["verified"]
    for r in facts("shunto.csv"):
        for col in ("first_tally_date", "final_tally_date"):
            if r[col]:
                expected[("shunto", r[col])] = r["verified"]
    got = {
        (row.family, row.event_date.strftime("%Y-%m-%d")): "yes" if row.verified else "no"
        for row in shipped.frame.itertuples()
    }
    assert got == expected


# --------------------------------------------------------------------------- decision sessions


def test_boj_at_the_close_is_decided_then_and_trades_at_the_next_open():
    assert first_trade("boj", "hike", "2024-03-19T15:00:00+09:00") == pd.Timestamp("2024-03-21")  # 03-20 a holiday
    assert first_trade("boj", "hike", "2024-07-31T13:00:00+09:00") == pd.Timestamp("2024-08-01")


def test_late_afternoon_event_trades_at_the_next_open():
    # Friday 17:00 → Monday's open.
    assert first_trade("shunto", "first_tally", "2024-03-15T17:00:00+09:00") == pd.Timestamp("2024-03-18")


def test_sunday_election_trades_at_mondays_open_or_after_the_holiday():
    assert first_trade("election", "lower_house", "2024-10-27T23:00:00+09:00") == pd.Timestamp("2024-10-28")
    # 2025-07-21 was Marine Day, so Tuesday.
    assert first_trade("election", "upper_house", "2025-07-20T23:00:00+09:00") == pd.Timestamp("2025-07-22")


def test_news_before_the_open_trades_at_that_open():
    # the US–Japan trade agreement, 08:12 JST: the same morning's open
    assert first_trade("us_policy", "trade_deal", "2025-07-23T08:12:00+09:00") == pd.Timestamp("2025-07-23")
    # at 09:00 exactly it is known by the open; a minute later it waits for the close, and the next open
    assert first_trade("us_policy", "tariff", "2025-04-03T09:00:00+09:00") == pd.Timestamp("2025-04-03")
    assert first_trade("us_policy", "tariff", "2025-04-03T09:01:00+09:00") == pd.Timestamp("2025-04-04")


def test_close_moved_to_1530_on_2024_11_05():
    # 15:10 was during the session from 2024-11-05 (close 15:30), after it before
    assert first_trade("boj", "hike", "2024-11-05T15:10:00+09:00") == pd.Timestamp("2024-11-06")
    # 2024-11-01 still closed at 15:00; 2024-11-04 was a holiday.
    assert first_trade("boj", "hike", "2024-11-01T15:10:00+09:00") == pd.Timestamp("2024-11-05")


def test_us_friday_news_trades_at_tokyo_mondays_open(shipped):
    first = shipped.select("us_policy").first_trade_sessions(calendar.sessions("2018-01-01", "2018-12-31"))
    us = shipped.select("us_policy").frame.assign(first=first)
    row = us[us["event_date"] == pd.Timestamp("2018-07-06")].iloc[0]  # a Friday US date
    assert row["first"] == pd.Timestamp("2018-07-09")


def test_after_the_last_session_is_nat():
    assert pd.isna(first_trade("boj", "hike", "2026-01-05T15:00:00+09:00", end="2025-12-31"))
    cal = make_calendar([("boj", "hike", "2026-01-05T15:00:00+09:00")])
    assert pd.isna(cal.decision_sessions(calendar.sessions("2018-01-01", "2025-12-31")).iloc[0])


def test_before_the_grid_keeps_its_real_session():
    cal = make_calendar([("boj", "hike", "2017-12-20T15:00:00+09:00")])
    grid = calendar.sessions("2018-01-04", "2018-12-28")
    assert cal.decision_sessions(grid).iloc[0] == pd.Timestamp("2017-12-20")
    assert cal.first_trade_sessions(grid).iloc[0] == pd.Timestamp("2017-12-21")


def test_shipped_first_trades_are_the_first_opens_after_known_at(shipped):
    grid = calendar.sessions("1999-01-01", "2026-06-30")
    first = shipped.first_trade_sessions(grid)
    assert first.notna().all() and first.isin(grid).all()
    known = shipped.frame["known_at"]
    opens = pd.Series([calendar.open_time(d) for d in first], index=first.index)
    assert (opens >= known).all()  # never before it was public
    before = pd.Series([calendar.open_time(grid[grid.get_loc(d) - 1]) for d in first], index=first.index)
    assert (before < known).all()  # and not a session later than it could


# --------------------------------------------------------------------------- the clock

GRID = calendar.sessions("2024-10-28", "2024-11-11")  # 10 sessions; 2024-11-04 a holiday


@pytest.fixture(scope="module")
def clock():
    cal = make_calendar(
        [
            ("boj", "hike", "2024-10-10T15:00:00+09:00"),  # before the grid
            ("election", "lower_house", "2024-10-27T23:00:00+09:00"),  # → before bar 0's open
            ("boj", "hike", "2024-10-29T15:00:00+09:00"),  # → bar 1's close
            ("boj", "cut", "2024-11-01T15:10:00+09:00"),  # → after 11-01's close: before bar 5's open (2024-11-05)
            ("shunto", "first_tally", "2024-11-11T17:00:00+09:00"),  # after the last close
        ]
    )
    return cal.as_of(GRID)


def test_grid_is_ten_sessions():
    assert len(GRID) == 10 and GRID[5] == pd.Timestamp("2024-11-05")


def test_clock_known(clock):
    k0 = clock.known(0)
    assert list(k0["description"]) == ["e0", "e1"]
    assert k0["decision_session"].iloc[0] == pd.Timestamp("2024-10-10")
    assert list(clock.known(9)["description"]) == ["e0", "e1", "e2", "e3"]
    assert list(clock.known(4, "boj")["description"]) == ["e0", "e2"]
    assert list(clock.known(9, ["boj"], kinds="cut")["description"]) == ["e3"]
    assert clock.known(0, "shunto").empty


def test_clock_fired(clock):
    assert clock.fired(0, "election", point=0) and not clock.fired(0, "election")  # news before the open, not at the close
    assert not clock.fired(0, "boj", point=0)  # known before the grid: not news on bar 0
    assert clock.fired(1, "boj") and clock.fired(1, "boj", "hike") and not clock.fired(1, "boj", "cut")
    assert [i for i in range(10) if clock.fired(i, "boj")] == [1]
    assert [k for k in range(20) if clock.fired(0, "boj", point=k)] == [3, 10]  # bar 1's close, bar 5's pre-open
    assert list(clock.pre_open_news()) == [5]
    assert not any(clock.fired(i, "shunto") for i in range(10))


def test_clock_sessions_since(clock):
    before = len(calendar.sessions("2024-10-10", "2024-10-25"))  # real sessions from the hike to the grid
    assert clock.sessions_since(0, "boj") == before
    # the cut was out after bar 4's close: 0 before bar 5's open, 1 at its close
    assert [clock.sessions_since(i, "boj") for i in range(1, 10)] == [0, 1, 2, 3, 1, 2, 3, 4, 5]
    assert clock.sessions_since(4, "boj", point=10) == 0
    assert clock.sessions_since(9, "boj", kinds=("hike",)) == 8
    assert clock.sessions_since(4, "boj", kinds=["cut"]) is None
    assert clock.sessions_since(9, "shunto") is None


def test_clock_latest(clock):
    assert clock.latest(9, "boj")["kind"] == "cut"
    assert clock.latest(9, "boj", "hike")["known_at"] == pd.Timestamp("2024-10-29T15:00", tz="Asia/Tokyo")
    assert clock.latest(0, "boj")["description"] == "e0"
    assert clock.latest(9, "shunto") is None


def test_clock_rejects_bad_queries(clock):
    with pytest.raises(IndexError):
        clock.known(10)
    with pytest.raises(EventError, match="unknown event family 'bojj'.*Did you mean 'boj'"):
        clock.fired(0, "bojj")
    with pytest.raises(EventError, match="kinds.*'hikes'.*Did you mean 'hike'"):
        clock.fired(0, "boj", "hikes")


def test_clock_on_shipped_events(shipped):
    grid = calendar.sessions("2024-01-04", "2025-12-30")
    clock = shipped.as_of(grid)
    i = grid.get_loc(pd.Timestamp("2024-03-19"))
    assert clock.fired(i, "boj", "hike") and clock.sessions_since(i, "boj", "hike") == 0
    assert clock.sessions_since(i + 3, "boj", "hike") == 3
    assert clock.latest(i - 1, "boj")["event_date"] == pd.Timestamp("2023-10-31")


START = pd.Timestamp("2024-10-24", tz="Asia/Tokyo")


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(0, 20 * 24 * 60), min_size=0, max_size=12),
    i=st.integers(0, len(GRID) - 1),
)
def test_known_is_exactly_what_is_out_by_the_close(minutes, i):
    times = [START + pd.Timedelta(minutes=m) for m in minutes]
    cal = make_calendar([("boj", "hike", t.isoformat()) for t in times])
    clock = cal.as_of(GRID)
    close = calendar.close_time(GRID[i])
    expected = {f"e{n}" for n, t in enumerate(times) if t <= close}
    assert set(clock.known(i)["description"]) == expected
    # Known before bar i's open: out by 09:00 that day.
    opening = calendar.open_time(GRID[i])
    assert set(clock.known(i, point=2 * i)["description"]) == {f"e{n}" for n, t in enumerate(times) if t <= opening}
    # Fired at bar i's close: out during the session; before its open: out since the previous close
    # (2024-10-25 is the session before the grid).
    previous = calendar.close_time(GRID[i - 1] if i else pd.Timestamp("2024-10-25"))
    assert clock.fired(i, "boj") == any(opening < t <= close for t in times)
    assert clock.fired(i, "boj", point=2 * i) == any(previous < t <= opening for t in times)


# --------------------------------------------------------------------------- user files and validation


def write(folder: Path, name: str, *lines: str) -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_error(tmp_path: Path, *lines: str) -> str:
    write(tmp_path, "mine.csv", *lines)
    with pytest.raises(EventError) as err:
        load_events(tmp_path)
    return str(err.value)


def test_user_folder_merges_with_shipped(shipped):
    cal = load_events(FIXTURES)
    assert len(cal) == len(shipped) + 3
    assert "fx_intervention" in cal.families()
    fx = cal.select("fx_intervention").frame
    assert not fx["verified"].any()  # no verified column → no
    assert fx["source"].eq("").all() and fx["value2"].isna().all()
    assert fx["value"].iloc[1] == 9.79
    assert "hold" in cal.kinds("boj")
    assert cal.select("boj").frame["file"].str.endswith("boj_holds.csv").sum() == 1


def test_read_event_files_alone():
    cal = read_event_files([FIXTURES / "boj_holds.csv"])
    assert len(cal) == 1 and cal.families() == ["boj"]


def test_list_events(shipped):
    listing = list_events(shipped, "election")
    assert list(listing.columns) == ["event_date", "known_at", "first_trade", "family", "kind", "value", "verified",
                                     "description"]
    assert len(listing) == 15 and listing["known_at"].is_monotonic_increasing
    assert len(list_events(shipped)) == len(shipped)


def test_error_folder_missing(tmp_path):
    with pytest.raises(EventError, match=r"nope: folder: event folder not found\. Pass the folder"):
        load_events(tmp_path / "nope")


def test_error_missing_required_columns(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date", "boj,hike,2024-03-19")
    assert "mine.csv: known_at: required column missing" in msg and "Add the columns" in msg


def test_error_unknown_column(tmp_path):
    msg = load_error(tmp_path, HEADER.replace("verified", "verfied"))
    assert "mine.csv: verfied: unknown column" in msg and "Did you mean 'verified'" in msg


def test_error_bad_event_date(tmp_path):
    msg = load_error(
        tmp_path,
        "family,kind,event_date,known_at",
        "boj,hike,2030-03-19,2030-03-19T15:00:00+09:00",
        "boj,hike,19/03/2030,2030-03-20T15:00:00+09:00",
    )
    assert "mine.csv: row 3, event_date: '19/03/2030' is not a date" in msg and "YYYY-MM-DD" in msg


def test_error_bad_known_at(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "boj,hike,2024-03-19,tomorrow")
    assert "mine.csv: row 2, known_at: 'tomorrow' is not a date-time" in msg and "with offset" in msg


def test_error_known_at_without_offset(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "boj,hike,2024-03-19,2024-03-19T15:00:00")
    assert "mine.csv: row 2, known_at: '2024-03-19T15:00:00' has no timezone offset" in msg and "+09:00" in msg


def test_error_known_at_before_the_event(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "boj,hike,2024-03-19,2024-03-17T23:59:00+09:00")
    assert "mine.csv: row 2, known_at" in msg and "more than a day before" in msg and "swapped" in msg


def test_known_at_a_day_early_is_allowed(tmp_path):
    write(tmp_path, "mine.csv", "family,kind,event_date,known_at", "boj,hike,2030-03-19,2030-03-18T00:00:00+09:00")
    assert len(load_events(tmp_path).select("boj", "hike")) == 8


def test_error_unknown_family(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "us-policy,tariff,2024-03-19,2024-03-20T09:00:00+09:00")
    assert "mine.csv: row 2, family: 'us-policy' is not a known family" in msg and "Did you mean 'us_policy'" in msg


def test_new_family_name_is_allowed(tmp_path):
    write(tmp_path, "mine.csv", "family,kind,event_date,known_at", "mof_fx,yen_buying,2022-09-22,2022-09-22T17:30:00+09:00")
    assert "mof_fx" in load_events(tmp_path).families()


def test_error_date_out_of_range(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "boj,hike,1989-12-29,1989-12-29T15:00:00+09:00")
    assert "mine.csv: row 2, event_date: 1989-12-29 is outside 1990-01-01..2100-12-31" in msg
    msg = load_error(tmp_path, "family,kind,event_date,known_at", "boj,hike,2024-03-19,2224-03-19T15:00:00+09:00")
    assert "row 2, known_at" in msg and "outside" in msg and "Check the year" in msg


def test_error_duplicate_across_files_names_both(tmp_path):
    # The same moment written in US Eastern time is still a duplicate of the shipped row.
    msg = load_error(
        tmp_path,
        "family,kind,event_date,known_at",
        "us_policy,trade_deal,2025-07-22,2025-07-22T19:12:00-04:00",
    )
    assert "us_policy.csv and " in msg and "mine.csv" in msg and "listed twice" in msg and "Keep one" in msg


def test_error_duplicate_within_a_file(tmp_path):
    msg = load_error(
        tmp_path,
        "family,kind,event_date,known_at",
        "mof_fx,yen_buying,2022-09-22,2022-09-22T17:30:00+09:00",
        "mof_fx,yen_buying,2022-09-22,2022-09-22T17:30:00+09:00",
    )
    assert "mine.csv: row 2 and row 3: the same event" in msg


def test_error_bad_value_and_verified(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at,value", "boj,hike,2024-03-19,2024-03-19T15:00:00+09:00,0.25%")
    assert "row 2, value: '0.25%' is not a number" in msg
    msg = load_error(tmp_path, "family,kind,event_date,known_at,verified", "boj,hike,2024-03-19,2024-03-19T15:00:00+09:00,maybe")
    assert "row 2, verified: 'maybe' is not yes or no" in msg


def test_error_ragged_row(tmp_path):
    msg = load_error(tmp_path, "family,kind,event_date,known_at,description", "boj,hike,2024-03-19,2024-03-19T15:00:00+09:00,a, b")
    assert "mine.csv: row 2: 6 fields but the header has 5" in msg and "Quote fields" in msg


def test_naive_known_at_is_refused_in_a_frame():
    with pytest.raises(ValueError):
        make_calendar([("boj", "hike", "2024-03-19T15:00:00")])


def test_open_and_close_times_agree_with_the_calendar_module():
    from backtest.events.calendar import session_times_ns

    grid = calendar.sessions("2024-10-01", "2024-12-31").append(pd.DatetimeIndex(["2031-01-06"]))
    opens, closes = session_times_ns(grid)
    assert (closes == np.array([calendar.close_time(s).value for s in grid])).all()
    assert (opens == np.array([calendar.open_time(s).value for s in grid])).all()
