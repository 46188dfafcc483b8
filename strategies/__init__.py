"""Theme strategies: one module per theme, each registering a Theme subclass (strategies.base.Theme)."""

from strategies.registry import discover, get_theme, register_theme

__all__ = ["discover", "get_theme", "register_theme"]
