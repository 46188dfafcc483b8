"""Helpers for the source tests: recorded responses from fixtures/, and HTTP clients that never really sleep."""

from __future__ import annotations

from pathlib import Path

import pytest

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
