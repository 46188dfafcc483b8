"""Universes with history: which codes were members on each date (listings, delistings, index changes).

A dated universe is a CSV file in configs/universes/ (or anywhere, given by path) with the header
`ticker,from,to` (more columns, such as name, are kept out of the way): one row per spell of
membership, `from` the first date a member, `to` the last (empty: still a member). A code may have
several spells (left an index, came back) but they may not overlap. A static universe
(configs/universes/<name>.yaml, backtest.data.universes) is a membership with every member from
the beginning to the end: it carries survivorship bias, and Membership.dated says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.data.universes import UNIVERSE_DIR, load_universe, universe_names
from backtest.errors import ConfigError, did_you_mean

COLUMNS = ("ticker", "from", "to")
_TICKER = re.compile(r"^[0-9][0-9A-Z]{3}$")
_FIRST = np.datetime64("1900-01-01", "D")
_LAST = np.datetime64("2999-12-31", "D")
SYNTHETIC_MARK = "synthetic"


@dataclass(frozen=True)
class Membership:
    """Spells of membership: parallel arrays ticker, first day, last day (inclusive, datetime64[D])."""

    name: str
    file: str
    tickers: tuple[str, ...]
    start: np.ndarray
    end: np.ndarray
    dated: bool = True
    synthetic: bool = False

    @property
    def codes(self) -> list[str]:
        """Every code that is a member at some date, sorted."""
        return sorted(set(self.tickers))

    def members_on(self, day) -> list[str]:
        """Codes that are members on `day`, sorted."""
        d = np.datetime64(pd.Timestamp(day).date(), "D")
        hit = (self.start <= d) & (d <= self.end)
        return sorted({self.tickers[i] for i in np.flatnonzero(hit)})

    def mask(self, columns: list[str]) -> "MembershipMask":
        """This membership over the given columns (a run's tickers), for lookups by date."""
        index = {t: j for j, t in enumerate(columns)}
        cols = np.array([index.get(t, -1) for t in self.tickers], dtype=np.int64)
        keep = cols >= 0
        return MembershipMask(len(columns), cols[keep], self.start[keep], self.end[keep])


@dataclass(frozen=True)
class MembershipMask:
    k: int
    cols: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def on(self, day) -> np.ndarray:
        """Boolean per column: a member on `day` (a date or datetime64)."""
        d = np.datetime64(pd.Timestamp(day).date(), "D")
        out = np.zeros(self.k, dtype=bool)
        out[self.cols[(self.start <= d) & (d <= self.end)]] = True
        return out


def membership_path(name_or_path: str | Path, folder: Path = UNIVERSE_DIR) -> Path:
    """A dated universe's CSV from a path or a bare name in configs/universes/; a static universe's YAML otherwise."""
    path = Path(str(name_or_path))
    if path.suffix.lower() == ".csv" and path.is_file():
        return path
    named = folder / f"{path.stem}.csv"
    if path.suffix.lower() in ("", ".csv") and named.is_file():
        return named
    if path.suffix.lower() in ("", ".yaml", ".yml") and ((folder / f"{path.stem}.yaml").is_file() or path.is_file()):
        return path if path.is_file() else folder / f"{path.stem}.yaml"
    names = sorted({*universe_names(folder), *(p.stem for p in folder.glob("*.csv"))})
    raise ConfigError(file=str(name_or_path), field="universe", problem="no such universe",
                      fix=f"{did_you_mean(path.stem, names)} Universes live in {folder} (.csv: dated membership "
                          "ticker,from,to; .yaml: a fixed list).")


def load_membership(name_or_path: str | Path, folder: Path = UNIVERSE_DIR) -> Membership:
    """The membership of a universe: a dated CSV, or a static YAML list (every member throughout)."""
    path = membership_path(name_or_path, folder)
    if path.suffix.lower() != ".csv":
        universe = load_universe(path, folder)
        n = len(universe.tickers)
        return Membership(universe.name, universe.file, tuple(universe.tickers), np.full(n, _FIRST),
                          np.full(n, _LAST), dated=False)
    return read_membership_csv(path)


def read_membership_csv(path: Path) -> Membership:
    from backtest.safeio import SMALL_FILE_BYTES, read_user_text

    file = str(path)
    text = read_user_text(path, SMALL_FILE_BYTES, lambda problem: ConfigError(
        file=file, field="(file)", problem=problem, fix="Give a CSV file with the header ticker,from,to."))
    synthetic = any(line.startswith("#") and SYNTHETIC_MARK in line.lower() for line in text.splitlines())
    reader = csv.reader(io.StringIO(text))
    header = next((row for row in reader if row and not row[0].lstrip().startswith("#")), None)
    if header is None:
        raise ConfigError(file=file, field="(header)", problem="the file is empty",
                          fix="Start with the header ticker,from,to.")
    header = [h.strip() for h in header]
    for column in COLUMNS:
        if column not in header:
            raise ConfigError(file=file, field="(header)", problem=f"no column '{column}' (got {', '.join(header)})",
                              fix="Start with the header ticker,from,to (to empty: still a member).")
    at = {c: header.index(c) for c in COLUMNS}
    tickers: list[str] = []
    starts: list[dt.date] = []
    ends: list[dt.date | None] = []
    rows: list[int] = []
    for row in reader:
        if not row or all(not cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        number = reader.line_num
        where = f"line {number}"
        if len(row) != len(header):
            raise ConfigError(file=file, field=where, problem=f"{len(row)} cells for {len(header)} columns",
                              fix="Give one cell per column; leave 'to' empty for a current member.")
        ticker = row[at["ticker"]].strip()
        if not _TICKER.match(ticker):
            raise ConfigError(file=file, field=f"{where}, ticker", problem=f"{ticker!r} is not a TSE code",
                              fix="Use a 4-character code such as 7203 or 130A.")
        first = _date(row[at["from"]], file, f"{where}, from", required=True)
        last = _date(row[at["to"]], file, f"{where}, to", required=False)
        if last is not None and first is not None and last < first:
            raise ConfigError(file=file, field=f"{where}, to", problem=f"{last} is before from {first}",
                              fix="Swap the dates.")
        tickers.append(ticker)
        starts.append(first)  # type: ignore[arg-type]
        ends.append(last)
        rows.append(number)
    if not tickers:
        raise ConfigError(file=file, field="(rows)", problem="no members", fix="Add one row per spell: ticker,from,to.")
    start = np.array(starts, dtype="datetime64[D]")
    end = np.array([_LAST if e is None else np.datetime64(e, "D") for e in ends], dtype="datetime64[D]")
    order = sorted(range(len(tickers)), key=lambda i: (tickers[i], start[i]))
    for a, b in zip(order, order[1:]):
        if tickers[a] == tickers[b] and start[b] <= end[a]:
            raise ConfigError(file=file, field=f"line {rows[b]}",
                              problem=f"{tickers[b]}'s spell from {start[b]} overlaps its spell on line {rows[a]}",
                              fix="Give each spell once; end the earlier one before the later one starts.")
    return Membership(path.stem, file, tuple(tickers), start, end, dated=True, synthetic=synthetic)


def _date(cell: str, file: str, field: str, required: bool) -> dt.date | None:
    cell = cell.strip()
    if not cell:
        if required:
            raise ConfigError(file=file, field=field, problem="missing", fix="Give the first date of membership, e.g. 2015-04-01.")
        return None
    try:
        return dt.date.fromisoformat(cell)
    except ValueError:
        raise ConfigError(file=file, field=field, problem=f"{cell!r} is not a date",
                          fix="Write dates as YYYY-MM-DD.") from None


def check_universe(name: str, file: str, field: str) -> Membership:
    """A screen's universe, loaded when its config loads; a ConfigError naming the config file and field if it
    cannot be."""
    try:
        return load_membership(name)
    except ConfigError as exc:
        where = exc.fields.get("file", "")
        problem = exc.fields.get("problem", str(exc))
        detail = f" ({where}: {exc.fields.get('field')})" if where and where != name else ""
        raise ConfigError(file=file, field=f"{field}.screen.universe", problem=f"{problem}{detail}",
                          fix=exc.fields.get("fix", "Name a universe from configs/universes/.")) from None
