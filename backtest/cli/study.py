"""`themebt study`: an event study of a basket against the benchmark, on the backtests' data and event clock."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click

from backtest.cli.options import CONTEXT, data_options, user_errors
from backtest.errors import ConfigError
from strategies.screens import Screen

# the event family a theme trades on, where it has one family and its params give the kinds
THEME_FAMILIES = {"boj_rotation": "boj", "robotics_reindustrialization": "us_policy", "governance_reform": "governance"}


@click.command("study", context_settings=CONTEXT)
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Take the event family, kinds, basket, benchmark, data and period from this theme config.")
@click.option("--family", default=None, metavar="NAME", help="Event family (boj, shunto, wages, us_policy, "
              "governance, election, or your own).  [default: the config theme's]")
@click.option("--kind", "kinds", multiple=True, metavar="NAME", help="Only this kind of event, e.g. hike; repeat "
              "for several.  [default: the config's params.kinds, else every kind]")
@click.option("--basket", default=None, metavar="T1,T2,...", help="Tickers of the basket, comma-separated, held in "
              "equal weights.  [default: the config's basket; a screened basket is the screen's choice at each "
              "event's decision point]")
@click.option("--benchmark", default=None, metavar="TICKER", help="Benchmark.  [default: the config's, else TOPIX]")
@click.option("--events", "events_folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also read every *.csv event file in this folder.  [default: the config's events.folder]")
@data_options
@click.option("--file", "files", multiple=True, metavar="TICKER=PATH",
              help="With --data csv:FOLDER, read TICKER from PATH inside FOLDER (as a config's data.files), e.g. "
                   "TOPIX=index/topix_daily.csv; repeat.  [default: the config's data.files]")
@click.option("--before", type=click.IntRange(min=0), default=5, show_default=True,
              help="Sessions before day 0 in the event window.")
@click.option("--after", type=click.IntRange(min=0), default=60, show_default=True,
              help="Sessions after day 0 in the event window.")
@click.option("--model", type=click.Choice(["market-adjusted", "market"]), default="market-adjusted",
              show_default=True, help="Abnormal return: basket minus benchmark, or minus alpha + beta × benchmark.")
@click.option("--estimation", type=click.IntRange(min=20), default=250, show_default=True,
              help="Sessions in the estimation window (alpha, beta and the variance that standardises).")
@click.option("--gap", type=click.IntRange(min=0), default=10, show_default=True,
              help="Sessions between the estimation window's end and the event window's start.")
@click.option("--horizon", "horizons", type=int, multiple=True, metavar="H",
              help="Report CAR from -BEFORE to +H; repeat.  [default: 1, 5, 20, 60 up to --after, and --after]")
@click.option("--overlap", type=click.Choice(["keep", "drop"]), default="keep", show_default=True,
              help="Events whose windows overlap: keep all (flagged; KP test adjusts), or drop the later one.")
@click.option("--confidence", type=click.FloatRange(0.5, 1, max_open=True), default=0.95, show_default=True,
              help="Level of the CAAR band.")
@click.option("--name", default=None, help="Name in the study folder's name.  [default: family and kinds]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder that receives the new study-<UTC time>-<name>-<hex>/ folder.")
@user_errors
def command(config, family, kinds, basket, benchmark, events_folder, data_option, start, end, files, before, after, model,
            estimation, gap, horizons, overlap, confidence, name, out):
    """Event study: does the basket beat the benchmark around the events, by how much, and is it noise?

    Day 0 is the session at whose open a backtest first trades the event (news before the 09:00
    open: that session; news during a session: the next one). Returns are close to close. Writes
    results/study-<UTC time>-<name>-<hex>/ with study.json, car.csv, study.html and study.png. See
    docs/study.md for every statistic.

    \b
    Example:
      themebt study --family boj --kind hike --basket 1631,1632
      themebt study --config configs/boj_rotation.yaml --model market --after 20
      themebt study --family us_policy --kind tariff --basket 1622,1625 --data csv:path/to/prices \\
        --file TOPIX=index/topix_daily.csv
    """
    from backtest.data import SYNTHETIC_LABEL, DataSource, load_prices, parse_data_option
    from backtest.events.calendar import load_events
    from backtest.results.folder import check_writable
    from backtest.report.study_page import PAGE
    from backtest.research.study import StudySettings, event_frame, format_table, resolve_horizons, run_study, write_study

    source, period, folder_events = DataSource("demo"), (None, None), None
    bench = "TOPIX"
    if config is not None:
        spec, family, kinds, tickers = _from_config(config, family, kinds, basket)
        source, period, folder_events, bench = spec.data, (spec.start, spec.end), spec.events_folder, spec.benchmark
    else:
        if family is None:
            raise click.UsageError("give --family (and --basket), or --config")
        tickers = _basket(basket, "--basket")
    if benchmark:
        bench = benchmark.strip()
    if data_option is not None:
        source = parse_data_option(data_option, {**source.files, **_file_map(files)})
    elif files:
        raise click.UsageError("--file needs --data csv:FOLDER")
    start = start or period[0]
    end = end or period[1]
    if start and end and end < start:
        raise ConfigError(file="--start/--end", field="period", problem=f"end {end} is before start {start}",
                          fix="Swap the dates.")
    screen = tickers if isinstance(tickers, Screen) else None
    if screen is None and bench in tickers:
        raise ConfigError(file="--basket", field=bench, problem="the benchmark is in the basket",
                          fix="Leave the benchmark out of the basket.")
    settings = StudySettings(before=before, after=after, model=model, estimation=estimation, gap=gap,
                             horizons=resolve_horizons(horizons, before, after), confidence=confidence, overlap=overlap)
    check_writable(out)
    calendar = load_events(events_folder or folder_events).select(family, kinds or None)
    if len(calendar) == 0:
        raise ConfigError(file="--family/--kind", field=family, problem="no events of this family and kind",
                          fix="List them with `themebt events --family NAME`.")
    if screen is None:
        prices = load_prices(source, [bench, *tickers], start, end)
        events = event_frame(calendar, prices.sessions)
        study = run_study(prices.close, tickers, bench, events, settings)
    else:
        spec = dataclasses.replace(spec, data=source)
        prices, events, baskets = _screened_baskets(spec, screen, bench, start, end, calendar)
        study = run_study(prices.close, baskets, bench, events, settings, basket_rule=f"the screen {screen}")
    if study.n == 0:
        reasons = "; ".join(f"{k['id']}: {k['reason']}" for k in study.skipped[:3])
        raise ConfigError(file="--family/--kind", field=family,
                          problem=f"none of the {len(events)} event(s) can be studied ({reasons})",
                          fix="Widen --start/--end, shorten --estimation/--after, or use data that covers the events.")
    label = f"{family}:{'/'.join(kinds)} events" if kinds else f"{family} events"
    meta = {
        "label": label, "families": [family], "kinds": list(kinds),
        "data": {"source": prices.source, "synthetic": prices.synthetic,
                 "label": SYNTHETIC_LABEL if prices.synthetic else "market data from the source above",
                 "sha256": prices.data_hash()},
        "config_file": str(config) if config else None,
        "day0": "the session at whose open a backtest first trades the event (EventCalendar.first_trade_sessions)",
        "returns": "close to close; day 0's return runs from the close of session -1 to the close of day 0",
    }
    folder_name = _folder_name(name, family, kinds)
    folder = write_study(study, out, folder_name, meta, prices.synthetic)
    for line in prices.warnings:
        click.echo(f"warning: {line}", err=True)
    if prices.synthetic:
        click.echo(SYNTHETIC_LABEL)
    click.echo(format_table(study))
    click.echo(f"{folder}/")
    click.echo(f"{folder / PAGE}")


def _screened_baskets(spec, screen: Screen, bench: str, start, end, calendar):
    """The prices of the benchmark and the screen's universe, the events on them, and for each event the
    names the screen chooses at the decision point whose orders fill at its day 0 (what the theme would
    have held: no later fundamentals, membership or price): event id -> tickers."""
    from backtest.data import load_prices
    from backtest.execution.facts import build_facts, with_universes
    from backtest.research.study import event_frame

    prices = with_universes(spec, load_prices(spec.data, [bench], start, end), load_prices)
    facts = build_facts(spec, prices, news_at_open=spec.execution.news_at_open)
    events = event_frame(calendar, prices.sessions)
    baskets = {}
    for event_id, point in zip(events["id"], calendar.decision_points(prices.sessions).tolist()):
        if 0 <= point < 2 * len(prices.sessions):  # the others have no day 0 in the data: the study skips them
            baskets[event_id] = tuple(facts.screen(screen, point, record=False)["ticker"])
    return prices, events, baskets


def _file_map(files) -> dict[str, str]:
    out = {}
    for item in files:
        ticker, sep, path = item.partition("=")
        if not sep or not ticker.strip() or not path.strip():
            raise ConfigError(file="--file", field=repr(item), problem="expected TICKER=PATH",
                              fix="Write e.g. --file TOPIX=index/topix_daily.csv.")
        out[ticker.strip()] = path.strip()
    return out


def _basket(text: str | None, where: str) -> list[str]:
    tickers = [t.strip() for t in (text or "").split(",") if t.strip()]
    if not tickers:
        raise ConfigError(file=where, field="basket", problem="no tickers given",
                          fix="Give TSE codes separated by commas, e.g. --basket 1631,1632.")
    return list(dict.fromkeys(tickers))


def _from_config(path: Path, family, kinds, basket):
    """The spec, and the family, kinds and basket a study of its theme uses (options given win)."""
    from backtest.config import load_config

    spec = load_config(path)
    params = spec.params
    if family is None:
        family = THEME_FAMILIES.get(spec.theme)
        if family is None:
            raise ConfigError(file=str(path), field=f"theme {spec.theme}",
                              problem="this theme does not trade on one event family with listed kinds",
                              fix="Give --family (and --kind) to say which events to study.")
        if not kinds and params.get("kinds"):
            kinds = tuple(params["kinds"])
    if basket is not None:
        return spec, family, kinds, _basket(basket, "--basket")
    from backtest.execution.facts import screens_of

    screens = screens_of(params)
    if "basket" in screens or (len(screens) == 1 and not any(
            k.endswith("basket") and isinstance(v, (list, tuple)) and v for k, v in params.items())):
        # a screened basket: chosen at each event's decision point, as the theme would have chosen it
        return spec, family, kinds, screens.get("basket") or next(iter(screens.values()))
    baskets = {k: list(v) for k, v in params.items() if k.endswith("basket") and isinstance(v, (list, tuple)) and v}
    if "basket" in baskets:
        chosen = baskets["basket"]
    elif len(baskets) == 1:
        chosen = next(iter(baskets.values()))
    else:
        raise ConfigError(file=str(path), field="params", problem=(
            f"{'no non-empty basket' if not baskets else 'several baskets (' + ', '.join(sorted(baskets)) + ')'}"),
            fix="Give --basket T1,T2,... to say which tickers to study.")
    return spec, family, kinds, [str(t) for t in chosen]


def _folder_name(name, family, kinds) -> str:
    if name:
        return name
    text = "-".join([family, *kinds])
    text = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64]
    return text if text and text[0].isalnum() else f"study{text}"[:64]

