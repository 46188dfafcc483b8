"""The package layout's import rules (docs/architecture.md), checked on the source: a rule that is only
written down is broken by the first hurried import.

Each layer may import only the layers below it. Imports under `if TYPE_CHECKING:` are for type hints
only and never run, so they are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# top to bottom; a layer imports only layers listed after it (and `errors`, `safeio`, `safeyaml`).
LAYERS = [
    "backtest.cli",
    "backtest.api",
    "backtest.research",
    "backtest.report",
    "backtest.execution.backtrader",
    "backtest.execution",
    "backtest.results",
    "backtest.config",
    "strategies",
    "backtest.data",
    "backtest.events",
    "backtest.market",
]
BASE = ("backtest.errors", "backtest.safeio", "backtest.safeyaml")
# The rules the layout exists for, named so a failure says which one broke.
FORBIDDEN = {
    "backtest.execution": ("backtest.report", "backtest.cli", "backtest.research", "backtest.api"),
    "backtest.market": ("backtest.report", "backtest.cli", "backtest.research", "backtest.execution",
                        "backtest.data", "strategies"),
    "strategies": ("backtest.data", "backtest.cli", "backtest.execution.backtrader", "backtest.research",
                   "backtest.report", "backtest.results"),
}


def _layer(module: str) -> str | None:
    for layer in sorted(LAYERS + list(BASE), key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.AST):
    """Absolute imports outside `if TYPE_CHECKING:` blocks, as (line, module) pairs."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _layer(node.module) is not None:
                yield node.lineno, node.module
            else:  # `from backtest import api`: the layer is the imported name's
                for alias in node.names:
                    yield node.lineno, f"{node.module}.{alias.name}"


def _imports(root: Path):
    """(where, layer, imported module, its layer) for every runtime import between layers under root."""
    for folder in ("backtest", "strategies"):
        for path in sorted((root / folder).rglob("*.py")):
            here = _layer(_module_name(path.relative_to(root)))
            if here is None or here in BASE:
                continue
            for line, module in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
                target = _layer(module)
                if target is not None and target not in BASE and target != here:
                    yield f"{path.relative_to(root)}:{line}", here, module, target


def upward_imports(root: Path = REPO) -> list[str]:
    """Imports of a layer above the importing one."""
    return sorted({f"{where} ({here}) imports {module} ({target})" for where, here, module, target in _imports(root)
                   if LAYERS.index(target) < LAYERS.index(here)})


def forbidden_imports(root: Path = REPO) -> list[str]:
    """Imports the named rules forbid (some of them, e.g. strategies -> data, run downward)."""
    return sorted({f"{where} ({here}) imports {module} ({target})" for where, here, module, target in _imports(root)
                   if target in FORBIDDEN.get(here, ())})


def test_each_layer_imports_only_the_layers_below_it():
    assert upward_imports() == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_the_named_rules_hold(layer):
    broken = [v for v in forbidden_imports() if f"({layer}) imports" in v]
    assert broken == [], f"{layer} must not import {FORBIDDEN[layer]}"


def test_the_checks_see_a_forbidden_import_and_skip_type_hints(tmp_path):
    """The checker itself, on a small tree: an upward import and a forbidden downward one are reported;
    the same imports under TYPE_CHECKING are not."""
    (tmp_path / "backtest" / "market").mkdir(parents=True)
    (tmp_path / "strategies").mkdir()
    hints = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import backtest.report.compare\n"
    (tmp_path / "backtest" / "market" / "probe.py").write_text(hints + "from backtest.report import tearsheet\n")
    (tmp_path / "strategies" / "probe.py").write_text("if TYPE_CHECKING:\n    import backtest.data.frame\n"
                                                      "import backtest.data.csv\n")
    (tmp_path / "backtest" / "execution").mkdir()
    (tmp_path / "backtest" / "execution" / "probe.py").write_text("from backtest import api\n")
    assert upward_imports(tmp_path) == [
        "backtest/execution/probe.py:1 (backtest.execution) imports backtest.api (backtest.api)",
        "backtest/market/probe.py:4 (backtest.market) imports backtest.report (backtest.report)",
    ]
    assert forbidden_imports(tmp_path) == [
        "backtest/execution/probe.py:1 (backtest.execution) imports backtest.api (backtest.api)",
        "backtest/market/probe.py:4 (backtest.market) imports backtest.report (backtest.report)",
        "strategies/probe.py:3 (strategies) imports backtest.data.csv (backtest.data)",
    ]
