"""Every shipped rule's fixtures, the policies CLI, and organisation pack folders."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import auditor
from auditor._resources import policies_dir
from auditor.cli import app
from auditor.errors import PolicyLoadError
from auditor.policy import available_packs, load_pack, load_packs
from auditor.policy.fixtures import run_fixtures
from auditor.policy.legal import INACTIVE_STATUSES
from tests._paths import REPO

runner = CliRunner()
PACKS = available_packs()


@functools.cache
def _fixtures_run(pack_id: str) -> tuple[Any, list[Any]]:
    """A shipped pack and its fixtures' results, run once for the two tests below."""
    pack = load_pack(policies_dir() / pack_id)
    return pack, run_fixtures(pack)


@pytest.mark.parametrize("pack_id", PACKS)
def test_every_rule_has_passing_fixtures(pack_id: str) -> None:
    pack, results = _fixtures_run(pack_id)
    assert {r.rule_id for r in results} == {r.id for r in pack.rules}
    failed = [(r.case, sorted(r.expected), sorted(r.got)) for r in results if not r.ok]
    assert not failed
    statuses = {s for r in results for _, s in r.expected}
    assert len(statuses) >= 2, f"{pack_id}: fixtures should cover more than one outcome"


def _never_in_force(rule: Any) -> bool:
    """Every period of the rule's legal basis is inactive (e.g. repealed before it took
    effect): the rule can only ever be not applicable, and its fixtures show that."""
    periods = rule.statutory_basis or []
    return bool(periods) and all(p.status in INACTIVE_STATUSES for p in periods)


@pytest.mark.parametrize("pack_id", PACKS)
def test_every_rule_reaches_at_least_two_outcomes(pack_id: str) -> None:
    # per rule, not per pack: a rule whose fixtures only ever pass (or only ever fail)
    # does not show that its check can tell the two apart
    pack, results = _fixtures_run(pack_id)
    reached: dict[str, set[str]] = {r.id: set() for r in pack.rules}
    for result in results:
        reached[result.rule_id] |= {status for _, status in result.got}
    for rule in pack.rules:
        if _never_in_force(rule):
            assert reached[rule.id] == {"not_applicable"}, rule.id
        else:
            assert len(reached[rule.id]) >= 2, f"{rule.id}: only {sorted(reached[rule.id])}"


def _copy_pack(tmp_path: Path, pack_id: str) -> Path:
    dest = tmp_path / "packs" / pack_id
    shutil.copytree(policies_dir() / pack_id, dest)
    return dest


def test_a_wrong_expectation_fails_validation(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path, "eeoc_ugesp")
    fixture = pack / "fixtures" / "EEOC-UGESP-4D-FOUR-FIFTHS.yaml"
    fixture.write_text(fixture.read_text().replace("status: warn}", "status: pass}", 1))
    res = runner.invoke(app, ["policies", "validate", str(pack)])
    assert res.exit_code == 2
    assert "fixture failed" in res.output
    assert "EEOC-UGESP-4D-FOUR-FIFTHS.yaml" in res.output


def test_a_rule_without_fixtures_is_an_error(tmp_path: Path) -> None:
    pack = _copy_pack(tmp_path, "gdpr")
    (pack / "fixtures" / "GDPR-35-DPIA.yaml").unlink()
    with pytest.raises(PolicyLoadError, match="GDPR-35-DPIA"):
        run_fixtures(load_pack(pack))
    res = runner.invoke(app, ["policies", "validate", str(pack)])
    assert res.exit_code == 2
    assert "without fixtures" in res.output


def test_show_prints_citation_status_and_basis() -> None:
    res = runner.invoke(app, ["policies", "show", "nyc-ll144-5-301-impact-ratio"])
    assert res.exit_code == 0, res.output
    # the rule's start is the DCWP rules' effective date; 2023-07-05 is DCWP's enforcement
    for text in ("6 RCNY 5-301", "binding, from 2023-05-06", "enforced (DCWP)", "no threshold"):
        assert text in res.output
    missing = runner.invoke(app, ["policies", "show", "NO-SUCH-RULE"])
    assert missing.exit_code == 2
    assert "no rule 'NO-SUCH-RULE'" in missing.output


def test_list_filters_by_domain_and_jurisdiction() -> None:
    credit = runner.invoke(app, ["policies", "list", "--domain", "credit"]).output
    assert "FL-DI-AIR" in credit
    assert "EEOC-UGESP-4D-FOUR-FIFTHS" not in credit
    eu = runner.invoke(app, ["policies", "list", "--jurisdiction", "EU"]).output
    assert "GDPR-35-DPIA" in eu
    assert "FL-DI-AIR" not in eu


def _org_pack(root: Path, pack_id: str = "acme", *, fixtures: bool = True) -> Path:
    folder = root / pack_id
    (folder / "rules").mkdir(parents=True)
    (folder / "pack.yaml").write_text(
        yaml.safe_dump(
            {
                "id": pack_id,
                "title": "ACME internal standard",
                "version": "1.0",
                "instrument": "ACME model-risk policy MRP-7",
                "jurisdiction": "ACME",
                "description": "Internal screens.",
            }
        )
    )
    rule = yaml.safe_load(
        (policies_dir() / "eeoc_ugesp/rules/EEOC-UGESP-4D-FOUR-FIFTHS.yaml").read_text()
    )
    rule.pop("statutory_basis", None)  # the organisation's rule dates itself the old way
    rule.update(
        id="ACME-IR-090",
        title="Impact ratio at least 0.9",
        domain="both",
        citation="MRP-7 §3",
        instrument="ACME MRP-7",
        jurisdiction="ACME",
        # shipped rules write their dating as statutory_basis periods (issue 18)
        statutory_basis=[{"status": "binding", "from": "2020-01-01"}],
        sources=["MRP-7"],
    )
    rule.pop("enforcement", None)
    rule["check"]["min"] = 0.9
    (folder / "rules" / "ACME-IR-090.yaml").write_text(yaml.safe_dump(rule))
    if fixtures:  # an audit refuses an organisation's rule without passing fixtures
        metric = {"attribute": "sex", "group": "F", "metric": "impact_ratio", "value": 0.95}
        metric.update(n=400, count=190, p_value=0.4, reference="M")
        case = {
            "name": "0.95 passes",
            "facts": {"domain": "hiring", "metrics": [metric]},
            "expect": [{"scope": "sex=F", "status": "pass"}],
        }
        (folder / "fixtures").mkdir()
        (folder / "fixtures" / "ACME-IR-090.yaml").write_text(
            yaml.safe_dump({"rule": "ACME-IR-090", "cases": [case]})
        )
    return root


def test_spec_policy_paths_add_an_organisation_pack(tmp_path: Path) -> None:
    root = _org_pack(tmp_path / "org")
    spec = {
        "name": "org-pack",
        "domain": "hiring",
        "data": {"path": str(REPO / "sample_data" / "hiring.csv")},
        "columns": {"id": "applicant_id", "decision": "hired"},
        "protected": ["sex"],
        "policies": ["acme"],
        "policy_paths": [str(root)],
    }
    result = auditor.run_audit(spec)
    assert {f.rule_id for f in result.findings} == {"ACME-IR-090"}
    assert result.provenance.policy_packs == {"acme": "1.0"}
    without = {k: v for k, v in spec.items() if k != "policy_paths"}
    with pytest.raises(auditor.AuditorError, match="unknown policy pack 'acme'"):
        auditor.load_spec(without)


def test_an_audit_refuses_an_organisation_rule_without_fixtures(tmp_path: Path) -> None:
    # as 'auditor policies validate' does (issue 16): custom packs are as strict as shipped
    root = _org_pack(tmp_path / "org", fixtures=False)
    spec = {
        "name": "org-pack",
        "domain": "hiring",
        "data": {"path": str(REPO / "sample_data" / "hiring.csv")},
        "columns": {"id": "applicant_id", "decision": "hired"},
        "protected": ["sex"],
        "policies": ["acme"],
        "policy_paths": [str(root)],
    }
    with pytest.raises(PolicyLoadError, match="rule\\(s\\) without fixtures: ACME-IR-090"):
        auditor.run_audit(spec)


def test_an_organisation_pack_cannot_reuse_a_shipped_id(tmp_path: Path) -> None:
    root = _org_pack(tmp_path / "org", pack_id="gdpr")
    with pytest.raises(PolicyLoadError, match="already provided"):
        load_packs(["gdpr"], extra=[root])


def test_shipped_json_schema_is_current() -> None:
    import json

    from auditor.policy.schema import rule_json_schema

    shipped = json.loads((policies_dir() / "rule.schema.json").read_text())
    assert shipped == json.loads(json.dumps(rule_json_schema())), (
        "regenerate policies/rule.schema.json (see docs/guides/model-risk.md, Policy packs)"
    )


ALL_RULES = [(p.meta.id, r) for p in load_packs(PACKS) for r in p.rules]


@pytest.mark.parametrize(("pack_id", "rule"), ALL_RULES, ids=[r.id for _, r in ALL_RULES])
def test_show_prints_every_rule_with_citation_and_status(pack_id: str, rule: Any) -> None:
    res = runner.invoke(app, ["policies", "show", rule.id])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert text.startswith(f"{rule.id}: ")
    assert f"citation {' '.join(rule.citation.split())}" in text
    assert f"status {rule.status}" in text
    assert f"pack {pack_id} " in text


def test_the_issue_packs_are_shipped() -> None:
    assert {
        "aaa",
        "colorado",
        "ecoa_reg_b",
        "eeoc_ugesp",
        "eu_ai_act",
        "eu_ccd2",
        "fcra",
        "gdpr",
        "illinois",
        "nyc_ll144",
    } <= set(PACKS)
    ids = {r.id for _, r in ALL_RULES}
    assert {"GDPR-22-SCOPE", "AIA-27-FRIA", "CCD2-18-DATA", "CO-SB26-189-NOTICE"} <= ids
