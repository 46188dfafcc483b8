"""CI lints and type-checks after installing and before the tests, and the tree passes the lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_ci_runs_ruff_and_mypy_between_install_and_tests():
    install = CI.index(".venv/bin/pip install -q -e '.[test]'\n")
    ruff, mypy = CI.index(".venv/bin/ruff check backtest strategies benchmarks tests"), CI.index(".venv/bin/mypy")
    tests = CI.rindex(".venv/bin/python -m pytest")
    assert install < ruff < tests and install < mypy < tests
    assert 'if [ "$status" -eq 5 ]' in CI  # no test collected is not a failure


def test_the_tree_passes_ruff():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        ruff = shutil.which("ruff")
    if not ruff:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run([str(ruff), "check", "backtest", "strategies", "benchmarks", "tests"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
