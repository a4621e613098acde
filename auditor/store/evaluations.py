"""Attestations and the evaluations they make (issue 21), in the caller's transaction.

Evaluation 1 of an audit is the run itself (the ``audits`` row and its result JSON,
never changed). Each attestation stores the evidence, who attested it and when (and an
optional document with its SHA-256), evaluates the audit's evidence rules again over the
stored facts (:mod:`auditor.reevaluate`: no model, no data) and stores the result as the
next evaluation. One ``audit.attested`` event seals both rows, so ``auditor verify``
detects any later change to them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.result import FINDING_STATUSES, AttestedEvidence, AuditResult
from auditor.store.events import append_event
from auditor.store.models import NAME, Attestation, Audit, DecisionSet, Evaluation
from auditor.store.signoffs import CONTROL_CHARACTERS

AUDIT_ATTESTED = "audit.attested"
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
"""The largest document kept with an attestation (a signed DPIA, a notice as sent)."""


@dataclass(frozen=True)
class Document:
    """A file attached to an attestation."""

    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        """The SHA-256 of its bytes."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class AttestOutcome:
    """What :func:`attest` stored: the new evaluation and the findings it changed."""

    audit_id: str
    evaluation: int
    attestation_id: int
    result_sha256: str
    findings: dict[str, int]
    changed: list[dict[str, Any]] = field(default_factory=list)
    document_sha256: str | None = None


@dataclass(frozen=True)
class EvaluationRow:
    """One evaluation of an audit, for listings (``auditor evaluations``, the API)."""

    number: int
    created_at: datetime
    user: str
    result_sha256: str
    findings: dict[str, int]
    attested: list[dict[str, Any]]
    """The attestations made for this evaluation: id, by, when, keys, document digest."""
    latest: bool = False


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _audit(session: Session, audit_id: str) -> Audit:
    audit = session.get(Audit, audit_id)
    if audit is None:
        raise StorageError(
            f"No audit with id {audit_id!r} in the store; 'auditor history NAME' lists stored "
            "audits with their ids."
        )
    return audit


def _latest(session: Session, audit_id: str) -> Evaluation | None:
    return session.scalars(
        select(Evaluation)
        .where(Evaluation.audit_id == audit_id)
        .order_by(Evaluation.number.desc())
        .limit(1)
    ).first()


def _parse(text: str, what: str) -> AuditResult:
    try:
        return AuditResult.from_json(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise StorageError(f"The stored result of {what} cannot be read: {exc}") from exc


def load_evaluation(session: Session, audit_id: str, number: int | None = None) -> AuditResult:
    """The result of evaluation ``number`` of ``audit_id`` (None: the latest; 1: the run)."""
    audit = _audit(session, audit_id)
    if number is None:
        row = _latest(session, audit_id)
    elif number == 1:
        row = None
    else:
        row = session.scalars(
            select(Evaluation).where(Evaluation.audit_id == audit_id, Evaluation.number == number)
        ).first()
        if row is None:
            last = _latest(session, audit_id)
            raise StorageError(
                f"Audit {audit_id} has no evaluation {number}; its evaluations are 1 to "
                f"{last.number if last is not None else 1}."
            )
    if row is None:
        return _parse(audit.result_json, f"audit {audit_id}")
    return _parse(row.result_json, f"evaluation {row.number} of audit {audit_id}")


def latest_counts(session: Session, audit_ids: list[str]) -> dict[str, dict[str, int]]:
    """Findings by status of the latest later evaluation of each audit that has one."""
    if not audit_ids:
        return {}
    newest = (
        select(Evaluation.audit_id, func.max(Evaluation.number).label("number"))
        .where(Evaluation.audit_id.in_(audit_ids))
        .group_by(Evaluation.audit_id)
        .subquery()
    )
    rows = session.scalars(
        select(Evaluation).join(
            newest,
            (Evaluation.audit_id == newest.c.audit_id) & (Evaluation.number == newest.c.number),
        )
    )
    return {row.audit_id: _counts(row) for row in rows}


def _counts(row: Audit | Evaluation) -> dict[str, int]:
    return {s: int(getattr(row, f"findings_{s}")) for s in FINDING_STATUSES}


def list_evaluations(session: Session, audit_id: str) -> list[EvaluationRow]:
    """Every evaluation of ``audit_id``, the run first, each with its attestations."""
    audit = _audit(session, audit_id)
    later = list(
        session.scalars(
            select(Evaluation).where(Evaluation.audit_id == audit_id).order_by(Evaluation.number)
        )
    )
    by_evaluation: dict[int, list[dict[str, Any]]] = {}
    for a in session.scalars(
        select(Attestation).where(Attestation.audit_id == audit_id).order_by(Attestation.id)
    ):
        by_evaluation.setdefault(a.evaluation_id, []).append(
            {
                "id": a.id,
                "by": a.attested_by,
                "at": a.created_at.isoformat(timespec="seconds"),
                "keys": sorted(a.evidence),
                "document_name": a.document_name,
                "document_sha256": a.document_sha256,
            }
        )
    rows = [EvaluationRow(1, audit.stored_at, audit.user, audit.result_sha256, _counts(audit), [])]
    rows += [
        EvaluationRow(
            e.number, e.created_at, e.user, e.result_sha256, _counts(e), by_evaluation.get(e.id, [])
        )
        for e in later
    ]
    last = rows[-1]
    rows[-1] = EvaluationRow(
        last.number,
        last.created_at,
        last.user,
        last.result_sha256,
        last.findings,
        last.attested,
        latest=True,
    )
    return rows


@dataclass
class PendingAttestation:
    """The rows of an attestation being recorded, before its evaluation is known.

    Recording is two steps because the new evaluation's findings are computed *above* the
    store (the policy engine re-reads the stored facts, :mod:`auditor.attest`): the store
    only persists, it never evaluates rules.
    """

    row: Evaluation
    attestation: Attestation
    added: list[AttestedEvidence]


def _check_name(value: str, what: str) -> None:
    """Refuse a name its column cannot keep on every database: longer than the column
    (PostgreSQL refuses it, SQLite would keep it whole) or with control characters
    (PostgreSQL refuses NUL), before anything is written."""
    limit = NAME.length  # attestations.attested_by and .document_name
    if limit is not None and len(value) > limit:
        raise StorageError(
            f"{what} is {len(value)} characters; at most {limit} characters are kept. "
            "Shorten it (rename the file) and attest again."
        )
    if CONTROL_CHARACTERS.search(value):
        raise StorageError(f"{what} contains control characters; give it as plain text.")


def spec_dir_of(session: Session, audit_id: str) -> Path | None:
    """The folder the audit's spec was read from (relative paths in it resolve there)."""
    spec_dir = session.scalar(select(DecisionSet.spec_dir).where(DecisionSet.audit_id == audit_id))
    return Path(spec_dir) if spec_dir else None


def begin_attestation(
    session: Session,
    audit_id: str,
    previous: AuditResult,
    clean: Mapping[str, Any],
    *,
    attested_by: str,
    user: str,
    document: Document | None = None,
) -> PendingAttestation:
    """Insert the attestation and an (empty) evaluation row numbered after ``previous``."""
    if not attested_by.strip():
        raise StorageError("Name the person who attests the evidence (--by).")
    _check_name(attested_by.strip(), "The attester's name (--by)")
    if document is not None:
        _check_name(document.name, f"The document's file name {document.name!r}")
    if document is not None and len(document.data) > MAX_DOCUMENT_BYTES:
        raise StorageError(
            f"Document {document.name!r} is {len(document.data):,} bytes; at most "
            f"{MAX_DOCUMENT_BYTES:,} are kept with an attestation."
        )
    _audit(session, audit_id)
    now = datetime.now(UTC)
    row = Evaluation(
        audit_id=audit_id,
        number=previous.evaluation + 1,
        created_at=now,
        user=user,
        result_json="",
        result_sha256="",
        **{f"findings_{s}": 0 for s in FINDING_STATUSES},
    )
    session.add(row)
    session.flush()
    attestation = Attestation(
        audit_id=audit_id,
        evaluation_id=row.id,
        created_at=now,
        attested_by=attested_by.strip(),
        user=user,
        evidence=dict(clean),
        document_name=document.name if document is not None else None,
        document_sha256=document.sha256 if document is not None else None,
        document=document.data if document is not None else None,
    )
    session.add(attestation)
    session.flush()
    at = now.isoformat(timespec="seconds")
    added = [
        AttestedEvidence(
            key,
            value,
            attestation.attested_by,
            at,
            attestation.id,
            attestation.document_name,
            attestation.document_sha256,
        )
        for key, value in clean.items()
    ]
    return PendingAttestation(row, attestation, added)


def finish_attestation(
    session: Session,
    pending: PendingAttestation,
    result: AuditResult,
    changed: list[dict[str, Any]],
    *,
    user: str,
) -> AttestOutcome:
    """Store the new evaluation's result and seal both rows with an ``audit.attested`` event."""
    row, attestation = pending.row, pending.attestation
    text = result.to_json()
    counts = result.findings_by_status()
    row.result_json = text
    row.result_sha256 = _sha256(text)
    for status in FINDING_STATUSES:
        setattr(row, f"findings_{status}", counts[status])
    session.flush()
    append_event(
        session,
        AUDIT_ATTESTED,
        {
            "audit_id": row.audit_id,
            "evaluation": row.number,
            "attestation_id": attestation.id,
            "attested_by": attestation.attested_by,
            "keys": sorted(attestation.evidence),
            "document_sha256": attestation.document_sha256,
            "result_sha256": row.result_sha256,
            "findings": counts,
            "changed": changed,
        },
        user=user,
        sealed={"evaluations": [row.id], "attestations": [attestation.id]},
    )
    return AttestOutcome(
        row.audit_id,
        row.number,
        attestation.id,
        row.result_sha256,
        counts,
        changed,
        attestation.document_sha256,
    )


def evaluation_problems(session: Session, audit_id: str | None = None) -> list[str]:
    """Each later evaluation's result JSON and each attested document against its
    SHA-256 (verify layer 2: names what was altered, beyond the row seals)."""
    problems: list[str] = []
    stmt = select(
        Evaluation.audit_id, Evaluation.number, Evaluation.result_json, Evaluation.result_sha256
    ).order_by(Evaluation.id)
    if audit_id is not None:
        stmt = stmt.where(Evaluation.audit_id == audit_id)
    for owner, number, text, digest in session.execute(stmt):
        if _sha256(text) != digest:
            problems.append(
                f"audit {owner}, evaluation {number}: stored result JSON does not match its "
                "SHA-256 (altered)"
            )
    docs = select(
        Attestation.id, Attestation.audit_id, Attestation.document, Attestation.document_sha256
    ).where(Attestation.document.is_not(None))
    if audit_id is not None:
        docs = docs.where(Attestation.audit_id == audit_id)
    for attestation_id, owner, data, recorded in session.execute(docs):
        if hashlib.sha256(bytes(data or b"")).hexdigest() != recorded:
            problems.append(
                f"audit {owner}, attestation {attestation_id}: the attached document does not "
                "match its SHA-256 (altered)"
            )
    return problems
