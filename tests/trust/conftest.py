"""Helpers for the trust tests: `themebt run` as a real process, and run folders checked against their manifest."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

THEMEBT = Path(sys.executable).with_name("themebt")
PERIOD = ["--start", "2024-01-04", "--end", "2024-06-28"]
# Credentials themebt may find in a user's environment; none may reach a results folder or a message.
FAKE_SECRETS = {
    "JQUANTS_API_KEY": "fake-api-key-5b1e9c0d7a",
    "JQUANTS_REFRESH_TOKEN": "fake-refresh-token-0c44e1",
    "JQUANTS_MAIL_ADDRESS": "fake.user.93d1@example.com",
    "JQUANTS_PASSWORD": "fake-password-7f3a2b",
}


def run_args(config: Path, out: Path, *extra: str) -> list[str]:
    return [str(THEMEBT), "run", str(config), *PERIOD, "--no-tearsheet", "--out", str(out), *extra]


def start(args: list[str], **env: str) -> subprocess.Popen:
    """Start themebt with Ctrl-C handling as in a terminal, whatever the test runner did to SIGINT."""
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def run_folders(out: Path) -> list[Path]:
    # ledger.jsonl (the trial ledger) sits beside the run folders
    return sorted(p for p in out.iterdir() if not p.name.startswith(".") and p.is_dir()) if out.exists() else []


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under a folder, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_complete(folder: Path) -> None:
    """A run folder is complete when its manifest exists and every file it lists has the recorded hash."""
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run_id"] == folder.name
    assert {"returns.csv", "trades.csv", "metrics.json", "config.yaml"} <= set(manifest["files"])
    files = snapshot(folder)
    for name, digest in manifest["files"].items():
        assert files.get(name) == digest, f"{folder.name}/{name} differs from its manifest"


@pytest.fixture(scope="session")
def demo_config(tmp_path_factory) -> Path:
    config = tmp_path_factory.mktemp("config") / "boj.yaml"
    config.write_text("theme: boj_rotation\n")
    return config
