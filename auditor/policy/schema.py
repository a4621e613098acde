"""The policy-rule schema. Packs are validated against it on load (unknown keys fail)."""

from __future__ import annotations

import string
from datetime import date
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from auditor.legal_terms import TERRITORY_RE, LegalCategory
from auditor.policy.facts import COLLECTIONS, DEFAULT_SCOPES
from auditor.policy.language import (
    Cond,
    ConditionSyntaxError,
    Source,
    condition_json_schema,
    parse_condition,
    parse_ref,
    parse_source,
)
from auditor.policy.legal import (
    BasisPeriod,
    ChangelogEntry,
    EnforcementPeriod,
    RuleStatus,
    Subject,
    Verified,
    overlaps,
    period_on,
    territory_of,
)
from auditor.policy.letter_content import LetterContent
from auditor.policy.patterns import compile_pattern
from auditor.strict_numbers import NoBoolNumbers

__all__ = ["PackMeta", "Rule", "RuleStatus", "legacy_fields", "rule_json_schema"]
MESSAGE_FIELDS = frozenset(
    {"scope", "attribute", "group", "reference", "observed", "threshold", "p", "n", "detail"}
)


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RatioThreshold(_Strict):
    """Each group's ratio metric must reach ``min`` (e.g. the four-fifths screen)."""

    type: Literal["ratio_threshold"]
    metric: Literal["impact_ratio", "adverse_impact_ratio", "scoring_impact_ratio"]
    min: float = Field(gt=0, le=1)
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level paired with it.")
    warn_if_significant: bool = Field(
        True, description="Warn when a ratio above `min` still differs significantly."
    )
    groupings: Literal["all", "attributes", "intersections"] = "all"
    categories: list[LegalCategory] | None = Field(
        None,
        description="Only groupings whose legal categories are all among these (a grouping "
        "with no known category still counts); e.g. UGESP: not age.",
    )


class DisclosureTable(_Strict):
    """Rates and impact ratios must be computed for these groupings (no threshold)."""

    type: Literal["disclosure_table"]
    groupings: list[str] = Field(min_length=1)
    small_share: float = Field(0.02, ge=0, lt=1)


class ProxyScan(_Strict):
    """Flag features that encode a protected attribute or match a forbidden name pattern."""

    type: Literal["proxy_scan"]
    max_association: float | None = Field(None, gt=0, le=1)
    name_patterns: list[str] = Field(default_factory=list)
    categories: list[LegalCategory] | None = Field(
        None,
        description="Only association with attributes carrying these legal categories "
        "counts (e.g. the GDPR Art. 9 categories); none present: insufficient evidence.",
    )
    geography: bool = Field(
        False,
        description="Find features that stand in for where people live: association with "
        "the spec's geography columns decides (max_association, default 0.5); "
        "name_patterns are only a hint.",
    )

    @field_validator("name_patterns")
    @classmethod
    def _patterns_compile(cls, v: list[str]) -> list[str]:
        for pattern in v:
            compile_pattern(pattern)  # a PatternError (ValueError) names the pattern
        return v


class Attestation(_Strict):
    """A document or process fact the spec must supply under ``evidence``."""

    type: Literal["attestation"]
    evidence: str
    max_age_days: int | None = Field(None, ge=1)


class ExplanationQuality(_Strict):
    """Attributions were computed and their additivity error is within tolerance.

    With ``fact`` (issue 10), the named ``explanation.fidelity.*`` /
    ``explanation.stability.*`` / ``explanation.agreement.*`` figure must stay at or
    below ``max`` and at or above ``min``; a breach warns.
    """

    type: Literal["explanation_quality"]
    fact: str | None = Field(
        None, pattern=r"^explanation\.(fidelity|stability|agreement)\.[a-z_]+$"
    )
    max: float | None = None
    min: float | None = None

    @model_validator(mode="after")
    def _bounds_with_fact(self) -> ExplanationQuality:
        from auditor.explain.quality.facts import FACT_NAMES

        if self.fact is not None and self.fact not in FACT_NAMES:
            raise ValueError(f"unknown fact '{self.fact}'; known: {', '.join(FACT_NAMES)}")
        if self.fact is not None and self.max is None and self.min is None:
            raise ValueError(f"fact '{self.fact}' needs a 'max' or a 'min' bound")
        if self.fact is None and (self.max is not None or self.min is not None):
            raise ValueError("'max'/'min' apply only together with 'fact'")
        return self


OutcomeStatus = Literal[
    "pass", "fail", "warn", "insufficient_evidence", "not_applicable", "needs_attestation"
]
_CONDITION_PLACEHOLDER = {"type": "object", "x-auditor": "condition"}
ConditionJson = Annotated[dict[str, Any], WithJsonSchema(_CONDITION_PLACEHOLDER)]


class Branch(_Strict):
    """``status`` when ``when`` holds; ``detail`` may name the item's fields in braces.

    ``threshold``: the line this branch tests, shown on its findings instead of the
    check's (the threshold shown must be the threshold used).
    """

    status: OutcomeStatus
    when: ConditionJson
    detail: str = ""
    threshold: float | str | None = None


class ForEach(_Strict):
    """One finding per item of a collection (metric records, features, groups, ...)."""

    collection: str = Field(description=f"One of: {', '.join(sorted(COLLECTIONS))}.")
    items: list[str] | None = Field(None, description="The names, for collection: items.")
    where: ConditionJson | None = None


class Condition(_Strict):
    """A check written in the check language: branches tried in order, first match wins.

    Without ``for_each`` the rule yields one finding with scope ``scope``; with it, one per
    item (scope from the item's fields). A branch whose condition needs an absent fact ends
    as needs_attestation (``evidence.*``) or insufficient_evidence, naming the fact.
    """

    type: Literal["condition"]
    for_each: ForEach | None = None
    outcomes: list[Branch] = Field(min_length=1)
    otherwise: OutcomeStatus = "pass"
    otherwise_detail: str = ""
    if_empty: OutcomeStatus = Field(
        "insufficient_evidence", description="The status when the for-each has no items."
    )
    if_empty_detail: str = ""
    scope: str | None = Field(None, description="Scope template (default per collection).")
    observed: str | None = Field(None, description="The fact shown as the observed value.")
    threshold: float | str | None = None

    _source: Source | None = PrivateAttr(default=None)
    _branches: tuple[Cond, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _compile(self) -> Condition:
        fields = None
        if self.for_each is not None:
            self._source = parse_source(self.for_each.model_dump(exclude_none=True), "for_each")
            fields = COLLECTIONS[self.for_each.collection]
        elif self.scope is None:
            raise ConditionSyntaxError("scope", "a check without for_each needs a scope name")
        self._branches = tuple(
            parse_condition(b.when, f"outcomes.{i}.when", fields)
            for i, b in enumerate(self.outcomes)
        )
        if self.observed is not None:
            parse_ref(self.observed, "observed", fields)
        names = (fields or frozenset()) | {"scope", "observed", "threshold"}
        texts = {"scope": self.scope or "", "otherwise_detail": self.otherwise_detail}
        texts |= {f"outcomes.{i}.detail": b.detail for i, b in enumerate(self.outcomes)}
        for where, text in texts.items():
            for _, name, _, _ in string.Formatter().parse(text):
                if name is not None and name.startswith("evidence."):
                    # an outcome may quote an attested or recorded value (its digest, ...)
                    parse_ref(name, where, fields)
                    continue
                if name is not None and name not in names:
                    raise ConditionSyntaxError(
                        where, f"unknown placeholder {{{name}}}; allowed: {sorted(names)}"
                    )
        return self

    @property
    def source(self) -> Source | None:
        """The compiled for-each source."""
        return self._source

    @property
    def branches(self) -> tuple[Cond, ...]:
        """The compiled branch conditions, in order."""
        return self._branches

    def scope_template(self) -> str:
        """The scope template (the collection's default when none is given)."""
        if self.scope is not None:
            return self.scope
        return DEFAULT_SCOPES[self.for_each.collection] if self.for_each else "audit"


Check = Annotated[
    RatioThreshold
    | DisclosureTable
    | ProxyScan
    | Attestation
    | ExplanationQuality
    | Condition
    | LetterContent,
    Field(discriminator="type"),
]


class Messages(_Strict):
    """Message templates per outcome; fields in braces come from MESSAGE_FIELDS."""

    passed: str = Field(alias="pass")
    fail: str
    warn: str | None = None
    insufficient_evidence: str | None = None
    needs_attestation: str | None = None

    @field_validator("*")
    @classmethod
    def _known_fields(cls, v: str | None) -> str | None:
        if v is None:
            return v
        for _, name, _, _ in string.Formatter().parse(v):
            if name is not None and name not in MESSAGE_FIELDS:
                raise ValueError(
                    f"unknown placeholder {{{name}}}; allowed: {sorted(MESSAGE_FIELDS)}"
                )
        return v


_LEGACY_DATING = ("status", "effective_from", "effective_until")
_STATUSES = frozenset(get_args(RuleStatus))


class Rule(_Strict):
    """One rule of a policy pack.

    Its legal standing is ``statutory_basis`` (dated periods of status, each optionally
    with its own citation) and ``enforcement`` (the agency's posture, also dated). The
    older single ``status`` / ``effective_from`` / ``effective_until`` still load (one
    period); for rules written with ``statutory_basis`` they hold a summary: the latest
    period's status, the first start and the last end.
    """

    # findings.rule_id keeps 200 characters
    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-]+$", max_length=200)
    title: str
    instrument: str
    citation: str
    jurisdiction: str = Field(description="Display label, e.g. US-NY-NYC (see `territory`).")
    domain: Literal["credit", "hiring", "both"]
    status: RuleStatus | None = Field(
        None, description="Deprecated: use statutory_basis. One status for all dates."
    )
    effective_from: date | None = Field(
        None,
        description="Deprecated with `status`. Null: no start date is checked (proposed "
        "bills, or instruments long in force whose date the rule does not pin).",
    )
    effective_until: date | None = None
    statutory_basis: list[BasisPeriod] | None = Field(
        None, description="The source's legal status per period, in date order."
    )
    enforcement: list[EnforcementPeriod] = Field(
        default_factory=list, description="The enforcing agency's posture per period."
    )
    territory: list[str] | None = Field(
        None,
        description="ISO 3166 codes (US, US-NY, GB, DE) or EU where the rule applies "
        "(default: the pack's, else derived from `jurisdiction`).",
    )
    subjects: list[Subject] | None = Field(
        None, description="Whom the rule protects (default: the pack's)."
    )
    verified: Verified | None = Field(
        None, description="The primary text the citation was checked against, and when."
    )
    verify: bool = Field(
        False, description="True: the citation is not yet checked against a primary text."
    )
    kind: Literal["metric", "content", "document", "process", "data"]
    basis: Literal["law", "convention", "guidance"] = Field(
        description="Whether the threshold is set by law or is a practitioner convention."
    )
    severity: Literal["info", "low", "medium", "high", "critical"]
    check: Check
    message: Messages
    sources: list[str] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_dating(cls, data: Any) -> Any:
        """Either statutory_basis or the older single status; fill the other as summary."""
        if not isinstance(data, dict):
            return data
        periods = data.get("statutory_basis")
        legacy = [k for k in _LEGACY_DATING if data.get(k) is not None]
        if periods is None:
            if "status" not in data:
                raise ValueError("give statutory_basis (or the older status)")
            start = _date_or_none(data.get("effective_from"))
            end = _date_or_none(data.get("effective_until"))
            if isinstance(start, date) and isinstance(end, date) and end < start:
                start = end = None  # the loader names the older fields
            return {
                **data,
                "statutory_basis": [
                    {
                        "status": data["status"],
                        # a bad date is reported once, on its own field
                        "from": start,
                        "until": end,
                    }
                ],
            }
        if not isinstance(periods, list) or not periods or not isinstance(periods[-1], dict):
            return data  # the field validation names the problem
        first = periods[0] if isinstance(periods[0], dict) else {}
        summary = {
            "status": periods[-1].get("status"),
            "effective_from": first.get("from"),
            "effective_until": periods[-1].get("until"),
        }
        # the summary may come back in (a dumped rule); anything else contradicts the periods
        clash = [k for k in legacy if _date_or_none(data[k]) != _date_or_none(summary[k])]
        if clash:
            raise ValueError(
                f"give either statutory_basis or {'/'.join(_LEGACY_DATING)}, not both "
                f"(found {', '.join(clash)})"
            )
        return {**data, **summary}

    @model_validator(mode="after")
    def _coherent(self) -> Rule:
        if not self.statutory_basis:
            raise ValueError("statutory_basis: give at least one period")
        problem = overlaps(self.statutory_basis) or overlaps(self.enforcement)
        if problem:
            raise ValueError(problem)
        bad = [t for t in self.territory or [] if not TERRITORY_RE.match(t)]
        if bad:
            raise ValueError(
                f"territory: {', '.join(bad)} is not an ISO 3166 code (US, US-NY, GB, DE) or EU"
            )
        if self.verified is not None and self.verify:
            raise ValueError("give either verified or verify: true, not both")
        return self

    def basis_on(self, day: date) -> BasisPeriod | None:
        """The statutory-basis period covering ``day`` (None: outside every period)."""
        return period_on(self.statutory_basis or [], day)

    def enforcement_on(self, day: date) -> EnforcementPeriod | None:
        """The enforcement posture covering ``day``, if the rule records one."""
        return next((p for p in self.enforcement if p.covers(day)), None)

    def status_on(self, day: date) -> str:
        """The source's status on ``day``: a period's status, or ``not in force``."""
        period = self.basis_on(day)
        return period.status if period else "not in force"

    def territory_or(self, pack_territory: list[str]) -> list[str]:
        """Where the rule applies: its own territory, the pack's, or its jurisdiction's."""
        if self.territory is not None:
            return self.territory
        return pack_territory or territory_of(self.jurisdiction)

    def change_days(self) -> list[date]:
        """Days on which the rule's status or enforcement posture changes."""
        days = set()
        for p in [*(self.statutory_basis or []), *self.enforcement]:
            if p.from_ is not None:
                days.add(p.from_)
            if p.until is not None:
                days.add(date.fromordinal(p.until.toordinal() + 1))
        return sorted(days)

    @property
    def verification(self) -> str:
        """``verified`` when the citation was checked against a primary text, else
        ``unverified``."""
        return "verified" if self.verified is not None else "unverified"


def _date_or_none(value: object) -> object:
    if value is None or isinstance(value, date) or (isinstance(value, str) and value in _STATUSES):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def legacy_fields(raw: dict[str, object]) -> list[str]:
    """What a rule file still writes the old way (for a deprecation message)."""
    out = []
    if raw.get("statutory_basis") is None:
        out.append(
            "status/effective_from/effective_until: write statutory_basis "
            "[{status, from, until}] instead"
        )
    if raw.get("verified") is None and not raw.get("verify"):
        out.append("no verified {source, date} and no verify: true: shown as unverified")
    return out


class PackMeta(_Strict):
    """``pack.yaml``: a pack's identity and version."""

    id: str = Field(pattern=r"^[a-z0-9_]+$", max_length=100)  # findings.pack: 100 characters
    title: str
    version: str
    instrument: str
    jurisdiction: str
    advisory: bool = False
    description: str
    territory: list[str] = Field(
        default_factory=list,
        description="ISO 3166 codes or EU where the pack's rules apply (default: derived "
        "from `jurisdiction`).",
    )
    subjects: list[Subject] = Field(
        default_factory=list, description="Whom the pack protects (empty: anyone)."
    )
    changelog: list[ChangelogEntry] = Field(
        default_factory=list, description="Dated changes of the law or its encoding."
    )

    @field_validator("territory")
    @classmethod
    def _iso(cls, v: list[str]) -> list[str]:
        bad = [t for t in v if not TERRITORY_RE.match(t)]
        if bad:
            raise ValueError(f"{', '.join(bad)} is not an ISO 3166 code (US, US-NY, GB) or EU")
        return v

    def territory_or_derived(self) -> list[str]:
        """The pack's territory, or the one its jurisdiction label names."""
        return self.territory or territory_of(self.jurisdiction)


def rule_json_schema() -> dict[str, object]:
    """JSON Schema of a rule file (shipped as ``policies/rule.schema.json``)."""
    schema = Rule.model_json_schema(by_alias=True)
    schema["$id"] = "https://auditor.invalid/schemas/policy-rule.json"
    schema["title"] = "auditor policy rule"
    schema = cast(dict[str, object], _link_conditions(schema))
    defs = cast(dict[str, object], schema.setdefault("$defs", {}))
    defs["Condition"] = condition_json_schema()
    # the dating is statutory_basis, or the older single status (not both: the loader says)
    schema["anyOf"] = [{"required": ["statutory_basis"]}, {"required": ["status"]}]
    return schema


def _link_conditions(node: Any) -> Any:
    """Replace pydantic's placeholder for a condition with a reference to its definition."""
    if node == _CONDITION_PLACEHOLDER:
        return {"$ref": "#/$defs/Condition"}
    if isinstance(node, dict):
        return {k: _link_conditions(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_link_conditions(v) for v in node]
    return node
