"""Shared CLI plumbing: user errors exit with code 2 and one message, never a traceback."""

from __future__ import annotations

import datetime as dt
import functools

import click

from backtest.errors import ThemebtError

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
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD") from None


def data_options(func):
    """--data, --start and --end alone, for commands that read prices but run no portfolio (study)."""
    return _apply(func, _DATA_OPTIONS[:3])


def data_and_period_options(func):
    """--data, --start, --end and --clamp, taken the same way by every command that runs a config."""
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
)
