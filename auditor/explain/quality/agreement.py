"""Agreement between two methods' attributions of the same rows (the "disagreement problem").

Per row, over features ranked by |attribution|: Spearman's and Kendall's rank correlation
and the overlap of the top-k sets (|A ∩ B| / k); each averaged over rows. Rows where one
method gives every feature the same value have no ranking and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from auditor.explain.quality.stability import top_k


@dataclass(frozen=True)
class Agreement:
    """How similarly two methods rank features, averaged over rows."""

    a: str
    b: str
    spearman: float
    kendall: float
    top_k_overlap: float
    k: int
    rows: int


def _row_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b``."""
    da = a - a.mean(axis=1, keepdims=True)
    db = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((da**2).sum(axis=1) * (db**2).sum(axis=1))
    return np.asarray((da * db).sum(axis=1) / den, dtype=np.float64)


def kendall_tau_b(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair, vectorised over rows (scipy's, without the loop)."""
    sa = np.sign(a[:, :, None] - a[:, None, :])
    sb = np.sign(b[:, :, None] - b[:, None, :])
    p = a.shape[1]
    pairs = p * (p - 1) / 2
    concordance = (sa * sb).sum(axis=(1, 2)) / 2
    ties_a = ((sa == 0).sum(axis=(1, 2)) - p) / 2
    ties_b = ((sb == 0).sum(axis=(1, 2)) - p) / 2
    return np.asarray(concordance / np.sqrt((pairs - ties_a) * (pairs - ties_b)), dtype=np.float64)


def agreement(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, *, k: int) -> Agreement:
    """Compare two n × p attribution matrices of the same rows."""
    ma, mb = np.abs(a), np.abs(b)
    ok = (np.ptp(ma, axis=1) > 0) & (np.ptp(mb, axis=1) > 0)
    ma, mb = ma[ok], mb[ok]
    if not len(ma):
        nan = float("nan")
        return Agreement(a_name, b_name, nan, nan, nan, k, 0)
    spearman = _row_corr(stats.rankdata(ma, axis=1), stats.rankdata(mb, axis=1))
    kendall = kendall_tau_b(ma, mb)
    ta, tb = top_k(ma, k), top_k(mb, k)
    overlap = np.array([len(set(x) & set(y)) / k for x, y in zip(ta, tb, strict=True)])
    return Agreement(
        a_name,
        b_name,
        float(np.nanmean(spearman)),
        float(np.nanmean(kendall)),
        float(overlap.mean()),
        k,
        len(ma),
    )
