"""Comparing run folders: numbers against metrics.json, quantstats and hand sums; alignment; every broken folder."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from backtest.results import metrics
from backtest.results import significance as stats
from backtest.market.calendar import sessions as tokyo_sessions
from backtest.report.compare import (
    ROWS,
    compare_runs,
    event_markers,
    format_table,
    load_run,
    resolve_run_folders,
    table_frame,
    to_json,
)
from backtest.report.compare_page import CHART_IDS, TABLE_IDS, write_comparison
from backtest.errors import ResultsError
from backtest.results.folder import write_csv, write_json

PPY = 244.8


def write_run_folder(folder: Path, strategy: str, r, b, *, start: str = "2023-01-04", benchmark: str = "TOPIX",
                     ppy: float = PPY, source: str = "demo (synthetic)", synthetic: bool = True,
                     trades: list[tuple[str, float, float]] | None = None, cash: float = 1e8,
                     execution: dict | None = None, hashes: bool = True, liquidity: dict | None = None,
                     params: dict | None = None, sha: str = "x" * 64) -> Path:
    """A run folder laid out as backtest.research.run writes it: the first row is the all-cash start (0, 0),
    then one row per return. trades: (fill_date, value_jpy, commission_jpy)."""
    r, b = np.asarray(r, dtype=float), np.asarray(b, dtype=float)
    grid = tokyo_sessions(start, pd.Timestamp(start) + pd.Timedelta(days=2 * len(r) + 30))[: len(r) + 1]
    frame = pd.DataFrame({strategy: np.r_[0.0, r], benchmark: np.r_[0.0, b]}, index=pd.DatetimeIndex(grid, name="date"))
    folder.mkdir(parents=True)
    write_csv(frame, folder / "returns.csv")
    trade_frame = pd.DataFrame(
        [{"asof": d, "fill_date": d, "ticker": "1306", "side": "buy", "shares": 1, "price": v,
          "value_jpy": v, "commission_jpy": c, "order_id": i + 1} for i, (d, v, c) in enumerate(trades or [])],
        columns=["asof", "fill_date", "ticker", "side", "shares", "price", "value_jpy", "commission_jpy", "order_id"])
    write_csv(trade_frame, folder / "trades.csv", index=False)
    values = cash * (1 + frame[strategy]).cumprod()
    tr = trade_frame.assign(value_jpy=trade_frame["value_jpy"].astype(float),
                            commission_jpy=trade_frame["commission_jpy"].astype(float))
    doc = metrics.compute_metrics(frame, strategy, benchmark, ppy, tr, values)
    doc["synthetic_data"] = synthetic
    doc["liquidity"] = liquidity if liquidity is not None else {
        "1306": {"sessions_held": len(r), "untraded_sessions": 0, "untraded_share": 0.0, "volume_known": True}}
    write_json(doc, folder / "metrics.json")
    execution = execution or {"cash_jpy": cash, "slippage_bps": 5.0, "commission_bps": 10.0}
    config = {"theme": strategy, "benchmark": benchmark, "events": {"folder": None}, "execution": execution,
              "params": params or {}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    manifest = {
        "run_id": f"20260101T000000-{strategy}-{folder.name[-4:]}",
        "theme": strategy,
        "benchmark": benchmark,
        "data": {"source": source, "synthetic": synthetic, "sha256": sha,
                 "first_session": str(grid[0].date()), "last_session": str(grid[-1].date())},
    }
    if hashes:
        manifest["files"] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                             for p in sorted(folder.iterdir()) if p.suffix in (".csv", ".json", ".yaml")}
    write_json(manifest, folder / "manifest.json")
    return folder


def _series(seed: int, n: int = 120, beta: float = 1.0, edge: float = 0.0):
    rng = np.random.default_rng(seed)
    b = rng.normal(0.0004, 0.011, n)
    r = beta * b + edge + rng.normal(0.0, 0.004, n)
    return r, b


@pytest.fixture
def two_runs(tmp_path):
    r1, b = _series(1)
    r2, _ = _series(2, beta=0.8, edge=0.0003)
    trades = [("2023-01-05", 5e7, 5e4), ("2023-03-01", 2e7, 2e4)]
    one = write_run_folder(tmp_path / "run-a1b2", "alpha_theme", r1, b, trades=trades)
    two = write_run_folder(tmp_path / "run-c3d4", "beta_theme", r2, b, trades=trades[:1])
    return one, two


# --------------------------------------------------------------------------- numbers


def test_numbers_on_the_full_window_equal_each_runs_metrics_json(two_runs):
    c = compare_runs(two_runs)
    assert c.warnings == []
    for folder, label in zip(two_runs, ("alpha_theme", "beta_theme")):
        saved = json.loads((folder / "metrics.json").read_text())
        got = c.metrics[label]
        for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate"):
            assert got[key] == pytest.approx(saved["strategy"][key], rel=1e-9), key
        for key in ("max_drawdown_length_sessions", "longest_underwater_sessions"):
            assert got[key] == saved["strategy"][key], key
        for key in ("tracking_error", "information_ratio", "beta", "alpha_annual", "excess_cagr"):
            assert got[key] == pytest.approx(saved["relative"][key], rel=1e-9), key
        assert got["turnover_annual"] == pytest.approx(saved["trading"]["turnover_annual"], rel=1e-9)
        # cost drag = commission drag + slippage: 5 bp of the traded value, which is 2 × turnover
        assert got["cost_drag_annual"] == pytest.approx(
            saved["trading"]["commission_drag_annual"] + 5e-4 * 2 * saved["trading"]["turnover_annual"], rel=1e-9)
    bench = json.loads((two_runs[0] / "metrics.json").read_text())["benchmark"]
    for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate"):
        assert c.metrics["TOPIX"][key] == pytest.approx(bench[key], rel=1e-9)
    assert c.metrics["TOPIX"]["beta"] is None and c.metrics["TOPIX"]["ir_dsr"] is None
    assert c.periods_per_year == PPY


def test_relative_numbers_by_hand(tmp_path):
    r = [0.02, -0.01, 0.03, 0.0, -0.02]
    b = [0.01, -0.02, 0.02, 0.01, -0.01]
    c = compare_runs([write_run_folder(tmp_path / "run-0001", "hand", r, b, ppy=4)])
    got = c.metrics["hand"]
    active = [0.01, 0.01, 0.01, -0.01, -0.01]  # r - b
    mean_a = 0.002
    sd_a = math.sqrt(sum((a - mean_a) ** 2 for a in active) / 4)
    assert got["tracking_error"] == pytest.approx(sd_a * 2, rel=1e-9)  # sqrt(4 periods a year)
    assert got["information_ratio"] == pytest.approx(mean_a * 4 / (sd_a * 2), rel=1e-9)
    mean_r, mean_b = 0.004, 0.002
    cov = sum((x - mean_r) * (y - mean_b) for x, y in zip(r, b)) / 4
    var = sum((y - mean_b) ** 2 for y in b) / 4
    assert got["beta"] == pytest.approx(cov / var, rel=1e-9)
    assert got["alpha_annual"] == pytest.approx((mean_r - cov / var * mean_b) * 4, rel=1e-9)
    growth_r = 1.02 * 0.99 * 1.03 * 1.0 * 0.98
    growth_b = 1.01 * 0.98 * 1.02 * 1.01 * 0.99
    assert got["excess_cagr"] == pytest.approx(growth_r ** (4 / 5) - growth_b ** (4 / 5), rel=1e-9)
    # all five sessions fall in January 2023: one up month, no down month
    assert got["up_capture"] == pytest.approx((growth_r - 1) / (growth_b - 1), rel=1e-9)
    assert got["down_capture"] is None


def test_numbers_agree_with_quantstats_where_definitions_agree(tmp_path):
    qs = pytest.importorskip("quantstats")
    ppy = 245  # quantstats takes a whole number of periods per year, so these runs use one too
    r, b = _series(16)
    r[0] = -0.03  # a loss on the first session: both count the drawdown from the starting wealth
    c = compare_runs([write_run_folder(tmp_path / "run-0001", "theme", r, b, ppy=ppy)])
    r, b = c.returns["theme"], c.benchmark_returns
    got = c.metrics["theme"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert got["sharpe"] == pytest.approx(qs.stats.sharpe(r, periods=ppy), rel=1e-9)
        assert got["sortino"] == pytest.approx(qs.stats.sortino(r, periods=ppy), rel=1e-9)
        assert got["volatility"] == pytest.approx(qs.stats.volatility(r, periods=ppy), rel=1e-9)
        assert got["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(r), rel=1e-9)
        assert got["cagr"] == pytest.approx(qs.stats.cagr(r, periods=ppy), rel=1e-9)
        assert got["hit_rate"] == pytest.approx(qs.stats.win_rate(r), rel=1e-9)
        greeks = qs.stats.greeks(r, b, periods=ppy)
        assert got["beta"] == pytest.approx(greeks["beta"], rel=1e-9)
        assert got["alpha_annual"] == pytest.approx(greeks["alpha"], rel=1e-9)
        # where they differ: quantstats' information ratio is per session; ours is annualised by sqrt(ppy)
        assert got["information_ratio"] == pytest.approx(qs.stats.information_ratio(r, b) * math.sqrt(ppy), rel=1e-9)


def _psr_by_hand(x, sr0=0.0):
    """PSR written out here from the 2012 paper: per-period SR, plain skewness and (non-excess) kurtosis."""
    x = np.asarray(x, dtype=float)
    n, mean, sd = len(x), x.mean(), x.std(ddof=1)
    m2 = ((x - mean) ** 2).mean()
    skew = ((x - mean) ** 3).mean() / m2 ** 1.5
    kurt = ((x - mean) ** 4).mean() / m2 ** 2
    sr = mean / sd
    from scipy.stats import norm

    return float(norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)))


def test_headline_significance_is_that_of_the_active_return(tmp_path):
    # a strategy that rises with the market but loses to it: its absolute Sharpe is high, its IR negative
    rng = np.random.default_rng(21)
    b = rng.normal(0.0008, 0.008, 600)
    r = b - 0.0003 + rng.normal(0, 0.002, 600)
    c = compare_runs([write_run_folder(tmp_path / "run-lose", "loser", r, b)])
    got = c.metrics["loser"]
    assert got["absolute_psr"] == pytest.approx(_psr_by_hand(r), rel=1e-9) and got["absolute_psr"] > 0.95
    assert got["ir_psr"] == pytest.approx(_psr_by_hand(r - b), rel=1e-9) and got["ir_psr"] < 0.2
    active = r - b
    assert got["active_skewness"] == pytest.approx(sps_skew(active), rel=1e-9, abs=1e-11)
    assert got["active_excess_kurtosis"] == pytest.approx(sps_kurt(active), rel=1e-9, abs=1e-11)
    # one trial: the DSR is the PSR
    assert c.trials["loser"] == 1 and got["ir_dsr"] == pytest.approx(got["ir_psr"])


def sps_skew(x):
    from scipy.stats import skew

    return float(skew(x, bias=True))


def sps_kurt(x):
    from scipy.stats import kurtosis

    return float(kurtosis(x, fisher=True, bias=True))


def test_psr_dsr_and_bootstrap_columns(two_runs):
    c = compare_runs(two_runs)
    # no ledger beside these folders: each run is its theme's only trial
    assert c.trials == {"alpha_theme": 1, "beta_theme": 1}
    assert c.trials_source["alpha_theme"] == "no ledger found: this run alone (1 trial of alpha_theme)"
    ir = [stats.sharpe_moments(c.returns[label] - c.run_benchmarks[label])[0] for label in c.labels]
    assert c.sr_variance["alpha_theme"] == pytest.approx(np.var(ir, ddof=1))
    for label in c.labels:
        sr, skew, kurt, n = stats.sharpe_moments(c.returns[label] - c.run_benchmarks[label])
        got = c.metrics[label]
        assert got["ir_psr"] == pytest.approx(stats.probabilistic_sharpe_ratio(sr, n, skew, kurt), rel=1e-9)
        assert got["ir_dsr"] == pytest.approx(got["ir_psr"], rel=1e-9)
        assert got["excess_ci_low"] < got["excess_cagr"] < got["excess_ci_high"]
    with pytest.raises(ResultsError, match="--trials: a trial count given without a reason"):
        compare_runs(two_runs, trials=50)
    more = compare_runs(two_runs, trials=50, trials_reason="a notebook grid")
    assert more.trials == {"alpha_theme": 50, "beta_theme": 50}
    assert more.trials_source["beta_theme"] == "given with --trials: a notebook grid"
    for label in c.labels:
        sr, skew, kurt, n = stats.sharpe_moments(c.returns[label] - c.run_benchmarks[label])
        assert more.metrics[label]["ir_dsr"] == pytest.approx(
            stats.deflated_sharpe_ratio(sr, n, skew, kurt, 50, c.sr_variance[label]), rel=1e-9)
        assert more.metrics[label]["ir_dsr"] < c.metrics[label]["ir_dsr"]
    # seeded: the same interval every time
    assert compare_runs(two_runs).metrics == c.metrics


def test_one_run_uses_its_own_sampling_variance(two_runs):
    c = compare_runs(two_runs[:1], trials=10, trials_reason="test")
    sr, skew, kurt, n = stats.sharpe_moments(c.returns["alpha_theme"] - c.run_benchmarks["alpha_theme"])
    assert c.sr_variance["alpha_theme"] == pytest.approx(stats.sharpe_ratio_std(sr, n, skew, kurt) ** 2)
    assert "sampling variance" in c.sr_variance_source["alpha_theme"]


# --------------------------------------------------------------------------- alignment and warnings


def test_different_ranges_are_aligned_with_a_warning_naming_each_range(tmp_path):
    r, b = _series(3, n=200)
    long = write_run_folder(tmp_path / "run-long", "long_theme", r, b, start="2023-01-04")
    late = tokyo_sessions("2023-01-04", "2024-12-30")[50]
    short = write_run_folder(tmp_path / "run-shrt", "short_theme", r[50:], b[50:], start=str(late.date()))
    c = compare_runs([long, short])
    # the short run starts (all cash) on session 50, so both have returns from session 51 on
    assert len(c.sessions) == 150 and c.sessions[0] == tokyo_sessions("2023-01-04", "2024-12-30")[51]
    (text,) = [w for w in c.warnings if "different sessions" in w]
    assert "long_theme 2023-01-05 to" in text and f"short_theme {c.sessions[0].date()} to" in text
    assert "150 sessions they share" in text
    # the numbers are those of the common window, not of the run's whole history
    assert c.metrics["long_theme"]["sharpe"] == pytest.approx(metrics.sharpe(pd.Series(r[50:]), PPY), rel=1e-9)


def test_different_data_sources_warn(tmp_path):
    r, b = _series(4)
    one = write_run_folder(tmp_path / "run-0001", "one", r, b)
    two = write_run_folder(tmp_path / "run-0002", "two", r, b * 1.01, source="csv:/data/real", synthetic=False)
    c = compare_runs([one, two])
    assert any("different data sources" in w and "two: csv:/data/real" in w for w in c.warnings)
    assert any("synthetic demo data and market data are mixed" in w for w in c.warnings)
    # each run against its own benchmark column: 'two' is r vs 1.01·b
    assert c.metrics["two"]["beta"] == pytest.approx(metrics.relative(pd.Series(r), pd.Series(b * 1.01), PPY)["beta"])


def test_same_source_with_different_benchmark_returns_warns(tmp_path):
    r, b = _series(5)
    one = write_run_folder(tmp_path / "run-0001", "one", r, b)
    two = write_run_folder(tmp_path / "run-0002", "two", r, b + 0.001)
    assert any("returns differ on shared sessions" in w for w in compare_runs([one, two]).warnings)


def test_duplicate_names_get_the_run_suffix_and_repeats_are_dropped(tmp_path):
    r, b = _series(6)
    one = write_run_folder(tmp_path / "run-0001", "same", r, b)
    two = write_run_folder(tmp_path / "run-0002", "same", r * 0.9, b)
    c = compare_runs([one, two, one])
    assert c.labels == ["same-0001", "same-0002"]
    assert any("is the same run as" in w for w in c.warnings)


# --------------------------------------------------------------------------- broken folders


def _error(folders) -> str:
    with pytest.raises(ResultsError) as info:
        compare_runs(folders)
    return str(info.value)


def test_missing_folder(tmp_path):
    msg = _error([tmp_path / "nope"])
    assert msg.startswith(f"{tmp_path / 'nope'}: no such run folder.")


def test_not_a_run_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "returns.csv").write_text("date,a,TOPIX\n")
    msg = _error([tmp_path / "empty"])
    assert msg.startswith(f"{tmp_path / 'empty'}: not a run folder: manifest.json, metrics.json missing.")
    assert "themebt run" in msg


def test_truncated_returns_fail_the_manifest_hash(two_runs):
    path = two_runs[0] / "returns.csv"
    path.write_bytes(path.read_bytes()[:-30])
    msg = _error(list(two_runs))
    assert msg.startswith(f"{path}: does not match the sha256 recorded in manifest.json")
    assert "Re-run its config" in msg


def test_truncated_returns_without_hashes(tmp_path):
    r, b = _series(7)
    folder = write_run_folder(tmp_path / "run-0001", "x", r, b, hashes=False)
    path = folder / "returns.csv"
    text = path.read_text()
    path.write_text(text[: text.rindex(",")])  # the last row loses its benchmark value
    assert _error([folder]).startswith(f"{path}: row 122, column 'TOPIX'")
    path.write_text(text[: text.rindex("\n", 0, -1) + 1])  # cut at a line break: parses, but ends early
    msg = _error([folder])
    assert msg.startswith(f"{path}: ends at") and "(truncated?)" in msg


def test_unparsable_json(two_runs):
    path = two_runs[1] / "metrics.json"
    path.write_text('{"periods_per_year": 24')
    assert _error(list(two_runs)).startswith(f"{path}: not valid JSON")
    (two_runs[1] / "manifest.json").write_text("[1, 2]")
    assert _error(list(two_runs)).startswith(f"{two_runs[1] / 'manifest.json'}: not a JSON object")


def test_returns_without_the_benchmark_column(tmp_path):
    r, b = _series(8)
    folder = write_run_folder(tmp_path / "run-0001", "x", r, b, hashes=False)
    path = folder / "returns.csv"
    path.write_text(path.read_text().replace("TOPIX", "NIKKEI", 1))
    assert _error([folder]) == (f"{path}: no column for the benchmark 'TOPIX' (columns: x, NIKKEI). "
                                "Re-run its config with `themebt run CONFIG` to rebuild the folder.")


def test_not_a_date_and_not_a_number(tmp_path):
    r, b = _series(9)
    folder = write_run_folder(tmp_path / "run-0001", "x", r, b, hashes=False)
    path = folder / "returns.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], "2023-13-45" + lines[2][10:], *lines[3:]]) + "\n")
    assert _error([folder]).startswith(f"{path}: row 3: '2023-13-45' is not a YYYY-MM-DD date")
    path.write_text("\n".join([lines[0], lines[1], lines[2].split(",")[0] + ",abc,0.01", *lines[3:]]) + "\n")
    assert _error([folder]).startswith(f"{path}: row 3, column 'x': 'abc' is not a daily return")


def test_different_benchmarks_are_an_error(tmp_path):
    r, b = _series(10)
    one = write_run_folder(tmp_path / "run-0001", "one", r, b)
    two = write_run_folder(tmp_path / "run-0002", "two", r, b, benchmark="NIKKEI")
    assert _error([one, two]) == (f"{two}: its benchmark is NIKKEI, but {one} uses TOPIX. "
                                  "Compare runs against the same benchmark.")


def test_runs_that_do_not_overlap(tmp_path):
    r, b = _series(11, n=20)
    one = write_run_folder(tmp_path / "run-0001", "one", r, b, start="2023-01-04")
    two = write_run_folder(tmp_path / "run-0002", "two", r, b, start="2024-01-04")
    msg = _error([one, two])
    assert "the runs share fewer than two sessions (one 2023-01-05 to" in msg and "two 2024-01-05 to" in msg


def test_bad_trades_csv(two_runs):
    manifest = json.loads((two_runs[0] / "manifest.json").read_text())
    manifest["files"].pop("trades.csv")
    write_json(manifest, two_runs[0] / "manifest.json")
    (two_runs[0] / "trades.csv").write_text("fill_date,value_jpy\n2023-01-05,1\n")
    assert _error(list(two_runs)).startswith(f"{two_runs[0] / 'trades.csv'}: cannot be read (KeyError")


def test_cost_drag_follows_the_cost_model_the_run_recorded(tmp_path):
    r, b = _series(17)
    trades = [("2023-01-05", 5e7, 5e4), ("2023-03-01", 2e7, 2e4)]
    plain = write_run_folder(tmp_path / "run-0001", "plain", r, b, trades=trades)
    preset = write_run_folder(tmp_path / "run-0002", "preset", r, b, trades=trades, execution={
        "cash_jpy": 1e8, "slippage_bps": None, "costs": {"preset": "percent", "half_spread_bps": 5.0, "impact_bps": 2}})
    bare = write_run_folder(tmp_path / "run-0003", "bare", r, b, trades=trades, execution={"cash_jpy": 1e8})
    recorded = write_run_folder(tmp_path / "run-0004", "recorded", r, b, trades=trades, hashes=False)
    path = recorded / "trades.csv"
    frame = pd.read_csv(path).assign(slippage_jpy=[1e4, 3e4])
    frame.to_csv(path, index=False)
    c = compare_runs([plain, preset, bare, recorded])
    values = 1e8 * np.cumprod(np.r_[1.0, 1 + r])
    years = len(r) / PPY
    commission_only = 7e4 / values.mean() / years
    assert c.metrics["bare"]["cost_drag_annual"] == pytest.approx(commission_only, rel=1e-9)
    spread = 5e-4 * 7e7 / values.mean() / years
    assert c.metrics["plain"]["cost_drag_annual"] == pytest.approx(commission_only + spread, rel=1e-9)
    assert c.metrics["preset"]["cost_drag_annual"] == pytest.approx(commission_only + spread, rel=1e-9)
    assert c.metrics["recorded"]["cost_drag_annual"] == pytest.approx((7e4 + 4e4) / values.mean() / years, rel=1e-9)
    assert c.metrics["plain"]["turnover_annual"] == pytest.approx(7e7 / 2 / values.mean() / years, rel=1e-9)
    assert any(w.startswith("bare: config.yaml gives no half-spread") for w in c.warnings)
    assert any(w.startswith("preset: its cost drag leaves out market impact (2 bp") for w in c.warnings)


def test_without_trades_turnover_is_left_out_with_a_warning(two_runs):
    (two_runs[0] / "trades.csv").unlink()
    c = compare_runs(list(two_runs))
    assert c.metrics["alpha_theme"]["turnover_annual"] is None
    assert any("turnover and cost drag are not shown" in w for w in c.warnings)


def test_load_run_reads_the_parts(two_runs):
    run = load_run(two_runs[0])
    assert (run.strategy, run.benchmark, run.synthetic) == ("alpha_theme", "TOPIX", True)
    assert run.source == "demo (synthetic)"
    assert run.returns.index[0] == pd.Timestamp("2023-01-04") and run.sessions[0] == pd.Timestamp("2023-01-05")


# --------------------------------------------------------------------------- finding runs


def test_run_ids_and_latest_resolve_under_results(tmp_path):
    results = tmp_path / "results"
    r, b = _series(12)
    old = write_run_folder(results / "20260101T000000-old-aaaa", "old", r, b)
    new = write_run_folder(results / "20260102T000000-new-bbbb", "new", r, b)
    (results / "compare-20260103T000000-cccc").mkdir()  # a comparison, not a run
    (results / ".tmp-20260104T000000-x-dddd").mkdir()
    assert resolve_run_folders(["20260101T000000-old-aaaa"], results) == [old]
    assert resolve_run_folders([str(new)], results) == [new]
    assert resolve_run_folders([], results, latest=1) == [new]
    assert resolve_run_folders([], results, latest=5) == [old, new]
    with pytest.raises(ResultsError, match="no such run folder \\(not a path, nor a run id in"):
        resolve_run_folders(["20990101T000000-x-0000"], results)
    with pytest.raises(ResultsError, match="no such results folder"):
        resolve_run_folders([], tmp_path / "none", latest=2)


# --------------------------------------------------------------------------- table, json, page


def test_table_marks_synthetic_runs_and_lists_every_metric(tmp_path, two_runs):
    r, b = _series(13)
    real = write_run_folder(tmp_path / "run-real", "market", r, b, source="csv:x", synthetic=False)
    c = compare_runs([*two_runs, real])
    text = format_table(c)
    lines = text.splitlines()
    header = lines[0]
    assert header.split() == ["alpha_theme", "beta_theme", "market", "TOPIX"]
    assert lines[1].split() == ["synthetic"] * 3 and lines[2].split() == ["demo", "data"] * 3
    # the synthetic tags sit under the synthetic columns, not under 'market'
    col = header.index("market") + len("market")
    assert lines[1][col - 9:col].strip() == ""
    for _, label, _ in ROWS:
        assert any(line.startswith(label.format(b="TOPIX")) for line in lines)
    assert "annualised with 244.8 sessions/year" in lines[-5]
    assert lines[-3].startswith("DSR trials: alpha_theme 1 (")
    assert "Newey-West (HAC) standard error, 4 lags" in lines[-2]


def test_long_names_wrap_at_underscores(tmp_path):
    r, b = _series(14)
    c = compare_runs([write_run_folder(tmp_path / "run-0001", "robotics_reindustrialization_theme", r, b)])
    lines = format_table(c).splitlines()
    assert lines[0].split() == ["robotics_"] and lines[1].split() == ["reindustrialization_"]
    assert lines[2].split() == ["theme", "TOPIX"]


def test_csv_and_json(two_runs):
    c = compare_runs(two_runs)
    frame = table_frame(c)
    assert list(frame.index) == [k for k, _, _ in ROWS]
    assert list(frame.columns) == ["alpha_theme", "beta_theme", "TOPIX"]
    assert math.isnan(frame.loc["beta", "TOPIX"]) and frame.loc["cagr", "TOPIX"] == c.metrics["TOPIX"]["cagr"]
    doc = to_json(c)
    assert doc["deflated_sharpe"]["by_run"]["alpha_theme"]["trials"] == 1 and doc["bootstrap"]["samples"] == 2000
    assert doc["alpha_t_stat"]["lags"] == 4
    assert [r["label"] for r in doc["runs"]] == ["alpha_theme", "beta_theme"]
    json.dumps(doc, allow_nan=False)


def test_event_markers_fall_inside_the_window(tmp_path):
    r, b = _series(15, n=300)
    c = compare_runs([write_run_folder(tmp_path / "run-0001", "x", r, b, start="2024-01-04")])
    marks = event_markers(c)
    assert set(marks["group"]) <= {"BOJ hike", "wage print (MHLW)", "Shunto first tally", "US policy milestone",
                                   "governance milestone"}
    assert pd.Timestamp("2024-03-19") in set(marks["event_date"])  # the hike that ended negative rates
    assert marks["event_date"].between(c.sessions[0], c.sessions[-1]).all()


def test_the_governance_milestones_are_marked(tmp_path):
    """The governance theme's own milestones are on the charts, as the other families' events are."""
    from tests.conftest import REPO

    shipped = pd.read_csv(REPO / "backtest" / "events" / "data" / "governance.csv")
    traded = shipped[shipped["kind"].isin(["governance_code", "governance_code_revision", "cost_of_capital_request"])]
    r, b = _series(16, n=1500)
    c = compare_runs([write_run_folder(tmp_path / "run-0001", "x", r, b, start="2018-01-04")])
    marks = event_markers(c)
    inside = {pd.Timestamp(d) for d in traded["event_date"]
              if c.sessions[0] <= pd.Timestamp(d) <= c.sessions[-1]}
    assert inside  # 2018 and 2021 revisions, the 2023 request
    assert set(marks.loc[marks["group"] == "governance milestone", "event_date"]) == inside


def test_page_folder_is_written_whole(two_runs, tmp_path):
    c = compare_runs(two_runs)
    out = write_comparison(c, tmp_path / "cmp", event_markers(c), quantstats=False)
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.html", "compare.json"]
    page = (out / "compare.html").read_text()
    for element_id in (*CHART_IDS, *TABLE_IDS, "themebt-synthetic", "dsr-trials"):
        assert f'id="{element_id}"' in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count("synthetic demo data</span>") >= 2
    assert "alpha_theme: N = 1 (no ledger found" in page
    text = (out / "compare.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    # the same runs draw the same page, byte for byte
    again = write_comparison(c, tmp_path / "cmp2", event_markers(c), quantstats=False)
    assert (again / "compare.html").read_bytes() == (out / "compare.html").read_bytes()
    with pytest.raises(ResultsError, match="already exists"):
        write_comparison(c, out, event_markers(c), quantstats=False)


def test_a_failed_write_leaves_nothing(two_runs, tmp_path, monkeypatch):
    import backtest.report.compare_page as page

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(page, "render_page", boom)
    c = compare_runs(two_runs)
    with pytest.raises(RuntimeError):
        write_comparison(c, tmp_path / "out" / "cmp", event_markers(c), quantstats=False)
    assert list((tmp_path / "out").iterdir()) == []


def test_quantstats_report_works_offline(two_runs, tmp_path):
    pytest.importorskip("quantstats")
    c = compare_runs(two_runs)
    out = write_comparison(c, tmp_path / "cmp", event_markers(c), quantstats=True)
    report = (out / "quantstats.html").read_text()
    assert "alpha_theme" in report and "beta_theme" in report
    assert 'rel="shortcut icon"' not in report and "onload=" not in report
    assert 'id="themebt-synthetic"' in report
    assert 'id="quantstats-report" src="quantstats.html"' in (out / "compare.html").read_text()


# --------------------------------------------------------------------------- monthly figures, ledger, many runs


def test_stale_daily_prices_are_flagged_against_monthly_figures(tmp_path):
    # a holding priced only every other session: daily beta far below its monthly beta
    rng = np.random.default_rng(31)
    b = rng.normal(0.0004, 0.01, 600)
    wealth = np.cumprod(1 + b)
    stale = wealth.copy()
    stale[1::2] = stale[:-1:2]
    r = np.r_[stale[0] - 1, stale[1:] / stale[:-1] - 1]
    c = compare_runs([write_run_folder(tmp_path / "run-thin", "thin", r, b)])
    got = c.metrics["thin"]
    assert got["beta"] < 0.7 and got["beta_monthly"] > 0.9
    assert "beta" in got["daily_monthly_disagree"]
    assert any(w.startswith("thin: daily and monthly figures disagree (") and "beta" in w for w in c.warnings)
    # by hand: the monthly beta of the compounded calendar months
    frame = pd.DataFrame({"r": c.returns["thin"], "b": c.benchmark_returns})
    months = (1 + frame).groupby(frame.index.to_period("M")).prod() - 1
    assert got["beta_monthly"] == pytest.approx(np.cov(months["r"], months["b"])[0, 1] / months["b"].var(), rel=1e-9)


def test_trials_below_the_ledgers_count_warn(tmp_path):
    from backtest.results import ledger

    r, b = _series(40, n=200)
    folder = write_run_folder(tmp_path / "results" / "run-0001", "counted", r, b, params={"k": 0})
    manifest = json.loads((folder / "manifest.json").read_text())
    entries = [ledger.record(kind="sweep", run_id=f"s/{i}", theme="counted", name="counted", params={"k": i},
                             data_sha256="x" * 64, data_source="demo", first_session=manifest["data"]["first_session"],
                             last_session=manifest["data"]["last_session"], sessions=201, periods_per_year=PPY,
                             active_sharpe=0.3 * i - 0.5, synthetic=True) for i in range(5)]
    ledger.append(tmp_path / "results", entries)
    c = compare_runs([folder], results_dir=tmp_path / "results")
    assert c.trials["counted"] == 5  # its own params are those of trial 0: not counted twice
    srs = np.array([(0.3 * i - 0.5) / math.sqrt(PPY) for i in range(5)])
    assert c.sr_variance["counted"] == pytest.approx(np.var(srs, ddof=1), rel=1e-9)
    low = compare_runs([folder], trials=2, trials_reason="guess", results_dir=tmp_path / "results")
    assert any("--trials 2 is fewer than the 5 trials of counted" in w for w in low.warnings)


def test_legends_sit_below_the_plot_and_never_cover_a_line(tmp_path, monkeypatch):
    import backtest.report.compare_page as page

    r, b = _series(50)
    folders = [write_run_folder(tmp_path / f"run-{i:04d}", f"theme_{i:02d}", r + 0.0001 * i, b) for i in range(20)]
    c = compare_runs(folders, bootstrap_samples=100)
    figures = []
    monkeypatch.setattr(page, "_svg", lambda fig: figures.append(fig) or "data:image/svg+xml;base64,")
    page.render_page(c, event_markers(c), None)
    checked = 0
    for fig in figures:
        fig.canvas.draw()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            box, plot = legend.get_window_extent(), ax.get_window_extent()
            assert box.y1 <= plot.y0, "the legend overlaps the plotting area"
            checked += 1
    assert checked == 4  # growth, excess, drawdown, rolling IR
    import matplotlib.pyplot as plt

    plt.close("all")


def test_quantstats_palette_grows_for_many_runs_and_is_restored():
    from quantstats._plotting import core

    from backtest.report.compare_page import _enough_quantstats_colours

    before = list(core._FLATUI_COLORS)
    with _enough_quantstats_colours(21):
        assert len(core._FLATUI_COLORS) >= 22
    assert core._FLATUI_COLORS == before


def test_a_comparison_is_written_by_the_one_results_writer(tmp_path):
    """Whole or not at all, never over an existing folder, and a temporary left by a killed compare is one
    the stale-folder clean-up knows."""
    from backtest.report.compare_page import write_folder
    from backtest.errors import ResultsError
    from backtest.results.folder import TEMP_NAME

    out = tmp_path / "compare-20261128T101010-ab12"
    seen = {}

    def fill(folder):
        seen["tmp"] = folder.name
        (folder / "compare.json").write_text("{}")

    assert write_folder(out, fill) == out and (out / "compare.json").is_file()
    assert seen["tmp"] == ".tmp-compare-20261128T101010-ab12" and TEMP_NAME.match(seen["tmp"])
    with pytest.raises(ResultsError, match="already exists"):
        write_folder(out, fill)

    def broken(folder):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_folder(tmp_path / "other", broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
