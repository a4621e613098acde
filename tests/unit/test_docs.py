"""The documentation as a contract.

The README stays a landing page whose links resolve, and the reference pages generated
from the code (``docs/gen_reference.py``, run by ``make docs``) cover every command,
option, spec key, result field and shipped rule; their JSON Schemas accept real documents
and refuse broken ones. The strict site build itself (links, anchors, mkdocstrings) runs
in CI as ``make docs``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import typing
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs
import pytest
import typer.main
from pydantic import BaseModel

import auditor
from auditor.cli import app
from auditor.policy import available_packs, load_packs
from auditor.result import AuditResult
from auditor.spec import AuditSpec, load_spec
from tests._paths import REPO
from tests.factories import make_result


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_reference", REPO / "docs/gen_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- README


def test_readme_is_a_landing_page() -> None:
    readme = REPO / "README.md"
    assert readme.stat().st_size < 15_000, "the README is a landing page: move detail to docs/"
    text = readme.read_text(encoding="utf-8")
    for needed in ("make demo", "make test", "make docs", "auditor audit", "run_audit"):
        assert needed in text


def test_readme_links_resolve() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into the docs"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_readme_example_spec_loads(tmp_path: Path) -> None:
    """The landing page's one example is a spec the loader accepts as written."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "audit.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "german-credit-q4"
    assert spec.policies == ["ecoa_reg_b", "fcra"]


# --------------------------------------------------------------------------- CLI


def _commands(cmd: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    # through each group's own table of commands, not the generator's list_commands walk
    found = [(path, cmd)]
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            found += _commands(sub, (*path, name))
    return found


def test_cli_page_lists_every_command_and_option(gen: ModuleType) -> None:
    page = gen.cli_page()
    commands = _commands(typer.main.get_command(app), ("auditor",))
    assert len(commands) > 25  # audit, letters, db prune, schedule add, users token, ...
    for path, cmd in commands:
        assert re.search(rf"^#+ {re.escape(' '.join(path))}$", page, re.M), path
        for param in cmd.params:
            if param.param_type_name == "option" and not param.hidden:
                for flag in param.opts:
                    assert flag in page, (path, flag)
    # help text comes through, not just names
    assert "With --fail-on: also exit 1" in page


# --------------------------------------------------------------------------- spec


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[model.__name__] = model
    for field in model.model_fields.values():
        stack: list[Any] = [field.annotation]
        while stack:
            kind = stack.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                if kind.__name__ not in seen:
                    _models(kind, seen)
            else:
                stack.extend(typing.get_args(kind))
    return seen


def test_spec_page_lists_every_key(gen: ModuleType) -> None:
    page = gen.spec_page()
    models = _models(AuditSpec, {})
    assert {"AuditSpec", "ExplainSpec", "LettersSpec", "VerdictSpec"} <= set(models)
    for name, model in models.items():
        assert f"### {name}\n" in page, name
        for key, field in model.model_fields.items():
            shown = field.alias or key
            assert f"| `{shown}` |" in page, f"{name}.{shown}"


def test_spec_schema_accepts_a_loaded_spec_and_refuses_a_bad_one(gen: ModuleType) -> None:
    validator = jsonschema_rs.validator_for(gen.spec_schema())
    spec = load_spec(
        {
            "name": "docs-check",
            "domain": "hiring",
            "data": {"path": str(REPO / "sample_data" / "hiring.csv")},
            "columns": {"id": "applicant_id", "decision": "hired"},
            "protected": ["sex", "race_ethnicity"],
            "policies": ["nyc_ll144"],
        }
    )
    document = spec.model_dump(mode="json")
    validator.validate(document)
    assert not validator.is_valid({**document, "domain": "insurance"})
    assert not validator.is_valid({**document, "unknown_key": 1})


# --------------------------------------------------------------------------- result


def _dataclasses(kind: type, seen: dict[str, type]) -> dict[str, type]:
    seen[kind.__name__] = kind
    hints = typing.get_type_hints(kind)
    for field in dataclasses.fields(kind):
        stack: list[Any] = [hints[field.name]]
        while stack:
            sub = stack.pop()
            if dataclasses.is_dataclass(sub) and isinstance(sub, type):
                if sub.__name__ not in seen:
                    _dataclasses(sub, seen)
            else:
                stack.extend(typing.get_args(sub))
    return seen


def test_result_page_lists_every_field(gen: ModuleType) -> None:
    page = gen.result_page()
    kinds = _dataclasses(AuditResult, {})
    assert {"AuditResult", "Finding", "MetricRecord", "AttributionSummary"} <= set(kinds)
    for name, kind in kinds.items():
        assert f"### {name}\n" in page, name
        for field in dataclasses.fields(kind):
            assert f"| `{field.name}` |" in page, f"{name}.{field.name}"
    for field in ("explanation_quality", "verdict", "check_failed", "model_input"):
        assert f"| `{field}` |" in page


@pytest.fixture(scope="module")
def real_result() -> AuditResult:
    """A real audit, decisions only (no model to train), on the shipped hiring data."""
    return auditor.run_audit(
        {
            "name": "docs-schema",
            "domain": "hiring",
            "data": {"path": str(REPO / "sample_data" / "hiring.csv")},
            "columns": {"id": "applicant_id", "decision": "hired"},
            "protected": ["sex", "race_ethnicity"],
            "intersections": [["sex", "race_ethnicity"]],
            "policies": ["nyc_ll144", "eeoc_ugesp"],
        }
    )


def test_result_schema_accepts_real_results(gen: ModuleType, real_result: AuditResult) -> None:
    validator = jsonschema_rs.validator_for(gen.result_schema())
    for result in (real_result, make_result()):
        document = json.loads(result.to_json())
        validator.validate(document)
    document = json.loads(real_result.to_json())
    assert document["findings"]
    document["findings"][0]["status"] = "compliant"  # no such status, by design
    assert not validator.is_valid(document)
    del document["findings"]
    assert not validator.is_valid(document)


# --------------------------------------------------------------------------- rules


def test_rule_catalogue_lists_every_rule_with_its_verification(gen: ModuleType) -> None:
    page = gen.rules_page(today=date(2026, 12, 6))
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in page.splitlines()
        if line.startswith("| `")
    }
    packs = load_packs(available_packs())
    for pack in packs:
        assert f"## {pack.meta.id}\n" in page
        for rule in pack.rules:
            row = rows[rule.id]
            assert rule.citation.split()[0] in row
            if rule.verified is not None:
                assert f"verified {rule.verified.date.isoformat()}" in row
                source = " ".join(rule.verified.source.split()).replace("|", "\\|")
                assert f"- `{rule.id}`: {source}" in page
            else:
                assert "| unverified |" in row
    assert len(rows) == sum(len(p.rules) for p in packs)
