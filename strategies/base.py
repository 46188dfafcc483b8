"""Theme: the plain class every theme subclasses; themes say what weights, the engines say how."""

from __future__ import annotations

import weakref
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from backtest.errors import ConfigError, StrategyError, did_you_mean
from strategies.screens import Screen, is_screen, parse_screen

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
    # basket parameters the theme also accepts as a screen (strategies.screens), read with view.screen
    screen_params: tuple[str, ...] = ()

    def __init__(self, **params):
        self.p = SimpleNamespace(**{**self.default_params(), **params})
        self._states: dict[tuple, Any] = {}

    # ----- the part a theme writes -------------------------------------------------------------
    def target_weights(self, view) -> dict[str, float] | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self, view) -> Any:
        """The theme's state at a decision point; themes that act on a change of state override it."""
        return _UNSET

    def may_act(self, asof, before):
        """For a theme whose timing is a calendar: at decision points whose view is as of `asof` and
        whose previous point's view as of `before` (numpy datetime64 arrays, NaT before the opening
        point), True where target_weights may return weights. None (the default): at any point.

        The engines ask the theme only where True: a monthly theme costs one call a month, not two a
        session. tests/strategies check an override against target_weights at every point.
        """
        return None

    # ----- what the engines call -----------------------------------------------------------------
    def decide(self, view) -> dict[str, float] | None:
        """Target weights at this decision point, or None to hold.

        For a theme with a `state`, None wherever the state equals the previous decision point's.
        """
        if type(self).state is Theme.state:  # no state: weights at every point
            return self.target_weights(view)
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
            if (name.endswith("basket") or name == "universe") and isinstance(value, (list, tuple)):
                out.extend(str(t) for t in value)  # a screen's names come from its universe (backtest.execution.facts)
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
    def params_model(cls) -> type[BaseModel]:
        """The pydantic model of this theme's parameters: one field per default, its type from the
        default's, its (low, high) bounds from `param_bounds`, unknown names refused. Built once per
        class (rebuilt if the class's params or bounds change)."""
        return params_model(cls)

    @classmethod
    def validate_params(cls, given: dict[str, Any], file: str = "config") -> dict[str, Any]:
        """Merge a config's params over the defaults, checking names, types and bounds (params_model)."""
        defaults = cls.default_params()
        screens, plain = {}, {}
        for name, value in given.items():
            if name in defaults and (is_screen(value) or isinstance(value, Screen)):
                # a basket given as a rule (strategies.screens); backtest.config checks that its universe exists
                if name not in cls.screen_params:
                    raise ConfigError(file=file, field=f"params.{name}", problem=f"{cls.__name__} takes a list of "
                                      "tickers here, not a screen", fix="List the tickers; themes whose docs say so "
                                      "(governance_reform) take a screen.")
                screens[name] = value if isinstance(value, Screen) else parse_screen(value, file, f"params.{name}")
            else:
                plain[name] = value
        try:
            checked = cls.params_model().model_validate(plain)
        except ValidationError as exc:
            raise _config_error(cls, exc, plain, defaults, file) from None
        out = dict(defaults)
        out.update({name: getattr(checked, _field_name(list(defaults), name)) for name in plain})
        out.update(screens)
        for name, (problem, fix) in cls.required_lists.items():
            if not out[name]:
                raise ConfigError(file=file, field=f"params.{name}", problem=problem, fix=fix)
        return out


# The name themes and plugins were written against.
ThemeStrategy = Theme


# ----- the parameter models -----------------------------------------------------------------------
# (problem, fix) of a value of the wrong type, by the kind of its default
_KINDS = {
    "bool": ("true or false", "Write true or false."),
    "int": ("a whole number", "Write an integer such as 60."),
    "float": ("a number", "Write a number such as 0.2."),
    "str": ("text", "Write a quoted string."),
    "list": ("a list of names or tickers", 'Write a YAML list, e.g. ["1631", "1632"].'),
}
_REPEATS = "a list without repeats"
_BOUND_ERRORS = {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}
_MODELS: "weakref.WeakKeyDictionary[type, tuple[tuple, type[BaseModel]]]" = weakref.WeakKeyDictionary()


def _kind(default: Any) -> str | None:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (tuple, list, Screen)):  # a basket that screens by default also takes a list
        return "list"
    return None


def _name_or_number(value: Any) -> Any:
    """YAML reads 1306 as a number: a name or ticker may be written either way (never true/false)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _as_names(value: Any) -> Any:
    """One name or a list of names, as a tuple of str (what is not a name is left for the type check)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (list, tuple)):
        return tuple(_name_or_number(v) for v in value)
    return value


def _no_repeats(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError(_REPEATS)
    return value


def _unsupported(name: str, default: Any):
    def refuse(value: Any) -> Any:
        raise StrategyError(theme=f"params.{name}", problem=f"parameter default of type {type(default).__name__} is not supported",
                            fix="Use bool, int, float, str or a tuple of str.")
    return refuse


def _field_type(name: str, default: Any, bounds: tuple[float, float] | None) -> Any:
    kind = _kind(default)
    limits = {"ge": bounds[0], "le": bounds[1]} if bounds is not None and kind in ("int", "float") else {}
    if kind == "bool":
        return bool
    if kind == "int":
        return Annotated[int, Field(**limits)]
    if kind == "float":
        return Annotated[float, Field(allow_inf_nan=False, **limits)]
    if kind == "str":
        return Annotated[str, BeforeValidator(_name_or_number)]
    if kind == "list":
        return Annotated[tuple[str, ...], BeforeValidator(_as_names), AfterValidator(_no_repeats)]
    if default is None:
        return Any
    return Annotated[Any, BeforeValidator(_unsupported(name, default))]


def _field_name(names: list[str], name: str) -> str:
    # fields are named by position and validated by alias, so a parameter may have any name
    # (even one of BaseModel's own attributes, such as `copy` or `schema`)
    return f"p{names.index(name)}"


def params_model(cls: type) -> type[BaseModel]:
    """The pydantic model of a Theme class's params (see Theme.params_model)."""
    defaults = cls.default_params()
    bounds = dict(getattr(cls, "param_bounds", {}) or {})
    key = (tuple((k, repr(v)) for k, v in defaults.items()), tuple((k, repr(v)) for k, v in bounds.items()))
    cached = _MODELS.get(cls)
    if cached is not None and cached[0] == key:
        return cached[1]
    names = list(defaults)
    fields: dict[str, Any] = {
        _field_name(names, name): (_field_type(name, default, bounds.get(name)), Field(default, alias=name))
        for name, default in defaults.items()
    }
    model = create_model(f"{cls.__name__}Params", __config__=ConfigDict(extra="forbid", strict=True), **fields)
    _MODELS[cls] = (key, model)
    return model


def _config_error(cls: type, exc: ValidationError, given: dict[str, Any], defaults: dict[str, Any],
                  file: str) -> ConfigError:
    """The first problem, in the order the config gives its params, as one ConfigError with its fix."""
    order = {name: i for i, name in enumerate(given)}
    error = min(exc.errors(), key=lambda e: order.get(str(e["loc"][0]) if e["loc"] else "", len(order)))
    name = str(error["loc"][0]) if error["loc"] else "?"
    field = f"params.{name}"
    value = given.get(name)
    if error["type"] == "extra_forbidden":
        return ConfigError(file=file, field=field, problem="unknown parameter", fix=did_you_mean(name, defaults))
    if error["type"] in _BOUND_ERRORS:
        lo, hi = cls.param_bounds[name]
        return ConfigError(file=file, field=field, problem=f"expected a value from {lo} to {hi}, got {value!r}",
                           fix=f"Choose a value in [{lo}, {hi}].")
    if error["type"] == "value_error" and _REPEATS in error["msg"]:
        return ConfigError(file=file, field=field, problem=f"expected a list without repeats, got {value!r}",
                           fix="Remove the duplicated entries.")
    kind, fix = _KINDS.get(_kind(defaults.get(name)) or "", ("a valid value", error["msg"]))
    return ConfigError(file=file, field=field, problem=f"expected {kind}, got {value!r}", fix=fix)
