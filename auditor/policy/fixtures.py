"""Rule fixtures: facts in, expected findings out, kept beside each pack's rules.

``policies/<pack>/fixtures/<RULE-ID>.yaml``::

    rule: EEOC-UGESP-4D-FOUR-FIFTHS
    cases:
      - name: a significant shortfall fails
        facts: {domain: hiring, metrics: [...], groups: [...], evidence: {...},
                attributions: {computed: true, global_importance: {...}, proxies: [...]}}
        expect: [{scope: "race=B", status: fail}]

A case passes when the rule's findings are exactly the expected (scope, status) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError

from auditor.errors import PolicyLoadError
from auditor.policy.engine import evaluate
from auditor.policy.facts import Facts
from auditor.policy.loader import PolicyPack, read_yaml
from auditor.policy.roles import categories_by_name
from auditor.result import AttributionSummary, GroupCount, MetricRecord, ProxyScore
from auditor.strict_numbers import NoBoolNumbers


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid")


class _Metric(_Strict):
    attribute: str
    group: str
    metric: str
    value: float | None
    n: int
    count: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    reference: str | None = None
    flags: list[str] = Field(default_factory=list)
    p_value_adjusted: float | None = None
    shortfall: float | None = None
    flip_test: bool | None = None


class _Proxy(_Strict):
    feature: str
    attribute: str
    measure: str = "cramers_v"
    value: float


class _Attributions(_Strict):
    computed: bool = False
    method: str | None = None
    additivity_error: float | None = None
    tolerance: float | None = None
    reason: str | None = None
    global_importance: dict[str, float] = Field(default_factory=dict)
    proxies: list[_Proxy] = Field(default_factory=list)


class _Group(_Strict):
    attribute: str
    group: str
    n: int
    share: float
    unknown: bool = False


class _Facts(_Strict):
    domain: str
    audit_date: date = date(2026, 11, 23)
    min_group_size: int = 30
    groupings: list[str] | None = None
    intersections: list[str] = Field(default_factory=list)
    features: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict)
    metrics: list[_Metric] = Field(default_factory=list)
    groups: list[_Group] = Field(default_factory=list)
    attributions: _Attributions = Field(default_factory=_Attributions)
    explanation: dict[str, float] = Field(default_factory=dict)
    jurisdictions: list[str] = Field(default_factory=list)
    geography_columns: list[str] = Field(default_factory=list)
    geography: list[_Proxy] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    categories: dict[str, list[str]] = Field(
        default_factory=dict, description="grouping -> legal categories (default: by name)"
    )


class _Expected(_Strict):
    scope: str
    status: str


class _Case(_Strict):
    name: str
    facts: _Facts
    expect: list[_Expected]


class _File(_Strict):
    rule: str
    cases: list[_Case] = Field(min_length=1)


@dataclass(frozen=True)
class FixtureResult:
    """Outcome of one fixture case."""

    rule_id: str
    case: str
    file: Path
    expected: frozenset[tuple[str, str]]
    got: frozenset[tuple[str, str]]

    @property
    def ok(self) -> bool:
        """Whether the findings matched the expectation exactly."""
        return self.expected == self.got


def to_facts(f: _Facts) -> Facts:
    """Engine facts from a fixture's facts block (unset fields take neutral defaults)."""
    metrics = tuple(MetricRecord(**{**m.model_dump(), "flags": tuple(m.flags)}) for m in f.metrics)
    a = f.attributions
    groupings = f.groupings if f.groupings is not None else sorted({m.attribute for m in metrics})
    return Facts(
        domain=f.domain,
        audit_date=f.audit_date,
        metrics=metrics,
        groups=tuple(GroupCount(**g.model_dump()) for g in f.groups),
        groupings=tuple(groupings),
        intersections=tuple(f.intersections),
        features=tuple(f.features),
        attributions=AttributionSummary(
            computed=a.computed,
            method=a.method,
            additivity_error=a.additivity_error,
            tolerance=a.tolerance,
            reason=a.reason,
            global_importance=dict(a.global_importance),
            proxies=tuple(ProxyScore(**p.model_dump()) for p in a.proxies),
        ),
        min_group_size=f.min_group_size,
        evidence=dict(f.evidence),
        explanation=dict(f.explanation),
        jurisdictions=tuple(f.jurisdictions),
        geography_columns=tuple(f.geography_columns),
        geography=tuple(ProxyScore(**p.model_dump()) for p in f.geography),
        subjects=tuple(f.subjects),
        categories=(
            {g: frozenset(c) for g, c in f.categories.items()}
            if f.categories
            else categories_by_name([*groupings, *f.intersections])
        ),
    )


def fixture_files(pack: PolicyPack) -> dict[str, Path]:
    """Rule id -> fixture file, for the fixtures present in the pack."""
    return {p.stem: p for p in sorted((pack.folder / "fixtures").glob("*.yaml"))}


def run_fixtures(pack: PolicyPack) -> list[FixtureResult]:
    """Run every fixture case of a pack; a rule without fixtures is a load error."""
    files = fixture_files(pack)
    rules = {r.id: r for r in pack.rules}
    missing = sorted(set(rules) - set(files))
    if missing:
        raise PolicyLoadError(
            f"{pack.folder}: rule(s) without fixtures: {', '.join(missing)}",
            problems=[f"add {pack.folder / 'fixtures' / (m + '.yaml')}" for m in missing],
        )
    results = []
    for rule_id, path in files.items():
        try:
            data = _File.model_validate(read_yaml(path))
        except ValidationError as exc:
            raise PolicyLoadError(
                f"{path}: malformed fixture.",
                problems=[
                    f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
                ],
            ) from None
        if data.rule != rule_id or rule_id not in rules:
            raise PolicyLoadError(
                f"{path}: names rule '{data.rule}', which is not in this pack "
                "or not the file's name."
            )
        single = PolicyPack(pack.meta, (rules[rule_id],), pack.folder)
        for case in data.cases:
            findings = evaluate([single], to_facts(case.facts))
            results.append(
                FixtureResult(
                    rule_id,
                    case.name,
                    path,
                    frozenset((e.scope, e.status) for e in case.expect),
                    frozenset((f.scope, f.status) for f in findings),
                )
            )
    return results


def check_custom_pack(pack: PolicyPack) -> None:
    """Refuse an organisation's pack unless every rule has fixtures and all of them pass.

    ``auditor policies validate`` and ``auditor audit`` hold a custom pack to the same
    standard as the shipped ones, whose fixtures run in CI.
    """
    failed = [r for r in run_fixtures(pack) if not r.ok]
    if failed:
        raise PolicyLoadError(
            f"{pack.folder}: the pack's fixtures fail; run 'auditor policies validate "
            f"{pack.folder}'.",
            problems=[
                f"{r.file} case '{r.case}': expected {sorted(r.expected)}, got {sorted(r.got)}"
                for r in failed
            ],
        )
