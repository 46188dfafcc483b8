"""TSE tick tables: hand-checked steps, rounding against the trader, which table applies when, bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.config import spec_from_mapping
from backtest.errors import ConfigError
from backtest.market.ticks import TickSchedule, read_membership, shipped_membership, tables

TABLES = tables()


@pytest.mark.parametrize("table,price,tick", [
    ("standard", 3000, 1), ("standard", 3000.5, 5), ("standard", 5000, 5), ("standard", 5001, 10),
    ("standard", 30000, 10), ("standard", 30010, 50), ("standard", 60000, 100), ("standard", 6e7, 100000),
    ("fine", 1000, 0.1), ("fine", 1000.1, 0.5), ("fine", 3000, 0.5), ("fine", 3001, 1), ("fine", 10000, 1),
    ("fine", 10005, 5), ("fine", 60000, 10), ("fine", 4e7, 10000),
    ("topix100_2014a", 2500, 1), ("topix100_2014a", 9999, 1), ("topix100_2014a", 40000, 5),
    ("topix100_2014b", 999, 0.1), ("topix100_2014b", 4000, 0.5), ("topix100_2014b", 40000, 5),
    ("etf_unit1", 4000, 1), ("etf_unit1", 10000, 1), ("etf_unit1", 12000, 5),
])
def test_tick_sizes_match_the_published_tables(table, price, tick):
    assert TABLES[table].tick(price) == tick


@pytest.mark.parametrize("table,price,up,down", [
    ("standard", 3000.2, 3005, 3000), ("standard", 2999.2, 3000, 2999), ("standard", 1234.0, 1234, 1234),
    ("standard", 5004.0, 5010, 5000), ("fine", 999.93, 1000.0, 999.9), ("fine", 1000.05, 1000.5, 1000.0),
    ("fine", 2999.7, 3000.0, 2999.5), ("fine", 3000.2, 3001, 3000), ("topix100_2014a", 5000.4, 5001, 5000),
])
def test_buys_round_up_and_sells_round_down_onto_the_grid(table, price, up, down):
    t = TABLES[table]
    assert t.up(price) == pytest.approx(up) and t.down(price) == pytest.approx(down)
    assert t.on_grid(t.up(price)) and t.on_grid(t.down(price))


@settings(max_examples=300, deadline=None)
@given(price=st.floats(1.0, 2e8), name=st.sampled_from(sorted(TABLES)))
def test_rounding_always_lands_on_the_grid_within_one_tick(price, name):
    t = TABLES[name]
    up, down = t.up(price), t.down(price)
    assert down <= price + 1e-6 and up >= price - 1e-6
    assert t.on_grid(up) and t.on_grid(down)
    assert up - down <= t.tick(up) + 1e-9


def _schedule(kinds, lots, closes, start, end, membership=None):
    grid = tokyo_sessions(start, end)
    frame = pd.DataFrame({t: np.full(len(grid), c) if np.isscalar(c) else c for t, c in closes.items()}, index=grid)
    return grid, TickSchedule(grid, kinds, lots, frame, membership)


def _table_on(grid, schedule, ticker, day):
    table = schedule.table(ticker, list(grid).index(pd.Timestamp(day)))
    return None if table is None else table.name


def test_large_constituents_change_table_on_each_published_date():
    grid, sched = _schedule({"7203": "stock", "9999": "stock", "TOPIX": "index"}, {"7203": 100, "9999": 100},
                            {"7203": 5000.0, "9999": 5000.0, "TOPIX": 2000.0}, "2013-12-02", "2015-10-30")
    assert _table_on(grid, sched, "7203", "2014-01-10") == "standard"
    assert _table_on(grid, sched, "7203", "2014-01-14") == "topix100_2014a"
    assert _table_on(grid, sched, "7203", "2014-07-18") == "topix100_2014a"
    assert _table_on(grid, sched, "7203", "2014-07-22") == "topix100_2014b"
    assert _table_on(grid, sched, "7203", "2015-09-24") == "fine"
    assert _table_on(grid, sched, "9999", "2015-09-24") == "standard"
    assert sched.table("TOPIX", 0) is None, "an index is held as if through a fund: no ticks"


def test_topix500_names_move_to_the_fine_table_on_2023_06_05():
    grid, sched = _schedule({"6324": "stock"}, {"6324": 100}, {"6324": 5000.0}, "2023-05-29", "2023-06-09")
    assert _table_on(grid, sched, "6324", "2023-06-02") == "standard"
    assert _table_on(grid, sched, "6324", "2023-06-05") == "fine"


def test_etfs_follow_the_2021_and_2025_rules_with_the_unit_1_switch():
    grid = tokyo_sessions("2021-11-22", "2025-05-12")
    close = np.full(len(grid), 8000.0)
    drop = list(grid).index(pd.Timestamp("2022-03-01"))
    close[drop:] = 4800.0
    rise = list(grid).index(pd.Timestamp("2022-06-01"))
    close[rise:] = 7200.0
    frame = pd.DataFrame({"1306": 3000.0, "1617": close}, index=grid)
    sched = TickSchedule(grid, {"1306": "etf", "1617": "etf"}, {"1306": 10, "1617": 1}, frame)
    name = lambda t, d: sched.table(t, list(grid).index(pd.Timestamp(d))).name
    assert name("1306", "2021-11-26") == "standard" and name("1306", "2021-11-29") == "fine"
    assert name("1617", "2021-11-29") == "fine"
    # a close at or below 5,000 on D switches the table two sessions later, and back above 7,000 likewise
    assert name("1617", grid[drop + 1]) == "fine" and name("1617", grid[drop + 2]) == "standard"
    assert name("1617", grid[rise + 1]) == "standard" and name("1617", grid[rise + 2]) == "fine"
    assert name("1617", "2025-05-07") == "etf_unit1"


def test_a_user_membership_file_replaces_the_shipped_demo_list(tmp_path):
    path = tmp_path / "large.csv"
    path.write_text("ticker,from,to\n9999,2020-01-06,2020-06-30\n")
    members = read_membership(path)
    grid = tokyo_sessions("2020-01-06", "2020-07-31")
    assert members.mask("9999", grid).sum() == len(tokyo_sessions("2020-01-06", "2020-06-30"))
    assert not members.mask("7203", grid).any()
    assert shipped_membership().mask("7203", grid).all()


BAD_TABLES = {
    "unsorted": ([{"up_to_jpy": 3000, "tick_jpy": 1}, {"up_to_jpy": 2000, "tick_jpy": 5}, {"tick_jpy": 10}],
                 "execution.ticks.tables.standard[1].up_to_jpy: 2000 is below the previous row's 3000: the rows are not sorted"),
    "overlapping": ([{"up_to_jpy": 3000, "tick_jpy": 1}, {"up_to_jpy": 3000, "tick_jpy": 5}, {"tick_jpy": 10}],
                    "execution.ticks.tables.standard[1].up_to_jpy: overlaps the row before it"),
    "negative": ([{"up_to_jpy": 3000, "tick_jpy": -1}, {"tick_jpy": 10}],
                 "execution.ticks.tables.standard[0].tick_jpy: must be a number above 0, got -1.0"),
    "no_open_end": ([{"up_to_jpy": 3000, "tick_jpy": 1}], "the last row has an upper bound"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_a_bad_tick_table_in_the_config_is_named_with_its_fix(case):
    rows, message = BAD_TABLES[case]
    raw = {"theme": "boj_rotation", "execution": {"ticks": {"tables": {"standard": rows}}}}
    with pytest.raises(ConfigError) as err:
        spec_from_mapping(raw, file="t.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("t.yaml: execution.ticks.tables.standard")


def test_an_unknown_tick_table_name_suggests_the_closest():
    raw = {"theme": "boj_rotation", "execution": {"ticks": {"tables": {"standart": [{"tick_jpy": 1}]}}}}
    with pytest.raises(ConfigError, match="Did you mean 'standard'"):
        spec_from_mapping(raw, file="t.yaml")
