"""The metrics engine against independent computations (Fairlearn, scipy, by hand)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_ratio,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy import stats
from sklearn.metrics import accuracy_score, precision_score

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.demo import sample_data_dir
from auditor.metrics import compute_group_metrics, groupings
from auditor.metrics.bootstrap import bootstrap_ratio_intervals
from auditor.metrics.counts import GroupCounts, ScoreGrid, count_groups
from auditor.metrics.group_metrics import grouping_records
from auditor.metrics.practical import adjust_holm
from auditor.metrics.stats import benjamini_hochberg, chi_square_p, holm
from auditor.result import MetricRecord


def by(recs: list[MetricRecord], metric: str, attribute: str) -> dict[str, MetricRecord]:
    return {r.group: r for r in recs if r.metric == metric and r.attribute == attribute}


@pytest.fixture(scope="module")
def german() -> DecisionBatch:
    """German credit with a transparent decision rule (no model needed) and the labels."""
    f = pd.read_csv(sample_data_dir() / "german_credit.csv")
    decisions = ((f["duration"] <= 24) & (f["credit_amount"] < 6000)).to_numpy(np.int8)
    rng = np.random.default_rng(3)
    scores = np.clip(0.5 * decisions + rng.uniform(0, 0.5, len(f)), 0, 1)
    return DecisionBatch(
        ids=f["applicant_id"].to_numpy(),
        features=pd.DataFrame(index=f.index),
        protected=f[["sex", "age_band"]].astype(str),
        decisions=decisions,
        scores=scores,
        labels=f["good_credit"].to_numpy(np.int8),
    )


@pytest.mark.parametrize("attribute", ["sex", "age_band"])
def test_group_rates_match_fairlearn_metricframe(german: DecisionBatch, attribute: str) -> None:
    recs, _ = compute_group_metrics(german, groupings(["sex", "age_band"], []), min_group_size=30)
    assert german.labels is not None
    assert german.decisions is not None
    y, d = german.labels, german.decisions
    sf = german.protected[attribute]
    mf = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "ppv": lambda a, b: precision_score(a, b, zero_division=0),
            "accuracy": accuracy_score,
        },
        y_true=y,
        y_pred=d,
        sensitive_features=sf,
    )
    for metric in mf.by_group.columns:
        ours = by(recs, metric, attribute)
        for group, value in mf.by_group[metric].items():
            assert ours[str(group)].value == pytest.approx(value, abs=1e-12), (metric, group)
    rates = {g: r.value for g, r in by(recs, "selection_rate", attribute).items()}
    dpr = min(rates.values()) / max(rates.values())  # type: ignore[type-var,operator]
    assert dpr == pytest.approx(demographic_parity_ratio(y, d, sensitive_features=sf))
    # equalized odds difference = max over TPR/FPR of (max - min) across groups
    tpr = [r.value for r in by(recs, "tpr", attribute).values()]
    fpr = [r.value for r in by(recs, "fpr", attribute).values()]
    eod = max(max(tpr) - min(tpr), max(fpr) - min(fpr))  # type: ignore[type-var,operator]
    assert eod == pytest.approx(equalized_odds_difference(y, d, sensitive_features=sf))


def test_differences_against_the_reference(german: DecisionBatch) -> None:
    recs, refs = compute_group_metrics(german, groupings(["sex"], []), min_group_size=30)
    ref = refs["sex"]
    assert ref is not None
    sel, tpr, fpr = (by(recs, m, "sex") for m in ("selection_rate", "tpr", "fpr"))
    spd, eo, eq = (
        by(recs, m, "sex")
        for m in (
            "statistical_parity_difference",
            "equal_opportunity_difference",
            "equalized_odds_difference",
        )
    )
    for g in sel:

        def rv(d: dict[str, MetricRecord], g: str = g) -> float:
            return d[g].value - d[ref].value  # type: ignore[operator]

        assert spd[g].value == pytest.approx(rv(sel))
        assert spd[g].reference == ref
        assert eo[g].value == pytest.approx(rv(tpr))
        assert eq[g].value == pytest.approx(max(abs(rv(tpr)), abs(rv(fpr))))
        assert spd[g].ci_low is None or spd[g].ci_low <= spd[g].value <= spd[g].ci_high
    assert "reference" in spd[ref].flags


def test_smd_ks_ece_match_numpy_and_scipy() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    # scores in the middle of grid bins: the fixed-grid KS is then exact
    shift = np.where(groups == "b", 60, 0)
    scores = (np.clip(rng.integers(0, 900, n) + shift, 0, 999) + 0.5) / 1000
    labels = (rng.uniform(size=n) < scores).astype(np.int8)
    decisions = (scores > 0.5).astype(np.int8)
    batch = DecisionBatch(
        ids=np.arange(n).astype(str),
        features=pd.DataFrame(index=range(n)),
        protected=pd.DataFrame({"g": groups}),
        decisions=decisions,
        scores=scores,
        labels=labels,
    )
    recs, refs = compute_group_metrics(batch, groupings(["g"], []), min_group_size=30)
    ref = refs["g"]
    assert ref == "b"
    smd, ks, ece = by(recs, "smd", "g"), by(recs, "ks", "g"), by(recs, "ece", "g")
    s_ref = scores[groups == ref]
    for g in ("a", "c"):
        s = scores[groups == g]
        pooled = math.sqrt(
            ((len(s) - 1) * s.var(ddof=1) + (len(s_ref) - 1) * s_ref.var(ddof=1))
            / (len(s) + len(s_ref) - 2)
        )
        assert smd[g].value == pytest.approx((s.mean() - s_ref.mean()) / pooled, rel=1e-9)
        welch = stats.ttest_ind(s, s_ref, equal_var=False)
        assert smd[g].p_value == pytest.approx(welch.pvalue, rel=1e-6)
        ks2 = stats.ks_2samp(s, s_ref)  # exact KS from distinct-score counts, p as scipy's auto
        assert ks[g].value == pytest.approx(ks2.statistic, abs=1e-12)
        assert ks[g].p_value == pytest.approx(ks2.pvalue, rel=1e-9)
    for g in ("a", "b", "c"):
        m = groups == g
        bins = np.minimum((scores[m] * 10).astype(int), 9)
        want = sum(
            (bins == b).sum()
            / m.sum()
            * abs(labels[m][bins == b].mean() - scores[m][bins == b].mean())
            for b in range(10)
            if (bins == b).any()
        )
        assert ece[g].value == pytest.approx(want, abs=1e-12)
    rel = [r for r in recs if r.metric == "reliability" and r.group == "a"]
    assert len(rel) == len(np.unique(np.minimum((scores[groups == "a"] * 10).astype(int), 9)))
    assert sum(r.n for r in rel) == (groups == "a").sum()


def test_four_fifths_with_small_group_flip_test_and_shortfall() -> None:
    """Worked example: A 100/200 (0.50); B 15/40 (0.375, IR 0.75); C 30/100 (0.30, IR 0.60)."""
    counts = {"A": GroupCounts(200, 100), "B": GroupCounts(40, 15), "C": GroupCounts(100, 30)}
    recs, ref = grouping_records("sex", counts, min_group_size=30)
    assert ref == "A"
    ir = by(recs, "impact_ratio", "sex")
    assert ir["B"].value == pytest.approx(0.75)
    # one more selection in B: 16/40 = 0.40, IR 0.80 -> the result hangs on one person
    assert ir["B"].flip_test is True
    assert "flip_sensitive" in ir["B"].flags
    assert ir["B"].shortfall == pytest.approx(0.5 * 40 - 15)  # 5 selections to parity
    assert ir["C"].value == pytest.approx(0.6)
    assert ir["C"].flip_test is False
    assert ir["C"].shortfall == pytest.approx(20.0)
    assert ir["A"].flip_test is None  # the reference itself
    # at the line: would one fewer selection drop below it? 32/80 -> 0.80; 31/80 -> 0.775
    recs2, _ = grouping_records("sex", {**counts, "B": GroupCounts(80, 32)}, min_group_size=30)
    assert by(recs2, "impact_ratio", "sex")["B"].flip_test is True


def test_chi_square_matches_scipy() -> None:
    table = [(30, 70), (45, 55), (12, 8)]
    stat, p, dof = chi_square_p(table)
    ref = stats.chi2_contingency(np.array(table), correction=False)
    assert (stat, p, dof) == (pytest.approx(ref.statistic), pytest.approx(ref.pvalue), ref.dof)
    counts = {g: GroupCounts(a + b, a) for g, (a, b) in zip("xyz", table, strict=True)}
    counts[UNKNOWN] = GroupCounts(50, 50)  # unknowns never enter the test
    recs, _ = grouping_records("sex", counts, min_group_size=30)
    chi = by(recs, "chi_square", "sex")["all groups"]
    assert chi.value == pytest.approx(ref.statistic)
    assert chi.n == 220


def test_holm_and_bh_by_hand() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005, None]) == pytest.approx([0.03, 0.06, 0.06, 0.02, None])
    # step-down is monotone: 2 * 0.5 = 1.0 first, so the larger p cannot come out below it
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    bh = benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert bh == pytest.approx(stats.false_discovery_control([0.01, 0.04, 0.03, 0.005]))


def test_holm_adjustment_is_per_metric_family() -> None:
    recs = [
        MetricRecord("a", "x", "impact_ratio", 0.7, 50, p_value=0.01),
        MetricRecord("b", "y", "impact_ratio", 0.9, 50, p_value=0.02),
        MetricRecord("a", "x", "smd", 0.1, 50, p_value=0.02),
        MetricRecord("a", "x", "selection_rate", 0.3, 50),
    ]
    out = adjust_holm(recs)
    assert [r.p_value_adjusted for r in out] == pytest.approx([0.02, 0.02, 0.02, None])
    assert [r.p_value for r in out] == [0.01, 0.02, 0.02, None]  # raw kept


def test_every_ratio_p_value_gets_an_adjusted_one(german: DecisionBatch) -> None:
    recs, _ = compute_group_metrics(
        german, groupings(["sex", "age_band"], [["sex", "age_band"]]), min_group_size=30
    )
    with_p = [r for r in recs if r.p_value is not None]
    assert with_p
    assert all(r.p_value_adjusted is not None and r.p_value_adjusted >= r.p_value for r in with_p)


def _random_inputs(seed: int, n: int = 5000) -> tuple[pd.Series, np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    groups = pd.Series(rng.choice(["a", "b", "c", UNKNOWN], n, p=[0.5, 0.3, 0.15, 0.05]))
    decisions = (rng.uniform(size=n) < 0.4).astype(np.int8)
    labels = (rng.uniform(size=n) < 0.5).astype(np.int8)
    scores = rng.uniform(size=n)
    return groups, decisions, labels, scores


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_merging_random_partitions_gives_the_numbers_of_the_whole(seed: int) -> None:
    groups, decisions, labels, scores = _random_inputs(seed)
    above = (scores > np.median(scores)).astype(np.float64)
    grid = ScoreGrid()
    whole = count_groups(
        groups, decisions, above_median=above, labels=labels, scores=scores, grid=grid
    )
    part = np.random.default_rng(seed + 50).integers(0, 5, len(groups))
    merged: dict[str, GroupCounts] = {}
    for k in range(5):
        m = part == k
        piece = count_groups(
            groups[m].reset_index(drop=True),
            decisions[m],
            above_median=above[m],
            labels=labels[m],
            scores=scores[m],
            grid=grid,
        )
        for g, c in piece.items():
            merged[g] = merged[g].merge(c) if g in merged else c
    for g, w in whole.items():
        mg = merged[g]
        exact = ("n", "favorable", "above_median", "positives", "true_positives", "negatives")
        for field in (*exact, "false_positives", "score_hist", "calib_label_sum"):
            assert getattr(mg, field) == getattr(w, field), field
        assert mg.score_sum == pytest.approx(w.score_sum, rel=1e-12)
        assert mg.calib_score_sum == pytest.approx(w.calib_score_sum, rel=1e-12)
    r_whole, _ = grouping_records("g", whole, min_group_size=30)
    r_merged, _ = grouping_records("g", merged, min_group_size=30)
    assert len(r_whole) == len(r_merged)
    for a, b in zip(r_whole, r_merged, strict=True):
        assert (a.metric, a.group, a.n, a.count, a.flags) == (
            b.metric,
            b.group,
            b.n,
            b.count,
            b.flags,
        )
        if a.metric in ("smd", "ece"):  # from float score sums: equal to rounding
            assert a.value == pytest.approx(b.value, rel=1e-9)
        else:
            assert a.value == b.value, a.metric  # count-based: bit for bit


def test_bootstrap_over_counts_is_seeded_and_sensible() -> None:
    fr = {"A": (300, 600), "B": (200, 600)}
    one = bootstrap_ratio_intervals(fr, "A", 1000, seed=1)
    assert one == bootstrap_ratio_intervals(fr, "A", 1000, seed=1)
    lo, hi = one["B"]
    assert lo < (200 / 600) / 0.5 < hi
    katz = stats.norm.ppf(0.975) * math.sqrt(1 / 200 - 1 / 600 + 1 / 300 - 1 / 600)
    assert lo == pytest.approx((2 / 3) * math.exp(-katz), abs=0.02)
    recs, _ = grouping_records(
        "s", {g: GroupCounts(n, x) for g, (x, n) in fr.items()}, min_group_size=30, bootstrap=200
    )
    b = by(recs, "impact_ratio", "s")["B"]
    assert b.detail["boot_ci_low"] < b.value < b.detail["boot_ci_high"]  # type: ignore[operator]


def test_old_metric_json_reads_back_with_defaults() -> None:
    old = {
        "attribute": "sex",
        "group": "f",
        "metric": "impact_ratio",
        "value": 0.7,
        "n": 40,
        "count": 14,
        "ci_low": 0.5,
        "ci_high": 0.9,
        "p_value": 0.03,
        "reference": "m",
        "flags": ["test:z_test"],
    }
    rec = MetricRecord(**{**old, "flags": tuple(old["flags"])})  # type: ignore[arg-type]
    assert rec.p_value_adjusted is None
    assert rec.shortfall is None
    assert rec.detail == {}
