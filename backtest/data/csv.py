"""Read one ticker's daily prices from a user CSV file, with validation.

What is malformed is refused here; what is only suspicious (gaps, stale prices, splits, broken high-low
ranges) is a finding of backtest/data/quality.py, the same for every caller.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.errors import DataError

PRICE_COLUMNS = ("open", "high", "low", "close")
COLUMNS = (*PRICE_COLUMNS, "volume")
REQUIRED = ("date", *PRICE_COLUMNS)
EXAMPLE_HEADER = "Date,Open,High,Low,Close,Volume"

# Header names after lower-casing and dropping spaces and underscores.
_ALIASES = {
    "date": "date",
    "datetime": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "adjclose": "adj_close",
    # J-Quants' per-day split factor (AdjustmentFactor / AdjFactor): 0.2 on the ex-date of a 1:5 split
    "adjfactor": "adj_factor",
    "adjustmentfactor": "adj_factor",
}
# Spreadsheet and data-vendor spellings of "no value"; reported as missing rather than as text.
_MISSING = frozenset({"", "nan", "na", "n/a", "#n/a", "null", "none", "-"})

# ASCII digits only: Python's \d also matches full-width and other Unicode digits.
_DATE = (
    r"(?a)^(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"(?:[ T](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?)?\Z"
)
_TIME_PARTS = ("H", "M", "S", "f")
_TZ_DATE = (
    r"(?a)\d{4}[-/]\d{1,2}[-/]\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
    r"\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)"
)
# Daily dates must fit in datetime64[ns], the unit the trading calendar uses.
_FIRST_DAY = np.datetime64("1678-01-01", "ns")
_LAST_DAY = np.datetime64("2261-12-31", "ns")

# Fifty years of one ticker's daily bars is about 1 MB; a file far larger is the wrong file, and
# parsing it first would take minutes and gigabytes before saying so.
MAX_MB = 50
MAX_MB_ENV = "THEMEBT_MAX_CSV_MB"

_FIX_DATE = "write dates as YYYY-MM-DD (or YYYY/MM/DD)"
_FIX_PLAIN_DATE = "write plain dates in Tokyo time, e.g. 2020-01-06"
_FIX_NUMBER = "write plain numbers like 1234.5 (no thousands separators, currency signs or units)"
_FIX_HEADER = f"the first row must be a header such as {EXAMPLE_HEADER} (names are case-insensitive)"


@dataclass
class _Source:
    """The file being read and the file line number of each data row, for error messages."""

    file: str
    lines: np.ndarray

    def error(self, field: str, problem: str, fix: str) -> DataError:
        return _fail(file=self.file, field=field, problem=problem, fix=fix)

    def cell(self, i: int, column: str) -> str:
        return f"row {int(self.lines[i])}, column {column}"


def read_price_csv(path: Path | str, ticker: str) -> pd.DataFrame:
    """One ticker's daily prices: float64 open, high, low, close, volume (+ adj_close, adj_factor), indexed by date.

    An optional adj_factor column (also AdjustmentFactor or AdjFactor) carries J-Quants' per-day split
    factor next to split-adjusted prices: 1.0 (or empty) on most days, 0.2 on the ex-date of a 1:5
    split; backtest/data/adjustment.py turns it into as-traded prices.

    Raises DataError, naming the file, the row or column and a fix, for anything wrong in the file.
    """
    path = Path(path)
    text = _read_text(path, ticker)
    raw, lead = _parse_csv(text, str(path))
    header, body, src = _split_header(raw, lead, text, str(path))
    columns = _map_columns(header, src)
    names = {key: _show_name(header[pos]) for key, pos in columns.items()}

    dates = _parse_dates(body[columns["date"]], src, names["date"])
    _check_order(dates, src)

    data = {}
    for key in (*COLUMNS, "adj_close"):
        if key in columns:
            data[key] = _parse_numbers(body[columns[key]], src, names[key], is_price=key != "volume")
        elif key == "volume":
            # Index files often have no volume; NaN says "unknown", not "no trades".
            data[key] = np.full(len(dates), np.nan)
    if "adj_factor" in columns:
        data["adj_factor"] = _parse_factors(body[columns["adj_factor"]], src, names["adj_factor"])
    return pd.DataFrame(data, index=pd.DatetimeIndex(dates, name="date"))


def find_ticker_file(folder: Path, ticker: str, files: dict[str, str] | None = None) -> Path:
    """The CSV file for a ticker: its data.files mapping, else <ticker>.csv in folder or a subfolder."""
    folder = Path(folder)
    ticker = str(ticker)
    _check_folder(folder)
    wanted = f"{ticker}.csv".casefold()
    if files and ticker in files:
        try:
            return _mapped_file(folder, ticker, files[ticker])
        except DataError:
            # a config's mapping is written for one folder layout; <ticker>.csv serves the others
            here = sorted(p for p in _listdir(folder) if p.name.casefold() == wanted and p.is_file())
            if len(here) == 1:
                return here[0]
            raise
    here = sorted(p for p in _listdir(folder) if p.name.casefold() == wanted and p.is_file())
    matches = here or _search_subfolders(folder, wanted)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise _fail(
            file=str(folder),
            field=f"ticker {ticker}",
            problem=f"no {ticker}.csv in this folder or its subfolders",
            fix="add the file, or map the ticker to a file with data.files in the config",
        )
    shown = ", ".join(str(p.relative_to(folder)) for p in matches)
    raise _fail(
        file=str(folder),
        field=f"ticker {ticker}",
        problem=f"{len(matches)} files match {ticker}.csv: {shown}",
        fix="map the ticker to one of them in data.files in the config",
    )


# --- reading and parsing -------------------------------------------------------------------


def _read_text(path: Path, ticker: str) -> str:
    """Through backtest.safeio: regular files only (no device, pipe or folder), never more than the limit."""
    from backtest.safeio import FileProblem, read_user_file

    file = str(path)
    limit = _limit_mb()
    try:
        data = read_user_file(path, int(limit * 2**20))
    except FileProblem as exc:
        if exc.missing:
            raise _fail(
                file=file,
                field="file",
                problem=f"the price file for {ticker} does not exist",
                fix="check the folder and file name, or map the ticker to its file with data.files in the config",
            ) from None
        if exc.folder:
            raise _fail(
                file=file, field="file", problem="is a folder, not a CSV file", fix="point to the CSV file inside it"
            ) from None
        if exc.too_big:
            size = path.stat().st_size if _exists(path) else 0
            shown = f"{size / 2**20:,.0f} MB" if size > limit * 2**20 else f"over {limit:g} MB"
            raise _fail(
                file=file, field="file",
                problem=f"is {shown}, above the {limit:g} MB limit for one ticker's daily prices",
                fix=f"check that this is the right file; to read it anyway, set {MAX_MB_ENV} to a larger limit",
            ) from None
        raise _fail(
            file=file, field="file", problem=exc.problem,
            fix="give a regular CSV file that exists and is readable",
        ) from None
    if not data:
        raise _fail(
            file=file, field="file", problem="is empty (0 bytes)", fix=f"export the prices again; {_FIX_HEADER}"
        )
    return _decode(data, file)


def _limit_mb() -> float:
    """The size limit of one price file, in MB: THEMEBT_MAX_CSV_MB, else MAX_MB."""
    raw = os.environ.get(MAX_MB_ENV, "")
    try:
        limit = float(raw) if raw.strip() else MAX_MB
    except ValueError:
        limit = float("nan")
    if not 0 < limit < 2**40:
        raise _fail(file=MAX_MB_ENV, field="value", problem=f"{_show(raw)} is not a positive number of megabytes",
                    fix=f"set it to a number such as 200, or unset it for the default of {MAX_MB}")
    return limit


def _decode(data: bytes, file: str) -> str:
    try:
        # utf-8-sig drops the byte-order mark Excel writes at the start of "CSV UTF-8" files.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(
            file=file,
            field=f"row {line}",
            problem=f"is not UTF-8 text (byte 0x{data[exc.start]:02x})",
            fix="save the file as UTF-8 (Excel: 'CSV UTF-8'); convert Shift-JIS or UTF-16 files first",
        ) from None
    if "\x00" in text:
        line = _count_breaks(text[: text.index("\x00")]) + 1
        raise _fail(
            file=file,
            field=f"row {line}",
            problem="contains NUL bytes, so it is not a text CSV file",
            fix="export the prices as a UTF-8 CSV file",
        )
    return text


def _parse_csv(text: str, file: str) -> tuple[pd.DataFrame, int]:
    """All cells as strings, header included, and the number of blank lines skipped before it."""
    stripped = text.lstrip("\r\n")
    lead = _count_breaks(text[: len(text) - len(stripped)])
    if not stripped.strip():
        raise _fail(
            file=file,
            field="file",
            problem="has no header row (only blank lines)",
            fix=f"export the prices again; {_FIX_HEADER}",
        )
    try:
        # header=None keeps the header as row 0: pandas would otherwise rename duplicate
        # names and silently use a surplus first column as the index.
        raw = pd.read_csv(
            io.StringIO(stripped),
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            index_col=False,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        raise _parser_error(exc, lead, file) from None
    except Exception as exc:  # the C parser raises assorted types on odd input; all mean a bad file
        raise _fail(
            file=file,
            field="file",
            problem=f"cannot be read as CSV ({_short(str(exc) or type(exc).__name__, 120)})",
            fix=f"save it as a comma-separated file; {_FIX_HEADER}",
        ) from None
    return raw, lead


def _parser_error(exc: Exception, lead: int, file: str) -> DataError:
    message = str(exc).replace("Error tokenizing data. C error: ", "").strip()
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if fields:
        expected, line, saw = (int(g) for g in fields.groups())
        return _fail(
            file=file,
            field=f"row {line + lead}",
            problem=f"has {saw} fields but the rows above have {expected}",
            fix="give every row the same columns as the header, and quote values that contain commas",
        )
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        # pandas counts rows from 0 here but lines from 1 in the message above.
        return _fail(
            file=file,
            field=f"row {int(quote.group(1)) + 1 + lead}",
            problem="a quote (\") opens here and is never closed",
            fix="close the quote or remove it",
        )
    line = re.search(r"line (\d+)", message)
    return _fail(
        file=file,
        field=f"row {int(line.group(1)) + lead}" if line else "file",
        problem=f"is not valid CSV ({_short(message, 120)})",
        fix="save it as a plain comma-separated file with one row per day",
    )


def _split_header(raw: pd.DataFrame, lead: int, text: str, file: str) -> tuple[list[str], pd.DataFrame, _Source]:
    """Header names, the non-blank data rows, and their file line numbers."""
    lines = _line_numbers(raw, lead, quoted='"' in text)
    keep = ~_blank_rows(raw)
    keep[0] = False
    header = [str(v) for v in raw.iloc[0]]
    body = raw.iloc[keep]
    src = _Source(file=file, lines=lines[keep])
    if body.empty:
        raise src.error("rows", "has a header but no data rows", "add one row per trading day below the header")
    return header, body, src


def _line_numbers(raw: pd.DataFrame, lead: int, quoted: bool) -> np.ndarray:
    lines = np.arange(len(raw), dtype=np.int64) + 1 + lead
    if quoted:
        # A quoted cell can span several lines; later rows start that much further down.
        breaks = sum(raw[c].str.count(r"\r\n|\r|\n").to_numpy(dtype=np.int64) for c in raw.columns)
        lines[1:] += np.cumsum(breaks)[:-1]
    return lines


def _blank_rows(raw: pd.DataFrame) -> np.ndarray:
    # Blank lines and lines of bare commas (spreadsheet exports leave them at the end) carry no data.
    blank = raw[raw.columns[0]].str.strip().eq("").to_numpy(dtype=bool, copy=True)
    candidates = np.flatnonzero(blank)
    if len(candidates):
        rest = raw.iloc[candidates, 1:]
        blank[candidates] = np.logical_and.reduce(
            [rest[c].str.strip().eq("").to_numpy(dtype=bool) for c in rest.columns], initial=True
        )
    return blank


def _map_columns(header: list[str], src: _Source) -> dict[str, int]:
    """Position of each known column in the header; unknown columns are ignored."""
    found: dict[str, int] = {}
    for pos, name in enumerate(header):
        key = _ALIASES.get(re.sub(r"[\s_]", "", name).lower())
        if key is None:
            continue
        if key in found:
            first = _show_name(header[found[key]])
            raise src.error(
                f"column {_show_name(name)}",
                f"columns {first} and {_show_name(name)} are both read as {key}",
                "keep only one of them",
            )
        found[key] = pos
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        raise src.error("columns", _missing_problem(missing, header), _missing_fix(header))
    return found


def _missing_problem(missing: list[str], header: list[str]) -> str:
    shown = [_show_name(n) for n in header[:20]] + (["…"] if len(header) > 20 else [])
    plural = "s" if len(missing) > 1 else ""
    return f"missing required column{plural} {', '.join(missing)} (found: {', '.join(shown)})"


def _missing_fix(header: list[str]) -> str:
    if len(header) == 1:
        for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "bars")):
            if sep in header[0]:
                return f"the file seems to use {name} between columns: save it with commas instead"
    if re.match(r"(?a)\s*\d{4}[-/]\d{1,2}[-/]\d{1,2}", header[0]):
        return f"the first row holds data, not names: add a header row such as {EXAMPLE_HEADER}"
    return f"name the columns in the header row; {_FIX_HEADER}; Adj Close is optional"


# --- dates ---------------------------------------------------------------------------------


def _parse_dates(cells: pd.Series, src: _Source, column: str) -> np.ndarray:
    """datetime64[ns] midnight dates; only cells the fast ISO parse rejects get the detailed checks."""
    fast = pd.to_datetime(cells, format="%Y-%m-%d", errors="coerce")
    # Out-of-range years would overflow datetime64[ns]; the detailed checks report them.
    fast = fast.where((fast >= _FIRST_DAY) & (fast <= _LAST_DAY))
    dates = np.asarray(fast, dtype="datetime64[ns]").copy()
    slow = np.flatnonzero(np.isnat(dates))
    if len(slow):
        dates[slow] = _parse_odd_dates(cells.iloc[slow], slow, src, column)
    return dates


def _parse_odd_dates(cells: pd.Series, rows: np.ndarray, src: _Source, column: str) -> np.ndarray:
    """Dates with slashes, spaces or a midnight time part; anything else is an error."""
    text = cells.str.strip()

    def fail_at(mask, problem, fix):
        hit = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(hit):
            i = hit[0]
            raise src.error(src.cell(rows[i], column), problem(text.iloc[i]), fix)

    fail_at(text.eq(""), lambda v: "date is empty", "fill in the date or delete the row")
    fail_at(
        text.str.fullmatch(_TZ_DATE),
        lambda v: f"mixed or timezone-aware dates: {_show(v)} has a timezone",
        _FIX_PLAIN_DATE,
    )
    parts = text.str.extract(_DATE)
    fail_at(parts["y"].isna(), lambda v: f"{_show(v)} is not a date", _FIX_DATE)
    timed = np.logical_or.reduce([parts[p].fillna("").str.contains("[1-9]").to_numpy(dtype=bool) for p in _TIME_PARTS])
    fail_at(timed, lambda v: f"{_show(v)} has a time of day; daily prices need plain dates", _FIX_PLAIN_DATE)

    ymd = pd.DataFrame({"year": parts["y"], "month": parts["m"], "day": parts["d"]}).astype("int64")
    fail_at(
        (ymd["year"] < 1678) | (ymd["year"] > 2261),
        lambda v: f"{_show(v)} is outside the supported years 1678-2261",
        "correct the year",
    )
    dates = pd.to_datetime(ymd, errors="coerce")
    fail_at(dates.isna(), lambda v: f"{_show(v)} is not a real calendar date", "correct the month or day")
    return np.asarray(dates, dtype="datetime64[ns]")


def _check_order(dates: np.ndarray, src: _Source) -> None:
    """Refuse unsorted or repeated dates: sorting silently would hide a broken export."""
    # Compare neighbours rather than diff them: a diff across centuries overflows int64 nanoseconds.
    earlier, later = dates[:-1], dates[1:]
    back = np.flatnonzero(later < earlier)
    if len(back):
        i = back[0] + 1
        raise src.error(
            f"row {int(src.lines[i])}",
            f"dates go backwards: {_day(dates[i])} comes after {_day(dates[i - 1])} on the row above",
            "sort the rows by date, ascending (oldest first)",
        )
    repeats = np.flatnonzero(later == earlier)
    if len(repeats):
        first = dates[repeats[0]]
        rows = src.lines[dates == first]
        n_dates = len(np.unique(dates[repeats]))
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (", …" if len(rows) > 5 else "")
        also = f"; {n_dates} dates are duplicated in all" if n_dates > 1 else ""
        raise src.error(
            f"date {_day(first)}",
            f"duplicated date: it appears on {len(rows)} rows ({shown}){also}",
            "keep one row per date",
        )


# --- numbers -------------------------------------------------------------------------------


def _parse_numbers(cells: pd.Series, src: _Source, column: str, is_price: bool) -> np.ndarray:
    """float64 values; text, missing prices, non-finite, non-positive prices and negative volume are errors."""
    values = pd.to_numeric(cells, errors="coerce")
    values = np.asarray(values, dtype="float64")
    unparsed = np.flatnonzero(np.isnan(values))
    if len(unparsed):
        _check_unparsed(cells.iloc[unparsed], unparsed, src, column, is_price)

    def fail_at(mask, problem, fix):
        hit = np.flatnonzero(mask)
        if len(hit):
            i = hit[0]
            raise src.error(src.cell(i, column), problem(cells.iloc[i].strip(), len(hit)), fix)

    fail_at(np.isinf(values), lambda v, n: f"{_show(v)} is not a finite number", "correct the value")
    if is_price:
        fail_at(
            values <= 0,
            lambda v, n: f"price {_show(v)} is not above 0{_more(n)}",
            "correct the price or delete the row",
        )
    else:
        fail_at(
            values < 0,
            lambda v, n: f"volume {_show(v)} is negative{_more(n)}",
            "correct the volume (0 means no trades)",
        )
    return values


def _parse_factors(cells: pd.Series, src: _Source, column: str) -> np.ndarray:
    """Adjustment factors: positive finite numbers; an empty cell means 1.0 (no split that day)."""
    values = pd.to_numeric(cells, errors="coerce")
    values = np.asarray(values, dtype="float64")
    text = cells.str.strip()
    empty = text.str.lower().isin(_MISSING).to_numpy(dtype=bool)
    bad = np.flatnonzero((np.isnan(values) & ~empty) | np.isinf(values) | (values <= 0))
    if len(bad):
        i = bad[0]
        raise src.error(src.cell(i, column), f"adjustment factor {_show(text.iloc[i])} is not a number above 0"
                        f"{_more(len(bad))}",
                        "write the split factor of that day, e.g. 1 on most days and 0.2 on the ex-date of a 1:5 "
                        "split, or leave the cell empty")
    return np.where(empty, 1.0, values)


def _check_unparsed(cells: pd.Series, rows: np.ndarray, src: _Source, column: str, is_price: bool) -> None:
    """Cells pandas could not read as numbers: text is always an error, a missing price too."""
    text = cells.str.strip()
    missing = text.str.lower().isin(_MISSING).to_numpy(dtype=bool)
    bad = np.flatnonzero(~missing)
    if len(bad):
        i = bad[0]
        raise src.error(
            src.cell(rows[i], column), f"{_show(text.iloc[i])} is not a number{_more(len(bad))}", _FIX_NUMBER
        )
    if is_price:
        value = text.iloc[0]
        what = "price is empty" if value == "" else f"price is missing ({_show(value)})"
        raise src.error(src.cell(rows[0], column), f"{what}{_more(len(rows))}", "fill in the price or delete the row")


# --- finding files -------------------------------------------------------------------------


def _check_folder(folder: Path) -> None:
    if not _exists(folder):
        raise _fail(
            file=str(folder),
            field="data folder",
            problem="does not exist",
            fix="create it, or fix the data folder path in the config",
        )
    if not _is_dir(folder):
        raise _fail(
            file=str(folder),
            field="data folder",
            problem="is a file, not a folder",
            fix="point the config at the folder that holds the CSV files",
        )


def _mapped_file(folder: Path, ticker: str, relative: str) -> Path:
    path = folder / str(relative)
    if not _exists(path) or _is_dir(path):
        problem = "is a folder, not a CSV file" if _is_dir(path) else f"the file mapped to {ticker} does not exist"
        raise _fail(
            file=str(path),
            field=f"data.files {ticker}",
            problem=problem,
            fix="fix the path in data.files (paths are relative to the data folder)",
        )
    return path


def _listdir(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:
        return []


def _search_subfolders(folder: Path, wanted: str) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(folder):
        # Hidden folders hold VCS and editor copies, never the user's data.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if Path(root) == folder:
            continue
        found += [Path(root) / n for n in names if n.casefold() == wanted]
    return sorted(found)


# --- small helpers -------------------------------------------------------------------------


def _fail(file: str, field: str, problem: str, fix: str) -> DataError:
    """A DataError whose fix reads as a sentence, like the other modules' messages."""
    fix = fix[:1].upper() + fix[1:]
    return DataError(file=file, field=field, problem=problem, fix=fix if fix.endswith(".") else fix + ".")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _count_breaks(text: str) -> int:
    return len(re.findall(r"\r\n|\r|\n", text))


def _day(value) -> str:
    return str(pd.Timestamp(value).date())


def _more(n: int) -> str:
    return f" ({n} rows in all)" if n > 1 else ""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: str) -> str:
    """A cell value quoted for a message, cut short so a huge cell cannot flood the terminal."""
    return repr(_short(str(value), 40))


def _show_name(name: str) -> str:
    return repr(_short(str(name).strip(), 30))
