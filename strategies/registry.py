"""The theme registry: theme key -> strategy class, filled by @register_theme as modules import."""

from __future__ import annotations

import importlib
import pkgutil

from backtest.errors import ConfigError, did_you_mean

_THEMES: dict[str, type] = {}
_NOT_THEMES = {"registry", "weights"}


def register_theme(key: str):
    """Class decorator: make a ThemeStrategy subclass runnable as `theme: <key>` in a config."""

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
    return dict(sorted(_THEMES.items()))


def get_theme(key: str, file: str = "config") -> type:
    themes = discover()
    if key not in themes:
        raise ConfigError(
            file=file, field="theme", problem=f"unknown theme '{key}'",
            fix=f"{did_you_mean(key, themes)} `themebt themes` lists them.",
        )
    return themes[key]
