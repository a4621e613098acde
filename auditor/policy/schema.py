"""The policy-rule schema. Packs are validated against it on load (unknown keys fail)."""

from __future__ import annotations

import string
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from auditor.policy.letter_content import LetterContent

RuleStatus = Literal["binding", "guidance", "proposed", "withdrawn", "repealed"]
MESSAGE_FIELDS = frozenset(
    {"scope", "attribute", "group", "reference", "observed", "threshold", "p", "n", "detail"}
)


class _Strict(BaseModel):
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


class Attestation(_Strict):
    """A document or process fact the spec must supply under ``evidence``."""

    type: Literal["attestation"]
    evidence: str
    max_age_days: int | None = Field(None, ge=1)


class ExplanationQuality(_Strict):
    """Attributions were computed and their additivity error is within tolerance."""

    type: Literal["explanation_quality"]


Check = Annotated[
    RatioThreshold | DisclosureTable | ProxyScan | Attestation | ExplanationQuality | LetterContent,
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


class Rule(_Strict):
    """One rule of a policy pack."""

    id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-]+$")
    title: str
    instrument: str
    citation: str
    jurisdiction: str
    domain: Literal["credit", "hiring", "both"]
    status: RuleStatus
    effective_from: date | None = Field(
        None, description="Null for instruments never in force (proposed bills)."
    )
    effective_until: date | None = None
    kind: Literal["metric", "content", "document", "process", "data"]
    basis: Literal["law", "convention", "guidance"] = Field(
        description="Whether the threshold is set by law or is a practitioner convention."
    )
    severity: Literal["info", "low", "medium", "high", "critical"]
    check: Check
    message: Messages
    sources: list[str] = Field(min_length=1)
    notes: str | None = None


class PackMeta(_Strict):
    """``pack.yaml``: a pack's identity and version."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    version: str
    instrument: str
    jurisdiction: str
    advisory: bool = False
    description: str


def rule_json_schema() -> dict[str, object]:
    """JSON Schema of a rule file (shipped as ``policies/rule.schema.json``)."""
    schema = Rule.model_json_schema(by_alias=True)
    schema["$id"] = "https://auditor.invalid/schemas/policy-rule.json"
    schema["title"] = "auditor policy rule"
    return schema
