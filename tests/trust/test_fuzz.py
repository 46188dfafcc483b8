"""Fuzzing the loaders: any config, price file or event file either loads or raises a ThemebtError, never another exception."""

from __future__ import annotations

import datetime as dt
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtest.config import load_config, spec_from_mapping
from backtest.data.csv import read_price_csv
from backtest.errors import ThemebtError
from backtest.events.calendar import read_event_files
from strategies import discover

FUZZ = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

THEMES = sorted(discover())
CONFIG_KEYS = ["theme", "name", "description", "benchmark", "period", "start", "end", "params", "execution", "data",
               "events", "source", "path", "files", "folder", "cash_jpy", "commission_bps", "slippage_bps",
               "allow_short", "max_gross_leverage", "cash_buffer_pct", "lot_sizes", "basket", "holding_sessions",
               "kinds", "out_kinds", "max_weight", "overweight", "TOPIX", "1631"]
YAML_TOKENS = [*CONFIG_KEYS, *THEMES, ":", ": ", "-", "- ", "[", "]", "{", "}", ", ", "\n", "\n  ", "  ", "\t", "#",
               "'", '"', "!!python/object:os.system", "!!binary", "&a ", "*a", "<<: ", "? ", "|", ">", "---", "...",
               "2024-01-04", "2024-13-45", "2024-02-30", "1e400", "-1", ".nan", ".inf", "null", "~", "yes", "0x1F",
               "1_000", "0o17", "\u3000", "\ufeff", "../x", "/etc", "%", "@", "`", '"a\\0b"', "\\x00"]


def _write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


def loads_or_user_error(load, *args):
    try:
        load(*args)
    except ThemebtError:
        pass


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


yaml_ish = st.lists(st.sampled_from(YAML_TOKENS) | st.text(max_size=6), max_size=40).map("".join)


@FUZZ
@given(text=yaml_ish | st.text(max_size=200) | st.binary(max_size=200))
def test_any_config_text_loads_or_is_a_user_error(scratch, text):
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    loads_or_user_error(load_config, _write(scratch, "config.yaml", text))


scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.dates() | st.sampled_from([*THEMES, "TOPIX", "1631", "hike", "demo", "csv", "2024-01-04", "a\x00b", "../x"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(CONFIG_KEYS) | st.text(max_size=8), inner, max_size=4),
                      max_leaves=12)
configs = st.fixed_dictionaries(
    {"theme": st.sampled_from(THEMES) | scalars},
    optional={key: values for key in ("name", "benchmark", "period", "params", "execution", "data", "events")},
)


@FUZZ
@given(raw=configs)
def test_any_config_structure_loads_or_is_a_user_error(raw):
    loads_or_user_error(spec_from_mapping, raw, "fuzz.yaml")


@FUZZ
@given(theme=st.sampled_from(THEMES),
       params=st.dictionaries(st.sampled_from(["basket", "holding_sessions", "kinds", "out_kinds", "out_basket",
                                               "max_weight", "overweight", "rebalance_months", "exporter_short",
                                               "domestic_basket", "exporter_basket", "triggers", "fx_series"]),
                              values, max_size=3))
def test_any_theme_params_load_or_are_a_user_error(theme, params):
    loads_or_user_error(spec_from_mapping, {"theme": theme, "params": params}, "fuzz.yaml")


CELLS = ["2024-01-04", "2024-01-05", "2024/01/09", "2024-01-04T00:00:00+09:00", "2024-02-30", "99999-01-01",
         "1.5", "1e308", "1e999", "-0", "0", "nan", "inf", "", " ", "N/A", "1,234", "¥100", "１００", '"', '""',
         "Date", "Close", "Adj Close", "volume", "\r", "\x00", "\ufeff"]
csv_ish = st.lists(st.lists(st.sampled_from(CELLS) | st.text(max_size=5), max_size=8).map(",".join),
                   max_size=8).map("\n".join)
HEADER = "Date,Open,High,Low,Close,Volume\n"


@FUZZ
@given(text=csv_ish | csv_ish.map(lambda body: HEADER + body) | st.text(max_size=300) | st.binary(max_size=300))
def test_any_price_file_loads_or_is_a_user_error(scratch, text):
    loads_or_user_error(read_price_csv, _write(scratch, "1631.csv", text), "1631")


@FUZZ
@given(rows=st.lists(st.tuples(st.dates(dt.date(1985, 1, 1), dt.date(2110, 1, 1)),
                               st.floats(allow_nan=True, allow_infinity=True), st.floats(0.01, 1e6)),
                     min_size=1, max_size=30))
def test_any_numbers_in_a_price_file_load_or_are_a_user_error(scratch, rows):
    body = "".join(f"{d},{p},{p},{p},{p},{v}\n" for d, p, v in rows)
    loads_or_user_error(read_price_csv, _write(scratch, "1631.csv", HEADER + body), "1631")


EVENT_HEADER = "family,kind,event_date,known_at,value,value2,reference,description,source,verified\n"
EVENT_CELLS = ["boj", "BOJ", "hike", "x", "2024-03-19", "2024-03-19T15:00:00+09:00", "2024-03-19T15:00:00",
               "1989-01-01", "9999-12-31T00:00:00+14:00", "0.1", "nan", "inf", "yes", "no", "maybe", "", '"a,b"']
event_ish = st.lists(st.lists(st.sampled_from(EVENT_CELLS) | st.text(string.printable, max_size=6), max_size=11)
                     .map(",".join), max_size=6).map("\n".join)


@FUZZ
@given(text=event_ish.map(lambda body: EVENT_HEADER + body) | event_ish | st.text(max_size=300)
       | st.binary(max_size=300))
def test_any_event_file_loads_or_is_a_user_error(scratch, text):
    loads_or_user_error(read_event_files, [_write(scratch, "events.csv", text)])


# ----- explicit tags, aliases and huge numbers: each a ConfigError at its line, fast, never rendered whole -----
TAGS = ["!!int", "!!float", "!!bool", "!!str", "!!null", "!!timestamp", "!!binary", "!!set", "!!omap", "!!pairs",
        "!!seq", "!!map", "!!merge", "!!value", "!!yaml", "!<tag:yaml.org,2002:int>", "!local", "!!python/name:os.system"]
TAG_VALUES = ["abc", "maybe", "1e400", "0x", "0b12", "2024-99-99", "nope", "''", "[1, 2]", "{a: 1}", "%%%", "9" * 5000,
              "-" + "9" * 4400, "1_", ".nan", "~", "0o9"]
KEYS_FOR_TAGS = ["execution: {cash_jpy: %s}", "period: {start: %s}", "params: {holding_sessions: %s}", "name: %s",
                 "benchmark: %s", "execution: {allow_short: %s}", "params: %s", "data: {path: %s}"]


@FUZZ
@given(tag=st.sampled_from(TAGS), value=st.sampled_from(TAG_VALUES), where=st.sampled_from(KEYS_FOR_TAGS))
def test_any_explicit_tag_on_any_value_loads_or_is_a_user_error(scratch, tag, value, where):
    text = "theme: boj_rotation\n" + where % f"{tag} {value}" + "\n"
    loads_or_user_error(load_config, _write(scratch, "tagged.yaml", text))


@FUZZ
@given(digits=st.integers(min_value=1, max_value=20000), sign=st.sampled_from(["", "-", "+"]),
       where=st.sampled_from(KEYS_FOR_TAGS), tagged=st.booleans())
def test_any_huge_number_loads_or_is_a_user_error(scratch, digits, sign, where, tagged):
    number = sign + "9" * digits
    text = "theme: boj_rotation\n" + where % (("!!int " if tagged else "") + number) + "\n"
    try:
        load_config(_write(scratch, "huge.yaml", text))
    except ThemebtError as exc:
        assert len(str(exc)) < 2000, "an error message renders a bounded prefix of a value"


def laughs(levels: int, width: int, where: str) -> str:
    lines = ["theme: boj_rotation", "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * width) + "]")
    lines.append(where % f"*x{levels - 1}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(levels=st.integers(min_value=1, max_value=12), width=st.integers(min_value=1, max_value=12),
       where=st.sampled_from(KEYS_FOR_TAGS))
def test_any_alias_expansion_loads_or_is_a_bounded_user_error(scratch, levels, width, where):
    """Billion laughs: refused from its expanded size, without expanding it or rendering it whole."""
    text = laughs(levels, width, where)
    try:
        load_config(_write(scratch, "laughs.yaml", text))
    except ThemebtError as exc:
        assert len(str(exc)) < 2000


@pytest.mark.parametrize("text", [
    "theme: boj_rotation\nparams: &a {basket: [*a]}\n",
    "theme: boj_rotation\nexecution: &e {lot_sizes: *e}\n",
    "theme: &t [*t]\n",
    "theme: boj_rotation\nx: &a [*a, *a]\nparams: {basket: *a}\n",
])
def test_a_config_whose_alias_contains_itself_is_a_user_error(scratch, text):
    with pytest.raises(ThemebtError, match=r"\(structure\)|line \d+"):
        load_config(_write(scratch, "recursive.yaml", text))


# ----- what a price source's server answers: any JSON or text becomes prices or a DataError -----
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["2024-01-04", "1704326400", "AdjC", "data", "chart", "result", "timestamp"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["data", "pagination_key", "Date", "AdjC", "AdjO", "C", "chart", "result", "error", "meta",
                         "timestamp", "indicators", "quote", "close", "open", "events", "splits", "dividends",
                         "date", "amount", "adjclose", "message", "numerator", "denominator"]) | st.text(max_size=5),
        inner, max_size=5),
    max_leaves=25)


class _Answer:
    """A session that answers every request with one status and body, never touching the network."""

    def __init__(self, status: int, body: bytes):
        self.status, self.body = status, body

    def request(self, method, url, **kwargs):
        import requests

        response = requests.Response()
        response.status_code = self.status
        response._content = self.body
        response.url = url
        response.headers["Content-Type"] = "application/json"
        return response


@FUZZ
@given(payload=json_values, status=st.sampled_from([200, 200, 200, 400, 401, 404, 418]),
       source=st.sampled_from(["jquants", "yahoo", "stooq"]), raw=st.booleans() | st.none())
def test_any_answer_of_a_price_source_loads_or_is_a_user_error(payload, status, source, raw):
    import json

    from backtest.data.http import HttpClient
    from backtest.data.jquants import JQuants
    from backtest.data.stooq import Stooq
    from backtest.data.yahoo import Yahoo

    body = json.dumps(payload).encode() if raw is None else (str(payload).encode() if raw else b"\xff\x00<html>")
    http = HttpClient(source, session=_Answer(status, body), sleep=lambda s: None, clock=lambda: 0.0, retries=0)
    fetcher = {"jquants": lambda: JQuants(api_key="fuzz-key-0123456789", http=http),
               "yahoo": lambda: Yahoo(http=http), "stooq": lambda: Stooq(http=http)}[source]()
    loads_or_user_error(fetcher.fetch, "7203", "2024-01-04", "2024-01-31")
