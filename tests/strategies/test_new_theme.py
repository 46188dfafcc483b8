"""A sixth theme added exactly as docs/themes.md tells a newcomer: one strategy file, one config, one test."""

from __future__ import annotations

import re
import sys

import pytest
from click.testing import CliRunner

import strategies
from backtest.cli.main import main
from strategies import registry
from tests.conftest import REPO

DOC = REPO / "docs" / "themes.md"
THEMES = ("domestic_demand_wages", "robotics_reindustrialization", "boj_rotation", "governance_reform",
          "exporter_domestic_rotation", "buy_and_hold", "equal_weight")


def doc_blocks() -> dict[str, str]:
    """The fenced code blocks of the 'Add a sixth theme' section, keyed by the path on their first line."""
    text = DOC.read_text(encoding="utf-8").split("## Add a sixth theme", 1)[1]
    blocks = {}
    for body in re.findall(r"```(?:python|yaml)\n(.*?)```", text, flags=re.S):
        first = body.splitlines()[0]
        blocks[first.lstrip("# ").strip()] = body
    return blocks


@pytest.fixture
def sixth_theme(tmp_path, monkeypatch):
    """The documented module dropped into a folder on the strategies package path, unregistered afterwards."""
    blocks = doc_blocks()
    folder = tmp_path / "strategies"
    folder.mkdir()
    (folder / "election_rally.py").write_text(blocks["strategies/election_rally.py"], encoding="utf-8")
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "election_rally.yaml").write_text(blocks["configs/election_rally.yaml"], encoding="utf-8")
    monkeypatch.setattr(strategies, "__path__", [*strategies.__path__, str(folder)])
    try:
        yield tmp_path, blocks
    finally:
        registry._THEMES.pop("election_rally", None)
        sys.modules.pop("strategies.election_rally", None)


def test_the_doc_has_the_three_files():
    assert set(doc_blocks()) == {"strategies/election_rally.py", "configs/election_rally.yaml",
                                 "tests/strategies/test_election_rally.py"}


def test_a_sixth_theme_is_listed_and_runs(sixth_theme, monkeypatch):
    root, _ = sixth_theme
    monkeypatch.chdir(root)
    runner = CliRunner()
    listed = runner.invoke(main, ["themes"])
    assert listed.exit_code == 0, listed.output
    assert re.search(r"election_rally\s+ElectionRally\s+configs/election_rally.yaml", listed.output)
    assert "Hold the Nikkei 225 ETF for a month after a lower-house election." in listed.output

    run = runner.invoke(main, ["run", "configs/election_rally.yaml", "--start", "2024-01-04", "--end", "2025-06-30",
                               "--out", str(root / "out"), "--no-tearsheet"])
    assert run.exit_code == 0, run.output
    folder = next(p for p in (root / "out").iterdir() if p.is_dir())
    orders = (folder / "orders.csv").read_text(encoding="utf-8")
    assert "1321" in orders  # the 2024-10-27 lower-house election opened a window


def test_the_documented_test_passes(sixth_theme):
    _, blocks = sixth_theme
    namespace: dict = {}
    exec(compile(blocks["tests/strategies/test_election_rally.py"], "test_election_rally.py", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 2
    for test in tests:
        test()


def test_themes_lists_all_seven_with_their_configs(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, ["themes"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for key in THEMES:
        row = next(i for i, line in enumerate(lines) if line.startswith(f"{key} "))
        assert lines[row].rstrip().endswith(f"configs/{key}.yaml")
        cls = registry.get_theme(key)
        assert lines[row + 1].strip() == cls.summary() != ""
