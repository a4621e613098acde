"""A new evaluation of a stored audit with attested evidence, without the model or data.

An officer answers the evidence a rule asks for (a DPIA date, a retention period, ...)
after the run (issue 21). The stored :class:`~auditor.result.AuditResult` holds every
fact the rules read except the evidence itself, so the policy packs are evaluated again
over the same stored metrics, group sizes and attributions with the attested values laid
over the spec's ``evidence``.

Only the rules that read evidence take their findings from the new evaluation; every
other rule keeps its finding from the previous evaluation verbatim. Some facts are not
kept in the result (the geography association of features), so evaluating those rules
again could change findings that no attestation touched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.errors import SpecError
from auditor.policy import Facts, PolicyPack, evaluate, load_packs
from auditor.policy.verdict import VerdictRule
from auditor.result import AttestedEvidence, AuditResult, Finding

COMPUTED_KEYS = frozenset(
    {"ll144_excluded_categories", "ll144_exclusion_justification", "lda_record"}
)
"""Evidence keys the audit computes itself (never attested; see pipeline.evidence_facts)."""
RESERVED_KEYS = frozenset({"letter"})
"""Evidence keys filled by the letters service, not by an officer."""


def evidence_reads(packs: Iterable[PolicyPack]) -> dict[str, list[str]]:
    """Evidence key -> the ids of the rules that read it (``evidence.KEY[.sub...]``)."""
    reads: dict[str, list[str]] = {}
    for pack in packs:
        for rule in pack.rules:
            for key in sorted(_keys_in(rule.check.model_dump())):
                reads.setdefault(key, []).append(rule.id)
    return reads


def _keys_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, Mapping):
        if node.get("type") == "attestation" and isinstance(node.get("evidence"), str):
            found.add(node["evidence"].split(".")[0])
        for value in node.values():
            found |= _keys_in(value)
    elif isinstance(node, list | tuple):
        for value in node:
            found |= _keys_in(value)
    elif isinstance(node, str) and node.startswith("evidence."):
        found.add(node.split(".")[1])
    return found


def packs_of(result: AuditResult, *, spec_dir: Path | None = None) -> list[PolicyPack]:
    """The policy packs the audit was evaluated with, checked against the versions it
    recorded: a re-evaluation under changed rules would not be the same audit."""
    from auditor.spec import load_spec

    spec = load_spec(result.spec, base_dir=spec_dir)
    packs = load_packs(spec.policies, extra=spec.policy_folders())
    recorded = result.provenance.policy_packs
    changed = [
        f"{p.meta.id} (audit: {recorded.get(p.meta.id, 'not used')}, now: {p.meta.version})"
        for p in packs
        if recorded.get(p.meta.id) != p.meta.version
    ]
    if changed:
        raise SpecError(
            f"Audit {result.audit_id} was evaluated with other versions of its policy packs: "
            f"{'; '.join(changed)}. Attested evidence is evaluated under the rules the audit "
            "ran with; run the audit again to evaluate it under the current packs."
        )
    return packs


def normalise_evidence(evidence: Any, packs: Sequence[PolicyPack], *, where: str) -> dict[str, Any]:
    """``evidence`` as plain JSON values, or a SpecError naming every key that is wrong.

    A key no rule of the audit reads is refused (a misspelt key would otherwise change
    nothing, silently); dates become ``YYYY-MM-DD`` text, as the rules read them.
    """
    from auditor.spec import plain_data

    if not isinstance(evidence, Mapping) or not evidence:
        raise SpecError(
            f"{where}: the evidence must be a mapping of keys to values, e.g. "
            "'retention_months: 25'."
        )
    reads = evidence_reads(packs)
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in evidence.items():
        if not isinstance(key, str) or not key:
            problems.append(f"{where}: key {key!r}: evidence keys must be text")
            continue
        if key in COMPUTED_KEYS or key in RESERVED_KEYS:
            problems.append(
                f"{where}: key '{key}': this evidence is computed by auditor, not attested"
            )
            continue
        if key not in reads:
            known = ", ".join(sorted(k for k in reads if k not in COMPUTED_KEYS | RESERVED_KEYS))
            problems.append(
                f"{where}: key '{key}': no rule of this audit's policy packs reads "
                f"evidence.{key}; keys the rules read: {known}"
            )
            continue
        if value is None or value == "":
            problems.append(f"{where}: key '{key}': give a value (an empty one attests nothing)")
            continue
        try:
            clean[key] = _json_value(plain_data(value, f"evidence.{key}"))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise SpecError(f"{where}: the attested evidence is invalid.", problems=problems)
    return clean


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def facts_of(result: AuditResult, evidence: Mapping[str, Any], *, spec_dir: Path | None) -> Facts:
    """The facts the run evaluated its rules on, rebuilt from the stored result, with
    ``evidence`` laid over the spec's own (attested values win)."""
    from auditor.explain.quality import quality_facts
    from auditor.pipeline import evidence_facts, grouping_names
    from auditor.spec import load_spec

    spec = load_spec(result.spec, base_dir=spec_dir)
    audit_date = spec.audit_date or date.fromisoformat(result.run.started_at[:10])
    metrics = list(result.metrics)
    return Facts(
        domain=result.domain,
        audit_date=audit_date,
        metrics=tuple(metrics),
        groups=result.dataset.groups,
        groupings=grouping_names(spec),
        intersections=tuple(spec.intersection_names()),
        features=tuple(spec.columns.features),
        attributions=result.attributions,
        min_group_size=spec.min_group_size,
        evidence={**evidence_facts(spec, metrics, []), **evidence},
        explanation=quality_facts(result.explanation_quality),
        verdict_rule=VerdictRule(spec.verdict.rule, spec.verdict.alpha),
        jurisdictions=tuple(spec.jurisdictions or ()),
        geography_columns=tuple(spec.geography),
        categories=spec.categories(),
    )


def attested_evidence(attested: Iterable[AttestedEvidence]) -> dict[str, Any]:
    """Key -> value, the latest attestation of each key winning."""
    return {a.key: a.value for a in sorted(attested, key=lambda a: a.attestation_id)}


def reevaluate(
    previous: AuditResult,
    attested: Sequence[AttestedEvidence],
    *,
    packs: Sequence[PolicyPack],
    evaluation: int,
    spec_dir: Path | None = None,
) -> AuditResult:
    """The next evaluation of ``previous``: its rules that read evidence evaluated again
    with every attestation so far (``attested``, all of them), the others unchanged."""
    facts = facts_of(previous, attested_evidence(attested), spec_dir=spec_dir)
    fresh = evaluate(list(packs), facts)
    reading = {rule for rules in evidence_reads(packs).values() for rule in rules}
    kept: dict[str, list[Finding]] = {}
    for finding in previous.findings:
        kept.setdefault(finding.rule_id, []).append(finding)
    findings: list[Finding] = []
    done: set[str] = set()
    for finding in fresh:
        if finding.rule_id in reading:
            findings.append(finding)
        elif finding.rule_id not in done:
            findings += kept.get(finding.rule_id, [])
        done.add(finding.rule_id)
    # a rule the packs no longer produce (cannot happen at equal pack versions) stays too
    findings += [f for rule, fs in kept.items() if rule not in done for f in fs]
    return dataclasses.replace(
        previous, findings=tuple(findings), evaluation=evaluation, attested=tuple(attested)
    )


def changed_findings(before: AuditResult, after: AuditResult) -> list[dict[str, Any]]:
    """The findings whose status changed: rule, scope, status before and after."""
    was = {(f.rule_id, f.scope): f.status for f in before.findings}
    out = []
    for f in after.findings:
        old = was.get((f.rule_id, f.scope))
        if old != f.status:
            out.append({"rule_id": f.rule_id, "scope": f.scope, "was": old, "now": f.status})
    return out


def parse_evidence(text: str, *, where: str) -> Any:
    """The evidence mapping in YAML (or JSON) ``text``; a SpecError names ``where``."""
    import yaml

    from auditor.safe_yaml import YamlLimitError, load_yaml_text

    try:
        data = load_yaml_text(text)
    except (yaml.YAMLError, YamlLimitError, ValueError) as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from None
    if isinstance(data, Mapping) and set(data) == {"evidence"}:
        data = data["evidence"]  # the spec's own form, 'evidence: {key: value}', too
    return data


def read_evidence_file(path: Path) -> Any:
    """The evidence mapping of a YAML file; a SpecError names the file."""
    from auditor.safe_yaml import YamlLimitError, read_yaml_text

    try:
        text = read_yaml_text(path)
    except (OSError, UnicodeDecodeError, YamlLimitError) as exc:
        raise SpecError(f"{path}: cannot read the evidence file: {exc}") from None
    return parse_evidence(text, where=str(path))
