"""The trial ledger: one JSON line per run, sweep point and walk-forward point, appended to <results>/ledger.jsonl.

A Deflated Sharpe Ratio is only honest when it counts every configuration that was tried, not
only the runs on the page. Each trial appends one line (sorted keys) with its theme, parameters,
period, data hash and the Sharpe ratio of its active return over the benchmark. Lines are appended
with one write(2) of the whole line to a file opened with O_APPEND, under an exclusive fcntl lock,
so processes appending at once never interleave or tear a line. The file is never rewritten.

Record fields:
    kind            "run", "sweep" or "walkforward"
    run_id          the run folder's name; "<sweep folder>/<point id>"; "<walk-forward name>/fold<k>/<point id>"
    theme, name     the theme's registry key (its family) and the run's name
    params          the theme's parameters
    data_sha256     the prices' hash (manifest.json's data.sha256)
    data_source     where the prices came from
    first_session, last_session   the period (the first session is the all-cash start)
    sessions, periods_per_year    observations and the annualisation used
    active_sharpe   annualised Sharpe ratio of (strategy − benchmark) daily returns: the information ratio
    synthetic       whether the prices are synthetic demo data
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path

LEDGER = "ledger.jsonl"
# A line longer than this is not a trial record (and keeps one bad file from eating memory).
MAX_LINE = 64_000


def _clean(value):
    if isinstance(value, float):
        # 12 significant digits, as metrics.json: the same trial gives the same line on every machine
        return float(f"{value:.12g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return str(value)


def record(*, kind: str, run_id: str, theme: str, name: str, params: dict, data_sha256: str, data_source: str,
           first_session, last_session, sessions: int, periods_per_year: float, active_sharpe: float | None,
           synthetic: bool) -> dict:
    """One ledger line as a dict (see the module docstring for the fields)."""
    return _clean({
        "kind": kind, "run_id": run_id, "theme": theme, "name": name, "params": params,
        "data_sha256": data_sha256, "data_source": data_source,
        "first_session": str(getattr(first_session, "date", lambda: first_session)()),
        "last_session": str(getattr(last_session, "date", lambda: last_session)()),
        "sessions": int(sessions), "periods_per_year": float(periods_per_year),
        "active_sharpe": None if active_sharpe is None else float(active_sharpe), "synthetic": bool(synthetic),
    })


def line(entry: dict) -> bytes:
    """The bytes appended for one record: compact JSON, sorted keys, one line."""
    return (json.dumps(_clean(entry), sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                       allow_nan=False) + "\n").encode("utf-8")


def append(results_dir: Path, entries: list[dict]) -> Path:
    """Append records to results_dir/ledger.jsonl, each as one whole line; raises OSError if it cannot."""
    path = Path(results_dir) / LEDGER
    data = b"".join(line(e) for e in entries)
    if not data:
        return path
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return path


def try_append(results_dir: Path, entries: list[dict]) -> str | None:
    """append(), turning a failure into a warning: the run's own files are already written and stay valid."""
    try:
        append(results_dir, entries)
    except OSError as exc:
        return (f"{Path(results_dir) / LEDGER}: the trial was not recorded in the ledger ({exc.strerror}); "
                "compare will count fewer trials than were run")
    return None


def read(path: Path) -> tuple[list[dict], int]:
    """(records, number of unreadable lines) of one ledger file; a missing file, or anything that is not a
    regular file (a device, a pipe), has none."""
    path = Path(path)
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    with open(path, "rb") as fh:
        while True:
            raw = fh.readline(MAX_LINE + 1)  # never more than one line's worth in memory
            if not raw:
                break
            if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                bad += 1
                while raw and not raw.endswith(b"\n"):  # skip the rest of an overlong line
                    raw = fh.readline(MAX_LINE + 1)
                continue
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                bad += 1
                continue
            if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in
                                                       ("run_id", "theme", "data_sha256", "first_session",
                                                        "last_session")):
                bad += 1
                continue
            records.append(entry)
    return records, bad


def params_key(params) -> str:
    """One configuration's identity: its parameters as sorted JSON (tuples and lists alike)."""
    return json.dumps(_clean(params if isinstance(params, dict) else {}), sort_keys=True, ensure_ascii=False)


def family(records: list[dict], theme: str, data_sha256: str, first_session: str, last_session: str) -> list[dict]:
    """The trials of one theme on the same data and period, one per configuration (first line kept).

    A configuration run twice (a sweep point re-run on backtrader, a run repeated) is one trial.
    """
    out, seen = [], set()
    for entry in records:
        if (entry["theme"], entry["data_sha256"], entry["first_session"], entry["last_session"]) != (
                theme, data_sha256, first_session, last_session):
            continue
        key = params_key(entry.get("params"))
        if key in seen:
            continue
        seen.add(key)
        out.append(entry)
    return out
