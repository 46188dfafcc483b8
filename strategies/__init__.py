"""Theme strategies: one module per theme, each registering a ThemeStrategy subclass."""

from strategies.registry import discover, get_theme, register_theme

__all__ = ["discover", "get_theme", "register_theme"]
