"""themebt: backtest Japanese equity theme portfolios against TOPIX."""

__version__ = "0.1.0"
