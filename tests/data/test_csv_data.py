"""backtest.data.csv: reading one ticker's prices from a user CSV file, and finding that file."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.data.csv import find_ticker_file, price_csv_warnings, read_price_csv
from backtest.errors import DataError

GOOD = """Date,Open,High,Low,Close,Volume
2020-01-06,100,110,95,105,1000
2020-01-07,105.5,108,101,102.25,0
2020-01-08,102,104,99.5,103,2500
"""
REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
COLUMNS = ["open", "high", "low", "close", "volume"]


def write(tmp_path: Path, text: str | bytes, name: str = "7203.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def error_of(path: Path, ticker: str = "7203") -> str:
    with pytest.raises(DataError) as info:
        read_price_csv(path, ticker)
    return str(info.value)


def assert_message(message: str, *parts: str) -> None:
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- good files ----------------------------------------------------------------------------


def test_good_file_round_trips_exactly(tmp_path):
    frame = read_price_csv(write(tmp_path, GOOD), "7203")
    expected = pd.DataFrame(
        {
            "open": [100.0, 105.5, 102.0],
            "high": [110.0, 108.0, 104.0],
            "low": [95.0, 101.0, 99.5],
            "close": [105.0, 102.25, 103.0],
            "volume": [1000.0, 0.0, 2500.0],
        },
        index=pd.DatetimeIndex(["2020-01-06", "2020-01-07", "2020-01-08"], name="date").as_unit("ns"),
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == COLUMNS
    assert (frame.dtypes == "float64").all()
    assert frame.index.tz is None and frame.index.name == "date"
    assert price_csv_warnings(frame) == []


def test_accepts_path_given_as_string(tmp_path):
    assert len(read_price_csv(str(write(tmp_path, GOOD)), "7203")) == 3


def test_utf8_bom_is_accepted(tmp_path):
    frame = read_price_csv(write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode()), "7203")
    assert list(frame.columns) == COLUMNS and len(frame) == 3


def test_headers_are_case_insensitive_and_extra_columns_ignored(tmp_path):
    text = " DATE ,Source, OPEN,high,LoW , Close ,VOLUME,TradingValue\r\n2020-01-06,jq,1,2,0.5,1.5,10,99\r\n"
    frame = read_price_csv(write(tmp_path, text), "7203")
    assert list(frame.columns) == COLUMNS
    assert frame.iloc[0].tolist() == [1.0, 2.0, 0.5, 1.5, 10.0]


def test_missing_volume_column_gives_nan_volume(tmp_path):
    text = "Date,Open,High,Low,Close,Source\n2020-01-06,1304.63,1305.01,1287.95,1291.38,x\n"
    frame = read_price_csv(write(tmp_path, text, "topix.csv"), "TOPIX")
    assert list(frame.columns) == COLUMNS
    assert frame["volume"].dtype == "float64" and frame["volume"].isna().all()
    assert frame["close"].iloc[0] == 1291.38


@pytest.mark.parametrize("name", ["Adj Close", "adj_close", "adjclose", "Adj_Close", "ADJ CLOSE"])
def test_adj_close_is_kept(tmp_path, name):
    text = f"Date,Open,High,Low,Close,{name},Volume\n2020-01-06,10,11,9,10,5,100\n"
    frame = read_price_csv(write(tmp_path, text), "7203")
    assert list(frame.columns) == [*COLUMNS, "adj_close"]
    assert frame["adj_close"].dtype == "float64" and frame["adj_close"].iloc[0] == 5.0


def test_no_adj_close_column_unless_the_file_has_one(tmp_path):
    assert "adj_close" not in read_price_csv(write(tmp_path, GOOD), "7203").columns


@pytest.mark.parametrize(
    "header, dates",
    [
        ("Date", ["2020/01/06", "2020/01/07"]),
        ("datetime", ["2020-01-06 00:00:00", "2020-01-07T00:00:00"]),
        ("date", [" 2020-1-6 ", "2020-01-07 00:00"]),
    ],
)
def test_accepted_date_forms(tmp_path, header, dates):
    rows = "".join(f"{d},1,2,0.5,1.5,10\n" for d in dates)
    frame = read_price_csv(write(tmp_path, f"{header},Open,High,Low,Close,Volume\n{rows}"), "7203")
    assert list(frame.index) == [pd.Timestamp("2020-01-06"), pd.Timestamp("2020-01-07")]
    assert frame.index.dtype == "datetime64[ns]"


def test_dates_centuries_apart_are_in_order(tmp_path):
    # Regression: differencing int64 nanoseconds between 1727 and 2020 overflowed.
    text = "Date,Open,High,Low,Close\n1727-01-01,1,1,1,1\n2020-01-01,1,1,1,1\n"
    assert len(read_price_csv(write(tmp_path, text), "7203")) == 2


def test_trailing_blank_and_comma_only_lines_are_ignored(tmp_path):
    frame = read_price_csv(write(tmp_path, GOOD + "\n,,,,,\n\n"), "7203")
    assert len(frame) == 3


# --- file-level errors ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    assert_message(error_of(path), str(path), ": file:", "does not exist", "data.files")


def test_directory_instead_of_file(tmp_path):
    path = tmp_path / "7203.csv"
    path.mkdir()
    assert_message(error_of(path), str(path), ": file:", "is a folder", "CSV file inside")


def test_not_utf8(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close\n2020-01-06,1,1,1,1 円\n".encode("shift_jis"))
    assert_message(error_of(path), str(path), ": row 2:", "not UTF-8", "UTF-8", "Shift-JIS")


def test_empty_file(tmp_path):
    path = write(tmp_path, b"")
    assert_message(error_of(path), str(path), ": file:", "empty (0 bytes)", "header")


def test_only_blank_lines(tmp_path):
    path = write(tmp_path, "\n\n  \n")
    assert_message(error_of(path), str(path), ": file:", "no header row", "Date,Open,High,Low,Close")


def test_header_without_rows(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,Volume\n\n")
    assert_message(error_of(path), str(path), ": rows:", "no data rows", "Add one row")


def test_nul_bytes(tmp_path):
    path = write(tmp_path, b"Date,Open,High,Low,Close\n2020-01-06,1,1\x00,1,1\n")
    assert_message(error_of(path), str(path), ": row 2:", "NUL", "UTF-8 CSV")


# --- CSV structure -------------------------------------------------------------------------


def test_ragged_row_names_the_line(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close\n2020-01-06,1,1,1,1\n2020-01-07,1,1,1,1,9\n")
    assert_message(error_of(path), str(path), ": row 3:", "has 6 fields", "have 5", "same columns")


def test_ragged_row_line_counts_leading_blank_lines(tmp_path):
    path = write(tmp_path, "\n\nDate,Open,High,Low,Close\n2020-01-06,1,1,1,1,9\n")
    assert_message(error_of(path), ": row 4:", "has 6 fields")


def test_unclosed_quote(tmp_path):
    path = write(tmp_path, 'Date,Open,High,Low,Close\n2020-01-06,1,1,1,1\n"2020-01-07,1,1,1,1\n')
    assert_message(error_of(path), str(path), ": row 3:", "never closed", "quote")


def test_missing_columns_lists_all_missing_and_found(tmp_path):
    path = write(tmp_path, "Date,Price,Close,Vol\n2020-01-06,1,1,1\n")
    assert_message(
        error_of(path),
        str(path),
        ": columns:",
        "missing required columns open, high, low",
        "found: 'Date', 'Price', 'Close', 'Vol'",
        "Date,Open,High,Low,Close,Volume",
    )


def test_semicolon_file_gets_a_separator_hint(tmp_path):
    path = write(tmp_path, "Date;Open;High;Low;Close\n2020-01-06;1;1;1;1\n")
    assert_message(error_of(path), ": columns:", "missing required columns date, open", "semicolons", "commas")


def test_header_row_missing(tmp_path):
    path = write(tmp_path, "2020-01-06,1,1,1,1\n2020-01-07,1,1,1,1\n")
    assert_message(error_of(path), ": columns:", "missing required", "add a header row")


def test_same_column_twice(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,close\n2020-01-06,1,1,1,1,1\n")
    assert_message(error_of(path), str(path), ": column 'close':", "'Close' and 'close'", "Keep only one")


# --- dates ---------------------------------------------------------------------------------


def one_row(date: str = "2020-01-06", o="1", h="2", low="0.5", c="1.5", v="10") -> str:
    return f"Date,Open,High,Low,Close,Volume\n2020-01-03,1,2,0.5,1.5,10\n{date},{o},{h},{low},{c},{v}\n"


@pytest.mark.parametrize(
    "date, problem, fix",
    [
        ("hello", "'hello' is not a date", "YYYY-MM-DD"),
        ("06/01/2020", "'06/01/2020' is not a date", "YYYY-MM-DD"),
        ("2020-02-30", "'2020-02-30' is not a real calendar date", "Correct the month or day"),
        ("2020-13-01", "not a real calendar date", "Correct the month or day"),
        ("2020/01-06", "is not a date", "YYYY-MM-DD"),
        ("", "date is empty", "Fill in the date"),
        ("2020-01-06 15:00:00", "has a time of day", "plain dates in Tokyo time"),
        ("0999-01-06", "outside the supported years", "year"),
    ],
)
def test_bad_dates(tmp_path, date, problem, fix):
    path = write(tmp_path, one_row(date))
    assert_message(error_of(path), str(path), ": row 3, column 'Date':", problem, fix)


@pytest.mark.parametrize("date", ["2020-01-06T00:00:00+09:00", "2020-01-06 00:00:00Z", "2020-01-06 00:00:00-0500"])
def test_timezone_in_dates(tmp_path, date):
    path = write(tmp_path, one_row(date))
    assert_message(
        error_of(path),
        str(path),
        ": row 3, column 'Date':",
        "mixed or timezone-aware dates",
        "plain dates in Tokyo time",
    )


def test_duplicated_dates(tmp_path):
    text = GOOD + "2020-01-09,1,2,0.5,1.5,10\n2020-01-09,1,2,0.5,1.5,10\n2020-01-09,1,2,0.5,1.5,10\n"
    text = text.replace("2020-01-07", "2020-01-06")
    path = write(tmp_path, text)
    assert_message(
        error_of(path),
        str(path),
        ": date 2020-01-06:",
        "duplicated date: it appears on 2 rows (2, 3)",
        "2 dates are duplicated in all",
        "one row per date",
    )


def test_unsorted_dates_are_not_silently_sorted(tmp_path):
    text = GOOD + "2020-01-07,1,2,0.5,1.5,10\n"
    path = write(tmp_path, text)
    assert_message(
        error_of(path),
        str(path),
        ": row 5:",
        "dates go backwards: 2020-01-07 comes after 2020-01-08",
        "Sort the rows by date, ascending",
    )


def test_row_numbers_count_blank_lines_and_multiline_cells(tmp_path):
    text = 'Date,Note,Open,High,Low,Close\n2020-01-06,"two\nlines",1,2,0.5,1.5\n\n2020-01-07,x,abc,2,0.5,1.5\n'
    path = write(tmp_path, text)
    assert_message(error_of(path), ": row 5, column 'Open':", "'abc' is not a number")


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cells, field, problem, fix",
    [
        ({"c": "abc"}, "row 3, column 'Close'", "'abc' is not a number", "plain numbers"),
        ({"v": "1,234"}, "row 3, column 'Volume'", "'1,234' is not a number", "thousands separators"),
        ({"o": "12円"}, "row 3, column 'Open'", "'12円' is not a number", "plain numbers"),
        ({"h": ""}, "row 3, column 'High'", "price is empty", "Fill in the price"),
        ({"low": "NaN"}, "row 3, column 'Low'", "price is missing ('NaN')", "Fill in the price"),
        ({"o": "0"}, "row 3, column 'Open'", "price '0' is not above 0", "Correct the price"),
        ({"c": "-5"}, "row 3, column 'Close'", "price '-5' is not above 0", "Correct the price"),
        ({"v": "-1"}, "row 3, column 'Volume'", "volume '-1' is negative", "Correct the volume"),
        ({"c": "inf"}, "row 3, column 'Close'", "'inf' is not a finite number", "Correct the value"),
        ({"c": "1e400"}, "row 3, column 'Close'", "'1e400' is not a finite number", "Correct the value"),
    ],
)
def test_bad_numbers(tmp_path, cells, field, problem, fix):
    text = one_row(**cells)
    if "v" in cells and "," in cells["v"]:
        text = text.replace(",1,234", ',"1,234"')
    path = write(tmp_path, text)
    assert_message(error_of(path), str(path), f": {field}:", problem, fix)


def test_error_counts_further_bad_rows(tmp_path):
    text = GOOD.replace("105,1000", "x,1000").replace("103,2500", "y,2500")
    assert_message(error_of(write(tmp_path, text)), ": row 2, column 'Close':", "'x' is not a number (2 rows in all)")


def test_empty_volume_cell_is_nan(tmp_path):
    frame = read_price_csv(write(tmp_path, one_row(v="")), "7203")
    assert np.isnan(frame["volume"].iloc[1]) and frame["volume"].iloc[0] == 10.0


def test_adj_close_must_be_positive(tmp_path):
    path = write(tmp_path, "Date,Open,High,Low,Close,Adj Close\n2020-01-06,1,1,1,1,0\n")
    assert_message(error_of(path), ": row 2, column 'Adj Close':", "not above 0")


# --- warnings ------------------------------------------------------------------------------


def test_high_below_low_is_a_warning_not_an_error(tmp_path):
    text = GOOD.replace("2020-01-07,105.5,108,101", "2020-01-07,105.5,100,101")
    warnings = price_csv_warnings(read_price_csv(write(tmp_path, text), "7203"))
    assert len(warnings) == 1
    assert_message(warnings[0], "high/low inconsistent on 1 day(s)", "first 2020-01-07")


def test_open_slightly_outside_range_is_tolerated(tmp_path):
    text = GOOD.replace("2020-01-06,100,110", "2020-01-06,110.4,110")
    assert price_csv_warnings(read_price_csv(write(tmp_path, text), "7203")) == []
    text = GOOD.replace("2020-01-06,100,110", "2020-01-06,111,110")
    assert len(price_csv_warnings(read_price_csv(write(tmp_path, text), "7203"))) == 1


def test_unadjusted_split_jump_is_a_warning(tmp_path):
    text = GOOD.replace("2020-01-08,102,104,99.5,103", "2020-01-08,1020,1040,995,1030")
    warnings = price_csv_warnings(read_price_csv(write(tmp_path, text), "7203"))
    assert len(warnings) == 1
    assert_message(warnings[0], "x10.07", "2020-01-08", "split")


def test_warnings_on_an_empty_frame():
    assert price_csv_warnings(pd.DataFrame(columns=COLUMNS, dtype="float64")) == []


# --- finding files -------------------------------------------------------------------------


def make_tree(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GOOD)


def test_find_in_folder_case_insensitive(tmp_path):
    make_tree(tmp_path, "7203.CSV", "other.csv")
    assert find_ticker_file(tmp_path, "7203") == tmp_path / "7203.CSV"


def test_find_in_subfolders(tmp_path):
    make_tree(tmp_path, "etf/1306.csv", "stocks/6861.csv", "index/topix_daily.csv")
    assert find_ticker_file(tmp_path, "1306") == tmp_path / "etf" / "1306.csv"
    assert find_ticker_file(tmp_path, "6861") == tmp_path / "stocks" / "6861.csv"


def test_top_level_file_wins_over_subfolders(tmp_path):
    make_tree(tmp_path, "1306.csv", "etf/1306.csv")
    assert find_ticker_file(tmp_path, "1306") == tmp_path / "1306.csv"


def test_mapped_file(tmp_path):
    make_tree(tmp_path, "index/topix_daily.csv")
    found = find_ticker_file(tmp_path, "TOPIX", {"TOPIX": "index/topix_daily.csv"})
    assert found == tmp_path / "index" / "topix_daily.csv"


def test_mapped_file_missing(tmp_path):
    with pytest.raises(DataError) as info:
        find_ticker_file(tmp_path, "TOPIX", {"TOPIX": "index/topix.csv"})
    message = str(info.value)
    assert_message(message, str(tmp_path / "index" / "topix.csv"), ": data.files TOPIX:", "does not exist", "data.files")


def test_two_matches_are_ambiguous(tmp_path):
    make_tree(tmp_path, "etf/1306.csv", "old/1306.csv")
    with pytest.raises(DataError) as info:
        find_ticker_file(tmp_path, "1306")
    assert_message(
        str(info.value),
        str(tmp_path),
        ": ticker 1306:",
        "2 files match 1306.csv: etf/1306.csv, old/1306.csv",
        "data.files",
    )


def test_no_match(tmp_path):
    make_tree(tmp_path, "etf/1321.csv")
    with pytest.raises(DataError) as info:
        find_ticker_file(tmp_path, "1306")
    assert str(info.value) == (
        f"{tmp_path}: ticker 1306: no 1306.csv in this folder or its subfolders. "
        "Add the file, or map the ticker to a file with data.files in the config."
    )


def test_hidden_folders_are_not_searched(tmp_path):
    make_tree(tmp_path, ".git/1306.csv", "etf/1306.csv")
    assert find_ticker_file(tmp_path, "1306") == tmp_path / "etf" / "1306.csv"


def test_folder_missing_or_a_file(tmp_path):
    with pytest.raises(DataError) as info:
        find_ticker_file(tmp_path / "absent", "1306")
    assert_message(str(info.value), str(tmp_path / "absent"), ": data folder:", "does not exist", "config")
    make_tree(tmp_path, "plain.csv")
    with pytest.raises(DataError) as info:
        find_ticker_file(tmp_path / "plain.csv", "1306")
    assert_message(str(info.value), "plain.csv: data folder:", "not a folder", "config")


# --- speed and robustness ------------------------------------------------------------------


def test_six_thousand_rows_read_fast(tmp_path):
    days = pd.bdate_range("2001-01-01", periods=6000)
    close = 1000 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, len(days))))
    frame = pd.DataFrame(
        {"Date": days.strftime("%Y-%m-%d"), "Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close,
         "Volume": 1000}
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        loaded = read_price_csv(path, "big")
        timings.append(time.perf_counter() - start)
    assert len(loaded) == 6000
    assert min(timings) < 0.1


def check_loads_or_data_error(tmp_path: Path, content: str | bytes) -> None:
    path = write(tmp_path, content, "fuzz.csv")
    try:
        frame = read_price_csv(path, "fuzz")
    except DataError:
        return
    assert list(frame.columns) in (COLUMNS, [*COLUMNS, "adj_close"])
    assert (frame.dtypes == "float64").all()
    assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    price_csv_warnings(frame)


FUZZ = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HEADER_NAMES = ["Date", "date", "Open", "High", "Low", "Close", "Volume", "Adj Close", "Source", "", " close "]
HEADERS = st.one_of(
    st.permutations(["Date", "Open", "High", "Low", "Close", "Volume", "Adj Close", "Source"]).flatmap(
        lambda names: st.integers(4, len(names)).map(lambda n: names[:n])
    ),
    st.lists(st.sampled_from(HEADER_NAMES), min_size=1, max_size=8),
)
CELLS = st.one_of(
    st.sampled_from(["2020-01-06", "2020/01/07", "2020-01-06 00:00:00", "2020-01-06+09:00", "", "nan", "-1", "0",
                     "1e400", '"', "a,b", "\n", "99999999999999999999999", "1.5", "100", " 7 "]),
    st.floats(min_value=0.01, max_value=1e6).map(str),
    st.dates().map(str),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


def csv_texts():
    """A header and rows of random cells; most rows have as many cells as the header."""

    def rows_for(header):
        width = st.one_of(st.just(len(header)), st.just(len(header)), st.integers(0, 9))
        row = width.flatmap(lambda n: st.lists(CELLS, min_size=n, max_size=n))
        return st.lists(row, max_size=6).map(lambda rows: [header, *rows])

    return HEADERS.flatmap(rows_for)


@FUZZ
@given(text=st.text())
def test_any_text_loads_or_raises_data_error(tmp_path, text):
    check_loads_or_data_error(tmp_path, text)


@FUZZ
@given(data=st.binary())
def test_any_bytes_load_or_raise_data_error(tmp_path, data):
    check_loads_or_data_error(tmp_path, data)
    check_loads_or_data_error(tmp_path, data.decode("utf-8", errors="ignore"))


@FUZZ
@given(lines=csv_texts(), sep=st.sampled_from([",", ",", ";"]))
def test_csv_like_text_loads_or_raises_data_error(tmp_path, lines, sep):
    check_loads_or_data_error(tmp_path, "\n".join(sep.join(line) for line in lines) + "\n")


PRICES = st.floats(min_value=0.0001, max_value=1e7, allow_nan=False)
ROWS = st.lists(
    st.tuples(st.dates(pd.Timestamp("1990-01-01").date(), pd.Timestamp("2040-12-31").date()), PRICES, PRICES,
              PRICES, PRICES, st.integers(0, 10**12)),
    min_size=1,
    max_size=30,
    unique_by=lambda row: row[0],
)


@FUZZ
@given(rows=ROWS)
def test_valid_random_files_round_trip(tmp_path, rows):
    rows = sorted(rows)
    body = "".join(f"{d.isoformat()},{o!r},{h!r},{low!r},{c!r},{v}\n" for d, o, h, low, c, v in rows)
    frame = read_price_csv(write(tmp_path, "Date,Open,High,Low,Close,Volume\n" + body, "ok.csv"), "ok")
    assert list(frame.index) == [pd.Timestamp(r[0]) for r in rows]
    assert frame.to_numpy().tolist() == [[o, h, low, c, float(v)] for _, o, h, low, c, v in rows]


def test_real_data_files_read_cleanly():
    if not REAL.is_dir():
        pytest.skip(f"real data folder {REAL} is absent")
    for name in ("etf/1306.csv", "stocks/6861.csv", "index/topix_daily.csv"):
        path = REAL / name
        with path.open(encoding="utf-8") as handle:
            rows = sum(1 for line in handle if line.strip()) - 1
        frame = read_price_csv(path, path.stem)
        assert len(frame) == rows, name
        assert list(frame.columns) == COLUMNS
    assert find_ticker_file(REAL, "1306") == REAL / "etf" / "1306.csv"
