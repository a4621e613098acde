"""Mergeable attribution statistics: per-group sums from which every attribution summary follows.

Each chunk (or Spark partition) of explained rows contributes, per grouping and group:
the row count, the sum of attributions and of their magnitudes per feature, and the sums
of model output, base value and additivity residual. Sums add across chunks, and every
engine's attribution summary (:mod:`auditor.engine.summary`) comes from them: the one
form (issue 20). The row-based means they equal up to the order of floating-point
summation (relative differences ~1e-15) are the tests' oracle
(``tests/_attribution_oracle.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class GroupSums:
    """Sums over one group's explained rows."""

    n: int
    phi: np.ndarray
    abs_phi: np.ndarray
    output: float
    base: float
    residual: float

    def add(self, other: GroupSums) -> None:
        """Add another chunk's sums for the same group, in place."""
        self.n += other.n
        self.phi = self.phi + other.phi
        self.abs_phi = self.abs_phi + other.abs_phi
        self.output += other.output
        self.base += other.base
        self.residual += other.residual


@dataclass
class AttributionSums:
    """Everything the attribution summary needs, as sums that merge across chunks."""

    n_features: int
    n: int = 0
    abs_total: np.ndarray | None = None
    base_total: float = 0.0
    additivity_error: float = 0.0
    groups: dict[str, dict[str, GroupSums]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    steps_used: int | None = None
    rows_refined: int = 0

    def add_rows(
        self,
        values: np.ndarray,
        base: np.ndarray,
        outputs: np.ndarray,
        gaps: np.ndarray,
        groupings: dict[str, tuple[np.ndarray, list[str]]],
    ) -> None:
        """Accumulate explained rows; ``groupings`` maps a grouping to (codes, names)."""
        if not len(values):
            return
        magnitudes = np.abs(values)
        residual = outputs - base - values.sum(axis=1)
        self.n += len(values)
        total = magnitudes.sum(axis=0)
        self.abs_total = total if self.abs_total is None else self.abs_total + total
        self.base_total += float(base.sum())
        self.additivity_error = max(self.additivity_error, float(np.max(gaps, initial=0.0)))
        for grouping, (codes, names) in groupings.items():
            per = self.groups.setdefault(grouping, {})
            for code in np.unique(codes).tolist():
                mask = codes == code
                part = GroupSums(
                    int(mask.sum()),
                    values[mask].sum(axis=0),
                    magnitudes[mask].sum(axis=0),
                    float(outputs[mask].sum()),
                    float(base[mask].sum()),
                    float(residual[mask].sum()),
                )
                name = names[code]
                if name in per:
                    per[name].add(part)
                else:
                    per[name] = part

    def merge(self, other: AttributionSums) -> AttributionSums:
        """Combine two chunks' sums (returns self)."""
        self.n += other.n
        if other.abs_total is not None:
            self.abs_total = (
                other.abs_total if self.abs_total is None else self.abs_total + other.abs_total
            )
        self.base_total += other.base_total
        self.additivity_error = max(self.additivity_error, other.additivity_error)
        for grouping, groups in other.groups.items():
            per = self.groups.setdefault(grouping, {})
            for name, s in groups.items():
                if name in per:
                    per[name].add(s)
                else:
                    per[name] = GroupSums(
                        s.n, s.phi.copy(), s.abs_phi.copy(), s.output, s.base, s.residual
                    )
        self.params = self.params or other.params
        self.note_refinement(other.steps_used, other.rows_refined)
        return self

    def note_refinement(self, steps_used: int | None, rows_refined: int) -> None:
        """Record a chunk's step refinement: the most steps any row needed wins.

        In memory, ``rows_refined`` counts the rows redone in the last (largest) round, so
        only chunks that reached the same number of steps add to it.
        """
        if steps_used is None:
            return
        if self.steps_used is None or steps_used > self.steps_used:
            self.steps_used, self.rows_refined = steps_used, rows_refined
        elif steps_used == self.steps_used:
            self.rows_refined += rows_refined
