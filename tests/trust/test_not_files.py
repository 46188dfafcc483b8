"""Paths that are not regular files (devices, named pipes, /proc files, folders, links to any of them) are refused
before they are opened, by every reader of a user path, and nothing is ever read beyond the size limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from backtest.cli.main import main
from backtest.errors import ThemebtError
from backtest.safeio import FileProblem, read_user_file
from tests.bad_inputs.test_corpus import PERIOD, write_good_prices

DEVICE = Path("/dev/zero")
PROC = Path("/proc/self/status")


def make(kind: str, path: Path) -> Path:
    """A path of the given kind at `path` (or a link there to one)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device_link":
        path.symlink_to(DEVICE)
    elif kind == "proc_link":
        path.symlink_to(PROC)
    elif kind == "fifo_link":
        os.mkfifo(path.with_name(path.name + ".target"))
        path.symlink_to(path.with_name(path.name + ".target"))
    elif kind == "link_chain_to_device":
        path.with_name("hop").symlink_to(DEVICE)
        path.symlink_to(path.with_name("hop"))
    elif kind == "socket":
        import socket

        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:
        raise AssertionError(kind)
    return path


KINDS = ["fifo", "folder", "device_link", "proc_link", "fifo_link", "link_chain_to_device", "socket"]
needs_devices = pytest.mark.skipif(not DEVICE.exists() or not PROC.exists(), reason="no /dev/zero or /proc")


@needs_devices
@pytest.mark.parametrize("kind", KINDS)
def test_the_one_reader_refuses_what_is_not_a_regular_file(tmp_path, kind):
    path = make(kind, tmp_path / "input.csv")
    # a /proc file is "regular" with a size of 0: the limit on the bytes read is what stops it
    with pytest.raises(FileProblem, match="above the 1,024 bytes limit" if kind == "proc_link" else "not a file"):
        read_user_file(path, 1024)


def test_the_one_reader_never_reads_past_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_user_file(path, 100) == b"x" * 100
    with pytest.raises(FileProblem, match="above the 99 bytes limit"):
        read_user_file(path, 99)


@needs_devices
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("where", ["prices", "prices_subfolder", "events", "config", "dividends"])
def test_every_user_path_refuses_a_path_that_is_not_a_file(tmp_path, kind, where):
    """Through the CLI: one Error line, exit 2, no results folder; a pipe never hangs, a device never fills memory."""
    prices = tmp_path / "prices"
    write_good_prices(prices)
    config = tmp_path / "run.yaml"
    config.write_text("theme: boj_rotation\n")
    args = ["run", str(config), *PERIOD, "--no-tearsheet", "--out", str(tmp_path / "out")]
    if where == "prices":
        (prices / "1631.csv").unlink()
        make(kind, prices / "1631.csv")
        args += ["--data", f"csv:{prices}"]
    elif where == "prices_subfolder":
        (prices / "1631.csv").unlink()
        (prices / "sub").mkdir()
        config.write_text(f"theme: boj_rotation\ndata: {{source: csv, path: '{prices}', files: {{'1631': sub/1631.csv}}}}\n")
        make(kind, prices / "sub" / "1631.csv")
    elif where == "events":
        events = tmp_path / "events"
        events.mkdir()
        make(kind, events / "boj.csv")
        config.write_text(f"theme: boj_rotation\nevents: {{folder: '{events}'}}\n")
    elif where == "config":
        config.unlink()
        make(kind, config)
    elif where == "dividends":
        make(kind, tmp_path / "dividends.csv")
        config.write_text(f"theme: boj_rotation\nbasis: total\ndata: {{dividends: '{tmp_path / 'dividends.csv'}'}}\n")
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("Error: ") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_price_file_that_grows_past_the_limit_while_read_is_refused(tmp_path, monkeypatch):
    """The limit holds on the bytes read, not only on the size stat() reports."""
    from backtest.data import csv as price_csv

    path = tmp_path / "1631.csv"
    path.write_bytes(b"Date,Open,High,Low,Close\n" + b"2024-01-04,1,1,1,1\n" * 70000)
    monkeypatch.setenv("THEMEBT_MAX_CSV_MB", "1")
    real_stat = os.stat

    def small_stat(p, *a, **k):  # a size of 0, as /proc files and devices report
        st = real_stat(p, *a, **k)
        return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, 0,
                               st.st_atime, st.st_mtime, st.st_ctime))

    monkeypatch.setattr(os, "stat", small_stat)
    with pytest.raises(ThemebtError, match="above the 1 MB limit"):
        price_csv.read_price_csv(path, "1631")


def test_a_large_constituents_path_that_is_not_a_file_is_refused(tmp_path):
    import os

    from backtest.errors import ConfigError
    from backtest.market.ticks import read_membership

    fifo = tmp_path / "members.csv"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a file"):
        read_membership(fifo)
    with pytest.raises(ConfigError, match="not a file"):
        read_membership("/dev/zero")
