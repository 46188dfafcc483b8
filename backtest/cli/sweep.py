"""`themebt sweep`: a grid of theme parameters, in parallel, resumable, with the best points re-run on backtrader."""

from __future__ import annotations

import os
from pathlib import Path

import click

from backtest.cli.options import CONTEXT, Progress, data_and_period_options, spec_and_grid, user_errors


@click.command("sweep", context_settings=CONTEXT)
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, metavar="PARAM=V1,V2,...",
              help="A parameter and its values; repeat for more parameters. A list value joins items with '+'.")
@click.option("--engine", type=click.Choice(["fast", "backtrader"]), default="fast", show_default=True,
              help="fast: the numpy screening engine; backtrader: the engine of record for every point.")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local worker processes.  [default: the number of cores]")
@click.option("--cluster", metavar="ADDRESS", default=None,
              help="Run the points on this Dask scheduler (e.g. tcp://127.0.0.1:8786) instead of local processes.")
@click.option("--resume", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Carry on an interrupted sweep in this folder; finished points are not run again.")
@click.option("--top", type=click.IntRange(min=0), default=3, show_default=True,
              help="Re-run the best N points on backtrader with full tear sheets (0: none).")
@click.option("--rank-by", default="sharpe", show_default=True, help="Metric that picks the top points.")
@data_and_period_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the new sweep-<UTC time>-<theme>-<hex>/ folder.")
@click.option("--no-tearsheet", is_flag=True, help="Re-run the top points without the quantstats HTML.")
@user_errors
def command(config, grids, engine, jobs, cluster, resume, top, rank_by, data_option, start, end, clamp, allow_gaps, out,
            no_tearsheet):
    """Run a theme over a grid of parameters and write one results table.

    Each point's metrics go to results.csv with the number of trials, so the Deflated Sharpe Ratio
    can be computed (the table has it). Interrupted sweeps resume with --resume FOLDER.

    \b
    Example:
      themebt sweep configs/boj_rotation.yaml --grid holding_sessions=20,60,120
      themebt sweep configs/robotics_reindustrialization.yaml --grid holding_sessions=60,120 \\
          --grid overweight=0.2,0.3,0.5 --jobs 2 --top 1
      themebt sweep configs/boj_rotation.yaml --grid holding_sessions=20,60 --cluster tcp://127.0.0.1:8786
      themebt sweep configs/boj_rotation.yaml --grid holding_sessions=20,60,120 --resume results/sweep-...
    """
    from backtest.cli.main import _command_line
    from backtest import api
    from backtest.research.sweep import points

    spec, grid = spec_and_grid(config, data_option, start, end, clamp, grids, allow_gaps)
    if spec.data.kind == "demo":
        from backtest.data import SYNTHETIC_LABEL

        click.echo(SYNTHETIC_LABEL)
    total = len(points(grid))
    already = 0
    if resume is not None:
        from backtest.research.sweep import SWEEP_FILE, finished
        from backtest.results.readback import read_sweep_file

        if not (resume / SWEEP_FILE).exists():
            from backtest.errors import ConfigError

            raise ConfigError(file=str(resume), field="--resume", problem="not a sweep folder (no sweep.json)",
                              fix="Give a folder that `themebt sweep` created.")
        read_sweep_file(resume / SWEEP_FILE)  # read back as untrusted input before anything else
        already = len(finished(resume))
    progress = Progress("sweep", "point", initial=already)
    reruns = Progress("best points on backtrader", "run")

    def rerun(done: int, total_runs: int) -> None:
        progress.close()  # the grid is done: its bar ends before the re-runs' starts
        reruns.step(done, total_runs)

    where = {}

    def announce(folder):
        where["folder"] = folder
        click.echo(f"{folder}/")

    try:
        outcome = api.sweep(spec, grid, out_dir=out, engine=engine, jobs=jobs or os.cpu_count() or 1,
                            cluster=cluster, resume=resume, top=top, rank_by=rank_by, tearsheets=not no_tearsheet,
                            on_point=lambda done, total_, record: progress.step(done, total_),
                            on_folder=announce, on_top=rerun,
                            command=_command_line())
    except KeyboardInterrupt as exc:
        hint = (f"finished points are stored. Carry on with the same command and --resume "
                f"{where.get('folder', '<the sweep folder>')}")
        from backtest.cli.options import Terminated

        if isinstance(exc, Terminated):  # SIGTERM/SIGHUP: the shell's exit code for the signal, and the hint
            click.echo(hint, err=True)
            raise
        raise click.ClickException(f"interrupted; {hint}") from None
    finally:
        # an open bar writes again when collected, after the error message and onto a closed stream
        progress.close()
        reruns.close()
    table = outcome["table"]
    click.echo(f"{len(outcome['computed'])} points run, {len(outcome['skipped'])} already done, "
               f"{total} trials ({engine} engine)")
    from backtest.research.run import event_gap_lines

    for line in event_gap_lines(outcome.get("event_gaps") or [], f"{outcome['folder'].name}/event_gaps.json"):
        click.echo(line)
    if len(table):
        shown = [c for c in table.columns if c.startswith("param_")] + ["cagr", "sharpe", "max_drawdown",
                                                                        "excess_cagr", "dsr"]
        best = table.sort_values(rank_by, ascending=False, na_position="last")[shown].head(10)
        click.echo(format_best(best))
    for folder in outcome["top"]:
        click.echo(f"top: {folder}/")


def format_best(best) -> str:
    """The best points: parameters as given, metrics to four decimals; numbers line up on the right."""
    from backtest.report.text_table import frame_table

    return frame_table(best, decimals=4)
