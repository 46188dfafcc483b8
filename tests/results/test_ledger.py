"""The trial ledger: one whole line per trial, safe under concurrent appends, and counted by compare's DSR."""

from __future__ import annotations

import json
import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm

from backtest.results import ledger
from backtest.report.compare import compare_runs
from backtest.config import spec_from_mapping
from backtest.research.run import execute_run
from backtest.research.sweep import run_sweep, spec_for

EULER = 0.5772156649015329


def _entry(i: int, **over) -> dict:
    return ledger.record(kind="run", run_id=f"run-{i}", theme="t", name="t", params={"k": i, "basket": ("1", "2")},
                         data_sha256="h" * 64, data_source="demo", first_session="2024-01-04",
                         last_session="2024-12-30", sessions=244, periods_per_year=244.0,
                         active_sharpe=0.1 * i, synthetic=True) | over


def test_one_sorted_line_per_trial(tmp_path):
    ledger.append(tmp_path, [_entry(1)])
    ledger.append(tmp_path, [_entry(2, active_sharpe=float("nan"))])
    lines = (tmp_path / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == sorted(first)
    assert first["params"] == {"basket": ["1", "2"], "k": 1}
    assert json.loads(lines[1])["active_sharpe"] is None  # never NaN in JSON
    records, bad = ledger.read(tmp_path / "ledger.jsonl")
    assert [r["run_id"] for r in records] == ["run-1", "run-2"] and bad == 0


def test_unreadable_lines_are_counted_not_fatal(tmp_path):
    path = tmp_path / "ledger.jsonl"
    path.write_bytes(ledger.line(_entry(1)) + b"{not json\n" + b'["a list"]\n' + ledger.line(_entry(2))[:-5])
    records, bad = ledger.read(path)
    assert [r["run_id"] for r in records] == ["run-1"] and bad == 3
    # an overlong line is skipped whole, and the lines after it still count
    path.write_bytes(b"x" * (3 * ledger.MAX_LINE) + b"\n" + ledger.line(_entry(2)))
    records, bad = ledger.read(path)
    assert [r["run_id"] for r in records] == ["run-2"] and bad == 1


def test_a_configuration_is_one_trial_however_often_it_ran():
    records = [_entry(1), _entry(1, run_id="again"), _entry(2), _entry(3, data_sha256="other"),
               _entry(4, last_session="2025-01-01"), _entry(5, theme="u")]
    fam = ledger.family(records, "t", "h" * 64, "2024-01-04", "2024-12-30")
    assert [e["run_id"] for e in fam] == ["run-1", "run-2"]


def _append_many(args):
    folder, worker = args
    for i in range(200):
        ledger.append(Path(folder), [_entry(i, run_id=f"w{worker}-{i}", name="x" * 3000)])


def test_concurrent_appends_never_tear_a_line(tmp_path):
    # lines of about 3 kB from four processes at once: each must arrive whole
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(4) as pool:
        pool.map(_append_many, [(str(tmp_path), w) for w in range(4)])
    raw = (tmp_path / "ledger.jsonl").read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"" and len(lines) - 1 == 800
    ids = [json.loads(x)["run_id"] for x in lines[:-1]]
    assert len(set(ids)) == 800


def _spec(start="2023-06-01", end="2025-06-30", **params):
    return spec_from_mapping({"theme": "boj_rotation", "period": {"start": start, "end": end},
                              "params": {"basket": ["1631", "1632"], "kinds": ["hike"], **params},
                              "execution": {"commission_bps": 10, "slippage_bps": 5}}, file="ledger-test.yaml")


def test_a_run_appends_its_trial(tmp_path):
    outcome = execute_run(_spec(holding_sessions=20), tmp_path, tearsheet=False)
    (line,) = (tmp_path / "ledger.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    manifest = json.loads((outcome.folder / "manifest.json").read_text())
    assert entry["run_id"] == outcome.folder.name and entry["kind"] == "run" and entry["theme"] == "boj_rotation"
    assert entry["data_sha256"] == manifest["data"]["sha256"]
    assert (entry["first_session"], entry["last_session"]) == (manifest["data"]["first_session"],
                                                               manifest["data"]["last_session"])
    assert entry["params"]["holding_sessions"] == 20
    # the Sharpe ratio of the active return, annualised with the run's sessions per year, from returns.csv
    import pandas as pd

    returns = pd.read_csv(outcome.folder / "returns.csv", index_col=0).iloc[1:]
    active = returns["boj_rotation"] - returns["TOPIX"]
    ppy = json.loads((outcome.folder / "metrics.json").read_text())["periods_per_year"]
    assert entry["periods_per_year"] == ppy
    assert entry["active_sharpe"] == pytest.approx(active.mean() / active.std(ddof=1) * math.sqrt(ppy), rel=1e-9)


def _dsr_by_hand(x: np.ndarray, n_trials: int, variance: float) -> float:
    n, mean, sd = len(x), x.mean(), x.std(ddof=1)
    m2 = ((x - mean) ** 2).mean()
    skew, kurt = ((x - mean) ** 3).mean() / m2 ** 1.5, ((x - mean) ** 4).mean() / m2 ** 2
    sr = mean / sd
    sr0 = math.sqrt(variance) * ((1 - EULER) * norm.ppf(1 - 1 / n_trials) + EULER * norm.ppf(1 - 1 / (n_trials * math.e)))
    return float(norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr ** 2)))


def test_a_sweeps_points_are_trials_and_its_worst_point_does_not_look_significant(tmp_path):
    grid = {"holding_sessions": [5, 10, 20, 40, 60, 120]}
    sweep = run_sweep(_spec(), grid, out_dir=tmp_path, top=2, tearsheets=False)
    entries = [json.loads(x) for x in (tmp_path / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(entries) == 6 and {e["kind"] for e in entries} == {"sweep"}  # the top re-runs add no trial
    assert len({e["data_sha256"] for e in entries}) == 1
    # the two best points, compared afterwards, each count all six trials, not the two on the page
    top = compare_runs(sweep["top"], results_dir=tmp_path)
    assert set(top.trials.values()) == {6}
    srs = np.array([e["active_sharpe"] / math.sqrt(e["periods_per_year"]) for e in entries])
    for label in top.labels:
        assert top.sr_variance[label] == pytest.approx(np.var(srs, ddof=1), rel=1e-9)
    # the worst point, run again on its own: still one of the same six trials, and no better than a coin
    table = sweep["table"]
    worst = int(table.sort_values("information_ratio").iloc[0]["param_holding_sessions"])
    outcome = execute_run(spec_for(_spec(), {"holding_sessions": worst}), tmp_path, tearsheet=False)
    c = compare_runs([outcome.folder], results_dir=tmp_path)
    label = c.labels[0]
    assert c.trials[label] == 6
    assert c.metrics[label]["ir_dsr"] <= 0.5
    active = (c.returns[label] - c.run_benchmarks[label]).to_numpy()
    assert c.metrics[label]["ir_dsr"] == pytest.approx(_dsr_by_hand(active, 6, float(np.var(srs, ddof=1))), rel=1e-9)
    assert "6 trials of boj_rotation on the same data and period in the ledger" in c.trials_source[label]
