"""Policy packs: strict loading, and the rule engine on hand-built facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.errors import PolicyLoadError
from auditor.metrics.disparities import shortfall_and_flip
from auditor.metrics.practical import adjust_holm
from auditor.metrics.stats import two_proportion_p
from auditor.policy import Facts, PolicyPack, available_packs, evaluate, load_packs
from auditor.policy.legal import BasisPeriod
from auditor.policy.verdict import VerdictRule
from auditor.result import AttributionSummary, Finding, MetricRecord

# --- loading ------------------------------------------------------------------------------


def test_every_shipped_pack_loads() -> None:
    ids = available_packs()
    assert {"aaa", "ecoa_reg_b", "eeoc_ugesp", "gdpr", "illinois", "nyc_ll144"} <= set(ids)
    packs = load_packs(ids)
    assert [p.meta.id for p in packs] == ids
    rule_ids = [r.id for p in packs for r in p.rules]
    assert len(rule_ids) == len(set(rule_ids))
    assert all(p.rules for p in packs)
    assert all(r.sources for p in packs for r in p.rules)
    aaa = next(p for p in packs if p.meta.id == "aaa")
    assert aaa.meta.advisory


def test_unknown_pack_lists_available() -> None:
    with pytest.raises(PolicyLoadError) as exc:
        load_packs(["eeoc_ugesp", "ccpa"])
    assert "Unknown policy pack(s): ccpa" in str(exc.value)
    assert "Available: aaa, adea, california, colorado, ecoa_reg_b, eeoc_ugesp" in str(exc.value)


PACK_META = {
    "id": "testpack",
    "title": "Test pack",
    "version": "1.0",
    "instrument": "Test Act",
    "jurisdiction": "XX",
    "description": "For tests.",
}


def rule_doc(rule_id: str = "TEST-RULE-1", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": rule_id,
        "title": "A test rule",
        "instrument": "Test Act",
        "citation": "Test Act s. 1",
        "jurisdiction": "XX",
        "domain": "both",
        "status": "binding",
        "effective_from": "2020-01-01",
        "kind": "metric",
        "basis": "convention",
        "severity": "high",
        "check": {"type": "ratio_threshold", "metric": "impact_ratio", "min": 0.8},
        "message": {"pass": "{group}: {observed}", "fail": "{group}: {observed} < {threshold}"},
        "sources": ["https://example.org"],
    }
    doc.update(changes)
    return doc


def write_pack(
    root: Path, rules: dict[str, dict[str, Any] | str], pack_id: str = "testpack"
) -> Path:
    folder = root / pack_id
    (folder / "rules").mkdir(parents=True)
    meta = {**PACK_META, "id": pack_id}
    (folder / "pack.yaml").write_text(yaml.safe_dump(meta), encoding="utf-8")
    for name, doc in rules.items():
        text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
        (folder / "rules" / name).write_text(text, encoding="utf-8")
    return folder


def load_error(root: Path, ids: list[str] | None = None) -> PolicyLoadError:
    with pytest.raises(PolicyLoadError) as exc:
        load_packs(ids or ["testpack"], root)
    return exc.value


def test_a_valid_custom_pack_loads(tmp_path: Path) -> None:
    write_pack(tmp_path, {"a.yaml": rule_doc()})
    (pack,) = load_packs(["testpack"], tmp_path)
    assert [r.id for r in pack.rules] == ["TEST-RULE-1"]
    assert pack.rules[0].effective_from == date(2020, 1, 1)


def test_unknown_key_in_a_rule(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, {"a.yaml": rule_doc(threshold=0.8)})
    err = load_error(tmp_path)
    (problem,) = err.problems
    assert problem.startswith(f"{folder / 'rules' / 'a.yaml'} (rule TEST-RULE-1): threshold:")
    assert "Extra inputs are not permitted" in problem


def test_unknown_key_inside_a_check(tmp_path: Path) -> None:
    check = {"type": "ratio_threshold", "metric": "impact_ratio", "min": 0.8, "maximum": 1}
    write_pack(tmp_path, {"a.yaml": rule_doc(check=check)})
    (problem,) = load_error(tmp_path).problems
    assert "(rule TEST-RULE-1): check.ratio_threshold.maximum:" in problem


def test_unknown_check_type(tmp_path: Path) -> None:
    write_pack(tmp_path, {"a.yaml": rule_doc(check={"type": "vibe_check"})})
    (problem,) = load_error(tmp_path).problems
    assert "a.yaml (rule TEST-RULE-1): check:" in problem
    assert "'vibe_check'" in problem


@pytest.mark.parametrize(
    "text",
    [
        "effective_from: 2024-02-30",
        "effective_from: '2024-02-30'",
        "effective_from: 2024-13-01",
        "effective_from: next week",
    ],
)
def test_bad_date(tmp_path: Path, text: str) -> None:
    doc = rule_doc()
    del doc["effective_from"]
    write_pack(tmp_path, {"a.yaml": yaml.safe_dump(doc) + text + "\n"})
    err = load_error(tmp_path)
    (problem,) = err.problems
    assert "a.yaml (rule TEST-RULE-1): effective_from:" in problem


def test_effective_until_before_effective_from(tmp_path: Path) -> None:
    write_pack(tmp_path, {"a.yaml": rule_doc(effective_until="2019-01-01")})
    (problem,) = load_error(tmp_path).problems
    assert problem.endswith("a.yaml (rule TEST-RULE-1): effective_until precedes effective_from")


def test_duplicate_rule_id_across_files(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, {"a.yaml": rule_doc("SAME-ID"), "b.yaml": rule_doc("SAME-ID")})
    (problem,) = load_error(tmp_path).problems
    assert problem == f"{folder / 'rules' / 'b.yaml'}: duplicate rule id SAME-ID"


def test_duplicate_rule_id_across_packs(tmp_path: Path) -> None:
    write_pack(tmp_path, {"a.yaml": rule_doc("SAME-ID")}, "first")
    second = write_pack(tmp_path, {"z.yaml": rule_doc("SAME-ID")}, "second")
    err = load_error(tmp_path, ["first", "second"])
    assert str(err) == f"{second}: rule id SAME-ID is also defined in {tmp_path / 'first'}."


def test_unknown_message_placeholder(tmp_path: Path) -> None:
    message = {"pass": "{group} ok", "fail": "{group} failed by {margin}"}
    write_pack(tmp_path, {"a.yaml": rule_doc(message=message)})
    (problem,) = load_error(tmp_path).problems
    assert "a.yaml (rule TEST-RULE-1): message.fail:" in problem
    assert "unknown placeholder {margin}" in problem


def test_every_problem_of_a_pack_is_listed(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        {
            "a.yaml": rule_doc("RULE-A", severity="extreme"),
            "b.yaml": rule_doc("RULE-B", domain="housing"),
        },
    )
    err = load_error(tmp_path)
    assert len(err.problems) == 2
    assert "(rule RULE-A): severity:" in err.problems[0]
    assert "(rule RULE-B): domain:" in err.problems[1]


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    bad = "id: TEST-RULE-1\ntitle: [unclosed\nseverity: high\n"
    folder = write_pack(tmp_path, {"a.yaml": bad})
    err = load_error(tmp_path)
    assert str(err).startswith(f"{folder / 'rules' / 'a.yaml'}: malformed YAML")
    assert "line 3" in str(err)


def test_pack_id_must_match_folder(tmp_path: Path) -> None:
    folder = write_pack(tmp_path, {"a.yaml": rule_doc()})
    (folder / "pack.yaml").write_text(yaml.safe_dump({**PACK_META, "id": "other"}))
    assert "id 'other' differs from folder 'testpack'" in str(load_error(tmp_path))


# --- the engine -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packs() -> dict[str, PolicyPack]:
    return {p.meta.id: p for p in load_packs(available_packs())}


def only(pack: PolicyPack, rule_id: str) -> PolicyPack:
    return PolicyPack(pack.meta, tuple(r for r in pack.rules if r.id == rule_id), pack.folder)


def as_binding(pack: PolicyPack) -> PolicyPack:
    """The pack's rules as binding law: a guidance rule (UGESP, issue 18) only flags, and
    these tests are about when its check fails."""
    bound = [BasisPeriod(status="binding")]
    rules = tuple(r.model_copy(update={"statutory_basis": bound}) for r in pack.rules)
    return PolicyPack(pack.meta, rules, pack.folder)


def ratio(group: str, value: float | None, p: float | None, *flags: str, n: int = 200) -> Any:
    return MetricRecord(
        "sex", group, "impact_ratio", value, n, p_value=p, reference="A", flags=flags
    )


def counted(counts: dict[str, tuple[int, int]], reference: str = "A") -> list[MetricRecord]:
    """selection_rate and impact_ratio records of 'sex' from (selected, n) per group,
    as the metrics engine writes them (two-sided test of equal rates, flags)."""
    xr, nr = counts[reference]
    out: list[MetricRecord] = []
    for g, (x, n) in counts.items():
        small = ("small_sample",) if n < 30 else ()
        out.append(MetricRecord("sex", g, "selection_rate", x / n, n, count=x, flags=small))
        if g == reference:
            out.append(ratio(g, 1.0, None, "reference", *small, n=n))
            continue
        p, _ = two_proportion_p(x, n, xr, nr)
        rec = ratio(g, (x / n) / (xr / nr), p, *small, n=n)
        _, flip = shortfall_and_flip(x, n, xr, nr)
        out.append(replace(rec, count=x, flip_test=flip))
    return out


FOUR_FIFTHS_METRICS = tuple(
    adjust_holm(
        [
            *counted(
                {
                    "A": (5000, 10000),  # the reference (highest rate)
                    "B": (150, 500),  # 0.60: below 0.8 with evidence
                    "C": (14, 40),  # 0.70: below 0.8, too few for evidence
                    "D": (3, 12),  # too small to judge
                    "E": (4750, 10000),  # 0.95: above 0.8 but significantly different
                    "F": (45, 100),  # 0.90: above 0.8, not significant
                }
            ),
            ratio("G", None, None),  # no ratio (as when the reference rate is 0)
        ]
    )
)


def facts(**changes: Any) -> Facts:
    base: dict[str, Any] = {
        "domain": "hiring",
        "audit_date": date(2026, 6, 1),
        "metrics": FOUR_FIFTHS_METRICS,
        "groups": (),
        "groupings": ("sex",),
        "intersections": (),
        "features": ("skills_test",),
        "attributions": AttributionSummary(computed=False, reason="not needed"),
        "min_group_size": 30,
        "evidence": {},
    }
    base.update(changes)
    return Facts(**base)


def by_scope(findings: list[Finding]) -> dict[str, Finding]:
    return {f.scope: f for f in findings}


FOUR_FIFTHS_STATUSES = {
    "sex=B": "fail",
    "sex=C": "warn",
    "sex=D": "insufficient_evidence",
    "sex=E": "warn",
    "sex=F": "pass",
    "sex=G": "insufficient_evidence",
}


def test_four_fifths_rule(packs: dict[str, PolicyPack]) -> None:
    rule = as_binding(only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS"))
    found = by_scope(evaluate([rule], facts()))
    assert "sex=A" not in found  # the reference group is not judged
    assert {s: f.status for s, f in found.items()} == FOUR_FIFTHS_STATUSES
    b = found["sex=B"]
    assert (b.rule_id, b.pack, b.severity) == ("EEOC-UGESP-4D-FOUR-FIFTHS", "eeoc_ugesp", "high")
    assert (b.observed, b.threshold) == (pytest.approx(0.60), 0.8)
    assert b.citation == "29 CFR 1607.4(D); 1607.16(R)"
    assert b.message.startswith("B: selection rate is 0.60 of the rate of A")
    # the deciding p: one-sided (ratio below 0.8), Holm-adjusted over the family
    assert "(one-sided p < 0.001; Holm-adjusted p < 0.001)" in b.message
    c = found["sex=C"].message
    assert "the evidence that the true ratio is below 0.80 is not conclusive" in c
    assert "over 4 comparisons" in c  # B, C, E, F: D is too small, G has no ratio
    assert "power to detect a true ratio of 0.60 with these group sizes is" in c
    assert "only 12 decisions, below the minimum group size (30)" in found["sex=D"].message
    assert "the rates differ significantly (two-sided" in found["sex=E"].message
    assert "reference group 'A' has no favourable outcomes" in found["sex=G"].message
    assert all("{" not in f.message for f in found.values())
    # as shipped, UGESP is guidance on the audit date: the same check flags, never fails
    shipped = evaluate([only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS")], facts())
    assert by_scope(shipped)["sex=B"].status == "warn"


def test_four_fifths_rule_before_december_2026(packs: dict[str, PolicyPack]) -> None:
    """verdict.rule raw_p keeps the old rule selectable: the raw two-sided p decides."""
    rule = as_binding(only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS"))
    found = by_scope(evaluate([rule], facts(verdict_rule=VerdictRule("raw_p"))))
    assert {s: f.status for s, f in found.items()} == FOUR_FIFTHS_STATUSES
    assert "(p < 0.001; Holm-adjusted < 0.001)" in found["sex=B"].message
    assert "not statistically significant (p = 0.058" in found["sex=C"].message
    assert "the difference is statistically significant" in found["sex=E"].message


def test_four_fifths_favoured_group_does_not_warn(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS")
    metrics = adjust_holm(counted({"A": (300, 1000), "B": (4000, 10000)}))
    for name in ("below_line_holm", "raw_p"):
        (b,) = evaluate([rule], facts(metrics=tuple(metrics), verdict_rule=VerdictRule(name)))
        assert (b.scope, b.status) == ("sex=B", "pass")  # ratio 1.33, p < 0.001


def test_four_fifths_value_printed_on_its_side_of_the_line(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS")
    # 0.7958: "0.80 ... below 0.80" would contradict itself
    metrics = adjust_holm(counted({"A": (5000, 10000), "B": (3979, 10000)}))
    (b,) = evaluate([rule], facts(metrics=tuple(metrics)))
    assert b.message.startswith("B: impact ratio 0.796 against A (screen 0.80)")


def test_four_fifths_without_metrics_is_insufficient_evidence(
    packs: dict[str, PolicyPack],
) -> None:
    rule = only(packs["eeoc_ugesp"], "EEOC-UGESP-4D-FOUR-FIFTHS")
    (finding,) = evaluate([rule], facts(metrics=()))
    assert finding.status == "insufficient_evidence"
    assert "no impact_ratio was computed" in finding.message


def test_rule_not_in_force_is_not_applicable(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["illinois"], "IL-HB3773-ZIP-PROXY")  # in force from 2026-01-01
    (before,) = evaluate([rule], facts(audit_date=date(2025, 12, 31), features=("zip_code",)))
    assert before.status == "not_applicable"
    assert "not in force on 2025-12-31 (from 2026-01-01)" in before.message
    after = evaluate([rule], facts(audit_date=date(2026, 1, 1), features=("zip_code",)))
    # without geography columns a ZIP-like name is a hint only (issue 18)
    assert [(f.scope, f.status) for f in after] == [
        ("feature=zip_code", "warn"),
        ("features", "insufficient_evidence"),
    ]


def test_wrong_domain_is_not_applicable(packs: dict[str, PolicyPack]) -> None:
    found = evaluate([packs["eeoc_ugesp"], packs["nyc_ll144"]], facts(domain="credit"))
    assert found
    assert {f.status for f in found} == {"not_applicable"}
    assert "the rule covers hiring decisions; this audit is credit" in found[0].message
    # a 'both' rule applies to either domain
    gdpr = only(packs["gdpr"], "GDPR-22-3-SAFEGUARDS")
    assert evaluate([gdpr], facts(domain="credit"))[0].status == "needs_attestation"


def test_advisory_pack_never_fails(packs: dict[str, PolicyPack]) -> None:
    aaa = packs["aaa"]
    found = evaluate([aaa], facts(domain="credit"))
    assert found
    assert "fail" not in {f.status for f in found}
    ratios = by_scope([f for f in found if f.rule_id == "AAA-4-DIFFERENTIAL-PERFORMANCE"])
    assert ratios["sex=B"].status == "warn"  # would be a fail in a binding pack
    assert ratios["sex=B"].rule_status == "proposed"
    # the same check in a binding pack does fail
    binding = PolicyPack(aaa.meta.model_copy(update={"advisory": False}), aaa.rules, aaa.folder)
    # the status the engine reads is the statutory-basis period of the audit date (issue 18)
    bound = [BasisPeriod(status="binding")]
    rules = [r.model_copy(update={"statutory_basis": bound}) for r in binding.rules]
    binding = PolicyPack(binding.meta, tuple(rules), binding.folder)
    assert "fail" in {f.status for f in evaluate([binding], facts())}


def disclosure_metrics(unknown_n: int = 20) -> tuple[MetricRecord, ...]:
    out: list[MetricRecord] = []
    for attr, groups in {
        "sex": ["Female", "Male"],
        "race_ethnicity": ["White", "Black or African American", "Asian"],
        "sex & race_ethnicity": ["Female & White", "Male & White"],
    }.items():
        for g in groups:
            out.append(MetricRecord(attr, g, "selection_rate", 0.3, 100, count=30))
            out.append(MetricRecord(attr, g, "impact_ratio", 1.0, 100, reference=groups[0]))
        out.append(
            MetricRecord(attr, "unknown", "selection_rate", 0.3, unknown_n, flags=("unknown",))
        )
    return tuple(out)


ALL_GROUPINGS = ("sex", "race_ethnicity", "sex & race_ethnicity")


def test_ll144_disclosure_fails_without_race_ethnicity(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["nyc_ll144"], "NYC-LL144-5-301-IMPACT-RATIO")
    found = by_scope(evaluate([rule], facts(metrics=disclosure_metrics(), groupings=("sex",))))
    assert found["race_ethnicity"].status == "fail"
    assert "no grouping carrying race/ethnicity" in found["race_ethnicity"].message
    assert found["sex & race_ethnicity"].status == "fail"
    assert found["sex"].status == "pass"


def test_ll144_disclosure_passes_and_reports_the_unknown_count(
    packs: dict[str, PolicyPack],
) -> None:
    rule = only(packs["nyc_ll144"], "NYC-LL144-5-301-IMPACT-RATIO")
    found = by_scope(
        evaluate(
            [rule],
            facts(
                metrics=disclosure_metrics(unknown_n=37),
                groupings=ALL_GROUPINGS,
                intersections=("sex & race_ethnicity",),
            ),
        )
    )
    assert {f.status for f in found.values()} == {"pass"}
    race = found["race_ethnicity"]
    assert "3 categories" in race.message
    assert "37 individuals in the unknown category (excluded from ratios)" in race.message
    assert "computed for 337 individuals" in race.message
    assert "it sets no threshold" in race.message


def test_ll144_disclosure_fails_when_a_group_has_no_ratio(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["nyc_ll144"], "NYC-LL144-5-301-IMPACT-RATIO")
    metrics = tuple(
        m for m in disclosure_metrics() if not (m.group == "Asian" and m.metric == "impact_ratio")
    )
    found = by_scope(evaluate([rule], facts(metrics=metrics, groupings=ALL_GROUPINGS)))
    assert found["race_ethnicity"].status == "fail"
    assert "no impact ratio for Asian" in found["race_ethnicity"].message


def test_attestation_needed_or_given(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["nyc_ll144"], "NYC-LL144-5-300-INDEPENDENT-AUDITOR")
    (missing,) = evaluate([rule], facts())
    assert missing.status == "needs_attestation"
    assert "set evidence.independent_auditor in the spec" in missing.message
    (given,) = evaluate([rule], facts(evidence={"independent_auditor": "Audit & Co, 2026"}))
    assert given.status == "pass"
    assert given.message == "Independent auditor attested: Audit & Co, 2026."


def test_dated_attestation(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["gdpr"], "GDPR-35-DPIA")  # at most 1095 days old
    audit = date(2026, 6, 1)

    def status(value: object) -> Finding:
        (finding,) = evaluate([rule], facts(audit_date=audit, evidence={"dpia_date": value}))
        return finding

    assert status(None).status == "needs_attestation"
    recent = status((audit - timedelta(days=100)).isoformat())
    assert recent.status == "pass"
    assert recent.observed == "100 days"
    assert status(audit - timedelta(days=1095)).status == "pass"
    old = status(audit - timedelta(days=1096))
    assert old.status == "fail"
    assert old.message.startswith("The DPIA is 1096 days old")
    assert status(datetime(2026, 5, 1, 9, 30)).status == "pass"  # a timestamp counts by date
    bad = status("last spring")
    assert bad.status == "needs_attestation"
    assert "evidence.dpia_date must be a date (YYYY-MM-DD)" in bad.message


def test_proxy_scan_by_name(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["illinois"], "IL-HB3773-ZIP-PROXY")
    found = evaluate([rule], facts(features=("skills_test", "Area_Code", "zip3")))
    # names are hints (issue 18): they warn until association with geography is measured
    assert [(f.scope, f.status) for f in found] == [
        ("feature=Area_Code", "warn"),
        ("feature=zip3", "warn"),
        ("features", "insufficient_evidence"),
    ]
    assert all(f.threshold == 0.5 for f in found)  # a number, never a regex pattern
    (clean,) = evaluate([rule], facts(features=("skills_test", "interview_score")))
    assert clean.status == "insufficient_evidence"


def test_condition_findings_show_the_threshold_their_branch_tested(
    packs: dict[str, PolicyPack],
) -> None:
    """FL-DI-SMD fails at -0.30 and warns at -0.20: each finding shows its own line."""
    rule = only(packs["ecoa_reg_b"], "FL-DI-SMD")
    metrics = (
        MetricRecord(
            "sex", "a", "smd", -0.45, 300, p_value=1e-4, p_value_adjusted=3e-4, reference="m"
        ),
        MetricRecord(
            "sex", "b", "smd", -0.25, 300, p_value=0.01, p_value_adjusted=0.02, reference="m"
        ),
        MetricRecord(
            "sex", "c", "smd", 0.66, 300, p_value=1e-4, p_value_adjusted=3e-4, reference="m"
        ),
    )
    found = by_scope(evaluate([rule], facts(domain="credit", metrics=metrics)))
    a, b, c = found["sex=a"], found["sex=b"], found["sex=c"]
    assert (a.status, a.threshold) == ("fail", -0.3)
    assert "at or below -0.30" in a.message
    assert "Holm-adjusted < 0.001" in a.message  # the deciding p is shown
    assert (b.status, b.threshold) == ("warn", -0.2)
    assert "-0.20 review trigger" in b.message
    assert c.status == "pass"
    assert "within the 0.20" not in c.message  # a favourable SMD of 0.66 is not "within"


def test_condition_values_printed_on_their_side_of_the_line(packs: dict[str, PolicyPack]) -> None:
    rule = only(packs["illinois"], "IL-HB3773-EFFECT")
    metrics = adjust_holm(counted({"A": (5000, 10000), "B": (3979, 10000)}))
    (b,) = evaluate([rule], facts(metrics=tuple(metrics), audit_date=date(2026, 6, 1)))
    # 0.7958 over 10,000 each is no evidence that the true ratio is below 0.8
    assert b.status == "pass"
    assert "(ratio 0.796, p = " in b.message
    assert "one-sided, Holm-adjusted" in b.message
