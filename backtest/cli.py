"""The themebt command line: the only module that prints or exits."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import click

from backtest import __version__
from backtest.clikit import CONTEXT, data_and_period_options, user_errors
from backtest.errors import ConfigError


class ThemebtGroup(click.Group):
    """Ctrl-C ends a command with the shell's conventional exit code 130 instead of click's 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)


@click.group(cls=ThemebtGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="themebt")
def main():
    """Backtest Japanese equity theme portfolios against TOPIX.

    \b
    Example:
      themebt themes
      themebt run configs/boj_rotation.yaml
    """


@main.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--all", "all_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run every *.yaml config in this folder, one results folder each.")
@data_and_period_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the new run folder.")
@click.option("--no-tearsheet", is_flag=True, help="Skip the quantstats HTML (faster).")
@click.option("--strict", is_flag=True,
              help="Treat every warning (data gaps, stale prices, suspected splits, ...) as an error: exit 2, write nothing.")
@user_errors
def run(config, all_dir, data_option, start, end, clamp, out, no_tearsheet, strict):
    """Backtest one theme config and write a new results/<run-id>/ folder.

    Decisions are taken at a session's close and filled at the next session's open, in whole
    trading units (100 shares for stocks), in JPY. The config's execution section switches the
    Tokyo rules, each on by default: execution.ticks (TSE tick grid), execution.price_limits and
    execution.limit_action carry|cancel (daily limits), execution.costs.preset zero|tiered|percent
    with half_spread_bps and impact_bps; the top-level basis: price|total sets the return basis.
    See docs/execution.md.

    \b
    Example:
      themebt run configs/boj_rotation.yaml
      themebt run configs/boj_rotation.yaml --start 2015-01-05 --end 2024-12-30
      themebt run configs/boj_rotation.yaml --data csv:../my_prices --strict
      themebt run configs/boj_rotation.yaml --data csv:../my_prices --clamp
      themebt run --all configs/
    """
    from backtest.run import execute_run

    if (config is None) == (all_dir is None):
        raise click.UsageError("give one CONFIG file, or --all FOLDER")
    configs = [config] if config is not None else sorted(all_dir.glob("*.yaml"))
    if not configs:
        raise ConfigError(file=str(all_dir), field="(folder)", problem="no *.yaml configs here",
                          fix="Point --all at a folder of theme configs, e.g. configs/.")
    specs = [_with_overrides(path, data_option, start, end, clamp) for path in configs]
    for spec in specs:
        outcome = execute_run(spec, out, tearsheet=not no_tearsheet, command=_command_line(), strict=strict)
        if outcome.synthetic:
            click.echo(outcome.synthetic_label)
        click.echo(f"{outcome.folder}/")
        click.echo(outcome.table)
        click.echo(outcome.execution_note)
        if outcome.survivorship:
            click.echo(outcome.survivorship)
        for line in outcome.warnings:
            click.echo(f"warning: {line}", err=True)


def _with_overrides(config: Path, data_option, start, end, clamp: bool = False):
    from backtest.config import load_config
    from backtest.data import parse_data_option

    spec = load_config(config)
    changes = {}
    if data_option is not None:
        changes["data"] = parse_data_option(data_option, spec.data.files)
    if start is not None:
        changes["start"] = start
    if end is not None:
        changes["end"] = end
    if clamp:
        changes["clamp"] = True
    spec = dataclasses.replace(spec, **changes)
    if spec.start and spec.end and spec.end < spec.start:
        raise ConfigError(file="--start/--end", field="period", problem=f"end {spec.end} is before start {spec.start}",
                          fix="Swap the dates.")
    return spec


def _command_line() -> str:
    return " ".join(["themebt", *sys.argv[1:]])


@main.command()
@user_errors
def themes():
    """List every registered theme with its one-line idea and its config.

    \b
    Example:
      themebt themes
    """
    from strategies import discover

    for key, cls in discover().items():
        config = Path("configs") / f"{key}.yaml"
        shown = str(config) if config.exists() else "(no config in configs/)"
        click.echo(f"{key:<28} {cls.__name__:<28} {shown}")
        click.echo(f"  {cls.summary()}")


def _add_command_modules() -> None:
    """Attach the `command` of every module in backtest/commands/, so a new command is one new file."""
    import importlib
    import pkgutil

    import backtest.commands as package

    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        command = getattr(importlib.import_module(f"backtest.commands.{module.name}"), "command", None)
        if command is not None:
            main.add_command(command)


_add_command_modules()

if __name__ == "__main__":  # pragma: no cover
    main()
