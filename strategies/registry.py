"""The theme registry: theme key -> strategy class, filled by @register_theme as modules import."""

from __future__ import annotations

import importlib
import pkgutil
import re
from importlib import metadata

from backtest.errors import ConfigError, StrategyError, did_you_mean

# Installed packages add themes here (name = module:Class); a config can never name code itself.
ENTRY_POINT_GROUP = "themebt.themes"
# A key becomes part of a folder name and is never read as an import or file path.
THEME_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

_THEMES: dict[str, type] = {}
_NOT_THEMES = {"registry", "weights"}


def register_theme(key: str):
    """Class decorator: make a ThemeStrategy subclass runnable as `theme: <key>` in a config."""

    if not THEME_KEY.match(key):
        raise ValueError(f"theme key {key!r} must be lowercase letters, digits and _, starting with a letter")

    def decorate(cls):
        if key in _THEMES and _THEMES[key] is not cls:
            raise RuntimeError(f"theme key {key!r} registered twice ({_THEMES[key].__name__}, {cls.__name__})")
        cls.theme_key = key
        _THEMES[key] = cls
        return cls

    return decorate


def discover() -> dict[str, type]:
    """Import every module in strategies/ so that each registers its theme; key -> class, sorted."""
    import strategies

    for module in pkgutil.iter_modules(strategies.__path__):
        if module.name not in _NOT_THEMES and not module.name.startswith("_"):
            importlib.import_module(f"strategies.{module.name}")
    _load_plugins()
    return dict(sorted(_THEMES.items()))


def _load_plugins() -> None:
    """Register the theme class of every `themebt.themes` entry point of the installed packages."""
    from strategies.base import ThemeStrategy

    for point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        where = f"{point.name} = {point.value} (entry point group {ENTRY_POINT_GROUP})"
        fix = "Fix or uninstall the package that declares it"
        if not THEME_KEY.match(point.name):
            raise StrategyError(theme=where, problem="a theme key is lowercase letters, digits and _", fix=fix)
        try:
            cls = point.load()
        except Exception as exc:  # a broken plugin is the installation's problem, not a themebt bug
            raise StrategyError(theme=where, problem=f"cannot be imported ({type(exc).__name__}: {exc})", fix=fix) from None
        if not (isinstance(cls, type) and issubclass(cls, ThemeStrategy)):
            raise StrategyError(theme=where, problem="does not name a ThemeStrategy subclass", fix=fix)
        if _THEMES.get(point.name, cls) is not cls:
            raise StrategyError(theme=where, problem=f"'{point.name}' is already the theme {_THEMES[point.name].__name__}",
                                fix="Give the entry point another name")
        register_theme(point.name)(cls)


def get_theme(key: str, file: str = "config") -> type:
    themes = discover()
    if key not in themes and any(c in str(key) for c in ".:/\\"):
        raise ConfigError(
            file=file, field="theme", problem=f"'{key}' looks like an import path, and a config never names code",
            fix=f"Use a theme name from `themebt themes`; a new theme is a module in strategies/ or an installed "
                f"package's '{ENTRY_POINT_GROUP}' entry point.",
        )
    if key not in themes:
        raise ConfigError(
            file=file, field="theme", problem=f"unknown theme '{key}'",
            fix=f"{did_you_mean(key, themes)} `themebt themes` lists them.",
        )
    return themes[key]
