"""Issue 18: the law as of the audit date. Each dated change flips findings on its day,
`auditor policies diff` lists it, and whole audits honour jurisdictions and roles."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from auditor.policy import Facts, available_packs, evaluate, load_packs
from auditor.policy.diff import status_changes
from auditor.result import AttributionSummary, MetricRecord

runner = CliRunner()
PACKS = load_packs(available_packs())
RULES = {r.id: (p, r) for p in PACKS for r in p.rules}
# every day on which some shipped rule's statutory status changes
CHANGES = sorted(
    {
        (rule_id, day)
        for rule_id, (_, rule) in RULES.items()
        for day in rule.change_days()
        if rule.status_on(day) != rule.status_on(day - timedelta(days=1))
    }
)


def _facts(domain: str, day: date) -> Facts:
    """Facts that give every check type something to judge (a ratio far below 0.8)."""
    metrics = []
    for metric in ("impact_ratio", "adverse_impact_ratio", "smd", "selection_rate"):
        value = -0.6 if metric == "smd" else 0.5
        metrics.append(
            MetricRecord(
                "race", "B", metric, value, 400, 100, p_value=1e-6, p_value_adjusted=4e-6,
                reference="A",
            )
        )
        # the reference group's own record: the verdict rule reads both groups' counts
        ref = {"smd": 0.0, "selection_rate": 0.5}.get(metric, 1.0)
        metrics.append(
            MetricRecord("race", "A", metric, ref, 400, 200, reference="A", flags=("reference",))
        )
    return Facts(
        domain=domain,
        audit_date=day,
        metrics=tuple(metrics),
        groups=(),
        groupings=("race",),
        intersections=(),
        features=("income",),
        attributions=AttributionSummary(computed=False),
        min_group_size=30,
    )


def _statuses(rule_id: str, day: date) -> set[tuple[str, str]]:
    pack, rule = RULES[rule_id]
    domain = "credit" if rule.domain in ("credit", "both") else "hiring"
    one = type(pack)(pack.meta, (rule,), pack.folder)
    return {(f.status, f.rule_status) for f in evaluate([one], _facts(domain, day))}


@pytest.mark.parametrize(("rule_id", "day"), CHANGES, ids=[f"{r}@{d}" for r, d in CHANGES])
def test_findings_flip_on_the_day_of_each_dated_change(rule_id: str, day: date) -> None:
    before = _statuses(rule_id, day - timedelta(days=1))
    after = _statuses(rule_id, day)
    assert before != after, f"{rule_id}: findings identical on both sides of {day}"
    assert {s for _, s in after} == {RULES[rule_id][1].status_on(day)}
    listed = status_changes(PACKS, day - timedelta(days=1), day)
    assert rule_id in {c.rule_id for c in listed}


def test_the_dated_changes_include_the_2026_law() -> None:
    days = {(r, d.isoformat()) for r, d in CHANGES}
    assert ("FL-DI-AIR", "2026-07-21") in days
    assert ("FL-DI-SMD", "2026-07-21") in days
    assert ("CCD2-18-DATA", "2026-11-20") in days
    assert ("UK-22B-SPECIAL-CATEGORY", "2026-02-05") in days
    assert ("MRM-SR11-7-VALIDATION", "2026-04-17") in days
    assert ("CA-CCPA-ADMT-NOTICE", "2027-01-01") in days


def test_reg_b_effects_test_is_never_binding_federal_law_on_2026_12_06() -> None:
    found = evaluate(load_packs(["ecoa_reg_b"]), _facts("credit", date(2026, 12, 6)))
    for f in found:
        if "1002.6(a)" in f.citation and "effects test" in f.citation:
            assert f.rule_status != "binding", f
    air = [f for f in found if f.rule_id == "FL-DI-AIR"]
    assert {(f.status, f.rule_status) for f in air} == {("warn", "guidance")}
    assert "not federal ECOA law" in air[0].citation
    assert air[0].enforcement == "deprioritised (CFPB)"
    before = evaluate(load_packs(["ecoa_reg_b"]), _facts("credit", date(2026, 7, 20)))
    assert {f.status for f in before if f.rule_id == "FL-DI-AIR"} == {"fail"}


def test_every_shipped_rule_says_verified_or_not() -> None:
    found = evaluate(PACKS, _facts("credit", date(2026, 12, 6)))
    assert {f.verification for f in found if f.scope != "territory"} <= {"verified", "unverified"}
    verified = {r.id for _, r in RULES.values() if r.verified}
    assert {"UK-22B-SPECIAL-CATEGORY", "TX-TRAIGA-INTENT-RECORD"} <= verified


def test_policies_diff_cli_lists_the_reg_b_change(tmp_path: Path) -> None:
    res = runner.invoke(app, ["policies", "diff", "--from", "2026-07-20", "--to", "2026-07-21"])
    assert res.exit_code == 0, res.output
    assert "FL-DI-AIR (ecoa_reg_b): binding -> guidance" in res.output
    assert "CCD2-18-DATA" not in res.output  # that change is later
    res = runner.invoke(
        app, ["policies", "diff", "--from", "2026-01-01", "--to", "2026-12-06", "--json"]
    )
    data = json.loads(res.output)
    changed = {r["rule_id"] for r in data["rules"]}
    assert {"FL-DI-AIR", "UK-22B-SPECIAL-CATEGORY", "CCD2-18-DATA"} <= changed
    assert any(e["pack"] == "illinois" and e["day"] == "2026-06-02" for e in data["changelog"])
    bad = runner.invoke(app, ["policies", "diff", "--from", "2026-13-01", "--to", "2026-12-06"])
    assert bad.exit_code == 2
    assert "--from" in bad.output
    backwards = runner.invoke(
        app, ["policies", "diff", "--from", "2026-12-06", "--to", "2026-01-01"]
    )
    assert backwards.exit_code == 2


def _hiring_audit(tmp_path: Path, **extra: Any) -> auditor.AuditResult:
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "id": [f"a{i}" for i in range(n)],
            "gender": rng.choice(["M", "F"], n),
            "race": rng.choice(["White", "Black", "Asian"], n),
            "age": rng.choice(["under 40", "40 and over"], n),
            "zip": rng.choice(["60601", "60602", "60603"], n),
            "hired": rng.integers(0, 2, n),
            "skills": rng.normal(size=n),
        }
    )
    frame["branch"] = frame["zip"].map({"60601": 1.0, "60602": 2.0, "60603": 3.0})
    frame.to_csv(tmp_path / "d.csv", index=False)
    spec = {
        "name": "law-hiring",
        "domain": "hiring",
        "data": {"path": str(tmp_path / "d.csv")},
        "columns": {"id": "id", "decision": "hired", "features": ["skills", "branch"]},
        "protected": [
            {"column": "gender", "category": "sex", "values": {"M": "Male", "F": "Female"}},
            "race",
            {"column": "age", "category": "age"},
        ],
        "intersections": [["race", "gender"]],
        "policies": ["eeoc_ugesp", "nyc_ll144", "illinois", "gdpr", "eu_ai_act", "adea"],
        "audit_date": "2026-12-06",
        "explain": {"method": "none", "quality": {"enabled": False}},
        **extra,
    }
    return auditor.run_audit(spec)


def test_a_new_york_hiring_audit_reads_roles_and_territory(tmp_path: Path) -> None:
    result = _hiring_audit(tmp_path, jurisdictions=["US-NY", "US-IL"], geography=["zip"])
    eu = [f for f in result.findings if f.pack in ("gdpr", "eu_ai_act")]
    assert [(f.pack, f.status) for f in eu] == [
        ("gdpr", "not_applicable"),
        ("eu_ai_act", "not_applicable"),
    ]
    ugesp = [f for f in result.findings if f.rule_id == "EEOC-UGESP-4D-FOUR-FIFTHS"]
    assert ugesp
    assert not [f for f in ugesp if f.scope.startswith("age")]
    table = {
        f.scope: f.status for f in result.findings if f.rule_id == "NYC-LL144-5-301-IMPACT-RATIO"
    }
    assert table == {"sex": "pass", "race_ethnicity": "pass", "sex & race_ethnicity": "pass"}
    adea = [f for f in result.findings if f.rule_id == "ADEA-40-PLUS-IMPACT"]
    assert adea
    # the ADEA grouping: 40 and over against under 40 (a named control group, not judged)
    assert [f.scope for f in adea] == ["age (ADEA)=40 and over"]
    zip_rule = [f for f in result.findings if f.rule_id == "IL-HB3773-ZIP-PROXY"]
    assert [(f.scope, f.status) for f in zip_rule] == [("feature=branch", "fail")]
    assert {g.group for g in result.dataset.groups if g.attribute == "gender"} >= {"Male", "Female"}
    assert not any("jurisdictions: not given" in w for w in result.warnings)


def test_without_jurisdictions_every_pack_runs_and_the_audit_warns(tmp_path: Path) -> None:
    result = _hiring_audit(tmp_path)
    assert any("jurisdictions: not given" in w for w in result.warnings)
    assert any(f.pack == "gdpr" and f.status != "not_applicable" for f in result.findings)
