"""themebt: backtest Japanese equity theme portfolios against TOPIX.

From Python (a notebook)::

    import backtest as tb
    run = tb.run("configs/boj_rotation.yaml", data="demo")
    run.metrics, run.returns, run.chart()

Importing this package is cheap and changes nothing: every name below is imported on first use.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

__all__ = ["run", "compare", "sweep", "load_config", "Run", "Theme", "register_theme", "__version__"]

_LAZY = {
    "load_config": ("backtest.api", "load_config"),
    "Run": ("backtest.api", "Run"),
    "Theme": ("backtest.strategy", "Theme"),
    "register_theme": ("strategies.registry", "register_theme"),
}


class _Entry:
    # `backtest.run`, `backtest.compare`, `backtest.sweep`: called, the API function of backtest.api;
    # read or patched as a module, the module of the same name (backtest/run.py, ...), which keeps
    # `import backtest.run as m; m.execute_run` and monkeypatching working.

    __slots__ = ("_function", "_module")

    def __init__(self, function: str, module: str):
        object.__setattr__(self, "_function", function)
        object.__setattr__(self, "_module", module)

    def _api(self):
        return getattr(importlib.import_module("backtest.api"), self._function)

    @property
    def __doc__(self):  # type: ignore[override]
        return self._api().__doc__

    def __call__(self, *args, **kwargs):
        return self._api()(*args, **kwargs)

    def __getattr__(self, name):
        if name == "__wrapped__":  # inspect.signature and help() show the API function's
            return self._api()
        return getattr(importlib.import_module(self._module), name)

    def __setattr__(self, name, value):
        setattr(importlib.import_module(self._module), name, value)

    def __delattr__(self, name):
        delattr(importlib.import_module(self._module), name)

    def __repr__(self):
        return f"<function backtest.{self._function} (module {self._module})>"


class _Package(types.ModuleType):
    def __getattr__(self, name):
        try:
            module, attr = _LAZY[name]
        except KeyError:
            raise AttributeError(f"module 'backtest' has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), attr)

    def __setattr__(self, name, value):
        # importing backtest.run (.compare, .sweep) would set the module over the API function
        if isinstance(self.__dict__.get(name), _Entry) and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted({*self.__dict__, *_LAZY})


run = _Entry("run", "backtest.run")
compare = _Entry("compare", "backtest.compare")
sweep = _Entry("sweep", "backtest.sweep")

sys.modules[__name__].__class__ = _Package
