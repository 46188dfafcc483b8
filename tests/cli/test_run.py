"""themebt run through the CLI: files written, banner, exit codes and messages for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli import main
from tests.conftest import REPO

EXPECTED_FILES = {"config.yaml", "manifest.json", "returns.csv", "positions.csv", "trades.csv", "orders.csv",
                  "metrics.json", "tearsheet.html", "equity.png"}
SHORT = ["--start", "2023-01-04", "--end", "2024-12-30"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if not p.name.startswith(".")) if out.exists() else []


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
    assert "fill next open" in result.output


def test_two_runs_never_share_a_folder_and_write_identical_results(tmp_path):
    for _ in range(2):
        assert invoke("run", REPO / "configs/boj_rotation.yaml", "--out", tmp_path, "--no-tearsheet", *SHORT).exit_code == 0
    first, second = run_folders(tmp_path)
    assert first.name != second.name
    for name in ("returns.csv", "trades.csv", "orders.csv", "positions.csv", "metrics.json", "config.yaml"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def write(tmp_path: Path, text: str, name="config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BAD_CONFIGS = {
    "unknown_key": ("theme: boj_rotation\nexecution: {comission_bps: 3}\n",
                    "execution.comission_bps: unknown key. Did you mean 'commission_bps'?"),
    "unknown_top_key": ("theme: boj_rotation\nperiods: {start: 2020-01-06}\n", "periods: unknown key. Did you mean 'period'?"),
    "wrong_type": ("theme: boj_rotation\nexecution: {commission_bps: ten}\n", "execution.commission_bps: "),
    "out_of_range": ("theme: boj_rotation\nexecution: {slippage_bps: -1}\n", "execution.slippage_bps: Input should be greater than or equal to 0"),
    "absurd_cost": ("theme: boj_rotation\nexecution: {commission_bps: 5000}\n", "execution.commission_bps: Input should be less than or equal to 200"),
    "param_range": ("theme: boj_rotation\nparams: {holding_sessions: -3}\n", "params.holding_sessions: expected a value from 1 to 2500, got -3"),
    "param_type": ("theme: boj_rotation\nparams: {holding_sessions: soon}\n", "params.holding_sessions: expected a whole number, got 'soon'"),
    "param_unknown": ("theme: boj_rotation\nparams: {holding_session: 5}\n", "params.holding_session: unknown parameter. Did you mean 'holding_sessions'?"),
    "unknown_theme": ("theme: boj_rotaton\n", "theme: unknown theme 'boj_rotaton'. Did you mean 'boj_rotation'?"),
    "unknown_ticker": ('theme: boj_rotation\nparams: {basket: ["1631", "6955"]}\n', "params.basket[1]: unknown ticker '6955'. Did you mean '6954'?"),
    "yaml_syntax": ("theme: [boj_rotation\n", "YAML syntax error"),
    "not_a_mapping": ("- theme\n", "(top level): expected a mapping"),
    "end_before_start": ("theme: boj_rotation\nperiod: {start: 2020-01-06, end: 2019-01-04}\n", "period.end: 2019-01-04 is before period.start 2020-01-06"),
    "no_data_in_range": ("theme: boj_rotation\nperiod: {start: 2031-01-06}\n", "period.start 2031-01-06 is after the data's last session"),
    "bad_name": ("theme: boj_rotation\nname: ../escape\n", "name: '../escape' cannot be used in a folder name"),
    "leverage_long_only": ("theme: boj_rotation\nexecution: {max_gross_leverage: 2}\n", "needs borrowing"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_configs_exit_2_with_one_clear_message(tmp_path, case):
    text, expected = BAD_CONFIGS[case]
    config = write(tmp_path, text)
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(config), "--out", str(out), "--no-tearsheet"])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert str(config) in result.output
    assert "Traceback" not in result.output
    assert run_folders(out) == []


def test_missing_config_file(tmp_path):
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: (file): no such config file" in result.output


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


def test_unknown_data_option():
    result = CliRunner().invoke(main, ["run", str(REPO / "configs/boj_rotation.yaml"), "--data", "yahoo"])
    assert result.exit_code == 2
    assert "--data: 'yahoo': unknown data source" in result.output


@pytest.mark.parametrize("command", [[], ["run"], ["themes"]])
def test_every_command_explains_itself_with_an_example(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output
