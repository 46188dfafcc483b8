"""One atomic writer for folders and files: sweeps, walk-forwards and the price store write through
backtest.results.folder.write_folder and backtest.safeio.write_atomic like runs do.

A name clash is one clear error (exit 2, no traceback); a write that fails midway leaves the previous
state byte for byte; a killed write leaves only a hidden temporary, which `themebt clean` removes.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import backtest.research.sweep as sweep_module
import backtest.research.walkforward as wf_module
from backtest.cli.main import main
from backtest.config import spec_from_mapping
from backtest.data.store import Store
from backtest.errors import DataError, ResultsError
from backtest.research.sweep import finished, parse_grid, run_sweep
from backtest.research.walkforward import walk_forward, write_walkforward
from backtest.safeio import write_atomic
from tests.conftest import REPO

BOJ = REPO / "configs" / "boj_rotation.yaml"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under folder (hidden ones too), by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".tmp-*"))


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def boj_spec():
    return spec_from_mapping({"theme": "boj_rotation", "period": {"start": "2023-06-01", "end": "2024-06-28"}},
                             file="writer-test.yaml")


# ----- a name clash is one clear error --------------------------------------------------------------------
def test_a_sweep_whose_name_is_taken_is_a_clear_error(tmp_path, monkeypatch):
    taken = tmp_path / "sweep-20240104T090000-boj_rotation-beef"
    taken.mkdir(parents=True)
    (taken / "mine.txt").write_text("kept")
    monkeypatch.setattr(sweep_module, "sweep_folder_name", lambda theme, now: taken.name)
    result = CliRunner().invoke(main, ["sweep", str(BOJ), "--grid", "holding_sessions=10", "--start", "2023-06-01",
                                       "--end", "2024-06-28", "--jobs", "1", "--top", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].startswith(f"Error: {taken}: already exists")
    assert "choose another --out folder" in result.stderr
    assert snapshot(taken) == {"mine.txt": b"kept"} and hidden(tmp_path) == []


def test_a_walkforward_whose_name_is_taken_is_a_clear_error(tmp_path, monkeypatch):
    taken = tmp_path / "walkforward-20240104T090000-boj_rotation-beef"
    taken.mkdir(parents=True)
    (taken / "mine.txt").write_text("kept")
    monkeypatch.setattr(wf_module, "walkforward_folder_name", lambda name, now: taken.name)
    result = CliRunner().invoke(main, ["walkforward", str(BOJ), "--grid", "holding_sessions=20", "--train", "1y",
                                       "--test", "1y", "--start", "2022-01-04", "--end", "2023-12-29",
                                       "--no-tearsheet", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert result.stderr.splitlines()[-1].startswith(f"Error: {taken}: already exists")
    assert "choose another --out folder" in result.stderr
    assert snapshot(taken) == {"mine.txt": b"kept"} and hidden(tmp_path) == []


# ----- a write that fails midway leaves the previous state --------------------------------------------------
def test_a_sweep_table_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=10,40"], spec)
    folder = run_sweep(spec, grid, out_dir=tmp_path, top=0)["folder"]
    before = snapshot(folder)

    def half_then_full(self, path, *args, **kwargs):
        Path(path).write_text("point,id\n1,")  # a partial table on disk, then the disk is full
        full_disk()

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full)
    with pytest.raises(ResultsError, match="results.csv: cannot be written .*the previous version is kept"):
        run_sweep(spec, grid, resume=folder, top=0)
    assert snapshot(folder) == before and hidden(folder) == []


def test_a_sweep_point_that_cannot_be_written_keeps_the_points_before_it(tmp_path, monkeypatch):
    spec = boj_spec()
    grid = parse_grid(["holding_sessions=10,20,40"], spec)
    real_write = Path.write_text

    def fail_on_the_second_point(self, text, *args, **kwargs):
        if self.name.startswith(".tmp-00001-"):
            real_write(self, text[: len(text) // 2], *args, **kwargs)
            full_disk()
        return real_write(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_on_the_second_point)
    with pytest.raises(ResultsError, match="cannot be written .*carry on with --resume"):
        run_sweep(spec, grid, out_dir=tmp_path, top=0)
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("sweep-")]
    assert [p.name[:5] for p in (folder / "points").iterdir()] == ["00000"] and hidden(folder) == []
    assert len(finished(folder)) == 1
    monkeypatch.undo()
    assert len(run_sweep(spec, grid, resume=folder, top=0)["table"]) == 3


@pytest.fixture(scope="module")
def computed_walkforward():
    spec = spec_from_mapping({"theme": "buy_and_hold", "period": {"start": "2021-01-04", "end": "2023-12-29"}},
                             file="writer-test.yaml")
    grid = parse_grid(["basket=1631,1632"], spec)
    return spec, grid, walk_forward(spec, grid, train="1y", test="1y")


def test_a_walkforward_that_cannot_be_written_leaves_the_earlier_one_and_nothing_else(tmp_path, monkeypatch,
                                                                                      computed_walkforward):
    spec, grid, wf = computed_walkforward
    first = write_walkforward(wf, tmp_path, spec, grid, tearsheet=False)
    before = snapshot(tmp_path)

    def half_a_chart(returns, name, benchmark, path, title):
        Path(path).write_bytes(b"\x89PNG half")
        full_disk()

    monkeypatch.setattr("backtest.report.tearsheet.equity_png", half_a_chart)
    with pytest.raises(ResultsError, match="cannot be written .*nothing was kept"):
        write_walkforward(wf, tmp_path, spec, grid, tearsheet=False)
    assert snapshot(tmp_path) == before and [p.name for p in tmp_path.iterdir() if p.is_dir()] == [first.name]


def _store_frame(scale: float) -> pd.DataFrame:
    days = pd.bdate_range("2024-01-04", "2024-01-31", name="date")
    close = [scale * (100 + i) for i in range(len(days))]
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1e4}, index=days)


@pytest.mark.parametrize("failing", ["prices", "record"])
def test_a_store_write_that_fails_midway_keeps_the_stored_pair(tmp_path, monkeypatch, failing):
    pytest.importorskip("pyarrow")
    store = Store(tmp_path)
    old = _store_frame(1.0)
    store.write("csv", "7203", old, (old.index[0], old.index[-1]), {"currency": "JPY"})
    before = snapshot(tmp_path)
    new = _store_frame(2.0)
    if failing == "prices":
        def half_then_full(self, path, *args, **kwargs):
            Path(path).write_bytes(b"PAR1 half")
            full_disk()

        monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_full)
    else:
        real_write = Path.write_text

        def record_fails(self, text, *args, **kwargs):
            real_write(self, text[:10], *args, **kwargs)
            full_disk()

        monkeypatch.setattr(Path, "write_text", record_fails)
    with pytest.raises(DataError, match="cannot be written"):
        store.write("csv", "7203", new, (new.index[0], new.index[-1]), {"currency": "JPY"})
    monkeypatch.undo()
    assert snapshot(tmp_path) == before, "the prices and their record are the previous write's, whole"
    pd.testing.assert_frame_equal(store.read("csv", "7203")[["close"]], old[["close"]], check_freq=False)


# ----- a killed write leaves only a hidden temporary, which `themebt clean` removes --------------------------
def _killed_while_writing(path: str) -> None:
    write_atomic(Path(path), lambda tmp: (Path(tmp).write_text("{\"half"), os._exit(1)))


def _killed_walkforward(out: str, spec, grid, wf) -> None:
    import backtest.report.tearsheet as charts

    def die(*args, **kwargs):
        os._exit(1)

    charts.equity_png = die
    write_walkforward(wf, Path(out), spec, grid, tearsheet=False)


def test_killed_writes_leave_hidden_temporaries_that_clean_removes(tmp_path, computed_walkforward):
    spec = boj_spec()
    folder = run_sweep(spec, parse_grid(["holding_sessions=10"], spec), out_dir=tmp_path, top=0)["folder"]
    (point,) = (folder / "points").iterdir()
    before = snapshot(folder)
    ctx = multiprocessing.get_context("fork")
    for target, args in ((_killed_while_writing, (str(point),)),
                         (_killed_while_writing, (str(folder / "results.csv"),)),
                         (_killed_walkforward, (str(tmp_path), *computed_walkforward))):
        child = ctx.Process(target=target, args=args)
        child.start()
        child.join(60)
        assert child.exitcode == 1
    left = hidden(tmp_path)
    assert len(left) == 3 and all(Path(p).name.startswith(".tmp-") for p in left), left
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("walkforward-")]
    assert set(finished(folder)) == {point.name.split("-", 1)[1].removesuffix(".json")}
    result = CliRunner().invoke(main, ["clean", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert hidden(tmp_path) == [] and snapshot(folder) == before
