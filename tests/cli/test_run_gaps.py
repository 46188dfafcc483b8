"""A run that reads an event family with missing releases in its period stops, lists them, or runs with --allow-gaps."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

import backtest as tb
from backtest.cli.main import main
from backtest.config import load_config
from backtest.errors import EventError
from backtest.events.calendar import PACKAGE_FOLDER
from backtest.market.calendar import sessions
from tests.conftest import REPO

PERIOD = ["--start", "2024-01-04", "--end", "2024-12-30"]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) if out.exists() else []


def wage_config(tmp_path: Path, events_folder: Path | None = None, **events) -> Path:
    """The shipped wage config, triggering on real wages (the monthly survey) only."""
    raw = yaml.safe_load((REPO / "configs/domestic_demand_wages.yaml").read_text(encoding="utf-8"))
    raw["params"]["triggers"] = ["real_wages"]
    raw["data"] = {"source": "demo"}
    if events_folder is not None:
        events["folder"] = str(events_folder)
    if events:
        raw["events"] = events
    path = tmp_path / "wages.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def shipped_release_months() -> set[str]:
    frame = pd.read_csv(PACKAGE_FOLDER / "wages.csv")
    return {d[:7] for d in frame["event_date"]}


def missing_in_2024() -> list[str]:
    """Months of 2024 (the period runs to its last session, 2024-12-30) without a release in wages.csv."""
    every = [f"2024-{m:02d}" for m in range(1, 13)]
    return [m for m in every if m not in shipped_release_months()]


def test_a_gappy_monthly_family_stops_the_run_with_the_missing_months(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(wage_config(tmp_path)), *PERIOD, "--out", str(out),
                                       "--no-tearsheet"])
    assert result.exit_code == 2
    missing = missing_in_2024()
    assert len(missing) == 11  # only 2024-09 has a release
    message = result.output
    assert message.startswith("Error: ") and "wages.csv: family wages (monthly, monthly_survey)" in message
    assert f"{len(missing)} of the 12 monthly releases expected from 2024-01 to 2024-12 are missing" in message
    assert ", ".join(missing[:6]) + ", and 5 more" in message
    assert "--allow-gaps" in message and "narrow the period" in message and "Complete the file" in message
    assert "Traceback" not in message
    assert run_folders(out) == []


def test_allow_gaps_runs_and_says_so(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", wage_config(tmp_path), *PERIOD, "--out", out, "--no-tearsheet", "--allow-gaps")
    assert result.exit_code == 0, result.output
    line = ("events: run with gaps allowed (--allow-gaps): wages (monthly) misses 11 of 12 releases from 2024-01 to "
            "2024-12 (manifest.json event_gaps lists them)")
    assert line in result.stdout.splitlines()
    (folder,) = run_folders(out)
    manifest = json.loads((folder / "manifest.json").read_text())
    (gap,) = manifest["event_gaps"]
    assert gap["family"] == "wages" and gap["missing"] == 11 and gap["expected"] == 12
    assert gap["missing_list"] == missing_in_2024()
    assert json.loads((folder / "metrics.json").read_text())["event_gaps"] == manifest["event_gaps"]
    # the run folder's config re-runs the same way
    assert yaml.safe_load((folder / "config.yaml").read_text())["events"]["allow_gaps"] is True


def test_the_config_key_and_the_api_allow_gaps_too(tmp_path):
    spec = load_config(wage_config(tmp_path, allow_gaps=True))
    assert spec.allow_gaps
    run = tb.run(wage_config(tmp_path), start="2024-01-04", end="2024-12-30", allow_gaps=True)
    assert [g["family"] for g in run.metrics["event_gaps"]] == ["wages"]
    with pytest.raises(EventError, match="family wages"):
        tb.run(wage_config(tmp_path), start="2024-01-04", end="2024-12-30")


def test_a_completed_family_runs(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    rows = ["family,kind,event_date,known_at,value,value2,reference"]
    for month in missing_in_2024():
        day = sessions(f"{month}-05", f"{month}-28")[0].date()  # the first session from the 5th on
        rows.append(f"wages,monthly_survey,{day},{day}T08:30:00+09:00,-0.5,1.0,")
    (folder / "more_wages.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    result = invoke("run", wage_config(tmp_path, folder), *PERIOD, "--out", out, "--no-tearsheet")
    assert result.exit_code == 0, result.output
    assert "events:" not in result.stdout
    (run,) = run_folders(out)
    assert json.loads((run / "manifest.json").read_text())["event_gaps"] == []


def test_a_family_without_a_frequency_is_never_refused(tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    (folder / "survey.csv").write_text("family,kind,event_date,known_at\n"
                                       "survey,release,2024-02-09,2024-02-09T08:30:00+09:00\n"
                                       "survey,release,2024-11-08,2024-11-08T08:30:00+09:00\n", encoding="utf-8")
    raw = yaml.safe_load((REPO / "configs/exporter_domestic_rotation.yaml").read_text(encoding="utf-8"))
    raw["params"]["domestic_on"] = ["survey", "us_policy:tariff"]
    raw["events"] = {"folder": str(folder)}
    config = tmp_path / "survey.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = invoke("run", config, *PERIOD, "--out", tmp_path / "out", "--no-tearsheet")
    assert result.exit_code == 0, result.output
    # declared monthly in the folder's frequency.yaml, the same file is refused: from its first release
    # (February) to December, 11 months, of which 9 have no release
    (folder / "frequency.yaml").write_text("survey: monthly\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(config), *PERIOD, "--out", str(tmp_path / "out"), "--no-tearsheet"])
    assert result.exit_code == 2
    assert "family survey (monthly): the run reads this family, but 9 of the 11" in result.output
    assert "2024-03, 2024-04, 2024-05, 2024-06, 2024-07, 2024-08, and 3 more" in result.output


def test_a_sweep_follows_the_rule(tmp_path):
    from backtest.research.sweep import evaluate, spec_for

    spec = load_config(wage_config(tmp_path))
    import dataclasses

    spec = dataclasses.replace(spec, start=pd.Timestamp("2024-01-04").date(), end=pd.Timestamp("2024-12-30").date())
    with pytest.raises(EventError, match="family wages"):
        evaluate(spec_for(spec, {"holding_sessions": 20}))
    evaluate(spec_for(spec, {"triggers": ["shunto"]}))  # a point that reads only shunto runs
    allowed = dataclasses.replace(spec, allow_gaps=True)
    evaluate(spec_for(allowed, {"holding_sessions": 20}))


def test_a_walk_forward_follows_the_rule(tmp_path):
    import dataclasses

    from backtest.research.walkforward import walk_forward

    spec = dataclasses.replace(load_config(wage_config(tmp_path)), start=pd.Timestamp("2024-01-04").date(),
                               end=pd.Timestamp("2024-12-30").date())
    grid = {"holding_sessions": [10, 20]}
    with pytest.raises(EventError, match="family wages"):
        walk_forward(spec, grid, train="6m", test="3m")
    assert walk_forward(dataclasses.replace(spec, allow_gaps=True), grid, train="6m", test="3m").folds.shape[0] == 2


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_read_only_complete_families_over_their_period(path):
    from backtest.research.run import load_run_inputs
    from strategies.signals import decide_all

    spec = load_config(path)
    prices, events, _, _ = load_run_inputs(spec)
    assert events.on_gaps == "refuse"
    from backtest.execution.facts import build_facts

    facts = build_facts(spec, prices)  # a screening theme's arrays (None for the others)
    decide_all(spec.theme_cls, spec.params, prices, events, spec.benchmark, facts)  # an EventGapError would fail here


@pytest.mark.parametrize("command", ["sweep", "walkforward"])
def test_sweep_and_walkforward_take_allow_gaps_on_the_command_line(tmp_path, command):
    config = wage_config(tmp_path)
    args = [command, config, "--grid", "holding_sessions=10,20", *PERIOD, "--out", tmp_path / "out"]
    if command == "walkforward":
        args += ["--train", "6m", "--test", "3m", "--no-tearsheet"]
    refused = CliRunner().invoke(main, [str(a) for a in args])
    assert refused.exit_code == 2 and "family wages" in refused.stderr and "--allow-gaps" in refused.stderr
    allowed = invoke(*args, "--allow-gaps")
    assert allowed.exit_code == 0, allowed.output


@pytest.mark.parametrize("command", ["sweep", "walkforward"])
def test_sweep_and_walkforward_folders_record_the_gaps_they_ran_with(tmp_path, command):
    """As a run's manifest does: the family, and every month it misses over the command's whole period."""
    out = tmp_path / "out"
    args = [command, wage_config(tmp_path), "--grid", "holding_sessions=10,20", *PERIOD, "--out", out,
            "--allow-gaps"]
    if command == "walkforward":
        args += ["--train", "6m", "--test", "3m", "--no-tearsheet"]
    else:
        args += ["--top", "0", "--jobs", "1"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in run_folders(out) if p.name.startswith(command)]
    if command == "sweep":
        gaps = json.loads((folder / "event_gaps.json").read_text())
        listed = f"{folder.name}/event_gaps.json"
    else:
        gaps = json.loads((folder / "walkforward.json").read_text())["event_gaps"]
        listed = f"{folder.name}/walkforward.json event_gaps"
    (gap,) = gaps
    assert gap["family"] == "wages" and gap["expected"] == 12 and gap["missing_list"] == missing_in_2024()
    line = (f"events: run with gaps allowed (--allow-gaps): wages (monthly) misses 11 of 12 releases from 2024-01 to "
            f"2024-12 ({listed} lists them)")
    assert line in result.stdout.splitlines()


def test_a_sweep_without_gaps_writes_no_gap_file(tmp_path):
    out = tmp_path / "out"
    result = invoke("sweep", REPO / "configs/robotics_reindustrialization.yaml", "--grid", "holding_sessions=10,20",
                    *PERIOD, "--out", out, "--top", "0", "--jobs", "1")
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in run_folders(out) if p.name.startswith("sweep")]
    assert not (folder / "event_gaps.json").exists() and "gaps allowed" not in result.stdout
