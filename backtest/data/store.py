"""The local price store: one Parquet file and one JSON coverage record per source and ticker, filled by fetches that resume."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from backtest import __version__
from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.sources import BASIS_AS_GIVEN, COLUMNS, OPTIONAL, normalise
from backtest.errors import DataError
from backtest.safeio import FileProblem, read_head, read_user_file

DEFAULT_ROOT = "~/.themebt/store"
ENV_ROOT = "THEMEBT_STORE"
# Where a run looks first when several sources hold a ticker: the official feed, the user's own files,
# then the free sources. A proxy (Yahoo's 1306.T for TOPIX) is used only when nothing else has the ticker.
PREFERENCE = ("jquants", "csv", "stooq", "yahoo")
# An overlapping session whose close moved by more than this since the last fetch means the source
# re-based its history (a split, or a new dividend in an adjusted close).
REBASE_TOLERANCE = 1e-3


def _need_pyarrow(path: Path) -> None:
    """The store's files are parquet, read and written with pyarrow: an optional dependency (extra `store`)."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise DataError(file=str(path), field="price store", problem="pyarrow is not installed; the store keeps "
                        "prices as parquet files", fix="Install it with: pip install 'themebt[store]' (or pip install "
                        "pyarrow). Demo and CSV data do not need it.")


def store_root(option: str | os.PathLike | None = None) -> Path:
    """The store folder: --store, else $THEMEBT_STORE, else ~/.themebt/store."""
    from backtest.safeio import expand_user

    where = "--store" if option else (ENV_ROOT if os.environ.get(ENV_ROOT) else "store")
    return expand_user(str(option or os.environ.get(ENV_ROOT) or DEFAULT_ROOT), lambda problem: DataError(
        file=where, field="store folder", problem=problem, fix="Give the store folder's full path."))


@dataclass
class Entry:
    """What the store holds for one source and ticker; `coverage` is the span already fetched."""

    source: str
    ticker: str
    meta: dict

    @property
    def coverage(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        c = self.meta["coverage"]
        return pd.Timestamp(c["start"]), pd.Timestamp(c["end"])


@dataclass
class FetchRow:
    """One line of the fetch or import summary."""

    ticker: str
    symbol: str
    status: str  # fetched | extended | up to date | refetched | no data | failed | not tried | imported
    added: int = 0
    first: str = ""
    last: str = ""
    missing: int = 0
    note: str = ""


@dataclass
class FetchReport:
    rows: list[FetchRow] = field(default_factory=list)
    stopped: DataError | None = None

    @property
    def incomplete(self) -> list[FetchRow]:
        return [r for r in self.rows if r.status in ("no data", "failed", "not tried")]


class Store:
    """Layout: <root>/<source>/<TICKER>.parquet (the frame) and <TICKER>.json (its coverage and metadata).

    Frames follow backtest.data.sources.normalise: index `date`; open, high, low, close, volume
    (+ adj_close, raw_close, adj_factor). Each file is written to a temporary name and renamed, so a fetch that
    is interrupted leaves the previous version whole.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = store_root(root)

    # ----- reading --------------------------------------------------------------------------------
    def entry(self, source: str, ticker: str) -> Entry | None:
        path = self._meta_path(source, ticker)
        if not path.is_file() or not self._frame_path(source, ticker).is_file():
            return None
        with _locked(path.parent, shared=True):
            return Entry(source, ticker, _read_meta(path))

    def read(self, source: str, ticker: str) -> pd.DataFrame:
        """The stored frame, read with its record under one lock and checked against it, like a CSV file."""
        path = self._frame_path(source, ticker)
        _need_pyarrow(path)
        with _locked(path.parent, shared=True):
            meta_path = self._meta_path(source, ticker)
            meta = _read_meta(meta_path) if meta_path.is_file() else None
            try:
                read_head(path, 1)  # a regular file, not a pipe or a device
                frame = pd.read_parquet(path)
            except FileProblem as exc:
                raise DataError(file=str(path), field="price file", problem=exc.problem,
                                fix="Delete it and its .json record, then fetch or import the ticker again.") from None
            except Exception as exc:  # pyarrow raises several types for a damaged file; all mean the same
                raise DataError(file=str(path), field="price file", problem=f"cannot be read ({type(exc).__name__})",
                                fix="Delete it and its .json record, then fetch or import the ticker again.") from None
        return _checked_frame(frame, path, meta)

    def entries(self, source: str | None = None) -> list[Entry]:
        out = []
        sources = [source] if source else sorted(p.name for p in self._dirs())
        for src in sources:
            folder = self.root / src
            for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                entry = self.entry(src, meta.stem)
                if entry is not None:
                    out.append(entry)
        return out

    def find(self, ticker: str) -> Entry | None:
        """The entry a run uses for ticker: the first non-proxy in PREFERENCE order, else a proxy."""
        found = [e for e in (self.entry(s, ticker) for s in self._source_order()) if e is not None]
        real = [e for e in found if not e.meta.get("proxy")]
        return (real or found or [None])[0]

    # ----- writing --------------------------------------------------------------------------------
    def write(self, source: str, ticker: str, frame: pd.DataFrame, coverage: tuple, meta: dict,
              requested: tuple | None = None) -> Entry:
        """Replace the stored frame; coverage is the span fetched for good, requested the widest span asked for."""
        folder = self.root / source
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where the store should be, a read-only or full disk
            raise DataError(file=str(folder), field="store", problem=f"cannot be written ({exc.strerror})",
                            fix=f"Point --store or {ENV_ROOT} at a writable folder.") from None
        frame = frame[[c for c in (*COLUMNS, *OPTIONAL) if c in frame]]
        record = {
            "ticker": ticker,
            "source": source,
            "symbol": meta.get("symbol"),
            "basis": meta.get("basis"),
            "has_adj_close": "adj_close" in frame and bool(frame["adj_close"].notna().any()),
            # J-Quants' split factors are stored next to the prices (column adj_factor): as-traded prices known
            "has_adj_factor": "adj_factor" in frame and bool(frame["adj_factor"].notna().any()),
            "currency": meta.get("currency"),
            "proxy": meta.get("proxy"),
            "notes": list(meta.get("notes") or []),
            "dividends": list(meta.get("dividends") or []),
            "coverage": {"start": _day(coverage[0]), "end": _day(coverage[1])},
            "requested": {"start": _day((requested or coverage)[0]), "end": _day((requested or coverage)[1])},
            "rows": int(len(frame)),
            "first": _day(frame.index[0]) if len(frame) else None,
            "last": _day(frame.index[-1]) if len(frame) else None,
            "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "themebt_version": __version__,
        }
        _need_pyarrow(self._frame_path(source, ticker))
        # the pair is written under one lock: a second process never leaves data and record from different writes
        try:
            with _locked(folder, shared=False):
                _atomic(self._frame_path(source, ticker), lambda p: frame.to_parquet(p, engine="pyarrow"))
                _atomic(self._meta_path(source, ticker),
                        lambda p: Path(p).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n",
                                                     encoding="utf-8"))
        except OSError as exc:
            raise DataError(file=str(folder), field="store", problem=f"cannot be written ({exc.strerror})",
                            fix=f"Free disk space, or point --store or {ENV_ROOT} at a writable folder.") from None
        return Entry(source, ticker, record)

    # ----- fetching -------------------------------------------------------------------------------
    def fetch(self, fetcher, tickers, start, end, on_ticker: Callable[[str], None] | None = None) -> FetchReport:
        """Bring every ticker's stored history up to [start, end], fetching only what is not stored yet.

        A failure on one ticker is recorded and the next is tried; a refusal that would repeat for
        every ticker (credentials, rate limit) stops the fetch, keeping what was stored so far.
        """
        start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
        report = FetchReport()
        tickers = list(dict.fromkeys(str(t) for t in tickers))
        for i, ticker in enumerate(tickers):
            if on_ticker:
                on_ticker(ticker)
            symbol = _symbol(fetcher, ticker)
            try:
                row = self._update(fetcher, ticker, symbol, start, end)
            except DataError as exc:
                report.rows.append(FetchRow(ticker, symbol, "failed", note=str(exc)))
                if getattr(exc, "fatal", False):
                    report.stopped = exc
                    report.rows += [FetchRow(t, _symbol(fetcher, t), "not tried") for t in tickers[i + 1:]]
                    break
                continue
            report.rows.append(row)
        return report

    def _update(self, fetcher, ticker: str, symbol: str, start, end) -> FetchRow:
        source = fetcher.name
        entry = self.entry(source, ticker)
        if entry is None:
            new = fetcher.fetch(ticker, start, end)
            if new.empty:
                return FetchRow(ticker, symbol, "no data", missing=len(tokyo_sessions(start, end)),
                                note=f"{source} returned no rows for {symbol} from {_day(start)} to {_day(end)}: "
                                     "the code may not exist there, or your plan may not cover the period")
            self.write(source, ticker, new, (start, new.index[-1]), new.attrs, (start, end))
            return self._row(ticker, symbol, "fetched", len(new), new, start, end)

        old = self.read(source, ticker)
        cov_start, cov_end = entry.coverage
        meta = dict(entry.meta)
        asked = meta.get("requested") or meta["coverage"]
        requested = (min(start, pd.Timestamp(asked["start"])), max(end, pd.Timestamp(asked["end"])))
        pieces, overlap_moved = [], False
        # Each piece overlaps one stored session, so a re-based history shows up as a moved close.
        if start < cov_start and len(old):
            pieces.append(fetcher.fetch(ticker, start, old.index[0]))
        if len(tokyo_sessions(cov_end + pd.Timedelta(days=1), end)) and len(old):
            pieces.append(fetcher.fetch(ticker, old.index[-1], end))
        if not pieces:
            return self._row(ticker, symbol, "up to date", 0, old, start, end, entry.meta.get("proxy"))
        for piece in pieces:
            overlap_moved |= _moved(old, piece)
            if piece.attrs:
                meta.update({k: piece.attrs[k] for k in ("basis", "currency", "proxy", "notes") if k in piece.attrs})
                known = {d for d, _ in meta.get("dividends") or []}
                meta["dividends"] = sorted([*(meta.get("dividends") or []),
                                            *[x for x in piece.attrs.get("dividends") or [] if x[0] not in known]])
        lo, hi = min(start, cov_start), max(end, cov_end)
        if overlap_moved:
            full = fetcher.fetch(ticker, lo, hi)
            if full.empty:
                return FetchRow(ticker, symbol, "failed", note="history re-based by the source, and the refetch returned nothing")
            self.write(source, ticker, full, (lo, full.index[-1]), {**meta, **full.attrs}, requested)
            row = self._row(ticker, symbol, "refetched", len(full), full, start, end)
            row.note = ("the source re-based its history since the last fetch (a split, or a dividend in the "
                        "adjusted close), so all of it was fetched again. " + row.note).strip()
            return row
        merged = pd.concat([old, *[p for p in pieces if len(p)]])
        merged = merged[~merged.index.duplicated(keep="last")].sort_index()
        added = len(merged) - len(old)
        self.write(source, ticker, merged, (lo, max(cov_end, merged.index[-1])), meta, requested)
        return self._row(ticker, symbol, "extended" if added else "up to date", added, merged, start, end,
                         meta.get("proxy"))

    def _row(self, ticker, symbol, status, added, frame, start, end, proxy: str | None = None) -> FetchRow:
        inside = frame[(frame.index >= start) & (frame.index <= end)]
        grid = tokyo_sessions(start, end)
        missing = int(len(grid.difference(inside.index)))
        notes = []
        if len(inside) == 0:
            notes.append(f"no rows between {_day(start)} and {_day(end)}")
        else:
            before = int((grid < inside.index[0]).sum())
            after = int((grid > inside.index[-1]).sum())
            inner = missing - before - after
            if before:
                notes.append(f"{before} session(s) before the first row {_day(inside.index[0])}")
            if after:
                notes.append(f"{after} session(s) after the last row {_day(inside.index[-1])}")
            if inner > 0:
                notes.append(f"{inner} session(s) without a price inside the span")
        proxy = proxy or (frame.attrs.get("proxy") if frame.attrs else None)
        if proxy:
            notes.append("PROXY: " + proxy)
        return FetchRow(ticker, symbol, status, int(added), _day(inside.index[0]) if len(inside) else "",
                        _day(inside.index[-1]) if len(inside) else "", missing, "; ".join(notes))

    # ----- importing ------------------------------------------------------------------------------
    def import_csv(self, path: Path, ticker: str) -> FetchRow:
        """Store a user CSV file as source 'csv', replacing what was imported for that ticker before."""
        from backtest.data.csv import price_csv_warnings, read_price_csv

        frame = read_price_csv(path, ticker)
        notes = price_csv_warnings(frame)
        if "adj_close" in frame:
            notes.append("adj_close as given in the file (taken as adjusted for splits and dividends)")
        frame = normalise(frame, source="csv", ticker=ticker, symbol=str(path), basis=BASIS_AS_GIVEN, currency=None,
                          notes=tuple(notes))
        if frame.empty:
            raise DataError(file=str(path), field="rows", problem="no prices in the file",
                            fix="Export the prices again with at least one row.")
        self.write("csv", ticker, frame, (frame.index[0], frame.index[-1]), frame.attrs)
        grid = tokyo_sessions(frame.index[0], frame.index[-1])
        return FetchRow(ticker, str(path), "imported", len(frame), _day(frame.index[0]), _day(frame.index[-1]),
                        int(len(grid.difference(frame.index))), "; ".join(notes))

    # ----- paths ----------------------------------------------------------------------------------
    def _frame_path(self, source: str, ticker: str) -> Path:
        return self.root / source / f"{_safe(ticker)}.parquet"

    def _meta_path(self, source: str, ticker: str) -> Path:
        return self.root / source / f"{_safe(ticker)}.json"

    def _dirs(self):
        return [p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")] if self.root.is_dir() else []

    def _source_order(self) -> list[str]:
        present = [p.name for p in self._dirs()]
        return [s for s in PREFERENCE if s in present] + sorted(s for s in present if s not in PREFERENCE)


def load_store_frames(root, tickers, notes: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Frames for load_prices: per ticker, split-adjusted open/high/low/close/volume indexed by date,
    plus adj_factor where the source stored split factors (J-Quants).

    Each ticker comes from Store.find; a proxy adds a line to `notes`, which the run reports.
    """
    store = Store(root)
    notes = notes if notes is not None else []
    out = {}
    for ticker in tickers:
        entry = store.find(ticker)
        if entry is None:
            raise DataError(
                file=f"store {store.root}", field=f"ticker {ticker}", problem="not in the store",
                fix=f"Fetch it (themebt data fetch --source jquants|yahoo|stooq --tickers {ticker} --start … --end …) "
                    "or import a CSV file (themebt data import FILE --ticker …); `themebt data list` shows the store.",
            )
        if entry.meta.get("proxy"):
            notes.append(f"{ticker}: {entry.meta['proxy']}")
        frame = store.read(entry.source, ticker)
        factors = "adj_factor" in frame and frame["adj_factor"].notna().any()
        keep = [*COLUMNS, "adj_factor"] if factors else list(COLUMNS)
        out[ticker] = frame[keep]
    return out


def dividend_rows(store: "Store", source: str | None = None) -> list[tuple[str, str, float]]:
    """(ticker, ex_date, JPY per share) for every dividend a source reported (Yahoo's chart events)."""
    rows = []
    for entry in store.entries(source):
        if entry.meta.get("proxy"):
            continue  # a proxy's dividends are the stand-in's, not the ticker's
        rows += [(entry.ticker, day, float(amount)) for day, amount in entry.meta.get("dividends") or []]
    return sorted(set(rows))


def _moved(old: pd.DataFrame, piece: pd.DataFrame) -> bool:
    common = old.index.intersection(piece.index)
    if not len(common):
        return False
    for col in ("close", "adj_close", "adj_factor"):
        if col in old and col in piece:
            a, b = old.loc[common, col], piece.loc[common, col]
            both = a.notna() & b.notna()
            if both.any() and ((b[both] / a[both] - 1.0).abs() > REBASE_TOLERANCE).any():
                return True
    return False


def _symbol(fetcher, ticker: str) -> str:
    try:
        return fetcher.symbol(ticker)
    except DataError:
        return "?"


def _safe(ticker: str) -> str:
    """A file name for a ticker; TSE codes are already safe, anything else cannot climb out of the folder."""
    name = "".join(c if c.isalnum() or c in "-_^." else "_" for c in str(ticker))
    return name.lstrip(".") or "_"


def _day(value) -> str:
    return str(pd.Timestamp(value).date())


LOCK_FILE = ".lock"
STORE_FIX = "Delete it and its .parquet/.json partner, then fetch or import the ticker again."


@contextlib.contextmanager
def _locked(folder: Path, shared: bool):
    """flock on <folder>/.lock: shared for reading a data/record pair, exclusive for writing one.

    A read-only store is read without a lock (nothing can write it either).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        if not shared:
            folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if not shared:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read_meta(path: Path) -> dict:
    """A coverage record read back as untrusted input: a bounded JSON object with the types the store relies on."""
    def bad(problem: str) -> DataError:
        return DataError(file=str(path), field="coverage record", problem=problem, fix=STORE_FIX)

    try:
        text = read_user_file(path, 20 * 2**20).decode("utf-8")
        meta = json.loads(text, parse_constant=lambda name: float("nan"))
    except FileProblem as exc:
        raise bad(exc.problem) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise bad("cannot be read as JSON") from None
    if not isinstance(meta, dict):
        raise bad("is not a JSON object")
    coverage = meta.get("coverage")
    if not isinstance(coverage, dict) or not all(isinstance(coverage.get(k), str) for k in ("start", "end")):
        raise bad("'coverage' is not {start, end} dates")
    for key in ("start", "end"):
        try:
            pd.Timestamp(coverage[key])
        except (ValueError, TypeError, OverflowError):
            raise bad(f"coverage.{key} {coverage[key][:30]!r} is not a date") from None
    requested = meta.get("requested")
    if requested is not None and (not isinstance(requested, dict)
                                  or not all(isinstance(requested.get(k), str) for k in ("start", "end"))):
        raise bad("'requested' is not {start, end} dates")
    if "rows" in meta and (not isinstance(meta["rows"], int) or isinstance(meta["rows"], bool) or meta["rows"] < 0):
        raise bad("'rows' is not a count")
    for key in ("proxy", "basis", "symbol", "currency", "first", "last"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise bad(f"'{key}' is not text")
    if not isinstance(meta.get("notes") or [], list):
        raise bad("'notes' is not a list")
    dividends = meta.get("dividends") or []
    if not isinstance(dividends, list) or not all(
            isinstance(d, list) and len(d) == 2 and isinstance(d[0], str) and isinstance(d[1], (int, float))
            and not isinstance(d[1], bool) and math.isfinite(d[1]) for d in dividends):
        raise bad("'dividends' is not a list of [ex-date, amount] pairs")
    return meta


def _checked_frame(frame, path: Path, meta: dict | None) -> pd.DataFrame:
    """A stored frame validated as a CSV file would be, and against its record (rows, first and last day)."""
    def bad(problem: str) -> DataError:
        return DataError(file=str(path), field="price file", problem=problem, fix=STORE_FIX)

    if not isinstance(frame, pd.DataFrame):
        raise bad("is not a table")
    try:
        frame.index = pd.DatetimeIndex(frame.index, name="date")
    except (ValueError, TypeError, OverflowError):
        raise bad("its index is not dates") from None
    if frame.index.has_duplicates or not frame.index.is_monotonic_increasing:
        raise bad("its dates are repeated or out of order")
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise bad(f"no {', '.join(missing)} column")
    for column in (*COLUMNS, *(c for c in OPTIONAL if c in frame.columns)):
        if not pd.api.types.is_numeric_dtype(frame[column].dtype) or pd.api.types.is_bool_dtype(frame[column].dtype):
            raise bad(f"column {column} is not numbers")
        values = frame[column].to_numpy(dtype=float)
        if np.isinf(values).any():
            raise bad(f"column {column} holds an infinite value")
        if column != "volume" and (values[~np.isnan(values)] <= 0).any():
            raise bad(f"column {column} holds a price of zero or below")
        if column == "volume" and (values[~np.isnan(values)] < 0).any():
            raise bad("column volume holds a negative value")
    if meta is not None:
        first = _day(frame.index[0]) if len(frame) else None
        last = _day(frame.index[-1]) if len(frame) else None
        if ("rows" in meta and meta["rows"] != len(frame)) or ("first" in meta and meta["first"] != first) \
                or ("last" in meta and meta["last"] != last):
            raise bad(f"does not match its record ({len(frame)} rows {first} to {last}; the record says "
                      f"{meta.get('rows')} rows {meta.get('first')} to {meta.get('last')}): written by two processes "
                      "at once, or edited")
    return frame


def _atomic(path: Path, write: Callable[[str], None]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
