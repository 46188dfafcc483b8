"""Return basis: one declared basis for strategy and benchmark, mixing refused, dividends on ex-dates."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.config import spec_from_mapping
from backtest.market.dividends import plan_basis, read_dividends
from backtest.execution.backtrader.engine import run_backtest
from backtest.errors import ConfigError, DataError
from strategies.base import ThemeStrategy
from strategies.registry import register_theme
from tests.conftest import REPO, make_prices

SHORT = ["--start", "2023-01-04", "--end", "2023-12-28"]


@register_theme("basis_hold")
class Hold(ThemeStrategy):
    """Test theme: all in `universe[0]` from the first session."""

    params = dict(universe=("AAA",))

    def target_weights(self, view):
        return {self.p.universe[0]: 1.0} if view.is_first else None


def _spec(tmp_path=None, basis="price", dividends=None, by_ticker=None, benchmark="TOPIX", universe=("AAA",)):
    data = {"basis_by_ticker": by_ticker or {}}
    if dividends is not None:
        path = tmp_path / "dividends.csv"
        path.write_text(dividends)
        data["dividends"] = str(path)
    raw = {"theme": "basis_hold", "benchmark": benchmark, "basis": basis, "params": {"universe": list(universe)},
           "data": data, "execution": {"costs": {"preset": "zero", "half_spread_bps": 0}, "lot_sizes": {"AAA": 1},
                                       "cash_jpy": 1_000_000}}
    return spec_from_mapping(raw, file="b.yaml")


def _flat_prices():
    closes = {"TOPIX": [2000.0, 2000.0, 2000.0, 1980.0, 1980.0], "AAA": [1000.0, 1000.0, 1000.0, 990.0, 990.0]}
    return make_prices(closes, spread=0.0)


def test_total_return_topix_against_a_price_return_strategy_is_refused():
    spec = _spec(by_ticker={"TOPIX": "total_return"})
    with pytest.raises(ConfigError) as err:
        plan_basis(spec, _flat_prices())
    text = str(err.value)
    assert text.startswith("b.yaml: basis: the run is on price basis but TOPIX is total return")
    assert "strategy and benchmark must share one basis" in text


def test_a_total_basis_without_dividends_for_the_price_series_is_refused():
    spec = _spec(basis="total", by_ticker={"TOPIX": "total_return"})
    with pytest.raises(ConfigError, match="basis total needs dividends for AAA"):
        plan_basis(spec, _flat_prices())


def test_total_basis_credits_dividends_on_the_ex_date(tmp_path):
    prices = _flat_prices()
    ex = prices.sessions[3].date()
    spec = _spec(tmp_path, basis="total", dividends=f"ticker,ex_date,amount_jpy\nAAA,{ex},10\nTOPIX,{ex},20\n")
    result = run_backtest(spec, prices)
    shares = result.positions["AAA"].iloc[2]
    assert shares == 999, "1,000,000 / (1,000 + one tick) whole shares"
    # the price falls by the dividend on the ex-date and the cash comes in: no loss on the ex-date
    assert result.values.iloc[3] == pytest.approx(result.values.iloc[2])
    assert result.returns["TOPIX"].iloc[3] == pytest.approx(0.0)
    assert result.basis["run"] == "total" and result.basis["dividends_credited_jpy"] == pytest.approx(10 * 999)
    price_run = run_backtest(_spec(), prices)
    assert price_run.returns[price_run.strategy_name].iloc[3] == pytest.approx(-10 * 999 / result.values.iloc[2])
    assert price_run.returns["TOPIX"].iloc[3] == pytest.approx(-0.01)


BAD_DIVIDENDS = {
    "unknown_ticker": ("ticker,ex_date,amount_jpy\nAAB,2024-01-09,10\n", "row 2, column ticker: unknown ticker 'AAB'"),
    "duplicate_ex_date": ("ticker,ex_date,amount_jpy\nAAA,2024-01-09,10\nAAA,2024-01-09,5\n",
                          "row 3: AAA has ex-date 2024-01-09 twice (first on row 2)"),
    "negative": ("ticker,ex_date,amount_jpy\nAAA,2024-01-09,-1\n", "row 2, column amount_jpy: expected a dividend"),
    "bad_date": ("ticker,ex_date,amount_jpy\nAAA,09/01/2024,1\n", "row 2, column ex_date: '09/01/2024' is not a date"),
    "header": ("code,date,amount\nAAA,2024-01-09,1\n", "(header): missing column(s) ticker, ex_date, amount_jpy"),
}


@pytest.mark.parametrize("case", sorted(BAD_DIVIDENDS))
def test_a_bad_dividends_file_is_named_with_its_fix(tmp_path, case):
    text, message = BAD_DIVIDENDS[case]
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        read_dividends(path, known={"AAA", "TOPIX"})
    assert message in str(err.value) and str(err.value).startswith(str(path))


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("extra,message", [
    ("basis: total\n", "basis: basis total needs dividends for"),
    ("data: {basis_by_ticker: {TOPIX: total_return}}\n", "basis: the run is on price basis but TOPIX is total return"),
    ("basis: total\ndata: {dividends: div.csv}\n", "div.csv: row 3: 1631 has ex-date 2023-03-30 twice"),
])
def test_a_basis_the_data_cannot_give_exits_2_and_leaves_no_results(tmp_path, extra, message):
    (tmp_path / "div.csv").write_text("ticker,ex_date,amount_jpy\n1631,2023-03-30,10\n1631,2023-03-30,10\n")
    config = tmp_path / "c.yaml"
    config.write_text("theme: boj_rotation\n" + extra)
    out = tmp_path / "out"
    result = _invoke("run", config, "--out", out, "--no-tearsheet", *SHORT)
    assert result.exit_code == 2
    assert message in result.output
    assert not out.exists() or not [p for p in out.iterdir()]


def test_the_basis_is_in_the_manifest_the_metrics_and_the_tear_sheet_title(tmp_path):
    result = _invoke("run", REPO / "configs/boj_rotation.yaml", "--out", tmp_path, *SHORT)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".") and p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["basis"]["run"] == "price" and manifest["data"]["basis"] == "price"
    assert set(manifest["basis"]["sources"].values()) == {"price_only"}
    assert json.loads((folder / "metrics.json").read_text())["basis"] == "price"
    assert "price return" in (folder / "tearsheet.html").read_text()
    assert "price basis" in result.output
