"""The governance theme on the demo runs from its screen, and baskets.csv is what the rule gives by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import backtest as tb
from backtest.cli.main import main
from backtest.data import DataSource, load_prices
from backtest.data.fundamentals import load_fundamentals
from tests.conftest import REPO

CONFIG = REPO / "configs" / "governance_reform.yaml"
PERIOD = ("2023-01-04", "2023-08-31")  # the TSE's request of 2023-03-31 (17:00): screened monthly from April
RESULTS = ("net_sales", "operating_profit", "ordinary_profit", "profit", "equity", "total_assets", "eps", "bps")
MONTHS = {"1Q": 3, "2Q": 6, "3Q": 9, "FY": 12}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = CliRunner().invoke(main, ["run", str(CONFIG), "--start", PERIOD[0], "--end", PERIOD[1],
                                       "--no-tearsheet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DEMO DATA" in result.output
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _by_hand(point: int, sessions: pd.DatetimeIndex, close: pd.DataFrame, disclosures: pd.DataFrame,
             members: pd.DataFrame) -> pd.DataFrame:
    """The screen pb < 1 and roe < 0.08, rank pb, top 10, from the files and the rule alone (2023: close 15:00)."""
    i = point // 2
    day = sessions[i]
    if point % 2 == 0:  # before session i's open: news up to 09:00 that day, prices up to the previous close
        known_by = pd.Timestamp(f"{day.date()} 09:00", tz="Asia/Tokyo")
        price = close.iloc[:i].ffill().iloc[-1]
    else:  # at session i's close
        known_by = pd.Timestamp(f"{day.date()} 15:00", tz="Asia/Tokyo")
        price = close.iloc[: i + 1].ffill().iloc[-1]
    start = pd.to_datetime(members["from"])
    end = pd.to_datetime(members["to"]).fillna(pd.Timestamp("2999-12-31"))
    member = sorted(set(members.loc[(start <= day) & (day <= end), "ticker"]))
    rows = []
    for code in member:
        mine = disclosures[(disclosures["code"] == code) & (disclosures["disclosed_at"] <= known_by)]
        mine = mine[mine[list(RESULTS)].notna().any(axis=1)]
        if mine.empty or not np.isfinite(price.get(code, np.nan)):
            continue
        latest = mine.sort_values(["period_end", "disclosed_at"]).iloc[-1]
        if not latest["bps"] > 0 or not latest["equity"] > 0:
            continue
        pb = price[code] / latest["bps"]
        roe = latest["profit"] * 12 / MONTHS[latest["period_type"]] / latest["equity"]
        if pb < 1 and roe < 0.08:
            rows.append((code, pb, roe))
    rows.sort(key=lambda r: (r[1], r[0]))
    return pd.DataFrame(rows[:10], columns=["ticker", "pb", "roe"])


def test_baskets_csv_is_the_rule_computed_by_hand_at_every_rebalance(folder):
    baskets = pd.read_csv(folder / "baskets.csv", dtype={"ticker": str})
    assert list(baskets.columns) == ["date", "point", "ticker", "rank", "pb", "roe"]
    members = pd.read_csv(REPO / "configs" / "universes" / "demo_market.csv", comment="#", dtype={"ticker": str})
    codes = sorted(set(members["ticker"]))
    prices = load_prices(DataSource("demo"), codes, PERIOD[0], PERIOD[1])
    disclosures = load_fundamentals("demo").frame
    points = sorted(baskets["point"].unique())
    # the request is known at 17:00 on Friday 2023-03-31: the first choice is at Monday's pre-open point
    sessions = prices.sessions
    assert points[0] == 2 * sessions.get_loc(pd.Timestamp("2023-04-03"))
    # the milestone's pre-open point (the last close seen is March's), then the first close of April .. August
    assert points[1] == points[0] + 1 and len(points) == 6
    for point in points:
        got = baskets[baskets["point"] == point].reset_index(drop=True)
        expected = _by_hand(int(point), sessions, prices.close, disclosures, members)
        assert got["ticker"].tolist() == expected["ticker"].tolist(), point
        assert got["rank"].tolist() == list(range(1, len(expected) + 1))
        np.testing.assert_allclose(got["pb"], expected["pb"], rtol=1e-9)
        np.testing.assert_allclose(got["roe"], expected["roe"], rtol=1e-9)
        # date: the last session the point has seen, as asof in orders.csv
        assert got["date"].iloc[0] == str(sessions[max((point - 1) // 2, 0)].date())


def test_the_governance_demo_buys_what_its_screen_chose_and_says_it_is_synthetic(folder):
    baskets = pd.read_csv(folder / "baskets.csv", dtype={"ticker": str})
    orders = pd.read_csv(folder / "orders.csv", dtype={"ticker": str})
    first = baskets[baskets["point"] == baskets["point"].min()]
    day = first["date"].iloc[0]
    bought = orders[(orders["asof"] == day) & (orders["side"] == "buy")]["ticker"]
    assert set(bought) == set(first["ticker"])  # TOPIX is only sold to pay for them
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data"]["synthetic"] is True
    assert "baskets.csv" in manifest["files"]
    config = (folder / "config.yaml").read_text()
    assert "screen:" in config and "pb < 1" in config
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["survivorship"] is None  # no fixed list of names: the screen picks among the members of each date


def test_the_api_writes_the_same_baskets_csv(folder, tmp_path):
    run = tb.run(CONFIG, start=PERIOD[0], end=PERIOD[1])
    assert run.computed.result.baskets is not None
    written = run.write(tmp_path, tearsheet=False, ledger=False)
    assert (written / "baskets.csv").read_bytes() == (folder / "baskets.csv").read_bytes()


def test_a_screened_theme_with_a_delisting_agrees_on_both_engines():
    import dataclasses

    from backtest.config import load_config
    from backtest.execution.backtrader.engine import run_backtest
    from backtest.execution.screening import run_fast
    from backtest.research.run import load_run_inputs

    # 2015-06 .. 2016-01: the governance code's window, and 8308 (chosen in June) delisted after 2015-09-30
    spec = dataclasses.replace(load_config(CONFIG), start=pd.Timestamp("2015-05-01").date(),
                               end=pd.Timestamp("2016-01-29").date())
    prices, events, plan, _ = load_run_inputs(spec)
    reference = run_backtest(spec, prices, events, plan=plan)
    fast = run_fast(spec, prices, events, plan=plan)
    orders, trades = fast.records.frames()
    pd.testing.assert_frame_equal(orders, reference.orders, check_exact=False, rtol=1e-9)
    pd.testing.assert_frame_equal(trades, reference.trades, check_exact=False, rtol=1e-9)
    np.testing.assert_allclose(fast.values.to_numpy(), reference.values.to_numpy(), rtol=1e-9)
    sale = reference.trades[(reference.trades["ticker"] == "8308") & (reference.trades["side"] == "sell")]
    assert str(sale["fill_date"].iloc[-1]) == "2015-09-30"
    assert sale["price"].iloc[-1] == pytest.approx(prices.close["8308"].loc["2015-09-30"], rel=1e-3)
    assert reference.positions["8308"].loc["2015-09-30":].eq(0).all()


def test_a_study_of_the_screened_theme_holds_at_each_event_what_the_screen_chose_then(tmp_path):
    """themebt study --config on the governance theme: no fixed list, so each event's basket is the screen at
    the decision point that first trades the event (the TSE's request, 17:00 on 2023-03-31: Monday's pre-open),
    computed here by hand from the files; the study's abnormal returns are that basket's."""
    result = CliRunner().invoke(main, ["study", "--config", str(CONFIG), "--start", "2021-06-01", "--end", PERIOD[1],
                                       "--after", "20", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "basket chosen at each event by the screen demo_market: pb < 1 and roe < 0.08" in result.stdout
    (study,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.startswith("study-")]
    doc = json.loads((study / "study.json").read_text())
    (event,) = doc["events"]  # the 2021 revision's estimation window starts before the data
    assert event["event_date"] == "2023-03-31" and event["day0"] == "2023-04-03"
    members = pd.read_csv(REPO / "configs" / "universes" / "demo_market.csv", comment="#", dtype={"ticker": str})
    prices = load_prices(DataSource("demo"), sorted(set(members["ticker"])), "2021-06-01", PERIOD[1])
    sessions = prices.sessions
    point = 2 * sessions.get_loc(pd.Timestamp("2023-04-03"))
    expected = _by_hand(point, sessions, prices.close, load_fundamentals("demo").frame, members)
    assert event["basket"] == expected["ticker"].tolist() and len(expected) >= 2
    assert doc["basket"] == sorted(expected["ticker"]) and "screen" in doc["basket_rule"]
    # day 0's abnormal return: the chosen names' mean close-to-close return less TOPIX's, from the prices
    topix = load_prices(DataSource("demo"), ["TOPIX"], "2021-06-01", PERIOD[1]).close["TOPIX"]
    i = sessions.get_loc(pd.Timestamp("2023-04-03"))
    names = prices.close[expected["ticker"].tolist()]
    day0 = float((names.iloc[i] / names.iloc[i - 1] - 1).mean() - (topix.iloc[i] / topix.iloc[i - 1] - 1))
    car = pd.read_csv(study / "car.csv", index_col=0)
    before = int(doc["settings"]["before"])
    ar0 = car.iloc[0][f"{0:+d}"] - car.iloc[0][f"{-1:+d}"] if before else car.iloc[0]["+0"]
    assert ar0 == pytest.approx(day0, abs=1e-12)
