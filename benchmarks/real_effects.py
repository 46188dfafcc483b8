"""How much each execution rule moves the shipped themes' answer on real Tokyo prices.

    python benchmarks/real_effects.py --data ../shared/data/real            # prints a markdown table
    python benchmarks/real_effects.py --data DIR --themebt OTHER/bin/themebt --only before

Runs every config in configs/ through `themebt run` (no tear sheet) on a folder of real CSV prices
from 2016-02-05, once per variant, each variant switching on one more rule than the one before:

  start     the opening portfolio at the first close, no future prices; every event waits for a close,
            no volume cap, no impact
  +open     news known before an open trades at that open
  +cap      fills at most 10% of the session's volume
  +impact   square-root market impact (= the shipped defaults)
  monthly   the defaults, with the targets restored on the first session of each month

`--only before` runs the configs unchanged with another installation's `themebt` (for example an
older checkout) to give the column the rules are compared with. The real prices are never copied
into the repository; the folder is read where it is.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
START, END = "2016-02-05", "2025-12-30"
VARIANTS = {
    "start": {"news_at_open": False, "max_participation": None, "impact_coefficient": 0},
    "+open": {"news_at_open": True, "max_participation": None, "impact_coefficient": 0},
    "+cap": {"news_at_open": True, "impact_coefficient": 0},
    "+impact": {},
    "monthly": {"rebalance": "monthly"},
}


def run_one(themebt: str, config: Path, data: str, out: Path) -> dict:
    cmd = [themebt, "run", str(config), "--data", f"csv:{data}", "--start", START, "--end", END,
           "--no-tearsheet", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1]}
    folder = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))[-1]
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    out_metrics = {"excess_cagr": metrics["relative"]["excess_cagr"], "cagr": metrics["strategy"]["cagr"]}
    capacity = metrics.get("capacity") or {}
    out_metrics["largest_requested_participation"] = capacity.get("largest_requested_participation")
    out_metrics["cash_weight_mean"] = metrics.get("cash_weight_mean")
    return out_metrics


def variant_config(config: Path, changes: dict, folder: Path) -> Path:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw.setdefault("execution", {}).update(changes)
    path = folder / config.name
    path.write_text(yaml.safe_dump(raw, sort_keys=True), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of real CSV prices (see docs/real_data.md)")
    parser.add_argument("--themebt", default=str(Path(sys.executable).with_name("themebt")))
    parser.add_argument("--only", choices=["before", "variants"], default="variants")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    configs = sorted((REPO / "configs").glob("*.yaml"))
    table: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for config in configs:
            row = table.setdefault(config.stem, {})
            if args.only == "before":
                out = tmp / config.stem / "before"
                out.mkdir(parents=True)
                row["before"] = run_one(args.themebt, config, args.data, out)
                continue
            for name, changes in VARIANTS.items():
                folder = tmp / config.stem / name.strip("+")
                folder.mkdir(parents=True)
                path = variant_config(config, changes, folder)
                row[name] = run_one(args.themebt, path, args.data, folder / "out")
            print(config.stem, {k: v.get("excess_cagr") for k, v in row.items()}, file=sys.stderr, flush=True)
    if args.json:
        args.json.write_text(json.dumps(table, indent=1, sort_keys=True), encoding="utf-8")
    columns = ["before"] if args.only == "before" else list(VARIANTS)
    print("| theme | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for theme, row in table.items():
        cells = []
        for c in columns:
            m = row.get(c, {})
            cells.append(m["error"][:40] if "error" in m else f"{m['excess_cagr'] * 100:+.2f}%")
        print(f"| {theme} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
