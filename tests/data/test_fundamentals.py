"""Point-in-time fundamentals: nothing is known before its disclosure, restatements, decision points, demo data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.fundamentals import (
    FIELDS,
    Fundamentals,
    load_fundamentals,
    point_times,
    read_fundamentals_csv,
)
from backtest.errors import DataError

TOKYO = "Asia/Tokyo"


def tokyo(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize(TOKYO)


def table(*rows) -> pd.DataFrame:
    """Rows of (code, disclosed_at, period_end, period_type, profit, equity[, forecast_profit])."""
    records = []
    for r in rows:
        rec = {"code": r[0], "disclosed_at": r[1], "period_end": r[2], "period_type": r[3], "profit": r[4],
               "equity": r[5]}
        if len(r) > 6:
            rec["forecast_profit"] = r[6]
        records.append(rec)
    return pd.DataFrame.from_records(records)


# --------------------------------------------------------------------------- known_at


def test_known_at_picks_latest_period_and_hides_later_disclosures():
    f = Fundamentals(table(
        ("7203", "2024-05-08 13:00", "2024-03-31", "FY", 100.0, 1000.0, 120.0),
        ("7203", "2024-08-01 15:30", "2024-06-30", "1Q", 30.0, 1010.0, 125.0),
        ("6758", "2024-05-10 15:30", "2024-03-31", "FY", 50.0, 500.0),
    ), source="test")
    assert f.codes == ("6758", "7203")
    assert list(f.known_at(tokyo("2024-05-08 12:59")).index) == []
    at = f.known_at(tokyo("2024-05-08 13:00"))
    assert list(at.index) == ["7203"] and at.loc["7203", "profit"] == 100.0
    at = f.known_at(tokyo("2024-08-01 15:30"))
    assert at.loc["7203", "profit"] == 30.0 and at.loc["7203", "forecast_profit"] == 125.0
    assert at.loc["6758", "profit"] == 50.0 and np.isnan(at.loc["6758", "forecast_profit"])
    assert at.loc["7203", "disclosed_at"] == tokyo("2024-08-01 15:30")
    assert set(f.fields) == {"profit", "equity", "forecast_profit"}


def test_restatement_supersedes_only_from_its_own_time():
    f = Fundamentals(table(
        ("8306", "2024-05-15 15:00", "2024-03-31", "FY", 100.0, 1000.0),
        ("8306", "2024-07-10 16:00", "2024-03-31", "FY", 90.0, 990.0),  # the same period, corrected
    ), source="test")
    assert f.known_at(tokyo("2024-07-10 15:59")).loc["8306", "profit"] == 100.0
    assert f.known_at(tokyo("2024-07-10 16:00")).loc["8306", "profit"] == 90.0
    assert f.known_at(tokyo("2024-07-10 16:00")).loc["8306", "disclosed_at"] == tokyo("2024-07-10 16:00")
    times = [tokyo("2024-06-01 09:00"), tokyo("2024-07-10 15:59"), tokyo("2024-07-10 16:00"), tokyo("2025-01-01")]
    assert f.asof_arrays(times, ["8306"], "profit")[:, 0].tolist() == [100.0, 100.0, 90.0, 90.0]


def test_late_restatement_of_an_older_period_does_not_hide_the_newer_period():
    f = Fundamentals(table(
        ("8306", "2024-05-15 15:00", "2024-03-31", "FY", 100.0, 1000.0),
        ("8306", "2024-08-01 15:00", "2024-06-30", "1Q", 25.0, 1020.0),
        ("8306", "2024-09-02 15:00", "2024-03-31", "FY", 95.0, 995.0),
    ), source="test")
    assert f.known_at(tokyo("2024-10-01")).loc["8306", "profit"] == 25.0


def test_forecast_revisions_update_only_the_forecasts_they_give():
    frame = table(("9984", "2024-05-13 15:00", "2024-03-31", "FY", 100.0, 1000.0, 120.0))
    frame["forecast_dividend_per_share"] = 40.0
    revisions = pd.DataFrame([
        {"code": "9984", "disclosed_at": "2024-06-20 15:00", "period_end": "2025-03-31", "period_type": "FY",
         "document_type": "EarnForecastRevision", "forecast_profit": 80.0},
        {"code": "9984", "disclosed_at": "2024-08-01 15:00", "period_end": "2025-03-31", "period_type": "FY",
         "document_type": "DividendForecastRevision", "forecast_dividend_per_share": 30.0},
    ])
    f = Fundamentals(pd.concat([frame, revisions]), source="test")
    at = f.known_at(tokyo("2024-07-01"))
    assert at.loc["9984", "profit"] == 100.0 and at.loc["9984", "forecast_profit"] == 80.0
    assert at.loc["9984", "forecast_dividend_per_share"] == 40.0
    assert at.loc["9984", "forecast_disclosed_at"] == tokyo("2024-06-20 15:00")
    at = f.known_at(tokyo("2024-08-02"))
    assert at.loc["9984", "forecast_profit"] == 80.0 and at.loc["9984", "forecast_dividend_per_share"] == 30.0
    assert at.loc["9984", "profit"] == 100.0


_TIMES = st.integers(min_value=0, max_value=60 * 24 * 40).map(
    lambda m: tokyo("2024-04-01") + pd.Timedelta(minutes=m))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["1301", "7203", "130A"]), _TIMES, st.sampled_from(["2023-12-31", "2024-03-31"]),
                  st.floats(-1e9, 1e9, allow_nan=False), st.booleans(), st.booleans()),
        min_size=1, max_size=25),
    queries=st.lists(_TIMES, min_size=1, max_size=8),
)
def test_known_at_never_uses_a_disclosure_before_its_time(rows, queries):
    records, seen = [], set()
    for code, when, period, value, is_statement, has_forecast in rows:
        if (code, when, period) in seen:
            continue
        seen.add((code, when, period))
        records.append({"code": code, "disclosed_at": when, "period_end": period, "period_type": "FY",
                        "profit": value if is_statement else np.nan,
                        "forecast_profit": value if has_forecast else np.nan})
    f = Fundamentals(pd.DataFrame.from_records(records), source="test")
    arrays = f.asof_arrays(queries, ["1301", "7203", "130A", "9999"], "profit")
    forecasts = f.asof_arrays(queries, ["1301", "7203", "130A"], "forecast_profit")
    for qi, ts in enumerate(queries):
        at = f.known_at(ts)
        assert (at["disclosed_at"].dropna() <= ts).all() and (at["forecast_disclosed_at"].dropna() <= ts).all()
        for j, code in enumerate(["1301", "7203", "130A"]):
            # brute force: the statements known by ts, the latest period, then its latest disclosure
            mine = [r for r in records if r["code"] == code and r["disclosed_at"] <= ts]
            statements = [r for r in mine if not np.isnan(r["profit"])]
            expected = np.nan
            if statements:
                best = max(statements, key=lambda r: (pd.Timestamp(r["period_end"]), r["disclosed_at"]))
                expected = best["profit"]
            # a forecast: the latest disclosure giving it; of two at the same time, the one for the later period
            giving = [r for r in mine if not np.isnan(r["forecast_profit"])]
            latest_fc = max(giving, key=lambda r: (r["disclosed_at"], pd.Timestamp(r["period_end"]))) if giving \
                else None
            expected_fc = latest_fc["forecast_profit"] if latest_fc else np.nan
            got = at.loc[code, "profit"] if code in at.index else np.nan
            assert got == expected or (np.isnan(got) and np.isnan(expected))
            assert arrays[qi, j] == expected or (np.isnan(arrays[qi, j]) and np.isnan(expected))
            assert forecasts[qi, j] == expected_fc or (np.isnan(forecasts[qi, j]) and np.isnan(expected_fc))
            assert (code in at.index) == bool(mine)
        assert np.isnan(arrays[qi, 3])


# --------------------------------------------------------------------------- decision points


def test_after_close_disclosure_is_first_usable_at_next_pre_open():
    grid = tokyo_sessions("2024-05-01", "2024-12-27")
    days = list(grid)
    f = Fundamentals(pd.DataFrame({
        "code": ["1111", "2222", "3333", "4444", "5555", "6666"],
        "disclosed_at": [
            "2024-05-10 15:30",  # Friday, after the 15:00 close -> Monday 2024-05-13 pre-open
            "2024-05-10 11:30",  # lunch break -> that session's close
            "2024-05-10 15:00",  # at the close -> that session's close
            "2024-05-11",  # Saturday, no time -> Monday's pre-open
            "2024-11-05 15:30",  # the close moved to 15:30 that day -> its close
            "2024-11-05 15:31",  # after the new close -> next session's pre-open
        ],
        "profit": [1.0] * 6,
    }), source="test")
    points = f.first_usable_points(grid)
    by_code = dict(zip(f.frame["code"], points.tolist()))
    # sessions counted by hand: 2024-05-10 is the 8th session from 2024-05-01 (May 1, 2, 7, 8, 9, 10)
    assert days[5] == pd.Timestamp("2024-05-10") and days[6] == pd.Timestamp("2024-05-13")
    assert by_code["1111"] == 2 * 6
    assert by_code["2222"] == 2 * 5 + 1
    assert by_code["3333"] == 2 * 5 + 1
    assert by_code["4444"] == 2 * 6
    i = days.index(pd.Timestamp("2024-11-05"))
    assert days[i + 1] == pd.Timestamp("2024-11-06")
    assert by_code["5555"] == 2 * i + 1
    assert by_code["6666"] == 2 * (i + 1)
    # sessions whose pre-open point a run must hold: Monday 2024-05-13 (two disclosures) and 2024-11-06
    assert f.pre_open_sessions(grid).tolist() == [6, i + 1]
    # asof at the decision points agrees: blank before the first usable point, the figure from it on
    values = f.asof_points(grid, list(f.frame["code"]), "profit")
    for j, p in enumerate(points):
        assert np.isnan(values[:p, j]).all() and (values[p:, j] == 1.0).all()


def test_point_times_are_opens_and_closes():
    grid = tokyo_sessions("2024-11-01", "2024-11-06")
    times = pd.DatetimeIndex(point_times(grid).view("datetime64[ns]")).tz_localize("UTC").tz_convert(TOKYO)
    assert [t.strftime("%m-%d %H:%M") for t in times] == [
        "11-01 09:00", "11-01 15:00", "11-05 09:00", "11-05 15:30", "11-06 09:00", "11-06 15:30"]


def test_date_only_is_after_the_close_and_naive_times_are_tokyo():
    f = Fundamentals(pd.DataFrame({"code": ["7203", "6758"], "disclosed_at": ["2024-05-10", dt.date(2024, 5, 9)]}),
                     source="test")
    assert f.frame["disclosed_at"].tolist() == [tokyo("2024-05-09 23:59:59"), tokyo("2024-05-10 23:59:59")]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("frame, field, words", [
    (pd.DataFrame({"code": ["7203"]}), "disclosed_at", "required column missing"),
    (pd.DataFrame({"code": ["7203"], "disclosed_at": ["2024-13-45"]}), "row 1, disclosed_at", "not a date-time"),
    (pd.DataFrame({"code": ["7203", "7203"], "disclosed_at": ["2024-05-10 15:00", "2024-05-10 15:00"]}),
     "row 1 and row 2, code, disclosed_at, period", "listed twice"),
    (pd.DataFrame({"code": ["7203"], "disclosed_at": ["2024-05-10"], "shares_outstanding": [-5.0]}),
     "row 1, shares_outstanding", "negative"),
    (pd.DataFrame({"code": ["7203"], "disclosed_at": ["2024-05-10"], "profit": ["lots"]}), "row 1, profit",
     "not a number"),
    (pd.DataFrame({"code": ["72"], "disclosed_at": ["2024-05-10"]}), "row 1, code", "not a TSE code"),
    (pd.DataFrame({"code": ["7203"], "disclosed_at": ["2024-05-10"], "proft": [1]}), "proft", "unknown column"),
])
def test_bad_frames_get_one_clear_error(frame, field, words):
    with pytest.raises(DataError) as err:
        Fundamentals(frame, source="my.csv")
    message = str(err.value)
    assert message.startswith(f"my.csv: {field}: ") and words in message


def test_five_digit_codes_and_blank_cells():
    f = Fundamentals(pd.DataFrame({"code": ["72030"], "disclosed_at": ["2024-05-10 15:00"], "profit": [""],
                                   "ordinary_profit": ["-"], "equity": ["1,000"]}), source="test")
    row = f.frame.iloc[0]
    assert row["code"] == "7203" and np.isnan(row["profit"]) and np.isnan(row["ordinary_profit"])
    assert row["equity"] == 1000.0


def test_csv_file_errors_name_the_line(tmp_path):
    path = tmp_path / "fund.csv"
    path.write_text("code,disclosed_at,profit\n7203,2024-05-10 15:00,1\n\n6758,someday,2\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"fund.csv: row 4, disclosed_at: 'someday' is not a date-time"):
        read_fundamentals_csv(path)
    path.write_text("code,profit\n7203,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="disclosed_at: required column missing"):
        read_fundamentals_csv(path)
    path.write_text("code,disclosed_at,profit\n6758,2024-05-11,2\n7203,2024-05-10 15:00,1\n", encoding="utf-8")
    f = read_fundamentals_csv(path)  # unsorted rows are fine
    assert f.codes == ("6758", "7203") and not f.synthetic and f.source == str(path)


# --------------------------------------------------------------------------- the demo's fundamentals


def test_demo_fundamentals_are_labelled_deterministic_and_screenable():
    from backtest.data import demo

    f = load_fundamentals("demo")
    assert f is not None and f.synthetic and "synthetic" in f.source
    first = demo.demo_fundamentals().to_csv(index=False)
    demo.demo_fundamentals.cache_clear()
    assert demo.demo_fundamentals().to_csv(index=False) == first
    assert load_fundamentals("csv:/nowhere") is None
    from tests.conftest import make_spec

    spec = make_spec("boj_rotation")
    assert spec.data.kind == "demo" and load_fundamentals(spec, codes=["8306"]).codes == ("8306",)
    assert tuple(f.frame.columns) == FIELDS

    frame = f.frame
    # timing: results 30-50 days after the period end, most in the afternoon after 15:00
    statements = frame[frame["document_type"].str.contains("FinancialStatements")]
    first_reports = statements.drop_duplicates(["code", "period_end", "period_type"], keep="first")
    assert len(first_reports) < len(statements)  # some periods are restated later
    lag = (first_reports["disclosed_at"].dt.tz_localize(None).dt.normalize() - first_reports["period_end"]).dt.days
    assert lag.between(30, 56).all()
    assert (first_reports["disclosed_at"].dt.hour >= 15).mean() > 0.6
    march = first_reports[(statements["period_type"] == "FY") & (statements["period_end"].dt.month == 3)]
    assert (march["disclosed_at"].dt.month == 5).mean() > 0.9
    assert frame["ordinary_profit"].isna().any() and frame["ordinary_profit"].notna().any()

    # the screen "P/B < 1 and ROE < 8%" by hand, on a few dates, from the raw rows and the demo closes
    close = demo.demo_history()["close"]
    months = {"1Q": 3, "2Q": 6, "3Q": 9, "FY": 12}
    for day in ("2011-06-30", "2015-02-27", "2019-09-30", "2024-01-31"):
        ts = tokyo(day + " 15:00")
        picked = 0
        for code, rows in statements.groupby("code"):
            known = rows[rows["disclosed_at"] <= ts]
            latest = known.sort_values(["period_end", "disclosed_at"]).iloc[-1]
            pb = close.loc[day, code] / latest["bps"]
            roe = latest["profit"] * 12 / months[latest["period_type"]] / latest["equity"]
            picked += bool(pb < 1 and roe < 0.08)
        assert 3 <= picked <= 10, (day, picked)
        # the arrays a screen uses agree with the hand count
        codes = list(f.codes)
        bps = f.asof_arrays([ts], codes, "bps")[0]
        roe = f.annualised_arrays([ts], codes, "profit")[0] / f.asof_arrays([ts], codes, "equity")[0]
        assert int(((close.loc[day, codes].to_numpy() / bps < 1) & (roe < 0.08)).sum()) == picked


def test_asof_arrays_are_fast_enough_for_a_big_screen():
    # 1,600 codes with 80 quarterly disclosures each; evaluated at 5,000 decision times in one call
    rng = np.random.default_rng(1)
    codes = [f"{1000 + i}" for i in range(1600)]
    quarters = pd.date_range("2005-03-31", periods=80, freq="QE")
    frame = pd.DataFrame({
        "code": np.repeat(codes, 80),
        "period_end": np.tile(quarters, 1600),
        "disclosed_at": np.tile(quarters + pd.Timedelta(days=40, hours=15), 1600),
        "bps": rng.uniform(100, 2000, 1600 * 80),
    })
    f = Fundamentals(frame, source="big")
    times = pd.date_range("2005-06-01", periods=5000, freq="D", tz=TOKYO)
    out = f.asof_arrays(times, codes, "bps")
    assert out.shape == (5000, 1600)
    j, t = 77, 3000
    known = frame[(frame["code"] == codes[j]) & (frame["disclosed_at"].dt.tz_localize(TOKYO) <= times[t])]
    assert out[t, j] == known.sort_values("period_end")["bps"].iloc[-1]


_CELL = st.one_of(st.text(max_size=12), st.sampled_from(["7203", "72030", "130A", "2024-05-10", "2024-05-10 15:30",
                                                         "2024-05-10T15:30:00+09:00", "1,000", "-", "", "1e3"]))


@settings(max_examples=60, deadline=None)
@given(header=st.lists(st.sampled_from(list(FIELDS) + ["oops"]), min_size=1, max_size=5, unique=True),
       cells=st.lists(st.lists(_CELL, min_size=5, max_size=5), max_size=4))
def test_any_csv_text_gives_fundamentals_or_one_data_error(tmp_path_factory, header, cells):
    path = tmp_path_factory.mktemp("csv") / "f.csv"
    import csv as csv_module

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(header)
        for row in cells:
            writer.writerow(row[: len(header)])
    try:
        f = read_fundamentals_csv(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert set(f.codes) <= set(f.frame["code"]) and (f.frame.columns == list(FIELDS)).all()


def test_annualised_results_scale_by_the_months_covered():
    f = Fundamentals(pd.DataFrame({
        "code": ["7203", "7203", "7203"],
        "disclosed_at": ["2024-05-08 13:55", "2024-08-01 13:25", "2024-11-06 13:25"],
        "period_end": ["2024-03-31", "2024-06-30", "2024-09-30"],
        "period_type": ["FY", "1Q", "2Q"],
        "profit": [1200.0, 330.0, 640.0],
        "equity": [10000.0, 10100.0, 10200.0],
    }), source="test")
    times = [tokyo("2024-06-01"), tokyo("2024-09-01"), tokyo("2024-12-01"), tokyo("2024-01-01")]
    got = f.annualised_arrays(times, ["7203"], "profit")[:, 0]
    assert got[:3].tolist() == [1200.0, 1320.0, 1280.0] and np.isnan(got[3])
    assert f.asof_arrays(times, ["7203"], "period_type")[:, 0].tolist() == ["FY", "1Q", "2Q", ""]
    with pytest.raises(DataError, match="not a result that accrues"):
        f.annualised_arrays(times, ["7203"], "equity")
