"""Write a run to results/<run-id>/: built in a hidden temporary folder, then renamed into place whole."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import yaml

from backtest.errors import ResultsError

FLOAT_FORMAT = "%.12g"


def new_run_id(name: str, now: dt.datetime | None = None) -> str:
    """Sortable by time; the random suffix keeps two runs started in the same second apart."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{name}-{secrets.token_hex(2)}"


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula, prefixed with ' so it stays text; others unchanged.

    Only text is touched: a negative number stays a number, and so does text that is a plain number
    (an event-time label such as "-5").
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _plain_number(value):
        return "'" + value
    return value


def _plain_number(text: str) -> bool:
    return re.fullmatch(r"[+-]?[0-9]+(\.[0-9]+)?", text) is not None


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """frame with its text cells, text index and column names made spreadsheet-safe (numbers untouched)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(spreadsheet_safe)
    if out.index.dtype == object or pd.api.types.is_string_dtype(out.index.dtype):
        out.index = out.index.map(spreadsheet_safe)
    out.columns = [spreadsheet_safe(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    safe_frame(frame).to_csv(path, index=index, float_format=FLOAT_FORMAT, lineterminator="\n")


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_writable(out_dir: Path) -> None:
    """Refuse an --out folder that cannot be written, before any work is done; creates nothing."""
    out_dir = _expanded(out_dir)
    probe = out_dir
    try:
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        is_dir = probe.is_dir()
    except (OSError, ValueError) as exc:  # a name too long, a NUL, a loop of links
        raise ResultsError(path=str(out_dir)[:200], problem=f"cannot be used ({getattr(exc, 'strerror', None) or exc})",
                           fix="Choose another --out folder, with a shorter path.") from None
    if not is_dir:
        raise ResultsError(path=str(out_dir), problem=f"{probe} is a file, not a folder",
                           fix="Choose another --out folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(path=str(out_dir), problem=f"{probe} is not writable",
                           fix="Choose a writable --out folder.")


def _expanded(out_dir) -> Path:
    """--out with a leading ~ or ~user expanded (a quoted '~/results' is meant as the home folder's)."""
    from backtest.safeio import expand_user

    return expand_user(str(out_dir), lambda problem: ResultsError(
        path=str(out_dir), problem=problem, fix="Give the --out folder's full path."))


def ensure_folder(out_dir: Path) -> Path:
    """Create the folder that receives runs, sweeps and walk-forwards, or say why it cannot be."""
    out_dir = _expanded(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(path=str(out_dir), problem=f"cannot create the results folder ({exc.strerror})",
                           fix="Choose a writable --out folder.") from None
    return out_dir


def write_run(out_dir: Path, name: str, fill: Callable[[Path, str], None], prefix: str = "") -> Path:
    """Create out_dir/<prefix><run-id>/ atomically: fill(tmp_folder, run_id) writes the files.

    prefix marks other kinds of folder (e.g. "study-"); runs have none.

    If fill raises, or the process dies, no run folder appears; a leftover '.tmp-*' folder is
    never read as a run. Earlier runs are never touched.
    """
    from backtest.config import RUN_NAME

    if not RUN_NAME.match(name):
        # the config checks names too; this keeps any other caller from writing outside out_dir
        raise ResultsError(path=str(out_dir), problem=f"{name[:80]!r} cannot be part of a run folder name",
                           fix="Use letters, digits, '-', '_' or '.', at most 64 characters, no '/' or '..'.")
    return write_folder(out_dir, lambda: prefix + new_run_id(name), fill)


# A `.tmp-*` folder left by a killed process is removed by a later write once it is this old; a live
# writer holds a lock on its folder, so it is never removed, whatever its age.
STALE_AFTER_S = 24 * 3600
# Only folders themebt names are ever removed: .tmp-<UTC time>-..., never another program's .tmp-anything.
TEMP_NAME = re.compile(r"\A\.tmp-(?:walkforward-|study-|compare-)?[0-9]{8}T[0-9]{6}-")


def write_folder(out_dir: Path, new_name: Callable[[], str], fill: Callable[[Path, str], None],
                 taken: Callable[[Path], Exception] | None = None) -> Path:
    """The one atomic writer of results folders (runs, walk-forwards, studies, top-point re-runs,
    comparisons): out_dir/<name>/ appears whole or not at all, and nothing there is ever overwritten.

    fill(tmp, name) writes into a hidden out_dir/.tmp-<name>/ folder, locked while it is written, which is
    then renamed into place. A write that fails (a full disk, a name too long, a read-only folder) is a
    ResultsError and leaves nothing; SIGINT, SIGTERM and SIGHUP remove the temporary folder too. A name
    already taken is drawn again, or, for a name the user chose (taken given), refused with taken(path).
    """
    out_dir = ensure_folder(out_dir)
    clean_temps(out_dir, older_than_s=STALE_AFTER_S)
    for _ in range(20):
        name = new_name()
        tmp = out_dir / f".tmp-{name}"
        lock = None
        try:
            try:
                tmp.mkdir()
            except FileExistsError:
                tmp = None  # another writer's: never removed here
                if taken is not None:
                    raise taken(out_dir / name) from None
                continue
            except OSError as exc:
                tmp = None
                raise ResultsError(path=str(out_dir), problem=f"cannot write here ({exc.strerror})",
                                   fix="Choose a writable --out folder with a shorter path.") from None
            lock = _lock(tmp)
            try:
                fill(tmp, name)
            except OSError as exc:
                raise ResultsError(path=str(out_dir / name),
                                   problem=f"cannot be written ({exc.strerror or type(exc).__name__}); nothing was kept",
                                   fix="Free disk space or choose another --out folder, then run again.") from None
            final = out_dir / name
            if final.exists():
                shutil.rmtree(tmp)
                if taken is not None:
                    raise taken(final)
                continue
            try:
                os.rename(tmp, final)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if final.exists():  # a parallel run took the same id after the check above
                    if taken is not None:
                        raise taken(final) from None
                    continue
                raise ResultsError(path=str(final), problem=f"cannot be created ({exc.strerror})",
                                   fix="Choose a writable --out folder.") from None
            return final
        except BaseException:
            # also when a signal lands between mkdir and this block: the random name is this writer's
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        finally:
            _unlock(lock)
    raise ResultsError(path=str(out_dir), problem="could not find a free run id", fix="Try again.")


def clean_temps(out_dir: Path, older_than_s: float = 0.0, now: float | None = None) -> list[Path]:
    """Remove the `.tmp-*` folders in out_dir that no live process holds and that are older than older_than_s.

    Returns what was removed. A folder being written is locked by its writer and is always kept.
    """
    out_dir = Path(out_dir)
    now = time.time() if now is None else now
    removed = []
    try:
        candidates = sorted(p for p in out_dir.iterdir() if TEMP_NAME.match(p.name))
    except OSError:
        return removed
    for path in candidates:
        try:
            if path.is_symlink() or not path.is_dir():
                continue
            newest = max([path.stat().st_mtime, *(c.lstat().st_mtime for c in path.iterdir())])
        except OSError:
            continue
        if now - newest < older_than_s:
            continue
        lock = _lock(path, wait=False)
        if lock is None:
            continue  # a live writer holds it
        try:
            shutil.rmtree(path)
            removed.append(path)
        except OSError:
            pass
        finally:
            _unlock(lock)
    return removed


def _lock(folder: Path, wait: bool = True):
    """An exclusive lock on a folder (flock on its descriptor), released when the holder closes it or dies."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locks, age alone decides
        return -1
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return None if not wait else -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd) -> None:
    if fd is not None and fd >= 0:
        os.close(fd)


def dump_config(resolved: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(resolved, sort_keys=True, allow_unicode=True), encoding="utf-8")
