"""`themebt data`: fill the local price store from J-Quants, Yahoo, Stooq or CSV files, list it, and check it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from backtest.cli.options import CONTEXT, iso_date as _iso_date, user_errors
from backtest.errors import DataError
from backtest.report.text_table import Column, text_table

SOURCES = ("jquants", "yahoo", "stooq")
NOTE_WIDTH = 90


def _ticker_list(ctx, param, values):
    out = []
    for value in values or ():
        out += [t.strip().upper() for t in value.split(",") if t.strip()]
    return out


_store_option = click.option(
    "--store", "store_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Store folder.  [default: $THEMEBT_STORE, else ~/.themebt/store]",
)


@click.group("data", context_settings=CONTEXT)
def command():
    """Fetch real prices into the local store, import CSV files, and check them.

    \b
    Example:
      themebt data fetch --source yahoo --universe robotics_fa --start 2016-01-01 --end 2025-12-30
      themebt data check
      themebt run configs/boj_rotation.yaml --data store
    """


@command.command("fetch", context_settings=CONTEXT)
@click.option("--source", type=click.Choice(SOURCES), required=True, help="Where to fetch from.")
@click.option("--universe", "universes", multiple=True, metavar="NAME|FILE",
              help="A universe from configs/universes/ (name or path); repeat for several.")
@click.option("--config", "configs", multiple=True, type=click.Path(exists=True, path_type=Path), metavar="FILE|FOLDER",
              help="Every ticker a theme config trades, plus its benchmark (a folder: every *.yaml in it).")
@click.option("--tickers", multiple=True, callback=_ticker_list, metavar="T1,T2",
              help="Tickers to fetch besides the universes' (TSE codes, or TOPIX).")
@click.option("--start", callback=_iso_date, required=True, metavar="YYYY-MM-DD", help="First day to fetch.")
@click.option("--end", callback=_iso_date, default=None, metavar="YYYY-MM-DD", help="Last day to fetch.  [default: today]")
@click.option("--no-benchmark", is_flag=True, help="Skip the universes' benchmark (TOPIX unless the file says otherwise).")
@click.option("--rate", type=click.FloatRange(min=0.1), default=None, metavar="N",
              help="At most N requests a minute (J-Quants Free: 5, Light: 60).")
@click.option("--fundamentals", is_flag=True,
              help="Fetch the companies' disclosures (J-Quants fins/summary) instead of prices; see docs/real_data.md.")
@_store_option
@user_errors
def fetch(source, universes, configs, tickers, start, end, no_benchmark, rate, store_dir, fundamentals=False):
    """Fetch daily prices into the store.

    A fetch resumes: spans already stored are not fetched again.

    J-Quants reads JQUANTS_API_KEY (or JQUANTS_REFRESH_TOKEN, or JQUANTS_MAIL_ADDRESS and
    JQUANTS_PASSWORD), else ~/.themebt/credentials.toml; credentials are never printed or stored.
    Yahoo has no TOPIX index: it stores ETF 1306.T in its place and says so.

    \b
    Example:
      themebt data fetch --source jquants --universe configs/universes/banks_insurers.yaml --start 2016-01-01 --end 2025-12-30
      themebt data fetch --source yahoo --config configs/ --start 2016-01-01 --end 2025-12-30
      themebt data fetch --source stooq --tickers TOPIX,7203 --start 2016-01-01
      themebt data fetch --source jquants --fundamentals --universe banks_insurers --start 2016-01-01
    """
    from backtest.config import load_config
    from backtest.data.sources import make_source
    from backtest.data.store import Store
    from backtest.data.universes import load_universe

    end = end or dt.date.today()
    if end < start:
        raise DataError(file="--start/--end", field="period", problem=f"end {end} is before start {start}",
                        fix="Swap the dates.")
    wanted: list[str] = []
    for name in universes:
        universe = load_universe(name)
        wanted += universe.tickers if no_benchmark else universe.with_benchmark()
    for path in configs:
        for file in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
            spec = load_config(file)
            wanted += spec.theme_cls.tickers_for(spec.params) if no_benchmark else spec.tickers
    wanted = list(dict.fromkeys([*wanted, *tickers]))
    if not wanted:
        raise click.UsageError("name what to fetch: --universe NAME, --config FILE and/or --tickers T1,T2")
    if fundamentals:
        _fetch_fundamentals(source, wanted, start, end, rate, store_dir)
        return
    fetcher = make_source(source, requests_per_minute=rate)
    store = Store(store_dir)
    click.echo(f"fetching {len(wanted)} ticker(s) from {source} into {store.root}", err=True)
    from backtest.cli.options import Progress

    bar = Progress(f"fetch from {source}", "ticker")
    fetched = []

    def step(ticker):
        fetched.append(ticker)
        bar.step(len(fetched), len(wanted), ticker or "")

    try:
        report = store.fetch(fetcher, wanted, start, end, on_ticker=step)
    finally:
        bar.close()
    click.echo(format_fetch(report.rows))
    _finish_fetch(report, store, "fetch", "ticker(s) have no data")


def _fetch_fundamentals(source, wanted, start, end, rate, store_dir) -> None:
    """`data fetch --fundamentals`: each company's disclosures into the store, with the price fetch's loop."""
    from backtest.cli.options import Progress
    from backtest.data.fundamentals import fetch_fundamentals
    from backtest.market.instruments import instruments
    from backtest.data.sources import make_source
    from backtest.data.store import Store

    if source != "jquants":
        raise DataError(file="--source", field=source, problem="has no company disclosures",
                        fix="Fetch fundamentals with --source jquants, or import a CSV (themebt data import "
                            "--fundamentals FILE).")
    known = instruments()
    # indices and ETFs publish no results: leave them out rather than report them as missing
    codes = [t for t in wanted if t != "TOPIX" and (t not in known or known[t].kind == "stock")]
    if not codes:
        raise click.UsageError("no company codes to fetch fundamentals for (indices and ETFs have none)")
    fetcher = make_source(source, requests_per_minute=rate)
    store = Store(store_dir)
    click.echo(f"fetching the disclosures of {len(codes)} code(s) from {source} into {store.root}", err=True)
    bar = Progress(f"fundamentals from {source}", "code")
    done: list[str] = []

    def step(code):
        done.append(code)
        bar.step(len(done), len(codes), code or "")

    try:
        report = fetch_fundamentals(store, fetcher, codes, start, end, on_ticker=step)
    finally:
        bar.close()
    click.echo(format_fetch(report.rows, what="code(s)", missing=None))
    _finish_fetch(report, store, "fetch --fundamentals", "code(s) have no disclosures")


@command.command("import", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--ticker", default=None, metavar="TICKER",
              help="The ticker of a single file.  [default: the file name without .csv]")
@click.option("--fundamentals", is_flag=True,
              help="PATH is a CSV of company disclosures (columns code,disclosed_at,...; see docs/real_data.md).")
@_store_option
@user_errors
def import_(path, ticker, store_dir, fundamentals=False):
    """Import CSV price files into the store.

    Files are stored as source 'csv' after the checks `run --data csv:` applies.

    A folder imports every *.csv in it and its subfolders, each under its file name. Columns:
    Date,Open,High,Low,Close[,Volume][,Adj Close].

    \b
    Example:
      themebt data import exports/7203.csv
      themebt data import path/to/prices/index/topix_daily.csv --ticker TOPIX
      themebt data import path/to/prices/etf
      themebt data import --fundamentals exports/fundamentals.csv
    """
    from backtest.data.store import FetchRow, Store

    store = Store(store_dir)
    if fundamentals:
        from backtest.data.fundamentals import import_fundamentals

        if path.is_dir() or ticker:
            raise click.UsageError("--fundamentals imports one CSV file (its code column names the codes); "
                                   "give a file and no --ticker")
        rows = import_fundamentals(store, path)
        click.echo(format_fetch(rows, what="code(s)", missing=None))
        return
    if path.is_dir():
        if ticker:
            raise click.UsageError("--ticker names one file; give a file, not a folder")
        files = sorted(p for p in path.rglob("*.csv") if not any(part.startswith(".") for part in p.relative_to(path).parts))
    else:
        files = [path]
    if not files:
        raise DataError(file=str(path), field="folder", problem="no *.csv files here", fix="Point at a CSV file or a folder of them.")
    rows, failed = [], 0
    for file in files:
        name = ticker or file.stem
        try:
            rows.append(store.import_csv(file, name))
        except DataError as exc:
            failed += 1
            rows.append(FetchRow(name, str(file), "failed", note=str(exc)))
    click.echo(format_fetch(rows))
    _explain(rows)
    if failed:
        raise DataError(file=str(path), field="import", problem=f"{failed} of {len(files)} file(s) could not be imported",
                        fix="Fix or remove them (see the notes above); the others are in the store.")


@command.command("check", context_settings=CONTEXT)
@click.argument("path", type=click.Path(exists=True, path_type=Path), required=False)
@click.option("--source", type=click.Choice((*SOURCES, "csv")), default=None, help="Only this source's entries in the store.")
@click.option("--tickers", multiple=True, callback=_ticker_list, metavar="T1,T2", help="Only these tickers.")
@click.option("--strict", is_flag=True, help="Exit with code 2 on any finding, as `run --strict` refuses to run on it.")
@_store_option
@user_errors
def check(path, source, tickers, strict, store_dir):
    """Check prices for gaps, stale runs, unadjusted splits, broken high-low ranges and currency.

    Also reports off-calendar rows and proxies. Without PATH it checks the store; with PATH, a CSV
    file or every CSV file in a folder. The findings and their thresholds are those of a run
    (backtest/data/quality.py): what this reports, `run` warns about and `run --strict` refuses.

    Exits with code 2 when a problem is fatal (a file the reader refuses, no prices, another
    currency), or, with --strict, on any finding; warnings alone exit with 0.

    \b
    Example:
      themebt data check
      themebt data check --source yahoo --tickers TOPIX,7203
      themebt data check path/to/prices/stocks --strict
    """
    from backtest.data.quality import FATAL, check_csv_files, check_csv_path, check_store
    from backtest.data.store import Store

    if path is not None:
        if path.is_dir():
            files, skipped = price_files(path)
            for name, why in skipped:
                click.echo(f"skipped {name}: {why}", err=True)
            problems = check_csv_files(files)
        else:
            problems = check_csv_path(path)
        where = str(path)
    else:
        store = Store(store_dir)
        problems = check_store(store, source, tickers or None)
        where = f"store {store.root}"
        if not store.entries(source) and not tickers:
            raise DataError(file=where, field="store", problem="is empty",
                            fix="Fill it with `themebt data fetch` or `themebt data import`.")
    click.echo(format_problems(problems))
    for p in problems:  # the table cuts details short; each in full, as a run prints its warnings
        click.echo(f"{p.severity}: {p.message}", err=True)
    fatal = [p for p in problems if p.severity == FATAL]
    if fatal:
        names = ", ".join(sorted({p.ticker for p in fatal}))
        raise DataError(file=where, field="check", problem=f"{len(fatal)} fatal problem(s) in {names}",
                        fix="Re-fetch or correct those tickers before running a backtest on them.")
    if strict and problems:
        from backtest.data.quality import strict_error

        raise strict_error(where, [p.message for p in problems],
                           fix="Fix the data, or leave out --strict to accept them; `run` then prints each and keeps "
                               "them in the run's manifest.json, and `run --strict` refuses them as this did")


@command.command("list", context_settings=CONTEXT)
@click.option("--source", type=click.Choice((*SOURCES, "csv")), default=None, help="Only this source.")
@_store_option
@user_errors
def list_(source, store_dir):
    """List the store: span, rows and basis per ticker.

    \b
    Example:
      themebt data list
      themebt data list --source jquants
    """
    from backtest.data.store import Store

    store = Store(store_dir)
    entries = store.entries(source)
    head = ("source", "ticker", "symbol", "first", "last", "rows", "basis", "adj_close", "note")
    rows = []
    for e in entries:
        m = e.meta
        note = "PROXY: " + m["proxy"] if m.get("proxy") else "; ".join(m.get("notes") or [])
        rows.append((e.source, e.ticker, str(m.get("symbol") or ""), str(m.get("first") or ""), str(m.get("last") or ""),
                     str(m.get("rows", "")), str(m.get("basis") or ""), "yes" if m.get("has_adj_close") else "no",
                     _cut(note)))
    click.echo(f"store {store.root}")
    click.echo(table(head, rows, right={5}) if rows else "(empty: fill it with `themebt data fetch` or `themebt data import`)")


@command.command("dividends", context_settings=CONTEXT)
@click.option("--source", type=click.Choice((*SOURCES, "csv")), default=None, help="Only this source.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the CSV here.  [default: stdout]")
@_store_option
@user_errors
def dividends(source, out, store_dir):
    """Export the dividends the store knows as ticker,ex_date,amount_jpy.

    Yahoo reports dividends with its prices; the file suits a config's data.dividends for a
    total-return run. Proxies are left out.

    \b
    Example:
      themebt data dividends --out ~/.themebt/dividends.csv
    """
    from backtest.data.store import Store, dividend_rows

    lines = ["ticker,ex_date,amount_jpy"] + [f"{t},{d},{a:g}" for t, d, a in dividend_rows(Store(store_dir), source)]
    text = "\n".join(lines) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        try:
            with out.open("x", encoding="utf-8") as f:  # like compare --out: never overwrite a file
                f.write(text)
        except FileExistsError:
            raise DataError(file=str(out), field="--out", problem="already exists",
                            fix="Choose a new file name, or delete the old file first.") from None
        except OSError as exc:
            raise DataError(file=str(out), field="--out", problem=f"cannot be written ({exc.strerror})",
                            fix="Choose a writable place for the file.") from None
        click.echo(f"{len(lines) - 1} dividend(s) written to {out}", err=True)


def price_files(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """The price files under a folder (a header with date, open, high, low and close), and the others with why.

    A folder of real data also holds universe lists, close-only index series and notes: those are not a
    ticker's prices, so `data check` skips them, saying so, instead of failing on them.
    """
    from backtest.data.csv import _ALIASES
    from backtest.safeio import FileProblem, read_head

    files, skipped = [], []
    for file in sorted(p for p in folder.rglob("*.csv") if not any(part.startswith(".") for part in p.relative_to(folder).parts)):
        name = str(file.relative_to(folder))
        try:
            head = read_head(file, 4096).decode("utf-8-sig", errors="replace").lstrip("\r\n").splitlines()
        except FileProblem as exc:
            skipped.append((name, exc.problem))
            continue
        cells = {_ALIASES.get(c.strip().strip('"').lower().replace(" ", "").replace("_", ""))
                 for c in (head[0].split(",") if head else [])}
        missing = [c for c in ("date", "open", "high", "low", "close") if c not in cells]
        if missing:
            skipped.append((name, f"not a price file (no {', '.join(missing)} column)"))
        else:
            files.append(file)
    return files, skipped


def _finish_fetch(report, store, field: str, missing: str) -> None:
    """After a fetch's table: the notes, then the refusal that stopped it, or the names left without data."""
    _explain(report.rows)
    if report.stopped is not None:
        raise report.stopped
    if report.incomplete:
        names = ", ".join(r.ticker for r in report.incomplete)
        raise DataError(file=f"store {store.root}", field=field,
                        problem=f"{len(report.incomplete)} of {len(report.rows)} {missing}: {names}",
                        fix="See the notes above; run the same command again to retry only what is missing.")


def _explain(rows) -> None:
    """The full reason for each failure and proxy, which the table's note column cuts short."""
    for row in rows:
        if row.status in ("failed", "no data"):
            click.echo(f"{row.ticker}: {row.note}", err=True)
        elif "PROXY" in row.note:
            click.echo(f"warning: {row.ticker} is stored from {row.symbol}, a proxy: {row.note.split('PROXY: ', 1)[1]}",
                       err=True)


def format_fetch(rows, what: str = "ticker(s)",
                 missing: str | None = "'missing' counts Tokyo sessions without a price") -> str:
    head = ("ticker", "symbol", "status", "added", "first", "last", "missing", "note")
    body = [(r.ticker, _cut(r.symbol, 28), r.status, str(r.added), r.first, r.last, str(r.missing), _cut(r.note)) for r in rows]
    if missing is None:  # fundamentals: rows are disclosures, not sessions
        head, body = head[:6] + head[7:], [b[:6] + b[7:] for b in body]
    done = sum(r.status not in ("failed", "no data", "not tried") for r in rows)
    tail = f"; {missing}" if missing else ""
    return table(head, body, right={3, 6} if missing else {3}) + f"\n{done} of {len(rows)} {what} stored{tail}"


def format_problems(problems) -> str:
    if not problems:
        return "no problems found"
    head = ("ticker", "source", "severity", "check", "first", "count", "detail")
    order = {"fatal": 0, "warning": 1}
    body = [(p.ticker, _cut(p.source, 24), p.severity, p.check, p.first, str(p.count), _cut(p.detail, 90))
            for p in sorted(problems, key=lambda p: (order.get(p.severity, 2), p.ticker, p.check))]
    fatal = sum(p.severity == "fatal" for p in problems)
    return table(head, body, right={5}) + f"\n{fatal} fatal, {len(problems) - fatal} warning(s)"


def table(head, rows, right=frozenset()) -> str:
    """head: the column names; right: the indexes of the number columns (lined up on the right)."""
    return text_table([Column(h, "number" if i in right else "text") for i, h in enumerate(head)], rows)


def _cut(text: str, width: int = NOTE_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"
