"""Portfolio construction as pure functions: ticker -> weight dicts that sum to at most 1."""

from __future__ import annotations


def equal_weight(tickers, total: float = 1.0) -> dict[str, float]:
    """Each ticker gets total / n."""
    tickers = list(dict.fromkeys(tickers))
    if not tickers:
        return {}
    return {t: total / len(tickers) for t in tickers}


def overweight(basket, vs: str, by: float) -> dict[str, float]:
    """Hold `vs` (usually the benchmark) with `by` of the portfolio moved into an equal-weight basket."""
    out = {vs: 1.0 - by}
    for ticker, w in equal_weight(basket, by).items():
        out[ticker] = out.get(ticker, 0.0) + w
    return {t: w for t, w in out.items() if w != 0.0}


def blend(*parts: tuple[float, dict[str, float]]) -> dict[str, float]:
    """Sum of scale * weights over parts, e.g. blend((0.5, a), (0.5, b))."""
    out: dict[str, float] = {}
    for scale, weights in parts:
        for ticker, w in weights.items():
            out[ticker] = out.get(ticker, 0.0) + scale * w
    return out
