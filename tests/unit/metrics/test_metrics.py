"""Group metrics, intervals and tests, checked against hand computations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics import (
    GroupCounts,
    compute_group_metrics,
    count_groups,
    groupings,
    proxy_scores,
    ratio_interval,
    two_proportion_p,
    wilson_interval,
)
from auditor.metrics.proxies import (
    correlation_ratio_of,
    cramers_v_of,
    crosstab_counts,
    group_moments,
)
from auditor.result import MetricRecord

Z = stats.norm.ppf(0.975)


def statsmodels_wilson(count: int, n: int) -> tuple[float, float]:
    """statsmodels' proportion_confint(method="wilson"), written out by hand."""
    p = count / n
    crit2 = Z * Z
    denom = 1 + crit2 / n
    center = (p + crit2 / (2 * n)) / denom
    dist = Z * math.sqrt(p * (1 - p) / n + crit2 / (4 * n * n)) / denom
    return center - dist, center + dist


@pytest.mark.parametrize(
    ("count", "n", "known"),
    [
        # values printed by statsmodels.stats.proportion.proportion_confint(..., "wilson")
        (0, 10, (0.0, 0.2775328)),
        (5, 10, (0.2365931, 0.7634069)),
        (10, 10, (0.7224672, 1.0)),
        (1, 3, None),
        (37, 250, None),
    ],
)
def test_wilson_interval(count: int, n: int, known: tuple[float, float] | None) -> None:
    lo, hi = wilson_interval(count, n)
    assert lo is not None
    assert hi is not None
    ref_lo, ref_hi = statsmodels_wilson(count, n)
    assert lo == pytest.approx(max(ref_lo, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(ref_hi, 1.0), abs=1e-12)
    if known is not None:
        assert (lo, hi) == pytest.approx(known, abs=1e-7)
    assert 0.0 <= lo <= count / n <= hi <= 1.0


def test_wilson_interval_of_nothing() -> None:
    assert wilson_interval(0, 0) == (None, None)


def test_katz_ratio_interval() -> None:
    lo, hi = ratio_interval(20, 100, 40, 100)
    se = math.sqrt(1 / 20 - 1 / 100 + 1 / 40 - 1 / 100)
    assert lo == pytest.approx(0.5 * math.exp(-Z * se), rel=1e-12)
    assert hi == pytest.approx(0.5 * math.exp(Z * se), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.3157516, 0.7917616), abs=1e-7)
    # unequal group sizes
    lo, hi = ratio_interval(30, 120, 45, 90)
    ratio = (30 / 120) / (45 / 90)
    se = math.sqrt(1 / 30 - 1 / 120 + 1 / 45 - 1 / 90)
    assert (lo, hi) == pytest.approx((ratio * math.exp(-Z * se), ratio * math.exp(Z * se)))
    # a group with no selections: Katz on the Haldane–Anscombe table (0.5 in every cell;
    # issue 17, tests/unit/test_small_defects.py); a reference with none: no ratio, no interval
    se0 = math.sqrt(1 / 0.5 - 1 / 51 + 1 / 10.5 - 1 / 51)
    ratio0 = (0.5 / 51) / (10.5 / 51)
    assert ratio_interval(0, 50, 10, 50) == pytest.approx(
        (ratio0 * math.exp(-Z * se0), ratio0 * math.exp(Z * se0)), rel=1e-12
    )
    assert ratio_interval(10, 50, 0, 50) == (None, None)


def test_p_value_uses_fisher_for_small_expected_cells() -> None:
    p, test = two_proportion_p(1, 8, 6, 9)
    assert test == "fisher_exact"
    _, ref = stats.fisher_exact([[1, 7], [6, 3]])
    assert p == pytest.approx(ref, rel=1e-12)


def test_p_value_uses_the_pooled_z_test_for_large_cells() -> None:
    p, test = two_proportion_p(300, 1000, 400, 1000)
    assert test == "z_test"
    pooled = 700 / 2000
    z = (0.3 - 0.4) / math.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 1000))
    assert p == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-9)
    assert p == pytest.approx(2.76e-6, rel=0.01)


def test_p_value_boundary_and_degenerate_cases() -> None:
    # every expected cell exactly 5: the z-test applies
    p, test = two_proportion_p(5, 10, 5, 10)
    assert (p, test) == (1.0, "z_test")
    # expected cell 4.5 < 5: Fisher
    assert two_proportion_p(4, 10, 5, 10)[1] == "fisher_exact"
    assert two_proportion_p(0, 0, 5, 10) == (None, "none")


def random_counts_inputs(seed: int, n: int = 3000) -> tuple[pd.Series, np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = pd.Series(rng.choice(["a", "b", "c", "d", UNKNOWN], n, p=[0.4, 0.3, 0.2, 0.05, 0.05]))
    decisions = (rng.uniform(size=n) < 0.4).astype(np.float64)
    labels = (rng.uniform(size=n) < 0.5).astype(np.float64)
    scores = np.round(rng.uniform(size=n), 2)  # rounded: plenty of ties
    above = (scores > np.median(scores)).astype(np.float64)
    return groups, decisions, labels, above


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_counts_merge_of_two_halves_equals_the_whole(seed: int) -> None:
    groups, decisions, labels, above = random_counts_inputs(seed)
    whole = count_groups(groups, decisions, above_median=above, labels=labels)
    half = np.random.default_rng(seed + 100).uniform(size=len(groups)) < 0.5
    parts = [
        count_groups(
            groups[mask].reset_index(drop=True),
            decisions[mask],
            above_median=above[mask],
            labels=labels[mask],
        )
        for mask in (half, ~half)
    ]
    zero = GroupCounts(0, 0, 0, 0, 0, 0, 0)
    merged = {
        g: parts[0].get(g, zero).merge(parts[1].get(g, zero)) for g in set(parts[0]) | set(parts[1])
    }
    assert merged == whole
    a = whole["a"]
    assert a.n == int((groups == "a").sum())
    assert a.favorable == int(decisions[groups == "a"].sum())
    assert a.positives is not None
    assert a.negatives == a.n - a.positives


def test_group_counts_merge_without_labels_keeps_none() -> None:
    one = GroupCounts(10, 4)
    two = GroupCounts(5, 1, above_median=2)
    merged = one.merge(two)
    assert (merged.n, merged.favorable) == (15, 5)
    assert merged.above_median is None  # one side did not have it
    assert merged.positives is None


def make_batch(
    groups: Sequence[str],
    decisions: Sequence[int],
    *,
    scores: Sequence[float] | None = None,
    labels: Sequence[int] | None = None,
    attribute: str = "sex",
) -> DecisionBatch:
    n = len(groups)
    return DecisionBatch(
        ids=np.array([str(i) for i in range(n)]),
        features=pd.DataFrame(index=range(n)),
        protected=pd.DataFrame({attribute: list(groups)}),
        decisions=np.asarray(decisions, dtype=np.int8),
        scores=None if scores is None else np.asarray(scores, dtype=np.float64),
        labels=None if labels is None else np.asarray(labels, dtype=np.int8),
    )


def groups_batch(sizes: dict[str, tuple[int, int]]) -> DecisionBatch:
    """``{group: (n, favourable)}`` as a batch."""
    groups: list[str] = []
    decisions: list[int] = []
    for group, (n, fav) in sizes.items():
        groups += [group] * n
        decisions += [1] * fav + [0] * (n - fav)
    return make_batch(groups, decisions)


def records(
    recs: list[MetricRecord], metric: str, attribute: str = "sex"
) -> dict[str, MetricRecord]:
    return {r.group: r for r in recs if r.metric == metric and r.attribute == attribute}


SIZES = {"tiny": (10, 10), "A": (100, 60), "B": (100, 30), UNKNOWN: (50, 45)}


def test_impact_ratio_reference_is_the_most_selected_known_category() -> None:
    """UGESP 1607.4(D) and LL144 divide by the highest rate of any known category: a small
    one is the reference and is flagged, never dropped (issue 17); unknowns never are."""
    batch = groups_batch(SIZES)
    recs, refs = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=30)
    # 'tiny' (rate 1.0, n=10) sets the bar; 'unknown' (rate 0.9) cannot
    assert refs == {"sex": "tiny"}
    ratios = records(recs, "impact_ratio")
    assert set(ratios) == {"tiny", "A", "B"}  # no ratio for unknown
    tiny = ratios["tiny"]
    assert tiny.value == 1.0
    assert {"reference", "small_sample"} <= set(tiny.flags)
    b = ratios["B"]
    assert b.value == pytest.approx(0.3)
    assert b.reference == "tiny"
    assert (b.count, b.n) == (30, 100)
    assert (b.ci_low, b.ci_high) == ratio_interval(30, 100, 10, 10)
    assert b.p_value == two_proportion_p(30, 100, 10, 10)[0]
    assert ratios["A"].value == pytest.approx(0.6)


def test_unknown_group_rate_is_reported_and_flagged() -> None:
    batch = groups_batch(SIZES)
    recs, _ = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=30)
    rates = records(recs, "selection_rate")
    unknown = rates[UNKNOWN]
    assert unknown.value == pytest.approx(0.9)
    assert (unknown.count, unknown.n) == (45, 50)
    assert unknown.flags == ("unknown",)
    assert (unknown.ci_low, unknown.ci_high) == wilson_interval(45, 50)
    assert rates["tiny"].flags == ("small_sample",)
    assert rates["A"].flags == ()


def test_reference_falls_back_to_small_groups_when_none_is_large() -> None:
    batch = groups_batch(SIZES)
    _, refs = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=500)
    assert refs == {"sex": "tiny"}


def test_reference_ties_are_broken_by_name() -> None:
    batch = groups_batch({"zeta": (50, 30), "alpha": (50, 30), "mid": (50, 10)})
    _, refs = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=30)
    assert refs == {"sex": "alpha"}


def test_adverse_impact_ratio_against_a_named_control_group() -> None:
    batch = groups_batch(SIZES)
    recs, refs = compute_group_metrics(
        batch, groupings(["sex"], []), min_group_size=30, control={"sex": "B"}
    )
    air = records(recs, "adverse_impact_ratio")
    assert set(air) == {"tiny", "A", "B"}
    assert air["B"].value == 1.0
    assert "reference" in air["B"].flags
    assert air["A"].value == pytest.approx(0.6 / 0.3)
    assert air["A"].reference == "B"
    assert air["tiny"].value == pytest.approx(1.0 / 0.3)
    assert refs == {"sex": "tiny"}  # the impact-ratio reference is unchanged
    # no control named: no adverse impact ratio at all
    recs, _ = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=30)
    assert not records(recs, "adverse_impact_ratio")


def test_scoring_rate_counts_strictly_above_the_full_sample_median() -> None:
    groups = ["X", "X", "X", "X", "Y", "Y", "Y", "Y", "Y"]
    scores = [0.5, 0.5, 0.5, 0.9, 0.1, 0.2, 0.5, 0.7, 0.8]  # median 0.5, four ties at it
    batch = make_batch(groups, [1] * 9, scores=scores)
    recs, _ = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=1)
    rates = records(recs, "scoring_rate")
    assert (rates["X"].count, rates["X"].n) == (1, 4)
    assert (rates["Y"].count, rates["Y"].n) == (2, 5)
    ratios = records(recs, "scoring_impact_ratio")
    assert ratios["Y"].value == 1.0
    assert ratios["X"].value == pytest.approx(0.25 / 0.4)


def test_no_scores_means_no_scoring_rate() -> None:
    recs, _ = compute_group_metrics(groups_batch(SIZES), groupings(["sex"], []), min_group_size=1)
    assert not records(recs, "scoring_rate")
    assert not records(recs, "tpr")


def test_tpr_and_fpr_per_group() -> None:
    groups = ["A"] * 5 + ["B"] * 4
    labels = [1, 1, 1, 0, 0, 1, 0, 0, 0]
    decisions = [1, 0, 1, 1, 0, 0, 0, 1, 1]
    batch = make_batch(groups, decisions, labels=labels)
    recs, _ = compute_group_metrics(batch, groupings(["sex"], []), min_group_size=1)
    tpr, fpr = records(recs, "tpr"), records(recs, "fpr")
    assert (tpr["A"].count, tpr["A"].n, tpr["A"].value) == (2, 3, pytest.approx(2 / 3))
    assert (fpr["A"].count, fpr["A"].n, fpr["A"].value) == (1, 2, 0.5)
    assert (tpr["B"].count, tpr["B"].n, tpr["B"].value) == (0, 1, 0.0)
    assert (fpr["B"].count, fpr["B"].n, fpr["B"].value) == (2, 3, pytest.approx(2 / 3))
    # equal-opportunity metrics carry no ratio (differences come from the metrics engine)
    names = {r.metric for r in recs}
    assert {"selection_rate", "impact_ratio", "tpr", "fpr"} <= names
    assert not {m for m in names if m.endswith("ratio")} - {"impact_ratio"}


def test_intersections_are_measured_with_unknown_parts_unknown() -> None:
    batch = DecisionBatch(
        ids=np.array(["1", "2", "3", "4"]),
        features=pd.DataFrame(index=range(4)),
        protected=pd.DataFrame({"sex": ["f", "m", "f", UNKNOWN], "race": ["x", "x", "y", "y"]}),
        decisions=np.array([1, 0, 1, 1], dtype=np.int8),
        scores=None,
        labels=None,
    )
    recs, refs = compute_group_metrics(
        batch, groupings(["sex", "race"], [["sex", "race"]]), min_group_size=1
    )
    rates = records(recs, "selection_rate", "sex & race")
    assert set(rates) == {"f & x", "m & x", "f & y", UNKNOWN}
    assert refs["sex & race"] in {"f & x", "f & y"}


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """The package's Cramér's V (from its mergeable counts) of two arrays."""
    return cramers_v_of(crosstab_counts(pd.Series(a), np.asarray(b)))


def correlation_ratio(values: np.ndarray, groups: np.ndarray) -> float:
    """The package's η (from its mergeable moments) of values by group."""
    return correlation_ratio_of(group_moments(values, groups))


def test_cramers_v() -> None:
    rng = np.random.default_rng(0)
    a = rng.choice(["p", "q", "r"], 20_000)
    assert cramers_v(a, a) == pytest.approx(1.0)
    relabelled = np.array([{"p": "1", "q": "2", "r": "3"}[v] for v in a])
    assert cramers_v(a, relabelled) == pytest.approx(1.0)
    b = rng.choice(["u", "v"], 20_000)
    assert cramers_v(a, b) < 0.03
    assert cramers_v(a, np.full(20_000, "same")) == 0.0
    # hand-computed 2x2: [[30, 10], [10, 30]] -> phi = 0.5
    x = np.array(["a"] * 40 + ["b"] * 40)
    y = np.array(["c"] * 30 + ["d"] * 10 + ["c"] * 10 + ["d"] * 30)
    assert cramers_v(x, y) == pytest.approx(0.5)


def test_correlation_ratio() -> None:
    groups = np.array(["a", "a", "b", "b"])
    # mean 2.5; total SS 5; between SS 2*1.5^2... = 4 -> eta = sqrt(0.8)
    assert correlation_ratio(np.array([1.0, 2.0, 3.0, 4.0]), groups) == pytest.approx(
        math.sqrt(0.8)
    )
    assert correlation_ratio(np.array([1.0, 1.0, 5.0, 5.0]), groups) == pytest.approx(1.0)
    assert correlation_ratio(np.array([1.0, 5.0, 1.0, 5.0]), groups) == pytest.approx(0.0)
    assert correlation_ratio(np.array([3.0, 3.0, 3.0, 3.0]), groups) == 0.0
    with_nan = np.array([1.0, 2.0, np.nan, 3.0, 4.0])
    assert correlation_ratio(with_nan, np.array(["a", "a", "a", "b", "b"])) == pytest.approx(
        math.sqrt(0.8)
    )


def test_proxy_scores_pick_the_measure_and_ignore_unknowns() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    sex = rng.choice(["f", "m"], n)
    sex_with_unknowns = np.where(np.arange(n) < 100, UNKNOWN, sex)
    features = pd.DataFrame(
        {
            # identical to sex for known rows; random where sex is unknown
            "title": np.where(np.arange(n) < 100, rng.choice(["mr", "ms"], n), sex),
            "height": np.where(sex == "m", 180.0, 165.0),
            "noise": rng.normal(size=n),
        }
    )
    scores = proxy_scores(features, pd.DataFrame({"sex": sex_with_unknowns}))
    by_feature = {s.feature: s for s in scores}
    assert by_feature["title"].measure == "cramers_v"
    assert by_feature["title"].value == pytest.approx(1.0)
    assert by_feature["height"].measure == "correlation_ratio"
    assert by_feature["height"].value == pytest.approx(1.0)
    assert by_feature["noise"].value < 0.1
    assert [s.feature for s in scores][-1] == "noise"  # strongest first
