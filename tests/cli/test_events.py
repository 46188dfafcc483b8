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
