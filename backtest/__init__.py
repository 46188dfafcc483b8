"""themebt: backtest Japanese equity theme portfolios against TOPIX.

From Python (a notebook)::

    import backtest as tb
    run = tb.run("configs/boj_rotation.yaml", data="demo")
    run.metrics, run.returns, run.chart()

Importing this package is cheap and changes nothing: every name below is imported on first use.
The package layout and what each sub-package may import: docs/architecture.md.
"""

__version__ = "0.1.0"

__all__ = ["run", "compare", "sweep", "load_config", "Run", "Theme", "register_theme", "__version__"]

_FROM_API = ("run", "compare", "sweep", "load_config", "Run")


def __getattr__(name: str):
    # fixed imports only (tests/trust: no module is ever imported by a name built from text)
    if name in _FROM_API:
        from backtest import api

        return getattr(api, name)
    if name == "Theme":
        from strategies.base import Theme

        return Theme
    if name == "register_theme":
        from strategies.registry import register_theme

        return register_theme
    raise AttributeError(f"module 'backtest' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
