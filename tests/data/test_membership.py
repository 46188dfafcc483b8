"""Universes with history: dated membership files, their errors, and the synthetic demo universe."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.data import DataSource, load_prices
from backtest.data.membership import load_membership
from backtest.errors import ConfigError
from backtest.execution.facts import with_universes
from tests.conftest import REPO, make_spec


def _write(tmp_path, text, name="mine.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_dated_universe_gives_members_on_each_date(tmp_path):
    path = _write(tmp_path, "# comment\nticker,from,to,name\n7203,2010-01-04,,Toyota\n6758,2005-01-04,2012-03-30,Sony\n"
                            "6758,2015-04-01,2016-03-31,Sony\n")
    m = load_membership(path)
    assert m.dated and not m.synthetic
    assert m.members_on("2009-12-30") == ["6758"]
    assert m.members_on("2012-03-30") == ["6758", "7203"]  # `to` is the last day a member
    assert m.members_on("2012-04-02") == ["7203"]
    assert m.members_on("2015-04-01") == ["6758", "7203"]
    assert m.members_on("2030-01-04") == ["7203"]


@pytest.mark.parametrize("text, field, words", [
    ("code,from,to\n7203,2010-01-04,\n", "(header)", "no column 'ticker'"),
    ("ticker,from,to\nToyota,2010-01-04,\n", "line 2, ticker", "not a TSE code"),
    ("ticker,from,to\n7203,2010-13-04,\n", "line 2, from", "not a date"),
    ("ticker,from,to\n7203,,\n", "line 2, from", "missing"),
    ("ticker,from,to\n7203,2010-01-04,2009-01-05\n", "line 2, to", "before from"),
    ("ticker,from,to\n7203,2010-01-04,2012-01-04\n7203,2011-06-01,\n", "line 3", "overlaps"),
    ("ticker,from,to\n7203,2010-01-04\n", "line 2", "2 cells for 3 columns"),
    ("ticker,from,to\n", "(rows)", "no members"),
])
def test_a_bad_membership_file_is_one_clear_error(tmp_path, text, field, words):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_membership(path)
    assert str(err.value).startswith(f"{path}: {field}: ")
    assert words in str(err.value)


def test_a_static_universe_is_a_membership_without_dates():
    m = load_membership("governance")
    assert not m.dated and "8306" in m.members_on("2005-01-04") and "8306" in m.members_on("2025-12-30")


def test_the_demo_universe_is_synthetic_with_listings_delistings_and_an_index_change():
    m = load_membership("demo_market")
    assert m.dated and m.synthetic
    text = (REPO / "configs" / "universes" / "demo_market.csv").read_text()
    assert text.startswith("# SYNTHETIC")
    assert "6098" not in m.members_on("2014-10-15") and "6098" in m.members_on("2014-10-16")
    assert "8308" in m.members_on("2015-09-30") and "8308" not in m.members_on("2015-10-01")
    assert "9041" not in m.members_on("2013-06-03") and "9041" in m.members_on("2014-01-06")


def test_demo_prices_follow_the_synthetic_listings_and_delistings():
    spec = make_spec("governance_reform")
    prices = load_prices(DataSource("demo"), spec.tickers, "2015-09-01", "2016-12-30", coverage="require")
    full = with_universes(spec, prices, load_prices)
    assert "TOPIX" in full.tickers and {"8308", "2587", "9041", "6861"} <= set(full.tickers)
    days = full.sessions
    sold = full.close["8308"]
    # 8308: delisted after 2015-09-30: prices up to that day, none after
    assert sold[days <= "2015-09-30"].notna().all() and sold[days > "2015-09-30"].isna().all()
    assert full.coverage["8308"][1] == "2015-09-30"
    listed = full.close["6861"]  # listed 2016-06-01
    assert listed[days < "2016-06-01"].isna().all() and listed[days >= "2016-06-01"].notna().all()
    # an index change is not a delisting: 9041 trades throughout
    assert full.close["9041"].notna().all()
    np.testing.assert_array_equal(full.close["TOPIX"].to_numpy(), prices.close["TOPIX"].to_numpy())
