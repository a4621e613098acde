"""The result's typed explanation-quality block, schema version 2 and the reader of v1."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
import torch

from auditor.explain.quality import QualitySettings, assess, quality_facts
from auditor.models import wrap_model
from auditor.models.mlp import TabularMLP
from auditor.quality_block import ExplanationQuality
from auditor.result import SCHEMA_VERSION, AuditResult, audit_result_schema
from tests._paths import REPO
from tests.factories import make_result


@pytest.fixture(scope="module")
def block() -> dict[str, Any]:
    """A real block: two gradient methods measured on a small network."""
    torch.manual_seed(0)
    model = wrap_model(TabularMLP(3, hidden=(6,)), ["income", "debt", "age"])
    x = np.random.default_rng(0).normal(size=(120, 3))
    settings = QualitySettings(rows=30, draws=2, stability_rows=8, background=20, seed=1)
    return assess(model, x, settings, primary="deeplift")


def _result(block: dict[str, Any]) -> AuditResult:
    return AuditResult.from_dict({**make_result().to_dict(), "explanation_quality": block})


def test_block_is_typed_and_its_json_unchanged(block: dict[str, Any]) -> None:
    result = _result(block)
    quality = result.explanation_quality
    assert isinstance(quality, ExplanationQuality)
    assert quality.computed is True
    assert quality.primary == "deeplift"
    assert "deeplift" in quality.method_names()
    assert quality.methods is not None
    assert quality.methods[0]["curve_rows"] > 0
    # the JSON form is the measured block itself, key for key and in order
    data = json.loads(result.to_json())
    assert data["explanation_quality"] == block
    assert list(data["explanation_quality"]) == list(block)
    assert data["schema_version"] == SCHEMA_VERSION == 2
    again = AuditResult.from_json(result.to_json())
    assert again.to_json() == result.to_json()
    # the policy facts read the typed block as they read its JSON
    facts = quality_facts(quality)
    assert facts == quality_facts(block)
    assert "explanation.fidelity.deletion_auc" in facts


def test_not_computed_and_absent_blocks_keep_their_forms() -> None:
    off = ExplanationQuality.not_computed("the spec turned it off")
    assert off.to_json() == {"computed": False, "reason": "the spec turned it off"}
    assert ExplanationQuality().to_json() == {}
    # the dict form is still accepted and compared (the Python API had dicts)
    result = _result({"computed": False, "reason": "the spec turned it off"})
    assert result.explanation_quality == off
    assert result.explanation_quality == {"computed": False, "reason": "the spec turned it off"}
    assert result.explanation_quality["reason"] == "the spec turned it off"


def test_version_1_documents_still_load() -> None:
    current = make_result().to_dict()
    old = json.loads(json.dumps(current))
    # a version 1 document from before issues 10 and 17: none of the later blocks
    old["schema_version"] = 1
    for key in ("explanation_quality", "verdict"):
        del old[key]
    for key in ("gap_decomposition", "proxy_ranking"):
        del old["attributions"][key]
    loaded = AuditResult.from_dict(old)
    assert loaded.schema_version == 2
    assert loaded.explanation_quality.to_json() == {}
    assert loaded.verdict == {}
    assert loaded.attributions.gap_decomposition == ()
    assert loaded.metrics == make_result().metrics
    # a version 2 document needs every block: v1's leniency is the v1 reader's alone
    del current["verdict"]
    with pytest.raises(KeyError):
        AuditResult.from_dict(current)


def test_unreadable_versions_and_fields_are_named() -> None:
    future = {**make_result().to_dict(), "schema_version": 3}
    with pytest.raises(ValueError, match="schema_version 3"):
        AuditResult.from_dict(future)
    with pytest.raises(ValueError, match=r"unknown field.*fidelity_score"):
        ExplanationQuality.from_json({"computed": True, "fidelity_score": 1.0})


def test_result_json_matches_the_saved_schema(block: dict[str, Any]) -> None:

    saved = REPO / "auditor/schemas/audit-result.schema.json"
    assert json.loads(saved.read_text()) == audit_result_schema(), (
        "stale: run python scripts/generate_schemas.py"
    )
    validator = jsonschema_rs.validator_for(audit_result_schema())
    for result in (make_result(), _result(block)):
        data = json.loads(result.to_json())
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == []
    bad = json.loads(_result(block).to_json())
    bad["explanation_quality"]["methods"][0]["curve_rows"] = "many"
    assert not validator.is_valid(bad)


def test_an_old_database_row_still_loads(sqlite_url: str) -> None:
    """A result stored as version 1 JSON (an old database) loads through the store."""
    from sqlalchemy import update

    from auditor.store import load_result, open_store, save_audit
    from auditor.store.models import Audit

    result = make_result()
    old = result.to_dict()
    old["schema_version"] = 1
    for key in ("explanation_quality", "verdict"):
        del old[key]
    store = open_store(sqlite_url)
    try:
        with store.session() as session:
            save_audit(session, result)
        with store.session() as session:
            session.execute(
                update(Audit)
                .where(Audit.id == result.audit_id)
                .values(result_json=json.dumps(old), schema_version=1)
            )
        with store.session() as session:
            loaded = load_result(session, result.audit_id)
    finally:
        store.dispose()
    assert loaded.schema_version == 2
    assert loaded.findings == result.findings
    assert loaded.explanation_quality.to_json() == {}
