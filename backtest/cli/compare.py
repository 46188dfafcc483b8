"""`themebt compare`: finished runs side by side against the benchmark, in the terminal and in compare.html."""

from __future__ import annotations

from pathlib import Path

import click

from backtest.cli.options import CONTEXT, user_errors


@click.command("compare", context_settings=CONTEXT)
@click.argument("runs", nargs=-1, metavar="RUN...")
@click.option("--results", "results_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Folder in which run ids are looked up, and --latest looks.")
@click.option("--latest", type=click.IntRange(min=1), default=None, metavar="N",
              help="Also compare the N newest runs under --results.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="New folder for compare.html, compare.csv, compare.json and quantstats.html; never "
                   "overwritten.  [default: <results>/compare-<UTC time>-<hex>/]")
@click.option("--open", "open_page", is_flag=True, help="Open compare.html in the browser when it is written.")
@click.option("--trials", type=click.IntRange(min=1), default=None, metavar="N",
              help="Trials behind each run's Deflated Sharpe Ratio: every configuration tried. Needs "
                   "--trials-reason.  [default: the trials of the run's theme on the same data and period in "
                   "the trial ledger, <results>/ledger.jsonl]")
@click.option("--trials-reason", default=None, metavar="TEXT",
              help="Where the --trials count comes from (shown on the page and in compare.json).")
@click.option("--block-sessions", type=click.IntRange(min=1), default=21, show_default=True,
              help="Block length of the bootstrap of excess return, in sessions.")
@click.option("--bootstrap-samples", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples (seeded: the same runs give the same interval).")
@click.option("--no-quantstats", is_flag=True, help="Skip quantstats' multi-strategy report (about 2 s per run).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="With 2 or more: quantstats' per-run charts are drawn in a local process, started at once (its "
                   "imports warmed), while this one compares the runs and draws and writes the rest; the same files.")
@user_errors
def command(runs, results_dir, latest, out, open_page, trials, trials_reason, block_sessions, bootstrap_samples,
            no_quantstats, jobs):
    """Compare finished runs against TOPIX: a metrics table, compare.html, compare.csv and compare.json.

    RUN is a run folder, or a run id under --results. Runs on different sessions are compared on the
    sessions they share, with a warning.

    \b
    Example:
      themebt run --all configs/
      themebt compare --latest 7
      themebt compare results/20261125T093012-boj_rotation-3f2a results/20261125T093013-equal_weight-1b2c
      themebt compare 20261125T093012-boj_rotation-3f2a --trials 40 \
          --trials-reason "40 configurations tried in a notebook" --open
      themebt compare --latest 7 --jobs 2
    """
    from backtest import api
    from backtest.report.compare import resolve_run_folders
    from backtest.report.compare_page import PAGE, default_out
    from backtest.data import SYNTHETIC_LABEL
    from backtest.research.workers import LocalPool

    if not runs and not latest:
        raise click.UsageError("give one or more RUN folders or run ids, or --latest N")
    if trials is not None and not (trials_reason or "").strip():
        raise click.UsageError("--trials needs --trials-reason: say where the count comes from")
    if trials_reason is not None and trials is None:
        raise click.UsageError("--trials-reason is only used with --trials N")
    # with --jobs 2, a worker starts now (importing quantstats while the runs are compared) and draws the per-run charts
    with LocalPool(1, charts=True) as pool:
        if jobs > 1 and not no_quantstats:
            pool.start()
        compared = api.compare(resolve_run_folders(runs, results_dir, latest), out=out or default_out(results_dir),
                               trials=trials, trials_reason=trials_reason, block_sessions=block_sessions,
                               bootstrap_samples=bootstrap_samples, quantstats=not no_quantstats,
                               results_dir=results_dir, pool=pool if jobs > 1 and not no_quantstats else None)
    for line in compared.warnings:
        click.echo(f"warning: {line}", err=True)
    if compared.synthetic:
        click.echo(SYNTHETIC_LABEL)
    click.echo(compared.text)
    click.echo(f"{compared.folder}/")
    click.echo(f"{compared.folder / PAGE}")
    if open_page:
        click.launch(str(compared.folder / PAGE))
