"""Two themes on real Tokyo history through the csv source, checked against the files' own prices.

Runs only where ../shared/data/real exists (it is not part of the repository); skips cleanly elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.config import spec_from_mapping
from backtest.errors import ConfigError
from backtest.research.run import execute_run
from strategies.registry import get_theme, register_theme
from tests.conftest import REPO

REAL = Path(__file__).resolve().parents[3] / "shared/data/real"
START, END = "2016-03-01", "2025-12-30"
# The run buys at the first session's close, the price the benchmark starts from, in whole units, and
# its leftover cash (under one TOPIX unit, about ¥1,000 on ¥100,000,000) stays idle.
HOLD_TOLERANCE = 1e-4

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="../shared/data/real is not present")


def hold_theme() -> str:
    """buy_and_hold where a theme of that name is shipped; otherwise a test-only stand-in."""
    try:
        get_theme("buy_and_hold")
        return "buy_and_hold"
    except ConfigError:
        pass
    from strategies.base import ThemeStrategy

    try:
        return get_theme("_test_hold_benchmark").theme_key
    except ConfigError:
        @register_theme("_test_hold_benchmark")
        class HoldBenchmark(ThemeStrategy):
            """Hold the benchmark from the first session (test only)."""

            params = dict()

            def target_weights(self, view):
                return {view.benchmark: 1.0} if view.previous() is None else None

        return "_test_hold_benchmark"


def run(theme: str, tmp_path: Path):
    spec = spec_from_mapping({
        "theme": theme,
        "benchmark": "TOPIX",
        "period": {"start": START, "end": END},
        "execution": {"cash_jpy": 100_000_000, "commission_bps": 0, "slippage_bps": 0},
        "data": {"source": "csv", "path": str(REAL), "files": {"TOPIX": "index/topix_daily.csv"}},
    }, file=f"{theme} on real history")
    return execute_run(spec, tmp_path, tearsheet=False)


def file_close() -> pd.Series:
    frame = pd.read_csv(REAL / "index" / "topix_daily.csv", parse_dates=["Date"], index_col="Date")
    return frame["Close"].loc[START:END]


def test_buy_and_hold_topix_reproduces_the_files_own_returns(tmp_path):
    outcome = run(hold_theme(), tmp_path)
    assert not outcome.synthetic
    returns = outcome.result.returns
    close = file_close()
    assert returns.index[0] == close.index[0] and returns.index[-1] == close.index[-1]

    # the benchmark column is TOPIX close to close, exactly
    bench_total = (1 + returns["TOPIX"]).prod() - 1
    assert bench_total == pytest.approx(close.iloc[-1] / close.iloc[0] - 1, rel=1e-9)

    # bought at the first close, the portfolio moves with TOPIX close to close from the start
    fill = pd.Timestamp(outcome.result.trades["fill_date"].iloc[0])
    assert fill == close.index[0]
    held = (1 + returns[outcome.result.strategy_name]).prod()
    assert held == pytest.approx(close.iloc[-1] / close.iloc[0], rel=HOLD_TOLERANCE)
    assert outcome.metrics["benchmark"]["cagr"] > 0


@pytest.mark.parametrize("benchmark,file", [("TOPIX", "index/topix_daily.csv"), ("1306", "etf/1306.csv")])
def test_a_costless_buy_and_hold_of_the_benchmark_shows_no_excess_return(tmp_path, benchmark, file):
    """Both legs start from one price, so holding the benchmark instrument, with costs and the volume
    cap off, beats it by nothing: under 0.01% a year, computed here from the file's own closes."""
    spec = spec_from_mapping({
        "theme": hold_theme(), "benchmark": benchmark, "period": {"start": START, "end": END},
        "execution": {"cash_jpy": 100_000_000, "commission_bps": 0, "slippage_bps": 0, "impact_coefficient": 0,
                      "max_participation": None, "lot_sizes": {benchmark: 1}},
        "data": {"source": "csv", "path": str(REAL), "files": {benchmark: file}},
    }, file=f"{benchmark} on real history")
    outcome = execute_run(spec, tmp_path, tearsheet=False)
    raw = pd.read_csv(REAL / file, parse_dates=["Date"], index_col="Date")["Close"].loc[START:END]
    years = len(raw) / 244.0
    strategy = outcome.result.values.iloc[-1] / 100_000_000
    excess = strategy ** (1 / years) - (raw.iloc[-1] / raw.iloc[0]) ** (1 / years)
    assert abs(excess) < 1e-4, excess
    assert abs(outcome.metrics["relative"]["excess_cagr"]) < 1e-4


def test_boj_rotation_runs_on_real_sector_etfs(tmp_path):
    outcome = run("boj_rotation", tmp_path)
    result = outcome.result
    assert not outcome.synthetic and (outcome.folder / "manifest.json").is_file()
    traded = set(result.trades["ticker"])
    assert {"1631", "1632"} & traded, "the 2024-2025 hikes rotate into the bank and financials ETFs"
    assert result.returns.notna().all().all()
    assert (result.values > 0).all()


def _real(spec_raw: dict):
    return spec_from_mapping({"benchmark": "TOPIX",
                              "data": {"source": "csv", "path": str(REAL), "files": {"TOPIX": "index/topix_daily.csv"}},
                              **spec_raw}, file="real history")


def test_the_trade_deal_known_at_0812_trades_at_that_mornings_open_on_real_prices(tmp_path):
    spec = _real({"theme": "robotics_reindustrialization", "period": {"start": "2025-06-02", "end": "2025-09-30"},
                  "params": {"kinds": ["trade_deal"]}, "execution": {"commission_bps": 0, "slippage_bps": 0}})
    result = execute_run(spec, tmp_path, tearsheet=False).result
    buys = result.trades[result.trades["side"] == "buy"]
    robot = buys[buys["ticker"] != "TOPIX"]
    assert set(robot["fill_date"].astype(str)) == {"2025-07-23"}
    assert set(robot["asof"].astype(str)) == {"2025-07-22"}
    # each fill is that morning's open in the file (plus at most the impact), never a later price
    for row in robot.itertuples():
        day = pd.read_csv(REAL / "stocks" / f"{row.ticker}.csv", index_col="Date").loc["2025-07-23"]
        assert day["Open"] <= row.price <= day["High"]


def test_no_real_fill_is_larger_than_its_share_of_the_sessions_volume(tmp_path):
    spec = _real({"theme": "boj_rotation", "period": {"start": "2024-01-04", "end": "2025-06-30"}})
    result = execute_run(spec, tmp_path, tearsheet=False).result
    etf = result.trades[result.trades["ticker"].isin(["1631", "1632"])]
    assert len(etf)
    for row in etf.itertuples():
        volume = pd.read_csv(REAL / "etf" / f"{row.ticker}.csv", index_col="Date").loc[str(row.fill_date), "Volume"]
        assert row.shares <= 0.1 * volume + 1e-9
    assert result.capacity["largest_participation"] <= 0.1 + 1e-12


def test_a_sector_etf_before_its_first_real_row_is_refused_as_not_listed(tmp_path):
    from backtest.data import load_prices, parse_data_option
    from backtest.execution.backtrader.engine import run_backtest
    from tests.conftest import make_spec

    prices = load_prices(parse_data_option(f"csv:{REAL}", {"TOPIX": "index/topix_daily.csv"}), ["TOPIX", "1631"],
                         "2016-01-04", "2016-03-31")
    assert pd.isna(prices.close["1631"].iloc[0])  # the file starts on 2016-02-04
    spec = make_spec("buy_and_hold", {"basket": ["1631"]}, commission_bps=0, slippage_bps=0)
    result = run_backtest(spec, prices)
    assert list(result.orders["status"]) == ["refused"]
    assert result.orders["reason"].iloc[0].startswith("not listed yet")
    assert (result.positions["1631"] == 0).all()


def _window_theme_by_hand(family: str, kinds: list[str], basket: list[str], holding: int, overweight: float,
                          start: str, end: str):
    """A window theme recomputed from the CSV files and the shipped event file alone: for `holding` sessions
    from the first open after each event, TOPIX with `overweight` moved into the basket in equal parts,
    else all TOPIX. News out by 09:00 trades at that day's open (or the next session's, on a holiday);
    later news at the next session's open; every trade is sized on the last close. The first portfolio is
    bought at the first close. Frictionless, fractional shares. Returns (final value of ¥1e10, the
    sessions on which the holdings change)."""
    topix = pd.read_csv(REAL / "index" / "topix_daily.csv", parse_dates=["Date"], index_col="Date")
    all_days = topix.index  # the file's own session list, before the period too
    days = topix.loc[start:end].index
    opens = pd.DataFrame({"TOPIX": topix["Open"]}).reindex(days)
    closes = pd.DataFrame({"TOPIX": topix["Close"]}).reindex(days)
    for code in basket:
        frame = pd.read_csv(REAL / "stocks" / f"{code}.csv", parse_dates=["Date"], index_col="Date")
        opens[code], closes[code] = frame["Open"].reindex(days), frame["Close"].reindex(days)
    closes = closes.ffill()
    events = pd.read_csv(REPO / "backtest" / "events" / "data" / f"{family}.csv")
    events = events[events["kind"].isin(kinds)]
    first = []
    for stamp in events["known_at"]:
        day, clock = pd.Timestamp(stamp[:10]), stamp[11:16]
        first.append(int(all_days.searchsorted(day, side="left" if clock <= "09:00" else "right")))

    def in_window(s: int) -> bool:  # s: position in all_days of the session whose open is asked about
        started = [f for f in first if f <= s]
        return bool(started) and s - max(started) < holding

    inside = {"TOPIX": 1.0 - overweight, **{c: overweight / len(basket) for c in basket}}
    outside = {"TOPIX": 1.0}
    names = list(closes.columns)
    offset = int(all_days.get_loc(days[0]))
    cash = 10_000_000_000.0
    state = in_window(offset)
    target = inside if state else outside
    held = np.array([target.get(n, 0.0) * cash / closes[n].iloc[0] for n in names])
    cash -= float(held @ closes.iloc[0].to_numpy())
    switches = []
    for t in range(1, len(days)):
        now = in_window(offset + t)
        if now != state:
            value = cash + float(held @ closes.iloc[t - 1].to_numpy())
            target = inside if now else outside
            want = np.array([target.get(n, 0.0) * value / closes[n].iloc[t - 1] for n in names])
            cash -= float((want - held) @ opens.iloc[t].to_numpy())
            held, state = want, now
            switches.append(str(days[t].date()))
    return cash + float(held @ closes.iloc[-1].to_numpy()), switches


FRICTIONLESS = {"cash_jpy": 10_000_000_000, "commission_bps": 0, "slippage_bps": 0, "impact_coefficient": 0,
                "max_participation": None, "ticks": False, "price_limits": False}


@pytest.mark.parametrize("theme,family,kinds,basket,holding,overweight", [
    # milestones published at 17:00: traded at the next session's open
    ("governance_reform", "governance", ["governance_code", "governance_code_revision", "cost_of_capital_request"],
     ["8306", "8316", "8411", "8308", "8309", "8766", "8725", "8630", "8750"], 250, 0.5),
    # US news known by 09:00 Tokyo time (the trade deal at 08:12): traded at that morning's open
    ("robotics_reindustrialization", "us_policy", ["industrial_policy", "tariff", "trade_deal"],
     ["6954", "6506", "6861", "6273", "6268", "6324", "6383", "6645"], 120, 0.3),
])
def test_a_window_theme_on_real_prices_matches_a_calculation_from_the_files_and_the_rule(
        tmp_path, theme, family, kinds, basket, holding, overweight):
    start, end = "2016-02-05", "2025-12-30"
    spec = _real({"theme": theme, "period": {"start": start, "end": end}, "execution": FRICTIONLESS})
    result = execute_run(spec, tmp_path, tearsheet=False).result
    expected, switches = _window_theme_by_hand(family, kinds, basket, holding, overweight, start, end)
    # measured gaps under 0.1% over ten years: whole units of 100 and buys trimmed to the cash at an open
    assert result.values.iloc[-1] == pytest.approx(expected, rel=2e-3), (result.values.iloc[-1], expected)
    # and the trades happened exactly on the sessions the rule gives
    assert sorted(set(result.trades["fill_date"].astype(str)) - {start}) == switches
