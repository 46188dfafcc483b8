"""The Python API (backtest.api, re-exported as `import backtest as tb`): same numbers as the CLI, no global state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backtest as tb
from backtest.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "configs" / "boj_rotation.yaml"
PERIOD = {"start": "2020-01-06", "end": "2020-12-30"}


@pytest.fixture(scope="module")
def boj():
    return tb.run(CONFIG, data="demo", **PERIOD)


def test_import_is_cheap_and_lists_the_api():
    code = ("import sys, backtest as tb; heavy = [m for m in ('backtrader', 'matplotlib', 'quantstats', 'pandas') "
            "if m in sys.modules]; print(heavy, sorted(tb.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("[] ")
    for name in ("run", "compare", "sweep", "load_config", "Theme", "register_theme"):
        assert f"'{name}'" in out


def test_api_names_resolve():
    from strategies.base import Theme
    from strategies.registry import register_theme

    assert tb.Theme is Theme and tb.register_theme is register_theme
    assert tb.load_config(CONFIG).theme == "boj_rotation"
    # the modules of the same name stay importable and patchable
    import backtest.research.run as run_module

    assert callable(run_module.execute_run) and callable(tb.run)


def test_run_matches_the_cli_folder(boj, tmp_path):
    from click.testing import CliRunner

    from backtest.cli.main import main

    result = CliRunner().invoke(main, ["run", str(CONFIG), "--data", "demo", "--start", PERIOD["start"], "--end",
                                       PERIOD["end"], "--out", str(tmp_path / "cli"), "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    (cli_folder,) = (tmp_path / "cli").glob("*boj_rotation*")
    api_folder = boj.write(tmp_path / "api", tearsheet=False)
    assert api_folder.parent == tmp_path / "api" and boj.folder == api_folder
    for name in ("returns.csv", "positions.csv", "trades.csv", "orders.csv", "metrics.json", "config.yaml",
                 "equity.png"):
        assert (api_folder / name).read_bytes() == (cli_folder / name).read_bytes(), name
    assert json.loads((api_folder / "metrics.json").read_text()) == json.loads(json.dumps(boj.metrics, default=str))
    # the summary is what the command printed, minus the folder line
    printed = [line for line in result.output.splitlines() if not line.endswith("/")]
    assert boj.summary.splitlines() == printed


def test_frames_and_flags(boj):
    assert boj.synthetic and boj.metrics["synthetic_data"] is True
    assert "SYNTHETIC" in boj.summary.splitlines()[0]
    assert list(boj.returns.columns) == ["boj_rotation", "TOPIX"]
    assert isinstance(boj.positions, pd.DataFrame) and isinstance(boj.orders, pd.DataFrame)
    assert str(boj.returns.index[1].date()) == PERIOD["start"] or boj.returns.index[0] <= pd.Timestamp(PERIOD["start"])
    assert boj.returns.index[-1] == pd.Timestamp(PERIOD["end"])
    # the CAGR in metrics is the compounded daily returns, computed here from the frame
    r = boj.returns["boj_rotation"].iloc[1:]
    years = len(r) / boj.metrics["periods_per_year"]
    assert boj.metrics["strategy"]["cagr"] == pytest.approx(float(np.prod(1 + r) ** (1 / years) - 1), rel=1e-9)


def test_bad_input_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="end"):
        tb.run(CONFIG, data="demo", start="2021-01-05", end="2020-01-06")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        tb.run(CONFIG, data="demo", start="2020-13-01")
    with pytest.raises(ConfigError, match="holding_sessions"):
        tb.sweep(CONFIG, grid={"holding_sessions": ["soon"]}, out_dir=tmp_path, data="demo", **PERIOD)


def test_chart_and_run_leave_matplotlib_alone(tmp_path):
    import matplotlib

    before_backend = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        with matplotlib.rc_context({"font.family": "serif", "axes.grid": True, "lines.linewidth": 3.0}):
            rc = dict(matplotlib.rcParams)
            run = tb.run(CONFIG, data="demo", **PERIOD)
            fig = run.chart(tmp_path / "chart.png")
            run.write(tmp_path / "out", tearsheet=False, ledger=False)
            assert matplotlib.get_backend() == "svg"
            assert dict(matplotlib.rcParams) == rc
        from matplotlib.figure import Figure

        assert isinstance(fig, Figure)
        assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # the style of the process does not leak into the picture: the PNG is the folder's equity.png
        (folder,) = (tmp_path / "out").iterdir()
        assert (tmp_path / "chart.png").read_bytes() == (folder / "equity.png").read_bytes()
    finally:
        matplotlib.use(before_backend)


def test_compare_and_sweep(boj, tmp_path):
    other = tb.run(ROOT / "configs" / "equal_weight.yaml", data="demo", **PERIOD)
    folder = other.write(tmp_path / "runs", tearsheet=False)
    compared = tb.compare([boj, folder], out=tmp_path / "cmp")
    assert compared.synthetic
    assert (tmp_path / "cmp" / "compare.csv").is_file() and not (tmp_path / "cmp" / "quantstats.html").exists()
    assert compared.returns.shape[1] == 2
    # each compared column is the run's own returns on the common sessions
    col = compared.returns.iloc[:, 1]
    assert np.allclose(col.to_numpy(), other.returns["equal_weight"].reindex(col.index).to_numpy())

    result = tb.sweep(CONFIG, grid={"holding_sessions": [20, 60]}, out_dir=tmp_path / "sw", data="demo", **PERIOD)
    assert sorted(result["table"]["param_holding_sessions"]) == [20, 60]
    assert result["folder"].parent == tmp_path / "sw"


def test_the_equity_png_does_not_depend_on_the_process_style(boj, tmp_path):
    """Once quantstats is imported its seaborn theme is the process's style; equity.png must not change with it
    (before, the second run of `themebt run --all` drew a different equity.png from the same run alone)."""
    import matplotlib

    from backtest.report.tearsheet import equity_png

    r, name, bench = boj.returns, "boj_rotation", "TOPIX"
    equity_png(r, name, bench, tmp_path / "plain.png", "title")
    with matplotlib.rc_context({"axes.facecolor": "#eaeaf2", "font.size": 14, "axes.grid": True,
                                "lines.linewidth": 2.5, "savefig.facecolor": "grey"}):
        equity_png(r, name, bench, tmp_path / "styled.png", "title")
    assert (tmp_path / "plain.png").read_bytes() == (tmp_path / "styled.png").read_bytes()
