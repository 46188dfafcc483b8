"""backtest.data.store: resumable fetches, re-based histories, imports, and runs on the store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data import DataSource, load_prices, parse_data_option
from backtest.data.http import FetchError
from backtest.data.sources import normalise
from backtest.data.store import Store, store_root
from backtest.errors import DataError


class FakeSource:
    """A source with a price of 1000 + n on the n-th session of 2024, recording every request."""

    name = "fake"

    def __init__(self, scale: float = 1.0, missing=(), fail=None, proxy=None):
        self.calls: list[tuple[str, str, str]] = []
        self.scale, self.missing, self.fail, self.proxy = scale, set(missing), fail or {}, proxy

    def symbol(self, ticker):
        return f"{ticker}.F"

    def fetch(self, ticker, start, end):
        self.calls.append((ticker, str(pd.Timestamp(start).date()), str(pd.Timestamp(end).date())))
        if ticker in self.fail:
            raise self.fail[ticker]
        grid = tokyo_sessions(max(pd.Timestamp(start), pd.Timestamp("2024-01-04")), end)
        if ticker in self.missing:
            grid = grid[:0]
        n = tokyo_sessions("2024-01-04", "2024-12-30").get_indexer(grid)
        close = (1000.0 + n) * self.scale
        rows = pd.DataFrame({"open": close, "high": close + 5, "low": close - 5, "close": close, "volume": 1e5},
                            index=grid)
        return normalise(rows, source=self.name, ticker=ticker, symbol=self.symbol(ticker), basis="split_adjusted",
                         proxy=self.proxy)


def test_first_fetch_then_nothing_to_do(tmp_path):
    store, source = Store(tmp_path), FakeSource()
    report = store.fetch(source, ["7203"], "2024-01-04", "2024-01-31")
    row = report.rows[0]
    assert (row.status, row.added, row.first, row.last, row.missing) == ("fetched", 19, "2024-01-04", "2024-01-31", 0)
    assert (tmp_path / "fake" / "7203.parquet").is_file()
    meta = json.loads((tmp_path / "fake" / "7203.json").read_text())
    assert meta["coverage"] == {"start": "2024-01-04", "end": "2024-01-31"} and meta["basis"] == "split_adjusted"
    again = store.fetch(source, ["7203"], "2024-01-10", "2024-01-31")
    assert again.rows[0].status == "up to date" and len(source.calls) == 1, "a stored span is not fetched again"


def test_extending_fetches_only_the_new_span_with_one_overlapping_session(tmp_path):
    store, source = Store(tmp_path), FakeSource()
    store.fetch(source, ["7203"], "2024-02-01", "2024-02-29")
    report = store.fetch(source, ["7203"], "2024-01-15", "2024-03-15")
    assert source.calls[1:] == [("7203", "2024-01-15", "2024-02-01"), ("7203", "2024-02-29", "2024-03-15")]
    row = report.rows[0]
    assert row.status == "extended" and row.first == "2024-01-15" and row.last == "2024-03-15" and row.missing == 0
    frame = store.read("fake", "7203")
    assert frame.index.is_monotonic_increasing and not frame.index.duplicated().any()
    assert store.entry("fake", "7203").coverage == (pd.Timestamp("2024-01-15"), pd.Timestamp("2024-03-15"))


def test_holidays_after_the_last_row_do_not_refetch(tmp_path):
    store, source = Store(tmp_path), FakeSource()
    store.fetch(source, ["7203"], "2024-12-02", "2024-12-31")  # Dec 31 is a market holiday
    store.fetch(source, ["7203"], "2024-12-02", "2025-01-03")  # and so are Jan 1-3
    assert len(source.calls) == 1


def test_a_rebased_history_is_fetched_again_whole(tmp_path):
    store = Store(tmp_path)
    store.fetch(FakeSource(), ["7203"], "2024-01-04", "2024-01-31")
    split = FakeSource(scale=0.2)  # a 5:1 split since: the source now reports every old price / 5
    report = store.fetch(split, ["7203"], "2024-01-04", "2024-02-29")
    assert report.rows[0].status == "refetched" and "re-based" in report.rows[0].note
    assert split.calls[-1] == ("7203", "2024-01-04", "2024-02-29")
    close = store.read("fake", "7203")["close"]
    assert (close.pct_change().dropna().abs() < 0.01).all(), "no split-sized jump between old and new rows"


def test_failures_are_summarised_and_a_fatal_one_stops_the_fetch(tmp_path):
    store = Store(tmp_path)
    boom = FetchError(file="fake", field="ticker 6758", problem="not found (HTTP 404)", fix="Check the ticker.")
    denied = FetchError(True, file="fake", field="ticker 8306", problem="credentials refused (HTTP 401)", fix="Fix it.")
    source = FakeSource(missing={"9999"}, fail={"6758": boom, "8306": denied})
    report = store.fetch(source, ["7203", "6758", "9999", "8306", "8316"], "2024-01-04", "2024-01-31")
    assert [(r.ticker, r.status) for r in report.rows] == [
        ("7203", "fetched"), ("6758", "failed"), ("9999", "no data"), ("8306", "failed"), ("8316", "not tried")]
    assert report.stopped is denied
    assert report.rows[2].missing == 19 and "returned no rows for 9999.F" in report.rows[2].note
    assert [r.ticker for r in report.incomplete] == ["6758", "9999", "8306", "8316"]
    resumed = store.fetch(FakeSource(), ["7203", "8306", "8316"], "2024-01-04", "2024-01-31")
    assert [r.status for r in resumed.rows] == ["up to date", "fetched", "fetched"]


def test_missing_sessions_are_counted(tmp_path):
    store = Store(tmp_path)
    row = store.fetch(FakeSource(), ["7203"], "2023-12-01", "2024-01-31").rows[0]
    assert row.first == "2024-01-04" and row.missing == 21  # every session of December 2023
    assert "21 session(s) before the first row 2024-01-04" in row.note


def test_proxy_is_recorded_and_reported(tmp_path):
    store = Store(tmp_path)
    row = store.fetch(FakeSource(proxy="1306.F stands in for TOPIX"), ["TOPIX"], "2024-01-04", "2024-01-31").rows[0]
    assert "PROXY: 1306.F stands in for TOPIX" in row.note
    assert store.entry("fake", "TOPIX").meta["proxy"] == "1306.F stands in for TOPIX"


def test_import_and_run_from_the_store(tmp_path):
    folder = tmp_path / "csv"
    folder.mkdir()
    grid = tokyo_sessions("2024-01-04", "2024-03-29")
    for ticker, base in (("TOPIX", 2500.0), ("1631", 300.0)):
        lines = ["Date,Open,High,Low,Close"] + [f"{d.date()},{base + i},{base + i + 2},{base + i - 2},{base + i}"
                                                for i, d in enumerate(grid)]
        (folder / f"{ticker}.csv").write_text("\n".join(lines) + "\n")
    store = Store(tmp_path / "store")
    rows = [store.import_csv(folder / f"{t}.csv", t) for t in ("TOPIX", "1631")]
    assert [r.status for r in rows] == ["imported", "imported"] and rows[0].added == len(grid)
    assert store.entry("csv", "TOPIX").meta["basis"] == "as_given"
    prices = load_prices(parse_data_option(f"store:{tmp_path / 'store'}"), ["TOPIX", "1631"], "2024-02-01", "2024-03-29")
    assert prices.close.loc["2024-02-01", "1631"] == 300.0 + grid.get_loc(pd.Timestamp("2024-02-01"))
    assert prices.source == f"store:{tmp_path / 'store'}" and not prices.synthetic


def test_real_sources_win_over_a_proxy(tmp_path):
    store = Store(tmp_path)
    store.fetch(FakeSource(proxy="proxy!"), ["TOPIX"], "2024-01-04", "2024-01-31")
    assert store.find("TOPIX").meta["proxy"] == "proxy!"
    prices = load_prices(DataSource("store", str(tmp_path)), ["TOPIX"])
    assert any("TOPIX: proxy!" in w for w in prices.warnings), "a run on a proxy says so"
    rows = FakeSource()
    rows.name = "stooq"
    store.fetch(rows, ["TOPIX"], "2024-01-04", "2024-01-31")
    assert store.find("TOPIX").source == "stooq"


def test_a_ticker_missing_from_the_store(tmp_path):
    with pytest.raises(DataError) as info:
        load_prices(DataSource("store", str(tmp_path)), ["7203"])
    assert str(info.value).startswith(f"store {tmp_path}: ticker 7203: not in the store. Fetch it (themebt data fetch")


def test_store_root_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("THEMEBT_STORE", str(tmp_path / "env"))
    assert store_root() == tmp_path / "env"
    assert store_root(tmp_path / "opt") == tmp_path / "opt"
    monkeypatch.delenv("THEMEBT_STORE")
    assert str(store_root()).endswith(".themebt/store")
    assert parse_data_option("store") == DataSource("store", None)


def test_a_damaged_file_is_a_clear_error(tmp_path):
    store = Store(tmp_path)
    store.fetch(FakeSource(), ["7203"], "2024-01-04", "2024-01-31")
    (tmp_path / "fake" / "7203.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="price file: cannot be read"):
        store.read("fake", "7203")
    assert not list((tmp_path / "fake").glob(".*.tmp")), "no temporary files are left behind"


def test_a_store_that_cannot_be_written_is_a_data_error(tmp_path):
    import numpy as np
    import pandas as pd

    from backtest.data.store import Store
    from backtest.errors import DataError

    (tmp_path / "not_a_folder").write_text("x")
    index = pd.bdate_range("2024-01-04", periods=3, name="date")
    frame = pd.DataFrame({c: np.full(3, 100.0) for c in ("open", "high", "low", "close", "volume")}, index=index)
    with pytest.raises(DataError, match="not_a_folder/csv: store: cannot be written"):
        Store(tmp_path / "not_a_folder").write("csv", "7203", frame, (index[0], index[-1]), {})
