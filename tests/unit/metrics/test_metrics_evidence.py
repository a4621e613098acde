"""The evidence (flip test, adjusted p) as the four-fifths rule reads it, under both verdict
rules; old JSON."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.policy import Facts, PolicyPack, evaluate, load_packs
from auditor.policy.legal import BasisPeriod
from auditor.policy.verdict import VerdictRule, VerdictRuleName
from auditor.result import AttributionSummary, AuditResult, MetricRecord
from tests.factories import make_result


def _four_fifths() -> PolicyPack:
    """The four-fifths check as a binding rule: UGESP itself is guidance (issue 18) and
    only flags, while these tests are about when the check would fail."""
    pack = load_packs(["eeoc_ugesp"])[0]
    binding = [BasisPeriod(status="binding")]
    rules = [
        r.model_copy(update={"statutory_basis": binding})
        for r in pack.rules
        if r.id == "EEOC-UGESP-4D-FOUR-FIFTHS"
    ]
    return replace(pack, rules=tuple(rules))


def _facts(metrics: list[MetricRecord], rule: VerdictRuleName = "below_line_holm") -> Facts:
    return Facts(
        domain="hiring",
        audit_date=date(2026, 6, 1),
        metrics=tuple(metrics),
        groups=(),
        groupings=("sex",),
        intersections=(),
        features=(),
        attributions=AttributionSummary(computed=False, reason="not needed"),
        min_group_size=30,
        verdict_rule=VerdictRule(rule),
    )


def test_flip_sensitive_ratio_below_the_line_warns_not_fails() -> None:
    # A: 600/1000 (0.60); B: 28/60 (0.467, IR 0.78, significant); one more: 29/60 -> 0.806
    # C: 200/500 (0.40, IR 0.67, significant, not flip-sensitive) fails
    counts = {"A": GroupCounts(1000, 600), "B": GroupCounts(60, 28), "C": GroupCounts(500, 200)}
    recs, _ = grouping_records("sex", counts, min_group_size=30)
    ir = {r.group: r for r in recs if r.metric == "impact_ratio"}
    assert ir["B"].flip_test is True
    assert ir["B"].p_value is not None
    assert ir["B"].p_value < 0.05
    # the rule before December 2026 (raw p of equal rates) had B significant: the flip
    # test turned its fail into a warning
    found = {f.scope: f for f in evaluate([_four_fifths()], _facts(recs, "raw_p"))}
    assert found["sex=B"].status == "warn"
    assert "flip test" in found["sex=B"].message
    assert found["sex=C"].status == "fail"
    # the default rule finds no evidence that B's true ratio is below 0.80 at all
    found = {f.scope: f for f in evaluate([_four_fifths()], _facts(recs))}
    assert found["sex=B"].status == "warn"
    assert "not conclusive" in found["sex=B"].message
    assert found["sex=C"].status == "fail"


def test_adjusted_p_is_shown_next_to_the_raw_one() -> None:
    rec = MetricRecord(
        "sex",
        "B",
        "impact_ratio",
        0.6,
        1000,
        count=300,
        p_value=0.01,
        reference="A",
        flags=("test:z_test",),
        p_value_adjusted=0.03,
        flip_test=False,
    )
    ref = MetricRecord(
        "sex", "A", "impact_ratio", 1.0, 1000, count=500, reference="A", flags=("reference",)
    )
    found = {f.scope: f for f in evaluate([_four_fifths()], _facts([ref, rec], "raw_p"))}
    assert found["sex=B"].status == "fail"
    assert "p = 0.010; Holm-adjusted = 0.030" in found["sex=B"].message
    # the default rule shows the p that decides it: one-sided, Holm-adjusted
    found = {f.scope: f for f in evaluate([_four_fifths()], _facts([ref, rec]))}
    assert found["sex=B"].status == "fail"
    assert "one-sided p < 0.001; Holm-adjusted p < 0.001" in found["sex=B"].message


def test_json_written_before_the_new_fields_reads_back() -> None:
    data = make_result().to_dict()
    for m in data["metrics"]:
        for key in ("p_value_adjusted", "shortfall", "flip_test", "detail"):
            m.pop(key)
    data["attributions"].pop("gap_decomposition")
    data["attributions"].pop("proxy_ranking")
    data["schema_version"] = 1  # as such JSON was written (version 2 has every block)
    back = AuditResult.from_dict(data)
    assert all(m.p_value_adjusted is None and m.detail == {} for m in back.metrics)
    assert back.attributions.gap_decomposition == ()
    assert AuditResult.from_json(back.to_json()) == back
