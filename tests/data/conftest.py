"""Helpers for the source tests: recorded responses from fixtures/, and HTTP clients that never really sleep."""

from __future__ import annotations

from pathlib import Path

import pytest

from click.testing import CliRunner

from backtest.cli.main import main
from backtest.data.http import HttpClient

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.fixture
def no_sleep():
    """A client factory whose waits are recorded in client.waits instead of slept."""

    def make(source: str = "test", **options) -> HttpClient:
        slept: list[float] = []
        return HttpClient(source, sleep=slept.append, clock=lambda: 0.0, **options)

    return make


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    """No J-Quants key, login or store from the environment, and no credentials file: each test brings its own."""
    for name in ("JQUANTS_API_KEY", "JQUANTS_REFRESH_TOKEN", "JQUANTS_MAIL_ADDRESS", "JQUANTS_PASSWORD", "THEMEBT_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THEMEBT_CREDENTIALS", str(tmp_path / "no-credentials.toml"))


def invoke(*args, env=None):
    """themebt with these arguments, in process."""
    return CliRunner().invoke(main, [str(a) for a in args], env=env)
