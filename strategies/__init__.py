"""Theme strategies: one module per theme, each registering a Theme subclass (backtest.strategy.Theme)."""

from strategies.registry import discover, get_theme, register_theme

__all__ = ["discover", "get_theme", "register_theme"]
