"""themebt walkforward: folds that never overlap, a choice with a known answer, stitched out-of-sample returns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.cli.main import main
from backtest.config import spec_from_mapping
from backtest.data import DataSource, load_prices
from backtest.errors import ConfigError
from strategies.base import ThemeStrategy
from backtest.research.sweep import parse_grid
from backtest.research.walkforward import folds, parse_duration, walk_forward
from strategies.registry import register_theme
from tests.conftest import REPO


@register_theme("test_wf_share")
class Share(ThemeStrategy):
    """Test theme: `share` of the portfolio in the benchmark from the first session, the rest in cash."""

    params = dict(share=1.0)
    param_bounds = {"share": (0.0, 1.0)}

    def target_weights(self, view):
        return {view.benchmark: self.p.share} if view.is_first else None


def share_spec(start="2010-01-04", end="2016-12-30"):
    raw = {"theme": "test_wf_share", "period": {"start": start, "end": end},
           "execution": {"commission_bps": 0, "slippage_bps": 0, "ticks": False, "price_limits": False}}
    return spec_from_mapping(raw, file="wf-test.yaml")


def test_folds_follow_each_other_without_gap_or_overlap():
    grid = tokyo_sessions("2010-01-04", "2016-12-30")
    plan = folds(grid, parse_duration("3y", "--train"), parse_duration("1y", "--test"))
    assert [f.test_start.year for f in plan] == [2013, 2014, 2015, 2016]
    for f in plan:
        assert f.train_start <= f.train_end < f.test_start <= f.test_end
        assert grid[grid.get_loc(f.train_end) + 1] == f.test_start
    for before, after in zip(plan, plan[1:]):
        assert grid[grid.get_loc(before.test_end) + 1] == after.test_start
    assert plan[-1].test_end == grid[-1]
    short = folds(grid, parse_duration("5y", "--train"), parse_duration("18m", "--test"))
    assert [(f.test_start.date().isoformat(), f.test_end.date().isoformat()) for f in short] == [
        ("2015-01-05", "2016-07-01"), ("2016-07-04", "2016-12-30")]


@pytest.mark.parametrize("text", ["5", "0y", "5d", "y"])
def test_bad_durations_are_config_errors(text):
    with pytest.raises(ConfigError, match="expected a length such as 5y or 18m"):
        parse_duration(text, "--train")


def test_each_fold_picks_the_share_that_won_its_training_window():
    """Ranked by CAGR, all-in wins a training window in which TOPIX rose from the first fill (the second
    session's open) to the last close, and half-in wins one in which it fell."""
    spec = share_spec(start="2017-01-04", end="2023-12-28")
    grid = parse_grid(["share=0.5,1.0"], spec)
    wf = walk_forward(spec, grid, train="1y", test="1y", rank_by="cagr")
    topix = load_prices(DataSource("demo"), ["TOPIX"], "2017-01-04", "2023-12-28")
    chosen = []
    for row in wf.folds.itertuples():
        window = slice(pd.Timestamp(row.train_start), pd.Timestamp(row.train_end))
        close, open_ = topix.close["TOPIX"].loc[window], topix.open["TOPIX"].loc[window]
        rose = close.iloc[-1] > open_.iloc[1]
        chosen.append(row.param_share)
        assert row.param_share == (1.0 if rose else 0.5), row
    assert {0.5, 1.0} == set(chosen), "the demo years include both kinds of window"
    assert len(wf.folds) == 6


def test_stitched_returns_are_the_test_windows_only():
    spec = share_spec()
    grid = parse_grid(["share=0.5,1.0"], spec)
    wf = walk_forward(spec, grid, train="3y", test="1y", rank_by="cagr")
    returns = wf.returns
    assert returns.iloc[0].tolist() == [0.0, 0.0]
    assert returns.index[1] == pd.Timestamp(wf.folds["test_start"].iloc[0])
    assert returns.index.is_unique and returns.index.is_monotonic_increasing
    assert len(returns) - 1 == wf.folds["test_sessions"].sum()
    for row in wf.folds.itertuples():
        window = returns.loc[pd.Timestamp(row.test_start):pd.Timestamp(row.test_end), spec.name]
        assert np.prod(1 + window.to_numpy()) - 1 == pytest.approx(row.oos_return, rel=1e-12)
        # half in cash earns about half the benchmark's daily return: positions were warmed up
        bench = returns.loc[window.index, "TOPIX"]
        assert np.allclose(window, row.param_share * bench, atol=0.02 * bench.abs().max() + 1e-9)
    assert wf.metrics["walkforward"]["folds"] == len(wf.folds)
    assert {"is_sharpe", "oos_sharpe"} <= set(wf.folds.columns)


def test_too_little_data_is_a_config_error():
    spec = share_spec(start="2015-01-05", end="2015-12-30")
    with pytest.raises(ConfigError, match="shorter than one training window"):
        walk_forward(spec, parse_grid(["share=0.5,1.0"], spec), train="2y", test="1y")


def test_cli_walkforward_writes_a_tearsheet_and_prints_is_vs_oos(tmp_path):
    result = CliRunner().invoke(main, ["walkforward", str(REPO / "configs/boj_rotation.yaml"), "--grid",
                                       "holding_sessions=20,60", "--train", "2y", "--test", "1y", "--start",
                                       "2021-01-04", "--end", "2024-12-30", "--out", str(tmp_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # and ledger.jsonl
    assert folder.name.startswith("walkforward-") and "-boj_rotation-" in folder.name
    assert {"returns.csv", "folds.csv", "insample.csv", "metrics.json", "walkforward.json", "tearsheet.html",
            "equity.png"} <= {p.name for p in folder.iterdir()}
    assert "SYNTHETIC DEMO DATA" in (folder / "tearsheet.html").read_text()
    assert "in-sample Sharpe" in result.stdout and "out-of-sample Sharpe" in result.stdout
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["walkforward"]["folds"] == 2 and metrics["benchmark"]["cagr"] is not None
    # the trial ledger: each grid point of each fold's training window is a trial on that window
    entries = [json.loads(x) for x in (tmp_path / "ledger.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(entries) == 2 * 2 and {e["kind"] for e in entries} == {"walkforward"}
    folds = pd.read_csv(folder / "folds.csv")
    assert sorted({(e["first_session"], e["last_session"]) for e in entries}) == \
        sorted(zip(folds["train_start"], folds["train_end"]))
    assert sorted(e["params"]["holding_sessions"] for e in entries) == [20, 20, 60, 60]
    assert all(e["run_id"].startswith(f"{folder.name}/fold") for e in entries)


def test_walkforward_help_has_an_example():
    result = CliRunner().invoke(main, ["walkforward", "--help"])
    assert result.exit_code == 0 and "Example:" in result.output


def test_two_walkforwards_with_the_same_name_never_clash(tmp_path, monkeypatch):
    """The same second and the same random suffix: the second write retries, then refuses; never an OSError."""
    import backtest.research.walkforward as wf_module
    from backtest.errors import ResultsError
    from backtest.research.walkforward import write_walkforward

    spec = share_spec(start="2017-01-04", end="2020-12-28")
    grid = parse_grid(["share=0.5,1.0"], spec)
    wf = walk_forward(spec, grid, train="1y", test="1y", rank_by="cagr")
    import datetime as dt

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2024, 1, 4, 9, 0, tzinfo=dt.timezone.utc)

    monkeypatch.setattr(wf_module.secrets, "token_hex", lambda n: "beef")
    import types

    monkeypatch.setattr(wf_module, "dt", types.SimpleNamespace(datetime=Frozen, timezone=dt.timezone, date=dt.date,
                                                                timedelta=dt.timedelta))
    first = write_walkforward(wf, tmp_path, spec, grid, tearsheet=False)
    with pytest.raises(ResultsError, match="could not find a free run id"):
        write_walkforward(wf, tmp_path, spec, grid, tearsheet=False)
    assert (first / "folds.csv").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
