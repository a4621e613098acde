"""The mergeable sums of one probabilistic grouping (see :mod:`auditor.metrics.weighted`).

Apart from the records built from them so that the decision cells
(:mod:`auditor.metrics.cells`) can hold them without importing the group metrics, which
build on the cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class WeightedSums:
    """Per group of one probabilistic grouping: Σ weight, Σ weight², Σ weight × decision.

    Plus the rows of unknown membership (count, favourable). Sums add across partitions
    (floating point, to rounding); groups are kept in ``order`` (the in-memory column
    order: each part's groups, probabilistic ones in spec order, hard ones sorted).
    """

    names: list[str]
    order: list[tuple[object, ...]]
    wsum: np.ndarray
    wsq: np.ndarray
    fav: np.ndarray
    n_unknown: int = 0
    x_unknown: int = 0

    @classmethod
    def of(
        cls,
        weights: pd.DataFrame,
        decisions: np.ndarray,
        unknown: np.ndarray | None = None,
        order: list[tuple[object, ...]] | None = None,
    ) -> WeightedSums:
        """The sums of one batch of rows (``weights``: one column per group)."""
        d = np.asarray(decisions, dtype=np.float64)
        w = weights.to_numpy(np.float64)
        names = [str(c) for c in weights.columns]
        n_unknown = x_unknown = 0
        if unknown is not None:
            n_unknown = int(unknown.sum())
            x_unknown = int(np.asarray(decisions)[unknown].sum())
        return cls(
            names,
            order if order is not None else [(i,) for i in range(len(names))],
            w.sum(axis=0),
            (w * w).sum(axis=0),
            w.T @ d,
            n_unknown,
            x_unknown,
        )

    def merge(self, other: WeightedSums) -> WeightedSums:
        """Combine two partitions' sums (a group missing from one counts zero there)."""
        keys = dict(zip(self.names, self.order, strict=True))
        keys.update(zip(other.names, other.order, strict=True))
        names = sorted(keys, key=lambda n: keys[n])

        def add(a: np.ndarray, an: list[str], b: np.ndarray, bn: list[str]) -> np.ndarray:
            out = np.zeros(len(names))
            where = {n: i for i, n in enumerate(names)}
            for arr, ns in ((a, an), (b, bn)):
                idx = [where[n] for n in ns]
                out[idx] += arr
            return out

        return WeightedSums(
            names,
            [keys[n] for n in names],
            add(self.wsum, self.names, other.wsum, other.names),
            add(self.wsq, self.names, other.wsq, other.names),
            add(self.fav, self.names, other.fav, other.names),
            self.n_unknown + other.n_unknown,
            self.x_unknown + other.x_unknown,
        )
