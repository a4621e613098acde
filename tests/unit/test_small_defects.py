"""The smaller statistical defects of issue 17, item 5, each checked independently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import auditor
from auditor.metrics.slices import beyond_group_p, slice_search
from auditor.result import MetricRecord


def test_an_underflowed_slice_p_value_is_the_strongest_evidence_not_none() -> None:
    """A slice at ratio ≈ 0.08 over thousands of rows has p = 0.0 in floating point; it
    was read as "no p-value" (``p or 1.0``) and dropped."""
    n = 40_000
    rng = np.random.default_rng(0)
    group = np.where(np.arange(n) % 2 == 0, "A", "B")
    feature = np.where(np.arange(n) % 4 < 2, "x", "y")
    # A is not worse off overall (0.95 in y), only in x: the slice is beyond the group
    rate = np.where(group == "A", np.where(feature == "x", 0.04, 0.95), 0.5)
    decisions = (rng.random(n) < rate).astype(np.int8)
    xs = int(decisions[(group == "A") & (feature == "x")].sum())
    xr = int(decisions[(group == "B") & (feature == "x")].sum())
    ga, gb = decisions[group == "A"].mean(), decisions[group == "B"].mean()
    assert beyond_group_p(xs, n // 4, xr, n // 4, ga / gb) == 0.0  # the underflow is real
    found = slice_search(pd.DataFrame({"f": feature}), pd.DataFrame({"g": group}), decisions)
    worst = [r for r in found if r.group == "A & f in x"]
    assert worst, "the worst slice must be reported"
    assert worst[0].value is not None
    assert worst[0].value < 0.1
    assert worst[0].p_value == 0.0


def _membership_frame(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(5)
    sizes = {"A": 400, "B": 150, "C": 8}  # C is small: Fisher's test decides for it
    race = np.repeat(list(sizes), list(sizes.values()))
    rate = {"A": 0.5, "B": 0.35, "C": 0.1}
    hired = (rng.random(len(race)) < np.vectorize(rate.get)(race)).astype(int)
    frame = pd.DataFrame({"id": np.arange(len(race)), "race": race, "hired": hired})
    frame.loc[[0, 7], "race"] = None  # unknown in both forms
    columns = {g: f"p_{g}" for g in sizes}
    for g, col in columns.items():
        frame[col] = np.where(frame["race"].isna(), np.nan, (frame["race"] == g).astype(float))
    path = tmp_path / "bisg.csv"
    frame.to_csv(path, index=False)
    return path, columns


def test_one_hot_probabilities_give_the_hard_numbers_in_every_field(tmp_path: Path) -> None:
    path, columns = _membership_frame(tmp_path)
    base = {
        "name": "bisg",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "hired"},
    }
    hard = auditor.run_audit({**base, "protected": ["race"]})
    soft = auditor.run_audit(
        {**base, "protected": [], "protected_probabilities": {"race": columns}}
    )
    metrics = ("selection_rate", "impact_ratio")

    def by(result: auditor.AuditResult) -> dict[tuple[str, str], MetricRecord]:
        return {(m.metric, m.group): m for m in result.metrics if m.metric in metrics}

    h, s = by(hard), by(soft)
    assert h.keys() == s.keys()
    assert any("test:fisher_exact" in r.flags for r in h.values())  # the case that differed
    weighted_keys = {"weighted_n", "weighted_count", "effective_n"}
    for key, rec in h.items():
        other = s[key]
        if key[1] != "unknown":
            assert other.flags == ("weighted", *rec.flags), key
        extra = {k: v for k, v in other.detail.items() if k not in weighted_keys}
        same = replace(other, flags=rec.flags, detail=extra)
        assert same == rec, key  # value, n, count, interval, p, Holm p, power, bootstrap


def test_zero_selections_get_a_haldane_anscombe_katz_interval() -> None:
    """Checked against statsmodels' Katz (log risk ratio) interval of the corrected table."""
    from statsmodels.stats.contingency_tables import Table2x2

    from auditor.metrics.stats import ratio_interval

    lo, hi = ratio_interval(0, 40, 12, 42)
    corrected = Table2x2(np.array([[0.5, 40.5], [12.5, 30.5]]))  # 0.5 added to every cell
    want_lo, want_hi = corrected.riskratio_confint()
    assert (lo, hi) == (pytest.approx(want_lo, rel=1e-12), pytest.approx(want_hi, rel=1e-12))
    # without a zero cell: the plain Katz interval, as before
    plain = Table2x2(np.array([[3, 37], [12, 30]])).riskratio_confint()
    assert ratio_interval(3, 40, 12, 42) == (
        pytest.approx(plain[0], rel=1e-12),
        pytest.approx(plain[1], rel=1e-12),
    )
    assert ratio_interval(3, 40, 0, 42) == (None, None)  # the ratio itself is undefined


def test_an_audit_states_the_zero_cell_correction(tmp_path: Path) -> None:
    from auditor.metrics.stats import ratio_interval

    frame = pd.DataFrame(
        {
            "id": range(140),
            "g": ["A"] * 100 + ["B"] * 40,
            "hired": [1] * 50 + [0] * 50 + [0] * 40,
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = auditor.run_audit(
        {
            "name": "zero",
            "domain": "hiring",
            "data": {"path": str(tmp_path / "d.csv")},
            "columns": {"id": "id", "decision": "hired"},
            "protected": ["g"],
        }
    )
    ratio = next(m for m in result.metrics if m.metric == "impact_ratio" and m.group == "B")
    assert ratio.value == 0.0
    assert (ratio.ci_low, ratio.ci_high) == ratio_interval(0, 40, 50, 100)
    assert ratio.ci_low is not None
    assert ratio.ci_low > 0
    assert "ci:haldane_anscombe" in ratio.flags


def _fisher_power_by_enumeration(n1: int, n2: int, p1: float, p2: float) -> float:
    total = 0.0
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            if stats.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue <= 0.05:
                total += stats.binom.pmf(x1, n1, p1) * stats.binom.pmf(x2, n2, p2)
    return total


@pytest.mark.parametrize(
    ("n1", "n2", "p1", "p2"), [(8, 40, 0.4, 0.5), (10, 30, 0.1, 0.6), (5, 60, 0.2, 0.25)]
)
def test_fisher_power_matches_enumeration(n1: int, n2: int, p1: float, p2: float) -> None:
    from auditor.metrics.stats import fisher_power

    want = _fisher_power_by_enumeration(n1, n2, p1, p2)
    assert fisher_power(n1, n2, p1, p2) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_stated_power_is_the_deciding_tests(tmp_path: Path) -> None:
    """A 9-person group judged by Fisher's test: its power is Fisher's, not the z-test's."""
    from auditor.metrics.stats import fisher_power, power_at_ratio

    frame = pd.DataFrame(
        {
            "id": range(209),
            "g": ["A"] * 200 + ["B"] * 9,
            "hired": [1] * 100 + [0] * 100 + [1] * 3 + [0] * 6,
        }
    )
    frame.to_csv(tmp_path / "d.csv", index=False)
    result = auditor.run_audit(
        {
            "name": "power",
            "domain": "hiring",
            "data": {"path": str(tmp_path / "d.csv")},
            "columns": {"id": "id", "decision": "hired"},
            "protected": ["g"],
        }
    )
    ratio = next(m for m in result.metrics if m.metric == "impact_ratio" and m.group == "B")
    assert "test:fisher_exact" in ratio.flags
    assert "power:fisher_exact" in ratio.flags
    assert ratio.detail["power"] == pytest.approx(fisher_power(9, 200, 0.4, 0.5), rel=1e-12)
    assert ratio.detail["power"] < power_at_ratio(9, 200, 0.5)  # the z-test overstated it


def test_insufficient_evidence_names_the_real_cause() -> None:
    from auditor.policy.insufficient import insufficient_reason

    undefined = MetricRecord("g", "B", "adverse_impact_ratio", None, 3898, reference="A")
    reason = insufficient_reason(undefined, 30)
    assert "reference group 'A' has no favourable outcomes" in reason
    assert "minimum" not in reason
    small = MetricRecord("g", "B", "impact_ratio", 0.5, 12, flags=("small_sample",))
    assert insufficient_reason(small, 30) == (
        "only 12 decisions, below the minimum group size (30)"
    )
    weighted = MetricRecord(
        "g",
        "B",
        "impact_ratio",
        0.5,
        66,
        flags=("weighted", "small_sample"),
        detail={"effective_n": 21.4},
    )
    assert insufficient_reason(weighted, 30).startswith("effective sample size 21.4")


def test_a_small_tpr_denominator_does_not_make_the_group_small() -> None:
    """A 57-person group with 12 favourable labels: its TPR/FNR cells are small, the
    group is not, and the summary must not say it has "only 57 records"."""
    from auditor.report.summary import key_numbers
    from auditor.report.tables import build_tables
    from tests.factories import make_result

    base = make_result(with_attributions=False)
    extra = (
        MetricRecord("sex", "Female", "fnr", 0.2, 12, 3, flags=("small_sample",)),
        MetricRecord("sex", "Female", "tpr", 0.8, 12, 9, flags=("small_sample",)),
    )
    result = replace(base, metrics=base.metrics + extra)
    tables = build_tables(result, 30)
    female = next(r for t in tables for r in t.rows if r.group == "Female")
    assert not female.small
    key = next(k for k in key_numbers(tables) if k.metric == "impact_ratio")
    assert key.group == "Female"
    assert not key.small


def test_the_grid_ks_distance_brackets_scipys_exact_one() -> None:
    """The exact KS statistic (scipy's ks_2samp) lies in [grid distance, stated bound]."""
    from auditor.metrics.counts import ScoreGrid
    from auditor.metrics.disparities import ks_distance, ks_upper_bound

    grid = ScoreGrid()
    rng = np.random.default_rng(0)
    for _ in range(100):
        n1, n2 = (int(v) for v in rng.integers(1, 300, 2))
        a = rng.beta(2, 5, n1) ** rng.uniform(0.5, 3)
        b = rng.beta(2, 5, n2)
        h1 = tuple(np.bincount(grid.bin_of(a), minlength=grid.bins).tolist())
        h2 = tuple(np.bincount(grid.bin_of(b), minlength=grid.bins).tolist())
        exact = stats.ks_2samp(a, b).statistic
        assert ks_distance(h1, h2) - 1e-12 <= exact <= ks_upper_bound(h1, h2) + 1e-12


def test_ks_p_of_two_one_row_groups_is_none_not_a_crash() -> None:
    from auditor.metrics.stats import ks_p

    assert ks_p(1.0, 1, 1) is None
    assert ks_p(0.5, 40, 60) == pytest.approx(stats.kstwo.sf(0.5, 24))


def test_risk_score_orientation_names_fpr_as_propublica_does(tmp_path: Path) -> None:
    """COMPAS: "positive" = high risk (unfavourable). ProPublica's FPR is P(high risk |
    did not reoffend); with positive_outcome: unfavorable the ``fpr`` field is that
    number, checked with scikit-learn's confusion matrix; by default it is ``fnr``."""
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(2)
    n = 400
    race = rng.choice(["African-American", "Caucasian"], n)
    reoffended = rng.random(n) < np.where(race == "Caucasian", 0.4, 0.5)
    high_risk = rng.random(n) < np.where(reoffended, 0.65, np.where(race == "Caucasian", 0.2, 0.45))
    frame = pd.DataFrame(
        {
            "id": range(n),
            "race": race,
            "low_risk": (~high_risk).astype(int),  # the favourable decision
            "no_recid": (~reoffended).astype(int),  # the favourable label
        }
    )
    frame.to_csv(tmp_path / "compas.csv", index=False)
    spec = {
        "name": "compas",
        "domain": "credit",
        "data": {"path": str(tmp_path / "compas.csv")},
        "columns": {"id": "id", "decision": "low_risk", "label": "no_recid"},
        "protected": ["race"],
    }
    risk = auditor.run_audit({**spec, "positive_outcome": "unfavorable"})
    default = auditor.run_audit(spec)
    for group in ("African-American", "Caucasian"):
        rows = race == group
        tn, fp, fn, tp = confusion_matrix(reoffended[rows], high_risk[rows]).ravel()
        propublica_fpr, propublica_tpr = fp / (fp + tn), tp / (tp + fn)
        r = {m.metric: m for m in risk.metrics if m.group == group and m.attribute == "race"}
        d = {m.metric: m for m in default.metrics if m.group == group and m.attribute == "race"}
        assert r["fpr"].value == pytest.approx(propublica_fpr, rel=1e-12)
        assert r["tpr"].value == pytest.approx(propublica_tpr, rel=1e-12)
        assert "positive:unfavorable" in r["fpr"].flags
        assert d["fnr"].value == pytest.approx(propublica_fpr, rel=1e-12)
        assert "positive:favorable" in d["fnr"].flags
        assert r["selection_rate"] == d["selection_rate"]  # orientation-free
    assert "positive_outcome" not in auditor.spec.load_spec(spec).as_dict()
