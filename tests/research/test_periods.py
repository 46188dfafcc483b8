"""A period the data does not fully cover is refused or clamped, never padded; data checks see the period only.

Each behaviour on the demo data and, where ../shared/data/real is present, on real Tokyo history.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.cli.main import main
from backtest.data import DataSource, load_prices
from backtest.data.demo import demo_history
from backtest.errors import DataError
from backtest.data.quality import GAP_SESSIONS, check_prices, liquidity
from tests.bad_inputs.test_corpus import write_good_prices
from tests.conftest import REAL_DATA, REPO, make_prices

DEMO_FIRST, DEMO_LAST = "2005-01-04", "2025-12-30"
BOJ = REPO / "configs" / "boj_rotation.yaml"
needs_real = pytest.mark.skipif(not REAL_DATA.is_dir(), reason="../shared/data/real is not present")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def only_folder(out: Path) -> Path:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return folder


def returns_index(folder: Path) -> pd.DatetimeIndex:
    return pd.read_csv(folder / "returns.csv", index_col=0, parse_dates=True).index


# ----- the demo -------------------------------------------------------------------------------------------
def test_an_end_past_the_demo_is_refused_with_each_instruments_dates(tmp_path):
    result = cli("run", BOJ, "--start", "2025-06-02", "--end", "2030-12-30", "--no-tearsheet", "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    assert result.stderr.count("Error: ") == 1
    assert "the period 2025-06-02 to 2030-12-30 runs past the data of TOPIX, 1631, 1632" in result.stderr
    assert f"TOPIX*, 1631*, 1632* {DEMO_FIRST} to {DEMO_LAST}" in result.stderr
    assert "--clamp" in result.stderr and f"--end {DEMO_LAST}" in result.stderr
    assert not (tmp_path / "r").exists()


def test_clamp_ends_the_run_at_the_last_demo_session_and_says_so(tmp_path):
    out = tmp_path / "r"
    result = cli("run", BOJ, "--start", "2025-06-02", "--end", "2030-12-30", "--clamp", "--no-tearsheet", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"period: clamped to 2025-06-02 to {DEMO_LAST}" in result.stdout
    folder = only_folder(out)
    index = returns_index(folder)
    # the sessions the demo has in that span, counted from the demo frame itself: no padded session at the end
    demo = demo_history()["close"].loc["2025-06-02":"2030-12-30"].index
    assert list(index) == list(demo) and str(index[-1].date()) == DEMO_LAST
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["period"]["requested"] == {"start": "2025-06-02", "end": "2030-12-30"}
    assert manifest["period"]["actual"] == {"start": "2025-06-02", "end": DEMO_LAST}
    assert manifest["period"]["clamped"] is True
    assert manifest["period"]["coverage"]["1631"] == {"first": DEMO_FIRST, "last": DEMO_LAST}
    assert json.loads((folder / "metrics.json").read_text())["period"]["clamped"] is True


def test_a_start_before_the_demo_is_refused_and_clamp_adds_no_flat_session(tmp_path):
    refused = cli("run", BOJ, "--start", "1990-01-04", "--end", "2005-06-30", "--no-tearsheet", "--out", tmp_path / "a")
    assert refused.exit_code == 2 and "the period 1990-01-04 to 2005-06-30 runs past" in refused.stderr
    out = tmp_path / "b"
    result = cli("run", BOJ, "--start", "1990-01-04", "--end", "2005-06-30", "--clamp", "--no-tearsheet", "--out", out)
    assert result.exit_code == 0, result.output
    returns = pd.read_csv(only_folder(out) / "returns.csv", index_col=0, parse_dates=True)
    assert str(returns.index[0].date()) == DEMO_FIRST
    close = demo_history()["close"]["TOPIX"].loc[DEMO_FIRST:"2005-06-30"]
    assert len(returns) == len(close)
    # the benchmark moves on every session after the first: none of them is a padded, flat one
    assert (returns["TOPIX"].iloc[1:] != 0).all()


def test_the_config_can_ask_for_the_clamp(tmp_path):
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\nperiod: {start: 2025-06-02, end: 2030-12-30, clamp: true}\n")
    result = cli("run", config, "--no-tearsheet", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert f"period: clamped to 2025-06-02 to {DEMO_LAST}" in result.stdout


def test_sweep_and_walkforward_take_the_same_clamp(tmp_path):
    args = [BOJ, "--grid", "holding_sessions=20", "--start", "2025-06-02", "--end", "2030-12-30"]
    refused = cli("sweep", *args, "--jobs", "1", "--top", "0", "--out", tmp_path / "s")
    assert refused.exit_code == 2 and "--clamp" in refused.stderr
    ran = cli("sweep", *args, "--clamp", "--jobs", "1", "--top", "0", "--out", tmp_path / "s")
    assert ran.exit_code == 0, ran.output
    assert f"period: clamped to 2025-06-02 to {DEMO_LAST}" in ran.stderr
    refused = cli("walkforward", *args, "--train", "3m", "--test", "1m", "--out", tmp_path / "w")
    assert refused.exit_code == 2 and "--clamp" in refused.stderr


def test_load_prices_never_pads_past_the_data():
    prices = load_prices(DataSource("demo"), ["TOPIX"], "1990-01-04", "2030-12-30")
    assert str(prices.sessions[0].date()) == DEMO_FIRST and str(prices.sessions[-1].date()) == DEMO_LAST


# ----- instruments with different histories (csv) ----------------------------------------------------------
def late_listed_folder(tmp_path: Path, first: str = "2024-03-01") -> Path:
    folder = tmp_path / "prices"
    write_good_prices(folder)
    frame = pd.read_csv(folder / "1632.csv")
    frame[frame["date"] >= first].to_csv(folder / "1632.csv", index=False)
    return folder


def test_a_late_listed_instrument_is_refused_or_clamped_to_its_first_row(tmp_path):
    folder = late_listed_folder(tmp_path)
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    base = ["run", config, "--data", f"csv:{folder}", "--start", "2024-01-04", "--end", "2024-06-28", "--no-tearsheet"]
    refused = cli(*base, "--out", tmp_path / "a")
    assert refused.exit_code == 2
    assert "runs past the data of 1632" in refused.stderr
    first = pd.read_csv(folder / "1632.csv")["date"].iloc[0]
    assert f"1632* {first} to 2024-06-28" in refused.stderr and f"--start {first}" in refused.stderr
    out = tmp_path / "b"
    clamped = cli(*base, "--clamp", "--out", out)
    assert clamped.exit_code == 0, clamped.output
    assert str(returns_index(only_folder(out))[0].date()) == first


# ----- data checks look at the period only; an ETF's missing sessions are liquidity -------------------------
def test_a_flaw_before_the_period_does_not_stop_strict(tmp_path):
    folder = tmp_path / "prices"
    write_good_prices(folder)
    topix = pd.read_csv(folder / "TOPIX.csv")
    topix.loc[5, "high"] = topix.loc[5, "low"] * 0.9  # high below low on 2024-01-12
    topix.to_csv(folder / "TOPIX.csv", index=False)
    flawed = topix.loc[5, "date"]
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    base = ["run", config, "--data", f"csv:{folder}", "--end", "2024-06-28", "--no-tearsheet", "--strict"]
    after = cli(*base, "--start", "2024-02-01", "--out", tmp_path / "a")
    assert after.exit_code == 0, after.output
    over = cli(*base, "--start", "2024-01-04", "--out", tmp_path / "b")
    assert over.exit_code == 2 and f"first {flawed}" in over.stderr


def test_an_etf_without_trades_runs_strict_and_reports_its_liquidity(tmp_path):
    folder = tmp_path / "prices"
    write_good_prices(folder)
    etf = pd.read_csv(folder / "1631.csv")
    dropped = etf["date"].iloc[30:30 + 2 * GAP_SESSIONS].tolist()
    etf[~etf["date"].isin(dropped)].to_csv(folder / "1631.csv", index=False)
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    out = tmp_path / "r"
    result = cli("run", config, "--data", f"csv:{folder}", "--start", "2024-01-04", "--end", "2024-06-28",
                 "--no-tearsheet", "--strict", "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((only_folder(out) / "manifest.json").read_text())
    sessions = len(tokyo_sessions("2024-01-04", "2024-06-28"))
    assert manifest["liquidity"]["1631"] == {
        "sessions": sessions, "no_trade_sessions": len(dropped),
        "no_trade_share": round(len(dropped) / sessions, 6), "longest_no_trade_run": len(dropped)}
    assert manifest["liquidity"]["TOPIX"]["no_trade_sessions"] == 0


def test_liquidity_counts_missing_prices_and_zero_volume():
    path = list(1000.0 * np.cumprod(1 + np.random.default_rng(2).normal(0, 0.01, 60)))
    path[30:30 + 2 * GAP_SESSIONS] = [np.nan] * (2 * GAP_SESSIONS)
    volume = [1e4] * 60
    volume[5] = 0.0  # a quote without a trade
    prices = make_prices({"TOPIX": [1000.0 + i for i in range(60)], "1631": path}, volume={"1631": volume})
    assert check_prices(prices, "TOPIX") == []
    assert liquidity(prices)["1631"] == {"sessions": 60, "no_trade_sessions": 2 * GAP_SESSIONS + 1,
                                         "no_trade_share": round((2 * GAP_SESSIONS + 1) / 60, 6),
                                         "longest_no_trade_run": 2 * GAP_SESSIONS}


def test_a_flat_row_on_a_closed_day_is_ignored_without_a_warning(tmp_path):
    folder = tmp_path / "prices"
    write_good_prices(folder)
    topix = pd.read_csv(folder / "TOPIX.csv")
    last = topix[topix["date"] < "2024-02-12"].iloc[-1]
    row = {"date": "2024-02-12", "open": last["close"], "high": last["close"], "low": last["close"],
           "close": last["close"], "volume": np.nan}  # a substitute holiday: the exchange was closed
    pd.concat([topix, pd.DataFrame([row])]).sort_values("date").to_csv(folder / "TOPIX.csv", index=False)
    source = DataSource("csv", str(folder))
    quiet = load_prices(source, ["TOPIX"], "2024-01-04", "2024-06-28")
    assert quiet.warnings == () and pd.Timestamp("2024-02-12") not in quiet.sessions
    row["close"] = last["close"] * 1.01
    pd.concat([topix, pd.DataFrame([row])]).sort_values("date").to_csv(folder / "TOPIX.csv", index=False)
    loud = load_prices(source, ["TOPIX"], "2024-01-04", "2024-06-28")
    assert any("closed (first 2024-02-12)" in w for w in loud.warnings)


def test_require_mode_refuses_in_the_library_too():
    with pytest.raises(DataError, match="runs past the data of TOPIX"):
        load_prices(DataSource("demo"), ["TOPIX"], "2025-01-06", "2026-06-30", coverage="require")
    clamped = load_prices(DataSource("demo"), ["TOPIX"], "2025-01-06", "2026-06-30", coverage="clamp")
    assert clamped.period["clamped"] and clamped.period["actual"]["end"] == DEMO_LAST


# ----- real Tokyo history -----------------------------------------------------------------------------------
REAL_TOPIX = ("index", "topix_daily.csv")


def real_span(*parts: str) -> tuple[str, str]:
    dates = pd.read_csv(REAL_DATA.joinpath(*parts), usecols=[0]).iloc[:, 0]
    return str(dates.iloc[0]), str(dates.iloc[-1])


@needs_real
def test_real_sector_etfs_starting_in_2016_refuse_a_2005_config(tmp_path):
    result = cli("run", BOJ, "--data", f"csv:{REAL_DATA}", "--no-tearsheet", "--out", tmp_path / "r")
    assert result.exit_code == 2
    topix, etf = real_span(*REAL_TOPIX), real_span("etf", "1631.csv")
    assert f"TOPIX {topix[0]} to {topix[1]}" in result.stderr  # the config maps TOPIX to index/topix_daily.csv
    assert f"1631*, 1632* {etf[0]} to {etf[1]}" in result.stderr
    assert not (tmp_path / "r").exists()


@needs_real
def test_real_clamp_starts_when_the_etfs_start(tmp_path):
    out = tmp_path / "r"
    result = cli("run", BOJ, "--data", f"csv:{REAL_DATA}", "--clamp", "--no-tearsheet", "--out", out)
    assert result.exit_code == 0, result.output
    first = max(real_span("etf", "1631.csv")[0], real_span("etf", "1632.csv")[0])
    assert str(returns_index(only_folder(out))[0].date()) == first
    assert f"period: clamped to {first} to 2025-12-30" in result.stdout


@needs_real
@pytest.mark.parametrize("config", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_real_shipped_configs_run_strict_from_2016_02_05(tmp_path, config):
    result = cli("run", REPO / "configs" / config, "--data", f"csv:{REAL_DATA}", "--start", "2016-02-05",
                 "--no-tearsheet", "--strict", "--out", tmp_path / "r")
    assert result.exit_code == 0, result.output


@needs_real
def test_real_topix_flaw_of_2002_only_matters_to_a_period_that_holds_it(tmp_path):
    config = tmp_path / "hold.yaml"
    config.write_text("theme: buy_and_hold\ndata: {files: {TOPIX: index/topix_daily.csv}}\n")
    base = ["run", config, "--data", f"csv:{REAL_DATA}", "--end", "2025-12-30", "--no-tearsheet", "--strict"]
    assert cli(*base, "--start", "2016-02-05", "--out", tmp_path / "a").exit_code == 0
    over = cli(*base, "--start", "2002-01-04", "--out", tmp_path / "b")
    assert over.exit_code == 2 and "first 2002-10-28" in over.stderr


def test_a_series_the_theme_only_reads_must_cover_the_period_too(tmp_path):
    folder = tmp_path / "prices"
    folder.mkdir()
    history = demo_history()
    tickers = ["TOPIX", "1622", "1625", "1624", "1630", "1617", "1628", "1626", "1633"]
    for ticker in tickers:
        frame = pd.DataFrame({f: history[f][ticker] for f in ("open", "high", "low", "close", "volume")})
        frame.loc["2024-01-04":"2024-06-28"].rename_axis("date").to_csv(folder / f"{ticker}.csv")
    fx_days = tokyo_sessions("2024-03-01", "2024-06-28")  # a USD/JPY file that starts late
    pd.DataFrame({"open": 150.0, "high": 151.0, "low": 149.0, "close": np.linspace(150, 160, len(fx_days))},
                 index=pd.Index(fx_days.strftime("%Y-%m-%d"), name="date")).to_csv(folder / "USDJPY.csv")
    config = tmp_path / "exporters.yaml"
    config.write_text("theme: exporter_domestic_rotation\nparams: {fx_series: USDJPY}\n")
    base = ["run", config, "--data", f"csv:{folder}", "--start", "2024-01-04", "--end", "2024-06-28", "--no-tearsheet"]
    refused = cli(*base, "--out", tmp_path / "a")
    assert refused.exit_code == 2, refused.output
    assert "runs past the data of USDJPY" in refused.stderr and "USDJPY* 2024-03-01 to 2024-06-28" in refused.stderr
    out = tmp_path / "b"
    assert cli(*base, "--clamp", "--out", out).exit_code == 0
    assert str(returns_index(only_folder(out))[0].date()) == "2024-03-01"


@pytest.mark.slow
def test_a_clamped_walkforward_runs_its_folds_inside_the_data(tmp_path):
    result = cli("walkforward", BOJ, "--grid", "holding_sessions=20,60", "--start", "2025-01-06", "--end", "2030-12-30",
                 "--train", "6m", "--test", "3m", "--clamp", "--no-tearsheet", "--out", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert f"period: clamped to 2025-01-06 to {DEMO_LAST}" in result.stderr
    folds = pd.read_csv(only_folder(tmp_path / "w") / "folds.csv")
    assert folds["test_end"].max() <= DEMO_LAST
