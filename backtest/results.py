"""Write a run to results/<run-id>/: built in a hidden temporary folder, then renamed into place whole."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
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


def write_csv(frame: pd.DataFrame, path: Path, index: bool = True) -> None:
    frame.to_csv(path, index=index, float_format=FLOAT_FORMAT, lineterminator="\n")


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_writable(out_dir: Path) -> None:
    """Refuse an --out folder that cannot be written, before any work is done; creates nothing."""
    out_dir = Path(out_dir)
    probe = out_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ResultsError(path=str(out_dir), problem=f"{probe} is a file, not a folder",
                           fix="Choose another --out folder.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(path=str(out_dir), problem=f"{probe} is not writable",
                           fix="Choose a writable --out folder.")


def ensure_folder(out_dir: Path) -> Path:
    """Create the folder that receives runs, sweeps and walk-forwards, or say why it cannot be."""
    out_dir = Path(out_dir)
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

    out_dir = Path(out_dir)
    if not RUN_NAME.match(name):
        # the config checks names too; this keeps any other caller from writing outside out_dir
        raise ResultsError(path=str(out_dir), problem=f"{name!r} cannot be part of a run folder name",
                           fix="Use letters, digits, '-', '_' or '.', at most 64 characters, no '/' or '..'.")
    ensure_folder(out_dir)
    for _ in range(20):
        run_id = prefix + new_run_id(name)
        tmp = out_dir / f".tmp-{run_id}"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise ResultsError(path=str(out_dir), problem=f"cannot write here ({exc.strerror})",
                               fix="Choose a writable --out folder.") from None
        try:
            fill(tmp, run_id)
            final = out_dir / run_id
            if final.exists():
                shutil.rmtree(tmp)
                continue
            try:
                os.rename(tmp, final)
            except OSError as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                if final.exists():  # a parallel run took the same id after the check above
                    continue
                raise ResultsError(path=str(final), problem=f"cannot be created ({exc.strerror})",
                                   fix="Choose a writable --out folder.") from None
            return final
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    raise ResultsError(path=str(out_dir), problem="could not find a free run id", fix="Try again.")


def dump_config(resolved: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(resolved, sort_keys=True, allow_unicode=True), encoding="utf-8")
