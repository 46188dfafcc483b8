"""The themebt command line: the only module that prints or exits."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from backtest import __version__
from backtest.cli.options import CONTEXT, data_and_period_options, user_errors
from backtest.errors import ConfigError


class ThemebtGroup(click.Group):
    """Ctrl-C ends a command with the shell's conventional exit code 130 instead of click's 1; SIGTERM and
    SIGHUP stop it the same way (128 + the signal's number), so temporary folders are removed for all three.
    A closed or full standard output is one clear error, not a traceback."""

    def invoke(self, ctx):
        from backtest.cli.options import Terminated, catch_stop_signals, stdout_problem

        problem = stdout_problem()
        if problem:
            click.echo(f"Error: standard output {problem}. Run themebt with its output going to a terminal, "
                       "a file (> out.txt) or a pipe.", err=True)
            ctx.exit(2)
        try:
            with catch_stop_signals():
                return super().invoke(ctx)
        except Terminated as exc:
            click.echo(f"\nstopped by {exc.name}", err=True)
            ctx.exit(128 + exc.signum)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(130)
        except OSError as exc:
            if not stdout_failed(exc):
                raise
            click.echo(f"Error: cannot write to standard output ({exc.strerror or type(exc).__name__}). "
                       "Send the output to a terminal, a file or a pipe that can take it.", err=True)
            ctx.exit(2)


def stdout_failed(exc: OSError) -> bool:
    """After an OSError: was it standard output that failed? If so, point it at /dev/null for the exit."""
    import os

    tb, echoed = exc.__traceback__, False
    while tb is not None:  # raised by click.echo (every line themebt prints goes through it)
        code = tb.tb_frame.f_code
        echoed |= code.co_name == "echo" and code.co_filename.replace("\\", "/").endswith("click/utils.py")
        tb = tb.tb_next
    if not echoed and not isinstance(exc, BrokenPipeError):
        return False
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return True


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
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --all: run this many configs at once in local processes, each with its tear sheet "
                   "(the same results as --jobs 1).")
@click.option("--timings", is_flag=True, help="Print each phase's time: load, plan, engine, metrics, write, tear sheet.")
@user_errors
def run(config, all_dir, data_option, start, end, clamp, allow_gaps, out, no_tearsheet, strict, jobs, timings):
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
      themebt run --all configs/ --jobs 2
      themebt run configs/boj_rotation.yaml --timings
    """
    from backtest import api
    from backtest.research.workers import LocalPool, useful_workers
    from backtest.results.folder import check_writable

    if (config is None) == (all_dir is None):
        raise click.UsageError("give one CONFIG file, or --all FOLDER")
    configs = [config] if config is not None else sorted(all_dir.glob("*.yaml"))
    if not configs:
        raise ConfigError(file=str(all_dir), field="(folder)", problem="no *.yaml configs here",
                          fix="Point --all at a folder of theme configs, e.g. configs/.")
    specs = [_with_overrides(path, data_option, start, end, clamp, allow_gaps) for path in configs]
    check_writable(out)  # before minutes of computing, not after
    if jobs > 1 and len(specs) > 1:
        # whole runs in the workers; their ledger lines are appended here, in the configs' order
        from backtest.results import ledger as trials

        pool = LocalPool(useful_workers(jobs, len(specs)))
        tasks = [(spec, out, not no_tearsheet, _command_line(), strict) for spec in specs]

        def written():
            for result, entry in pool.ordered(api.run_and_write, tasks):
                note = trials.try_append(out, [entry])
                yield result, [note] if note else []
    else:
        # one worker draws each tear sheet (its imports warmed while the run computes) beside the other files
        pool = LocalPool(1, charts=not no_tearsheet)

        def written():
            for spec in specs:
                drawer = None if no_tearsheet else pool.start()
                result = api.run(spec, strict=strict)
                result.write(out, tearsheet=not no_tearsheet, command=_command_line(), pool=drawer)
                yield result, []
    with pool:
        for result, notes in written():
            for line in result.summary_lines(folder=True, warnings=False):
                click.echo(line)
            for line in [*result.warnings, *notes]:
                click.echo(f"warning: {line}", err=True)
            if timings:
                phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.timings.items())
                click.echo(f"timings: {phases}")


def _with_overrides(config: Path, data_option, start, end, clamp: bool = False, allow_gaps: bool = False):
    """The config with --data, --start, --end, --clamp and --allow-gaps applied: the API's own spec_with."""
    from backtest.api import spec_with

    return spec_with(config, data_option, start, end, clamp, where="--start/--end", allow_gaps=allow_gaps)


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

    from backtest.report.text_table import Column, table_lines

    themes = discover()
    rows = []
    for key, cls in themes.items():
        config = Path("configs") / f"{key}.yaml"
        rows.append((key, cls.__name__, str(config) if config.exists() else "(no config in configs/)"))
    columns = [Column(min_width=28), Column(min_width=28), Column()]
    for line, cls in zip(table_lines(columns, rows, gap=" ", header=False), themes.values()):
        click.echo(line)
        click.echo(f"  {cls.summary()}")


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="The results folder to clean.")
@click.option("--older-than-hours", type=click.FloatRange(min=0), default=0, show_default=True,
              help="Only remove temporary folders untouched for this long.")
@user_errors
def clean(out, older_than_hours):
    """Remove the hidden .tmp-* folders (and sweeps' .tmp-* files) that killed runs left in a results folder.

    A folder that a running themebt is still writing is locked and never removed. Runs remove such
    leftovers themselves once they are a day old.

    \b
    Example:
      themebt clean
      themebt clean --out results --older-than-hours 1
    """
    from backtest.errors import ResultsError
    from backtest.results.folder import clean_temps

    if not out.is_dir():
        raise ResultsError(path=str(out), problem="no such results folder", fix="Give the folder passed as --out to runs.")
    removed = clean_temps(out, older_than_s=older_than_hours * 3600)
    from backtest.safeio import TEMP_FILE

    for path in removed:
        click.echo(f"removed {path}" + ("" if TEMP_FILE.match(path.name) else "/"))
    click.echo(f"{len(removed)} temporary folder(s) removed")


def _add_command_modules() -> None:
    """Attach the `command` of every module beside this one, so a new command is one new file."""
    import importlib
    import pkgutil

    folder = str(Path(__file__).parent)
    for module in sorted(pkgutil.iter_modules([folder]), key=lambda m: m.name):
        if module.name in ("main", "options"):
            continue
        command = getattr(importlib.import_module(f"{__package__}.{module.name}"), "command", None)
        if command is not None:
            main.add_command(command)


_add_command_modules()

if __name__ == "__main__":  # pragma: no cover
    main()
