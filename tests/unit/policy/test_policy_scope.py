"""Issue 18: territory, subjects, legal categories as roles, dated statutory basis."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.errors import SpecError
from auditor.policy import Facts, available_packs, evaluate, load_pack, load_packs
from auditor.policy.legal import reaches, territory_of
from auditor.policy.roles import category_from_name, find_grouping, grouping_categories
from auditor.report.ll144 import category_of
from auditor.result import AttributionSummary, MetricRecord, ProxyScore
from auditor.spec import load_spec


def facts(**kw: Any) -> Facts:
    base: dict[str, Any] = {
        "domain": "hiring",
        "audit_date": date(2026, 12, 6),
        "metrics": (),
        "groups": (),
        "groupings": (),
        "intersections": (),
        "features": (),
        "attributions": AttributionSummary(computed=False),
        "min_group_size": 30,
    }
    return Facts(**{**base, **kw})


@pytest.mark.parametrize(
    ("territory", "jurisdictions", "hit"),
    [
        (["US"], ["US-NY"], True),
        (["US-NY"], ["US"], True),
        (["US-NY"], ["US-CA"], False),
        (["EU"], ["US-NY"], False),
        (["EU"], ["DE"], True),
        (["EU"], ["GB"], False),
        (["GB"], ["GB"], True),
    ],
)
def test_territory_reach(territory: list[str], jurisdictions: list[str], hit: bool) -> None:
    assert reaches(territory, jurisdictions) is hit


def test_legacy_jurisdiction_labels_give_iso_territory() -> None:
    assert territory_of("US-NY-NYC") == ["US-NY"]
    assert territory_of("EU") == ["EU"]
    assert territory_of("ACME") == []


def test_a_new_york_hiring_audit_gets_one_not_applicable_per_eu_pack() -> None:
    packs = load_packs(["gdpr", "eu_ai_act", "nyc_ll144"])
    found = evaluate(packs, facts(jurisdictions=("US-NY",)))
    eu = [f for f in found if f.pack in ("gdpr", "eu_ai_act")]
    assert [(f.pack, f.status, f.scope) for f in eu] == [
        ("gdpr", "not_applicable", "territory"),
        ("eu_ai_act", "not_applicable", "territory"),
    ]
    assert "covers EU" in eu[0].message
    assert "US-NY" in eu[0].message
    # the NYC pack still runs
    assert any(f.pack == "nyc_ll144" and f.status != "not_applicable" for f in found)


def test_without_jurisdictions_every_pack_applies_as_before() -> None:
    found = evaluate(load_packs(["gdpr"]), facts())
    assert {f.scope for f in found} != {"territory"}
    assert len(found) > 1


def test_gdpr_22_4_never_passes_on_sex_and_age() -> None:
    (pack,) = load_packs(["gdpr"])
    proxies = (
        ProxyScore("income", "sex", "correlation_ratio", 0.05),
        ProxyScore("income", "age", "correlation_ratio", 0.02),
    )
    found = evaluate(
        [pack],
        facts(
            domain="credit",
            groupings=("sex", "age"),
            attributions=AttributionSummary(computed=False, proxies=proxies),
        ),
    )
    rule = [f for f in found if f.rule_id == "GDPR-22-4-NO-SPECIAL-CATEGORY-INPUTS"]
    assert [f.status for f in rule] == ["insufficient_evidence"]
    assert "no protected attribute" in rule[0].message


def _ratio_metrics(sex: str, race: str) -> tuple[MetricRecord, ...]:
    out = []
    inter = f"{sex} & {race}"
    for attr, groups in ((sex, ["F", "M"]), (race, ["A", "B"]), (inter, ["F, A", "M, B"])):
        for g in groups:
            for metric in ("selection_rate", "impact_ratio"):
                out.append(MetricRecord(attribute=attr, group=g, metric=metric, value=0.5, n=100))
    return tuple(out)


@pytest.mark.parametrize(
    ("protected", "intersection"),
    [
        (["sex", "race_ethnicity"], ["sex", "race_ethnicity"]),
        (["sex", "race_ethnicity"], ["race_ethnicity", "sex"]),
        (
            [
                {"column": "gender", "category": "sex"},
                {"column": "eth", "category": "race_ethnicity"},
            ],
            ["eth", "gender"],
        ),
    ],
)
def test_ll144_table_reads_roles_not_names(protected: list[Any], intersection: list[str]) -> None:
    spec = load_spec(
        {
            "name": "x",
            "domain": "hiring",
            "data": {"path": "d.csv"},
            "columns": {"id": "id", "decision": "hired"},
            "protected": protected,
            "intersections": [intersection],
        }
    )
    cols = spec.protected
    metrics = _ratio_metrics(cols[0], cols[1])
    inter = " & ".join(intersection)
    metrics = tuple(
        m if " & " not in m.attribute else MetricRecord(**{**m.__dict__, "attribute": inter})
        for m in metrics
    )
    found = evaluate(
        load_packs(["nyc_ll144"]),
        facts(
            metrics=metrics,
            groupings=(*cols, inter),
            intersections=(inter,),
            categories=spec.categories(),
        ),
    )
    table = {f.scope: f.status for f in found if f.rule_id == "NYC-LL144-5-301-IMPACT-RATIO"}
    assert table == {"sex": "pass", "race_ethnicity": "pass", "sex & race_ethnicity": "pass"}
    assert category_of(inter, spec.categories()) == "intersection"


def test_names_imply_categories_only_as_whole_words() -> None:
    assert category_from_name("gender") == "sex"
    assert category_from_name("race") == "race_ethnicity"
    assert category_from_name("trace_id") is None
    assert category_from_name("page_count") is None
    cats = grouping_categories(["sex", "age_band"], [["sex", "age_band"]], {})
    assert find_grouping("sex & race_ethnicity", cats) is None
    assert category_of("sex & age_band", cats) == "other"


def test_spec_value_maps_and_bad_entries(tmp_path: Path) -> None:
    spec = load_spec(
        {
            "name": "x",
            "domain": "hiring",
            "data": {"path": "d.csv"},
            "columns": {"id": "id", "decision": "hired"},
            "protected": [{"column": "g", "category": "sex", "values": {"M": "Male"}}],
            "jurisdictions": ["US-NY"],
        }
    )
    assert spec.protected_roles["g"].values == {"M": "Male"}
    assert load_spec(spec.as_dict()).digest() == spec.digest()
    with pytest.raises(SpecError, match="jurisdictions"):
        load_spec({**spec.as_dict(), "jurisdictions": ["New York"]})
    with pytest.raises(SpecError, match="category"):
        load_spec({**spec.as_dict(), "protected": [{"column": "g", "category": "gender-ish"}]})


def _legacy_pack(tmp_path: Path) -> Path:
    folder = tmp_path / "legacy"
    (folder / "rules").mkdir(parents=True)
    (folder / "pack.yaml").write_text(
        "id: legacy\ntitle: T\nversion: '1'\ninstrument: I\njurisdiction: US\ndescription: d\n"
    )
    rule = {
        "id": "OLD-1",
        "title": "t",
        "instrument": "i",
        "citation": "c",
        "jurisdiction": "US",
        "domain": "both",
        "status": "binding",
        "effective_from": "2020-01-01",
        "kind": "document",
        "basis": "law",
        "severity": "low",
        "check": {"type": "attestation", "evidence": "doc"},
        "message": {"pass": "ok", "fail": "no"},
        "sources": ["s"],
    }
    (folder / "rules" / "OLD-1.yaml").write_text(yaml.safe_dump(rule))
    return folder


def test_an_older_rule_file_loads_with_deprecations(tmp_path: Path) -> None:
    pack = load_pack(_legacy_pack(tmp_path))
    (rule,) = pack.rules
    assert rule.status_on(date(2019, 1, 1)) == "not in force"
    assert rule.status_on(date(2026, 1, 1)) == "binding"
    assert any("statutory_basis" in d for d in pack.deprecations)
    assert any("unverified" in d for d in pack.deprecations)
    (f,) = evaluate([pack], facts(evidence={"doc": "yes"}))
    assert (f.status, f.verification) == ("pass", "unverified")


def test_shipped_rules_are_written_the_new_way() -> None:
    for pack in load_packs(available_packs()):
        assert not pack.deprecations, pack.deprecations[:1]


def test_the_report_marks_each_citation_verified_or_unverified() -> None:
    import dataclasses

    from auditor.report import render_html
    from tests.factories import make_result

    result = make_result()
    base = result.findings[0]
    checked = dataclasses.replace(
        base,
        rule_id="UK-22B-SPECIAL-CATEGORY",
        verification="verified",
        verified_source="legislation.gov.uk (checked 2026-12-06)",
    )
    unchecked = dataclasses.replace(base, rule_id="NJ-13-16-LDA-RECORD", verification="unverified")
    html = render_html(dataclasses.replace(result, findings=(checked, unchecked)))
    assert "✓ verified" in html
    assert '<span class="unverified"' in html


def test_validate_names_deprecated_fields_but_passes(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    folder = _legacy_pack(tmp_path)
    (folder / "fixtures").mkdir()
    (folder / "fixtures" / "OLD-1.yaml").write_text(
        yaml.safe_dump(
            {
                "rule": "OLD-1",
                "cases": [
                    {
                        "name": "attested",
                        "facts": {"domain": "credit", "evidence": {"doc": "x"}},
                        "expect": [{"scope": "doc", "status": "pass"}],
                    }
                ],
            }
        )
    )
    res = CliRunner().invoke(app, ["policies", "validate", str(folder)])
    assert res.exit_code == 0, res.output
    assert "deprecated:" in res.output
    assert "statutory_basis" in res.output
