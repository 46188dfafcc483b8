"""Settings the config accepts never crash a run: each runs to a result or is refused up front with one clear
error; the tear sheet is skipped, with a note, where quantstats cannot draw it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from tests.bad_inputs.test_corpus import write_good_prices
from tests.trust.conftest import run_folders


SETTINGS = {
    "one_row_tiered_table": ("execution: {costs: {preset: tiered, tiers: [{fee_jpy: 500}]}}", ["--start", "2024-01-04",
                                                                                              "--end", "2024-03-29"]),
    "one_row_tiered_zero_fee": ("execution: {costs: {preset: tiered, tiers: [{fee_jpy: 0}]}}", ["--start", "2024-01-04",
                                                                                               "--end", "2024-03-29"]),
    "one_session_with_tear_sheet": ("", ["--start", "2024-01-04", "--end", "2024-01-04", "TEARSHEET"]),
    "two_sessions_with_tear_sheet": ("", ["--start", "2024-01-04", "--end", "2024-01-05", "TEARSHEET"]),
    "cash_too_small_to_buy_anything": ("execution: {cash_jpy: 1}", ["--start", "2024-01-04", "--end", "2024-03-29"]),
    "cash_rounding_to_zero": ("execution: {cash_jpy: 0.000001}", ["--start", "2024-01-04", "--end", "2024-03-29"]),
    "tiny_tick_table": ("execution: {ticks: {tables: {standard: [{tick_jpy: 0.000000001}]}}}",
                        ["--start", "2024-01-04", "--end", "2024-03-29"]),
    "tiny_prices": ("", ["--start", "2024-01-04", "--end", "2024-03-29", "TINY"]),
    "flat_prices_with_tear_sheet": ("", ["--start", "2024-01-04", "--end", "2024-03-29", "FLAT", "TEARSHEET"]),
    # the affordable size is found by bisection, not one lot at a time: a huge book with a huge minimum fee
    "huge_cash_huge_minimum_fee": ("execution: {cash_jpy: 1.0e+13, costs: {preset: percent, rate_bps: 10, "
                                   "min_jpy: 10000000}}", ["--start", "2024-01-04", "--end", "2025-06-30"]),
}


def _prices(folder: Path, scale: float | None = None, flat: bool = False) -> None:
    write_good_prices(folder)
    for path in folder.glob("*.csv"):
        lines = path.read_text().splitlines()
        out = [lines[0]]
        for line in lines[1:]:
            date, *numbers = line.split(",")
            if flat:
                numbers = ["100.0"] * 4 + [numbers[4]]
            elif scale is not None:
                numbers = [f"{float(x) * scale:.12g}" for x in numbers[:4]] + [numbers[4]]
            out.append(",".join([date, *numbers]))
        path.write_text("\n".join(out) + "\n")


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_a_legal_setting_runs_or_is_refused_up_front_never_a_crash(tmp_path, setting):
    extra, args = SETTINGS[setting]
    config = tmp_path / "legal.yaml"
    config.write_text("theme: boj_rotation\n" + extra + "\n")
    args = list(args)
    tearsheet = "TEARSHEET" in args
    if "TINY" in args or "FLAT" in args:
        _prices(tmp_path / "prices", scale=1e-6 if "TINY" in args else None, flat="FLAT" in args)
        args += ["--data", f"csv:{tmp_path / 'prices'}"]
    args = [a for a in args if a not in ("TEARSHEET", "TINY", "FLAT")]
    out = tmp_path / "out"
    command = ["run", str(config), *args, "--out", str(out)] + ([] if tearsheet else ["--no-tearsheet"])
    result = CliRunner().invoke(main, command)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        (folder,) = run_folders(out)
        assert (folder / "metrics.json").is_file()
        if tearsheet and not (folder / "tearsheet.html").exists():
            assert "tear sheet skipped" in result.stderr
    else:
        assert result.exit_code == 2 and result.stderr.count("Error: ") == 1, result.output
        assert not out.exists() or not any(out.iterdir())
