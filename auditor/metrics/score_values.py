"""Exact score distributions as mergeable counts: (cell, distinct score) -> rows.

The two-sample Kolmogorov–Smirnov distance needs each group's empirical CDF at every
score, which a fixed-grid histogram only brackets (issue 17: a 1,000-bin grid understated
the distance by up to 9%). Counting rows per *distinct* score value instead keeps the
full empirical distribution and still merges exactly: the counts of two partitions are
added value by value, so chunks or Spark partitions give the same multiset of scores as
the whole, and the exact KS statistic of scipy's ``ks_2samp`` follows from the counts.

The cost is one entry per distinct (cell, score) pair: small for discrete or rounded
scores, up to one per row for continuous ones. Above :data:`MAX_SCORE_PAIRS` entries the
counts are dropped (on every engine alike: the merged count decides, so whether KS is
exact never depends on how the data were split) and KS falls back to the grid bounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# entries (cell, distinct score) kept for exact KS: 3 arrays of 8 bytes each, ~48 MB
MAX_SCORE_PAIRS = 2_000_000


@dataclass(frozen=True)
class ScoreValues:
    """Rows per distinct score of one group: ``values`` ascending, ``counts`` aligned."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        """Rows counted."""
        return int(self.counts.sum())


def aggregate(
    keys: np.ndarray, values: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum ``counts`` per (key, value), sorted by key then value."""
    if len(keys) == 0:
        return keys.astype(np.int64), values.astype(np.float64), counts.astype(np.int64)
    order = np.lexsort((values, keys))
    k, v, c = keys[order], values[order], counts[order]
    new = np.empty(len(k), dtype=bool)
    new[0] = True
    new[1:] = (k[1:] != k[:-1]) | (v[1:] != v[:-1])
    starts = np.flatnonzero(new)
    return k[starts], v[starts], np.add.reduceat(c.astype(np.int64), starts)


def split_groups(
    keys: np.ndarray, values: np.ndarray, counts: np.ndarray, names: list[str]
) -> dict[str, ScoreValues]:
    """Per group name (``names[key]``) its distinct scores and counts."""
    k, v, c = aggregate(keys, values, counts)
    bounds = np.searchsorted(k, np.arange(len(names) + 1), side="left")
    return {
        name: ScoreValues(v[bounds[i] : bounds[i + 1]], c[bounds[i] : bounds[i + 1]])
        for i, name in enumerate(names)
    }


def ks_statistic(a: ScoreValues, b: ScoreValues) -> float:
    """The exact two-sample KS distance sup |F_a − F_b| from distinct-score counts.

    Both empirical CDFs are evaluated at every distinct score of either sample (as
    scipy's ``ks_2samp`` evaluates them at every pooled observation, with ties counted
    by ``searchsorted(side='right')``), so the number is the same to the last bit.
    """
    if a.n == 0 or b.n == 0:
        return 0.0
    pooled = np.union1d(a.values, b.values)
    ca = np.concatenate([[0], np.cumsum(a.counts)])
    cb = np.concatenate([[0], np.cumsum(b.counts)])
    fa = ca[np.searchsorted(a.values, pooled, side="right")] / a.n
    fb = cb[np.searchsorted(b.values, pooled, side="right")] / b.n
    diff = fa - fb
    return float(max(np.max(diff), np.clip(-np.min(diff), 0.0, 1.0)))
