"""The one terminal-table helper: text on the left, numbers on the right, widths from the content."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from backtest.report.text_table import Column, table_lines, text_table


def test_text_left_numbers_right_and_widths_from_the_widest_cell():
    out = text_table([Column("ticker"), Column("rows", "number"), Column("note")],
                     [["7203", "5", "ok"], ["1306", "12345", ""]])
    assert out.splitlines() == [
        "ticker   rows  note",
        "7203        5  ok",
        "1306    12345",  # no trailing spaces where the last cell is empty
    ]


def test_a_header_wider_than_its_cells_sets_the_width_and_a_minimum_holds():
    out = table_lines([Column("a_long_header", "number"), Column("x", min_width=4)], [["1", "y"]])
    assert out == ["a_long_header  x", "            1  y"]
    assert all(not line.endswith(" ") for line in out)


def test_multi_line_headers_sit_on_the_bottom_line():
    out = table_lines([Column(), Column(("governance_", "reform"), "number"), Column("TOPIX", "number")],
                      [["CAGR", "1.00%", "2.00%"]])
    assert out == [
        "      governance_",
        "           reform  TOPIX",
        "CAGR        1.00%  2.00%",
    ]


def test_no_header_gap_and_empty_table():
    assert table_lines([Column(min_width=3), Column()], [["a", "b"]], gap=" ", header=False) == ["a   b"]
    assert text_table([Column("only")], []) == "only"


def test_bad_rows_and_kinds_are_refused():
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        text_table([Column("a")], [["1", "2"]])
    with pytest.raises(ValueError, match="kind"):
        Column("a", "centre")


def test_a_compare_cell_wider_than_its_column_widens_the_column(monkeypatch):
    """Before, a cell longer than the 12-character column ran into its neighbour; now the column grows."""
    import backtest.report.compare as compare

    class Fake:
        columns = ["run_a", "TOPIX"]
        benchmark = "TOPIX"
        any_synthetic = False
        metrics = {"run_a": {compare.ROWS[0][0]: 12345678901234.0}, "TOPIX": {compare.ROWS[0][0]: 0.01}}

    monkeypatch.setattr(compare, "footer", lambda c: [])
    lines = compare.format_table(Fake()).splitlines()
    first = next(line for line in lines if line.startswith(compare.row_label(compare.ROWS[0][1], Fake())))
    assert first.endswith("1234567890123400.00%         1.00%")


def test_sweep_best_points_line_up_and_never_show_minus_zero():
    from backtest.cli.sweep import format_best

    best = pd.DataFrame({"param_holding_sessions": [20, 120], "param_kinds": ["hike", "hike+framework"],
                         "cagr": [0.0207, -0.01], "excess_cagr": [-0.00000004, math.nan]})
    assert format_best(best).splitlines() == [
        "param_holding_sessions  param_kinds        cagr  excess_cagr",
        "                    20  hike             0.0207       0.0000",
        "                   120  hike+framework  -0.0100            -",
    ]
