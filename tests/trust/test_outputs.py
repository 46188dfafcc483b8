"""What themebt writes is safe to open and to re-run: config.yaml is the config that ran, text cells cannot run as
spreadsheet formulas, no --out file is overwritten, and a closed or full standard output is one clear error."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.cli.options import iso_date
from backtest.results.folder import write_csv
from tests.bad_inputs.test_corpus import write_good_prices
from tests.conftest import REPO
from tests.trust.conftest import run_folders

THEMEBT = Path(sys.executable).with_name("themebt")


def test_the_run_folders_config_reproduces_the_run_with_its_overrides(tmp_path):
    prices = tmp_path / "prices"
    write_good_prices(prices)
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["run", str(config), "--data", f"csv:{prices}", "--start", "2024-01-04",
                                      "--end", "2024-05-31", "--no-tearsheet", "--out", str(out)],
                               catch_exceptions=False)
    assert first.exit_code == 0, first.output
    (folder,) = run_folders(out)
    written = yaml.safe_load((folder / "config.yaml").read_text())
    assert written["data"]["source"] == "csv" and Path(written["data"]["path"]) == prices.resolve()
    assert written["period"] == {"start": "2024-01-04", "end": "2024-05-31"}
    again = CliRunner().invoke(main, ["run", str(folder / "config.yaml"), "--no-tearsheet", "--out", str(tmp_path / "again")],
                               catch_exceptions=False)
    assert again.exit_code == 0, again.output
    (rerun,) = run_folders(tmp_path / "again")
    for name in ("returns.csv", "trades.csv", "positions.csv", "orders.csv", "config.yaml"):
        assert (rerun / name).read_bytes() == (folder / name).read_bytes(), name
    assert "SYNTHETIC" not in again.output.upper(), "re-running it must not fall back to the demo data"


@pytest.mark.parametrize("cell", ["=1+2", "+cmd", "-x", "@SUM(A1)", "\tx", "=HYPERLINK(\"http://x\")"])
def test_text_cells_that_a_spreadsheet_would_run_are_prefixed_and_numbers_stay_numbers(tmp_path, cell):
    frame = pd.DataFrame({"ticker": [cell, "7203"], "reason": [cell, "ok"], "value_jpy": [-1500.5, 2.0],
                          "qty": [-100, 100]})
    frame.index = pd.Index([cell, "1631"], name="date")
    frame[cell] = [1.0, -2.0]
    write_csv(frame, tmp_path / "t.csv")
    with (tmp_path / "t.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "'" + cell
    assert rows[1][:3] == ["'" + cell, "'" + cell, "'" + cell]
    assert rows[1][3:5] == ["-1500.5", "-100"], "negative numbers are numbers, not text"
    assert rows[2][0:3] == ["1631", "7203", "ok"]


def test_a_sweep_table_keeps_ticker_parameters_spreadsheet_safe(tmp_path):
    from backtest.results.folder import safe_frame

    table = pd.DataFrame({"param_basket": ["=1631+1632", "1631"], "sharpe": [-0.5, 0.3]})
    safe = safe_frame(table)
    assert list(safe["param_basket"]) == ["'=1631+1632", "1631"] and list(safe["sharpe"]) == [-0.5, 0.3]


def test_data_dividends_out_never_overwrites(tmp_path):
    out = tmp_path / "dividends.csv"
    out.write_text("keep me\n")
    result = CliRunner().invoke(main, ["data", "dividends", "--out", str(out), "--store", str(tmp_path / "store")])
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert out.read_text() == "keep me\n"
    fresh = tmp_path / "new.csv"
    result = CliRunner().invoke(main, ["data", "dividends", "--out", str(fresh), "--store", str(tmp_path / "store")])
    assert result.exit_code == 0 and fresh.read_text() == "ticker,ex_date,amount_jpy\n"


def test_data_check_on_a_folder_checks_price_files_only(tmp_path):
    write_good_prices(tmp_path)
    (tmp_path / "universe.csv").write_text("code,name,theme\n1631,Banks ETF,banks\n")
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "topix_close.csv").write_text("Date,Close\n2024-01-04,2400.5\n")
    (tmp_path / "sectors.csv").write_text("Date,Foods,Banks\n2024-01-04,1,2\n")
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name in ("universe.csv", "index/topix_close.csv", "sectors.csv"):
        assert f"skipped {name}: not a price file" in result.stderr
    assert "no problems found" in result.output


def test_data_check_passes_on_the_real_data_folder():
    real = REPO.parent / "shared" / "data" / "real"
    if not real.is_dir():
        pytest.skip("no real data folder next to the repository")
    result = CliRunner().invoke(main, ["data", "check", str(real)])
    assert result.exit_code == 0, result.output[-2000:]


@pytest.mark.parametrize("text", ["20240104", "2024-W01-4", "2024-004", "2024-01-04T00:00", "2024-1-4", " 2024-01-04",
                                  "2024-01-04\n", "２０２４-０１-０４", "2024-02-30"])
def test_dates_are_taken_only_as_yyyy_mm_dd(text):
    with pytest.raises(click.BadParameter, match="write YYYY-MM-DD"):
        iso_date(None, None, text)
    assert str(iso_date(None, None, "2024-01-04")) == "2024-01-04"


@pytest.mark.parametrize("stdout", ["closed", "full"])
def test_a_closed_or_full_standard_output_is_one_clear_error(tmp_path, stdout):
    if stdout == "full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    target = subprocess.DEVNULL
    preexec = (lambda: os.close(1)) if stdout == "closed" else None
    with open("/dev/full", "w") if stdout == "full" else open(os.devnull, "w") as sink:
        proc = subprocess.run([str(THEMEBT), "themes"], stdout=sink if stdout == "full" else target,
                              stderr=subprocess.PIPE, text=True, preexec_fn=preexec, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("Error: ") == 1 and "Traceback" not in proc.stderr
    assert "standard output" in proc.stderr
