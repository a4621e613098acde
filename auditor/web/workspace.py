"""Service functions behind the web pages and the JSON API (no HTTP in here).

Each function opens one transaction on the store, reads or changes what it names, and
returns plain values; the report's own context builders supply the audit detail, so a
page shows exactly what the PDF shows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from auditor.errors import AuditorError
from auditor.findings_view import FindingFilter, filtered
from auditor.history import trend_section
from auditor.result import FINDING_STATUSES, AuditResult
from auditor.store import AuditRow, Store, load_history, load_result
from auditor.store.models import Audit, Evaluation, Event, FindingRow, Report
from auditor.store.repository import AUDIT_COMPLETED, REPORT_ADDED, audit_row
from auditor.web.trend_chart import lowest_ratio_chart

FINDING_FILTERS = ("fail", "warn", "insufficient_evidence", "needs_attestation")


class NotFoundError(AuditorError):
    """The audit, report, letter, job or schedule asked for does not exist."""


@dataclass(frozen=True)
class StoredPdf:
    """One stored report PDF of an audit and what its digest check found."""

    audit_id: str
    name: str
    report_id: int
    pdf: bytes
    sha256: str
    matches_stored: bool
    logged_in_event: int | None
    preset: str = "full"
    created_at: Any = None

    @property
    def filename(self) -> str:
        """Download name: audit, id prefix, preset and report number (never ambiguous)."""
        return f"{self.name}-{self.audit_id[:8]}-{self.preset}-report{self.report_id}.pdf"

    @property
    def verified(self) -> bool:
        """True when the bytes match both the stored digest and the event log."""
        return self.matches_stored and self.logged_in_event is not None


def search_audits(
    store: Store,
    *,
    q: str | None = None,
    domain: str | None = None,
    finding: str | None = None,
    limit: int = 100,
) -> list[AuditRow]:
    """Stored audits, newest first: name or id containing ``q``, of ``domain``, and with
    at least one finding of status ``finding`` (one of :data:`FINDING_FILTERS`)."""
    stmt = select(Audit).order_by(Audit.created_at.desc(), Audit.id.desc()).limit(limit)
    if q:
        text = q.strip()
        stmt = stmt.where(
            or_(
                Audit.name.icontains(text, autoescape=True),
                Audit.id.icontains(text, autoescape=True),
            )
        )
    if domain:
        stmt = stmt.where(Audit.domain == domain)
    if finding in FINDING_FILTERS:
        # the finding rows decide, not the audit's count columns: those are a cache that
        # nothing re-derives (verify checks both against the result JSON and the log)
        # a later evaluation (issue 21) may have the status where the run had none; the
        # counts of the latest evaluation decide below
        later = getattr(Evaluation, f"findings_{finding}") > 0
        stmt = stmt.where(
            or_(
                Audit.id.in_(select(FindingRow.audit_id).where(FindingRow.status == finding)),
                Audit.id.in_(select(Evaluation.audit_id).where(later)),
            )
        )
    from auditor.store.evaluations import latest_counts

    with store.session() as session:
        rows = [audit_row(a) for a in session.scalars(stmt)]
        counted = _counts_from_findings(session, [r.id for r in rows])
        # an attestation's evaluation (issue 21) supersedes the run's findings
        counted.update(latest_counts(session, [r.id for r in rows]))
    found = [replace(r, findings=counted.get(r.id, dict.fromkeys(r.findings, 0))) for r in rows]
    if finding in FINDING_FILTERS:
        found = [r for r in found if r.findings.get(finding, 0) > 0]
    return found


def _counts_from_findings(session: Session, audit_ids: list[str]) -> dict[str, dict[str, int]]:
    """Findings per status of each audit, counted from its finding rows."""
    counts: dict[str, dict[str, int]] = {}
    if not audit_ids:
        return counts
    stmt = (
        select(FindingRow.audit_id, FindingRow.status, func.count())
        .where(FindingRow.audit_id.in_(audit_ids))
        .group_by(FindingRow.audit_id, FindingRow.status)
    )
    for audit_id, status, n in session.execute(stmt):
        counts.setdefault(audit_id, dict.fromkeys(FINDING_STATUSES, 0))[status] = int(n)
    return counts


def evidence_keys(result: AuditResult) -> list[dict[str, Any]]:
    """The evidence keys the audit's open findings ask for (named in their messages,
    ``evidence.KEY``), each with the rules that ask."""
    open_keys: dict[str, set[str]] = {}
    for f in result.findings:
        if f.status == "needs_attestation":
            for key in _EVIDENCE_NAME.findall(f.message):
                open_keys.setdefault(key, set()).add(f.rule_id)
    return [{"key": k, "rules": sorted(rules)} for k, rules in sorted(open_keys.items())]


_EVIDENCE_NAME = re.compile(r"evidence\.([A-Za-z0-9_]+)")


def audit_exists(store: Store, audit_id: str) -> None:
    """Raise :class:`NotFoundError` unless ``audit_id`` is stored."""
    with store.session() as session:
        if session.get(Audit, audit_id) is None:
            raise NotFoundError(f"No audit with id {audit_id!r} in the store.")


def audit_result(store: Store, audit_id: str) -> AuditResult:
    """The stored result of ``audit_id``."""
    audit_exists(store, audit_id)
    with store.session() as session:
        return load_result(session, audit_id)


def audit_summary(store: Store, audit_id: str) -> AuditRow:
    """The list-level summary of one audit (findings of its latest evaluation)."""
    from auditor.store.evaluations import latest_counts

    with store.session() as session:
        audit = session.get(Audit, audit_id)
        if audit is None:
            raise NotFoundError(f"No audit with id {audit_id!r} in the store.")
        row = audit_row(audit)
        latest = latest_counts(session, [audit_id])
    return replace(row, findings=latest[audit_id]) if audit_id in latest else row


TREND_PAGE_RUNS = 10
"""How many stored runs the audit page's trend table and chart go back."""


def audit_trend(
    store: Store, result: AuditResult, *, runs: int = TREND_PAGE_RUNS
) -> dict[str, Any] | None:
    """This run against the earlier stored runs of the same audit name (None: first run)."""
    with store.session() as session:
        history = load_history(session, result.name, limit=runs)
    return trend_section(history, result.audit_id)


def audit_page(
    store: Store,
    audit_id: str,
    *,
    finding_filter: FindingFilter | None = None,
    sort: str | None = None,
) -> dict[str, Any]:
    """Everything the audit detail page shows: the report's own context (summary, tables
    with intervals, charts, attribution and proxies, findings per pack), the trend, and
    the stored reports. ``finding_filter``/``sort`` narrow the findings section only (the
    summary keeps the audit's own counts)."""
    from auditor.report.context import build_context
    from auditor.store.letter_batches import load_letter_batches

    result = audit_result(store, audit_id)
    with store.session() as session:
        batches = load_letter_batches(session, audit_id)
    # the summary's "Letters" lines: each batch's issued/held/blocked and hold rate
    context = build_context(result, letters=batches)
    _narrow_findings(context, result, finding_filter or FindingFilter(), sort)
    with store.session() as session:
        ids = session.scalars(
            select(Report.id).where(Report.audit_id == audit_id).order_by(Report.id.desc())
        ).all()
    # every stored report, each checked on its own bytes (a re-render is a new row)
    checked = [stored_pdf(store, audit_id, report_id=i) for i in ids]
    try:
        pdf_check: StoredPdf | None = stored_pdf(store, audit_id)
    except NotFoundError:
        pdf_check = None
    from auditor.store import list_evaluations
    from auditor.store.signoffs import list_signoffs

    with store.session() as session:
        evaluations = list_evaluations(session, audit_id)
        signoffs = list_signoffs(session, audit_id)
        # read once for both the trend table and its chart
        history = load_history(session, result.name, limit=TREND_PAGE_RUNS)
    copies = {sg.signed_report_id for sg in signoffs}
    from auditor.web.evidence import EvidenceIndex, finding_evidence, row_anchor

    context.update(
        # each finding linked to its metric rows, charts, attested evidence and rule
        evidence=EvidenceIndex(finding_evidence(result, context["tables"])),
        row_anchor=row_anchor,
        signoffs=signoffs,
        # the report a sign-off button signs: the newest that is not itself a signed copy
        signable_report_id=next((i for i in ids if i not in copies), None),
        signoff_error=None,
        audit=audit_summary(store, audit_id),
        evaluations=evaluations,
        # the evidence the audit's rules still ask for (issue 21): what the form offers
        open_evidence=evidence_keys(result),
        attest_error=None,
        attest_text="",
        pdf_check=pdf_check,
        # the page has its own trend section (all earlier runs); the report's is left out
        trend=None,
        web_trend=trend_section(history, result.audit_id),
        trend_chart=lowest_ratio_chart(history, result.audit_id),
        # the other stored runs of this audit, newest first: what the compare form offers
        compare_choices=[
            {"audit_id": h.audit_id, "started_at": h.run.started_at}
            for h in reversed(history)
            if h.audit_id != result.audit_id
        ],
        reports=[
            {
                "id": c.report_id,
                "created_at": c.created_at,
                "sha256": c.sha256,
                "preset": c.preset,
                "verified": c.verified,
                "matches_stored": c.matches_stored,
                "event": c.logged_in_event,
            }
            for c in checked
        ],
    )
    return context


def stored_pdf(store: Store, audit_id: str, report_id: int | None = None) -> StoredPdf:
    """A stored PDF of ``audit_id``, checked against its digest and the log.

    ``report_id``: that report (it must belong to the audit); None: the latest report of
    the full preset (reports stored before presets were recorded count as full), else the
    latest of any preset. A re-render in another preset never replaces the full report.
    """
    audit = audit_summary(store, audit_id)
    with store.session() as session:
        stmt = select(Report).where(Report.audit_id == audit_id)
        if report_id is not None:
            report = session.scalars(stmt.where(Report.id == report_id)).first()
            if report is None:
                raise NotFoundError(f"Audit {audit_id} has no stored report {report_id}.")
        else:
            newest = stmt.order_by(Report.id.desc()).limit(1)
            full = newest.where(or_(Report.preset == "full", Report.preset.is_(None)))
            report = session.scalars(full).first() or session.scalars(newest).first()
        if report is None:
            raise NotFoundError(f"Audit {audit_id} has no stored report.")
        digest = hashlib.sha256(report.pdf).hexdigest()
        events = session.execute(
            select(Event.id, Event.payload)
            .where(Event.kind.in_((AUDIT_COMPLETED, REPORT_ADDED)))
            .where(Event.payload.contains(digest))
        ).all()
        return StoredPdf(
            audit_id=audit_id,
            name=audit.name,
            report_id=report.id,
            pdf=report.pdf,
            sha256=digest,
            matches_stored=digest == report.sha256,
            logged_in_event=events[0][0] if events else None,
            preset=report.preset or "full",
            created_at=report.created_at,
        )


def _narrow_findings(
    context: dict[str, Any], result: AuditResult, how: FindingFilter, sort: str | None
) -> None:
    """Rebuild the findings section's groups from the findings ``how`` keeps."""
    from auditor.report.context import action_counts
    from auditor.report.findings import build_by_scope, build_other_packs, build_packs

    context.update(
        finding_filter=how,
        finding_sort=sort or "",
        finding_packs=sorted({f.pack for f in result.findings}),
        findings_shown=len(result.findings),
    )
    if how == FindingFilter() and not sort:
        return
    kept = replace(result, findings=tuple(filtered(result, how, sort)))
    context.update(
        packs=build_packs(kept),
        by_scope=build_by_scope(kept),
        other_packs=build_other_packs(kept),
        action_counts=action_counts(kept),
        findings_shown=len(kept.findings),
    )
