"""Slice search: worst-off subgroups beyond the declared intersections, FDR-controlled.

Every slice is (protected group g) × (feature bin b): numeric features are cut at their
quantiles into ``bins`` bins, other features keep their ``max_categories`` most common
values. Within each bin, the slice's selection rate is compared with the rate of the other
known groups *in the same bin* (so a feature's own effect on everyone is not mistaken for
a disparity): the in-bin impact ratio. The question is whether the slice is worse off
than its group as a whole (the declared attribute already reports that): each slice is
tested one-sided against the group's overall ratio to the other known groups (kept in
``detail['group_ratio']``) on the log scale with the Katz SE. All p-values form one family;
Benjamini–Hochberg keeps the false discovery rate at ``fdr``. A slice is reported when
its BH-adjusted p is below ``fdr``, its ratio is below ``max_ratio`` and it has at least
``min_size`` members (the ``max_reported`` worst); nothing else is reported, so noise
does not reach the report. Records: metric ``slice_impact_ratio``, attribute
``<attribute> x <feature>``, group ``<group> & <feature> in <bin>``, ``p_value`` raw and
``p_value_adjusted`` BH.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.metrics.stats import benjamini_hochberg, ratio_interval
from auditor.result import MetricRecord
from auditor.text_values import as_text, text_codes


def beyond_group_p(xs: float, ns: int, xr: int, nr: int, group_ratio: float) -> float:
    """One-sided p that the slice's in-bin ratio is below the group's overall ratio.

    z = (log ratio − log group_ratio) / Katz SE of the log ratio; p = P(Z ≤ z). The group
    ratio comes from many more rows and is treated as known. A slice with no selections
    gets the usual 0.5 continuity correction.
    """
    xs = max(xs, 0.5)
    se = math.sqrt(max(1 / xs - 1 / ns + 1 / xr - 1 / nr, 0.0))
    if se == 0.0:
        return 1.0  # everyone selected on both sides: the Katz test has no information
    z = (math.log((xs / ns) / (xr / nr)) - math.log(group_ratio)) / se
    return 0.5 * math.erfc(-z / math.sqrt(2))


@dataclass(frozen=True)
class BinPlan:
    """How one feature is cut for slice search: quantile edges, or its top categories."""

    edges: np.ndarray | None  # numeric: unique quantiles (bins between them)
    categories: tuple[str, ...]  # otherwise: the most common values, as text
    labels: tuple[str, ...]


def is_numeric(column: pd.Series) -> bool:
    """Numeric and not boolean (booleans are categories)."""
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def numeric_plan(quantiles: np.ndarray) -> BinPlan:
    """Bins between the (full-sample) quantiles."""
    edges = np.unique(quantiles)
    labels = tuple(f"[{edges[i]:.4g}, {edges[i + 1]:.4g}]" for i in range(len(edges) - 1))
    return BinPlan(edges, (), labels)


def category_plan(counts: dict[str, tuple[int, int]], max_categories: int) -> BinPlan:
    """The ``max_categories`` most common values; ``counts``: value -> (rows, first row).

    Ties go to the value seen first, so chunks and partitions merge to the same choice.
    """
    top = sorted(counts, key=lambda v: (-counts[v][0], counts[v][1]))[:max_categories]
    return BinPlan(None, tuple(top), tuple(top))


def category_counts(column: pd.Series, offset: int = 0) -> dict[str, tuple[int, int]]:
    """Rows and first row position (plus ``offset``) of each value, as text."""
    codes, uniques = text_codes(column)
    n = np.bincount(codes[codes >= 0], minlength=len(uniques))
    first = np.full(len(uniques), len(codes), dtype=np.int64)
    np.minimum.at(first, codes[codes >= 0], np.flatnonzero(codes >= 0))
    return {str(u): (int(c), int(f) + offset) for u, c, f in zip(uniques, n, first, strict=True)}


def bin_plan(column: pd.Series, bins: int, max_categories: int) -> BinPlan:
    """The plan of a whole column in memory."""
    if is_numeric(column) and column.nunique() > max_categories:
        values = column.to_numpy(np.float64)
        return numeric_plan(np.nanquantile(values, np.linspace(0, 1, bins + 1)))
    return category_plan(category_counts(column), max_categories)


def bin_codes(plan: BinPlan, column: pd.Series) -> np.ndarray:
    """Bin code per row (-1: left out: NaN, or not a top category)."""
    if plan.edges is not None:
        values = column.to_numpy(np.float64)
        codes = np.searchsorted(plan.edges[1:-1], values, side="right")
        return np.where(np.isnan(values), -1, codes).astype(np.int64)
    index = pd.Index(list(plan.categories))
    return np.asarray(index.get_indexer(pd.Index(as_text(column))), dtype=np.int64)


def _bins(column: pd.Series, bins: int, max_categories: int) -> tuple[np.ndarray, list[str]]:
    """Bin code per row (-1: left out) and bin labels."""
    plan = bin_plan(column, bins, max_categories)
    return bin_codes(plan, column), list(plan.labels)


def slice_table(
    groups: pd.Series, codes: np.ndarray, n_bins: int, decisions: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per known group: rows and favourable decisions per bin (mergeable by addition)."""
    return slice_counts(*_group_codes(groups), codes, n_bins, decisions)


def _group_codes(groups: pd.Series) -> tuple[np.ndarray, list[str]]:
    """The groups as sorted integer codes and their names (as text)."""
    g_codes, g_index = pd.factorize(groups.astype(str), sort=True)
    return g_codes.astype(np.int64), [str(v) for v in g_index]


def slice_counts(
    g_codes: np.ndarray, g_names: list[str], codes: np.ndarray, n_bins: int, d: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`slice_table` from precomputed group codes: the one counting of every
    engine (a Spark partition codes its groups once for all features)."""
    ok = codes >= 0
    k = len(g_names)
    cell = g_codes[ok] * n_bins + codes[ok]
    n = np.bincount(cell, minlength=k * n_bins).reshape(k, n_bins)
    dd = np.asarray(d).astype(np.int64)[ok]
    x = np.bincount(cell, weights=dd, minlength=k * n_bins).reshape(k, n_bins).astype(np.int64)
    return {name: (n[i], x[i]) for i, name in enumerate(g_names) if name != UNKNOWN}


def slice_search(
    features: pd.DataFrame,
    protected: pd.DataFrame,
    decisions: np.ndarray,
    *,
    min_size: int = 30,
    bins: int = 4,
    max_categories: int = 8,
    fdr: float = 0.05,
    max_ratio: float = 0.8,
    max_reported: int = 10,
) -> list[MetricRecord]:
    """Slices that are significantly worse off than their bin's other groups, worst first."""
    candidates = slice_candidates(
        features, protected, decisions, min_size=min_size, bins=bins, max_categories=max_categories
    )
    return select_slices(candidates, fdr=fdr, max_ratio=max_ratio, max_reported=max_reported)


def slice_candidates(
    features: pd.DataFrame,
    protected: pd.DataFrame,
    decisions: np.ndarray,
    *,
    min_size: int = 30,
    bins: int = 4,
    max_categories: int = 8,
) -> list[MetricRecord]:
    """Every slice worse off than its group, with its raw p-value (before BH).

    Features are independent here, so the candidates of a frame are those of its columns
    taken one at a time (the streaming engine reads one column at a time).
    """
    # each feature is binned once and each attribute's groups coded once (binning and
    # coding cost more than the counting); candidates keep the attribute-major order
    coded = {attr: _group_codes(protected[attr]) for attr in protected.columns}
    by_attr: dict[Any, list[MetricRecord]] = {attr: [] for attr in protected.columns}
    for feat in features.columns:
        plan = bin_plan(features[feat], bins, max_categories)
        codes = bin_codes(plan, features[feat])
        for attr in protected.columns:
            table = slice_counts(*coded[attr], codes, len(plan.labels), decisions)
            by_attr[attr] += candidates_from_table(
                str(attr), str(feat), table, list(plan.labels), min_size=min_size
            )
    return [c for attr in protected.columns for c in by_attr[attr]]


def candidates_from_table(
    attr: str,
    feat: str,
    table: dict[str, tuple[np.ndarray, np.ndarray]],
    b_labels: list[str],
    *,
    min_size: int,
) -> list[MetricRecord]:
    """The candidate slices of one (attribute, feature) from its (merged) slice table."""
    names = sorted(table)
    nb = len(b_labels)
    n = np.array([table[g][0] for g in names], dtype=np.int64).reshape(len(names), nb)
    x = np.array([table[g][1] for g in names], dtype=np.int64).reshape(len(names), nb)
    n_bin, x_bin = n.sum(axis=0), x.sum(axis=0)
    n_all, x_all = int(n.sum()), int(x.sum())
    candidates: list[MetricRecord] = []
    for gi, group in enumerate(names):
        # the group's ratio to all other known groups, over the same rows
        ng, xg = int(n[gi].sum()), int(x[gi].sum())
        overall = (
            (xg / ng) / ((x_all - xg) / (n_all - ng)) if ng and n_all > ng and x_all > xg else None
        )
        for bi in range(nb):
            ns, xs = int(n[gi, bi]), int(x[gi, bi])
            nr, xr = int(n_bin[bi] - ns), int(x_bin[bi] - xs)
            if ns < min_size or nr < min_size or xr == 0:
                continue
            ratio = (xs / ns) / (xr / nr)
            if overall is None or ratio >= overall:
                continue  # no worse than the group as a whole: nothing beyond it
            p = beyond_group_p(xs, ns, xr, nr, overall)
            lo, hi = ratio_interval(xs, ns, xr, nr)
            candidates.append(
                MetricRecord(
                    f"{attr} x {feat}",
                    f"{group} & {feat} in {b_labels[bi]}",
                    "slice_impact_ratio",
                    ratio,
                    ns,
                    count=xs,
                    ci_low=lo,
                    ci_high=hi,
                    p_value=p,
                    reference=f"other groups with {feat} in {b_labels[bi]}",
                    flags=("test:katz_vs_group_ratio", "slice_search")
                    + (("ci:haldane_anscombe",) if xs == 0 else ()),
                    detail={"group_ratio": overall},
                )
            )
    return candidates


def select_slices(
    candidates: list[MetricRecord],
    *,
    fdr: float = 0.05,
    max_ratio: float = 0.8,
    max_reported: int = 10,
) -> list[MetricRecord]:
    """Benjamini–Hochberg over all candidates; the significant ones below ``max_ratio``."""
    if not candidates:
        return []
    # an underflowed p of 0.0 is the strongest evidence, not "no p-value" (was `p or 1.0`)
    adjusted = benjamini_hochberg([1.0 if c.p_value is None else c.p_value for c in candidates])
    found = [
        replace(c, p_value_adjusted=q)
        for c, q in zip(candidates, adjusted, strict=True)
        if q < fdr and c.value is not None and c.value < max_ratio
    ]
    return sorted(found, key=lambda r: (r.value or 0.0, r.attribute, r.group))[:max_reported]
