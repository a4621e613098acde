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


def agreement(a_name: str, a: np.ndarray, b_name: str, b: np.ndarray, *, k: int) -> Agreement:
    """Compare two n × p attribution matrices of the same rows."""
    ma, mb = np.abs(a), np.abs(b)
    ok = (np.ptp(ma, axis=1) > 0) & (np.ptp(mb, axis=1) > 0)
    ma, mb = ma[ok], mb[ok]
    if not len(ma):
        nan = float("nan")
        return Agreement(a_name, b_name, nan, nan, nan, k, 0)
    ra = stats.rankdata(ma, axis=1)
    rb = stats.rankdata(mb, axis=1)
    spearman = np.array([np.corrcoef(x, y)[0, 1] for x, y in zip(ra, rb, strict=True)])
    kendall = np.array(
        [stats.kendalltau(x, y).statistic for x, y in zip(ma, mb, strict=True)], dtype=float
    )
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
