"""Sign-offs of stored reports (issue 21), in the caller's transaction.

A sign-off names a stored report (by id and SHA-256), the person and the role; the signed
copy (the report rendered again with the sign-off block filled) is stored as a report
row by the caller first. A ``report.signed`` event seals the sign-off row. A sign-off is
*superseded* once the audit has a later evaluation (an attestation) or a later report
than the signed copy; that is derived, never written into the row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.store.events import append_event
from auditor.store.models import Evaluation, Report, SignOff

REPORT_SIGNED = "report.signed"
MAX_ROLE_CHARS = 100


@dataclass(frozen=True)
class SignOffRow:
    """A recorded sign-off and whether it still stands."""

    id: int
    audit_id: str
    report_id: int
    signed_report_id: int
    evaluation: int
    created_at: datetime
    signer: str
    role: str
    report_sha256: str
    signed_sha256: str
    superseded_by: str | None
    """Why it no longer stands ("evaluation 3", "report 12"), or None: current."""

    @property
    def current(self) -> bool:
        """True while no later evaluation or report supersedes it."""
        return self.superseded_by is None


@dataclass(frozen=True)
class Signable:
    """The stored report a sign-off is asked for, and the evaluation it shows."""

    report_id: int
    sha256: str
    preset: str
    result_json: str
    evaluation: int


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def check_name(value: str, what: str, limit: int) -> str:
    """A trimmed, non-empty name of at most ``limit`` characters (else a StorageError)."""
    text = " ".join(value.split())
    if not text:
        raise StorageError(f"Give the {what} (it may not be empty).")
    if len(text) > limit:
        raise StorageError(f"The {what} is longer than {limit} characters.")
    if CONTROL_CHARACTERS.search(text):  # PostgreSQL refuses NUL; terminals obey escapes
        raise StorageError(f"The {what} contains control characters; give it as plain text.")
    return text


def signable_report(session: Session, audit_id: str, report_id: int) -> Signable:
    """The report ``report_id`` of ``audit_id`` if it may be signed: it shows the audit's
    latest evaluation and no later report replaced it (else a StorageError says why).
    Signed copies of it do not count: several people may sign the same report."""
    report = session.get(Report, report_id)
    if report is None or report.audit_id != audit_id:
        raise StorageError(f"Audit {audit_id} has no stored report {report_id}.")
    evaluation = _evaluation_of(report.result_json)
    latest = _latest_evaluation(session, audit_id)
    if evaluation < latest:
        raise StorageError(
            f"Report {report_id} shows evaluation {evaluation} of audit {audit_id}; evaluation "
            f"{latest} is newer. Render the report again ('auditor report {audit_id}') and "
            "sign that one."
        )
    later = _later_report(session, audit_id, report_id, signed=report_id)
    if later is not None:
        raise StorageError(
            f"Report {report_id} of audit {audit_id} was superseded by report {later}; sign "
            "the latest report."
        )
    return Signable(
        report.id, report.sha256, report.preset or "full", report.result_json, evaluation
    )


def _later_report(session: Session, audit_id: str, after: int, *, signed: int) -> int | None:
    """The newest report of ``audit_id`` after report ``after``, not counting the signed
    copies of report ``signed`` (a second signer's copy does not replace the first's)."""
    copies = select(SignOff.signed_report_id).where(SignOff.report_id == signed)
    found = session.scalar(
        select(func.max(Report.id)).where(
            Report.audit_id == audit_id, Report.id > after, Report.id.not_in(copies)
        )
    )
    return None if found is None else int(found)


def _evaluation_of(result_json: str) -> int:
    try:
        return int(json.loads(result_json).get("evaluation", 1))
    except (ValueError, AttributeError, TypeError):
        return 1


def _latest_evaluation(session: Session, audit_id: str) -> int:
    found = session.scalar(
        select(func.max(Evaluation.number)).where(Evaluation.audit_id == audit_id)
    )
    return int(found) if found is not None else 1


def record_signoff(
    session: Session,
    *,
    audit_id: str,
    signed: Signable,
    signed_report_id: int,
    signer: str,
    role: str,
    signed_at: datetime,
    user: str,
) -> SignOffRow:
    """Store the sign-off of ``signed`` (its signed copy is ``signed_report_id``)."""
    copy = session.get(Report, signed_report_id)
    if copy is None or copy.audit_id != audit_id:
        raise StorageError(f"Audit {audit_id} has no stored report {signed_report_id}.")
    row = SignOff(
        audit_id=audit_id,
        report_id=signed.report_id,
        signed_report_id=signed_report_id,
        evaluation=signed.evaluation,
        created_at=signed_at,
        signer=signer,
        role=role,
        report_sha256=signed.sha256,
        signed_sha256=copy.sha256,
        user=user,
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        REPORT_SIGNED,
        {
            "audit_id": audit_id,
            "signoff_id": row.id,
            "signer": signer,
            "role": role,
            "report_id": signed.report_id,
            "report_sha256": signed.sha256,
            "signed_report_id": signed_report_id,
            "signed_sha256": copy.sha256,
            "evaluation": signed.evaluation,
        },
        user=user,
        sealed={"signoffs": [row.id]},
    )
    return list_signoffs(session, audit_id, only=row.id)[0]


def list_signoffs(
    session: Session, audit_id: str | None = None, *, only: int | None = None
) -> list[SignOffRow]:
    """Sign-offs (of one audit, or all), oldest first, each marked current or superseded."""
    stmt = select(SignOff).order_by(SignOff.id)
    if audit_id is not None:
        stmt = stmt.where(SignOff.audit_id == audit_id)
    if only is not None:
        stmt = stmt.where(SignOff.id == only)
    rows = []
    for s in session.scalars(stmt):
        latest = _latest_evaluation(session, s.audit_id)
        later = _later_report(session, s.audit_id, s.signed_report_id, signed=s.report_id)
        why = None
        if latest > s.evaluation:
            why = f"evaluation {latest}"
        elif later is not None:
            why = f"report {later}"
        rows.append(
            SignOffRow(
                s.id,
                s.audit_id,
                s.report_id,
                s.signed_report_id,
                s.evaluation,
                s.created_at,
                s.signer,
                s.role,
                s.report_sha256,
                s.signed_sha256,
                why,
            )
        )
    return rows


def signoff_problems(session: Session, audit_id: str | None = None) -> list[str]:
    """Each sign-off against the reports it names: the signed report and the signed
    copy must still be stored with the digests the sign-off recorded."""
    problems = []
    stmt = select(SignOff).order_by(SignOff.id)
    if audit_id is not None:
        stmt = stmt.where(SignOff.audit_id == audit_id)
    for s in session.scalars(stmt):
        for report_id, digest, what in (
            (s.report_id, s.report_sha256, "signed report"),
            (s.signed_report_id, s.signed_sha256, "signed copy"),
        ):
            stored = session.scalar(select(Report.sha256).where(Report.id == report_id))
            if stored != digest:
                problems.append(
                    f"audit {s.audit_id}, sign-off {s.id} by {s.signer!r}: the {what} "
                    f"(report {report_id}) no longer has the SHA-256 the sign-off recorded"
                )
    return problems
