"""themebt events: the calendar as a table, filters, a user folder, and exit 2 with a hint for typos."""

from __future__ import annotations

from click.testing import CliRunner

from backtest.cli.main import main
from backtest.events.calendar import load_events
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "events"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_lists_one_family_with_both_dates():
    result = invoke("events", "--family", "boj", "--kind", "hike")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["event_date", "known_at", "(JST)", "first_trade", "family", "kind", "value", "verified",
                                "description"]
    assert lines[-1] == "7 events"
    assert lines[4].startswith("2024-03-19  2024-03-19 15:00  2024-03-21   boj     hike   0.05  yes       Negative interest rate")
    assert all(len(line) <= 140 for line in lines)


def test_known_at_is_shown_in_tokyo_time():
    result = invoke("events", "--family", "us_policy", "--kind", "trade_deal")
    assert result.exit_code == 0, result.output
    # public at 08:12 before the open: that morning's open is the first that can trade it
    assert "2025-07-22  2025-07-23 08:12  2025-07-23   us_policy  trade_deal" in result.output


def test_whole_calendar_and_several_families():
    shipped = load_events()
    everything = invoke("events")
    assert everything.exit_code == 0 and everything.output.splitlines()[-1] == f"{len(shipped)} events"
    two = invoke("events", "--family", "governance", "--family", "election")
    assert two.output.splitlines()[-1] == f"{len(shipped.select(['governance', 'election']))} events"
    assert len(two.output.splitlines()) == len(shipped.select(["governance", "election"])) + 2


def test_user_folder_is_merged():
    result = invoke("events", "--folder", FIXTURES, "--family", "fx_intervention")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "2 events"
    assert "yen_buying" in result.output and "9.79" in result.output


def test_unknown_family_exits_2_with_a_hint():
    result = invoke("events", "--family", "bojj")
    assert result.exit_code == 2
    assert result.output.strip() == "Error: event calendar: family: unknown event family 'bojj'. Did you mean 'boj'?"


def test_unknown_kind_exits_2_with_a_hint():
    result = invoke("events", "--family", "boj", "--kind", "hikes")
    assert result.exit_code == 2
    assert "no events of kind 'hikes' in family boj. Did you mean 'hike'?" in result.output


def test_missing_folder_exits_2():
    result = invoke("events", "--folder", REPO / "no_such_folder")
    assert result.exit_code == 2 and "event folder not found" in result.output


def test_help_has_an_example():
    result = invoke("events", "--help")
    assert result.exit_code == 0
    assert "Example:\n    themebt events\n    themebt events --family boj --kind hike" in result.output


def test_first_trade_is_the_first_open_after_the_news():
    result = CliRunner().invoke(main, ["events", "--family", "boj", "--kind", "hike"])
    assert result.exit_code == 0
    # the 2024-03-19 hike was announced during the session: decided at its close, traded at the next
    # open (03-20 was a holiday)
    assert "2024-03-19  2024-03-19 15:00  2024-03-21" in result.output


def test_check_shows_each_familys_frequency_and_what_it_misses():
    import pandas as pd

    from backtest.events.calendar import PACKAGE_FOLDER

    result = invoke("events", "--check", "--start", "2005-01-04", "--end", "2025-12-30")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:-1]}
    assert set(rows) == {"boj", "election", "governance", "shunto", "us_policy", "wages"}
    assert rows["boj"].split()[1:] == ["irregular", "not", "checked"]
    assert rows["shunto"].split()[1:] == ["yearly", "by", "March,", "first_tally", "2014", "to", "2025", "12", "0",
                                          "complete"]
    # wages: every month from its first release to December 2025, against the months the file has
    released = sorted({d[:7] for d in pd.read_csv(PACKAGE_FOLDER / "wages.csv")["event_date"]})
    y, m = map(int, released[0].split("-"))
    expected = []
    while (y, m) <= (2025, 12):
        expected.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    missing = [x for x in expected if x not in released]
    assert rows["wages"].split()[1:9] == ["monthly,", "monthly_survey", expected[0], "to", "2025-12",
                                          str(len(expected)), str(len(missing)), missing[0] + ","]
    assert result.output.splitlines()[-1].startswith("1 family with missing releases (wages)")


def test_check_of_one_family_and_a_bad_declaration(tmp_path):
    result = invoke("events", "--check", "--family", "shunto")
    assert result.exit_code == 0 and len(result.output.splitlines()) == 3
    assert result.output.splitlines()[-1] == "every family with a frequency is complete"
    (tmp_path / "mine.csv").write_text("family,kind,event_date,known_at\nmine,x,2024-01-05,2024-01-05T17:00:00+09:00\n")
    (tmp_path / "frequency.yaml").write_text("mine: {frequency: yearly, month: 0}\n")
    result = invoke("events", "--check", "--folder", tmp_path)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {tmp_path / 'frequency.yaml'}: mine.month: 0 is not a month number")
    result = invoke("events", "--start", "2024-01-04")
    assert result.exit_code == 2 and "--start and --end go with --check" in result.output
