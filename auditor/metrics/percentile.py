"""Equal-tailed percentile intervals of bootstrap replicates."""

from __future__ import annotations

import numpy as np

LEVEL = 0.95


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float] | None:
    """The equal-tailed percentile interval of the finite samples (None if there are none)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)
