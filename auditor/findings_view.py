"""Working with findings (issue 21, item 4): filter and sort an audit's findings, and
compare two results (two audits, or two evaluations of one) — what changed, with the
intervals of the impact ratios behind it.

Pure functions over :class:`~auditor.result.AuditResult`; the web and the API call them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import AuditorError
from auditor.policy.verdict import RATIO_METRICS
from auditor.result import FINDING_STATUSES, SEVERITIES, AuditResult, Finding

SORT_KEYS = ("status", "severity", "rule", "pack", "scope")


class FindingFilterError(AuditorError):
    """A filter or sort value that is not one of the allowed ones."""


@dataclass(frozen=True)
class FindingFilter:
    """Which findings to keep: each given field must match (a group matches the scope
    ``attribute=group`` or any scope that contains it)."""

    status: str | None = None
    pack: str | None = None
    severity: str | None = None
    group: str | None = None

    def check(self, result: AuditResult) -> None:
        """Refuse a status, severity or pack the audit cannot have (naming the choices)."""
        problems = []
        if self.status and self.status not in FINDING_STATUSES:
            problems.append(f"status must be one of {', '.join(FINDING_STATUSES)}")
        if self.severity and self.severity not in SEVERITIES:
            problems.append(f"severity must be one of {', '.join(SEVERITIES)}")
        packs = sorted({f.pack for f in result.findings})
        if self.pack and self.pack not in packs:
            problems.append(f"pack must be one of this audit's packs: {', '.join(packs)}")
        if problems:
            raise FindingFilterError("Cannot filter the findings: " + "; ".join(problems) + ".")

    def keeps(self, f: Finding) -> bool:
        """Whether ``f`` passes every given condition."""
        return (
            (not self.status or f.status == self.status)
            and (not self.pack or f.pack == self.pack)
            and (not self.severity or f.severity == self.severity)
            and (not self.group or self.group in f.scope)
        )


def filtered(result: AuditResult, how: FindingFilter, sort: str | None = None) -> list[Finding]:
    """The findings ``how`` keeps, sorted by ``sort`` (None: the audit's own order).

    ``status`` sorts failed first (the report's order), ``severity`` the most severe first.
    """
    how.check(result)
    kept = [f for f in result.findings if how.keeps(f)]
    if sort is None or sort == "":
        return kept
    if sort not in SORT_KEYS:
        raise FindingFilterError(f"Cannot sort the findings by {sort!r}; use one of {SORT_KEYS}.")
    keys = {
        "status": lambda f: FINDING_STATUSES.index(f.status),
        "severity": lambda f: -SEVERITIES.index(f.severity),
        "rule": lambda f: f.rule_id,
        "pack": lambda f: f.pack,
        "scope": lambda f: f.scope,
    }
    return sorted(kept, key=keys[sort])  # stable: ties keep the audit's order


def finding_dict(f: Finding) -> dict[str, Any]:
    """A finding as the API returns it."""
    return {
        "rule_id": f.rule_id,
        "pack": f.pack,
        "title": f.title,
        "scope": f.scope,
        "status": f.status,
        "severity": f.severity,
        "observed": f.observed,
        "threshold": f.threshold,
        "citation": f.citation,
        "message": f.message,
    }


def _label(result: AuditResult) -> dict[str, Any]:
    return {
        "audit_id": result.audit_id,
        "name": result.name,
        "evaluation": result.evaluation,
        "started_at": result.run.started_at,
        "findings": result.findings_by_status(),
    }


def compare(before: AuditResult, after: AuditResult) -> dict[str, Any]:
    """What changed from ``before`` to ``after``: findings whose status changed (or that
    appear in one only), and each impact ratio with both intervals, flagged when the two
    95% intervals do not overlap (a screen for a change worth a look, not a test)."""
    was = {(f.rule_id, f.scope): f for f in before.findings}
    now = {(f.rule_id, f.scope): f for f in after.findings}
    changed = []
    for key in [*was, *[k for k in now if k not in was]]:
        a, b = was.get(key), now.get(key)
        if a is not None and b is not None and a.status == b.status:
            continue
        changed.append(
            {
                "rule_id": key[0],
                "scope": key[1],
                "before": a.status if a is not None else None,
                "after": b.status if b is not None else None,
                "observed_before": a.observed if a is not None else None,
                "observed_after": b.observed if b is not None else None,
            }
        )
    return {
        "before": _label(before),
        "after": _label(after),
        "findings_changed": changed,
        "ratios": _ratios(before.metrics, after.metrics),
    }


def _ratios(before: Iterable[Any], after: Iterable[Any]) -> list[dict[str, Any]]:
    def index(records: Iterable[Any]) -> dict[tuple[str, str, str], Any]:
        return {
            (m.attribute, m.group, m.metric): m for m in records if m.metric in RATIO_METRICS
        }

    a, b = index(before), index(after)
    rows = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        rows.append(
            {
                "attribute": key[0],
                "group": key[1],
                "metric": key[2],
                "before": _interval(x),
                "after": _interval(y),
                "intervals_apart": _apart(x, y),
            }
        )
    return rows


def _interval(m: Any) -> dict[str, Any] | None:
    if m is None:
        return None
    return {"value": m.value, "ci_low": m.ci_low, "ci_high": m.ci_high, "n": m.n}


def _apart(x: Any, y: Any) -> bool | None:
    bounds: Sequence[Any] = (
        (x.ci_low, x.ci_high, y.ci_low, y.ci_high) if x is not None and y is not None else ()
    )
    if not bounds or any(v is None for v in bounds):
        return None
    return bool(bounds[1] < bounds[2] or bounds[3] < bounds[0])
