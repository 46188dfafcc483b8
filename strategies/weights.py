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


def capped(weights: dict[str, float], max_weight: float, spill: str) -> dict[str, float]:
    """Cut every weight other than `spill`'s to at most max_weight, moving the excess into `spill`.

    `spill` is usually the benchmark: what a capped basket cannot hold stays in the market.
    """
    out: dict[str, float] = {}
    excess = 0.0
    for ticker, w in weights.items():
        if ticker != spill and w > max_weight:
            excess += w - max_weight
            w = max_weight
        out[ticker] = w
    if excess > 0.0:
        out[spill] = out.get(spill, 0.0) + excess
    return out
