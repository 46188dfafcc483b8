"""quantstats' per-run charts of a multi-run report, drawn in a second process while this one draws the rest.

quantstats.reports.html draws three charts for every run column (its drawdown periods, its monthly
heatmap, its return distribution): about half of a seven-run report. `draw_column_charts` makes the
same calls, with the arguments html() passes them, in another process; `charts_drawn_elsewhere`
then stands in for those three quantstats functions during html(): a call whose arguments match a
drawn chart (function, every argument, each series by its values, index and name) writes that
chart's bytes where quantstats saves the figure, and any other call is drawn here. So the report's
bytes never depend on which process drew a chart, only the time does; `ChartUse` counts which was which.
"""

from __future__ import annotations

import hashlib
import io
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMN_CHARTS = ("drawdowns_periods", "monthly_heatmap", "distribution")


def report_inputs(returns: pd.DataFrame, benchmark: pd.Series, rf: float = 0.0):
    """returns and benchmark as quantstats' html() prepares them before it draws (match_dates on)."""
    from quantstats import reports

    prepared = reports._get_utils()._prepare_returns(returns.dropna())
    bench = reports._get_utils()._prepare_benchmark(benchmark, prepared.index, rf)
    return reports._match_dates(prepared, bench)


def column_calls(returns: pd.DataFrame, benchmark: pd.Series, compounded: bool = True, grayscale: bool = False,
                 active: bool = False) -> list[tuple[str, tuple, dict]]:
    """The per-column calls html() makes for a DataFrame of returns: (function, positional, keyword arguments
    without savefig), in its order."""
    calls: list[tuple[str, tuple, dict]] = []
    for col in returns.columns:
        calls.append(("drawdowns_periods", (returns[col],), dict(
            grayscale=grayscale, figsize=(8, 4), subtitle=False, title=col, show=False, ylabel="",
            compounded=compounded, prepare_returns=False)))
    for col in returns.columns:
        calls.append(("monthly_heatmap", (returns[col], benchmark), dict(
            grayscale=grayscale, figsize=(8, 4), cbar=False, returns_label=col, show=False, ylabel="",
            compounded=compounded, active=active)))
    for col in returns.columns:
        calls.append(("distribution", (returns[col],), dict(
            grayscale=grayscale, figsize=(8, 4), subtitle=False, title=col, show=False, ylabel="",
            compounded=compounded, prepare_returns=False)))
    return calls


def chart_key(name: str, args: tuple, kwargs: dict) -> str:
    """What identifies a chart call: the function and every argument but savefig, a series by its content."""
    digest = hashlib.sha256(name.encode())
    for value in (*args, *(kwargs[k] for k in sorted(kwargs) if k != "savefig")):
        digest.update(b"|")
        if isinstance(value, (pd.Series, pd.DataFrame)):
            digest.update(repr((type(value).__name__, value.shape, getattr(value, "name", None),
                                list(getattr(value, "columns", [])))).encode())
            digest.update(np.ascontiguousarray(value.to_numpy(dtype=float)).tobytes())
            digest.update(np.ascontiguousarray(value.index.asi8 if isinstance(value.index, pd.DatetimeIndex)
                                               else value.index.to_numpy()).tobytes())
        else:
            digest.update(repr(value).encode())
    digest.update(repr(sorted(k for k in kwargs if k != "savefig")).encode())
    return digest.hexdigest()


def draw_column_charts(returns: pd.DataFrame, benchmark: pd.Series, figfmt: str = "svg") -> dict[str, bytes]:
    """Every per-column chart of the report, as html() would save it: chart_key -> bytes. Call it inside
    the same drawing settings as the report (quantstats_style and the rest)."""
    from quantstats import reports

    plots = reports._get_plots()
    prepared, bench = report_inputs(returns, benchmark)
    drawn = {}
    for name, args, kwargs in column_calls(prepared, bench):
        stream = io.BytesIO()
        getattr(plots, name)(*args, savefig={"fname": stream, "format": figfmt}, **kwargs)
        drawn[chart_key(name, args, kwargs)] = stream.getvalue()
    return drawn


@dataclass
class ChartUse:
    """How many per-column charts were taken from the other process, and how many were drawn here."""

    taken: int = 0
    drawn_here: int = 0


@contextmanager
def charts_drawn_elsewhere(drawn):
    """Inside: quantstats' per-column chart functions take the bytes of a matching chart from `drawn` (a dict
    from draw_column_charts, or a Future of one, waited for at the first call) and draw any other call
    themselves. Yields a ChartUse."""
    from quantstats import reports

    plots = reports._get_plots()
    use = ChartUse()
    originals = {name: getattr(plots, name) for name in COLUMN_CHARTS}
    ready: dict = {}

    def stand_in(name):
        def chart(*args, **kwargs):
            if not ready:
                ready["charts"] = drawn.result() if hasattr(drawn, "result") else drawn
            savefig = kwargs.get("savefig")
            stream = savefig.get("fname") if isinstance(savefig, dict) else None
            found = ready["charts"].get(chart_key(name, args, kwargs)) if hasattr(stream, "write") else None
            if found is None:
                use.drawn_here += 1
                return originals[name](*args, **kwargs)
            use.taken += 1
            stream.write(found)
            return None
        return chart

    for name in COLUMN_CHARTS:
        setattr(plots, name, stand_in(name))
    try:
        yield use
    finally:
        for name, fn in originals.items():
            setattr(plots, name, fn)
