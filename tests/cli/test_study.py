"""themebt study through the CLI: table and path on stdout, the study folder, synthetic labels, exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from tests.conftest import REPO

BOJ = ("study", "--family", "boj", "--kind", "hike", "--basket", "1631,1632")
FILES = ["car.csv", "study.html", "study.json", "study.png"]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def study_folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name.startswith("study-"))


@pytest.fixture(scope="module")
def boj_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    result = invoke(*BOJ, "--out", out)
    assert result.exit_code == 0, result.output
    (folder,) = study_folders(out)
    return result, folder


def test_study_prints_the_table_and_writes_the_folder(boj_study):
    result, folder = boj_study
    lines = result.stdout.splitlines()
    assert lines[0] == "SYNTHETIC DEMO DATA: not market history"
    assert lines[1].startswith("5 event(s), basket 1631, 1632 vs TOPIX, market-adjusted model, window [-5, +60]")
    assert lines[2].split()[:5] == ["CAR", "to", "N", "CAAR", "t"]
    assert [line.split()[0] for line in lines[3:7]] == ["+1", "+5", "+20", "+60"]
    assert any(line.startswith("2024-03-19 boj:hike") and "2024-03-21" in line for line in lines)
    # the 2000 hike precedes the demo data, the 2025-12-19 one has no 60 sessions after it: both listed
    assert any(line.startswith("skipped 2000-08-11 boj:hike: day 0 2000-08-14 is outside the price data")
               for line in lines)
    assert any(line.startswith("skipped 2025-12-19 boj:hike: the event window ends after") for line in lines)
    assert lines[-2:] == [f"{folder}/", f"{folder / 'study.html'}"]
    assert folder.name.startswith("study-") and "-boj-hike-" in folder.name
    assert sorted(p.name for p in folder.iterdir()) == FILES


def test_study_json_and_car_csv(boj_study):
    _, folder = boj_study
    doc = json.loads((folder / "study.json").read_text())
    assert doc["data"]["synthetic"] is True and doc["data"]["label"] == "SYNTHETIC DEMO DATA: not market history"
    assert doc["n_events"] == 5 and len(doc["skipped"]) == 2
    assert doc["settings"]["model"] == "market-adjusted" and doc["settings"]["horizons"] == [1, 5, 20, 60]
    assert [t["horizon"] for t in doc["tests"]] == [1, 5, 20, 60]
    car = pd.read_csv(folder / "car.csv", index_col=0)
    assert car.shape == (5, 66) and list(car.columns[:2]) == ["-5", "-4"]
    # the table's CAR at +20 is car.csv's column +20, and the CAAR is their mean
    first = doc["events"][0]
    assert first["car"]["+20"] == pytest.approx(car.loc[first["id"], "+20"], rel=1e-9)
    assert doc["tests"][2]["caar"] == pytest.approx(car["+20"].mean(), rel=1e-9)
    text = (folder / "study.html").read_text()
    assert 'id="themebt-synthetic"' in text and "<script" not in text


def test_same_inputs_give_byte_identical_files(boj_study, tmp_path):
    _, folder = boj_study
    result = invoke(*BOJ, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    (again,) = study_folders(tmp_path)
    for name in FILES:
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name


def test_config_gives_family_kinds_and_basket(tmp_path):
    # the shipped config screens its basket: each event is studied with the names the screen chose then
    # (tests/research/test_screened_runs.py checks one by hand); a fixed list given in the config is used as is
    screened = invoke("study", "--config", REPO / "configs" / "governance_reform.yaml", "--out", tmp_path / "s")
    assert screened.exit_code == 0, screened.output
    doc = json.loads((study_folders(tmp_path / "s")[0] / "study.json").read_text())
    assert doc["n_events"] >= 1 and all(len(e["basket"]) >= 1 for e in doc["events"])
    text = (REPO / "configs" / "governance_reform.yaml").read_text()
    hand = '["8306", "8316", "8411", "8308", "8309", "8766", "8725", "8630", "8750"]'
    config = tmp_path / "governance_hand.yaml"
    config.write_text("\n".join(f"  basket: {hand}" if line.startswith("  basket:") else line
                                for line in text.splitlines()) + "\n")
    result = invoke("study", "--config", config, "--after", "20", "--model", "market", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "basket 8306, 8316, 8411, 8308, 8309, 8766, 8725, 8630, 8750 vs TOPIX, market model" in result.stdout
    (folder,) = study_folders(tmp_path)
    doc = json.loads((folder / "study.json").read_text())
    assert doc["families"] == ["governance"]
    assert doc["kinds"] == ["governance_code", "governance_code_revision", "cost_of_capital_request"]
    assert [t["horizon"] for t in doc["tests"]] == [1, 5, 20]


@pytest.mark.parametrize("args, message", [
    (("study", "--family", "bojj", "--basket", "1631"), "Error: event calendar: family: unknown event family 'bojj'"),
    (("study", "--family", "boj", "--kind", "hike", "--basket", "9999"), "Error: demo data: ticker 9999: not in the demo "
                                                                         "universe"),
    (("study", "--family", "boj", "--basket", " , "), "Error: --basket: basket: no tickers given"),
    (("study", "--family", "boj", "--basket", "1631,TOPIX"), "Error: --basket: TOPIX: the benchmark is in the basket"),
    (("study", "--family", "boj", "--basket", "1631", "--horizon", "90"), "Error: --horizon: 90: outside the event "
                                                                          "window [-5, +60]"),
    (("study", "--config", REPO / "configs" / "equal_weight.yaml"), "Error: " + str(REPO / "configs" / "equal_weight.yaml")
     + ": theme equal_weight: this theme does not trade on one event family"),
    (("study", "--config", REPO / "configs" / "domestic_demand_wages.yaml", "--family", "wages"),
     "several baskets (domestic_basket, exporter_basket)"),
    (("study", "--family", "boj", "--kind", "hike", "--basket", "1631", "--start", "2025-01-06", "--end",
      "2025-06-30"), "Error: --family/--kind: boj: none of the 7 event(s) can be studied"),
    (("study", "--basket", "1631"), "give --family (and --basket), or --config"),
    (("study", "--family", "boj", "--basket", "1631", "--data", "csv:.", "--file", "TOPIX"),
     "Error: --file: 'TOPIX': expected TICKER=PATH"),
    (("study", "--family", "boj", "--basket", "1631", "--file", "TOPIX=x.csv"), "--file needs --data csv:FOLDER"),
])
def test_bad_input_is_one_error_and_exit_2(tmp_path, args, message):
    result = invoke(*args, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or study_folders(tmp_path / "out") == []


def test_study_help_has_an_example():
    result = invoke("study", "--help")
    assert result.exit_code == 0
    assert "themebt study --family boj --kind hike --basket 1631,1632" in result.stdout


def test_the_readme_section_shows_commands_that_run(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Does the event move the basket?", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split()[1:] for line in block.splitlines() if line.startswith("themebt study")]
    assert commands[0] == list(BOJ)  # run by the boj_study fixture
    result = invoke(*[REPO / a if a.startswith("configs/") else a for a in commands[1]], "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "(docs/study.png)" in section and "ynthetic" in section


def test_study_on_real_prices_is_not_labelled_synthetic(real_data, tmp_path):
    result = invoke(*BOJ, "--data", f"csv:{real_data}", "--file", "TOPIX=index/topix_daily.csv", "--after", "20",
                    "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" not in result.stdout
    (folder,) = study_folders(tmp_path)
    doc = json.loads((folder / "study.json").read_text())
    assert doc["data"]["synthetic"] is False and doc["data"]["source"] == f"csv:{real_data}"
    assert doc["n_events"] >= 3  # the 2024-2025 hikes at least; earlier ones where the files have prices
    assert "themebt-synthetic" not in (folder / "study.html").read_text()


def test_related_studies_finds_studies_of_a_themes_family(boj_study, tmp_path):
    from backtest.report.study_page import related_studies

    _, folder = boj_study
    assert related_studies(folder.parent, ["boj_rotation", "buy_and_hold"]) == [
        (f"../{folder.name}/study.html", f"{folder.name} (boj:hike events)")]
    assert related_studies(folder.parent, ["governance_reform"]) == []
    assert related_studies(tmp_path / "missing", ["boj_rotation"]) == []


def test_a_comparison_beside_a_study_links_to_it(tmp_path):
    from backtest.cli.main import main as cli_main

    out = tmp_path / "results"
    study = CliRunner().invoke(cli_main, ["study", "--family", "boj", "--kind", "hike", "--basket", "1631,1632",
                                          "--out", str(out)])
    assert study.exit_code == 0, study.output
    for _ in range(2):
        run = CliRunner().invoke(cli_main, ["run", str(REPO / "configs/boj_rotation.yaml"), "--start", "2022-01-04",
                                            "--end", "2025-06-30", "--no-tearsheet", "--out", str(out)])
        assert run.exit_code == 0, run.output
    compare = CliRunner().invoke(cli_main, ["compare", "--latest", "2", "--results", str(out), "--no-quantstats"])
    assert compare.exit_code == 0, compare.output
    page = next(out.glob("compare-*/compare.html")).read_text(encoding="utf-8")
    study_folder = next(out.glob("study-*"))
    assert f'href="../{study_folder.name}/study.html" class="link-study"' in page
