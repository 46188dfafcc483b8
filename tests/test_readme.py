"""The README tells the truth: its set-up commands are CI's, its example output is a real run's, its theme runs."""

from __future__ import annotations

import re
import sys

import pytest
from click.testing import CliRunner

import strategies
from backtest.cli.main import main
from strategies import registry
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def fenced(section: str, language: str) -> list[str]:
    text = README.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_two_setup_commands_and_ci_runs_the_test_one():
    (block,) = fenced("Set up and run", "bash")
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert install_and_run.endswith("themebt run configs/boj_rotation.yaml")
    assert install_and_test in (REPO / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_worked_example_prints_what_the_readme_shows(tmp_path):
    (block,) = fenced("A worked example", "text")
    shown = block.splitlines()
    result = CliRunner().invoke(main, ["run", str(REPO / "configs/boj_rotation.yaml"), "--out", str(tmp_path),
                                       "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    printed = result.stdout.splitlines()
    assert shown[0] == "$ .venv/bin/themebt run configs/boj_rotation.yaml"
    # the run folder's name has the time in it; every other line must match
    assert printed[0] == shown[1]
    assert re.fullmatch(r"\S+/\d{8}T\d{6}-boj_rotation-[0-9a-f]{4}/", printed[1])
    assert printed[2:] == shown[3:]


def test_the_readme_theme_registers_and_runs(tmp_path, monkeypatch):
    (code,) = fenced("Add a theme", "python")
    (config,) = fenced("Add a theme", "yaml")
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "my_theme.py").write_text(code, encoding="utf-8")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "my_theme.yaml").write_text(config, encoding="utf-8")
    monkeypatch.setattr(strategies, "__path__", [*strategies.__path__, str(folder)])
    monkeypatch.chdir(tmp_path)
    try:
        result = CliRunner().invoke(main, ["run", "configs/my_theme.yaml", "--start", "2024-01-04",
                                           "--end", "2024-12-30", "--out", "out", "--no-tearsheet"])
        assert result.exit_code == 0, result.output
        run = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
        orders = (run / "orders.csv").read_text(encoding="utf-8")
        # bought after the 2024-03-19 hike, sold 20 sessions later
        assert "2024-03-19,1631,buy" in orders
        assert re.search(r"2024-04-1\d,1631,sell", orders)
    finally:
        registry._THEMES.pop("my_theme", None)
        sys.modules.pop("strategies.my_theme", None)
