"""One data-quality checker: `themebt data check` and `themebt run --strict` on the same hand-made files
agree, finding by finding, and the CSV reader refuses what is malformed for both alike.

Each case writes TOPIX (an index), 1631 and 1632 (sector ETFs) as CSV files over the same sessions,
with one kind of problem planted in one file; what the checker must find there (ticker, kind, first
date) is stated from how the file was built, not computed with the project's helpers.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main

# 2024-01-04 .. 2024-03-29 on the Tokyo calendar: weekdays less the exchange's holidays of those months
HOLIDAYS = {dt.date(2024, 1, 8), dt.date(2024, 2, 12), dt.date(2024, 2, 23), dt.date(2024, 3, 20)}
SESSIONS = [d for d in (dt.date(2024, 1, 4) + dt.timedelta(days=i) for i in range(86))
            if d.weekday() < 5 and d not in HOLIDAYS]
BASE = {"TOPIX": 2500.0, "1631": 300.0, "1632": 900.0}


def rows(ticker: str) -> dict[dt.date, list[float]]:
    """date -> [open, high, low, close, volume]: small moves that differ every session, never flat."""
    out = {}
    for i, day in enumerate(SESSIONS):
        close = round(BASE[ticker] * (1 + 0.002 * i + 0.004 * (i % 3)), 2)
        out[day] = [close, round(close * 1.01, 2), round(close * 0.99, 2), close, 100000.0]
    return out


def write(folder: Path, ticker: str, table: dict) -> None:
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{day},{','.join(f'{v:g}' for v in values)}" for day, values in sorted(table.items())]
    (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def stale(table):
    days = sorted(table)
    for day in days[20:28]:  # eight closes equal to the one of days[19]
        table[day] = [table[days[19]][3]] * 4 + [100000.0]
    return "1632", "stale", days[19]


def split(table):
    days = sorted(table)
    for day in days[30:]:  # a 1:5 split on days[30], left unadjusted
        table[day] = [v / 5 for v in table[day][:4]] + [table[day][4] * 5]
    return "1631", "split", days[30]


def gap(table):
    days = sorted(table)
    for day in days[15:27]:  # twelve sessions without a row in an index
        del table[day]
    return "TOPIX", "gap", days[15]


def broken_range(table):
    days = sorted(table)
    o, h, lo, c, v = table[days[7]]
    table[days[7]] = [o, lo * 0.98, lo, c, v]  # high below low
    return "1632", "range", days[7]


def closed_day(table):
    table[dt.date(2024, 2, 10)] = [2600.0, 2610.0, 2590.0, 2605.0, 1000.0]  # a Saturday, with a price
    return "TOPIX", "off_calendar", dt.date(2024, 2, 10)


def not_yen(table):
    for day in table:  # prices of a few units: dollars, or thousands of yen
        table[day] = [round(v / 250, 4) for v in table[day][:4]] + [table[day][4]]
    return "1632", "currency", None


CASES = {"stale": (stale, "1632"), "split": (split, "1631"), "gap": (gap, "TOPIX"),
         "range": (broken_range, "1632"), "off_calendar": (closed_day, "TOPIX"), "currency": (not_yen, "1632")}


def prices_with(folder: Path, plant=None, ticker=None):
    folder.mkdir()
    planted = None
    for name in BASE:
        table = rows(name)
        if name == ticker:
            planted = plant(table)
        write(folder, name, table)
    return planted


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def table_rows(stdout: str) -> list[tuple[str, str, str, str]]:
    """(ticker, severity, check, first) of each line of `data check`'s table."""
    found = re.findall(r"^(TOPIX|1631|1632)\s+\S+\s+(warning|fatal)\s+(\S+)\s+(\d{4}-\d{2}-\d{2})?", stdout, re.M)
    return [tuple(m) for m in found]


def both(tmp_path: Path, folder: Path):
    config = tmp_path / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    check = invoke("data", "check", folder)
    strict_check = invoke("data", "check", folder, "--strict")
    run = invoke("run", config, "--data", f"csv:{folder}", "--no-tearsheet", "--strict", "--out", tmp_path / "r")
    return check, strict_check, run


def test_clean_files_pass_both(tmp_path):
    prices_with(tmp_path / "prices")
    check, strict_check, run = both(tmp_path, tmp_path / "prices")
    assert check.exit_code == 0 and check.stdout.strip() == "no problems found"
    assert strict_check.exit_code == 0
    assert run.exit_code == 0, run.output


@pytest.mark.parametrize("case", sorted(CASES))
def test_data_check_and_run_strict_agree_finding_by_finding(tmp_path, case):
    plant, ticker = CASES[case]
    folder = tmp_path / "prices"
    expected_ticker, kind, first = prices_with(folder, plant, ticker)
    check, strict_check, run = both(tmp_path, folder)

    # data check: exactly the planted finding, a warning, exit 0 (2 under --strict)
    assert check.exit_code == 0, check.output
    assert table_rows(check.stdout) == [(expected_ticker, "warning", kind, str(first) if first else "")]
    messages = re.findall(r"^warning: (.*)$", check.stderr, re.M)
    assert len(messages) == 1 and messages[0].startswith(f"{expected_ticker}: ")
    assert strict_check.exit_code == 2
    assert f"--strict: 1 warning(s) would be recorded: {messages[0]}" in strict_check.stderr

    # run --strict: refused on the same finding, in the same words, before any folder exists
    assert run.exit_code == 2, run.output
    assert f"--strict: 1 warning(s) would be recorded: {messages[0]}" in run.stderr
    assert "Traceback" not in run.output
    assert not (tmp_path / "r").exists()


def test_an_etf_without_volume_is_liquidity_for_both(tmp_path):
    folder = tmp_path / "prices"
    prices_with(folder)
    table = rows("1631")
    for day in sorted(table)[10:25]:  # fifteen sessions quoted without a trade
        table[day][4] = 0.0
    write(folder, "1631", table)
    check, strict_check, run = both(tmp_path, folder)
    assert check.stdout.strip() == "no problems found" and strict_check.exit_code == 0
    assert run.exit_code == 0, run.output


def test_a_malformed_file_is_refused_by_the_reader_for_both(tmp_path):
    folder = tmp_path / "prices"
    prices_with(folder)
    text = (folder / "1632.csv").read_text().splitlines()
    text[5] = text[5].rsplit(",", 2)[0] + ",-1,100000"  # a close below zero on the fifth data row
    (folder / "1632.csv").write_text("\n".join(text) + "\n")
    check, strict_check, run = both(tmp_path, folder)
    reader = f"{folder / '1632.csv'}: row 6, column 'Close': price '-1' is not above 0"
    assert check.exit_code == 2 and "fatal: 1632: " + reader in check.stderr
    assert table_rows(check.stdout) == [("1632", "fatal", "unreadable", "")]
    assert run.exit_code == 2 and reader in run.stderr and "Traceback" not in run.output
