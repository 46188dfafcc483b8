"""benchmarks/run.py writes a new results file unless --out names one, never the tracked results.md by default."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json

from tests.conftest import REPO


def _bench(monkeypatch, root):
    spec = importlib.util.spec_from_file_location("themebt_bench_run", REPO / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "REPO", root)
    monkeypatch.setattr(module, "render", lambda report: f"rendered {report['total_s']}\n")
    return module


def test_default_output_is_a_new_timestamped_file(tmp_path, monkeypatch):
    bench = _bench(monkeypatch, tmp_path)
    (tmp_path / "benchmarks").mkdir()
    tracked = tmp_path / "benchmarks" / "results.md"
    tracked.write_text("tracked\n")
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps({"total_s": 1}))
    bench.main(["--render", str(raw)])
    bench.main(["--render", str(raw)])
    assert tracked.read_text() == "tracked\n"
    made = sorted(p.name for p in (tmp_path / "benchmarks").glob("results-*.md"))
    assert len(made) == 2 and all((tmp_path / "benchmarks" / m).read_text() == "rendered 1\n" for m in made)
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    assert bench.default_out(now).name == "results-20260102T030405Z.md"
    # asked for, the tracked file is replaced
    bench.main(["--render", str(raw), "--out", str(tracked)])
    assert tracked.read_text() == "rendered 1\n"
