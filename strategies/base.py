"""Theme: the plain class every theme subclasses; themes say what weights, the engines say how."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from backtest.errors import ConfigError, StrategyError, did_you_mean

_UNSET = object()


class Theme:
    """Base of every theme: a plain class, free of any engine.

    A theme sets `params` (a dict of defaults, which are also the keys a config may give; a subclass's
    dict extends its base's) and implements `target_weights(view)`: a dict ticker -> weight to hold
    from the next fill, or None to hold what it has. The view holds only what is known at its
    decision point (strategies.view.MarketView). Optional: `param_bounds` gives (low, high) limits per
    numeric parameter; `required_lists` names list parameters that must not be empty.

    A theme that acts on a change of state implements `state(view)` as well (any comparable value:
    "in", "out", a step number): the engines then ask for weights only at decision points where the
    state differs from the previous point's, so the theme never writes that check itself.
    """

    params: dict[str, Any] = {}
    theme_key: str | None = None
    param_bounds: dict[str, tuple[float, float]] = {}
    # list parameters that must not be empty: name -> (problem, fix) for the config error
    required_lists: dict[str, tuple[str, str]] = {}

    def __init__(self, **params):
        self.p = SimpleNamespace(**{**self.default_params(), **params})
        self._states: dict[tuple, Any] = {}

    # ----- the part a theme writes -------------------------------------------------------------
    def target_weights(self, view) -> dict[str, float] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self, view) -> Any:
        """The theme's state at a decision point; themes that act on a change of state override it."""
        return _UNSET

    # ----- what the engines call -----------------------------------------------------------------
    def decide(self, view) -> dict[str, float] | None:
        """Target weights at this decision point, or None to hold.

        For a theme with a `state`, None wherever the state equals the previous decision point's.
        """
        now = self._state_at(view)
        if now is _UNSET:
            return self.target_weights(view)
        before = view.previous()
        if before is not None and self._state_at(before) == now:
            return None
        return self.target_weights(view)

    def _state_at(self, view):
        # the engines walk the points in order: the previous point's state was computed one call ago
        key = (view.point, id(view._prices), id(view._clock))
        if key not in self._states:
            if len(self._states) > 4:
                self._states.clear()
            self._states[key] = self.state(view)
        return self._states[key]

    @classmethod
    def tickers_for(cls, params: dict[str, Any]) -> list[str]:
        """Tickers the theme may hold: every parameter whose name ends in 'basket' or is 'universe'."""
        out: list[str] = []
        for name, value in params.items():
            if name.endswith("basket") or name == "universe":
                out.extend(str(t) for t in value)
        return out

    # ----- configuration -----------------------------------------------------------------------
    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The params of the class and its bases, a subclass's value winning."""
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            own = vars(klass).get("params")
            if isinstance(own, dict):
                out.update(own)
        return out

    @classmethod
    def summary(cls) -> str:
        return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""

    @classmethod
    def validate_params(cls, given: dict[str, Any], file: str = "config") -> dict[str, Any]:
        """Merge a config's params over the defaults, checking names, types and bounds."""
        defaults = cls.default_params()
        out = dict(defaults)
        for name, value in given.items():
            field = f"params.{name}"
            if name not in defaults:
                raise ConfigError(file=file, field=field, problem="unknown parameter", fix=did_you_mean(name, defaults))
            out[name] = _coerce(value, defaults[name], file, field)
            if name in cls.param_bounds:
                lo, hi = cls.param_bounds[name]
                if not lo <= out[name] <= hi:
                    raise ConfigError(
                        file=file, field=field, problem=f"expected a value from {lo} to {hi}, got {value!r}",
                        fix=f"Choose a value in [{lo}, {hi}].",
                    )
        for name, (problem, fix) in cls.required_lists.items():
            if not out[name]:
                raise ConfigError(file=file, field=f"params.{name}", problem=problem, fix=fix)
        return out


# The name themes and plugins were written against.
ThemeStrategy = Theme


def _coerce(value: Any, default: Any, file: str, field: str) -> Any:
    """Check a config value against the default's type (tuples of str accept YAML lists)."""

    def bad(kind: str, fix: str):
        return ConfigError(file=file, field=field, problem=f"expected {kind}, got {value!r}", fix=fix)

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false", "Write true or false.")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number", "Write an integer such as 60.")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad("a number", "Write a number such as 0.2.")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise bad("text", "Write a quoted string.")
        return str(value)
    if isinstance(default, (tuple, list)):
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise bad("a list of names or tickers", 'Write a YAML list, e.g. ["1631", "1632"].')
        if len(set(map(str, value))) != len(value):
            raise bad("a list without repeats", "Remove the duplicated entries.")
        return tuple(str(v) for v in value)
    if default is None:
        return value
    raise StrategyError(theme=field, problem=f"parameter default of type {type(default).__name__} is not supported", fix="Use bool, int, float, str or a tuple of str.")
