"""Seeded bootstrap over counts: intervals for ratios without touching a row again.

Resampling the rows of a group and counting its favourable decisions is, in
distribution, one binomial draw per group: ``Binomial(n_g, x_g / n_g)``. So B replicates
cost O(groups × B), not O(rows × B) (a stratified multinomial bootstrap on the cells).
"""

from __future__ import annotations

import numpy as np


def bootstrap_ratio_intervals(
    fr: dict[str, tuple[int, int]],
    ref: str,
    replicates: int,
    seed: int,
    level: float = 0.95,
) -> dict[str, tuple[float, float]]:
    """Percentile interval of (x_g/n_g) / (x_ref/n_ref) per group, groups stratified.

    Replicates where the reference draws no selections (undefined ratio) are left out.
    """
    rng = np.random.default_rng(seed)
    names = sorted(fr)
    n = np.array([fr[g][1] for g in names], dtype=np.int64)
    x = np.array([fr[g][0] for g in names], dtype=np.int64)
    p = np.divide(x, n, out=np.zeros(len(names)), where=n > 0)
    draws = rng.binomial(n[:, None], p[:, None], size=(len(names), replicates))
    rates = np.divide(draws, n[:, None], out=np.zeros(draws.shape), where=n[:, None] > 0)
    ref_rate = rates[names.index(ref)]
    ok = ref_rate > 0
    out: dict[str, tuple[float, float]] = {}
    if not ok.any():
        return out
    ratios = rates[:, ok] / ref_rate[ok]
    tail = (1 - level) / 2 * 100
    lo = np.percentile(ratios, tail, axis=1)
    hi = np.percentile(ratios, 100 - tail, axis=1)
    for i, g in enumerate(names):
        if n[i] > 0:
            out[g] = (float(lo[i]), float(hi[i]))
    return out
