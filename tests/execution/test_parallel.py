"""Local processes change no result: sweeps, walk-forwards and `run --all --jobs` give what one process gives,
never start more workers than there is work for, and a tear sheet drawn in a worker has the same bytes."""

from __future__ import annotations

import importlib
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.config import load_config, spec_from_mapping
from backtest.research.run import compute_run, write_run_folder
from backtest.research.sweep import batches, parse_grid, run_sweep
from backtest.research.walkforward import walk_forward
from backtest.research.workers import LocalPool, useful_workers
from tests.conftest import REPO

sweep = importlib.import_module("backtest.research.sweep")  # the module (backtest.sweep is also the API's function)

SHORT = ["--start", "2023-01-04", "--end", "2024-12-30"]


def boj_spec(start="2021-01-04", end="2024-12-30"):
    spec = load_config(REPO / "configs" / "boj_rotation.yaml")
    import dataclasses

    return dataclasses.replace(spec, start=pd.Timestamp(start).date(), end=pd.Timestamp(end).date())


def test_never_more_workers_than_tasks():
    assert useful_workers(8, 3) == 3
    assert useful_workers(2, 36) == 2
    assert useful_workers(4, 0) == 1


def test_batches_keep_every_task_once_in_order_and_balance_the_workers():
    tasks = list(range(36))
    small = batches(tasks, seconds_each=0.01, workers=2)  # cheap points: grouped, at least 3 batches per worker
    assert [t for b in small for t in b] == tasks
    assert len(small) >= 6 and max(len(b) for b in small) > 1
    big = batches(tasks, seconds_each=1.0, workers=2)  # a point is worth a round trip on its own
    assert [len(b) for b in big] == [1] * 36


def test_a_sweep_in_two_workers_gives_the_one_process_table(tmp_path, monkeypatch):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,20,60,90"], spec)
    one = run_sweep(spec, grid, out_dir=tmp_path, jobs=1, top=0)
    monkeypatch.setattr(sweep, "SERIAL_BELOW_S", -1.0)  # however small the points, use the workers
    two = run_sweep(spec, grid, out_dir=tmp_path, jobs=2, top=0)
    cols = ["point", "id", "final_value_jpy", "sharpe", "dsr"]
    pd.testing.assert_frame_equal(one["table"][cols], two["table"][cols])
    pids = {json.loads(p.read_text())["pid"] for p in (two["folder"] / sweep.POINTS).glob("*.json")}
    assert os.getpid() in pids and len(pids) > 1, "the first point here, the rest in workers"


def test_small_points_stay_in_this_process(tmp_path):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=5,20"], spec)
    done = run_sweep(spec, grid, out_dir=tmp_path, jobs=2, top=0)
    pids = {json.loads(p.read_text())["pid"] for p in (done["folder"] / sweep.POINTS).glob("*.json")}
    assert pids == {os.getpid()}


def test_walkforward_with_two_workers_is_the_one_process_walkforward():
    raw = {"theme": "equal_weight", "params": {"basket": ["1631", "1632"]}, "period": {"start": "2017-01-04",
           "end": "2021-12-30"}, "execution": {"ticks": False, "price_limits": False}}
    spec = spec_from_mapping(raw, file="wf.yaml")
    grid = parse_grid(["rebalance_months=1,3"], spec)
    one = walk_forward(spec, grid, train="1y", test="1y", jobs=1)
    two = walk_forward(spec, grid, train="1y", test="1y", jobs=2)
    assert len(one.folds) == 4
    pd.testing.assert_frame_equal(one.folds, two.folds)
    pd.testing.assert_frame_equal(one.returns, two.returns)
    pd.testing.assert_frame_equal(one.insample, two.insample)


def _folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_run_all_with_two_jobs_writes_what_one_job_writes(tmp_path):
    configs = tmp_path / "configs"
    configs.mkdir()
    for name in ("boj_rotation.yaml", "buy_and_hold.yaml"):
        shutil.copy(REPO / "configs" / name, configs / name)
    outputs = {}
    for jobs in (1, 2):
        out = tmp_path / f"out{jobs}"
        result = CliRunner().invoke(main, ["run", "--all", str(configs), "--out", str(out), "--no-tearsheet",
                                           "--jobs", str(jobs), *SHORT], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs[jobs] = (result.output, out)
    (text1, out1), (text2, out2) = outputs[1], outputs[2]
    def by_name(out):  # <UTC time>-<name>-<hex>: a run's folder is named when it is written
        return {f.name.split("-", 1)[1].rsplit("-", 1)[0]: f for f in _folders(out)}

    folders1, folders2 = by_name(out1), by_name(out2)
    assert sorted(folders2) == ["boj_rotation", "buy_and_hold"]
    for name in folders1:
        a, b = folders1[name], folders2[name]
        for file in ("returns.csv", "trades.csv", "orders.csv", "positions.csv", "metrics.json", "equity.png"):
            assert (a / file).read_bytes() == (b / file).read_bytes(), file
    # the same report, in the same order; the ledger's lines in the configs' order
    strip = [line for line in text1.splitlines() if not line.endswith("/")]
    assert strip == [line for line in text2.splitlines() if not line.endswith("/")]
    names = [json.loads(line)["name"] for line in (out2 / "ledger.jsonl").read_text().splitlines()]
    assert names == ["boj_rotation", "buy_and_hold"]


def test_timings_name_every_phase(tmp_path):
    result = CliRunner().invoke(main, ["run", str(REPO / "configs/buy_and_hold.yaml"), "--out", str(tmp_path),
                                       "--no-tearsheet", "--timings", *SHORT], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("timings: ")]
    phases = [part.rsplit(" ", 2)[0] for part in line.removeprefix("timings: ").split(", ")]
    assert phases == ["load", "plan", "engine", "metrics", "write", "tear sheet"]


@pytest.mark.slow
def test_a_tear_sheet_drawn_in_a_worker_has_the_bytes_of_one_drawn_here(tmp_path):
    run = compute_run(boj_spec("2023-01-04"))
    here = write_run_folder(run, tmp_path / "here", ledger=False).folder
    with LocalPool(1, charts=True) as pool:
        there = write_run_folder(run, tmp_path / "there", ledger=False, pool=pool).folder
    assert (here / "tearsheet.html").read_bytes() == (there / "tearsheet.html").read_bytes()


@pytest.mark.slow
def test_compare_with_two_jobs_writes_the_files_of_one_job(tmp_path):
    runs = tmp_path / "runs"
    for name in ("boj_rotation.yaml", "buy_and_hold.yaml"):
        result = CliRunner().invoke(main, ["run", str(REPO / "configs" / name), "--out", str(runs), "--no-tearsheet",
                                           *SHORT], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    for jobs in (1, 2):
        result = CliRunner().invoke(main, ["compare", "--results", str(runs), "--latest", "2", "--out",
                                           str(tmp_path / f"cmp{jobs}"), "--jobs", str(jobs)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    for name in ("compare.html", "compare.csv", "compare.json", "quantstats.html"):
        assert (tmp_path / "cmp1" / name).read_bytes() == (tmp_path / "cmp2" / name).read_bytes(), name
