"""Thin holdings: each run records the share of held sessions on which a holding did not trade, and compare shows it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import pandas as pd

from backtest.report.compare import compare_runs
from backtest.config import spec_from_mapping
from backtest.research.run import execute_run
from tests.conftest import make_prices


def _csv_run(tmp_path, volumes: list[float]):
    n = len(volumes)
    rng = np.random.default_rng(2)
    closes = {"TOPIX": list(2000 * np.cumprod(1 + rng.normal(0, 0.01, n))),
              "AAA": list(1000 * np.cumprod(1 + rng.normal(0, 0.01, n)))}
    grid = make_prices(closes, start="2024-01-04")
    folder = tmp_path / "prices"
    folder.mkdir()
    for t in grid.tickers:
        vol = volumes if t == "AAA" else [1e6] * n
        pd.DataFrame({"Date": grid.sessions.strftime("%Y-%m-%d"), "Open": grid.open[t], "High": grid.high[t],
                      "Low": grid.low[t], "Close": grid.close[t], "Volume": vol}).to_csv(folder / f"{t}.csv", index=False)
    spec = spec_from_mapping({"theme": "buy_and_hold", "benchmark": "TOPIX", "params": {"basket": ["AAA"]},
                              "execution": {"commission_bps": 0, "slippage_bps": 0, "lot_sizes": {"AAA": 1}},
                              "data": {"source": "csv", "path": str(folder)}}, file="thin.yaml")
    return execute_run(spec, tmp_path / "results", tearsheet=False), folder


def test_the_untraded_share_of_a_holding_is_counted_from_its_volume(tmp_path):
    volumes = [1e6] * 4 + [0, 1e6, 0, 0, 1e6, 1e6, 0, 1e6] * 3
    outcome, prices = _csv_run(tmp_path, volumes)
    doc = json.loads((outcome.folder / "metrics.json").read_text())
    # by hand: sessions on which positions.csv holds AAA at the close, and which of them had volume 0
    positions = pd.read_csv(outcome.folder / "positions.csv", index_col=0)
    volume = pd.read_csv(prices / "AAA.csv", index_col=0)["Volume"]
    held = positions["AAA"].to_numpy() > 0
    untraded = held & (volume.to_numpy() == 0)
    assert held.sum() > 20
    got = doc["liquidity"]["AAA"]
    assert got == {"sessions_held": int(held.sum()), "untraded_sessions": int(untraded.sum()),
                   "untraded_share": untraded.sum() / held.sum(), "volume_known": True}
    assert "TOPIX" not in doc["liquidity"]  # never held
    c = compare_runs([outcome.folder])
    label = c.labels[0]
    assert c.metrics[label]["untraded_share_max"] == round(untraded.sum() / held.sum(), 12)
    assert c.metrics[label]["untraded"]["AAA"]["sessions_held"] == int(held.sum())


@pytest.mark.slow
def test_on_real_prices_the_thin_sector_etf_is_named_and_daily_beta_is_flagged(tmp_path, real_data):
    # the case: sector ETF 1630 skips about a quarter of sessions; equal_weight's daily beta is low
    from click.testing import CliRunner

    from backtest.cli.main import main
    from tests.conftest import REPO

    result = CliRunner().invoke(main, ["run", str(REPO / "configs/equal_weight.yaml"), "--data", f"csv:{real_data}",
                                       "--start", "2016-02-05", "--end", "2025-12-30", "--out", str(tmp_path),
                                       "--no-tearsheet"])
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    doc = json.loads((folder / "metrics.json").read_text())
    assert 0.2 < doc["liquidity"]["1630"]["untraded_share"] < 0.3
    assert doc["monthly"]["beta"] - doc["relative"]["beta"] > 0.1
    assert "beta" in doc["monthly"]["daily_monthly_disagree"]
