"""The verdict rule (auditor/policy/verdict.py) and its test (auditor/metrics/below_line.py)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import norm

from auditor.errors import SpecError
from auditor.metrics.below_line import Rate, below_line_test
from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.metrics.practical import adjust_holm
from auditor.policy.verdict import VerdictRule, decide, ratio_verdicts
from auditor.result import MetricRecord
from auditor.spec import load_spec
from tests._paths import REPO


def katz_one_sided(x1: int, n1: int, x2: int, n2: int, line: float) -> float:
    """P(Z <= z) for z = (log(r1 / r2) - log line) / Katz SE: the textbook test."""
    r1, r2 = x1 / n1, x2 / n2
    se = math.sqrt((1 - r1) / x1 + (1 - r2) / x2)
    return float(norm.cdf((math.log(r1 / r2) - math.log(line)) / se))


def test_one_reference_is_the_plain_one_sided_log_ratio_test() -> None:
    t = below_line_test(Rate(90, 300), [Rate(500, 1000)], 0.8)
    assert t is not None
    assert t.p_value == pytest.approx(katz_one_sided(90, 300, 500, 1000, 0.8), rel=1e-12)


def test_candidate_references_share_the_level_by_size() -> None:
    """Weighted Bonferroni over the candidates: p = min_j p_j / (n_j / sum n)."""
    t = below_line_test(Rate(90, 300), [Rate(500, 1000), Rate(40, 100)], 0.8)
    assert t is not None
    expected = min(
        katz_one_sided(90, 300, 500, 1000, 0.8) / (1000 / 1100),
        katz_one_sided(90, 300, 40, 100, 0.8) / (100 / 1100),
    )
    assert t.p_value == pytest.approx(expected, rel=1e-12)


def test_zero_and_full_counts_get_the_haldane_anscombe_correction() -> None:
    t = below_line_test(Rate(0, 50), [Rate(100, 100)], 0.8)
    assert t is not None
    r1, r2 = 0.5 / 51, 100.5 / 101
    se = math.sqrt((1 - r1) / 0.5 + (1 - r2) / 100.5)
    z = (math.log(r1 / r2) - math.log(0.8)) / se
    assert t.p_value == pytest.approx(norm.cdf(z), rel=1e-12)


def records(counts: dict[str, tuple[int, int]], min_size: int = 30) -> tuple[MetricRecord, ...]:
    gc = {g: GroupCounts(n=n, favorable=x) for g, (x, n) in counts.items()}
    recs, _ = grouping_records("race", gc, min_group_size=min_size)
    return tuple(adjust_holm(recs))


def statuses(recs: tuple[MetricRecord, ...], rule: VerdictRule) -> dict[str, str]:
    v = ratio_verdicts(recs, 0.8, rule, 30)
    return {
        m.group: decide(m, v, check_alpha=0.05, warn_if_significant=True, min_group_size=30).status
        for m in recs
        if m.metric == "impact_ratio" and "reference" not in m.flags
    }


def test_a_tiny_lucky_category_sets_the_ratio_but_cannot_force_a_fail() -> None:
    # 'tiny' (3 of 3) is the most selected category, so every ratio is taken against it
    # (LL144, UGESP); the evidence is against the large groups, where there is none
    recs = records({"tiny": (3, 3), "A": (450, 1000), "B": (200, 400)})
    ratios = {m.group: m for m in recs if m.metric == "impact_ratio"}
    assert ratios["A"].reference == "tiny"
    assert ratios["A"].value == pytest.approx(0.45)
    got = statuses(recs, VerdictRule())
    assert got["A"] == "warn"  # below 0.8 against 'tiny', no evidence against B
    assert statuses(recs, VerdictRule("raw_p"))["A"] == "warn"  # Fisher, p = 0.1 at n=3


def test_the_family_is_every_adequately_sized_ratio_comparison() -> None:
    recs = records({"A": (500, 1000), "B": (90, 300), "C": (100, 200), "D": (5, 20)})
    v = ratio_verdicts(recs, 0.8, VerdictRule(), 30)
    assert {k[2] for k in v.members} == {"B", "C"}  # not the reference, not the small D
    d = v.describe()
    assert (d["rule"], d["family_size"], d["alpha"], d["line"]) == (
        "below_line_holm",
        2,
        0.05,
        0.8,
    )
    assert "Holm-adjusted over the 2 ratio comparisons" in d["statement"]
    b = v.evidence[("race", "impact_ratio", "B")]
    assert b.p_adjusted == pytest.approx(min(1.0, 2 * b.p_one_sided))  # B has the smaller p
    assert statuses(recs, VerdictRule())["B"] == "fail"


def _two_groupings() -> tuple[MetricRecord, ...]:
    race = {"A": (500, 1000), "B": (150, 400), "C": (95, 200)}
    sex = {"F": (300, 800), "M": (445, 800)}
    out: list[MetricRecord] = []
    for name, table in (("race", race), ("sex", sex)):
        gc = {g: GroupCounts(n=n, favorable=x) for g, (x, n) in table.items()}
        out += grouping_records(name, gc, min_group_size=30)[0]
    return tuple(adjust_holm(out))


def test_family_grouping_adjusts_within_each_grouping_and_states_the_audit_bound() -> None:
    recs = _two_groupings()
    audit = ratio_verdicts(recs, 0.8, VerdictRule(), 30)
    per = ratio_verdicts(recs, 0.8, VerdictRule(family="grouping"), 30)
    assert audit.members == per.members
    assert len(audit.members) == 3  # B and C against A; F against M
    for key, ev in per.evidence.items():
        same = [k for k in per.members if k[0] == key[0]]
        raw = sorted(per.evidence[k].p_one_sided for k in same)
        # Holm within the grouping: at most len(same) times the raw p, never the audit's 3
        assert ev.family_size == len(same)
        assert ev.p_adjusted <= audit.evidence[key].p_adjusted + 1e-15
        # Holm by hand: m * smallest p, then the running maximum of (m - i) * p_(i)
        holm_by_hand = [min(1.0, (len(raw) - i) * q) for i, q in enumerate(raw)]
        holm_by_hand = [max(holm_by_hand[: i + 1]) for i in range(len(raw))]
        assert ev.p_adjusted == pytest.approx(holm_by_hand[raw.index(ev.p_one_sided)], rel=1e-12)
    d = per.describe()
    assert (d["family"], d["audit_wide_alpha"]) == ("grouping", pytest.approx(0.10))
    assert "within each grouping" in d["statement"]
    assert "at most 0.1" in d["statement"]
    assert audit.describe()["family"] == "audit"
    assert audit.describe()["audit_wide_alpha"] == 0.05
    raw = ratio_verdicts(recs, 0.8, VerdictRule("raw_p"), 30).describe()
    assert raw["audit_wide_alpha"] is None  # the old rule's error rate is not controlled


def test_the_rule_is_a_spec_setting_with_a_safe_default(tmp_path: object) -> None:
    base = {
        "name": "v",
        "domain": "hiring",
        "data": {"path": "x.csv"},
        "columns": {"id": "id", "decision": "d"},
        "protected": ["sex"],
    }
    spec = load_spec(base)
    assert (spec.verdict.rule, spec.verdict.alpha) == ("below_line_holm", 0.05)
    assert "verdict" not in spec.as_dict()  # the default leaves digests unchanged
    old = load_spec({**base, "verdict": {"rule": "raw_p"}})
    assert old.as_dict()["verdict"] == {"rule": "raw_p", "alpha": 0.05}
    assert spec.verdict.family == "audit"
    per = load_spec({**base, "verdict": {"family": "grouping"}})
    assert per.as_dict()["verdict"] == {
        "rule": "below_line_holm",
        "alpha": 0.05,
        "family": "grouping",
    }
    with pytest.raises(SpecError) as err:
        load_spec({**base, "verdict": {"rule": "max_p"}})
    assert "verdict.rule" in str(err.value.problems)
    with pytest.raises(SpecError) as err:
        load_spec({**base, "verdict": {"family": "metric"}})
    assert "verdict.family" in str(err.value.problems)
    with pytest.raises(SpecError) as err:
        load_spec({**base, "verdict": {"rule": "raw_p", "family": "grouping"}})
    assert "no family-wise control" in str(err.value.problems)


def test_bench_scenarios_in_miniature() -> None:
    """bench/bench_verdicts.py's claims on 30 seeded audits per scenario (a few seconds)."""
    import importlib.util

    path = REPO / "bench" / "bench_verdicts.py"
    spec = importlib.util.spec_from_file_location("bench_verdicts", path)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.run(30, 0.7, seed=7)
    assert res[("no disparity", "below_line_holm")] == (0.0, 0.0)
    assert res[("ratio 0.80", "below_line_holm")][0] <= 1 / 30
    assert res[("ratio 0.60", "below_line_holm")][1] >= 0.8
    assert res[("ratio 0.80", "raw_p")][0] > 0.5  # the old rule fails most audits on the line
    assert res[("no disparity", "family grouping")] == (0.0, 0.0)
    assert res[("ratio 0.80", "family grouping")][0] <= 1 / 30
    assert res[("ratio 0.60", "family grouping")][1] >= res[("ratio 0.60", "below_line_holm")][1]
    # the oracle: the most powerful level-0.05 test with the reference rate known
    assert bench.oracle_power(300, 0.7, 0.8) == pytest.approx(0.05, abs=1e-12)  # size exact
    assert bench.oracle_power(300, 0.3, 0.6) < 0.82  # 80% barely reachable at base 0.30
