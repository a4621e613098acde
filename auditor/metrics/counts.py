"""Per-group sufficient statistics: every metric is computed from these.

One pass over the decisions gives, per group: n, favourable decisions, the LL144
above-median count, the confusion counts against the labels (positives, TP, negatives,
FP; FN = positives - TP and TN = negatives - FP), the score sum and sum of squares, a
fixed-grid score histogram (``SCORE_BINS`` equal-width bins on a :class:`ScoreGrid`,
used for the KS distance) and, for calibration, the label and score sums per coarse bin
(``CALIBRATION_BINS`` bins; a coarse bin is a run of fine bins).

Merging (``GroupCounts.merge``) is exact for every count: a batch measured piece by piece
gives the same integers as the whole. Score sums are floating point and merge to rounding
(relative error ~1e-15); histogram-based numbers (KS, calibration bins) are exact because
the grid is fixed before counting and shared by every partition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SCORE_BINS = 1000
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class ScoreGrid:
    """Fixed equal-width bins for scores: [lo, hi] cut into ``bins`` bins.

    Probabilities use [0, 1]; other scores use the full sample's range. Partitions must
    share the grid for their histograms to merge.
    """

    lo: float = 0.0
    hi: float = 1.0
    bins: int = SCORE_BINS

    @classmethod
    def for_scores(cls, scores: np.ndarray) -> ScoreGrid:
        """[0, 1] for probabilities, else the scores' own range."""
        lo, hi = float(np.min(scores)), float(np.max(scores))
        if lo >= 0.0 and hi <= 1.0:
            return cls()
        return cls(lo, hi if hi > lo else lo + 1.0)

    @property
    def is_probability(self) -> bool:
        """Whether the grid is [0, 1] (scores are probabilities: calibration applies)."""
        return self.lo == 0.0 and self.hi == 1.0

    def bin_of(self, scores: np.ndarray) -> np.ndarray:
        """Fine-bin index of each score (the top edge belongs to the last bin)."""
        idx = np.floor((scores - self.lo) * (self.bins / (self.hi - self.lo)))
        return np.clip(idx, 0, self.bins - 1).astype(np.int64)


@dataclass(frozen=True)
class GroupCounts:
    """Sufficient statistics for one group of one attribute (None: not measured)."""

    n: int
    favorable: int
    above_median: int | None = None
    positives: int | None = None  # true label favourable
    true_positives: int | None = None  # favourable decision among positives
    negatives: int | None = None
    false_positives: int | None = None  # favourable decision among negatives
    score_sum: float | None = None
    score_sumsq: float | None = None
    score_hist: tuple[int, ...] | None = None  # SCORE_BINS fine bins
    calib_label_sum: tuple[int, ...] | None = None  # favourable labels per coarse bin
    calib_score_sum: tuple[float, ...] | None = None  # score sum per coarse bin

    @property
    def false_negatives(self) -> int | None:
        """Positives that got an unfavourable decision."""
        if self.positives is None or self.true_positives is None:
            return None
        return self.positives - self.true_positives

    @property
    def true_negatives(self) -> int | None:
        """Negatives that got an unfavourable decision."""
        if self.negatives is None or self.false_positives is None:
            return None
        return self.negatives - self.false_positives

    def merge(self, other: GroupCounts) -> GroupCounts:
        """Exact combination of two partitions' statistics."""

        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None or b is None else a + b

        def addf(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        def addv(a: tuple[int, ...] | None, b: tuple[int, ...] | None) -> tuple[int, ...] | None:
            if a is None or b is None:
                return None
            return tuple(x + y for x, y in zip(a, b, strict=True))

        def addvf(
            a: tuple[float, ...] | None, b: tuple[float, ...] | None
        ) -> tuple[float, ...] | None:
            if a is None or b is None:
                return None
            return tuple(x + y for x, y in zip(a, b, strict=True))

        return GroupCounts(
            self.n + other.n,
            self.favorable + other.favorable,
            add(self.above_median, other.above_median),
            add(self.positives, other.positives),
            add(self.true_positives, other.true_positives),
            add(self.negatives, other.negatives),
            add(self.false_positives, other.false_positives),
            addf(self.score_sum, other.score_sum),
            addf(self.score_sumsq, other.score_sumsq),
            addv(self.score_hist, other.score_hist),
            addv(self.calib_label_sum, other.calib_label_sum),
            addvf(self.calib_score_sum, other.calib_score_sum),
        )


def count_groups(
    groups: pd.Series,
    decisions: np.ndarray,
    *,
    above_median: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    grid: ScoreGrid | None = None,
) -> dict[str, GroupCounts]:
    """Statistics per group label, groups in sorted order."""
    codes, uniques = pd.factorize(groups, sort=True)
    names = [str(u) for u in uniques]
    return count_codes(
        codes.astype(np.int64),
        names,
        decisions,
        above_median=above_median,
        labels=labels,
        scores=scores,
        grid=grid,
    )


@dataclass(frozen=True)
class RowKeys:
    """Per-row values prepared once and shared by every grouping's counting pass.

    ``key`` packs (fine score bin, label, decision, above median) into one integer, so a
    single ``bincount`` over ``code * width + key`` yields every integer statistic of
    every group; ``coarse`` (calibration bin) carries the float sums.
    """

    key: np.ndarray
    width: int
    coarse: np.ndarray | None
    scores: np.ndarray | None
    squares: np.ndarray | None
    has_labels: bool
    has_above: bool
    grid: ScoreGrid | None

    @classmethod
    def build(
        cls,
        decisions: np.ndarray,
        *,
        above_median: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        scores: np.ndarray | None = None,
        grid: ScoreGrid | None = None,
    ) -> RowKeys:
        """Pack the per-row outcome values (one pass each, done once)."""
        key = np.asarray(decisions).astype(np.int64)
        if labels is not None:
            key += 2 * np.asarray(labels).astype(np.int64)
        if above_median is not None:
            key += 4 * np.asarray(above_median).astype(np.int64)
        s = sq = coarse = None
        bins = 1
        if scores is not None:
            s = np.asarray(scores, dtype=np.float64)
            grid = grid or ScoreGrid.for_scores(s)
            fine = grid.bin_of(s)
            key += 8 * fine
            bins = grid.bins
            coarse = fine * CALIBRATION_BINS // grid.bins
            sq = s * s
        return cls(
            key,
            8 * bins,
            coarse,
            s,
            sq,
            labels is not None,
            above_median is not None,
            grid if scores is not None else None,
        )


def count_codes(
    codes: np.ndarray,
    names: list[str],
    decisions: np.ndarray | None = None,
    *,
    above_median: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    grid: ScoreGrid | None = None,
    rows: RowKeys | None = None,
) -> dict[str, GroupCounts]:
    """Statistics per group from integer group codes (``names[code]``).

    One integer ``bincount`` gives every count (and the score histogram); two weighted
    ones give the score sums and sums of squares per calibration bin. Pass ``rows``
    (:meth:`RowKeys.build`) to share the per-row preparation between groupings.
    """
    if rows is None:
        if decisions is None:
            raise ValueError("count_codes needs decisions or prepared rows")
        rows = RowKeys.build(
            decisions, above_median=above_median, labels=labels, scores=scores, grid=grid
        )
    k = len(names)
    tab = np.bincount(codes * rows.width + rows.key, minlength=k * rows.width)
    tab = tab.reshape(k, rows.width)
    csum = csq = None
    if rows.grid is not None and rows.coarse is not None:
        cc = codes * CALIBRATION_BINS + rows.coarse
        size = k * CALIBRATION_BINS
        csum = np.bincount(cc, weights=rows.scores, minlength=size).reshape(k, -1)
        csq = np.bincount(cc, weights=rows.squares, minlength=size).reshape(k, -1)
    return counts_from_table(
        names, tab, csum, csq, has_labels=rows.has_labels, has_above=rows.has_above, grid=rows.grid
    )


def counts_from_table(
    names: list[str],
    table: np.ndarray,
    csum: np.ndarray | None,
    csq: np.ndarray | None,
    *,
    has_labels: bool,
    has_above: bool,
    grid: ScoreGrid | None,
) -> dict[str, GroupCounts]:
    """Group statistics from a (group × packed row key) count table (see :class:`RowKeys`).

    ``csum``/``csq``: score sums and sums of squares per (group, calibration bin). The
    table is what one ``bincount`` gives in memory, or the sum of the partitions' tables:
    every statistic follows from it, so merged tables give the same integers.
    """
    k = len(names)
    tab = table.reshape(k, -1, 2, 2, 2)  # axes: group, fine bin, above, label, decision
    cells = tab.sum(axis=(1, 2))  # group, label, decision
    n = cells.sum(axis=(1, 2))
    fav = cells[:, :, 1].sum(axis=1)
    above = tab[:, :, 1].sum(axis=(1, 2, 3))
    hist = clab = None
    if grid is not None and csum is not None:
        hist = tab.sum(axis=(2, 3, 4))
        fine_labels = tab[:, :, :, 1, :].sum(axis=(2, 3))
        per = grid.bins // CALIBRATION_BINS
        clab = fine_labels.reshape(k, CALIBRATION_BINS, per).sum(axis=2)
    calib = has_labels and grid is not None and grid.is_probability
    lab = has_labels
    out: dict[str, GroupCounts] = {}
    for i, name in enumerate(names):
        out[name] = GroupCounts(
            n=int(n[i]),
            favorable=int(fav[i]),
            above_median=int(above[i]) if has_above else None,
            positives=int(cells[i, 1].sum()) if lab else None,
            true_positives=int(cells[i, 1, 1]) if lab else None,
            negatives=int(cells[i, 0].sum()) if lab else None,
            false_positives=int(cells[i, 0, 1]) if lab else None,
            score_sum=None if csum is None else float(csum[i].sum()),
            score_sumsq=None if csq is None else float(csq[i].sum()),
            score_hist=None if hist is None else tuple(hist[i].tolist()),
            calib_label_sum=tuple(clab[i].tolist()) if calib and clab is not None else None,
            calib_score_sum=tuple(csum[i].tolist()) if calib and csum is not None else None,
        )
    return out


def group_codes(
    protected: pd.DataFrame,
    attributes: tuple[str, ...],
    unknown: str,
    cache: dict[str, tuple[np.ndarray, list[str]]] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Integer code per row and sorted group names, for an attribute or an intersection.

    Intersections are named ``a & b``; a row with any unknown part is ``unknown`` as a
    whole (LL144 counts these apart). Codes are built from per-attribute codes, so no
    per-row strings are made; ``cache`` keeps each attribute's codes for the next call.
    """
    combined = np.zeros(len(protected), dtype=np.int64)
    parts: list[list[str]] = []
    for attr in attributes:
        if cache is not None and attr in cache:
            c, u = cache[attr]
        else:
            fc, fu = pd.factorize(protected[attr], sort=True)
            c, u = fc.astype(np.int64), [str(v) for v in fu]
            if cache is not None:
                cache[attr] = (c, u)
        parts.append(u)
        if len(attributes) == 1:
            return c, u  # factorize(sort=True): codes already index the sorted names
        combined = combined * max(len(u), 1) + c
    sizes = [max(len(p), 1) for p in parts]
    present = np.flatnonzero(np.bincount(combined, minlength=int(np.prod(sizes))))
    labels: list[str] = []
    for code in present.tolist():
        idx = []
        for size in reversed(sizes):
            idx.append(code % size)
            code //= size
        values = [parts[j][i] for j, i in enumerate(reversed(idx))]
        labels.append(unknown if unknown in values else " & ".join(values))
    names = sorted(set(labels))
    lookup = np.zeros(int(np.prod(sizes)), dtype=np.int64)
    lookup[present] = [names.index(lab) for lab in labels]
    return lookup[combined], names
