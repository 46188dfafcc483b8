"""The shipped theme configs and classes: they load, name only known tickers, document themselves, and run."""

from __future__ import annotations

import re

import pytest
import yaml
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.config import load_config
from backtest.market.instruments import instruments
from strategies import discover
from tests.conftest import REPO
from tests.strategies.test_new_theme import THEMES

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def test_every_theme_has_a_config():
    assert {p.stem for p in CONFIGS} >= set(THEMES)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads_and_names_only_demo_tickers(path):
    spec = load_config(path)
    assert spec.theme == path.stem
    unknown = set(spec.tickers) - set(instruments())
    assert not unknown


@pytest.mark.parametrize("key", THEMES)
def test_config_spells_out_every_parameter(key):
    raw = yaml.safe_load((REPO / "configs" / f"{key}.yaml").read_text(encoding="utf-8"))
    assert set(raw["params"]) == set(discover()[key].default_params())


@pytest.mark.parametrize("key", THEMES)
def test_docstring_has_the_four_headings(key):
    doc = discover()[key].__doc__
    first, blank, *rest = doc.splitlines()
    assert first.strip().endswith(".") and blank.strip() == ""
    for heading in ("Idea:", "Signal:", "Holds:", "Falsified if:"):
        assert re.search(rf"^\s*{heading}", doc, flags=re.M), heading


@pytest.mark.parametrize("key", THEMES)
def test_every_number_has_bounds(key):
    cls = discover()[key]
    numeric = {k for k, v in cls.default_params().items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numeric <= set(cls.param_bounds)
    for name, (lo, hi) in cls.param_bounds.items():
        assert lo <= cls.default_params()[name] <= hi


def test_basket_parameters_are_picked_up():
    for key in THEMES:
        cls = discover()[key]
        params = cls.default_params()
        baskets = [t for name, v in params.items() if name.endswith("basket") for t in v]
        assert set(baskets) <= set(cls.tickers_for(params))


@pytest.mark.slow
@pytest.mark.parametrize("key", THEMES)
def test_config_runs_on_demo(key, tmp_path):
    result = CliRunner().invoke(main, ["run", str(REPO / "configs" / f"{key}.yaml"), "--out", str(tmp_path),
                                       "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DEMO DATA" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("key", THEMES)
def test_config_runs_on_real_csv(key, tmp_path, real_data):
    result = CliRunner().invoke(main, ["run", str(REPO / "configs" / f"{key}.yaml"), "--data", f"csv:{real_data}",
                                       "--start", "2016-02-05", "--out", str(tmp_path), "--no-tearsheet"])
    assert result.exit_code == 0, result.output
