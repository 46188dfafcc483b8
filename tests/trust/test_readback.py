"""What themebt reads back (run folders for compare, sweep folders for --resume, the price store) is checked as
untrusted input: types after parsing, bounded nesting, finite numbers, regular files, and pairs that match."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.report.compare import compare_runs
from backtest.config import spec_from_mapping
from backtest.data.store import Store
from backtest.errors import DataError, ThemebtError
from backtest.research.sweep import parse_grid, run_sweep
from tests.trust.conftest import PERIOD, run_folders


@pytest.fixture(scope="module")
def a_run(tmp_path_factory, demo_config) -> Path:
    out = tmp_path_factory.mktemp("readback")
    result = CliRunner().invoke(main, ["run", str(demo_config), *PERIOD, "--no-tearsheet", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (folder,) = run_folders(out)
    return folder


def test_a_run_folder_from_an_older_version_without_hashes_is_read_with_a_warning(a_run, tmp_path):
    import shutil

    folder = tmp_path / a_run.name
    shutil.copytree(a_run, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("files")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    comparison = compare_runs([folder], bootstrap_samples=50)
    assert any("older themebt without file hashes" in w for w in comparison.warnings)
    # the other checks stay on: an edited returns.csv is still refused by its content
    (folder / "returns.csv").write_text("date,x\n2024-01-04,abc\n")
    with pytest.raises(ThemebtError):
        compare_runs([folder], bootstrap_samples=50)


def small_sweep(tmp_path: Path):
    spec = spec_from_mapping({"theme": "boj_rotation", "period": {"start": "2024-01-04", "end": "2024-06-28"}},
                             file="sweep.yaml")
    grid = parse_grid(["holding_sessions=5,10"], spec)
    out = run_sweep(spec, grid, out_dir=tmp_path, top=0)
    return spec, grid, out["folder"]


def _point(folder: Path) -> Path:
    return sorted((folder / "points").glob("*.json"))[0]


DAMAGE = {
    "not_json": lambda f: _point(f).write_text("{\"id\": "),
    "id_does_not_match_params": lambda f: _edit(_point(f), params={"holding_sessions": 99}),
    "metric_is_text": lambda f: _edit(_point(f), metrics={"sharpe": "high"}),
    "metric_is_nan": lambda f: _point(f).write_text(_point(f).read_text().replace('"sharpe": ', '"sharpe": NaN, "x": ', 1)),
    "params_not_a_mapping": lambda f: _edit(_point(f), params=[1]),
    "no_seconds": lambda f: _edit(_point(f), seconds=None, drop="seconds"),
    "point_is_a_pipe": lambda f: (_point(f).unlink(), os.mkfifo(f / "points" / "00000-deadbeef.json")),
    "sweep_file_grid_is_a_list": lambda f: _edit(f / "sweep.json", grid=[1, 2]),
    "sweep_file_too_deep": lambda f: (f / "sweep.json").write_text('{"a": ' * 100 + "1" + "}" * 100),
    "points_folder_missing": lambda f: [p.unlink() for p in (f / "points").iterdir()] and (f / "points").rmdir(),
}


def _edit(path: Path, drop: str | None = None, **changes):
    doc = json.loads(path.read_text())
    doc.update(changes)
    if drop:
        doc.pop(drop)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_sweep_folder_is_refused_on_resume_naming_the_file(tmp_path, damage):
    spec, grid, folder = small_sweep(tmp_path)
    DAMAGE[damage](folder)
    with pytest.raises(ThemebtError) as err:
        run_sweep(spec, grid, resume=folder, top=0)
    assert str(folder) in str(err.value)
    result = CliRunner().invoke(main, ["sweep", "configs/boj_rotation.yaml", "--grid", "holding_sessions=5,10",
                                       "--start", "2024-01-04", "--end", "2024-06-28", "--top", "0",
                                       "--resume", str(folder)])
    assert result.exit_code == 2 and result.stderr.count("Error: ") == 1 and "Traceback" not in result.output


def frame(rows: int, start: str = "2024-01-04", price: float = 100.0) -> pd.DataFrame:
    index = pd.bdate_range(start, periods=rows, name="date")
    values = np.full(rows, price)
    return pd.DataFrame({"open": values, "high": values, "low": values, "close": values,
                         "volume": np.full(rows, 1000.0)}, index=index)


def _store_write(root: str, rows: int, times: int) -> None:
    store = Store(root)
    for _ in range(times):
        data = frame(rows)
        store.write("csv", "7203", data, (data.index[0], data.index[-1]), {"symbol": "7203"})


def test_two_writers_never_leave_a_mismatched_pair_and_a_mismatch_is_refused(tmp_path):
    ctx = multiprocessing.get_context("fork")
    writers = [ctx.Process(target=_store_write, args=(str(tmp_path), rows, 15)) for rows in (5, 9)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    store = Store(tmp_path)
    entry = store.entry("csv", "7203")
    assert len(store.read("csv", "7203")) == entry.meta["rows"] in (5, 9)
    # a pair from two different writes (what a writer without the lock could leave) is refused when read
    frame(3).to_parquet(tmp_path / "csv" / "7203.parquet")
    with pytest.raises(DataError, match="does not match its record"):
        store.read("csv", "7203")


RECORD_DAMAGE = {
    "not_an_object": "[1, 2]",
    "coverage_not_dates": '{"coverage": {"start": 1, "end": 2}}',
    "coverage_impossible_date": '{"coverage": {"start": "2024-13-45", "end": "2024-01-05"}}',
    "rows_not_a_count": '{"coverage": {"start": "2024-01-04", "end": "2024-01-05"}, "rows": "five"}',
    "dividends_not_pairs": '{"coverage": {"start": "2024-01-04", "end": "2024-01-05"}, "dividends": [1]}',
    "proxy_not_text": '{"coverage": {"start": "2024-01-04", "end": "2024-01-05"}, "proxy": {"a": 1}}',
    "truncated": '{"coverage": {"start": "2024-01-04"',
}


@pytest.mark.parametrize("damage", sorted(RECORD_DAMAGE))
def test_a_damaged_store_record_is_a_clear_error(tmp_path, damage):
    store = Store(tmp_path)
    data = frame(5)
    store.write("csv", "7203", data, (data.index[0], data.index[-1]), {"symbol": "7203"})
    (tmp_path / "csv" / "7203.json").write_text(RECORD_DAMAGE[damage])
    with pytest.raises(DataError) as err:
        store.entry("csv", "7203")
    assert "7203.json: coverage record" in str(err.value)


@pytest.mark.parametrize("bad", ["negative_price", "infinite", "text", "unsorted", "no_close"])
def test_a_damaged_store_frame_is_checked_like_a_csv_file(tmp_path, bad):
    store = Store(tmp_path)
    data = frame(5)
    store.write("csv", "7203", data, (data.index[0], data.index[-1]), {"symbol": "7203"})
    if bad == "negative_price":
        data["close"] = -1.0
    elif bad == "infinite":
        data["open"] = np.inf
    elif bad == "text":
        data["high"] = "x"
    elif bad == "unsorted":
        data = data.iloc[::-1]
    else:
        data = data.drop(columns="close")
    data.to_parquet(tmp_path / "csv" / "7203.parquet")
    with pytest.raises(DataError, match="7203.parquet: price file"):
        store.read("csv", "7203")
