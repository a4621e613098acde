"""Attest evidence for a stored audit: a new evaluation of the stored facts (issue 21).

The officer answers what a rule needs (DPIA date, notice, retention …); the rules that read
``evidence.*`` are evaluated again over the facts stored with the run — no model or data is
re-read — and the result is stored as the audit's next evaluation, the previous ones kept.
This module sits above the store: the store persists (:mod:`auditor.store.evaluations`),
the policy engine evaluates (:mod:`auditor.reevaluate`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from auditor.reevaluate import changed_findings, normalise_evidence, packs_of, reevaluate
from auditor.store.evaluations import (
    AttestOutcome,
    Document,
    begin_attestation,
    finish_attestation,
    load_evaluation,
    spec_dir_of,
)

__all__ = ["AttestOutcome", "Document", "attest"]


def attest(
    session: Session,
    audit_id: str,
    evidence: Mapping[str, Any],
    *,
    attested_by: str,
    user: str,
    document: Document | None = None,
    where: str = "evidence",
) -> AttestOutcome:
    """Store attested evidence and the evaluation it makes (no model, no data re-run).

    ``evidence`` is checked against the rules of the audit's own packs (a key no rule
    reads is refused, naming ``where``); the previous evaluations stay as they are. The
    caller owns the transaction.
    """
    previous = load_evaluation(session, audit_id)
    spec_dir = spec_dir_of(session, audit_id)
    packs = packs_of(previous, spec_dir=spec_dir)
    clean = normalise_evidence(evidence, packs, where=where)
    pending = begin_attestation(
        session, audit_id, previous, clean, attested_by=attested_by, user=user, document=document
    )
    kept = [a for a in previous.attested if a.key not in clean]
    result = reevaluate(
        previous,
        [*kept, *pending.added],
        packs=packs,
        evaluation=pending.row.number,
        spec_dir=spec_dir,
    )
    changed = changed_findings(previous, result)
    return finish_attestation(session, pending, result, changed, user=user)
