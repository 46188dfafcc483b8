"""setup.cfg declares what the code imports, bounds every major version, and pyarrow is needed only by the store."""

from __future__ import annotations

import ast
import configparser
import re
import subprocess
import sys

import pandas as pd
import pytest

from backtest.errors import DataError
from tests.conftest import REPO

CFG = configparser.ConfigParser()
CFG.read(REPO / "setup.cfg")
# an import name that is not its distribution's name
DIST_OF = {"yaml": "pyyaml", "distributed": "dask", "backtest": None, "strategies": None, "tests": None}


def _requirements(text: str) -> dict[str, str]:
    out = {}
    for line in text.strip().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9_.-]+", line).group(0).lower().replace("-", "_")
            out[name] = line
    return out


def _imports(folders) -> set[str]:
    names = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "__future__"}


def test_every_import_of_the_package_is_declared():
    required = _requirements(CFG["options"]["install_requires"])
    extras = {}
    for text in CFG["options.extras_require"].values():
        extras.update(_requirements(text))
    for name in sorted(_imports(["backtest", "strategies"])):
        dist = DIST_OF.get(name, name)
        if dist is None:
            continue
        dist = dist.lower().replace("-", "_")
        assert dist in required or dist in extras, f"{name} is imported under backtest/ or strategies/ but not declared"
    # scipy is imported directly (stats, study): declared directly, not left to quantstats
    assert "scipy" in required


def test_every_requirement_has_a_lower_bound_and_a_major_bound():
    for name, line in _requirements(CFG["options"]["install_requires"]).items():
        assert "==" in line or (">=" in line and "<" in line), f"{line}: give >=LOW,<NEXT_MAJOR (or pin with ==)"


def test_pyarrow_is_an_extra_not_a_requirement():
    assert "pyarrow" not in _requirements(CFG["options"]["install_requires"])
    assert "pyarrow" in _requirements(CFG["options.extras_require"]["store"])
    assert "pyarrow" in _requirements(CFG["options.extras_require"]["test"])


def test_a_demo_run_and_its_folder_need_no_pyarrow(tmp_path):
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"  # any import of pyarrow now fails
        "import backtest as tb\n"
        f"run = tb.run({str(REPO / 'configs/boj_rotation.yaml')!r}, data='demo', start='2020-01-06', end='2020-06-30')\n"
        f"print(run.write({str(tmp_path)!r}, tearsheet=False).name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / result.stdout.strip() / "metrics.json").is_file()


def test_the_store_without_pyarrow_says_how_to_install_it(tmp_path, monkeypatch):
    from backtest.data.sources import normalise
    from backtest.data.store import Store

    grid = pd.DatetimeIndex(["2024-01-04", "2024-01-05"], name="date")
    frame = normalise(pd.DataFrame({"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}, index=grid),
                      source="csv", ticker="7203", symbol="7203", basis="split_adjusted")
    store = Store(tmp_path)
    store.write("csv", "7203", frame, ("2024-01-04", "2024-01-05"), {})
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(DataError, match=r"themebt\[store\]"):
        store.read("csv", "7203")
    with pytest.raises(DataError, match="pyarrow is not installed"):
        store.write("csv", "7203", frame, ("2024-01-04", "2024-01-05"), {})
