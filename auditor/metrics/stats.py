"""Interval estimates and tests for proportions and their ratios."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats
from scipy.special import gammaln

if TYPE_CHECKING:
    from auditor.metrics.score_values import ScoreValues

Z95 = 1.959963984540054


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval for a proportion (well behaved near 0, 1 and for small n)."""
    if n == 0:
        return None, None
    p = count / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # at 0/n and n/n the bound is exactly 0 or 1; rounding must not exclude the estimate
    lo = 0.0 if count == 0 else max(0.0, centre - half)
    hi = 1.0 if count == n else min(1.0, centre + half)
    return lo, hi


# Haldane–Anscombe: added to each of the four cells of a 2×2 table with a zero cell
ZERO_CELL_CORRECTION = 0.5


def zero_cell(x1: float, n1: float, x2: float, n2: float) -> bool:
    """Whether the Katz interval of (x1/n1)/(x2/n2) needs the zero-cell correction."""
    return x1 == 0 and x2 > 0 and min(n1, n2) > 0


def ratio_interval(
    x1: float, n1: float, x2: float, n2: float, z: float = Z95
) -> tuple[float | None, float | None]:
    """Katz log interval for the ratio of two proportions (x1/n1) / (x2/n2).

    A group with no selections (x1 = 0) has no Katz interval (1/x1); the table then gets
    the Haldane–Anscombe correction, 0.5 added to each of its four cells (x → x + 0.5,
    n → n + 1), and the interval is the Katz interval of the corrected table (it does
    not contain the estimate 0; it says how far up the true ratio can plausibly be).
    A reference with no selections leaves the ratio undefined: no interval.
    """
    if min(x2, n1, n2) == 0:
        return None, None
    if zero_cell(x1, n1, x2, n2):
        c = ZERO_CELL_CORRECTION
        x1, n1, x2, n2 = x1 + c, n1 + 2 * c, x2 + c, n2 + 2 * c
    ratio = (x1 / n1) / (x2 / n2)
    se = math.sqrt(max(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2, 0.0))
    return ratio * math.exp(-z * se), ratio * math.exp(z * se)


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, str]:
    """Two-sided p-value for equal proportions, and the test used.

    Fisher's exact test when any expected cell is below 5 (small samples), else the
    pooled two-proportion z-test (the "two standard deviations" convention).
    """
    if n1 == 0 or n2 == 0:
        return None, "none"
    total_x, total_n = x1 + x2, n1 + n2
    expected = [
        n1 * total_x / total_n,
        n1 * (total_n - total_x) / total_n,
        n2 * total_x / total_n,
        n2 * (total_n - total_x) / total_n,
    ]
    if min(expected) < 5:
        _, p = stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]])
        return float(p), "fisher_exact"
    pooled = total_x / total_n
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0, "z_test"
    zval = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(zval) / math.sqrt(2)), "z_test"  # = 2 * norm.sf(|z|)


def difference_interval(
    x1: int, n1: int, x2: int, n2: int, z: float = Z95
) -> tuple[float | None, float | None]:
    """Newcombe's hybrid score interval for p1 - p2, built from the two Wilson intervals."""
    l1, u1 = wilson_interval(x1, n1, z)
    l2, u2 = wilson_interval(x2, n2, z)
    if l1 is None or u1 is None or l2 is None or u2 is None:
        return None, None
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lo), min(1.0, hi)


def chi_square_p(table: list[tuple[int, int]]) -> tuple[float | None, float | None, int]:
    """Pearson chi-square test of independence on a groups x (yes, no) table.

    Returns (statistic, p-value, degrees of freedom); None when fewer than two groups or
    an empty margin leaves nothing to test.
    """
    rows = [(a, b) for a, b in table if a + b > 0]
    if len(rows) < 2:
        return None, None, 0
    total = sum(a + b for a, b in rows)
    col = (sum(a for a, _ in rows), sum(b for _, b in rows))
    if min(col) == 0:
        return 0.0, 1.0, len(rows) - 1
    chi2 = 0.0
    for a, b in rows:
        n = a + b
        for obs, c in ((a, col[0]), (b, col[1])):
            exp = n * c / total
            chi2 += (obs - exp) ** 2 / exp
    dof = len(rows) - 1
    return chi2, float(stats.chi2.sf(chi2, dof)), dof


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values (family-wise error), None entries kept as None."""
    known = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(known)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: (p_values[i], i))
    out = [1.0] * m
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, p_values[i] * m / (rank + 1))
        out[i] = min(1.0, running)
    return out


def smd_stats(
    s1: float, q1: float, n1: int, s2: float, q2: float, n2: int, z: float = Z95
) -> tuple[float | None, float | None, float | None, float | None]:
    """Standardized mean difference of group 1 vs group 2 from sums and sums of squares.

    SMD = (mean1 - mean2) / pooled SD, pooled SD = sqrt(((n1-1)s1² + (n2-1)s2²)/(n1+n2-2)).
    Returns (smd, ci_low, ci_high, Welch t-test p); the interval uses the usual large-sample
    standard error sqrt((n1+n2)/(n1 n2) + d²/(2(n1+n2))).
    """
    if n1 < 2 or n2 < 2:
        return None, None, None, None
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(0.0, (q1 - n1 * m1 * m1) / (n1 - 1))
    v2 = max(0.0, (q2 - n2 * m2 * m2) / (n2 - 1))
    pooled = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    if pooled == 0:
        return None, None, None, None
    d = (m1 - m2) / pooled
    se = math.sqrt((n1 + n2) / (n1 * n2) + d * d / (2 * (n1 + n2)))
    welch = stats.ttest_ind_from_stats(
        m1, math.sqrt(v1), n1, m2, math.sqrt(v2), n2, equal_var=False
    )
    return d, d - z * se, d + z * se, float(welch.pvalue)


def ks_p(distance: float, n1: int, n2: int) -> float | None:
    """Two-sided asymptotic KS p-value for two samples (scipy's ks_2samp 'asymp' method)."""
    en = round(n1 * n2 / (n1 + n2)) if n1 and n2 else 0
    if en < 1:
        return None  # two one-row groups: no distribution to compare (kstwo needs n ≥ 1)
    return float(stats.kstwo.sf(distance, en))


# scipy's ks_2samp(method="auto") computes the exact p-value up to this many rows per sample
KS_EXACT_MAX_N = 10_000


def ks_2samp_p(a: ScoreValues, b: ScoreValues, distance: float) -> tuple[float | None, str]:
    """The p-value scipy's ``ks_2samp`` gives for two samples (two-sided, method auto),
    and which method gave it: ``exact`` up to :data:`KS_EXACT_MAX_N` rows per sample,
    else (or where scipy's exact computation does not converge) ``asymptotic``.
    """
    if a.n == 0 or b.n == 0:
        return None, "asymptotic"
    if max(a.n, b.n) > KS_EXACT_MAX_N:
        return ks_p(distance, a.n, b.n), "asymptotic"
    x = np.repeat(a.values, a.counts)
    y = np.repeat(b.values, b.counts)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = stats.ks_2samp(x, y, method="exact")
    # scipy warns and switches to the asymptotic p when the exact one does not converge
    fell_back = any("Exact calculation unsuccessful" in str(w.message) for w in caught)
    return float(res.pvalue), "asymptotic" if fell_back else "exact"


def power_at_ratio(n1: int, n2: int, p_ref: float, ratio: float = 0.8, z: float = Z95) -> float:
    """Power of the two-sided pooled z-test to detect a true rate ratio of ``ratio``.

    Group 1 (size ``n1``) has the rate ``ratio · p_ref``, the reference (size ``n2``)
    ``p_ref``; the normal approximation. Low power means a non-significant result is
    weak evidence that no disparity exists.
    """
    p1, p2 = ratio * p_ref, p_ref
    if n1 == 0 or n2 == 0 or p2 <= 0 or p1 >= 1:
        return 0.0
    pooled = (n1 * p1 + n2 * p2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    se1 = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    if se1 == 0:
        return 1.0
    delta = abs(p2 - p1)
    return float(stats.norm.cdf((delta - z * se0) / se1) + stats.norm.cdf((-delta - z * se0) / se1))


# relative tolerance scipy's fisher_exact uses to count tables "as extreme" as the observed
_FISHER_RTOL = 1 + 1e-7
_TAIL = 1e-13  # binomial mass left out of the power sum (each side)


def fisher_power(n1: int, n2: int, p1: float, p2: float, alpha: float = 0.05) -> float:
    """Exact power of the two-sided Fisher exact test at level ``alpha``.

    P(reject) = Σ over tables Bin(x1; n1, p1) · Bin(x2; n2, p2) · [Fisher p ≤ alpha]. For
    each total t = x1 + x2 the Fisher p of every table with those margins comes from one
    hypergeometric pmf (a table's p sums the pmf of the tables no more likely than it,
    as scipy's ``fisher_exact`` does), so the sum is exact up to the binomial tails
    beyond ``_TAIL`` on each side of each group.
    """
    if n1 == 0 or n2 == 0:
        return 0.0
    lo1, hi1 = _mass_range(n1, p1)
    lo2, hi2 = _mass_range(n2, p2)
    n = n1 + n2
    b1 = stats.binom.pmf(np.arange(lo1, hi1 + 1), n1, p1)
    b2 = stats.binom.pmf(np.arange(lo2, hi2 + 1), n2, p2)
    power = 0.0
    for t in range(lo1 + lo2, hi1 + hi2 + 1):
        k = np.arange(max(0, t - n2), min(n1, t) + 1)  # the whole conditional support
        log_pmf = _log_choose(n1, k) + _log_choose(n2, t - k) - _log_choose(n, t)
        pmf = np.exp(log_pmf)
        ordered = np.sort(pmf)
        cum = np.cumsum(ordered)
        # p of table k: the mass of every table no more likely than it (ties included)
        pvals = cum[np.searchsorted(ordered, pmf * _FISHER_RTOL, side="right") - 1]
        reject = k[(pvals <= alpha) & (k >= lo1) & (k <= hi1) & (t - k >= lo2) & (t - k <= hi2)]
        if len(reject):
            power += float((b1[reject - lo1] * b2[t - reject - lo2]).sum())
    return min(power, 1.0)


def _mass_range(n: int, p: float) -> tuple[int, int]:
    """Counts of Bin(n, p) outside which less than ``_TAIL`` of the mass lies (each side)."""
    lo, hi = stats.binom.ppf([_TAIL, 1 - _TAIL], n, p)
    return max(int(lo) - 1, 0), min(int(hi), n)


def _log_choose(n: int, k: np.ndarray | int) -> np.ndarray:
    out: np.ndarray = gammaln(n + 1) - gammaln(np.asarray(k) + 1) - gammaln(n - np.asarray(k) + 1)
    return out


def power_of_test(
    test: str, n1: int, n2: int, p_ref: float, ratio: float = 0.8, alpha: float = 0.05
) -> float:
    """Power to detect a true ratio ``ratio`` with the test that decides the record.

    ``test``: ``fisher_exact`` (small expected counts) or the pooled ``z_test``; the
    power is the deciding test's, so a small group judged by Fisher's test is not given
    the z-test's (higher) power.
    """
    if test == "fisher_exact":
        p1 = ratio * p_ref
        if p_ref <= 0 or p1 >= 1:
            return 0.0
        return fisher_power(n1, n2, p1, p_ref, alpha)
    return power_at_ratio(n1, n2, p_ref, ratio)
