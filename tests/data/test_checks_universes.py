"""backtest.data.checks (one case per problem) and the universes shipped in configs/universes/."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.checks import LONG_GAP, check_csv_path, check_frame
from backtest.market.instruments import instruments
from backtest.data.universes import UNIVERSE_DIR, load_universe, universe_names
from backtest.errors import ConfigError

GRID = tokyo_sessions("2024-01-04", "2024-03-29")


def bars(close, index=GRID, currency=None):
    close = np.asarray(close, dtype=float)
    frame = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e5},
                         index=index)
    return frame


def walk(n=len(GRID)):
    return 1000.0 * np.cumprod(1 + 0.003 * np.sin(np.arange(n)))


def checks(frame, **meta):
    return {(p.check, p.severity): p for p in check_frame(frame, "7203", "test", meta)}


def test_clean_history_has_no_problems():
    assert check_frame(bars(walk()), "7203", meta={"currency": "JPY"}) == []


def test_gaps_against_the_tokyo_calendar():
    frame = bars(walk()).drop(GRID[10:10 + LONG_GAP])
    problem = checks(frame)[("gaps", "warning")]
    assert (problem.first, problem.count) == (str(GRID[10].date()), LONG_GAP)
    # a shorter stretch is sessions without a trade, as it is for a run (backtest.data.quality)
    assert ("gaps", "warning") not in checks(bars(walk()).drop(GRID[10:10 + LONG_GAP - 1]))


def test_an_etf_without_trades_has_no_gap():
    frame = bars(walk()).drop(GRID[10:10 + 2 * LONG_GAP])
    assert [p.check for p in check_frame(frame, "1630")] == []
    assert [p.check for p in check_frame(frame, "7203")] == ["gaps"]


def test_a_flat_row_on_a_closed_day_is_no_problem():
    close = walk()
    holiday = pd.Timestamp("2024-02-12")  # a substitute holiday, the exchange was closed
    before = GRID[GRID < holiday][-1]
    flat = pd.DataFrame({"open": close[GRID.get_loc(before)], "high": close[GRID.get_loc(before)],
                         "low": close[GRID.get_loc(before)], "close": close[GRID.get_loc(before)],
                         "volume": np.nan}, index=pd.DatetimeIndex([holiday]))
    frame = pd.concat([bars(close), flat]).sort_index()
    assert ("off_calendar", "warning") not in checks(frame)
    frame.loc[holiday, "close"] *= 1.01  # a row that does carry a price is reported
    assert checks(frame)[("off_calendar", "warning")].first == "2024-02-12"


def test_rows_on_closed_days():
    extra = bars([1000.0], index=pd.DatetimeIndex(["2024-02-11"]))  # a Sunday and a holiday
    frame = pd.concat([bars(walk()), extra]).sort_index()
    assert checks(frame)[("off_calendar", "warning")].first == "2024-02-11"


def test_unadjusted_split_is_fatal():
    close = walk()
    close[30:] /= 5
    problem = checks(bars(close))[("split", "fatal")]
    assert problem.first == str(GRID[30].date()) and "x0.20" in problem.detail


def test_outlier_is_a_warning():
    close = walk()
    close[40:] *= 1.3
    problem = checks(bars(close))[("outlier", "warning")]
    assert problem.first == str(GRID[40].date()) and "the largest +30." in problem.detail


def test_stale_run_and_stale_tail():
    close = walk()
    close[20:27] = close[19]
    found = [p for p in check_frame(bars(close), "7203") if p.check == "stale"]
    assert [p.first for p in found] == [str(GRID[20].date())] and "first has 7 rows" in found[0].detail
    tail = [p for p in check_frame(bars(walk()), "7203", meta={"requested": {"end": "2024-06-28"}}) if p.check == "stale"]
    assert tail and "before the end of the span asked for, 2024-06-28" in tail[0].detail


def test_high_low_inconsistency():
    frame = bars(walk())
    frame.iloc[5, frame.columns.get_loc("high")] = frame["low"].iloc[5] * 0.9
    assert checks(frame)[("range", "warning")].first == str(GRID[5].date())


def test_currency():
    assert checks(bars(walk()), currency="USD")[("currency", "fatal")].detail == "prices are in USD, not JPY"
    assert ("currency", "warning") in checks(bars(walk() / 1000))


def test_proxy_and_empty():
    assert checks(bars(walk()), proxy="1306.T stands in")[("proxy", "warning")].detail == "1306.T stands in"
    assert ("empty", "fatal") in checks(bars(walk())[:0])


def test_check_a_folder_of_csv_files(tmp_path):
    (tmp_path / "good.csv").write_text("Date,Open,High,Low,Close\n2024-01-04,10,11,9,10\n2024-01-05,10,11,9,10.5\n")
    (tmp_path / "bad.csv").write_text("Date;Open;High;Low;Close\n2024-01-04;10;11;9;10\n")
    problems = check_csv_path(tmp_path)
    assert [(p.ticker, p.check, p.severity) for p in problems] == [("bad", "unreadable", "fatal")]
    assert "semicolons" in problems[0].detail


# ----- universes ------------------------------------------------------------------------------------


def test_every_shipped_universe_loads():
    names = universe_names()
    assert {"topix17_etfs", "robotics_fa", "domestic_demand", "banks_insurers", "exporters", "governance"} <= set(names)
    known = instruments()
    for name in names:
        universe = load_universe(name)
        assert universe.benchmark == "TOPIX" and universe.with_benchmark()[0] == "TOPIX"
        for member in universe.members:
            assert member.code in known, f"{name}: {member.code} is not in backtest/market/instruments.csv"
            assert member.name == known[member.code].name


def test_universes_match_the_reference_list():
    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "universe.csv"
    if not path.is_file():
        pytest.skip("../shared/data/real is not present")
    tags = {}
    for row in csv.DictReader(path.open(encoding="utf-8")):
        tags.setdefault(row["theme"].replace("_extra", ""), set()).add(row["code"])
    assert set(load_universe("robotics_fa").tickers) == tags["robotics_fa"]
    assert set(load_universe("banks_insurers").tickers) == tags["banks_insurers"]
    assert set(load_universe("exporters").tickers) == tags["exporters"]
    assert set(load_universe("topix17_etfs").tickers) == tags["topix17_sector"]
    domestic = tags["domestic_retail"] | tags["domestic_food"] | tags["domestic_rail"] | tags["domestic_services"]
    assert set(load_universe("domestic_demand").tickers) == domestic


def test_universe_by_path_and_by_name():
    assert load_universe(UNIVERSE_DIR / "exporters.yaml").tickers == load_universe("exporters").tickers
    assert load_universe("configs/universes/exporters.yaml").name == "exporters"


@pytest.mark.parametrize("text, words", [
    ("name: x\ntickers:\n  - {code: 1306, name: a, sector: b}\n", "tickers[0].code: expected a quoted string, got 1306"),
    ("name: x\ntickers:\n  - {code: \"1306\", name: a, sectr: b}\n", "tickers[0].sectr: unknown key. Did you mean 'sector'?"),
    ("name: x\ntickers:\n  - {code: \"1306\", name: a, sector: b}\n  - {code: \"1306\", name: a, sector: b}\n",
     "tickers[1].code: 1306 is listed twice"),
    ("name: x\ntickers: []\n", "tickers: expected a non-empty list"),
    ("name: x\nbenchmrk: TOPIX\ntickers: []\n", "benchmrk: unknown key. Did you mean 'benchmark'?"),
])
def test_universe_errors(tmp_path, text, words):
    path = tmp_path / "u.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_universe(path)
    assert words in str(info.value)


def test_unknown_universe_suggests_a_name():
    with pytest.raises(ConfigError, match="Did you mean 'exporters'"):
        load_universe("exporter")
