"""Interval estimates and tests for proportions and their ratios."""

from __future__ import annotations

import math

from scipy import stats

Z95 = 1.959963984540054


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (well behaved near 0, 1 and for small n)."""
    if n == 0:
        return None, None
    p = count / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0/n and n/n the bound is exactly 0 or 1; rounding must not exclude the estimate
    lo = 0.0 if count == 0 else max(0.0, centre - half)
    hi = 1.0 if count == n else min(1.0, centre + half)
    return lo, hi


def ratio_interval(
    x1: int, n1: int, x2: int, n2: int, z: float = Z95
) -> tuple[float | None, float | None]:
    """Katz log interval for the ratio of two proportions (x1/n1) / (x2/n2)."""
    if min(x1, x2, n1, n2) == 0:
        return None, None
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    return ratio * math.exp(-z * se), ratio * math.exp(z * se)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, str]:
    """Two-sided p-value for equal proportions, and the test used.

    Fisher's exact test when any expected cell is below 5 (small samples), else the
    pooled two-proportion z-test (the "two standard deviations" convention).
    """
    if n1 == 0 or n2 == 0:
        return None, "none"
    total_x, total_n = x1 + x2, n1 + n2
    expected = [
        n1 * total_x / total_n,
        n1 * (total_n - total_x) / total_n,
        n2 * total_x / total_n,
        n2 * (total_n - total_x) / total_n,
    ]
    if min(expected) < 5:
        _, p = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])
        return float(p), "fisher_exact"
    pooled = total_x / total_n
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0, "z_test"
    zval = (x1 / n1 - x2 / n2) / se
    return float(2 * stats.norm.sf(abs(zval))), "z_test"
