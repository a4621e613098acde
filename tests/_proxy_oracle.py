"""Row-based proxy formulas: the oracle the engines' mergeable proxy statistics
(:mod:`auditor.metrics.proxies`, :func:`auditor.metrics.gap.share_auc`) must equal. Not
used by the package (issue 20: one form on every engine; this one survives only to check
it)."""

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


_FOLDS = 5
_PRIOR_WEIGHT = 1.0


def out_of_fold_share(codes: np.ndarray, member: np.ndarray, offset: int = 0) -> np.ndarray:
    """Each row's category share of ``member``, estimated without the row's own fold.

    An in-sample share flatters features with many categories (a category of one person
    predicts that person perfectly); 5-fold cross-fitting with a light pull to the
    overall share keeps the AUC honest. Row ``i`` is in fold ``(offset + i) % 5`` (its
    position in the whole data), so chunks of one data set give the same folds and the
    per-(fold, category) counts merge exactly.
    """
    k = int(codes.max()) + 1
    weights = member.astype(np.float64)
    fold = (offset + np.arange(len(codes))) % _FOLDS
    n_all = np.bincount(codes, minlength=k)
    m_all = np.bincount(codes, weights=weights, minlength=k)
    prior = float(weights.mean())
    out = np.empty(len(codes))
    for f in range(_FOLDS):
        rows = fold == f
        n_in = np.bincount(codes[rows], minlength=k)
        m_in = np.bincount(codes[rows], weights=weights[rows], minlength=k)
        share = (m_all - m_in + prior * _PRIOR_WEIGHT) / (n_all - n_in + _PRIOR_WEIGHT)
        out[rows] = share[codes[rows]]
    return out
