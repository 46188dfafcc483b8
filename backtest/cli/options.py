"""Shared CLI plumbing: user errors exit with code 2 and one message, never a traceback."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import re
import signal
import sys

import click

from backtest.errors import ThemebtError

ISO_DATE = re.compile(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class UserError(click.ClickException):
    exit_code = 2


def user_errors(func):
    """Turn a ThemebtError raised inside a command into 'Error: <message>' and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ThemebtError as exc:
            raise UserError(str(exc)) from None

    return wrapper


def iso_date(ctx, param, value):
    """click callback: an ISO date (YYYY-MM-DD) or None."""
    if value is None:
        return None
    # date.fromisoformat also takes 20240104 and 2024-W01-1; the help promises YYYY-MM-DD, and only that
    try:
        if not ISO_DATE.match(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value[:40]!r} is not a date; write YYYY-MM-DD") from None


def data_options(func):
    """--data, --start and --end alone, for commands that read prices but run no portfolio (study)."""
    return _apply(func, _DATA_OPTIONS[:3])


def data_and_period_options(func):
    """--data, --start, --end, --clamp and --allow-gaps, taken the same way by every command that runs a config."""
    return _apply(func, _DATA_OPTIONS)


def _apply(func, options):
    # click lists options in the order their decorators are written, i.e. the reverse of application
    for option in reversed(options):
        func = option(func)
    return func


_DATA_OPTIONS = (
    click.option("--data", "data_option", metavar="demo|csv:PATH|store[:PATH]", default=None,
                 help="Price source; overrides the config's data section.  [default: the config's, demo if unset]"),
    click.option("--start", callback=iso_date, metavar="YYYY-MM-DD", help="First session; overrides period.start."),
    click.option("--end", callback=iso_date, metavar="YYYY-MM-DD", help="Last session; overrides period.end."),
    click.option("--clamp", is_flag=True, default=False,
                 help="Where the data of an instrument does not cover the whole period, run on the span they all "
                      "cover (said in the summary and manifest.json) instead of stopping.  [config: period.clamp]"),
    click.option("--allow-gaps", is_flag=True, default=False,
                 help="Run even when an event family the theme reads misses releases in the period (said in the "
                      "summary and manifest.json) instead of stopping.  [config: events.allow_gaps]"),
)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so every `finally` and clean-up runs as for Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def catch_stop_signals():
    """While the block runs, SIGTERM and SIGHUP raise Terminated; the previous handlers come back after."""

    def stop(signum, frame):
        raise Terminated(signum)

    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, stop)
    except ValueError:  # not the main thread: signals cannot be caught here
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def stdout_problem() -> str | None:
    """Why standard output cannot take themebt's output (closed, or not open at start), else None."""
    stream = sys.stdout
    if stream is None:
        return "is closed"
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return None  # not a real file (tests capture it): nothing to check
    try:
        os.fstat(fd)
    except OSError:
        return "is closed"
    return None


class Progress:
    """The one progress bar of every long step (sweep points, their re-runs, walk-forward folds, fetches):
    tqdm on stderr, or one line a step where tqdm is missing. Opened at the first step, so a step that
    never comes draws nothing."""

    def __init__(self, desc: str, unit: str, initial: int = 0):
        self.desc, self.unit, self.initial = desc, unit, initial
        self.bar = None
        self.opened = False

    def open(self, total: int) -> None:
        if self.opened:
            return
        self.opened, self.total = True, total
        try:
            from tqdm import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, initial=self.initial, unit=self.unit, desc=self.desc, file=sys.stderr,
                        dynamic_ncols=True)

    def step(self, done: int, total: int, note: str = "") -> None:
        self.open(total)
        if self.bar is not None:
            self.bar.update(done - self.bar.n if done > self.bar.n else 0)
            if note:
                self.bar.set_postfix_str(note, refresh=True)
        elif done:
            click.echo(f"{self.desc}: {done}/{total} {self.unit}s" + (f" ({note})" if note else ""), err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def spec_and_grid(config, data_option, start, end, clamp: bool, grids, allow_gaps: bool = False):
    """The config with the command's overrides and its parsed --grid, for sweep and walkforward; with
    --clamp, the span the run is cut to is said on stderr before anything runs."""
    from backtest.cli.main import _with_overrides
    from backtest.research.sweep import parse_grid

    if not grids:
        raise click.UsageError("give at least one --grid PARAM=V1,V2,...")
    spec = _with_overrides(config, data_option, start, end, clamp, allow_gaps)
    grid = parse_grid(grids, spec)
    if clamp:
        from backtest.research.run import period_line
        from backtest.research.sweep import load_inputs

        line = period_line(load_inputs(spec)[0].period, record=None)
        if line:
            click.echo(line, err=True)
    return spec, grid
