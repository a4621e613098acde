"""Repository functions: read and write audits in the caller's session.

None of these functions commits; the caller owns the transaction (see
:meth:`auditor.store.Store.session`), so a failure anywhere leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.result import FINDING_STATUSES, AuditResult
from auditor.store.events import append_event
from auditor.store.models import Audit, FindingRow, Metric, Report
from auditor.store.row_values import finding_values as finding_values
from auditor.store.row_values import finite as _finite
from auditor.store.row_values import metric_values as metric_values

AUDIT_COMPLETED = "audit.completed"
AUDIT_FAILED = "audit.failed"
REPORT_ADDED = "report.added"


class ReportLike(Protocol):
    """A rendered report: its HTML, its PDF bytes and the PDF's SHA-256."""

    @property
    def html(self) -> str: ...

    @property
    def pdf(self) -> bytes: ...

    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class AuditRow:
    """Summary of a stored audit (plain values, usable after the session closes)."""

    id: str
    name: str
    domain: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    stored_at: datetime
    duration_s: float | None
    user: str
    host: str
    spec_sha256: str
    data_sha256: str
    model_sha256: str | None
    findings: Mapping[str, int]

    @property
    def failed(self) -> int:
        """Number of failed findings."""
        return self.findings.get("fail", 0)


@dataclass(frozen=True)
class ReportRow:
    """A stored report and the result JSON it was rendered from."""

    id: int
    audit_id: str
    created_at: datetime
    sha256: str
    pdf: bytes
    html: str
    result_json: str
    preset: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify`: what was checked and every problem found."""

    events: int
    audits: int
    reports: int
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    """Rows of covered tables compared with their seals."""
    audit_id: str | None = None
    """The one audit checked, or None for the whole store."""
    head: tuple[int, str] | None = None
    """The last event's id and hash (None: empty log)."""
    signoffs: list[Any] = field(default_factory=list)
    """Sign-offs of the reports checked (:class:`~auditor.store.signoffs.SignOffRow`)."""

    @property
    def ok(self) -> bool:
        """True when nothing was found altered or missing."""
        return not self.problems


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def _time(value: str, what: str, audit_id: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise StorageError(
            f"Audit {audit_id}: {what} {value!r} is not an ISO 8601 timestamp."
        ) from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _insert_report(
    session: Session, audit: Audit, report: ReportLike, result_json: str | None = None
) -> Report:
    digest = _sha256(report.pdf)
    if report.sha256 != digest:
        raise StorageError(
            f"The report for audit {audit.id} is inconsistent: its sha256 {report.sha256} is "
            f"not the SHA-256 of its PDF ({digest}); render it again."
        )
    row = Report(
        audit=audit,
        created_at=datetime.now(UTC),
        sha256=digest,
        pdf=report.pdf,
        html=report.html,
        result_json=result_json if result_json is not None else audit.result_json,
        preset=getattr(report, "preset", None),
    )
    session.add(row)
    return row


def save_audit(session: Session, result: AuditResult, *, report: ReportLike | None = None) -> None:
    """Store a completed audit, its metrics, findings, optional report and an event."""
    audit_id = result.audit_id
    if session.get(Audit, audit_id) is not None:
        raise StorageError(f"Audit {audit_id} is already stored; audit ids must be unique.")
    run = result.run
    result_json = result.to_json()
    counts = result.findings_by_status()
    audit = Audit(
        id=audit_id,
        name=result.name,
        domain=result.domain,
        status="completed",
        created_at=_time(run.started_at, "started_at", audit_id),
        finished_at=_time(run.finished_at, "finished_at", audit_id),
        stored_at=datetime.now(UTC),
        duration_s=_finite(run.duration_s),
        user=run.user,
        host=run.host,
        schema_version=result.schema_version,
        spec=result.to_dict()["spec"],
        spec_sha256=result.provenance.spec_sha256,
        data_sha256=result.provenance.data_sha256,
        model_sha256=result.provenance.model_sha256,
        result_json=result_json,
        result_sha256=_sha256(result_json),
        **{f"findings_{status}": counts[status] for status in FINDING_STATUSES},
    )
    audit.metrics = [Metric(**values) for values in metric_values(result)]
    audit.findings = [FindingRow(**values) for values in finding_values(result)]
    session.add(audit)
    stored = _insert_report(session, audit, report) if report is not None else None
    session.flush()
    payload: dict[str, Any] = {
        "audit_id": audit_id,
        "name": result.name,
        "result_sha256": audit.result_sha256,
        "report_sha256": stored.sha256 if stored is not None else None,
        "findings": counts,
    }
    if report is not None:
        payload["svg_fast_path"] = _fast_path(report)
    sealed: dict[str, list[Any]] = {t: [audit_id] for t in ("audits", "metrics", "findings")}
    if stored is not None:
        sealed["reports"] = [stored.id]
    append_event(session, AUDIT_COMPLETED, payload, user=run.user, sealed=sealed)


def add_report(
    session: Session,
    audit_id: str,
    report: ReportLike,
    *,
    user: str,
    result: AuditResult | None = None,
) -> int:
    """Store a re-rendered report of a stored audit as a new row (never in place); its id.

    ``result``: the evaluation it was rendered from when not the run itself (issue 21);
    its JSON is kept with the report.
    """
    audit = _get_audit(session, audit_id)
    rendered = result.to_json() if result is not None and result.evaluation > 1 else None
    row = _insert_report(session, audit, report, rendered)
    session.flush()
    append_event(
        session,
        REPORT_ADDED,
        {
            "audit_id": audit_id,
            "report_id": row.id,
            "report_sha256": row.sha256,
            "svg_fast_path": _fast_path(report),
        },
        user=user,
        sealed={"reports": [row.id]},
    )
    return row.id


def _fast_path(report: ReportLike) -> bool | None:
    """Whether auditor's SVG text fast path drew the report (None: not recorded)."""
    value = getattr(report, "svg_fast_path", None)
    return value if isinstance(value, bool) else None


def record_failed_run(session: Session, *, name: str, source: str, error: str, user: str) -> None:
    """Log a run that produced no result (an ``audit.failed`` event only; no audit rows)."""
    append_event(session, AUDIT_FAILED, {"name": name, "source": source, "error": error}, user=user)


def list_audits(session: Session, *, name: str | None = None, limit: int = 50) -> list[AuditRow]:
    """Stored audits, newest first, optionally only those called ``name``."""
    if limit < 1:
        raise ValueError(f"The 'limit' parameter of list_audits must be >= 1. Got {limit} instead.")
    stmt = (
        select(Audit)
        .order_by(Audit.created_at.desc(), Audit.stored_at.desc(), Audit.id.desc())
        .limit(limit)
    )
    if name is not None:
        stmt = stmt.where(Audit.name == name)
    from auditor.store.evaluations import latest_counts

    rows = [audit_row(a) for a in session.scalars(stmt)]
    # an attestation's evaluation (issue 21) supersedes the run's counts in listings
    latest = latest_counts(session, [r.id for r in rows])
    return [replace(r, findings=latest[r.id]) if r.id in latest else r for r in rows]


def load_history(session: Session, name: str, *, limit: int = 20) -> list[AuditResult]:
    """The stored results of the audit called ``name``: the newest ``limit``, oldest first."""
    if limit < 1:
        raise ValueError(
            f"The 'limit' parameter of load_history must be >= 1. Got {limit} instead."
        )
    ids = [row.id for row in list_audits(session, name=name, limit=limit)]
    return [load_result(session, audit_id) for audit_id in reversed(ids)]


def load_earlier_runs(
    session: Session, result: AuditResult, *, limit: int = 5
) -> list[AuditResult]:
    """The stored results of up to ``limit`` runs of the audit called ``result.name`` that
    started before ``result`` (oldest first): the history its report's trend is built from.

    Only ids are queried to pick the runs, so an audit with a long history stays cheap.
    """
    if limit < 1:
        raise ValueError(
            f"The 'limit' parameter of load_earlier_runs must be >= 1. Got {limit} instead."
        )
    started = _time(result.run.started_at, "started_at", result.audit_id)
    stmt = (
        select(Audit.id)
        .where(Audit.name == result.name, Audit.id != result.audit_id, Audit.created_at <= started)
        .order_by(Audit.created_at.desc(), Audit.id.desc())
        .limit(limit)
    )
    ids = list(session.scalars(stmt))
    return [load_result(session, audit_id) for audit_id in reversed(ids)]


def audit_row(a: Audit) -> AuditRow:
    """The listing row of one stored audit (id, name, status, findings by status, ...)."""
    counts: dict[str, int] = {s: int(getattr(a, f"findings_{s}")) for s in FINDING_STATUSES}
    return AuditRow(
        id=a.id,
        name=a.name,
        domain=a.domain,
        status=a.status,
        created_at=a.created_at,
        finished_at=a.finished_at,
        stored_at=a.stored_at,
        duration_s=a.duration_s,
        user=a.user,
        host=a.host,
        spec_sha256=a.spec_sha256,
        data_sha256=a.data_sha256,
        model_sha256=a.model_sha256,
        findings=counts,
    )


def _get_audit(session: Session, audit_id: str) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise StorageError(
            f"No audit with id {audit_id!r} in the store; check the id against the list "
            "of stored audits."
        )
    return audit


def load_result(session: Session, audit_id: str, *, evaluation: int | None = None) -> AuditResult:
    """The stored :class:`AuditResult` of ``audit_id``: its latest evaluation (attested
    evidence included, issue 21), or evaluation ``evaluation`` (1: the run as stored).
    Unknown ids and numbers raise StorageError."""
    from auditor.store.evaluations import load_evaluation

    return load_evaluation(session, audit_id, evaluation)


def get_report(session: Session, audit_id: str) -> ReportRow | None:
    """The latest report of ``audit_id``, or None when it has none."""
    stmt = (
        select(Report)
        .where(Report.audit_id == audit_id)
        .order_by(Report.created_at.desc(), Report.id.desc())
        .limit(1)
    )
    row = session.scalars(stmt).first()
    if row is None:
        return None
    return ReportRow(
        id=row.id,
        audit_id=row.audit_id,
        created_at=row.created_at,
        sha256=row.sha256,
        pdf=row.pdf,
        html=row.html,
        result_json=row.result_json,
        preset=row.preset,
    )


def verify(session: Session, audit_id: str | None = None) -> VerifyReport:
    """Check the event chain, every audit's and report's digest, and every stored row.

    Digests are compared both with the stored column and with the value recorded in
    the event log, so rewriting a document together with its digest is also caught. An
    audit recorded in the log but missing from the store is reported unless a
    ``db.pruned`` event (retention) records its deletion. Every row of the tables in
    :data:`~auditor.store.integrity.COVERED` is compared with the last seal the log
    recorded for it (see :mod:`auditor.store.verification`). With ``audit_id`` (a full
    id) only that audit's rows and documents are checked, and the whole chain.
    """
    from auditor.store.verification import verify_store

    outcome = verify_store(session, audit_id)
    return VerifyReport(
        events=outcome.events,
        audits=outcome.audits,
        reports=outcome.reports,
        problems=outcome.problems,
        rows=outcome.rows,
        audit_id=audit_id,
        head=outcome.head,
        signoffs=outcome.signoffs,
    )
