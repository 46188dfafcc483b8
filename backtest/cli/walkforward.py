"""`themebt walkforward`: parameters chosen on each training window, traded on the next, stitched into one tear sheet."""

from __future__ import annotations

from pathlib import Path

import click

from backtest.cli.options import CONTEXT, data_and_period_options, spec_and_grid, user_errors


@click.command("walkforward", context_settings=CONTEXT)
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--grid", "grids", multiple=True, metavar="PARAM=V1,V2,...",
              help="A parameter and its values; repeat for more parameters. A list value joins items with '+'.")
@click.option("--train", default="5y", show_default=True, help="Training window: whole years (5y) or months (18m).")
@click.option("--test", default="1y", show_default=True, help="Test window, and the step between folds.")
@click.option("--engine", type=click.Choice(["fast", "backtrader"]), default="fast", show_default=True,
              help="Engine that scores the grid on each training window; test windows always run on backtrader.")
@click.option("--rank-by", default="sharpe", show_default=True, help="In-sample metric that chooses the parameters.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Local worker processes for each fold's grid.")
@click.option("--cluster", metavar="ADDRESS", default=None, help="Score each fold's grid on this Dask scheduler.")
@data_and_period_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the new walkforward-<UTC time>-<theme>-<hex>/ folder.")
@click.option("--no-tearsheet", is_flag=True, help="Skip the quantstats HTML.")
@user_errors
def command(config, grids, train, test, engine, rank_by, jobs, cluster, data_option, start, end, clamp, allow_gaps, out,
            no_tearsheet):
    """Choose parameters on rolling training windows and report the stitched out-of-sample result.

    Prints each fold's choice with its in-sample and out-of-sample Sharpe side by side, and writes
    returns.csv, folds.csv, metrics.json and a tear sheet of the out-of-sample returns against TOPIX.

    \b
    Example:
      themebt walkforward configs/boj_rotation.yaml --grid holding_sessions=20,60,120 --train 5y --test 1y
      themebt walkforward configs/equal_weight.yaml --grid rebalance_months=1,3,12 --train 3y --test 1y
    """
    from backtest.cli.main import _command_line
    from backtest.data import SYNTHETIC_LABEL
    from backtest.research.walkforward import format_folds, walk_forward, write_walkforward

    spec, grid = spec_and_grid(config, data_option, start, end, clamp, grids, allow_gaps)

    from backtest.cli.options import Progress

    folds = Progress("walk-forward", "fold")
    try:
        wf = walk_forward(spec, grid, train=train, test=test, engine=engine, rank_by=rank_by, jobs=jobs,
                          cluster=cluster, on_fold=lambda done, total, row: folds.step(
                              done, total, f"test {row['test_start']} to {row['test_end']}"))
    finally:
        folds.close()
    folder = write_walkforward(wf, out, spec, grid, command=_command_line(), tearsheet=not no_tearsheet)
    if wf.synthetic:
        click.echo(SYNTHETIC_LABEL)
    click.echo(f"{folder}/")
    click.echo(format_folds(wf))
    from backtest.research.run import event_gap_lines

    for line in event_gap_lines(wf.event_gaps, f"{folder.name}/walkforward.json event_gaps"):
        click.echo(line)
