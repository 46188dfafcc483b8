"""Screens: a basket given as a rule on what was known at a decision point, never as a list of names.

A config gives a basket as

    basket: {screen: {universe: demo_market, where: ["pb < 1", "roe < 0.08"], rank: pb, top: 30}}

and the theme asks the view (strategies.view.MarketView.screen) for the names that pass at each
rebalance. This module holds the rule: its fields, a small expression language parsed by hand
(never `eval`), and the vectorised evaluation on arrays of all codes at once. The values a rule
reads at a decision point (prices, fundamentals, membership) are built once per run by
backtest.execution.facts.

The language, in full::

    where     := condition ("and" condition)*      (a list of strings is joined by "and")
    condition := FIELD OP NUMBER
    OP        := "<" | "<=" | ">" | ">=" | "==" | "!="
    NUMBER    := [+-]? digits [. digits] [e [+-] digits]    (finite)

FIELD is one of FIELDS. A code whose value is unknown (no disclosure yet, no price, P/B of a
negative book) fails every condition, including `!=`. `rank: pb` ranks the passing codes from the
lowest value, `rank: -pb` from the highest; ties are broken by code; codes without a value are left
out. `top: N` keeps the first N (all when absent).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from backtest.errors import ConfigError, did_you_mean

# the raw fields of a disclosure (backtest.data.fundamentals.FIELDS), as disclosed
RAW_FIELDS = (
    "net_sales", "operating_profit", "ordinary_profit", "profit", "equity", "total_assets", "eps", "bps",
    "shares_outstanding", "treasury_shares", "dividend_per_share",
)
# fields computed at the decision point from the latest price and the latest disclosure known there
DERIVED_FIELDS = {
    "price": "the latest close known at the decision point (as traded, JPY)",
    "pb": "price / bps of the latest disclosure (unknown where bps <= 0)",
    "roe": "annualised profit / equity of the latest disclosure (year-to-date profit × 4, 2, 4/3 or 1 for a "
           "1Q, 2Q, 3Q or full-year report; unknown where equity <= 0)",
    "per": "price / annualised eps of the latest disclosure (unknown where eps <= 0)",
    "market_cap": "price × (shares_outstanding − treasury_shares), JPY",
    "dividend_yield": "dividend_per_share / price",
}
FIELDS = (*DERIVED_FIELDS, *RAW_FIELDS)
OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal}
SCREEN_KEYS = ("universe", "where", "rank", "top")
MAX_TEXT = 400
MAX_CONDITIONS = 32
MAX_TOP = 100_000

_TOKEN = re.compile(r"\s*(?:(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
                    r"|(?P<op><=|>=|==|!=|<|>))", re.ASCII)
_FIX_GRAMMAR = 'Write conditions as  field op number, joined by "and", e.g. "pb < 1 and roe < 0.08".'


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.field} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Screen:
    """A basket rule: members of `universe` on the decision date that pass every condition, ranked."""

    universe: str
    where: tuple[Condition, ...]
    rank: str | None = None
    descending: bool = False
    top: int | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the rule reads: the conditions' in order, then the ranking field."""
        names = [c.field for c in self.where] + ([self.rank] if self.rank else [])
        return tuple(dict.fromkeys(names))

    def to_config(self) -> dict:
        """The rule as a config writes it (for config.yaml of a run folder)."""
        out: dict = {"universe": self.universe, "where": [c.text for c in self.where]}
        if self.rank:
            out["rank"] = ("-" if self.descending else "") + self.rank
        if self.top is not None:
            out["top"] = self.top
        return {"screen": out}

    def __str__(self) -> str:
        rule = " and ".join(c.text for c in self.where) or "every member"
        ranked = f", ranked by {'-' if self.descending else ''}{self.rank}" if self.rank else ""
        top = f", top {self.top}" if self.top is not None else ""
        return f"{self.universe}: {rule}{ranked}{top}"


def is_screen(value) -> bool:
    """A config value that asks for a screen (a mapping with the key `screen`)."""
    return isinstance(value, Mapping) and "screen" in value


def _error(file: str, field: str, problem: str, fix: str = _FIX_GRAMMAR) -> ConfigError:
    return ConfigError(file=file, field=field, problem=problem, fix=fix)


def _field_name(name: str, file: str, field: str) -> str:
    if name not in FIELDS:
        raise _error(file, field, f"unknown field '{name}'",
                     f"{did_you_mean(name, FIELDS)} Screen fields: {', '.join(FIELDS)}.")
    return name


def parse_where(text, file: str = "config", field: str = "where") -> tuple[Condition, ...]:
    """The conditions of one `where` string: FIELD OP NUMBER joined by `and`; a ConfigError otherwise."""
    if not isinstance(text, str):
        raise _error(file, field, f"expected a condition as text, got {_shown(text)}")
    if len(text) > MAX_TEXT:
        raise _error(file, field, f"the condition is {len(text)} characters long, more than {MAX_TEXT}")
    tokens: list[tuple[str, str, int]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if m is None or m.end() == pos:
            bad = stripped[pos:].lstrip()[:1]
            at = len(stripped) - len(stripped[pos:].lstrip()) + 1
            raise _error(file, field, f"unexpected character {bad!r} at position {at} in {_shown(text)}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    if not tokens:
        raise _error(file, field, "the condition is empty")
    out = []
    k = 0
    while True:
        if len(out) >= MAX_CONDITIONS:
            raise _error(file, field, f"more than {MAX_CONDITIONS} conditions")
        part = tokens[k:k + 3]
        if len(part) < 3 or [p[0] for p in part] != ["name", "op", "num"]:
            got = " ".join(p[1] for p in part) or "nothing"
            raise _error(file, field, f"expected  field op number  in {_shown(text)}, got {_shown(got)}")
        name = _field_name(part[0][1], file, field)
        value = float(part[2][1])
        if not math.isfinite(value):
            raise _error(file, field, f"{part[2][1]} is not a finite number", "Write a plain number such as 0.08.")
        out.append(Condition(name, part[1][1], value))
        k += 3
        if k == len(tokens):
            return tuple(out)
        if tokens[k][0] != "name" or tokens[k][1] != "and":
            raise _error(file, field, f"expected 'and' at position {tokens[k][2]} in {_shown(text)}, "
                         f"got {_shown(tokens[k][1])}")
        k += 1
        if k == len(tokens):
            raise _error(file, field, f"{_shown(text)} ends with 'and'")


def parse_screen(raw, file: str = "config", field: str = "params.basket") -> Screen:
    """A Screen from a config value {screen: {universe, where, rank, top}}; a ConfigError naming the field otherwise."""
    if not is_screen(raw):
        raise _error(file, field, "expected {screen: {universe: ..., where: [...], rank: ..., top: ...}}",
                     "Give a list of tickers, or a screen.")
    extra = [k for k in raw if k != "screen"]
    if extra:
        raise _error(file, f"{field}.{extra[0]}", "unknown key beside 'screen'", "Put every setting inside screen:.")
    body = raw["screen"]
    field = f"{field}.screen"
    if not isinstance(body, Mapping):
        raise _error(file, field, f"expected a mapping of {', '.join(SCREEN_KEYS)}, got {_shown(body)}",
                     "Write screen: {universe: demo_market, where: [\"pb < 1\"], rank: pb, top: 30}.")
    for key in body:
        if key not in SCREEN_KEYS:
            raise _error(file, f"{field}.{key}", "unknown key", did_you_mean(str(key), SCREEN_KEYS))
    universe = body.get("universe")
    if not isinstance(universe, str) or not universe.strip():
        raise _error(file, f"{field}.universe", "missing: a screen chooses among the members of a universe",
                     "Name a universe from configs/universes/, e.g. universe: demo_market.")
    where_raw = body.get("where", [])
    if isinstance(where_raw, str):
        where_raw = [where_raw]
    if not isinstance(where_raw, list):
        raise _error(file, f"{field}.where", f"expected a list of conditions, got {_shown(where_raw)}")
    if len(where_raw) > MAX_CONDITIONS:
        raise _error(file, f"{field}.where", f"more than {MAX_CONDITIONS} conditions")
    where: list[Condition] = []
    for i, text in enumerate(where_raw):
        where.extend(parse_where(text, file, f"{field}.where[{i}]"))
    if len(where) > MAX_CONDITIONS:
        raise _error(file, f"{field}.where", f"more than {MAX_CONDITIONS} conditions")
    rank, descending = body.get("rank"), False
    if rank is not None:
        if not isinstance(rank, str) or not rank.strip():
            raise _error(file, f"{field}.rank", f"expected a field name, got {_shown(rank)}",
                         "Write rank: pb (lowest first) or rank: -roe (highest first).")
        rank = rank.strip()
        if rank.startswith("-"):
            rank, descending = rank[1:].strip(), True
        _field_name(rank, file, f"{field}.rank")
    top = body.get("top")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP):
        raise _error(file, f"{field}.top", f"expected a whole number from 1 to {MAX_TOP}, got {_shown(top)}",
                     "Write top: 30, or leave it out to keep every name that passes.")
    return Screen(universe.strip(), tuple(where), rank, descending, top)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ----- evaluation ----------------------------------------------------------------------------------
def passes(screen: Screen, values: Mapping[str, np.ndarray], eligible: np.ndarray) -> np.ndarray:
    """Boolean per code: eligible (a member with a price) and every condition true on a known value."""
    mask = np.asarray(eligible, dtype=bool).copy()
    for c in screen.where:
        v = np.asarray(values[c.field], dtype=float)
        known = np.isfinite(v)
        with np.errstate(invalid="ignore"):
            mask &= known & OPS[c.op](np.where(known, v, 0.0), c.value)
    return mask


def select(screen: Screen, values: Mapping[str, np.ndarray], eligible: np.ndarray, code_order: np.ndarray
           ) -> np.ndarray:
    """Columns chosen by the screen, in rank order (1st first).

    code_order: per column, its position when the codes are sorted (the tie-break).
    """
    mask = passes(screen, values, eligible)
    if screen.rank:
        key = np.asarray(values[screen.rank], dtype=float)
        mask &= np.isfinite(key)
        idx = np.flatnonzero(mask)
        k = key[idx]
        order = np.lexsort((code_order[idx], -k if screen.descending else k))
    else:
        idx = np.flatnonzero(mask)
        order = np.argsort(code_order[idx], kind="stable")
    chosen = idx[order]
    return chosen if screen.top is None else chosen[: screen.top]
