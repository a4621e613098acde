"""Per-group sufficient statistics: every metric is computed from these counts.

Counts add up exactly across partitions (``GroupCounts.merge``), so a batch can be
measured piece by piece and every reported rate traced back to its numerator and
denominator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class GroupCounts:
    """Counts for one group of one attribute."""

    n: int
    favorable: int
    above_median: int | None = None
    positives: int | None = None  # true label favourable
    true_positives: int | None = None  # favourable decision among positives
    negatives: int | None = None
    false_positives: int | None = None  # favourable decision among negatives

    def merge(self, other: GroupCounts) -> GroupCounts:
        """Exact combination of two partitions' counts."""

        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a + b

        return GroupCounts(
            self.n + other.n,
            self.favorable + other.favorable,
            add(self.above_median, other.above_median),
            add(self.positives, other.positives),
            add(self.true_positives, other.true_positives),
            add(self.negatives, other.negatives),
            add(self.false_positives, other.false_positives),
        )


def count_groups(
    groups: pd.Series,
    decisions: np.ndarray,
    *,
    above_median: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> dict[str, GroupCounts]:
    """Counts per group label, groups in sorted order."""
    out: dict[str, GroupCounts] = {}
    codes, uniques = pd.factorize(groups, sort=True)
    k = len(uniques)
    n = np.bincount(codes, minlength=k)
    fav = np.bincount(codes, weights=decisions, minlength=k)
    above = None if above_median is None else np.bincount(codes, weights=above_median, minlength=k)
    if labels is not None:
        pos = np.bincount(codes, weights=labels, minlength=k)
        tp = np.bincount(codes, weights=labels * decisions, minlength=k)
        fp = np.bincount(codes, weights=(1 - labels) * decisions, minlength=k)
    for i, name in enumerate(uniques):
        out[str(name)] = GroupCounts(
            n=int(n[i]),
            favorable=int(fav[i]),
            above_median=None if above is None else int(above[i]),
            positives=None if labels is None else int(pos[i]),
            true_positives=None if labels is None else int(tp[i]),
            negatives=None if labels is None else int(n[i] - pos[i]),
            false_positives=None if labels is None else int(fp[i]),
        )
    return out
