"""Decision cells: the mergeable counts every group statistic of an audit comes from.

A set of decisions is summarised per *combination* of protected-attribute values (the
finest grouping; ``unknown`` kept as a value): the packed row-key counts of
:class:`~auditor.metrics.counts.RowKeys` (decision × label × above-median × fine score
bin), the score sums per calibration bin, the rows per distinct score (exact KS, see
:mod:`~auditor.metrics.score_values`), the (n, favourable) counts per segment
(``strata``) and, for groupings with a probabilistic part, the weighted sums of
:class:`~auditor.metrics.weighted_sums.WeightedSums`. Every grouping's statistics (a single
attribute or an intersection) follow by adding combinations, so the cells of two
partitions merge into exactly the cells of their union: integers exactly, float sums to
rounding. The in-memory path builds them from the whole batch; the Spark engine per
partition, merged on the driver; both then run the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.metrics.counts import (
    CALIBRATION_BINS,
    GroupCounts,
    RowKeys,
    ScoreGrid,
    counts_from_table,
)
from auditor.metrics.score_values import MAX_SCORE_PAIRS, ScoreValues, aggregate, split_groups
from auditor.metrics.weighted_sums import WeightedSums


@dataclass
class DecisionCells:
    """Counts per combination of protected values (see the module docstring)."""

    attributes: tuple[str, ...]
    combos: list[tuple[str, ...]]
    table: np.ndarray  # combos × packed row key (int64)
    csum: np.ndarray | None  # combos × calibration bin
    csq: np.ndarray | None
    has_labels: bool
    has_above: bool
    has_scores: bool
    grid: ScoreGrid | None
    strata: list[str] = field(default_factory=list)
    strata_n: np.ndarray | None = None  # combos × stratum
    strata_fav: np.ndarray | None = None
    weighted: dict[str, WeightedSums] = field(default_factory=dict)
    # rows per (combination, distinct score), sorted; None: no scores, or too many pairs
    score_pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(
        cls,
        protected: pd.DataFrame,
        rows: RowKeys,
        *,
        has_scores: bool,
        decisions: np.ndarray,
        strata: np.ndarray | None = None,
        weighted: dict[str, WeightedSums] | None = None,
    ) -> DecisionCells:
        """The cells of these rows (``protected``: one string column per attribute)."""
        attrs = tuple(str(c) for c in protected.columns)
        code = np.zeros(len(rows.key), dtype=np.int64)  # protected may have no columns
        parts: list[list[str]] = []
        for attr in attrs:
            c, u = pd.factorize(protected[attr], sort=True)
            parts.append([str(v) for v in u])
            code = code * max(len(u), 1) + c.astype(np.int64)
        present, inverse = np.unique(code, return_inverse=True)
        combos = [_decode(int(v), parts) for v in present.tolist()]
        k = len(combos)
        table = np.bincount(inverse * rows.width + rows.key, minlength=k * rows.width)
        csum = csq = None
        if rows.coarse is not None:
            cc, size = inverse * CALIBRATION_BINS + rows.coarse, k * CALIBRATION_BINS
            csum = np.bincount(cc, weights=rows.scores, minlength=size).reshape(k, -1)
            csq = np.bincount(cc, weights=rows.squares, minlength=size).reshape(k, -1)
        out = cls(
            attrs,
            combos,
            table.reshape(k, rows.width),
            csum,
            csq,
            rows.has_labels,
            rows.has_above,
            has_scores,
            rows.grid,
            weighted=dict(weighted or {}),
        )
        if rows.scores is not None:
            ones = np.ones(len(rows.scores), dtype=np.int64)
            out.score_pairs = _capped(aggregate(inverse.astype(np.int64), rows.scores, ones))
        if strata is not None:
            s_codes, s_names = pd.factorize(pd.Series(strata, dtype=object), sort=True)
            out.strata = [str(v) for v in s_names]
            m = len(out.strata)
            cell = inverse * m + s_codes.astype(np.int64)
            out.strata_n = np.bincount(cell, minlength=k * m).reshape(k, m)
            d = np.asarray(decisions, dtype=np.int64)
            out.strata_fav = np.bincount(cell, weights=d, minlength=k * m).reshape(k, m)
            out.strata_fav = out.strata_fav.round().astype(np.int64)
        return out

    @property
    def n(self) -> int:
        """Rows counted."""
        return int(self.table.sum())

    @property
    def favorable(self) -> int:
        """Favourable decisions counted."""
        return int(self.table.reshape(len(self.combos), -1, 2)[:, :, 1].sum())

    def merge(self, other: DecisionCells) -> DecisionCells:
        """The cells of both partitions (a new object)."""
        combos = sorted(set(self.combos) | set(other.combos))
        where = {c: i for i, c in enumerate(combos)}

        def add(
            a: np.ndarray | None,
            ac: list[tuple[str, ...]],
            b: np.ndarray | None,
            bc: list[tuple[str, ...]],
        ) -> np.ndarray | None:
            if a is None or b is None:
                return None
            out = np.zeros((len(combos), a.shape[1]), dtype=a.dtype)
            out[[where[c] for c in ac]] += a
            out[[where[c] for c in bc]] += b
            return out

        strata = sorted(set(self.strata) | set(other.strata))
        s_n = s_fav = None
        if self.strata_n is not None and other.strata_n is not None:
            s_n = np.zeros((len(combos), len(strata)), dtype=np.int64)
            s_fav = np.zeros_like(s_n)
            sw = {s: i for i, s in enumerate(strata)}
            for part in (self, other):
                rows = [where[c] for c in part.combos]
                cols = [sw[s] for s in part.strata]
                assert part.strata_fav is not None
                assert part.strata_n is not None
                s_n[np.ix_(rows, cols)] += part.strata_n
                s_fav[np.ix_(rows, cols)] += part.strata_fav
        weighted = dict(self.weighted)
        for name, sums in other.weighted.items():
            weighted[name] = weighted[name].merge(sums) if name in weighted else sums
        table = add(self.table, self.combos, other.table, other.combos)
        assert table is not None
        pairs = None
        if self.score_pairs is not None and other.score_pairs is not None:
            keys, values, counts = [], [], []
            for part, sp in ((self, self.score_pairs), (other, other.score_pairs)):
                remap = np.array([where[c] for c in part.combos], dtype=np.int64)
                keys.append(remap[sp[0]])
                values.append(sp[1])
                counts.append(sp[2])
            pairs = _capped(
                aggregate(np.concatenate(keys), np.concatenate(values), np.concatenate(counts))
            )
        return DecisionCells(
            self.attributes,
            combos,
            table,
            add(self.csum, self.combos, other.csum, other.combos),
            add(self.csq, self.combos, other.csq, other.combos),
            self.has_labels,
            self.has_above,
            self.has_scores,
            self.grid,
            strata,
            s_n,
            s_fav,
            weighted,
            pairs,
        )

    def labels(self, attributes: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
        """Group index of every combination for a grouping, and the sorted group names.

        Intersections are named ``a & b``; one with an unknown part is ``unknown`` as a
        whole, as :func:`auditor.metrics.counts.group_codes` names them.
        """
        idx = [self.attributes.index(a) for a in attributes]
        names = []
        for combo in self.combos:
            values = [combo[i] for i in idx]
            unknown = len(values) > 1 and UNKNOWN in values
            names.append(UNKNOWN if unknown else " & ".join(values))
        groups = sorted(set(names))
        pos = {g: i for i, g in enumerate(groups)}
        return np.array([pos[n] for n in names], dtype=np.int64), groups

    def group_counts(self, attributes: tuple[str, ...]) -> dict[str, GroupCounts]:
        """Sufficient statistics per group of one grouping (as ``count_codes`` in memory)."""
        codes, names = self.labels(attributes)
        return counts_from_table(
            names,
            _sum_rows(self.table, codes, len(names)),
            None if self.csum is None else _sum_rows(self.csum, codes, len(names)),
            None if self.csq is None else _sum_rows(self.csq, codes, len(names)),
            has_labels=self.has_labels,
            has_above=self.has_above,
            grid=self.grid,
        )

    def group_score_values(self, attributes: tuple[str, ...]) -> dict[str, ScoreValues] | None:
        """Rows per distinct score of each group of a grouping (None: not kept)."""
        if self.score_pairs is None:
            return None
        codes, names = self.labels(attributes)
        combo, values, counts = self.score_pairs
        return split_groups(codes[combo], values, counts, names)

    def strata_counts(
        self, attributes: tuple[str, ...]
    ) -> tuple[list[str], np.ndarray, np.ndarray] | None:
        """Group names and (n, favourable) per group × segment, if segments were counted."""
        if self.strata_n is None or self.strata_fav is None:
            return None
        codes, names = self.labels(attributes)
        return (
            names,
            _sum_rows(self.strata_n, codes, len(names)),
            _sum_rows(self.strata_fav, codes, len(names)),
        )

    def sizes(self, attribute: str) -> dict[str, int]:
        """Rows per value of one protected attribute, values sorted."""
        codes, names = self.labels((attribute,))
        n = _sum_rows(self.table.sum(axis=1, keepdims=True), codes, len(names))[:, 0]
        return {g: int(v) for g, v in zip(names, n, strict=True)}


def _capped(
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The pairs, or None above MAX_SCORE_PAIRS (a union only grows, so whether the
    merged cells keep them does not depend on how the rows were split)."""
    return pairs if len(pairs[0]) <= MAX_SCORE_PAIRS else None


def _sum_rows(values: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((k, values.shape[1]), dtype=values.dtype)
    np.add.at(out, codes, values)
    return out


def _decode(code: int, parts: list[list[str]]) -> tuple[str, ...]:
    values = []
    for names in reversed(parts):
        size = max(len(names), 1)
        values.append(names[code % size])
        code //= size
    return tuple(reversed(values))
