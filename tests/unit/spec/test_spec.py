"""The audit spec: loading from YAML and dicts, and every problem reported at once."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.errors import SpecError
from auditor.policy import available_packs
from auditor.spec import AuditSpec, load_spec


def base_spec(**changes: Any) -> dict[str, Any]:
    """A minimal valid decisions-only credit spec, with top-level keys replaced."""
    spec: dict[str, Any] = {
        "name": "unit-spec",
        "domain": "credit",
        "data": {"path": "decisions.csv"},
        "columns": {"id": "applicant_id", "decision": "approved"},
        "protected": ["sex", "age_band"],
    }
    spec.update(changes)
    return spec


def problems_of(exc: pytest.ExceptionInfo[SpecError]) -> list[str]:
    return list(exc.value.problems)


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_load_from_dict_and_yaml_agree(tmp_path: Path) -> None:
    data = base_spec(policies=["ecoa_reg_b"], audit_date="2026-03-01", seed=7)
    from_dict = load_spec(data)
    from_yaml = load_spec(write_yaml(tmp_path / "audit.yaml", data))
    assert isinstance(from_yaml, AuditSpec)
    assert from_dict.as_dict() == from_yaml.as_dict()
    assert from_yaml.audit_date == date(2026, 3, 1)
    assert from_yaml.source == str(tmp_path / "audit.yaml")
    assert from_dict.source == "<dict>"
    # defaults
    assert from_yaml.min_group_size == 30
    assert from_yaml.missing_protected == "unknown"
    assert from_yaml.explain.method == "auto"


def test_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    spec = load_spec(write_yaml(folder / "audit.yaml", base_spec()))
    assert spec.resolve(spec.data.path) == folder.resolve() / "decisions.csv"
    absolute = tmp_path / "elsewhere.csv"
    assert spec.resolve(str(absolute)) == absolute
    from_dict = load_spec(base_spec(), base_dir=tmp_path)
    assert from_dict.resolve("x.csv") == tmp_path / "x.csv"


def test_unquoted_yaml_date_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(base_spec()) + "audit_date: 2025-12-31\n", encoding="utf-8")
    assert load_spec(path).audit_date == date(2025, 12, 31)


def test_three_mistakes_are_reported_together_each_naming_its_key() -> None:
    # one unknown key (schema), one unknown policy pack and one intersection naming an
    # attribute that is not protected (both cross-field checks)
    data = base_spec(
        colour="blue",
        policies=["eeoc_ugesp", "not_a_pack"],
        intersections=[["sex", "race"]],
    )
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    problems = problems_of(exc)
    assert len(problems) == 3, problems
    assert any(p.startswith("colour: unknown key") for p in problems)
    assert any(p.startswith("policies.1: unknown policy pack 'not_a_pack'") for p in problems)
    assert any(p.startswith("intersections.0: 'race'") for p in problems)
    # the message lists them all, one per line
    assert str(exc.value).count("\n  - ") == 3


def test_schema_and_cross_field_mistakes_do_not_hide_each_other() -> None:
    data = base_spec(domain="loans", min_group_size=0, reference={"race": "White"})
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    problems = problems_of(exc)
    assert [p.split(":")[0] for p in problems] == ["domain", "min_group_size", "reference.race"]


def test_a_broken_key_does_not_cause_false_cross_field_problems() -> None:
    # 'protected' is invalid, so checks that read it are skipped rather than reporting the
    # intersection as naming unknown attributes
    data = base_spec(protected="sex", intersections=[["sex", "age_band"]])
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    assert [p.split(":")[0] for p in problems_of(exc)] == ["protected"]


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\ndomain: credit\ncolumns:\n  id: a\n   decision: b\n", encoding="utf-8"
    )
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    message = str(exc.value)
    assert str(path) in message
    assert "malformed YAML at line 5" in message


def test_bad_unquoted_date_names_the_key_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(base_spec()) + "audit_date: 2026-13-01\n", encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        load_spec(path)
    assert str(path) in str(exc.value)
    assert [p.split(":")[0] for p in problems_of(exc)] == ["audit_date"]


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"Spec file not found: .*nope\.yaml"):
        load_spec(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"list\.yaml: the spec must be a YAML mapping"):
        load_spec(path)


def test_unknown_key_nested_and_top_level() -> None:
    data = base_spec(columns={"id": "applicant_id", "decision": "approved", "feature": ["x"]})
    data["protected_attributes"] = ["sex"]
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    problems = problems_of(exc)
    assert any(p.startswith("columns.feature: unknown key") for p in problems)
    assert any(p.startswith("protected_attributes: unknown key") for p in problems)


def test_missing_required_keys_are_named() -> None:
    data = base_spec()
    del data["columns"], data["protected"]
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    assert sorted(problems_of(exc)) == [
        "columns: required key is missing",
        "protected: required key is missing",
    ]


def test_unknown_policy_pack_lists_available_ones() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(base_spec(policies=["gdpr", "eeoc"]))
    (problem,) = problems_of(exc)
    assert problem.startswith("policies.1: unknown policy pack 'eeoc'")
    for pack in available_packs():
        assert pack in problem
    assert "eeoc_ugesp" in available_packs()


def test_intersection_and_reference_must_name_protected_attributes() -> None:
    data = base_spec(
        intersections=[["sex", "age_band"], ["sex"], ["sex", "marital_status"]],
        reference={"sex": "male", "religion": "none"},
    )
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    problems = problems_of(exc)
    assert len(problems) == 3, problems
    assert any(p.startswith("intersections.1: needs at least two attributes") for p in problems)
    assert any(
        p.startswith("intersections.2: 'marital_status' is not one of the protected")
        for p in problems
    )
    assert any(p.startswith("reference.religion: not one of the protected") for p in problems)


def test_feature_that_is_protected_or_another_role_is_refused() -> None:
    data = base_spec(
        model={"path": "m.txt", "kind": "lightgbm"},
        columns={"id": "applicant_id", "decision": "approved", "features": ["sex", "approved"]},
    )
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    problems = problems_of(exc)
    assert any("'sex' is a protected attribute" in p for p in problems)
    assert any("'approved' is also the decision column" in p for p in problems)


def test_without_decision_score_or_model_is_refused() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(base_spec(columns={"id": "applicant_id", "label": "good"}))
    assert problems_of(exc) == [
        "columns: without a model, the data must have a decision or a score column"
    ]
    # a score alone is enough; so is a model with features
    load_spec(base_spec(columns={"id": "applicant_id", "score": "p"}))
    load_spec(
        base_spec(
            model={"path": "m.txt", "kind": "lightgbm"},
            columns={"id": "applicant_id", "features": ["income"]},
        )
    )


def test_model_needs_features_and_torch_module_format() -> None:
    data = base_spec(
        model={"path": "m.pt", "kind": "torch", "module": "pkg.mod.Class"},
        columns={"id": "applicant_id"},
        threshold=1.5,
    )
    with pytest.raises(SpecError) as exc:
        load_spec(data)
    assert sorted(problems_of(exc)) == [
        "columns.features: a model needs the list of its input features",
        "model.module: expected 'package.module:ClassName'",
        "threshold: must be between 0 and 1 for a model's probability score",
    ]


def test_unsafe_name_is_refused() -> None:
    with pytest.raises(SpecError) as exc:
        load_spec(base_spec(name="../../etc/passwd"))
    (problem,) = problems_of(exc)
    assert problem.startswith("name: ")


def test_digest_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    data = base_spec(policies=["ecoa_reg_b"], evidence={"dpia_date": "2025-01-01"})
    one = load_spec(data)
    two = load_spec(dict(reversed(list(data.items()))))  # key order does not matter
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    three = load_spec(write_yaml(tmp_path / "a" / "spec.yaml", data))
    four = load_spec(write_yaml(tmp_path / "b" / "spec.yaml", data))  # nor the folder
    assert len(one.digest()) == 64
    assert one.digest() == two.digest() == three.digest() == four.digest()
    assert load_spec(base_spec(policies=["ecoa_reg_b"])).digest() != one.digest()
    assert load_spec({**data, "threshold": 0.6}).digest() != one.digest()
