"""Proxy detection: how strongly each model feature encodes a protected attribute.

Categorical features: Cramér's V against the attribute. Numeric features: the
correlation ratio η (square root of the share of the feature's variance explained by the
attribute's groups). Both lie in [0, 1]; unknown group values are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.result import ProxyScore


def proxy_scores(features: pd.DataFrame, protected: pd.DataFrame) -> list[ProxyScore]:
    """One score per (feature, attribute), strongest first."""
    out: list[ProxyScore] = []
    for attr in protected.columns:
        known = (protected[attr] != UNKNOWN).to_numpy()
        groups = protected[attr].to_numpy()[known]
        for feat in features.columns:
            col = features[feat][known]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                out.append(
                    ProxyScore(
                        feat,
                        attr,
                        "correlation_ratio",
                        correlation_ratio(col.to_numpy(float), groups),
                    )
                )
            else:
                out.append(
                    ProxyScore(
                        feat, attr, "cramers_v", cramers_v(col.astype(str).to_numpy(), groups)
                    )
                )
    return sorted(out, key=lambda p: (-p.value, p.attribute, p.feature))


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
    if total == 0:
        return 0.0
    codes, _ = pd.factorize(groups)
    count = np.bincount(codes)
    means = np.bincount(codes, weights=values) / count
    between = float((count * (means - values.mean()) ** 2).sum())
    return float(np.sqrt(between / total))
