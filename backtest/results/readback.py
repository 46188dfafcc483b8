"""What themebt reads back from its own folders (run folders, sweep folders) is untrusted input.

A folder may have been edited, truncated, copied from elsewhere or written by an older version. Every
file is read through backtest.safeio (regular files only, bounded size), parsed, then checked: types,
nesting depth, finite numbers. A run folder written before manifests carried file hashes is read with a
warning, never silently with its checks off.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from backtest.errors import ResultsError
from backtest.safeio import FileProblem, read_head, read_user_file

MAX_JSON_BYTES = 20 * 2**20
MAX_CSV_BYTES = 500 * 2**20
MAX_DEPTH = 32
HASHED = ("returns.csv", "metrics.json", "trades.csv", "config.yaml")
_SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
_POINT_ID = re.compile(r"\A[0-9a-f]{8}\Z")
REBUILD = "Re-run the config to rebuild the folder, or leave this one out."


def _bad(path: Path, problem: str, fix: str = REBUILD) -> ResultsError:
    return ResultsError(path=str(path), problem=problem, fix=fix)


def read_json(path: Path, fix: str = REBUILD) -> dict:
    """A JSON object from a file themebt wrote: regular file, bounded size, bounded depth, finite numbers."""
    path = Path(path)
    try:
        data = read_user_file(path, MAX_JSON_BYTES)
    except FileProblem as exc:
        raise _bad(path, exc.problem, fix) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text", fix) from None

    def no_constant(name):  # NaN, Infinity: Python's json takes them, JSON does not
        raise ValueError(f"{name} is not a JSON number")

    try:
        doc = json.loads(text, parse_constant=no_constant)
    except RecursionError:
        raise _bad(path, "nested too deeply", fix) from None
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise _bad(path, f"not valid JSON ({detail[:80]}; truncated or edited?)", fix) from None
    if not isinstance(doc, dict):
        raise _bad(path, "not a JSON object", fix)
    check_tree(doc, path, fix)
    return doc


def check_tree(value, path: Path, fix: str = REBUILD, depth: int = 0) -> None:
    """Nesting at most MAX_DEPTH deep; every number finite (a huge integer counts as not finite)."""
    if depth > MAX_DEPTH:
        raise _bad(path, f"nested more than {MAX_DEPTH} levels deep", fix)
    if isinstance(value, dict):
        for item in value.values():
            check_tree(item, path, fix, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_tree(item, path, fix, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _bad(path, "holds a number that is not finite", fix)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        raise _bad(path, "holds an integer too large to be a count or an amount", fix)


def check_run_folder(folder: Path, warnings: list[str] | None = None) -> None:
    """Before a run folder is loaded: its files are regular and bounded, its JSON well-typed, its hashes present.

    A manifest without file hashes (written by an older themebt) adds a warning; hashes that are present
    but malformed are an error, so the checks are never silently off.
    """
    folder = Path(folder)
    if folder.is_symlink() and not folder.is_dir():
        raise _bad(folder, "a link to something that is not a folder", "Give a run folder.")
    if not folder.is_dir():
        return  # the loader says what is missing
    for name in ("manifest.json", "metrics.json", "returns.csv", "trades.csv", "config.yaml", "positions.csv",
                 "orders.csv"):
        path = folder / name
        if not (path.exists() or path.is_symlink()):
            continue
        try:
            read_head(path, 1)  # a regular file (not a pipe, a device or a folder), opened without blocking
            size = path.stat().st_size
        except (FileProblem, OSError) as exc:
            raise _bad(path, getattr(exc, "problem", None) or "cannot be read") from None
        limit = MAX_JSON_BYTES if name.endswith(".json") else MAX_CSV_BYTES
        if size > limit:
            raise _bad(path, f"is {size / 2**20:,.0f} MB, far more than a run writes")
    if (folder / "config.yaml").exists():
        _check_config(folder / "config.yaml")
    if (folder / "trades.csv").exists():
        _check_numbers(folder / "trades.csv", ("shares", "price", "value_jpy", "commission_jpy", "slippage_jpy"))
    if not (folder / "manifest.json").exists():
        return
    manifest = read_json(folder / "manifest.json")
    metrics = read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {}
    _expect(manifest, folder / "manifest.json", {"benchmark": str, "data": dict, "run_id": str})
    _expect(metrics, folder / "metrics.json", {"periods_per_year": (int, float), "strategy": dict, "benchmark": dict})
    files = manifest.get("files")
    if files is None:
        if warnings is not None:
            warnings.append(f"{folder}: written by an older themebt without file hashes; its files are read "
                            "without that check (re-run the config to get a folder with hashes)")
        return
    if not isinstance(files, dict):
        raise _bad(folder / "manifest.json", "'files' is not a mapping of file names to sha256 hashes")
    unhashed = []
    for name in HASHED:
        digest = files.get(name)
        if not (folder / name).exists():
            continue
        if digest is None:
            unhashed.append(name)
        elif not (isinstance(digest, str) and _SHA256.match(digest)):
            raise _bad(folder / "manifest.json", f"the sha256 recorded for {name} in 'files' is malformed")
    if unhashed and warnings is not None:
        warnings.append(f"{folder}: manifest.json records no hash for {', '.join(unhashed)}; "
                        "read without that check")


def _check_numbers(path: Path, columns) -> None:
    """The numeric columns of a CSV file a run wrote hold finite numbers (or nothing), as a price file must."""
    import io

    import numpy as np
    import pandas as pd

    try:
        raw = pd.read_csv(io.BytesIO(read_user_file(path, MAX_CSV_BYTES)), dtype=str, keep_default_na=False,
                          index_col=False)
    except FileProblem as exc:
        raise _bad(path, exc.problem) from None
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return  # the loader reports a file it cannot parse in its own words
    for column in (c for c in columns if c in raw.columns):
        cells = raw[column].str.strip()
        values = pd.to_numeric(cells.replace("", None), errors="coerce").to_numpy(dtype=float)
        broken = (cells != "").to_numpy() & ~np.isfinite(values)
        if broken.any():
            row = int(np.flatnonzero(broken)[0])
            raise _bad(path, f"row {row + 2}, column {column}: {str(cells.iloc[row])[:40]!r} is not a finite number")


def _check_config(path: Path) -> None:
    """A run's config.yaml parses with the config loader: plain data, no alias that expands without end."""
    from backtest.safeyaml import parse_yaml
    from backtest.errors import ConfigError

    try:
        text = read_user_file(path, MAX_JSON_BYTES).decode("utf-8")
        parse_yaml(text, str(path))
    except FileProblem as exc:
        raise _bad(path, exc.problem) from None
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text") from None
    except ConfigError as exc:
        raise _bad(path, f"not a config themebt wrote ({exc.fields.get('field')}: {exc.fields.get('problem')})") from None


def _expect(doc: dict, path: Path, types: dict) -> None:
    for key, kinds in types.items():
        if key not in doc:
            continue  # the loader names missing keys in its own words
        value = doc[key]
        if not isinstance(value, kinds) or isinstance(value, bool):
            shown = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
            raise _bad(path, f"'{key}' is {type(value).__name__}, expected {shown}")


# ----- sweep folders ---------------------------------------------------------------------------------
RESUME_FIX = "Give a folder that `themebt sweep` created, or start a new sweep without --resume."
POINT_FIX = "Delete this file; the point is computed again when the sweep resumes."


def read_sweep_file(path: Path) -> dict:
    """sweep.json of a sweep folder, with the types a resumed sweep relies on."""
    doc = read_json(path, RESUME_FIX)
    _expect(doc, path, {"theme": str, "engine": str, "config": dict, "grid": dict, "trials": int})
    for key in ("theme", "engine", "grid", "config"):
        if key not in doc:
            raise _bad(path, f"no '{key}' recorded", RESUME_FIX)
    return doc


def read_point(path: Path, check_id=None) -> dict:
    """One stored point record: id, index, params, engine, metrics (finite numbers or null), seconds."""
    doc = read_json(path, POINT_FIX)
    _expect(doc, path, {"id": str, "point": int, "params": dict, "engine": str, "metrics": dict,
                        "seconds": (int, float)})
    for key in ("id", "point", "params", "engine", "metrics", "seconds"):
        if key not in doc:
            raise _bad(path, f"no '{key}' in the point record", POINT_FIX)
    if not _POINT_ID.match(doc["id"]) or doc["point"] < 0:
        raise _bad(path, "the point's id or index is malformed", POINT_FIX)
    for name, value in doc["metrics"].items():
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            raise _bad(path, f"metric {str(name)[:40]!r} is {type(value).__name__}, not a number", POINT_FIX)
    if check_id is not None and check_id(doc["params"]) != doc["id"]:
        raise _bad(path, "its id does not match its parameters (edited, or from another sweep)", POINT_FIX)
    return doc
