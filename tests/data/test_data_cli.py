"""`themebt data fetch|import|check|list` and `themebt run --data store`, offline (recorded responses)."""

from __future__ import annotations

import json
import re

import pytest
import responses

from backtest.market.calendar import sessions as tokyo_sessions
from backtest.data.jquants import BASE_V2
from backtest.data.stooq import CSV_URL
from tests.data.conftest import fixture_text, invoke


pytestmark = pytest.mark.usefixtures("no_credentials")


def stooq_answers(mock):
    mock.add(responses.GET, CSV_URL, body=fixture_text("stooq_tpx.csv"),
             match=[responses.matchers.query_param_matcher({"s": "^tpx"}, strict_match=False)])
    mock.add(responses.GET, CSV_URL, body=fixture_text("stooq_7203.csv"),
             match=[responses.matchers.query_param_matcher({"s": "7203.jp"}, strict_match=False)])
    mock.add(responses.GET, CSV_URL, body=fixture_text("stooq_no_data.txt"),
             match=[responses.matchers.query_param_matcher({"s": "9999.jp"}, strict_match=False)])


def test_fetch_then_resume(tmp_path):
    store = tmp_path / "store"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stooq_answers(mock)
        first = invoke("data", "fetch", "--source", "stooq", "--tickers", "TOPIX,7203", "--start", "2024-01-04",
                       "--end", "2024-01-09", "--store", store)
        assert first.exit_code == 0, first.output + first.stderr
        assert re.search(r"^TOPIX\s+\^tpx\s+fetched\s+2\s+2024-01-04\s+2024-01-05\s+1\s", first.stdout, re.M)
        assert re.search(r"^7203\s+7203\.jp\s+fetched\s+3\s+2024-01-04\s+2024-01-09\s+0\s", first.stdout, re.M)
        assert "2 of 2 ticker(s) stored" in first.stdout
        calls = len(mock.calls)
        again = invoke("data", "fetch", "--source", "stooq", "--tickers", "7203", "--start", "2024-01-04",
                       "--end", "2024-01-09", "--store", store)
        assert again.exit_code == 0 and "up to date" in again.stdout
        assert len(mock.calls) == calls, "nothing stored is fetched again"
    assert (store / "stooq" / "7203.parquet").is_file()


def test_fetch_reports_a_ticker_without_data(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stooq_answers(mock)
        result = invoke("data", "fetch", "--source", "stooq", "--tickers", "7203,9999", "--start", "2024-01-04",
                        "--end", "2024-01-09", "--store", tmp_path)
    assert result.exit_code == 2
    assert re.search(r"^9999\s+9999\.jp\s+no data\s+0\s+3\s", result.stdout, re.M)
    assert "9999: stooq returned no rows for 9999.jp" in result.stderr
    assert result.stderr.strip().endswith(
        "fetch: 1 of 2 ticker(s) have no data: 9999. See the notes above; run the same command again to retry only "
        "what is missing.")


def test_fetch_a_universe_from_yahoo_warns_about_the_topix_proxy(tmp_path):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, re.compile(r"https://query1\.finance\.yahoo\.com/v8/finance/chart/.*"),
                 body=fixture_text("yahoo_chart_1306.json"))
        result = invoke("data", "fetch", "--source", "yahoo", "--universe", "exporters", "--start", "2024-01-04",
                        "--end", "2024-01-05", "--store", tmp_path)
        symbols = [c.request.url.split("/chart/")[1].split("?")[0] for c in mock.calls]
    assert result.exit_code == 0, result.stderr
    assert symbols[:3] == ["1306.T", "7203.T", "6758.T"], "the benchmark first, then the universe"
    assert "warning: TOPIX is stored from 1306.T, a proxy: TOPIX from Yahoo is ETF 1306.T" in result.stderr
    listing = invoke("data", "list", "--store", tmp_path)
    assert re.search(r"^yahoo\s+TOPIX\s+1306\.T\s+2024-01-04\s+2024-01-05\s+2\s+split_adjusted\s+yes\s+PROXY", listing.stdout, re.M)


def test_fetch_without_jquants_credentials(tmp_path):
    result = invoke("data", "fetch", "--source", "jquants", "--tickers", "7203", "--start", "2024-01-04",
                    "--store", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: jquants: credentials: no J-Quants credentials found. Set JQUANTS_API_KEY")


def test_jquants_401_stops_the_fetch_and_never_prints_the_key(tmp_path):
    key = "SECRET-KEY-abcdef"
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{BASE_V2}/indices/bars/daily/topix", status=401,
                 body=fixture_text("jquants_error_401.json"))
        result = invoke("data", "fetch", "--source", "jquants", "--tickers", "TOPIX,7203", "--start", "2024-01-04",
                        "--end", "2024-01-10", "--store", tmp_path, env={"JQUANTS_API_KEY": key})
    assert result.exit_code == 2
    assert key not in result.stdout + result.stderr
    assert re.search(r"^TOPIX\s+TOPIX\s+failed", result.stdout, re.M)
    assert re.search(r"^7203\s+72030\s+not tried", result.stdout, re.M)
    assert "credentials refused (HTTP 401: The incoming token is invalid or expired.)" in result.stderr
    assert not list(tmp_path.rglob("*.json")), "credentials are never written to the store"


def write_csv(folder, ticker, base, start="2024-01-04", end="2024-06-28", split_at=None):
    grid = tokyo_sessions(start, end)
    lines = ["Date,Open,High,Low,Close,Volume"]
    for i, day in enumerate(grid):
        price = base * (1 + 0.001 * i) / (5 if split_at is not None and i >= split_at else 1)
        lines.append(f"{day.date()},{price:.2f},{price * 1.01:.2f},{price * 0.99:.2f},{price:.2f},100000")
    path = folder / f"{ticker}.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_check_list_and_run_on_the_store(tmp_path):
    csv_dir, store = tmp_path / "csv", tmp_path / "store"
    csv_dir.mkdir()
    for ticker, base in (("TOPIX", 2500), ("1631", 300), ("1632", 900)):
        write_csv(csv_dir, ticker, base)
    imported = invoke("data", "import", csv_dir, "--store", store)
    assert imported.exit_code == 0, imported.stderr
    assert len(re.findall(r"\bimported\b", imported.stdout)) == 3
    checked = invoke("data", "check", "--store", store)
    assert checked.exit_code == 0 and checked.stdout.strip() == "no problems found"
    listing = invoke("data", "list", "--store", store)
    assert re.search(r"^csv\s+1631\s+\S+1631\.csv\s+2024-01-04\s+2024-06-28\s+\d+\s+as_given\s+no", listing.stdout, re.M)

    config = tmp_path / "rotation.yaml"
    config.write_text(f"theme: boj_rotation\nbenchmark: TOPIX\ndata: {{source: store, path: {store}}}\n")
    run = invoke("run", config, "--out", tmp_path / "results", "--no-tearsheet")
    assert run.exit_code == 0, run.stdout + run.stderr
    manifest = json.loads(next((tmp_path / "results").glob("*/manifest.json")).read_text())
    assert manifest["data"]["source"] == f"store:{store}" and manifest["data"]["synthetic"] is False
    override = invoke("run", config, "--data", f"store:{store}", "--out", tmp_path / "results", "--no-tearsheet")
    assert override.exit_code == 0, override.stderr


def test_check_finds_an_unadjusted_split(tmp_path):
    write_csv(tmp_path, "7203", 3000, split_at=60)
    store = tmp_path / "store"
    assert invoke("data", "import", tmp_path / "7203.csv", "--store", store).exit_code == 0
    result = invoke("data", "check", "--store", store)
    assert result.exit_code == 0  # suspicious, not malformed: a warning, as in a run
    assert re.search(r"^7203\s+csv\s+warning\s+split\s+2024-04-0\d\s+1\s+the close moves x0\.2", result.stdout, re.M)
    assert "warning: 7203: the close moves x0.2" in result.stderr and "a 1:5 split left unadjusted?" in result.stderr
    strict = invoke("data", "check", "--store", store, "--strict")
    assert strict.exit_code == 2
    assert "--strict: 1 warning(s) would be recorded: 7203: the close moves x0.2" in strict.stderr
    on_file = invoke("data", "check", tmp_path / "7203.csv", "--strict")
    assert on_file.exit_code == 2 and "split" in on_file.stdout


def test_import_a_bad_file(tmp_path):
    bad = tmp_path / "7203.csv"
    bad.write_text("Date,Open,High,Low,Close\n2024-01-04,1,2,1,abc\n")
    result = invoke("data", "import", bad, "--store", tmp_path / "store")
    assert result.exit_code == 2
    assert "'abc' is not a number" in result.stderr
    assert "1 of 1 file(s) could not be imported" in result.stderr


def test_empty_store(tmp_path):
    assert invoke("data", "list", "--store", tmp_path).stdout.endswith("(empty: fill it with `themebt data fetch` or "
                                                                       "`themebt data import`)\n")
    result = invoke("data", "check", "--store", tmp_path)
    assert result.exit_code == 2 and "is empty" in result.stderr


@pytest.mark.parametrize("sub", ["fetch", "import", "check", "list", "dividends"])
def test_every_data_command_has_help_with_an_example(sub):
    result = invoke("data", sub, "--help")
    assert result.exit_code == 0 and "Example:" in result.stdout and "themebt data" in result.stdout


def test_fetch_what_a_config_trades(tmp_path):
    config = tmp_path / "rotation.yaml"
    config.write_text("theme: boj_rotation\nbenchmark: TOPIX\nparams: {basket: [\"1631\", \"1632\"]}\n")
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, CSV_URL, body=fixture_text("stooq_7203.csv"))
        result = invoke("data", "fetch", "--source", "stooq", "--config", tmp_path, "--start", "2024-01-04",
                        "--end", "2024-01-09", "--store", tmp_path / "store")
        asked = [c.request.params["s"] for c in mock.calls]
    assert result.exit_code == 0, result.stderr
    assert asked == ["^tpx", "1631.jp", "1632.jp"]


def test_dividends_from_yahoo_are_exported_for_a_total_return_run(tmp_path):
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://query1.finance.yahoo.com/v8/finance/chart/7203.T",
                 body=fixture_text("yahoo_chart_7203.json"))
        mock.add(responses.GET, "https://query1.finance.yahoo.com/v8/finance/chart/1306.T",
                 body=fixture_text("yahoo_chart_7203.json"))
        assert invoke("data", "fetch", "--source", "yahoo", "--tickers", "7203,TOPIX", "--start", "2024-01-04",
                      "--end", "2024-01-10", "--store", tmp_path).exit_code == 0
    result = invoke("data", "dividends", "--store", tmp_path)
    assert result.stdout == "ticker,ex_date,amount_jpy\n7203,2024-01-05,30\n", "the TOPIX proxy's dividends are left out"
