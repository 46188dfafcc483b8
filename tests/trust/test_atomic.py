"""Nothing is lost or overwritten: a killed run leaves a complete folder or none, earlier runs stay intact,
and run ids never collide, even for runs started in the same second."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import backtest.results.folder as results
from backtest.cli.main import main
from backtest.errors import ResultsError
from tests.trust.conftest import PERIOD, assert_complete, run_args, run_folders, snapshot, start


@pytest.fixture(scope="module")
def earlier(tmp_path_factory, demo_config) -> Path:
    """A finished run, in the results folder the killed runs write to."""
    out = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(main, ["run", str(demo_config), *PERIOD, "--no-tearsheet", "--out", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    (folder,) = run_folders(out)
    return folder


def wait_for(condition, proc, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert proc.poll() is None, f"themebt ended before {what}: {proc.communicate()}"
        time.sleep(0.002)
    proc.kill()
    pytest.fail(f"timed out waiting until {what}")


def new_temps(out: Path, before: set[str]) -> list[Path]:
    return [out / n for n in os.listdir(out) if n.startswith(".tmp-") and n not in before]


MOMENTS = {
    # the temporary folder exists but holds little or nothing yet
    "temp folder created": lambda tmp: True,
    # returns, trades and metrics are written; the chart and the manifest are not
    "half the files written": lambda tmp: (tmp / "metrics.json").exists(),
}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_a_killed_run_leaves_a_whole_folder_or_none_and_earlier_runs_intact(earlier, demo_config, sig, moment):
    out = earlier.parent
    earlier_files = snapshot(earlier)
    visible_before = set(run_folders(out))
    names_before = set(os.listdir(out))

    proc = start(run_args(demo_config, out))
    tmp = wait_for(lambda: next(iter(new_temps(out, names_before)), None), proc, "a .tmp- folder appears")
    wait_for(lambda: MOMENTS[moment](tmp), proc, moment)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)

    assert proc.returncode != 0
    for folder in set(run_folders(out)) - visible_before:
        assert_complete(folder)  # the signal came after the rename: then the run is whole
    assert snapshot(earlier) == earlier_files
    if sig == signal.SIGINT:
        assert proc.returncode == 130, "Ctrl-C exits with the shell's conventional code"
        assert "Traceback" not in stderr, stderr
        assert new_temps(out, names_before) == [], "Ctrl-C must remove the temporary folder"


FROZEN = dt.datetime(2024, 1, 4, 9, 0, 0, tzinfo=dt.timezone.utc)


def _write_one(out: str, barrier, clash: str) -> None:
    """In a child process: every child first draws the same id in the same second, then random ones."""
    drawn = []

    def run_id(name, now=None):
        drawn.append(None)
        return f"{FROZEN:%Y%m%dT%H%M%S}-{name}-{clash if len(drawn) == 1 else os.urandom(2).hex()}"

    results.new_run_id = run_id
    barrier.wait()

    def fill(folder: Path, run_id_: str) -> None:
        (folder / "writer.txt").write_text(f"{os.getpid()} {run_id_}\n")
        time.sleep(0.05)  # keep the temporary folder open while the others try the same id

    results.write_run(Path(out), "clash", fill)


def test_parallel_runs_in_the_same_second_never_collide(tmp_path):
    n = 6
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    children = [ctx.Process(target=_write_one, args=(str(tmp_path), barrier, "beef")) for _ in range(n)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    folders = run_folders(tmp_path)
    assert len(folders) == n
    assert all(f.name.startswith("20240104T090000-clash-") for f in folders)
    writers = [(f / "writer.txt").read_text().split() for f in folders]
    assert len({pid for pid, _ in writers}) == n, "each folder holds exactly one run's files"
    assert all(run_id == f.name for (_, run_id), f in zip(writers, folders))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


class _Frozen(dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FROZEN


def test_a_taken_id_is_never_reused(tmp_path, monkeypatch):
    """With the clock and the random suffix both stuck, the second run refuses rather than overwrite."""
    monkeypatch.setattr(results.secrets, "token_hex", lambda n: "beef")
    monkeypatch.setattr(results.dt, "datetime", _Frozen)
    first = results.write_run(tmp_path, "same", lambda folder, run_id: (folder / "a").write_text("first"))
    with pytest.raises(ResultsError, match="could not find a free run id"):
        results.write_run(tmp_path, "same", lambda folder, run_id: (folder / "a").write_text("again"))
    assert (first / "a").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_failing_run_leaves_nothing(tmp_path):
    def fill(folder: Path, run_id: str) -> None:
        (folder / "returns.csv").write_text("date,a\n")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        results.write_run(tmp_path, "broken", fill)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["../escape", "/tmp/escape", "..", "a/b", ""])
def test_a_run_name_cannot_leave_the_results_folder(tmp_path, name):
    with pytest.raises(ResultsError, match="cannot be part of a run folder name"):
        results.write_run(tmp_path / "results", name, lambda folder, run_id: None)
    assert not (tmp_path / "results").exists() or list((tmp_path / "results").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["results"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_remove_the_temporary_folder_like_ctrl_c(earlier, demo_config, sig):
    out = earlier.parent
    visible_before = set(run_folders(out))
    names_before = set(os.listdir(out))
    proc = start(run_args(demo_config, out))
    wait_for(lambda: next(iter(new_temps(out, names_before)), None), proc, "a .tmp- folder appears")
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    for folder in set(run_folders(out)) - visible_before:
        assert_complete(folder)  # the signal came after the rename
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and f"stopped by {signal.Signals(sig).name}" in stderr
    assert new_temps(out, names_before) == [], "the temporary folder is removed"


def test_leftover_temporary_folders_older_than_a_day_are_removed_but_never_a_live_one(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    day = 24 * 3600
    old = out / ".tmp-20240101T000000-dead-0001"
    (old / "sub").mkdir(parents=True)
    (old / "returns.csv").write_text("date\n")
    young = out / ".tmp-20240101T000000-young-0002"
    young.mkdir()
    live = out / ".tmp-20240101T000000-live-0003"
    live.mkdir()
    foreign = out / ".tmp-not-themebts"  # another program's temporary folder: never touched
    foreign.mkdir()
    for path in (old, old / "sub", old / "returns.csv", live, foreign):
        os.utime(path, (time.time() - 2 * day, time.time() - 2 * day))
    holder = results._lock(live)  # a writer still at work holds its folder's lock
    try:
        folder = results.write_run(out, "next", lambda f, run_id: (f / "a").write_text("x"))
        assert not old.exists(), "a killed run's leftover older than a day is removed by the next run"
        assert young.exists(), "a recent leftover may belong to a run that is still starting: kept"
        assert live.exists(), "a locked folder is a live run's: never removed, whatever its age"
        assert folder.is_dir()
        result = CliRunner().invoke(main, ["clean", "--out", str(out)], catch_exceptions=False)
        assert result.exit_code == 0 and str(young) in result.output and "1 temporary folder(s) removed" in result.output
        assert live.exists() and not young.exists() and folder.is_dir()
    finally:
        results._unlock(holder)
    result = CliRunner().invoke(main, ["clean", "--out", str(out)], catch_exceptions=False)
    assert not live.exists() and folder.is_dir()
    assert foreign.is_dir()


@pytest.mark.parametrize("problem", ["disk_full", "read_only", "name_too_long", "file_in_the_way"])
def test_a_write_that_fails_is_one_error_and_leaves_nothing(tmp_path, problem):
    import errno

    out = tmp_path / "results"
    name = "run"
    if problem == "disk_full":
        def fill(folder, run_id):
            (folder / "returns.csv").write_text("date\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        match = "No space left on device"
    elif problem == "read_only":
        out.mkdir()
        out.chmod(0o555)
        fill = lambda folder, run_id: None  # noqa: E731
        match = "Permission denied|cannot write here"
        if os.access(out, os.W_OK):
            out.chmod(0o755)
            pytest.skip("running as a user who can write anywhere")
    elif problem == "name_too_long":
        out = tmp_path / ("x" * 300)
        fill = lambda folder, run_id: None  # noqa: E731
        match = "File name too long"
    else:
        out.write_text("a file")
        fill = lambda folder, run_id: None  # noqa: E731
        match = "is a file, not a folder"
    try:
        with pytest.raises(ResultsError, match=match):
            results.check_writable(out)
            results.write_run(out, name, fill)
        assert [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-") or p.parent == out] == []
    finally:
        if problem == "read_only":
            out.chmod(0o755)


def test_sigterm_stops_a_sweep_with_its_points_stored_and_the_resume_hint(tmp_path, demo_config):
    from tests.trust.conftest import THEMEBT

    out = tmp_path / "sweeps"
    grid = "holding_sessions=" + ",".join(str(n) for n in range(5, 65))
    proc = start([str(THEMEBT), "sweep", str(demo_config), "--grid", grid, "--engine", "backtrader", "--jobs", "1",
                  "--top", "0", *PERIOD, "--out", str(out)])
    wait_for(lambda: out.exists() and any(out.glob("sweep-*/points/*.json")), proc, "a first point is stored")
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "--resume" in stderr and "stopped by SIGTERM" in stderr
    (folder,) = out.glob("sweep-*")
    assert list((folder / "points").glob("*.json")), "what was stored stays stored"
