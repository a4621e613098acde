"""The explanation-quality stage inside a real audit, its facts, rules and spec keys."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
import yaml

import auditor
from auditor.demo import DemoCase
from auditor.policy.schema import ExplanationQuality


def _spec(case: DemoCase, quality: dict[str, Any]) -> dict[str, Any]:
    spec = yaml.safe_load(case.spec_path.read_text())
    for part in ("model", "data"):
        spec[part]["path"] = str(case.spec_path.parent / spec[part]["path"])
    spec["explain"] = {"method": "integrated_gradients", "max_rows": 300, "steps": 32}
    spec["explain"]["quality"] = quality
    return spec


def _finding(result: auditor.AuditResult, rule: str) -> auditor.Finding:
    return next(f for f in result.findings if f.rule_id == rule)


def test_audit_records_quality_and_rules_read_its_facts(hiring_case: DemoCase) -> None:
    quality = {"rows": 40, "perturbations": 2, "stability_rows": 10, "methods": ["deeplift"]}
    result = auditor.run_audit(_spec(hiring_case, quality))
    block = result.explanation_quality
    assert block["computed"]
    assert block["primary"] == "integrated_gradients"
    assert [m["method"] for m in block["methods"]] == ["integrated_gradients", "deeplift"]
    assert block["settings"]["rows"] == 40
    assert "explanation quality" in result.run.timings
    ig = block["methods"][0]
    assert ig["completeness_max"] < 0.05  # 32 steps on a small ReLU network
    finding = _finding(result, "AAA-4-EXPLANATION-FIDELITY")
    gain = block["random_order"]["deletion_auc"] - ig["deletion_auc"]
    assert finding.observed == pytest.approx(gain)
    assert finding.status == ("pass" if gain >= 0.1 else "warn")


def test_turning_the_stage_off_leaves_rules_without_evidence(hiring_case: DemoCase) -> None:
    result = auditor.run_audit(_spec(hiring_case, {"enabled": False}))
    assert result.explanation_quality == {
        "computed": False,
        "reason": "the spec turned it off (explain.quality.enabled: false)",
    }
    assert _finding(result, "AAA-4-EXPLANATION-FIDELITY").status == "insufficient_evidence"


def test_spec_rejects_an_unknown_method_and_bad_sizes(hiring_case: DemoCase) -> None:
    with pytest.raises(auditor.AuditorError) as err:
        auditor.load_spec(_spec(hiring_case, {"methods": ["guesswork"], "rows": 0}))
    text = str(err.value) + " ".join(getattr(err.value, "problems", []))
    assert "explain.quality.methods" in text
    assert "explain.quality.rows" in text


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"fact": "explanation.stability.bogus", "max": 0.2}, "unknown fact"),
        ({"fact": "explanation.stability.reasons_changed_share"}, "needs a 'max' or a 'min'"),
        ({"max": 0.2}, "only together with 'fact'"),
    ],
)
def test_rule_schema_checks_explanation_facts(check: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        ExplanationQuality.model_validate({"type": "explanation_quality", **check})


def test_demo_specs_still_load(credit_case: DemoCase) -> None:
    spec = auditor.load_spec(credit_case.spec_path)
    assert spec.explain.quality.enabled
    assert spec.explain.quality.rows == 200
