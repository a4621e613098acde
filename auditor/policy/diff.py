"""Law changes as data: which rules change status (or agency posture) between two dates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from auditor.policy.legal import BasisPeriod, EnforcementPeriod
from auditor.policy.loader import PolicyPack
from auditor.policy.schema import Rule


@dataclass(frozen=True)
class StatusChange:
    """One rule whose statutory status, citation or enforcement differs between two dates."""

    pack: str
    rule_id: str
    before: str
    after: str
    citation_before: str
    citation_after: str
    enforcement_before: str
    enforcement_after: str
    days: tuple[date, ...]
    notes: tuple[str, ...]

    @property
    def what(self) -> str:
        """``status`` / ``citation`` / ``enforcement``: what changed, comma-separated."""
        parts = []
        if self.before != self.after:
            parts.append("status")
        if self.citation_before != self.citation_after:
            parts.append("citation")
        if self.enforcement_before != self.enforcement_after:
            parts.append("enforcement")
        return ", ".join(parts)


@dataclass(frozen=True)
class LoggedChange:
    """A pack changelog entry dated within the window."""

    pack: str
    day: date
    change: str
    rules: tuple[str, ...]


def _citation(rule: Rule, day: date) -> str:
    period = rule.basis_on(day)
    return period.citation if period and period.citation else rule.citation


def _posture(rule: Rule, day: date) -> str:
    p = rule.enforcement_on(day)
    return f"{p.posture} ({p.by})" if p else "none recorded"


def status_changes(packs: list[PolicyPack], start: date, end: date) -> list[StatusChange]:
    """Rules whose status, citation or posture on ``end`` differs from that on ``start``.

    ``days`` are the dates in (start, end] on which the rule's periods change, so a change
    and its reversal inside the window still show where they happened.
    """
    out = []
    for pack in packs:
        for rule in pack.rules:
            days = tuple(d for d in rule.change_days() if start < d <= end)
            if not days:
                continue
            periods: list[BasisPeriod | EnforcementPeriod] = [
                *(rule.statutory_basis or []),
                *rule.enforcement,
            ]
            notes = tuple(
                " ".join(p.note.split()) for p in periods if p.note and p.from_ in days
            )
            out.append(
                StatusChange(
                    pack=pack.meta.id,
                    rule_id=rule.id,
                    before=rule.status_on(start),
                    after=rule.status_on(end),
                    citation_before=_citation(rule, start),
                    citation_after=_citation(rule, end),
                    enforcement_before=_posture(rule, start),
                    enforcement_after=_posture(rule, end),
                    days=days,
                    notes=notes,
                )
            )
    return out


def logged_changes(packs: list[PolicyPack], start: date, end: date) -> list[LoggedChange]:
    """Pack changelog entries dated in (start, end], oldest first."""
    out = [
        LoggedChange(pack.meta.id, e.date, " ".join(e.change.split()), tuple(e.rules))
        for pack in packs
        for e in pack.meta.changelog
        if start < e.date <= end
    ]
    return sorted(out, key=lambda c: (c.day, c.pack))
