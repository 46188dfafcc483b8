"""themebt sweep: grid parsing, known answers, one table, resuming after an interrupt, local processes and Dask."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.config import spec_from_mapping
from backtest.data import DataSource, load_prices
from backtest.errors import ConfigError
from backtest.research.sweep import evaluate, finished, parse_grid, point_id, points, run_sweep, spec_for
from tests.conftest import REPO

PERIOD = {"start": "2023-01-04", "end": "2024-06-28"}
FLAT = {"commission_bps": 0, "slippage_bps": 0, "ticks": False, "price_limits": False}


def hold_spec(**execution):
    raw = {"theme": "buy_and_hold", "period": PERIOD, "params": {"basket": ["1631"]},
           "execution": {**FLAT, "lot_sizes": {"1631": 1, "1632": 1, "6954": 100}, **execution}}
    return spec_from_mapping(raw, file="sweep-test.yaml")


def boj_spec():
    return spec_from_mapping({"theme": "boj_rotation", "period": {"start": "2023-06-01", "end": "2025-06-30"}},
                             file="sweep-test.yaml")


def test_grid_values_take_the_themes_types():
    grid = parse_grid(["holding_sessions=20,60", "kinds=hike,hike+framework", "max_weight=0.5,1"], boj_spec())
    assert grid == {"holding_sessions": [20, 60], "kinds": [("hike",), ("hike", "framework")],
                    "max_weight": [0.5, 1.0]}
    assert len(points(grid)) == 8
    assert points(grid)[1] == {"holding_sessions": 20, "kinds": ("hike",), "max_weight": 1.0}
    assert point_id({"a": (1, 2)}) == point_id({"a": [1, 2]}) != point_id({"a": [2, 1]})


@pytest.mark.parametrize("option,message", [
    ("holding_session=20", "--grid: params.holding_session: unknown parameter. Did you mean 'holding_sessions'?"),
    ("holding_sessions=20,soon", "--grid: params.holding_sessions: expected a whole number, got 'soon'"),
    ("holding_sessions=0", "--grid: params.holding_sessions: expected a value from 1 to 2500, got 0"),
    ("holding_sessions", "expected param=value1,value2"),
    ("out_kinds=hike", "--grid: params.out_kinds: hike is also in kinds"),
])
def test_a_bad_grid_is_a_config_error(option, message):
    with pytest.raises(ConfigError) as err:
        parse_grid([option], boj_spec())
    assert message in str(err.value)


def test_cli_typo_in_grid_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(REPO / "configs/boj_rotation.yaml"), "--grid",
                                       "holding_sesions=20,60", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "params.holding_sesions: unknown parameter. Did you mean 'holding_sessions'?" in result.output
    assert list(tmp_path.iterdir()) == []


def test_points_have_the_hand_computed_buy_and_hold_value(tmp_path):
    """Zero costs, lot 1, 1% kept in cash: buy floor(0.99 cash / close_0) shares at the first close, hold."""
    spec = hold_spec(cash_buffer_pct=1, max_participation=None, impact_coefficient=0)
    grid = parse_grid(["basket=1631,1632"], spec)
    out = run_sweep(spec, grid, out_dir=tmp_path, top=0)
    table = out["table"].set_index("param_basket")
    for ticker in ("1631", "1632"):
        prices = load_prices(DataSource("demo"), [ticker], PERIOD["start"], PERIOD["end"])
        close = prices.close[ticker].to_numpy()
        shares = math.floor(99_000_000 / close[0])
        expected = 100_000_000 - shares * close[0] + shares * close[-1]
        assert table.loc[ticker, "final_value_jpy"] == pytest.approx(expected, rel=1e-12)
    assert (out["table"]["trials"] == 2).all()


def test_the_table_has_every_point_metrics_trials_and_dsr(tmp_path):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,20,60", "max_weight=0.25,1"], spec)
    out = run_sweep(spec, grid, out_dir=tmp_path, top=0)
    folder = out["folder"]
    assert folder.name.startswith("sweep-") and "-boj_rotation-" in folder.name
    table = pd.read_csv(folder / "results.csv")
    assert len(table) == 6 and (table["trials"] == 6).all()
    assert {"param_holding_sessions", "param_max_weight", "cagr", "sharpe", "max_drawdown", "excess_cagr",
            "sharpe_per_session", "skew", "excess_kurtosis", "ir_per_session", "active_skew",
            "active_excess_kurtosis", "observations", "dsr", "fills"} <= set(table.columns)
    assert table["dsr"].between(0, 1).all()
    # each row is what a single run of that point gives
    for _, row in table.iterrows():
        point = {"holding_sessions": int(row["param_holding_sessions"]), "max_weight": float(row["param_max_weight"])}
        alone = evaluate(spec_for(spec, point), "fast")["metrics"]
        assert row["final_value_jpy"] == pytest.approx(alone["final_value_jpy"], rel=1e-9)
    sweep = json.loads((folder / "sweep.json").read_text())
    assert sweep["trials"] == 6 and sweep["engine"] == "fast"
    # the DSR is of the return over the benchmark: the information ratio, recomputed here from the returns
    row = table.iloc[0]
    alone = evaluate(spec_for(spec, {"holding_sessions": int(row["param_holding_sessions"]),
                                     "max_weight": float(row["param_max_weight"])}), "fast")
    active = (alone["returns"] - alone["benchmark"]).iloc[1:].to_numpy()
    assert row["ir_per_session"] == pytest.approx(active.mean() / active.std(ddof=1), rel=1e-9)
    # picked among six, the worst point cannot look significant
    assert table.loc[table["ir_per_session"].idxmin(), "dsr"] <= 0.5


def test_backtrader_and_fast_engine_sweeps_agree(tmp_path):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=10,40"], spec)
    fast = run_sweep(spec, grid, out_dir=tmp_path, engine="fast", top=0)["table"]
    slow = run_sweep(spec, grid, out_dir=tmp_path, engine="backtrader", top=0)["table"]
    np.testing.assert_allclose(fast["final_value_jpy"], slow["final_value_jpy"], rtol=1e-3)
    np.testing.assert_allclose(fast["cagr"], slow["cagr"], atol=1e-4)
    assert list(fast["fills"]) == list(slow["fills"])


class Stop(Exception):
    pass


def test_an_interrupted_sweep_resumes_without_recomputing(tmp_path):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,10,20,40,60"], spec)
    seen = []

    def interrupt_after_two(done, total, record):
        seen.append(record["id"])
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out_dir=tmp_path, top=0, on_point=interrupt_after_two)
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    stored = {p.name: p.stat().st_mtime_ns for p in (folder / "points").glob("*.json")}
    assert len(stored) == 2 and set(finished(folder)) == set(seen)
    again = []
    out = run_sweep(spec, grid, resume=folder, top=0, on_point=lambda d, t, r: again.append((d, r["id"])))
    assert out["skipped"] == seen
    assert set(out["computed"]) == {point_id(p) for p in points(grid)} - set(seen)
    assert [d for d, _ in again] == [3, 4, 5]
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "points").glob("*.json") if p.name in stored} == stored
    assert len(out["table"]) == 5
    # a finished sweep resumed runs nothing
    assert run_sweep(spec, grid, resume=folder, top=0)["computed"] == []


def test_resume_refuses_a_different_sweep(tmp_path):
    spec = boj_spec()
    folder = run_sweep(spec, parse_grid(["holding_sessions=5,10"], spec), out_dir=tmp_path, top=0)["folder"]
    with pytest.raises(ConfigError, match="grid: differs from this command's"):
        run_sweep(spec, parse_grid(["holding_sessions=5,20"], spec), resume=folder, top=0)
    with pytest.raises(ConfigError, match="not a sweep folder"):
        run_sweep(spec, parse_grid(["holding_sessions=5,10"], spec), resume=tmp_path, top=0)


def test_local_processes_give_the_same_table(tmp_path):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,20,60"], spec)
    one = run_sweep(spec, grid, out_dir=tmp_path, jobs=1, top=0)["table"]
    two = run_sweep(spec, grid, out_dir=tmp_path, jobs=2, top=0)["table"]
    cols = ["point", "id", "final_value_jpy", "sharpe", "dsr"]
    pd.testing.assert_frame_equal(one[cols], two[cols])


def test_dask_local_cluster_gives_the_same_table(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,20,60"], spec)
    local = run_sweep(spec, grid, out_dir=tmp_path, jobs=1, top=0)["table"]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1",
                                  protocol="tcp", dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_sweep(spec, grid, out_dir=tmp_path, cluster=cluster.scheduler_address, top=0)
    cols = ["point", "id", "final_value_jpy", "sharpe", "dsr"]
    pd.testing.assert_frame_equal(local[cols], remote["table"][cols])


def test_unreachable_cluster_is_a_user_error(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr("backtest.research.sweep.CONNECT_TIMEOUT_S", 1)
    spec = boj_spec()
    with pytest.raises(ConfigError, match="cannot reach the scheduler"):
        run_sweep(spec, parse_grid(["holding_sessions=5"], spec), out_dir=tmp_path, cluster="tcp://127.0.0.1:9",
                  top=0)


def test_cli_sweep_writes_table_and_reruns_the_top_point_on_backtrader(tmp_path):
    result = CliRunner().invoke(main, ["sweep", str(REPO / "configs/boj_rotation.yaml"), "--grid",
                                       "holding_sessions=10,40", "--start", "2023-06-01", "--end", "2025-06-30",
                                       "--jobs", "1", "--top", "1", "--no-tearsheet", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # and ledger.jsonl
    assert result.stdout.splitlines()[:2] == ["SYNTHETIC DEMO DATA: not market history", f"{folder}/"]
    assert set(pd.read_csv(folder / "results.csv")["synthetic_data"]) == {True}
    assert (folder / "results.csv").is_file() and len(list((folder / "points").glob("*.json"))) == 2
    (top,) = list((folder / "top").iterdir())
    assert (top / "metrics.json").is_file() and (top / "orders.csv").is_file()
    table = pd.read_csv(folder / "results.csv")
    best = table.sort_values("sharpe", ascending=False).iloc[0]
    assert top.name.endswith(f"boj_rotation-{best['id']}-" + top.name.rsplit("-", 1)[1])
    reported = json.loads((top / "metrics.json").read_text())["strategy"]["sharpe"]
    assert reported == pytest.approx(best["sharpe"], rel=1e-6)


def test_sweep_help_has_an_example():
    result = CliRunner().invoke(main, ["sweep", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_a_second_sweep_reads_prices_edited_after_the_first(tmp_path):
    """No process-wide cache outlives a sweep: a CSV changed between two sweeps in one process is read again."""
    import backtest as tb
    from backtest.research import sweep as sweep_module
    from tests.bad_inputs.test_corpus import write_good_prices

    prices = tmp_path / "prices"
    write_good_prices(prices)  # TOPIX, 1631, 1632, 2024-01-04 to 2024-06-28
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    data = f"csv:{prices}"
    first = tb.sweep(config, {"holding_sessions": [20, 60]}, tmp_path / "a", data=data)
    assert sweep_module._INPUTS == {} and sweep_module._RUNS == {}
    for ticker in ("1631", "1632"):  # both sector ETFs drift up 0.5% a session: another market
        frame = pd.read_csv(prices / f"{ticker}.csv")
        growth = 1.005 ** np.arange(len(frame))
        for field in ("open", "high", "low", "close"):
            frame[field] = (frame[field] * growth).round(1)
        frame.to_csv(prices / f"{ticker}.csv", index=False)
    second = tb.sweep(config, {"holding_sessions": [20, 60]}, tmp_path / "b", data=data)
    assert list(first["table"]["cagr"]) != list(second["table"]["cagr"])
    assert (second["table"]["cagr"] > first["table"]["cagr"]).all()
