"""Same inputs, same outputs: runs of one config and data give byte-identical files, in one process or several,
and a sweep's worker processes compute the same metrics as a plain run."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.config import load_config
from tests.trust.conftest import PERIOD, run_args, run_folders, start

SAME_BYTES = ("returns.csv", "trades.csv", "metrics.json", "positions.csv", "orders.csv", "config.yaml")
# What legitimately differs between two runs: which run it is, and the command line that started it.
PER_RUN = ("run_id", "command")


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory, demo_config) -> list[Path]:
    """One run in this process and two in separate processes with different hash seeds, all started together."""
    out = tmp_path_factory.mktemp("determinism")
    # different hash seeds: set and dict order must not leak into any file
    procs = [start(run_args(demo_config, out), PYTHONHASHSEED=seed) for seed in ("0", "4242")]
    result = CliRunner().invoke(main, ["run", str(demo_config), *PERIOD, "--no-tearsheet", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    for proc in procs:
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    return run_folders(out)


def test_runs_in_this_process_and_two_others_write_identical_files(three_runs):
    assert len(three_runs) == 3, "runs started together get a folder each"
    first, *others = three_runs
    for other in others:
        for name in SAME_BYTES:
            assert (first / name).read_bytes() == (other / name).read_bytes(), f"{name} differs: {other.name}"
        a, b = (json.loads((f / "manifest.json").read_text()) for f in (first, other))
        for key in PER_RUN:
            a.pop(key), b.pop(key)
        assert a == b, "manifests differ beyond run id and command line"


def test_a_sweep_worker_process_computes_what_a_plain_run_does(three_runs, demo_config, tmp_path):
    from backtest.research.sweep import METRIC_KEYS, RELATIVE_KEYS, run_sweep

    spec = load_config(demo_config)
    spec = dataclasses.replace(spec, start=dt.date.fromisoformat(PERIOD[1]), end=dt.date.fromisoformat(PERIOD[3]))
    sweep = run_sweep(spec, {"holding_sessions": [spec.params["holding_sessions"], 20]}, out_dir=tmp_path,
                      engine="backtrader", jobs=2, top=0)
    records = [json.loads(p.read_text()) for p in sorted((sweep["folder"] / "points").glob("*.json"))]
    assert len(records) == 2 and all(r["pid"] != os.getpid() for r in records)
    plain = json.loads((three_runs[0] / "metrics.json").read_text())
    same_point = records[0]["metrics"]
    for key in METRIC_KEYS:
        assert same_point[key] == plain["strategy"][key], key
    for key in RELATIVE_KEYS:
        assert same_point[key] == plain["relative"].get(key), key
