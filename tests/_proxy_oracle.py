"""Row-based proxy formulas: the oracle the engines' mergeable proxy statistics
(:mod:`auditor.metrics.proxies`) must equal to rounding. Not used by the package (issue 20:
one form on every engine; this one survives only to check it)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two categorical arrays (0 when either is constant)."""
    table = pd.crosstab(a, b).to_numpy(dtype=np.float64)
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) @ table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))


def correlation_ratio(values: np.ndarray, groups: np.ndarray) -> float:
    """η: sqrt(between-group sum of squares / total sum of squares), NaNs ignored."""
    ok = ~np.isnan(values)
    values, groups = values[ok], groups[ok]
    if len(values) == 0:
        return 0.0
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0 or values.min() == values.max():  # constant: mean rounding is no signal
        return 0.0
    codes, _ = pd.factorize(groups)
    count = np.bincount(codes)
    means = np.bincount(codes, weights=values) / count
    between = float((count * (means - values.mean()) ** 2).sum())
    return float(np.sqrt(between / total))
