"""Loud about data quality: gaps, stale prices and suspected unadjusted splits are warned about, recorded in
manifest.json, and refused under --strict."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.data import DataSource, load_prices
from backtest.market.instruments import instruments
from backtest.data.quality import GAP_SESSIONS, STALE_SESSIONS, check_prices
from tests.bad_inputs.test_corpus import HERE as CORPUS, write_good_prices
from tests.conftest import make_prices
from tests.trust.conftest import PERIOD, run_folders

def walk(n: int, seed: int = 1, start: float = 1000.0) -> list[float]:
    """A price path with small daily moves, never the same close twice."""
    return list(start * np.cumprod(1 + np.random.default_rng(seed).normal(0, 0.01, n)))


def kinds(findings) -> list[tuple[str, str]]:
    return [(f.kind, f.ticker) for f in findings]


def test_clean_prices_give_no_findings():
    prices = make_prices({"TOPIX": walk(60, 1), "1631": walk(60, 2)})
    assert check_prices(prices, "TOPIX") == []


def test_the_demo_data_is_clean():
    prices = load_prices(DataSource("demo"), ["TOPIX", *sorted(set(instruments()) - {"TOPIX"})])
    assert check_prices(prices, "TOPIX") == []


@pytest.mark.parametrize(("factor", "kind"), [(0.1, "a 1:10 split"), (0.5, "a 1:2 split"), (1 / 3, "a 1:3 split"),
                                              (4.0, "a 4:1 reverse split"), (5.0, "a 5:1 reverse split")])
def test_a_split_sized_jump_is_suspected(factor, kind):
    path = walk(40, 2)
    path[20:] = [p * factor for p in path[20:]]
    prices = make_prices({"TOPIX": walk(40, 1), "1631": path})
    (finding,) = check_prices(prices, "TOPIX")
    assert (finding.kind, finding.ticker, finding.date) == ("split", "1631", prices.sessions[20].date())
    assert kind in finding.message and "while the benchmark does not" in finding.message
    assert "Use split-adjusted prices" in finding.message


def test_a_market_wide_crash_is_not_a_split():
    crash = [1.0] * 20 + [0.5] * 20
    prices = make_prices({"TOPIX": [p * c for p, c in zip(walk(40, 1), crash)],
                          "1631": [p * c for p, c in zip(walk(40, 2), crash)]})
    assert [f for f in check_prices(prices, "TOPIX") if f.ticker == "1631"] == []


def test_ordinary_big_moves_are_not_splits():
    path = walk(40, 2)
    path[20:] = [p * 0.7 for p in path[20:]]  # -30%: a limit-down day, not a split ratio
    assert check_prices(make_prices({"TOPIX": walk(40, 1), "1631": path}), "TOPIX") == []


def test_stale_closes_are_found_from_the_threshold():
    for n, expected in ((STALE_SESSIONS - 1, []), (STALE_SESSIONS, [("stale", "1631")])):
        path = walk(40, 2)
        path[10:10 + n] = [path[10]] * n
        prices = make_prices({"TOPIX": walk(40, 1), "1631": path})
        assert kinds(check_prices(prices, "TOPIX")) == expected, n


def test_a_long_gap_is_found_but_not_a_late_listing():
    path = walk(60, 2)
    path[:15] = [np.nan] * 15  # listed later: not a gap
    path[30:30 + GAP_SESSIONS] = [np.nan] * GAP_SESSIONS
    prices = make_prices({"TOPIX": walk(60, 1), "7203": path})
    (finding,) = check_prices(prices, "TOPIX")
    assert (finding.kind, finding.date) == ("gap", prices.sessions[30].date())
    assert f"no price for {GAP_SESSIONS} sessions" in finding.message
    path[30] = 1000.0  # one session shorter than the threshold
    assert check_prices(make_prices({"TOPIX": walk(60, 1), "7203": path}), "TOPIX") == []


def test_warnings_are_printed_and_recorded_in_the_manifest(tmp_path):
    prices = tmp_path / "prices"
    write_good_prices(prices)
    shutil.copyfile(CORPUS / "prices" / "split_10x.csv", prices / "1631.csv")
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    out = tmp_path / "results"
    result = CliRunner().invoke(main, ["run", str(config), "--data", f"csv:{prices}", *PERIOD, "--no-tearsheet",
                                       "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "warning: 1631: the close moves x0.0997 on 2024-03-01" in result.stderr
    assert "1631" not in result.stdout
    (folder,) = run_folders(out)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert any("a 1:10 split left unadjusted?" in w for w in manifest["warnings"])
    assert manifest["data_quality"] == [{"kind": "split", "ticker": "1631", "date": "2024-03-01",
                                        "message": manifest["data_quality"][0]["message"]}]


def test_strict_refuses_before_any_folder_exists(tmp_path):
    prices = tmp_path / "prices"
    write_good_prices(prices)
    shutil.copyfile(CORPUS / "prices" / "stale_closes.csv", prices / "1631.csv")
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    out = tmp_path / "results"
    args = ["run", str(config), "--data", f"csv:{prices}", *PERIOD, "--no-tearsheet", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--strict"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "--strict: 1 warning(s) would be recorded: 1631: the same close" in result.stderr
    assert not out.exists()
    write_good_prices(prices)
    clean = CliRunner().invoke(main, [*args, "--strict"], catch_exceptions=False)
    assert clean.exit_code == 0, clean.output
    assert len(run_folders(out)) == 1
