"""`themebt events`: list the dated events the themes trigger on, shipped and the user's own."""

from __future__ import annotations

import math
from pathlib import Path

import click
import pandas as pd

from backtest.cli.options import CONTEXT, user_errors

DESCRIPTION_WIDTH = 60


@click.command("events", context_settings=CONTEXT)
@click.option("--family", "families", multiple=True, metavar="NAME",
              help="Only this event family (boj, shunto, wages, us_policy, governance, election, or your own); "
                   "repeat for several.")
@click.option("--kind", "kinds", multiple=True, metavar="NAME",
              help="Only this kind of event, e.g. hike; repeat for several.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also read every *.csv event file in this folder (as a config's events.folder does).")
@user_errors
def command(families, kinds, folder):
    """List the event calendar: when each event happened, when it was public, and when a backtest first trades it.

    News known at or before a session's 09:00 open (overnight, after the previous close) trades at
    that open; news known during a session is decided at its close and trades at the next open.
    The first_trade column gives that session.

    \b
    Example:
      themebt events
      themebt events --family boj --kind hike
      themebt events --family wages --folder my_events/
    """
    from backtest.events.calendar import list_events, load_events

    calendar = load_events(folder)
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
    head = ("event_date", "known_at (JST)", "first_trade", "family", "kind", "value", "verified", "description")
    widths = [max(len(head[c]), *(len(r[c]) for r in rows)) if rows else len(head[c]) for c in range(len(head))]
    right = {5}  # numbers line up on the right

    def line(cells):
        out = [cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(cells, widths))]
        return "  ".join(out).rstrip()

    lines = [line(head), *(line(r) for r in rows)]
    lines.append(f"{len(rows)} event{'s' if len(rows) != 1 else ''}")
    return "\n".join(lines)


def _truncate(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
