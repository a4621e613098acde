"""BIRDiE's input reduced to cells, so every engine fits the same numbers.

The EM of :mod:`auditor.metrics.birdie` touches a row only through its outcome and its
membership weights, so rows alike in both are interchangeable: one *cell* per distinct
(outcome, weights) with its row count carries everything the fit and the row bootstrap
need. A cell table is mergeable (tables from chunks or Spark partitions concatenate and
re-reduce, counts adding exactly) and canonical (cells sorted lexicographically by
outcome then weights, groups by name), so the in-memory, streamed and Spark engines
hand the EM the identical table and get the identical estimates.

Its size is the number of distinct cells: a handful of proxy cells (surname bands ×
geography) give a few thousand, while row-specific BISG probabilities give about one
cell per row (then the table is as large as the rows' weights, G + 1 numbers a row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class BirdieCells:
    """Distinct (outcome, membership weights) rows of one grouping, with their counts."""

    groups: list[str]  # sorted by name
    outcome: np.ndarray  # (cells,) integer outcome codes
    weights: np.ndarray  # (cells, groups)
    counts: np.ndarray  # (cells,) rows per cell (whole numbers, float64)

    @property
    def rows(self) -> int:
        """The rows the cells stand for."""
        return int(self.counts.sum())

    def merge(self, other: BirdieCells) -> BirdieCells:
        """Both tables' rows, reduced again (groups: the union, by name)."""
        names = sorted(set(self.groups) | set(other.groups))
        parts = [t._widened(names) for t in (self, other)]
        return _reduced(
            names,
            np.concatenate([t.outcome for t in parts]),
            np.vstack([t.weights for t in parts]),
            np.concatenate([t.counts for t in parts]),
        )

    def _widened(self, names: list[str]) -> BirdieCells:
        """The table over ``names``: a group this table never saw weighs 0 in each row
        (a hard label absent from a chunk is nobody's label there)."""
        if names == self.groups:
            return self
        w = np.zeros((len(self.outcome), len(names)))
        for j, g in enumerate(self.groups):
            w[:, names.index(g)] = self.weights[:, j]
        return BirdieCells(names, self.outcome, w, self.counts)


def birdie_cells(weights: pd.DataFrame, outcome: np.ndarray) -> BirdieCells:
    """The cell table of one chunk: rows of unknown membership (all weights 0) left out,
    as the EM leaves them out."""
    names = sorted(str(c) for c in weights.columns)
    w = weights.set_axis([str(c) for c in weights.columns], axis=1)[names]
    w_arr = w.to_numpy(np.float64)
    y = np.asarray(outcome, dtype=np.int64)
    keep = w_arr.sum(axis=1) > 0
    return _reduced(names, y[keep], w_arr[keep], np.ones(int(keep.sum())))


def _reduced(
    names: list[str], outcome: np.ndarray, weights: np.ndarray, counts: np.ndarray
) -> BirdieCells:
    if not len(outcome):
        return BirdieCells(names, np.empty(0, np.int64), np.empty((0, len(names))), np.empty(0))
    table = np.column_stack([outcome.astype(np.float64), weights])
    # -0.0 and 0.0 compare equal, so they share a cell; outcome codes are small integers
    cells, inverse = np.unique(table, axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=counts, minlength=len(cells))
    return BirdieCells(names, cells[:, 0].astype(np.int64), cells[:, 1:], summed)
