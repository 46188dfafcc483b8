"""Screens: the expression language, ranking, and what a screen may know at a decision point."""

from __future__ import annotations

import builtins

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.data.fundamentals import Fundamentals
from backtest.data.membership import Membership
from backtest.errors import ConfigError, ThemebtError
from backtest.execution.facts import ScreenFacts
from strategies.view import MarketView
from strategies.screens import Condition, Screen, parse_screen, parse_where, select
from tests.conftest import make_prices, make_spec

TOKYO = "Asia/Tokyo"


# ----- the language --------------------------------------------------------------------------------
def test_conditions_parse_into_field_op_number():
    assert parse_where("pb < 1 and roe<=0.08") == (Condition("pb", "<", 1.0), Condition("roe", "<=", 0.08))
    assert parse_where("  market_cap >= 1e10 ") == (Condition("market_cap", ">=", 1e10),)
    assert parse_where("eps != -2.5") == (Condition("eps", "!=", -2.5),)
    screen = parse_screen({"screen": {"universe": "demo_market", "where": ["pb < 1", "roe < 0.08 and per > 0"],
                                      "rank": "-dividend_yield", "top": 5}})
    assert screen.where == (Condition("pb", "<", 1.0), Condition("roe", "<", 0.08), Condition("per", ">", 0.0))
    assert (screen.rank, screen.descending, screen.top) == ("dividend_yield", True, 5)
    assert parse_screen(screen.to_config()) == screen


@pytest.mark.parametrize("text, words", [
    ("pb < ", "expected  field op number"),
    ("pb < 1 or roe < 2", "expected 'and'"),
    ("pb < 1 and", "ends with 'and'"),
    ("1 < pb", "expected  field op number"),
    ("pb = 1", "unexpected character '='"),
    ("__import__('os').system('true')", "unexpected character"),
    ("pb < 1e999", "not a finite number"),
    ("pb < 1; roe < 1", "unexpected character ';'"),
    ("", "empty"),
])
def test_the_grammar_refuses_anything_else(text, words):
    with pytest.raises(ConfigError) as err:
        parse_where(text, "cfg.yaml", "params.basket.screen.where[0]")
    assert words in str(err.value)
    assert str(err.value).startswith("cfg.yaml: params.basket.screen.where[0]:")


def test_an_unknown_field_gets_did_you_mean_naming_the_config_file_and_field():
    raw = {"theme": "governance_reform", "params": {"basket": {"screen": {"universe": "demo_market",
                                                                          "where": ["pb < 1", "reo < 0.08"]}}}}
    with pytest.raises(ConfigError) as err:
        make_spec_from(raw)
    text = str(err.value)
    assert text.startswith("my.yaml: params.basket.screen.where[1]: unknown field 'reo'")
    assert "Did you mean 'roe'?" in text
    raw["params"]["basket"]["screen"].update(where=["pb < 1"], rank="pbb")
    with pytest.raises(ConfigError, match="params.basket.screen.rank: unknown field 'pbb'. Did you mean 'pb'"):
        make_spec_from(raw)
    raw["params"]["basket"]["screen"].update(rank="pb", universe="demo_markt")
    with pytest.raises(ConfigError, match="params.basket.screen.universe: no such universe.*demo_market"):
        make_spec_from(raw)
    raw["params"]["basket"]["screen"].update(universe="demo_market", top=0)
    with pytest.raises(ConfigError, match="params.basket.screen.top"):
        make_spec_from(raw)


def make_spec_from(raw):
    from backtest.config import spec_from_mapping

    return spec_from_mapping(raw, file="my.yaml")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(["pb", "roe", "and", "<", "<=", "==", "1", "-2.5e3", "(", ")", "or", "not",
                                           "__import__", "eval", "'x'", ";", "1e999", " ", "\u3000", "pb<1"]),
                          max_size=12).map(" ".join)))
def test_random_strings_never_reach_eval_and_fail_only_as_config_errors(text):
    def no_eval(*args, **kwargs):
        raise AssertionError("eval called")

    real_eval, real_exec, real_compile = builtins.eval, builtins.exec, builtins.compile
    builtins.eval = builtins.exec = builtins.compile = no_eval
    try:
        try:
            conditions = parse_where(text)
        except ConfigError:
            return
    finally:
        builtins.eval, builtins.exec, builtins.compile = real_eval, real_exec, real_compile
    # what parses is exactly field op number (and field op number)*, nothing more
    assert conditions and all(np.isfinite(c.value) for c in conditions)
    words = text.split()
    assert len([w for w in words if w == "and"]) <= len(conditions) - 1 or "and" not in words


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8))
def test_any_screen_mapping_is_a_screen_or_a_config_error(body):
    try:
        parse_screen({"screen": body})
    except ThemebtError as exc:
        assert isinstance(exc, ConfigError)


# ----- ranking -------------------------------------------------------------------------------------
def test_ranking_top_and_ties_broken_by_code():
    codes = np.array(["9001", "1001", "5001", "3001", "7001"])
    order = np.argsort(np.argsort(codes))
    values = {"pb": np.array([0.5, 0.5, np.nan, 0.2, 0.9]), "roe": np.array([0.01, 0.02, 0.01, 0.2, 0.05])}
    eligible = np.array([True, True, True, True, True])
    screen = Screen("u", (Condition("roe", "<", 0.1),), rank="pb", top=2)
    # roe < 0.1: 9001, 1001, 5001, 7001; pb known: 9001, 1001, 7001; lowest pb 0.5 twice: code 1001 before 9001
    assert list(codes[select(screen, values, eligible, order)]) == ["1001", "9001"]
    wide = Screen("u", (Condition("roe", "<", 0.1),), rank="pb", descending=True)
    assert list(codes[select(wide, values, eligible, order)]) == ["7001", "1001", "9001"]
    plain = Screen("u", (Condition("pb", "!=", 0.5),))
    # an unknown value fails even !=; no rank: code order
    assert list(codes[select(plain, values, eligible, order)]) == ["3001", "7001"]
    eligible[3] = False
    assert list(codes[select(plain, values, eligible, order)]) == ["7001"]


# ----- point in time -------------------------------------------------------------------------------
def _market():
    # session 0 is 2024-01-04; closes are 15:00 Tokyo in 2024 (15:30 from 2024-11-05)
    prices = make_prices({"TOPIX": [100.0] * 10, "7203": [100.0] * 5 + [300.0] * 5, "6758": [100.0] * 10})
    return prices


def _disclosures(rows):
    return pd.DataFrame([{"code": c, "disclosed_at": pd.Timestamp(t, tz=TOKYO), "period_type": p, "bps": b,
                          "profit": pr, "equity": eq} for c, t, p, b, pr, eq in rows])


def _everyone(prices):
    codes = [t for t in prices.tickers if t != "TOPIX"]
    return Membership("all", "test", tuple(codes), np.full(len(codes), np.datetime64("2000-01-01", "D")),
                      np.full(len(codes), np.datetime64("2999-12-31", "D")))


RULE = Screen("all", (Condition("pb", "<", 1.0),), rank="pb")


def test_a_disclosure_after_the_close_is_used_from_the_next_pre_open_never_before():
    prices = _market()
    s = prices.sessions
    # 7203: book 50 (P/B 2, fails), then book 200 disclosed after session 2's close (15:30): P/B 0.5 passes
    frame = _disclosures([("7203", "2023-11-01 15:00", "2Q", 50.0, 1.0, 100.0),
                          ("7203", f"{s[2].date()} 15:30", "3Q", 200.0, 1.0, 100.0)])
    facts = ScreenFacts(prices, frame, {"all": _everyone(prices)})
    # the rule, independently: a 15:30 release on session 2 is known before session 3's open = point 6, not at 5
    chosen = {p: list(facts.screen(RULE, p)["ticker"]) for p in range(0, 12)}
    assert all(chosen[p] == [] for p in range(0, 6)), chosen
    assert all(chosen[p] == ["7203"] for p in range(6, 10)), chosen
    # session 5's close triples the price: P/B 1.5 from point 11 (that close) on, never at the pre-open 10
    assert chosen[10] == ["7203"] and chosen[11] == []
    pb = facts.values(["pb"], 10)["pb"]
    assert pb[prices.tickers.index("7203")] == pytest.approx(100.0 / 200.0)


def test_a_disclosure_during_the_session_waits_for_its_close_and_before_the_open_for_that_open():
    prices = _market()
    s = prices.sessions
    frame = _disclosures([("6758", f"{s[3].date()} 13:00", "FY", 400.0, 1.0, 100.0),
                          ("7203", f"{s[4].date()} 08:00", "FY", 400.0, 1.0, 100.0)])
    facts = ScreenFacts(prices, frame, {"all": _everyone(prices)})
    got = {p: list(facts.screen(RULE, p)["ticker"]) for p in range(0, 12)}
    assert got[6] == [] and got[7] == ["6758"]  # 13:00 on session 3: known at its close (7), not its open (6)
    assert got[7] == ["6758"] and got[8] == ["6758", "7203"]  # 08:00 on session 4: its pre-open (8); ties by code
    late = ScreenFacts(prices, frame, {"all": _everyone(prices)}, news_at_open=False)
    assert list(late.screen(RULE, 8)["ticker"]) == ["6758"]  # news_at_open false: waits for session 4's close
    assert list(late.screen(RULE, 9)["ticker"]) == ["6758", "7203"]


def test_roe_is_annualised_year_to_date_profit_over_equity():
    prices = _market()
    frame = _disclosures([("7203", "2023-11-01 15:00", "1Q", 50.0, 3.0, 100.0),
                          ("6758", "2023-11-01 15:00", "3Q", 50.0, 9.0, 100.0)])
    facts = ScreenFacts(prices, frame, {"all": _everyone(prices)})
    roe = facts.values(["roe"], 3)["roe"]
    assert roe[prices.tickers.index("7203")] == pytest.approx(3.0 * 4 / 100.0)
    assert roe[prices.tickers.index("6758")] == pytest.approx(9.0 * 4 / 3 / 100.0)
    assert np.isnan(roe[prices.tickers.index("TOPIX")])


def test_only_members_on_the_decision_date_with_a_price_are_chosen():
    prices = _market()
    s = prices.sessions
    frame = _disclosures([("7203", "2023-11-01 15:00", "FY", 400.0, 1.0, 100.0),
                          ("6758", "2023-11-01 15:00", "FY", 400.0, 1.0, 100.0)])
    d = lambda i: np.datetime64(s[i].date(), "D")  # noqa: E731
    # 7203 a member from session 3; 6758 a member up to session 5 (its last day)
    membership = Membership("dated", "test", ("7203", "6758"), np.array([d(3), d(0)]), np.array([d(9), d(5)]))
    facts = ScreenFacts(prices, frame, {"dated": membership})
    rule = Screen("dated", (Condition("pb", "<", 1.0),))
    got = {p: list(facts.screen(rule, p)["ticker"]) for p in range(0, 20)}
    for p in range(20):
        day = p // 2  # the date of point 2i and 2i+1 is session i's
        expected = sorted(c for c, first, last in (("7203", 3, 9), ("6758", 0, 5)) if first <= day <= last)
        assert got[p] == expected, (p, got[p])


def test_the_view_screens_at_its_own_point_and_logs_the_choice():
    prices = _market()
    frame = _disclosures([("7203", "2023-11-01 15:00", "FY", 400.0, 1.0, 100.0)])
    facts = ScreenFacts(prices, frame, {"all": _everyone(prices)})
    view = MarketView.at_point(prices, None, "TOPIX", 7, facts)
    assert list(view.screen(RULE)["ticker"]) == ["7203"]
    assert view.fundamentals("pb")["7203"] == pytest.approx(0.25)
    assert view.members("all") == ["6758", "7203"]
    assert list(facts.baskets_frame().columns) == ["date", "point", "ticker", "rank", "pb"]
    assert facts.baskets_frame()["point"].tolist() == [7]
    bare = MarketView.at_point(prices, None, "TOPIX", 7)
    with pytest.raises(ThemebtError, match="no fundamentals"):
        bare.screen(RULE)


def test_a_config_basket_list_still_works_and_a_screen_has_no_fixed_tickers():
    hand = make_spec("governance_reform", {"basket": ["8306", "8316"]})
    assert hand.params["basket"] == ("8306", "8316") and "8306" in hand.tickers
    screened = make_spec("governance_reform")
    assert isinstance(screened.params["basket"], Screen)
    assert screened.tickers == ["TOPIX"]
    assert screened.resolved["params"]["basket"]["screen"]["where"] == ["pb < 1", "roe < 0.08"]


def test_the_statement_in_force_is_the_latest_period_in_its_latest_version():
    prices = _market()
    s = prices.sessions
    t = lambda i, hh="15:30": pd.Timestamp(f"{s[i].date()} {hh}", tz=TOKYO)  # noqa: E731
    frame = pd.DataFrame([
        # the 3Q report: book 400 (P/B 0.25)
        {"code": "7203", "disclosed_at": t(0), "period_end": pd.Timestamp("2023-12-31"), "period_type": "3Q",
         "bps": 400.0, "profit": 3.0, "equity": 100.0},
        # a forecast revision carries no results: it changes nothing a screen reads
        {"code": "7203", "disclosed_at": t(1), "period_end": pd.Timestamp("2024-03-31"), "period_type": "FY",
         "bps": np.nan, "profit": np.nan, "equity": np.nan},
        # the 3Q report restated: book 50 (P/B 2) from its own time on
        {"code": "7203", "disclosed_at": t(3), "period_end": pd.Timestamp("2023-12-31"), "period_type": "3Q",
         "bps": 50.0, "profit": 3.0, "equity": 100.0},
        # a late restatement of the 2Q report (an older period) never hides the 3Q one
        {"code": "7203", "disclosed_at": t(5), "period_end": pd.Timestamp("2023-09-30"), "period_type": "2Q",
         "bps": 999.0, "profit": 1.0, "equity": 100.0},
    ])
    facts = ScreenFacts(prices, frame, {"all": _everyone(prices)})
    j = prices.tickers.index("7203")
    bps = {p: facts.values(["bps"], p)["bps"][j] for p in range(0, 14)}
    # by the rule: 15:30 on session i is known from point 2(i+1)
    assert [bps[p] for p in (2, 3, 4, 5, 6, 7)] == [400.0] * 6
    assert [bps[p] for p in (8, 9, 10, 11, 12, 13)] == [50.0] * 6
    assert np.isnan(bps[0]) and np.isnan(bps[1])
    roe = facts.values(["roe"], 13)["roe"][j]
    assert roe == pytest.approx(3.0 * 4 / 3 / 100.0)


def test_the_screen_reads_what_the_fundamentals_module_says_was_known():
    # one rule of what is known, two places: the run's arrays agree with Fundamentals.asof_points on the demo
    from backtest.data import DataSource, load_prices
    from backtest.data.fundamentals import load_fundamentals

    fundamentals = load_fundamentals("demo")
    codes = ["7203", "8306", "9983", "6758"]
    prices = load_prices(DataSource("demo"), ["TOPIX", *codes], "2019-01-04", "2019-12-27")
    facts = ScreenFacts(prices, fundamentals.frame, {"all": _everyone(prices)})
    points = np.arange(0, 2 * len(prices.sessions), 7)
    for field in ("bps", "profit", "equity", "eps"):
        theirs = fundamentals.asof_points(prices.sessions, prices.tickers, field)[points]
        mine = np.array([facts.values([field], p)[field] for p in points])
        np.testing.assert_array_equal(mine, theirs, err_msg=field)


def test_a_theme_that_reads_its_basket_as_a_list_refuses_a_screen():
    with pytest.raises(ConfigError, match="params.basket: EqualWeight takes a list of tickers here, not a screen"):
        make_spec("equal_weight", {"basket": {"screen": {"universe": "demo_market", "where": ["pb < 1"]}}})


@pytest.mark.parametrize("label", ["1Q", "2Q", "3Q", "FY", " 2Q ", "HY", "Q1", "4Q", ""])
def test_the_screen_annualises_a_period_type_as_the_fundamentals_do(label):
    """One rule for every label: 12 / the months of 1Q, 2Q, 3Q or FY; a label neither knows gives no ROE."""
    prices = _market()
    frame = _disclosures([("7203", "2023-11-01 15:00", label, 50.0, 6.0, 100.0)])
    roe = ScreenFacts(prices, frame, {"all": _everyone(prices)}).values(["roe"], 3)["roe"][prices.tickers.index("7203")]
    raw = frame.assign(disclosed_at="2023-11-01T15:00:00+09:00", period_end="2023-09-30")
    known = pd.Timestamp(prices.sessions[3].date()).tz_localize(TOKYO) + pd.Timedelta(hours=16)
    f = Fundamentals(raw)
    expected = f.annualised_arrays([known], ["7203"], "profit")[0][0] / f.asof_arrays([known], ["7203"], "equity")[0][0]
    if label.strip() in ("1Q", "2Q", "3Q", "FY"):
        assert roe == pytest.approx(expected) and roe == pytest.approx(6.0 * 12 / {"1Q": 3, "2Q": 6, "3Q": 9, "FY": 12}[
            label.strip()] / 100.0)
    else:
        assert np.isnan(roe) and np.isnan(expected)
