"""Attestations from the web workspace (issue 21): the form and the JSON API.

The person attesting is the signed-in user: the web never takes a name on trust.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.store import AttestOutcome, Document, EvaluationRow, Store
from auditor.store.signoffs import SignOffRow
from auditor.web.workspace import audit_exists

MAX_EVIDENCE_CHARS = 100_000
"""The evidence text a form or request may carry (a few keys; far below any real need)."""


def attest_evidence(
    store: Store,
    audit_id: str,
    evidence: Mapping[str, Any] | str,
    *,
    user: str,
    document: Document | None = None,
) -> AttestOutcome:
    """Attest ``evidence`` (a mapping, or YAML text from the form) for ``audit_id`` as
    ``user``; a bad key or value is an :class:`~auditor.errors.AuditorError` (400)."""
    from auditor.attest import attest
    from auditor.reevaluate import parse_evidence

    audit_exists(store, audit_id)
    values = parse_evidence(evidence, where="evidence") if isinstance(evidence, str) else evidence
    with store.session() as session:
        return attest(
            session,
            audit_id,
            values,
            attested_by=user,
            user=user,
            document=document,
            where="evidence",
        )


def evaluations(store: Store, audit_id: str) -> list[EvaluationRow]:
    """Every evaluation of ``audit_id`` (the run first)."""
    from auditor.store import list_evaluations

    audit_exists(store, audit_id)
    with store.session() as session:
        return list_evaluations(session, audit_id)


def evaluation_dict(row: EvaluationRow) -> dict[str, Any]:
    """An evaluation as the API returns it."""
    return {
        "evaluation": row.number,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "user": row.user,
        "result_sha256": row.result_sha256,
        "findings": row.findings,
        "attestations": row.attested,
        "latest": row.latest,
    }


def outcome_dict(outcome: AttestOutcome) -> dict[str, Any]:
    """What an attestation stored, as the API returns it."""
    return {
        "audit_id": outcome.audit_id,
        "evaluation": outcome.evaluation,
        "attestation_id": outcome.attestation_id,
        "result_sha256": outcome.result_sha256,
        "document_sha256": outcome.document_sha256,
        "findings": outcome.findings,
        "changed": outcome.changed,
    }


def sign_stored_report(
    store: Store, audit_id: str, report_id: int, *, role: str, user: str
) -> SignOffRow:
    """Sign report ``report_id`` as the signed-in ``user`` in ``role`` (issue 21)."""
    from auditor.signoff import sign_report

    audit_exists(store, audit_id)
    return sign_report(store, audit_id, report_id, signer=user, role=role, user=user).signoff


def audit_signoffs(store: Store, audit_id: str) -> list[SignOffRow]:
    """The audit's sign-offs, oldest first."""
    from auditor.store.signoffs import list_signoffs

    audit_exists(store, audit_id)
    with store.session() as session:
        return list_signoffs(session, audit_id)


def signoff_dict(row: SignOffRow) -> dict[str, Any]:
    """A sign-off as the API returns it."""
    return {
        "id": row.id,
        "audit_id": row.audit_id,
        "report_id": row.report_id,
        "report_sha256": row.report_sha256,
        "signed_report_id": row.signed_report_id,
        "signed_sha256": row.signed_sha256,
        "evaluation": row.evaluation,
        "signer": row.signer,
        "role": row.role,
        "signed_at": row.created_at.isoformat(timespec="seconds"),
        "current": row.current,
        "superseded_by": row.superseded_by,
    }
