"""Disparities within segments: Mantel–Haenszel ratios, the CMH test and Breslow–Day.

A pooled impact ratio can mislead when groups are spread unevenly over segments that
differ in selection rate (loan product, region, job family): Simpson's paradox. With
``strata`` in the spec, every group is compared with the reference *within* each segment
and the segments are combined, as fair-lending practice does (SolasAI's segmented AIR):

- ``stratified_impact_ratio``: the Mantel–Haenszel common rate ratio
  Σ_k a_k n0_k / N_k ÷ Σ_k c_k n1_k / N_k, with the Greenland–Robins (1985) log interval;
- its p-value: the Cochran–Mantel–Haenszel test of no association given the segments
  (χ², 1 df, no continuity correction);
- ``detail``: the Mantel–Haenszel odds ratio, the Breslow–Day p-value for equal odds
  ratios across segments (a small p says the disparity differs by segment: read the
  segments, not the pooled number), and how many segments held both groups.

a/c are favourable counts of the group/reference in segment k, n1/n0 their sizes, N the
two together; segments without both groups carry no information and are skipped. All
inputs are counts per (group, segment, outcome), so they merge exactly across partitions.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics.cells import DecisionCells
from auditor.metrics.counts import group_codes
from auditor.metrics.disparities import size_flags
from auditor.metrics.group_metrics import Grouping
from auditor.metrics.stats import Z95
from auditor.result import MetricRecord


def stratum_counts(
    codes: np.ndarray, n_groups: int, strata: np.ndarray, n_strata: int, decisions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n, favourable) per group × stratum, from one bincount each."""
    cell = codes.astype(np.int64) * n_strata + strata
    size = n_groups * n_strata
    n = np.bincount(cell, minlength=size).reshape(n_groups, n_strata)
    fav = np.bincount(cell, weights=decisions, minlength=size).reshape(n_groups, n_strata)
    return n, fav.round().astype(np.int64)


def stratified_records(
    attribute: str,
    names: list[str],
    n: np.ndarray,
    fav: np.ndarray,
    reference: str,
    *,
    min_group_size: int,
) -> list[MetricRecord]:
    """One ``stratified_impact_ratio`` record per known group against ``reference``."""
    if reference not in names:
        return []
    r = names.index(reference)
    out = []
    for i, group in enumerate(names):
        if group == UNKNOWN:
            continue
        flags = size_flags(group, int(n[i].sum()), min_group_size)
        if i == r:
            out.append(
                MetricRecord(
                    attribute,
                    group,
                    "stratified_impact_ratio",
                    1.0,
                    int(n[i].sum()),
                    count=int(fav[i].sum()),
                    reference=reference,
                    flags=(*flags, "reference"),
                )
            )
            continue
        out.append(_compare(attribute, group, n[i], fav[i], n[r], fav[r], reference, flags))
    return out


def _compare(
    attribute: str,
    group: str,
    n1: np.ndarray,
    a: np.ndarray,
    n0: np.ndarray,
    c: np.ndarray,
    reference: str,
    flags: tuple[str, ...],
) -> MetricRecord:
    both = (n1 > 0) & (n0 > 0)
    n1, a, n0, c = (v[both].astype(np.float64) for v in (n1, a, n0, c))
    total = n1 + n0
    value = lo = hi = p = None
    detail: dict[str, float] = {"strata_used": float(both.sum())}
    num, den = float((a * n0 / total).sum()), float((c * n1 / total).sum())
    if num > 0 and den > 0:
        value = num / den
        fav_total = a + c
        var = float(((n1 * n0 * fav_total - a * c * total) / total**2).sum()) / (num * den)
        if var > 0:
            half = Z95 * math.sqrt(var)
            lo, hi = value * math.exp(-half), value * math.exp(half)
    p = cmh_p(a, n1, c, n0)
    odds = mh_odds_ratio(a, n1, c, n0)
    if odds is not None:
        detail["mh_odds_ratio"] = odds
        bd = breslow_day_p(a, n1, c, n0, odds)
        if bd is not None:
            detail["breslow_day_p"] = bd
    return MetricRecord(
        attribute,
        group,
        "stratified_impact_ratio",
        value,
        int(n1.sum()),
        count=int(a.sum()),
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        reference=reference,
        flags=(*flags, "test:cmh"),
        detail=detail,
    )


def cmh_p(a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray) -> float | None:
    """Cochran–Mantel–Haenszel p-value (no continuity correction) over 2×2 strata."""
    total = n1 + n0
    fav = a + c
    use = total > 1
    if not use.any():
        return None
    a, n1, n0, total, fav = a[use], n1[use], n0[use], total[use], fav[use]
    expected = n1 * fav / total
    variance = n1 * n0 * fav * (total - fav) / (total**2 * (total - 1))
    var = float(variance.sum())
    if var <= 0:
        return None
    statistic = float((a.sum() - expected.sum()) ** 2) / var
    return float(stats.chi2.sf(statistic, 1))


def mh_odds_ratio(a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray) -> float | None:
    """Mantel–Haenszel common odds ratio of favourable outcomes, group vs reference."""
    total = n1 + n0
    num = float((a * (n0 - c) / total).sum())
    den = float(((n1 - a) * c / total).sum())
    return num / den if num > 0 and den > 0 else None


def breslow_day_p(
    a: np.ndarray, n1: np.ndarray, c: np.ndarray, n0: np.ndarray, odds: float
) -> float | None:
    """Breslow–Day test that the odds ratio is the same in every stratum (no Tarone)."""
    fav = a + c
    statistic = 0.0
    k = 0
    for ak, n1k, n0k, mk in zip(a, n1, n0, fav, strict=True):
        lo, hi = max(0.0, mk - n0k), min(n1k, mk)
        if hi <= lo:
            continue  # the margins fix the table: no information on the odds ratio
        e = _expected_cell(n1k, n0k, mk, odds, lo, hi)
        cells = np.array([e, n1k - e, mk - e, n0k - mk + e])
        if np.any(cells <= 0):
            continue
        statistic += (ak - e) ** 2 / (1.0 / float((1.0 / cells).sum()))
        k += 1
    if k < 2:
        return None
    return float(stats.chi2.sf(statistic, k - 1))


def _expected_cell(n1: float, n0: float, m: float, odds: float, lo: float, hi: float) -> float:
    """The group's favourable count for which the stratum's odds ratio equals ``odds``."""
    # e (n0 - m + e) = odds (n1 - e)(m - e)  ->  quadratic in e, one root in [lo, hi]
    qa = 1.0 - odds
    qb = n0 - m + odds * (n1 + m)
    qc = -odds * n1 * m
    if abs(qa) < 1e-12:
        return -qc / qb
    disc = math.sqrt(max(qb * qb - 4 * qa * qc, 0.0))
    roots = ((-qb + disc) / (2 * qa), (-qb - disc) / (2 * qa))
    return min(roots, key=lambda e: 0.0 if lo <= e <= hi else min(abs(e - lo), abs(e - hi)))


def stratified_metrics(
    batch: DecisionBatch,
    groups: list[Grouping],
    references: dict[str, str | None],
    control: dict[str, str],
    *,
    min_group_size: int,
) -> list[MetricRecord]:
    """``stratified_impact_ratio`` records for every grouping, by ``batch.strata``.

    The reference is the grouping's named control group when there is one, else its
    highest-selection-rate group: the same reference as the pooled ratio beside it.
    """
    if batch.strata is None or batch.decisions is None:
        return []
    strata, strata_names = pd.factorize(batch.strata, sort=True)
    decisions = np.asarray(batch.decisions, dtype=np.float64)
    cache: dict[str, tuple[np.ndarray, list[str]]] = {}
    out: list[MetricRecord] = []
    for g in groups:
        ref = control.get(g.name) or references.get(g.name)
        if ref is None:
            continue
        codes, names = group_codes(batch.protected, g.attributes, UNKNOWN, cache)
        n, fav = stratum_counts(codes, len(names), strata, len(strata_names), decisions)
        out += stratified_records(g.name, names, n, fav, ref, min_group_size=min_group_size)
    return out


def stratified_from_cells(
    cells: DecisionCells,
    groups: list[Grouping],
    references: dict[str, str | None],
    control: dict[str, str],
    *,
    min_group_size: int,
) -> list[MetricRecord]:
    """:func:`stratified_metrics` from (merged) decision cells."""
    out: list[MetricRecord] = []
    for g in groups:
        ref = control.get(g.name) or references.get(g.name)
        found = cells.strata_counts(g.attributes)
        if ref is None or found is None:
            continue
        names, n, fav = found
        out += stratified_records(g.name, names, n, fav, ref, min_group_size=min_group_size)
    return out
