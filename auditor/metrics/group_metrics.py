"""Group metrics per protected attribute and intersection, from group counts.

Conventions (written next to every number as ``reference``):
- ``impact_ratio``: rate / rate of the highest-rate group (UGESP 1607.4(D), LL144): the
  most selected known category of any size (a small one is flagged, never dropped; only
  LL144's optional under-2% exclusion removes a category from the reference).
- ``adverse_impact_ratio``: rate / rate of a named control group (fair-lending
  convention), only when the spec names one for the attribute.
- ``scoring_rate``: share scoring strictly above the median score of the full sample
  (LL144 scoring tools); ``scoring_impact_ratio`` against the highest scoring rate.
Unknown groups are counted and their rates shown, but they never enter a ratio.

LL144's optional small-category exclusion (``exclude_below``): a known category under
that share of the rows gets no impact ratio or scoring impact ratio (its record holds
no value and the flag ``excluded``) and cannot be the reference; its size and rates are
still reported, flagged ``excluded``. Other metrics are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics.counts import GroupCounts, RowKeys, ScoreGrid
from auditor.metrics.disparities import (
    calibration_records,
    chi_square_record,
    compare_to_reference,
    difference_records,
    score_records,
    size_flags,
)
from auditor.metrics.practical import adjust_holm, practical
from auditor.metrics.score_values import ScoreValues
from auditor.metrics.stats import ratio_interval, wilson_interval
from auditor.result import MetricRecord

if TYPE_CHECKING:
    from auditor.metrics.cells import DecisionCells

RateOf = Callable[[GroupCounts], tuple[int, int] | None]


@dataclass(frozen=True)
class Grouping:
    """One protected attribute or intersection, with its display name."""

    name: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class RateMetric:
    """A rate metric: how to get (numerator, denominator) from counts."""

    name: str
    ratio_name: str | None
    rate_of: RateOf


# the ratios LL144's small-category exclusion applies to (6 RCNY 5-301)
EXCLUDABLE = frozenset({"impact_ratio", "scoring_impact_ratio"})

RATES: tuple[RateMetric, ...] = (
    RateMetric("selection_rate", "impact_ratio", lambda c: (c.favorable, c.n)),
    RateMetric(
        "scoring_rate",
        "scoring_impact_ratio",
        lambda c: None if c.above_median is None else (c.above_median, c.n),
    ),
    RateMetric(
        "tpr",
        None,
        lambda c: None if c.positives is None else (c.true_positives or 0, c.positives),
    ),
    RateMetric(
        "fpr",
        None,
        lambda c: None if c.negatives is None else (c.false_positives or 0, c.negatives),
    ),
    RateMetric(
        "fnr",
        None,
        lambda c: None if c.positives is None else (c.false_negatives or 0, c.positives),
    ),
    RateMetric(
        "ppv",
        None,
        lambda c: (
            None
            if c.positives is None
            else (c.true_positives or 0, (c.true_positives or 0) + (c.false_positives or 0))
        ),
    ),
    RateMetric(
        "accuracy",
        None,
        lambda c: (
            None
            if c.positives is None
            else ((c.true_positives or 0) + (c.true_negatives or 0), c.n)
        ),
    ),
)


# records whose numbers depend on which outcome is called "positive"
LABEL_METRICS = frozenset(
    {"tpr", "fpr", "fnr", "ppv", "equal_opportunity_difference", "equalized_odds_difference"}
)


def unfavorable_positive(c: GroupCounts) -> GroupCounts:
    """``c`` with the unfavourable outcome as "positive", as risk scores name it.

    A risk score (COMPAS) calls a high-risk, unfavourable prediction positive, so its
    FPR is P(unfavourable decision | favourable label): the favourable-positive ``fnr``.
    Swapping the label classes and the decision's meaning gives every label metric
    (TPR, FPR, FNR, PPV and the differences built on them) under that naming; selection
    rates, accuracy and calibration are unchanged.
    """
    if c.positives is None or c.negatives is None:
        return c
    tp, fp = c.true_positives or 0, c.false_positives or 0
    return replace(
        c,
        positives=c.negatives,
        true_positives=c.negatives - fp,  # unfavourable decisions, unfavourable label
        negatives=c.positives,
        false_positives=c.positives - tp,  # unfavourable decisions, favourable label
    )


def groupings(protected: list[str], intersections: list[list[str]]) -> list[Grouping]:
    """Single attributes first, then intersections named ``a & b``."""
    out = [Grouping(a, (a,)) for a in protected]
    out += [Grouping(" & ".join(c), tuple(c)) for c in intersections]
    return out


def compute_group_metrics(
    batch: DecisionBatch,
    groups: list[Grouping],
    *,
    min_group_size: int,
    control: dict[str, str] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    flip_line: float = 0.8,
    exclude_below: float | None = None,
) -> tuple[list[MetricRecord], dict[str, str | None]]:
    """All group metrics, and the highest-rate reference group per grouping.

    ``bootstrap`` > 0 adds a seeded percentile interval from that many count-bootstrap
    replicates to every ratio (``detail``: ``boot_ci_low``/``boot_ci_high``). Differences,
    SMD and KS are taken against the named control group when there is one, else the
    highest-selection-rate group. p-values get a Holm adjustment per metric across every
    group of every grouping (``p_value_adjusted``).
    """
    if batch.decisions is None:
        raise ValueError("decisions must be known before measuring")
    from auditor.metrics.cells import DecisionCells

    cells = DecisionCells.build(
        batch.protected[_attributes(groups)],
        row_keys(batch.decisions, batch.labels, batch.scores),
        has_scores=batch.scores is not None,
        decisions=batch.decisions,
    )
    return metrics_from_cells(
        cells,
        groups,
        min_group_size=min_group_size,
        control=control,
        bootstrap=bootstrap,
        seed=seed,
        flip_line=flip_line,
        exclude_below=exclude_below,
    )


def _attributes(groups: list[Grouping]) -> list[str]:
    return list(dict.fromkeys(a for g in groups for a in g.attributes))


def row_keys(
    decisions: np.ndarray,
    labels: np.ndarray | None,
    scores: np.ndarray | None,
    *,
    median: float | None = None,
    grid: ScoreGrid | None = None,
) -> RowKeys:
    """The packed per-row keys; ``median``/``grid`` default to the rows' own.

    A partition passes the full sample's score median (LL144 scoring rate) and score
    grid, so its counts merge into those of the whole.
    """
    above = None
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64)
        above = scores > (np.median(scores) if median is None else median)
    return RowKeys.build(decisions, above_median=above, labels=labels, scores=scores, grid=grid)


def metrics_from_cells(
    cells: DecisionCells,
    groups: list[Grouping],
    *,
    min_group_size: int,
    control: dict[str, str] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    flip_line: float = 0.8,
    exclude_below: float | None = None,
    positive: str = "favorable",
) -> tuple[list[MetricRecord], dict[str, str | None]]:
    """:func:`compute_group_metrics` from (merged) decision cells.

    ``positive``: the outcome label metrics call positive (``favorable``, or
    ``unfavorable`` for risk scores, see :func:`unfavorable_positive`); every label
    metric record carries it as the flag ``positive:<outcome>``.
    """
    records: list[MetricRecord] = []
    references: dict[str, str | None] = {}
    for g in groups:
        counts = cells.group_counts(g.attributes)
        if positive == "unfavorable":
            counts = {k: unfavorable_positive(c) for k, c in counts.items()}
        recs, ref = grouping_records(
            g.name,
            counts,
            min_group_size=min_group_size,
            control=(control or {}).get(g.name),
            bootstrap=bootstrap,
            seed=seed,
            flip_line=flip_line,
            exclude_below=exclude_below,
            score_values=cells.group_score_values(g.attributes),
        )
        records += [
            replace(r, flags=(*r.flags, f"positive:{positive}"))
            if r.metric in LABEL_METRICS
            else r
            for r in recs
        ]
        references[g.name] = ref
    return adjust_holm(records), references


def grouping_records(
    attribute: str,
    counts: dict[str, GroupCounts],
    *,
    min_group_size: int,
    control: str | None = None,
    bootstrap: int = 0,
    seed: int = 0,
    flip_line: float = 0.8,
    exclude_below: float | None = None,
    score_values: Mapping[str, ScoreValues] | None = None,
) -> tuple[list[MetricRecord], str | None]:
    """Every metric record of one grouping from its counts (no Holm adjustment yet).

    ``score_values``: rows per distinct score of each group, for the exact KS distance.
    """
    records: list[MetricRecord] = []
    ref = None
    excluded = small_categories(counts, exclude_below)
    for rate in RATES:
        recs, r = _rate_records(attribute, counts, rate, min_group_size, control, excluded)
        records += recs
        if rate.name == "selection_rate":
            ref = r
    boot_cache: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    records = [practical(r, counts, bootstrap, seed, flip_line, boot_cache) for r in records]
    diff_ref = control if control is not None and control in counts else ref
    records += difference_records(attribute, counts, diff_ref, min_group_size)
    records += score_records(attribute, counts, diff_ref, min_group_size, score_values)
    records += calibration_records(attribute, counts, min_group_size)
    chi = chi_square_record(attribute, counts)
    if chi is not None:
        records.append(chi)
    return records, ref


def small_categories(counts: dict[str, GroupCounts], below: float | None) -> frozenset[str]:
    """Known categories under ``below`` of all rows (LL144's optional exclusion)."""
    total = sum(c.n for c in counts.values())
    if below is None or total == 0:
        return frozenset()
    return frozenset(g for g, c in counts.items() if g != UNKNOWN and c.n / total < below)


def _rate_records(
    attribute: str,
    counts: dict[str, GroupCounts],
    rate: RateMetric,
    min_size: int,
    control: str | None,
    excluded: frozenset[str] = frozenset(),
) -> tuple[list[MetricRecord], str | None]:
    fractions = {g: rate.rate_of(c) for g, c in counts.items()}
    if any(v is None for v in fractions.values()):
        return [], None
    fr = {g: v for g, v in fractions.items() if v is not None}
    records = []
    for group, (x, n) in fr.items():
        lo, hi = wilson_interval(x, n)
        records.append(
            MetricRecord(
                attribute,
                group,
                rate.name,
                x / n if n else None,
                n,
                count=x,
                ci_low=lo,
                ci_high=hi,
                flags=size_flags(group, counts[group].n if rate.name == "ppv" else n, min_size)
                + (("excluded",) if group in excluded else ()),
            )
        )
    if rate.ratio_name is None:
        return records, None
    if rate.ratio_name in EXCLUDABLE and excluded:
        kept = {g: v for g, v in fr.items() if g not in excluded}
        ref = _highest(kept, min_size)
        if ref is not None:
            records += _ratios(attribute, kept, rate.ratio_name, ref, min_size)
            records += _excluded_ratios(attribute, fr, rate.ratio_name, ref, excluded)
        return records, ref
    ref = _highest(fr, min_size)
    if ref is not None:
        records += _ratios(attribute, fr, rate.ratio_name, ref, min_size)
    if control is not None and rate.name == "selection_rate" and control in fr:
        records += _ratios(attribute, fr, "adverse_impact_ratio", control, min_size)
    return records, ref


def _highest(fr: dict[str, tuple[int, int]], min_size: int) -> str | None:
    """The most selected (scored) known category, whatever its size.

    LL144 (6 RCNY 5-301) divides by "the most selected category" and UGESP 1607.4(D) by
    "the group with the highest rate": neither lets a small category drop out of the
    reference (only LL144's under-2% exclusion does, removed from ``fr`` by the caller).
    A small reference is flagged ``small_sample`` on its record; the verdict rule's tests
    account for its noise (auditor/policy/verdict.py). ``min_size`` is kept for callers.
    """
    del min_size  # the reference is chosen among every known category (see above)
    pool = {g: v for g, v in fr.items() if g != UNKNOWN and v[1] > 0}
    if not pool:
        return None
    # ties broken by name so the choice is deterministic
    return max(sorted(pool), key=lambda g: pool[g][0] / pool[g][1])


def _excluded_ratios(
    attribute: str,
    fr: dict[str, tuple[int, int]],
    name: str,
    ref: str,
    excluded: frozenset[str],
) -> list[MetricRecord]:
    """Placeholder ratio records (no value) for excluded categories, so every rule and
    table sees that the category was excluded rather than silently missing."""
    total = sum(n for _, n in fr.values())
    return [
        MetricRecord(
            attribute,
            group,
            name,
            None,
            n,
            count=x,
            reference=ref,
            flags=("excluded",),
            detail={"share": n / total if total else 0.0},
        )
        for group, (x, n) in sorted(fr.items())
        if group in excluded
    ]


def _ratios(
    attribute: str, fr: dict[str, tuple[int, int]], name: str, ref: str, min_size: int
) -> list[MetricRecord]:
    return compare_to_reference(
        attribute,
        name,
        fr,
        ref,
        neutral=1.0,
        value_of=lambda x, n, xr, nr: (x / n) / (xr / nr) if n and xr else None,
        interval_of=ratio_interval,
        flags_of=lambda group, n: size_flags(group, n, min_size),
    )
