"""Help texts and documented commands use paths a user has, not this repository's sibling checkout."""

from __future__ import annotations

import click

from backtest.cli.main import main
from tests.conftest import REPO


def _helps(command: click.Command, ctx: click.Context):
    yield command.name, command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _helps(sub, click.Context(sub, info_name=name, parent=ctx))


def test_no_help_text_names_the_shared_folder():
    ctx = click.Context(main, info_name="themebt")
    found = [name for name, text in _helps(main, ctx) if "../shared" in text]
    assert not found, f"help of {found} shows ../shared/...; use a placeholder such as path/to/prices"


def test_no_documented_command_names_the_shared_folder():
    docs = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "README.md"]
    bad = [f"{p.name}: {line.strip()}" for p in docs for line in p.read_text(encoding="utf-8").splitlines()
           if line.lstrip().startswith("themebt ") and "../shared" in line]
    assert not bad, bad
