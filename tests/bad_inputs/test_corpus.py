"""Every broken input in cases.yaml through the CLI: exit code 2, one message naming the file and the fix,
no traceback, and no results folder left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.data.demo import demo_history
from tests.conftest import REPO

HERE = Path(__file__).parent
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
BY_ID = {case["id"]: case for case in CASES}
PERIOD = ["--start", "2024-01-04", "--end", "2024-06-28"]
TICKERS = ("TOPIX", "1631", "1632")


def test_the_corpus_is_large_and_every_case_has_its_file():
    assert len(CASES) >= 140
    assert len(BY_ID) == len(CASES), "case ids must be unique"
    kinds = {case["kind"] for case in CASES}
    assert kinds == {"config", "prices", "events", "results", "cli"}
    for case in CASES:
        assert {"id", "kind", "exit", "message"} <= set(case), case
        if case.get("file") and case["id"] != "missing_config_file":
            assert (HERE / case["file"]).is_file(), case["file"]
    listed = {case.get("file") for case in CASES}
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("*/*") if p.is_file()}
    assert on_disk <= listed, f"files without a case: {sorted(on_disk - listed)}"


def write_good_prices(folder: Path) -> None:
    """Demo prices of TOPIX, 1631 and 1632 as three ordinary CSV files, 2024-01-04 to 2024-06-28."""
    folder.mkdir(parents=True, exist_ok=True)
    history = demo_history()
    for ticker in TICKERS:
        frame = history["close"][[ticker]].loc["2024-01-04":"2024-06-28"].copy()
        for field in ("open", "high", "low", "close", "volume"):
            frame[field] = history[field][ticker].loc[frame.index]
        frame = frame[["open", "high", "low", "close", "volume"]]
        frame.index = frame.index.strftime("%Y-%m-%d")
        frame.index.name = "date"
        frame.to_csv(folder / f"{ticker}.csv", float_format="%.1f", lineterminator="\n")


def write_huge(path: Path, megabytes: int) -> None:
    """A price file of whole rows, a little over the given size, so that only its size can be refused at once."""
    row = b"2024-01-04,4949.6,4950.2,4922.3,4928.8,6253\n"
    block = row * -(-(2**20) // len(row))
    with path.open("wb") as f:
        f.write(b"Date,Open,High,Low,Close,Volume\n")
        for _ in range(megabytes):
            f.write(block)


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """One complete run folder, for the cases that break a copy of it."""
    out = tmp_path_factory.mktemp("good_run")
    config = out / "run.yaml"
    config.write_text("theme: boj_rotation\n")
    result = CliRunner().invoke(main, ["run", str(config), *PERIOD, "--no-tearsheet", "--out", str(out / "results")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (folder,) = [p for p in (out / "results").iterdir() if p.is_dir()]  # and ledger.jsonl
    return folder


def prepare(case: dict, tmp: Path, good_run: Path | None) -> tuple[list[str], dict[str, str], list[Path]]:
    """The command line of a case, the values of its {placeholders}, and the folders that must stay empty."""
    source = HERE / case["file"] if case.get("file") else None
    out = tmp / "out"
    values = {"tmp": str(tmp), "repo": str(REPO), "file": str(source), "dir": ""}
    kind = case["kind"]
    if kind == "config":
        args = ["run", str(source), *case.get("args", PERIOD), "--no-tearsheet", "--out", str(out)]
    elif kind == "prices":
        folder = tmp / "prices"
        write_good_prices(folder)
        target = folder / f"{case.get('ticker', '1631')}.csv"
        target.unlink()
        if source is not None:
            shutil.copyfile(source, target)
        elif case.get("generate"):
            write_huge(target, int(case["generate"].split()[0]))
        config = tmp / "prices.yaml"
        config.write_text("theme: boj_rotation\n")
        args = ["run", str(config), "--data", f"csv:{folder}", *PERIOD, *case.get("args", []), "--no-tearsheet",
                "--out", str(out)]
        values["dir"] = str(folder)
    elif kind == "events":
        folder = tmp / "events"
        folder.mkdir()
        shutil.copyfile(source, folder / source.name)
        config = tmp / "events.yaml"
        config.write_text(f"theme: boj_rotation\nevents: {{folder: '{folder}'}}\n")
        args = ["run", str(config), *PERIOD, "--no-tearsheet", "--out", str(out)]
        values["dir"] = str(folder)
    elif kind == "results":
        results = tmp / "results"
        folder = results / good_run.name
        shutil.copytree(good_run, folder)
        broken = case["break"]
        if "remove" in broken:
            (folder / broken["remove"]).unlink()
        elif "truncate" in broken:
            path = folder / broken["truncate"]
            path.write_bytes(path.read_bytes()[: broken["keep_bytes"]])
        elif "append" in broken:
            with (folder / broken["append"]).open("a") as f:
                f.write(broken["text"])
        elif "json" in broken:
            path = folder / broken["json"]
            doc = json.loads(path.read_text())
            doc.update(broken["set"])
            path.write_text(json.dumps(doc))
        elif "raw" in broken:
            text = {"DEEP": '{"a": ' * 200 + "1" + "}" * 200,
                    "LAUGHS": "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
                        f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n" for p, c in zip("abcdefg", "bcdefgh")),
                    }.get(broken["text"], broken["text"])
            (folder / broken["raw"]).write_text(text)
        elif "fifo" in broken:
            (folder / broken["fifo"]).unlink()
            os.mkfifo(folder / broken["fifo"])
        elif "link" in broken:
            (folder / broken["link"]).unlink()
            (folder / broken["link"]).symlink_to(broken["to"])
        elif "folder" in broken:
            (folder / broken["folder"]).unlink()
            (folder / broken["folder"]).mkdir()
        args = ["compare", str(folder), "--out", str(out), "--no-quantstats"]
        values["dir"] = str(folder)
    else:
        if case.get("setup") == "leftover_temp":
            (tmp / ".tmp-20240101T000000-boj_rotation-dead").mkdir()
        elif case.get("setup") == "file_in_the_way":
            (tmp / "a_file").write_text("not a folder\n")
        args = [a.format(**values) for a in case["args"]]
    return args, values, [out, tmp / "store"]


@pytest.mark.parametrize("case_id", sorted(BY_ID))
def test_bad_input_is_one_clear_error(case_id, tmp_path, request):
    case = BY_ID[case_id]
    good_run = request.getfixturevalue("good_run") if case["kind"] == "results" else None
    args, values, must_stay_empty = prepare(case, tmp_path, good_run)
    started = time.perf_counter()
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    elapsed = time.perf_counter() - started
    stderr = result.stderr
    assert result.exit_code == case["exit"], result.output
    assert "Traceback" not in result.output
    assert stderr.count("Error: ") == 1, stderr
    where = 0
    for fragment in case["message"]:
        fragment = fragment.format(**values)
        found = stderr.find(fragment, where)
        assert found >= 0, f"{fragment!r} not (in order) in {stderr!r}"
        where = found + len(fragment)
    for folder in must_stay_empty:
        assert not folder.exists() or not any(folder.iterdir()), sorted(p.name for p in folder.iterdir())
    if case.get("generate"):
        assert elapsed < 5, f"a {case['generate']} file took {elapsed:.1f} s to refuse: it was read, not sized"


def test_a_big_file_reads_when_the_limit_is_raised(tmp_path, monkeypatch):
    from backtest.data.csv import read_price_csv

    path = tmp_path / "1631.csv"
    write_huge(path, 2)
    monkeypatch.setenv("THEMEBT_MAX_CSV_MB", "1")
    with pytest.raises(Exception, match="above the 1 MB limit"):
        read_price_csv(path, "1631")
    monkeypatch.setenv("THEMEBT_MAX_CSV_MB", "3")
    with pytest.raises(Exception, match="duplicated date"):
        read_price_csv(path, "1631")  # read in full, and refused for its content instead
    monkeypatch.setenv("THEMEBT_MAX_CSV_MB", "lots")
    with pytest.raises(Exception, match="THEMEBT_MAX_CSV_MB: value: 'lots' is not a positive number"):
        read_price_csv(path, "1631")


SUBPROCESS_SAMPLE = ("yaml_python_tag", "price_unsorted_dates")


def test_a_real_process_prints_no_traceback_either(tmp_path, good_run):
    """CliRunner shares the test's process; a config case and a price case also run as `themebt`, in parallel."""
    themebt = Path(sys.executable).with_name("themebt")
    procs = {}
    for case_id in SUBPROCESS_SAMPLE:
        tmp = tmp_path / case_id
        tmp.mkdir()
        args, _, _ = prepare(BY_ID[case_id], tmp, good_run)
        procs[case_id] = subprocess.Popen([str(themebt), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    for case_id, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 2, (case_id, stderr)
        assert "Traceback" not in stderr and stderr.startswith("Error: "), (case_id, stderr)
