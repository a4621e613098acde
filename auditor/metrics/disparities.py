"""Differences, score-distribution metrics and practical significance, from group counts.

Every function here takes the per-group statistics of one grouping (``GroupCounts``) and
returns metric records; none of them sees a row. Differences are taken against one
reference group, written next to each number:

- ``statistical_parity_difference``: selection rate minus the reference's (Newcombe
  interval, same test as the impact ratio);
- ``equal_opportunity_difference``: TPR minus the reference's;
- ``equalized_odds_difference``: max(|ΔTPR|, |ΔFPR|) against the reference;
- ``smd``: standardized mean score difference, pooled SD (Welch t-test p);
- ``ks``: two-sample Kolmogorov–Smirnov distance between the group's and the
  reference's scores: exact, from the (mergeable) counts per distinct score value
  (:mod:`auditor.metrics.score_values`), with scipy's ``ks_2samp`` p-value (exact for
  groups of at most 10,000 rows, else asymptotic; flag ``test:ks_exact`` or
  ``test:ks_asymptotic``) and the flag ``ks:exact``. When the distinct-score counts were
  too many to keep, the distance on the fixed score grid: a lower bound of the exact one,
  flag ``ks:grid_lower_bound``, with an upper bound from the same counts in
  ``detail["ks_upper_bound"]`` (asymptotic p);
- ``ece``: expected calibration error of the group, ``CALIBRATION_BINS`` equal-width bins;
  ``reliability``: observed favourable-label rate per bin (``detail`` holds the bin and
  its mean score);
- ``chi_square``: one record per grouping (group ``all groups``): Pearson test that the
  selection rate is the same in every known group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from auditor.batch import UNKNOWN
from auditor.metrics.counts import CALIBRATION_BINS, GroupCounts
from auditor.metrics.score_values import ScoreValues, ks_statistic
from auditor.metrics.stats import (
    chi_square_p,
    difference_interval,
    ks_2samp_p,
    ks_p,
    ratio_interval,
    smd_stats,
    two_proportion_p,
    wilson_interval,
    zero_cell,
)
from auditor.result import MetricRecord

ALL_GROUPS = "all groups"


def size_flags(group: str, n: int, min_size: int) -> tuple[str, ...]:
    """``unknown`` and ``small_sample`` flags of a group."""
    flags: list[str] = []
    if group == UNKNOWN:
        flags.append("unknown")
    if n < min_size:
        flags.append("small_sample")
    return tuple(flags)


def shortfall_and_flip(
    x: int, n: int, xr: int, nr: int, line: float = 0.8
) -> tuple[float | None, bool | None]:
    """Selections needed for parity, and whether one changed selection crosses ``line``.

    Shortfall = rate_ref · n − x (negative: more selections than parity). Flip test (a
    practitioner/OFCCP convention, not regulation text): below the line, would one more
    selection in the group reach it; at or above, would one fewer drop below it? True
    means the ratio's side of the line hangs on a single person.
    """
    if n == 0 or nr == 0 or xr == 0:
        return None, None
    rate_ref = xr / nr
    ratio = (x / n) / rate_ref
    if ratio < line:
        flipped = ((x + 1) / n) / rate_ref >= line
    else:
        flipped = x >= 1 and ((x - 1) / n) / rate_ref < line
    return rate_ref * n - x, flipped


def compare_to_reference(
    attribute: str,
    metric: str,
    fr: dict[str, tuple[int, int]],
    ref: str,
    *,
    neutral: float,
    value_of: Callable[[int, int, int, int], float | None],
    interval_of: Callable[[int, int, int, int], tuple[float | None, float | None]],
    flags_of: Callable[[str, int], tuple[str, ...]],
) -> list[MetricRecord]:
    """One record per known group comparing its (count, n) with the reference's.

    The reference row carries ``neutral`` (1 for a ratio, 0 for a difference); every
    other row its value, interval and the two-proportion test against the reference.
    """
    xr, nr = fr[ref]
    out = []
    for group, (x, n) in fr.items():
        if group == UNKNOWN:
            continue
        flags = flags_of(group, n)
        if group == ref:
            out.append(
                MetricRecord(
                    attribute,
                    group,
                    metric,
                    neutral,
                    n,
                    count=x,
                    reference=ref,
                    flags=(*flags, "reference"),
                )
            )
            continue
        lo, hi = interval_of(x, n, xr, nr)
        p, test = two_proportion_p(x, n, xr, nr)
        if interval_of is ratio_interval and zero_cell(x, n, xr, nr):
            flags = (*flags, "ci:haldane_anscombe")  # see stats.ratio_interval
        out.append(
            MetricRecord(
                attribute,
                group,
                metric,
                value_of(x, n, xr, nr),
                n,
                count=x,
                ci_low=lo,
                ci_high=hi,
                p_value=p,
                reference=ref,
                flags=(*flags, f"test:{test}"),
            )
        )
    return out


def _diff_records(
    attribute: str,
    metric: str,
    fr: dict[str, tuple[int, int]],
    ref: str,
    min_size: int,
    sizes: dict[str, int],
) -> list[MetricRecord]:
    return compare_to_reference(
        attribute,
        metric,
        fr,
        ref,
        neutral=0.0,
        value_of=lambda x, n, xr, nr: x / n - xr / nr if n and nr else None,
        interval_of=difference_interval,
        flags_of=lambda group, _n: size_flags(group, sizes[group], min_size),
    )


def difference_records(
    attribute: str, counts: dict[str, GroupCounts], ref: str | None, min_size: int
) -> list[MetricRecord]:
    """Statistical parity, equal opportunity and equalized odds differences vs ``ref``."""
    if ref is None or ref not in counts:
        return []
    sizes = {g: c.n for g, c in counts.items()}
    sel = {g: (c.favorable, c.n) for g, c in counts.items()}
    out = _diff_records(attribute, "statistical_parity_difference", sel, ref, min_size, sizes)
    if counts[ref].positives is None:
        return out
    tpr = {g: (c.true_positives or 0, c.positives or 0) for g, c in counts.items()}
    fpr = {g: (c.false_positives or 0, c.negatives or 0) for g, c in counts.items()}
    eo = _diff_records(attribute, "equal_opportunity_difference", tpr, ref, min_size, sizes)
    out += eo
    fd = {r.group: r for r in _diff_records(attribute, "fpr", fpr, ref, min_size, sizes)}
    for r in eo:
        f = fd[r.group]
        value = None
        if r.value is not None and f.value is not None:
            value = max(abs(r.value), abs(f.value))
        flags = tuple(fl for fl in r.flags if not fl.startswith("test:"))
        out.append(
            MetricRecord(
                attribute,
                r.group,
                "equalized_odds_difference",
                value,
                counts[r.group].n,
                reference=ref,
                flags=flags,
            )
        )
    return out


def score_records(
    attribute: str,
    counts: dict[str, GroupCounts],
    ref: str | None,
    min_size: int,
    score_values: Mapping[str, ScoreValues] | None = None,
) -> list[MetricRecord]:
    """SMD and KS distance of each known group's scores against ``ref``'s.

    ``score_values``: each group's rows per distinct score (exact KS); absent, KS is
    bracketed on the score grid.
    """
    if ref is None or ref not in counts or counts[ref].score_hist is None:
        return []
    rc = counts[ref]
    out = []
    for group, c in counts.items():
        if group == UNKNOWN or c.score_hist is None:
            continue
        flags = size_flags(group, c.n, min_size)
        if group == ref:
            flags = (*flags, "reference")
            for metric in ("smd", "ks"):
                out.append(
                    MetricRecord(attribute, group, metric, 0.0, c.n, reference=ref, flags=flags)
                )
            continue
        d, lo, hi, p = smd_stats(
            c.score_sum or 0.0,
            c.score_sumsq or 0.0,
            c.n,
            rc.score_sum or 0.0,
            rc.score_sumsq or 0.0,
            rc.n,
        )
        out.append(
            MetricRecord(
                attribute,
                group,
                "smd",
                d,
                c.n,
                ci_low=lo,
                ci_high=hi,
                p_value=p,
                reference=ref,
                flags=(*flags, "test:welch_t"),
            )
        )
        out.append(_ks_record(attribute, group, ref, c, rc, flags, score_values))
    return out


def _ks_record(
    attribute: str,
    group: str,
    ref: str,
    c: GroupCounts,
    rc: GroupCounts,
    flags: tuple[str, ...],
    score_values: Mapping[str, ScoreValues] | None,
) -> MetricRecord:
    """The exact KS record when both groups' distinct-score counts are known, else the
    grid's lower bound with its stated upper bound."""
    if score_values is not None and group in score_values and ref in score_values:
        a, b = score_values[group], score_values[ref]
        dist = ks_statistic(a, b)
        p, method = ks_2samp_p(a, b, dist)
        return MetricRecord(
            attribute,
            group,
            "ks",
            dist,
            c.n,
            p_value=p,
            reference=ref,
            flags=(*flags, f"test:ks_{method}", "ks:exact"),
        )
    dist = ks_distance(c.score_hist or (), rc.score_hist or ())
    return MetricRecord(
        attribute,
        group,
        "ks",
        dist,
        c.n,
        p_value=ks_p(dist, c.n, rc.n),
        reference=ref,
        flags=(*flags, "test:ks_asymptotic", "ks:grid_lower_bound"),
        # the exact distance lies in [value, ks_upper_bound] (see ks_upper_bound)
        detail={"ks_upper_bound": ks_upper_bound(c.score_hist or (), rc.score_hist or ())},
    )


def ks_distance(h1: tuple[int, ...], h2: tuple[int, ...]) -> float:
    """max |F1 − F2| over the grid's bin edges (exact when scores sit on the grid).

    A lower bound of the exact two-sample KS distance; :func:`ks_upper_bound` bounds it
    from above, from the same (mergeable) histograms.
    """
    n1, n2 = sum(h1), sum(h2)
    if n1 == 0 or n2 == 0:
        return 0.0
    f1 = np.cumsum(np.asarray(h1, dtype=np.int64)) / n1
    f2 = np.cumsum(np.asarray(h2, dtype=np.int64)) / n2
    return float(np.max(np.abs(f1 - f2)))


def ks_upper_bound(h1: tuple[int, ...], h2: tuple[int, ...]) -> float:
    """An upper bound of the exact KS distance of the scores behind two histograms.

    Inside a bin each empirical CDF rises by at most that bin's share of its group, so
    with d_b = F1 − F2 at the right edge of bin b (d at the left edge of the first bin is
    0): F1 − F2 ≤ min(d_b + h2_b/n2, d_(b−1) + h1_b/n1) and F2 − F1 ≤ min(h1_b/n1 − d_b,
    h2_b/n2 − d_(b−1)) anywhere in bin b. The exact distance lies between
    :func:`ks_distance` and this bound; both come from counts that merge exactly.
    """
    n1, n2 = sum(h1), sum(h2)
    if n1 == 0 or n2 == 0:
        return 0.0
    s1 = np.asarray(h1, dtype=np.float64) / n1
    s2 = np.asarray(h2, dtype=np.float64) / n2
    right = np.cumsum(s1) - np.cumsum(s2)
    left = np.concatenate([[0.0], right[:-1]])
    up = np.minimum(right + s2, left + s1)
    down = np.minimum(s1 - right, s2 - left)
    return float(min(1.0, max(np.max(up), np.max(down), np.max(np.abs(right)))))


def calibration_records(
    attribute: str, counts: dict[str, GroupCounts], min_size: int
) -> list[MetricRecord]:
    """ECE per group, and the reliability (observed rate per score bin) behind it."""
    out = []
    for group, c in counts.items():
        if c.calib_label_sum is None or c.calib_score_sum is None or c.score_hist is None:
            continue
        flags = size_flags(group, c.n, min_size)
        per = len(c.score_hist) // CALIBRATION_BINS
        ece = 0.0
        for b in range(CALIBRATION_BINS):
            nb = sum(c.score_hist[b * per : (b + 1) * per])
            if nb == 0:
                continue
            yb = c.calib_label_sum[b]
            mean_score = c.calib_score_sum[b] / nb
            ece += nb / c.n * abs(yb / nb - mean_score)
            lo, hi = wilson_interval(yb, nb)
            out.append(
                MetricRecord(
                    attribute,
                    group,
                    "reliability",
                    yb / nb,
                    nb,
                    count=yb,
                    ci_low=lo,
                    ci_high=hi,
                    flags=flags,
                    detail={
                        "bin_low": b / CALIBRATION_BINS,
                        "bin_high": (b + 1) / CALIBRATION_BINS,
                        "mean_score": mean_score,
                    },
                )
            )
        out.append(MetricRecord(attribute, group, "ece", ece, c.n, flags=flags))
    return out


def chi_square_record(attribute: str, counts: dict[str, GroupCounts]) -> MetricRecord | None:
    """Pearson chi-square across all known groups: is the selection rate the same?"""
    table = [(c.favorable, c.n - c.favorable) for g, c in counts.items() if g != UNKNOWN]
    stat, p, dof = chi_square_p(table)
    if stat is None:
        return None
    n = sum(a + b for a, b in table)
    return MetricRecord(
        attribute,
        ALL_GROUPS,
        "chi_square",
        stat,
        n,
        count=sum(a for a, _ in table),
        p_value=p,
        flags=("test:chi2",),
        detail={"dof": float(dof)},
    )
