"""`themebt events`: list the dated events the themes trigger on, shipped and the user's own."""

from __future__ import annotations

import math
from pathlib import Path

import click
import pandas as pd

from backtest.cli.options import CONTEXT, iso_date, user_errors
from backtest.report.text_table import Column, table_lines

DESCRIPTION_WIDTH = 60


@click.command("events", context_settings=CONTEXT)
@click.option("--family", "families", multiple=True, metavar="NAME",
              help="Only this event family (boj, shunto, wages, us_policy, governance, election, or your own); "
                   "repeat for several.")
@click.option("--kind", "kinds", multiple=True, metavar="NAME",
              help="Only this kind of event, e.g. hike; repeat for several.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also read every *.csv event file in this folder (as a config's events.folder does), and its "
                   "frequency.yaml if it has one.")
@click.option("--check", is_flag=True,
              help="Instead of the events, show each family's expected frequency and the releases missing over "
                   "the period (--start, --end): what a run reading the family would refuse.")
@click.option("--start", callback=iso_date, metavar="YYYY-MM-DD",
              help="With --check: the period's first day.  [default: each family's first expected release]")
@click.option("--end", callback=iso_date, metavar="YYYY-MM-DD",
              help="With --check: the period's last day.  [default: the date of the newest event in the calendar]")
@user_errors
def command(families, kinds, folder, check, start, end):
    """List the event calendar: when each event happened, when it was public, and when a backtest first trades it.

    News known at or before a session's 09:00 open (overnight, after the previous close) trades at
    that open; news known during a session is decided at its close and trades at the next open.
    The first_trade column gives that session.

    \b
    Example:
      themebt events
      themebt events --family boj --kind hike
      themebt events --family wages --folder my_events/
      themebt events --check --start 2005-01-04 --end 2025-12-30
    """
    from backtest.events.calendar import list_events, load_events

    calendar = load_events(folder)
    if check:
        if kinds:
            raise click.UsageError("--check takes --family, not --kind: a family's frequency counts its own kind")
        if start and end and end < start:
            raise click.BadParameter(f"{end} is before --start {start}", param_hint="--end")
        rows = calendar.completeness(start, end)
        if families:
            calendar.select(families)  # an unknown family is an error with a suggestion
            rows = [r for r in rows if r.family in families]
        click.echo(format_completeness(rows))
        return
    if start or end:
        raise click.UsageError("--start and --end go with --check")
    selected = calendar.select(families or None, kinds or None)
    click.echo(format_events(list_events(selected)))


def format_events(frame) -> str:
    """A fixed-width table of a list_events frame, one line per event, then the count."""
    rows = [
        (
            row.event_date.strftime("%Y-%m-%d"),
            row.known_at.strftime("%Y-%m-%d %H:%M"),
            "" if pd.isna(row.first_trade) else row.first_trade.strftime("%Y-%m-%d"),
            row.family,
            row.kind,
            "" if math.isnan(row.value) else f"{row.value:g}",
            "yes" if row.verified else "no",
            _truncate(row.description, DESCRIPTION_WIDTH),
        )
        for row in frame.itertuples()
    ]
    columns = [Column("event_date"), Column("known_at (JST)"), Column("first_trade"), Column("family"),
               Column("kind"), Column("value", "number"), Column("verified"), Column("description")]
    lines = table_lines(columns, rows)
    lines.append(f"{len(rows)} event{'s' if len(rows) != 1 else ''}")
    return "\n".join(lines)


def format_completeness(rows) -> str:
    """A fixed-width table of FamilyGaps: family, frequency, checked span, expected, missing, first missing."""
    table = []
    for gaps in rows:
        checked = gaps.frequency.checked
        span = f"{gaps.expected[0]} to {gaps.expected[-1]}" if gaps.expected else ("-" if checked else "")
        table.append((
            gaps.family,
            gaps.frequency.describe(),
            span,
            str(len(gaps.expected)) if checked else "",
            str(len(gaps.missing)) if checked else "",
            ("complete" if checked else "not checked") if not gaps.missing else gaps.missing_text(),
        ))
    columns = [Column("family"), Column("frequency"), Column("checked"), Column("expected", "number"),
               Column("missing", "number"), Column("missing releases")]
    gappy = [r.family for r in rows if r.missing]
    tail = (f"{len(gappy)} famil{'ies' if len(gappy) != 1 else 'y'} with missing releases ({', '.join(gappy)}): a run "
            "reading one stops unless given --allow-gaps" if gappy else "every family with a frequency is complete")
    return "\n".join([*table_lines(columns, table), tail])


def _truncate(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
