"""themebt run through the CLI: files written, banner, exit codes and messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from tests.conftest import REPO

EXPECTED_FILES = {"config.yaml", "manifest.json", "returns.csv", "positions.csv", "trades.csv", "orders.csv",
                  "metrics.json", "tearsheet.html", "equity.png"}
SHORT = ["--start", "2023-01-04", "--end", "2024-12-30"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_folders(out: Path) -> list[Path]:
    # ledger.jsonl (the trial ledger) sits beside the run folders
    return sorted(p for p in out.iterdir() if not p.name.startswith(".") and p.is_dir()) if out.exists() else []


def test_run_writes_a_complete_labelled_run_folder(tmp_path):
    result = invoke("run", REPO / "configs/boj_rotation.yaml", "--out", tmp_path, *SHORT)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "SYNTHETIC DEMO DATA: not market history"
    (folder,) = run_folders(tmp_path)
    assert {p.name for p in folder.iterdir()} == EXPECTED_FILES
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["data"]["synthetic"] is True
    assert manifest["data"]["label"] == "SYNTHETIC DEMO DATA: not market history"
    assert manifest["calendar"]["name"].startswith("exchange_calendars")
    assert manifest["benchmark"] == "TOPIX"
    page = (folder / "tearsheet.html").read_text()
    assert "SYNTHETIC DEMO DATA" in page and "TOPIX" in page
    assert "CAGR" in result.output and "TOPIX" in result.output
    assert "news before an open → that open, else close → next open" in result.output
    assert "capacity: largest fill" in result.output


def test_two_runs_never_share_a_folder_and_write_identical_results(tmp_path):
    for _ in range(2):
        assert invoke("run", REPO / "configs/boj_rotation.yaml", "--out", tmp_path, "--no-tearsheet", *SHORT).exit_code == 0
    first, second = run_folders(tmp_path)
    assert first.name != second.name
    for name in ("returns.csv", "trades.csv", "orders.csv", "positions.csv", "metrics.json", "config.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


# Broken configs, price files, event files and result folders: tests/bad_inputs/cases.yaml.


def test_bad_csv_folder_names_the_file_and_leaves_no_results(tmp_path):
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "TOPIX.csv").write_text("date,open,high,low,close\n2024-01-04,1,1,1,1\n2024-01-05,1,1,1,1\n")
    (prices / "1631.csv").write_text("date,open,high,low\n2024-01-04,1,1,1\n")
    (prices / "1632.csv").write_text("date,open,high,low,close\n2024-01-04,1,1,1,1\n")
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(REPO / "configs/boj_rotation.yaml"), "--data", f"csv:{prices}",
                                       "--out", str(out), "--start", "2024-01-04", "--end", "2024-01-05"])
    assert result.exit_code == 2, result.output
    assert "1631.csv" in result.output and "close" in result.output
    assert run_folders(out) == []


@pytest.mark.parametrize("command", [[], ["run"], ["themes"]])
def test_every_command_explains_itself_with_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_the_run_command_prints_what_the_api_run_says(tmp_path):
    """The command line is a thin layer over `tb.run(...).write(...)`: the same lines, the same files."""
    import backtest as tb

    result = invoke("run", REPO / "configs/equal_weight.yaml", "--out", tmp_path / "cli", *SHORT, "--no-tearsheet")
    assert result.exit_code == 0, result.output
    run = tb.run(REPO / "configs/equal_weight.yaml", data="demo", start="2023-01-04", end="2024-12-30")
    folder = run.write(tmp_path / "api", tearsheet=False)
    expected = "\n".join(run.summary_lines(folder=True, warnings=False)).replace(str(tmp_path / "api"),
                                                                               str(tmp_path / "cli"))
    (cli_folder,) = run_folders(tmp_path / "cli")
    assert result.stdout.rstrip("\n") == expected.replace(folder.name, cli_folder.name)
    for name in ("returns.csv", "positions.csv", "trades.csv", "orders.csv", "metrics.json"):
        assert (cli_folder / name).read_bytes() == (folder / name).read_bytes(), name


def test_run_compare_and_sweep_commands_go_through_the_api():
    """No command re-implements what backtest.api does: the workflow functions are the API's to call."""
    workflow = ("execute_run", "compute_run", "run_sweep", "compare_runs", "write_comparison")
    for path in sorted((REPO / "backtest" / "cli").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not [name for name in workflow if name in text], path.name
