"""A rule's legal standing over time: statutory basis, agency posture, territory, subjects.

The statutory basis (is the rule's source law, and which law?) and the enforcement posture
(does the agency pursue it?) change separately: the Reg B effects test left federal law on
2026-07-21 while state fair-lending laws kept it; EO 14281 deprioritised federal
disparate-impact enforcement without changing any statute. A rule therefore carries a list
of dated periods for each, and the engine reads the period covering the audit date.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from auditor.legal_terms import TERRITORY_RE
from auditor.strict_numbers import NoBoolNumbers

RuleStatus = Literal["binding", "guidance", "proposed", "contested", "withdrawn", "repealed"]
# statuses under which a rule still runs but can only flag (never fail an audit)
ADVISORY_STATUSES = frozenset({"proposed", "guidance", "contested"})
# statuses under which a rule yields no findings at all
INACTIVE_STATUSES = frozenset({"withdrawn", "repealed"})
Posture = Literal["enforced", "deprioritised", "not_enforced", "private_action_only", "unknown"]
Subject = Literal["applicants", "employees", "consumers", "borrowers"]
# who the decisions of an audit are about, by domain (a credit applicant is an applicant too)
DOMAIN_SUBJECTS: dict[str, frozenset[str]] = {
    "hiring": frozenset({"applicants", "employees"}),
    "credit": frozenset({"applicants", "consumers", "borrowers"}),
}
# ISO 3166-1 alpha-2 with an optional ISO 3166-2 subdivision (US-NY, GB-SCT), or EU
EU_MEMBERS = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    ]
)
Territory = str


class _Strict(NoBoolNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Dated(_Strict):
    from_: date | None = Field(None, alias="from", description="First day (null: open start).")
    until: date | None = Field(None, description="Last day (null: open end).")

    @model_validator(mode="after")
    def _ordered(self) -> _Dated:
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError(f"'until' {self.until} precedes 'from' {self.from_}")
        return self

    def covers(self, day: date) -> bool:
        """Whether ``day`` falls in the period."""
        return (self.from_ is None or self.from_ <= day) and (
            self.until is None or day <= self.until
        )


class BasisPeriod(_Dated):
    """The legal status of a rule's source over one period.

    ``citation`` replaces the rule's citation in that period (e.g. state law once the
    federal text is gone); ``note`` says what changed and why.
    """

    status: RuleStatus
    citation: str | None = None
    note: str | None = None


class EnforcementPeriod(_Dated):
    """The enforcing agency's posture over one period (policy, not law)."""

    posture: Posture
    by: str = Field(min_length=1, description="The agency or enforcer, e.g. CFPB, DCWP.")
    note: str | None = None
    source: str | None = None


class Verified(_Strict):
    """Where the rule's citation was checked against the primary text, and when."""

    source: str = Field(min_length=1, description="URL or title of the primary text.")
    date: date


class ChangelogEntry(_Strict):
    """One dated change of a pack's law or of its encoding."""

    date: date
    change: str = Field(min_length=1)
    rules: list[str] = Field(default_factory=list)


def period_on(
    periods: tuple[BasisPeriod, ...] | list[BasisPeriod], day: date
) -> BasisPeriod | None:
    """The period covering ``day`` (periods never overlap; the loader checks)."""
    return next((p for p in periods if p.covers(day)), None)


def overlaps(periods: list[BasisPeriod] | list[EnforcementPeriod]) -> str | None:
    """A message when two periods overlap or are out of order, else None."""
    for a, b in pairwise(periods):
        if a.until is None or b.from_ is None or b.from_ <= a.until:
            return (
                f"periods must be in date order without overlap: one ends {a.until or 'never'}"
                f", the next starts {b.from_ or 'at the beginning'}"
            )
    return None


def territory_of(jurisdiction: str) -> list[str]:
    """The ISO territory a legacy ``jurisdiction`` label names (``US-NY-NYC`` -> US-NY)."""
    parts = jurisdiction.upper().split("-")
    for n in (2, 1):
        code = "-".join(parts[:n])
        if len(parts) >= n and TERRITORY_RE.match(code):
            return [code]
    return []


def _within(inner: str, outer: str) -> bool:
    """Whether territory ``inner`` lies in ``outer`` (US-NY in US; DE and DE-BY in EU)."""
    if inner == outer or inner.startswith(outer + "-"):
        return True
    return outer == "EU" and inner.split("-")[0] in EU_MEMBERS


def reaches(territory: list[str] | tuple[str, ...], jurisdictions: list[str]) -> bool:
    """Whether a rule's territory meets any of the audit's jurisdictions.

    Either may be the wider: a US-wide audit may have subjects in New York (a NY rule can
    apply), and a NY audit is within a US-wide rule.
    """
    return any(_within(j, t) or _within(t, j) for t in territory for j in jurisdictions)
