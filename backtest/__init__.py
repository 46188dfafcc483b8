"""themebt: backtest Japanese equity theme portfolios against TOPIX.

From Python (a notebook)::

    import backtest as tb
    run = tb.run("configs/boj_rotation.yaml", data="demo")
    run.metrics, run.returns, run.chart()

Importing this package is cheap and changes nothing: every name below is imported on first use.
"""

import sys
import types

__version__ = "0.1.0"

__all__ = ["run", "compare", "sweep", "load_config", "Run", "Theme", "register_theme", "__version__"]

_LAZY = ("load_config", "Run", "Theme", "register_theme")


def _lazy(name: str):
    # fixed imports only (tests/trust: no module is ever imported by a name built from text)
    if name in ("load_config", "Run"):
        from backtest import api

        return getattr(api, name)
    if name == "Theme":
        from backtest.strategy import Theme

        return Theme
    from strategies.registry import register_theme

    return register_theme


def _module(name: str) -> types.ModuleType:
    if name == "run":
        import backtest.run  # noqa: F401
    elif name == "compare":
        import backtest.compare  # noqa: F401
    else:
        import backtest.sweep  # noqa: F401
    return sys.modules[f"backtest.{name}"]


class _Entry:
    # `backtest.run`, `backtest.compare`, `backtest.sweep`: called, the API function of backtest.api;
    # read or patched as a module, the module of the same name (backtest/run.py, ...), which keeps
    # `import backtest.run as m; m.execute_run` and monkeypatching working.

    __slots__ = ("_function",)

    def __init__(self, function: str):
        object.__setattr__(self, "_function", function)

    def _api(self):
        from backtest import api

        return getattr(api, self._function)

    @property
    def __doc__(self):  # type: ignore[override]
        return self._api().__doc__

    def __call__(self, *args, **kwargs):
        return self._api()(*args, **kwargs)

    def __getattr__(self, name):
        if name == "__wrapped__":  # inspect.signature and help() show the API function's
            return self._api()
        return getattr(_module(self._function), name)

    def __setattr__(self, name, value):
        setattr(_module(self._function), name, value)

    def __delattr__(self, name):
        delattr(_module(self._function), name)

    def __repr__(self):
        return f"<function backtest.{self._function} (also the module backtest/{self._function}.py)>"


class _Package(types.ModuleType):
    def __getattr__(self, name):
        if name not in _LAZY:
            raise AttributeError(f"module 'backtest' has no attribute {name!r}")
        return _lazy(name)

    def __setattr__(self, name, value):
        # importing backtest.run (.compare, .sweep) would set the module over the API function
        if isinstance(self.__dict__.get(name), _Entry) and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted({*self.__dict__, *_LAZY})


run = _Entry("run")
compare = _Entry("compare")
sweep = _Entry("sweep")

sys.modules[__name__].__class__ = _Package
