"""As-traded prices from J-Quants' adjustment factors, and trading units by date.

The hand-made 1:5 split: a share traded at ¥10,000 the day before its ex-date and ¥2,000 on it;
the adjusted history shows ¥2,000 throughout and J-Quants sets AdjustmentFactor 0.2 on the ex-date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
import responses
from responses import matchers

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data import DataSource, load_prices
from backtest.market import instruments as registry
from backtest.data.adjustment import as_traded_ratio, fold_dropped_factors
from backtest.data.csv import read_price_csv
from backtest.market.instruments import lot_size, parse_unit_history, unit_known
from backtest.data.jquants import BASE_V1, BASE_V2, JQuants
from backtest.data.store import Store
from backtest.errors import ConfigError, DataError
from tests.data.conftest import fixture_text

GRID = tokyo_sessions("2024-03-01", "2024-03-29")
EX = 10  # the ex-date is the 11th session


def write_split_folder(folder, factor_column="adj_factor"):
    """TOPIX and 7203 with a 1:5 split of 7203 on GRID[EX]; returns the as-traded closes and volumes written by hand."""
    folder.mkdir(parents=True, exist_ok=True)
    traded_close = [10000.0 + 10 * i for i in range(EX)] + [2000.0 + 2 * i for i in range(EX, len(GRID))]
    traded_volume = [1000.0] * EX + [5000.0] * (len(GRID) - EX)
    rows = ["Date,Open,High,Low,Close,Volume," + factor_column]
    for i, day in enumerate(GRID):
        scale = 0.2 if i < EX else 1.0  # split-adjusted: earlier days on today's share basis
        close, volume = traded_close[i] * scale, traded_volume[i] / scale
        factor = "0.2" if i == EX else ("" if i % 3 else "1.0")
        rows.append(f"{day.date()},{close},{close * 1.01},{close * 0.99},{close},{volume},{factor}")
    (folder / "7203.csv").write_text("\n".join(rows) + "\n")
    (folder / "TOPIX.csv").write_text("Date,Open,High,Low,Close\n" + "".join(
        f"{d.date()},{2500 + i},{2510 + i},{2490 + i},{2500 + i}\n" for i, d in enumerate(GRID)))
    return pd.Series(traded_close, index=GRID), pd.Series(traded_volume, index=GRID)


def test_the_ratio_runs_over_later_sessions_only():
    factor = pd.Series([1.0, 1.0, 0.2, 1.0, 10.0, 1.0], index=GRID[:6])
    # by hand: before the 1:5 split and the 10:1 reverse split both lie ahead, then only the reverse split
    assert as_traded_ratio(factor).tolist() == pytest.approx([0.5, 0.5, 0.1, 0.1, 1.0, 1.0])


def test_a_hand_made_split_gives_back_the_traded_prices(tmp_path):
    traded_close, traded_volume = write_split_folder(tmp_path / "p")
    prices = load_prices(DataSource("csv", str(tmp_path / "p")), ["TOPIX", "7203"])
    assert prices.adjustment_known
    ratio = prices.as_traded_ratio["7203"]
    assert ratio.iloc[:EX].tolist() == [5.0] * EX and ratio.iloc[EX:].tolist() == [1.0] * (len(GRID) - EX)
    assert prices.as_traded_ratio["TOPIX"].eq(1.0).all()  # no factor: as traded = adjusted
    assert prices.as_traded("close")["7203"].to_numpy() == pytest.approx(traded_close.to_numpy())
    assert prices.as_traded("volume")["7203"].to_numpy() == pytest.approx(traded_volume.to_numpy())
    assert prices.close["7203"].iloc[EX - 1] == pytest.approx(traded_close.iloc[EX - 1] / 5)  # prices stay adjusted


def test_a_period_before_the_split_still_sees_it(tmp_path):
    write_split_folder(tmp_path / "p")
    prices = load_prices(DataSource("csv", str(tmp_path / "p")), ["TOPIX", "7203"], GRID[0], GRID[EX - 2])
    assert prices.as_traded_ratio["7203"].eq(5.0).all()
    assert prices.slice(GRID[2], GRID[4]).as_traded_ratio["7203"].eq(5.0).all()


def test_the_column_may_carry_j_quants_name(tmp_path):
    write_split_folder(tmp_path / "p", factor_column="AdjustmentFactor")
    frame = read_price_csv(tmp_path / "p" / "7203.csv", "7203")
    assert frame["adj_factor"].iloc[EX] == 0.2 and frame["adj_factor"].iloc[1] == 1.0  # an empty cell is 1.0


@pytest.mark.parametrize("cell", ["0", "-0.5", "split"])
def test_a_bad_factor_is_one_clear_error(tmp_path, cell):
    path = tmp_path / "7203.csv"
    path.write_text("Date,Open,High,Low,Close,adj_factor\n2024-03-01,1,1,1,1,1\n2024-03-04,1,1,1,1," + cell + "\n")
    with pytest.raises(DataError, match=r"row 3, column 'adj_factor': adjustment factor .* is not a number above 0"):
        read_price_csv(path, "7203")


def test_without_factors_the_summary_can_say_so():
    prices = load_prices(DataSource("demo"), ["TOPIX", "7203"], "2024-01-04", "2024-01-31")
    assert prices.as_traded_ratio is None and not prices.adjustment_known
    assert prices.adjustment_note == "no adjustment factors in the data: rules ran on adjusted prices"
    assert prices.as_traded("close") is prices.close


def test_a_factor_on_a_day_without_a_trade_is_kept():
    factor = pd.Series([1.0, 1.0, 0.5, 1.0], index=GRID[:4])
    traded = pd.Series([True, True, False, True], index=GRID[:4])
    folded = fold_dropped_factors(factor, traded)
    assert folded.tolist() == [1.0, 1.0, 1.0, 0.5]
    kept = folded[traded.to_numpy()]
    assert as_traded_ratio(kept).tolist() == as_traded_ratio(factor)[traded.to_numpy()].tolist()


@responses.activate
def test_j_quants_factor_matches_its_own_raw_close_through_the_store(tmp_path, no_sleep):
    """J-Quants' own documented pair: Close (as traded) and AdjustmentClose, AdjustmentFactor 0.2 on the ex-date."""
    responses.add(responses.POST, f"{BASE_V1}/token/auth_refresh", body=fixture_text("jquants_v1_auth_refresh.json"))
    quotes = fixture_text("jquants_v1_daily_quotes_72030.json")
    responses.add(responses.GET, f"{BASE_V1}/prices/daily_quotes", body=quotes)
    source = JQuants(refresh_token="REFRESH", http=no_sleep("jquants"))
    store = Store(tmp_path / "store")
    store.fetch(source, ["7203"], "2021-09-28", "2021-09-29")
    assert store.entry("jquants", "7203").meta["has_adj_factor"] is True
    stored = store.read("jquants", "7203")
    prices = load_prices(DataSource("store", str(tmp_path / "store")), ["7203"])
    as_traded = prices.as_traded("close")["7203"]
    # 10000 the day before the ex-date, 1980 on it
    assert as_traded.tolist() == pytest.approx(stored["raw_close"].tolist())


@responses.activate
def test_v2_factor_on_a_no_trade_ex_date_is_folded(no_sleep):
    rows = [
        {"Date": "2024-01-04", "AdjO": 100.0, "AdjH": 100.0, "AdjL": 100.0, "AdjC": 100.0, "AdjVo": 10.0, "C": 500.0,
         "AdjFactor": 1.0},
        {"Date": "2024-01-05", "AdjO": None, "AdjH": None, "AdjL": None, "AdjC": None, "AdjVo": None, "C": None,
         "AdjFactor": 0.2},
        {"Date": "2024-01-09", "AdjO": 101.0, "AdjH": 101.0, "AdjL": 101.0, "AdjC": 101.0, "AdjVo": 10.0, "C": 101.0,
         "AdjFactor": 1.0},
    ]
    responses.add(responses.GET, f"{BASE_V2}/equities/bars/daily", json={"data": rows},
                  match=[matchers.query_param_matcher({"code": "72030", "from": "2024-01-04", "to": "2024-01-09"})])
    frame = JQuants(api_key="K", http=no_sleep("jquants")).fetch("7203", "2024-01-04", "2024-01-09")
    assert frame["adj_factor"].tolist() == [1.0, 0.2]
    traded = frame["close"] * as_traded_ratio(frame["adj_factor"])
    assert traded.tolist() == pytest.approx(frame["raw_close"].tolist())


# ----- trading units by date ------------------------------------------------------------------------------
def test_lot_size_without_a_session_is_unchanged():
    assert lot_size("7203") == 100 and lot_size("1306") == 10 and lot_size("TOPIX") == 1
    assert lot_size("7203", {"7203": 1000}) == 1000 and lot_size("9999") == 100


def test_units_from_2018_10_01_and_before():
    assert lot_size("7203", session="2018-10-01") == 100 and unit_known("7203", session="2018-10-01")
    # before the unification a stock's unit is a per-instrument fact: unknown unless someone gives it
    assert not unit_known("7203", session="2018-09-28")
    assert lot_size("7203", session="2018-09-28") == 100  # today's unit, to be warned about
    history = {"7203": "1000@2016-10-01;100"}
    assert lot_size("7203", session="2016-09-30", units_before=history) == 1000
    assert lot_size("7203", session=pd.Timestamp("2016-10-03"), units_before=history) == 100
    assert lot_size("7203", session="2019-01-04", units_before={"7203": 1000}) == 100
    assert unit_known("7203", session="2010-01-04", units_before={"7203": 1000})
    # ETFs and the index keep their unit on every date; a config override holds on every date
    assert lot_size("1306", session="2010-01-04") == 10 and unit_known("1306", session="2010-01-04")
    assert lot_size("7203", {"7203": 50}, session="2010-01-04") == 50 and unit_known("7203", {"7203": 50}, "2010-01-04")


def test_the_registry_column_gives_units_before_2018(tmp_path, monkeypatch):
    text = registry.INSTRUMENTS_FILE.read_text(encoding="utf-8")
    head, *rows = text.splitlines()
    assert head.endswith(",unit_before_20181001")
    rows = [r + "1000@2015-06-29;100" if r.startswith("7203,") else r for r in rows]
    custom = tmp_path / "instruments.csv"
    custom.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
    monkeypatch.setattr(registry, "INSTRUMENTS_FILE", custom)
    registry.instruments.cache_clear()
    try:
        assert lot_size("7203", session="2015-06-26") == 1000 and unit_known("7203", session="2015-06-26")
        assert lot_size("7203", session="2015-06-29") == 100
        assert not unit_known("6758", session="2015-06-26")
    finally:
        registry.instruments.cache_clear()


@pytest.mark.parametrize("text", ["", "0", "1000@2019-01-04;100", "1000;100", "100@2016-01-04", "x",
                                  "1000@2016-01-04;500@2015-01-05;100"])
def test_a_bad_unit_history_is_refused(text):
    with pytest.raises(ConfigError):
        parse_unit_history(text)


def test_unit_history_parses():
    assert parse_unit_history("1000@2016-10-01;100") == [(1000, dt.date(2016, 10, 1)), (100, None)]
    assert parse_unit_history(1000) == [(1000, None)]


def test_the_data_hash_sees_the_factors_and_is_unchanged_without_them(tmp_path):
    write_split_folder(tmp_path / "p")
    prices = load_prices(DataSource("csv", str(tmp_path / "p")), ["TOPIX", "7203"])
    plain = dataclasses.replace(prices, as_traded_ratio=None)
    assert plain.data_hash() != prices.data_hash()
    # without factors the hash is the one a frame without the new field always had
    import hashlib

    h = hashlib.sha256()
    h.update(",".join(plain.tickers).encode())
    h.update(np.asarray(plain.sessions.asi8).tobytes())
    for name in ("open", "high", "low", "close", "volume"):
        h.update(np.ascontiguousarray(getattr(plain, name).to_numpy(dtype="float64")).tobytes())
    assert plain.data_hash() == h.hexdigest()


def test_an_imported_csv_keeps_its_factors_in_the_store(tmp_path):
    traded_close, _ = write_split_folder(tmp_path / "p")
    store = Store(tmp_path / "store")
    for ticker in ("TOPIX", "7203"):
        store.import_csv(tmp_path / "p" / f"{ticker}.csv", ticker)
    assert store.entry("csv", "7203").meta["has_adj_factor"] is True
    assert store.entry("csv", "TOPIX").meta["has_adj_factor"] is False
    prices = load_prices(DataSource("store", str(tmp_path / "store")), ["TOPIX", "7203"])
    assert prices.as_traded("close")["7203"].to_numpy() == pytest.approx(traded_close.to_numpy())


class FactorSource:
    """Prices of 1000 on every session of 2024 with a split factor column; `factor_on` sets one day's factor."""

    name = "jquants"

    def __init__(self):
        self.factor_on: dict[str, float] = {}

    def symbol(self, ticker):
        return ticker + "0"

    def fetch(self, ticker, start, end):
        from backtest.data.sources import normalise

        grid = tokyo_sessions(max(pd.Timestamp(start), pd.Timestamp("2024-01-04")), end)
        factor = [self.factor_on.get(str(d.date()), 1.0) for d in grid]
        rows = pd.DataFrame({"open": 1000.0, "high": 1000.0, "low": 1000.0, "close": 1000.0, "volume": 1e5,
                             "adj_factor": factor}, index=grid)
        return normalise(rows, source=self.name, ticker=ticker, symbol=self.symbol(ticker), basis="split_adjusted")


def test_a_changed_factor_on_the_overlap_refetches_the_history(tmp_path):
    store, source = Store(tmp_path), FactorSource()
    store.fetch(source, ["7203"], "2024-01-04", "2024-01-31")
    assert store.read("jquants", "7203")["adj_factor"].eq(1.0).all()
    source.factor_on["2024-01-31"] = 0.5  # the source now reports a split on the stored last session
    row = store.fetch(source, ["7203"], "2024-01-04", "2024-02-29").rows[0]
    assert row.status == "refetched"
    assert store.read("jquants", "7203").loc["2024-01-31", "adj_factor"] == 0.5
