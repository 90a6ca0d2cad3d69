"""Figures as the benchmarks report them: percentiles, milliseconds, ratios."""

from __future__ import annotations


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def ms(seconds: float) -> float:
    """Seconds as milliseconds, to 0.1 ms."""
    return round(seconds * 1000, 1)


def ratio(numerator: float, denominator: float) -> float:
    """A ratio to three decimals."""
    return round(numerator / denominator, 3)
