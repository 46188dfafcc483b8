"""themebt compare through the CLI: table on stdout, warnings on stderr, files written, exit 2 on bad folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from tests.conftest import REPO

FAST = "--no-quantstats"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two demo runs in one results folder; the second starts later, so the comparison must align them.

    compare.html with quantstats' report (the default) is covered by tests/browser/test_compare_page.py.
    """
    results = tmp_path_factory.mktemp("results")
    for config, start in (("boj_rotation", "2023-01-04"), ("buy_and_hold", "2023-07-03")):
        result = invoke("run", REPO / "configs" / f"{config}.yaml", "--out", results, "--no-tearsheet",
                        "--start", start, "--end", "2024-12-30")
        assert result.exit_code == 0, result.output
    return results


def run_ids(results: Path) -> list[str]:
    return sorted(p.name for p in results.iterdir() if (p / "manifest.json").exists())


def test_compare_prints_the_table_and_writes_the_folder(runs, tmp_path):
    out = tmp_path / "cmp"
    result = invoke("compare", *[runs / r for r in run_ids(runs)], "--out", out, FAST)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "SYNTHETIC DEMO DATA: not market history"
    assert lines[1].split() == ["boj_rotation", "buy_and_hold", "TOPIX"]
    assert lines[2].split() == ["synthetic"] * 3
    assert any(line.startswith("Excess return vs TOPIX (CAGR)") for line in lines)
    assert any(line.startswith("DSR of IR (deflated for trials)") for line in lines)
    assert lines[-2:] == [f"{out}/", f"{out / 'compare.html'}"]
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.html", "compare.json"]
    # the runs start on different sessions: said on stderr, naming each run's range
    assert result.stderr.startswith("warning: the runs cover different sessions")
    assert "boj_rotation 2023-01-05 to 2024-12-30" in result.stderr
    assert "buy_and_hold 2023-07-04 to 2024-12-30" in result.stderr
    doc = json.loads((out / "compare.json").read_text())
    assert doc["window"]["first_session"] == "2023-07-04"
    # both runs are in the results folder's ledger, each its theme's only trial on its data and period
    by_run = doc["deflated_sharpe"]["by_run"]
    assert by_run["boj_rotation"]["trials"] == by_run["buy_and_hold"]["trials"] == 1
    assert by_run["boj_rotation"]["trials_source"] == "1 trial of boj_rotation on the same data and period in the ledger"
    assert ("DSR trials (configurations of each run's theme in the ledger, same data and period): boj_rotation 1, "
            "buy_and_hold 1") in result.stdout


def test_run_ids_latest_and_trials(runs, tmp_path):
    out = tmp_path / "cmp"
    first = run_ids(runs)[0]
    result = invoke("compare", first, "--results", runs, "--latest", 1, "--trials", 25, "--out", out, FAST,
                    "--bootstrap-samples", 500, "--block-sessions", 10, "--trials-reason", "a grid in a notebook")
    assert result.exit_code == 0, result.output
    assert "DSR trials: 25 for each run (given with --trials: a grid in a notebook)" in result.stdout
    assert "10-session blocks, 500 samples" in result.stdout
    assert [r["run_id"] for r in json.loads((out / "compare.json").read_text())["runs"]] == run_ids(runs)


def test_trials_without_a_reason_is_a_usage_error(runs, tmp_path):
    result = invoke("compare", "--results", runs, "--latest", 1, "--trials", 25, "--out", tmp_path / "c", FAST)
    assert result.exit_code == 2
    assert "--trials needs --trials-reason" in result.stderr
    assert not (tmp_path / "c").exists()


def test_default_out_is_a_new_compare_folder_under_results(runs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(runs, results)
    for _ in range(2):
        assert invoke("compare", "--results", results, "--latest", 2, FAST).exit_code == 0
    made = sorted(p.name for p in results.iterdir() if p.name.startswith("compare-"))
    assert len(made) == 2 and made[0] != made[1]
    assert all(len(name) == len("compare-20260101T000000-abcd") for name in made)
    # comparisons are not runs: --latest still finds the same two runs
    assert json.loads((results / made[1] / "compare.json").read_text())["runs"] == \
        json.loads((results / made[0] / "compare.json").read_text())["runs"]


def test_open_launches_the_page(runs, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr("click.launch", lambda url, **kw: opened.append(url))
    assert invoke("compare", "--results", runs, "--latest", 1, "--out", tmp_path / "c", FAST, "--open").exit_code == 0
    assert opened == [str(tmp_path / "c" / "compare.html")]


def test_missing_run_folder_exits_2_naming_it(runs, tmp_path):
    result = invoke("compare", runs / run_ids(runs)[0], tmp_path / "gone", "--out", tmp_path / "c", FAST)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: {tmp_path / 'gone'}: no such run folder (not a path, nor a run id in results/).")
    assert not (tmp_path / "c").exists()


def test_corrupted_run_folder_exits_2_naming_the_file(runs, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(runs / run_ids(runs)[0], broken)
    (broken / "returns.csv").write_bytes((broken / "returns.csv").read_bytes()[:-40])
    result = invoke("compare", broken, "--out", tmp_path / "c", FAST)
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {broken / 'returns.csv'}: does not match the sha256 recorded in manifest.json "
                             "(changed or truncated after the run). Re-run its config with `themebt run CONFIG` "
                             "to rebuild the folder.\n")


def test_a_folder_that_is_not_a_run_exits_2(tmp_path):
    (tmp_path / "notes").mkdir()
    result = invoke("compare", tmp_path / "notes", FAST)
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'}: not a run folder: manifest.json, returns.csv, metrics.json missing." in result.stderr


def test_existing_out_is_never_overwritten(runs, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "keep.txt").write_text("mine")
    result = invoke("compare", "--results", runs, "--latest", 1, "--out", tmp_path / "c", FAST)
    assert result.exit_code == 2
    assert f"{tmp_path / 'c'}: already exists." in result.stderr
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["keep.txt"]


def test_nothing_to_compare_is_a_usage_error():
    result = invoke("compare")
    assert result.exit_code == 2
    assert "give one or more RUN folders or run ids, or --latest N" in result.stderr


def test_help_has_an_example():
    result = invoke("compare", "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output and "themebt compare --latest" in result.output
    assert "compare" in invoke("--help").output
