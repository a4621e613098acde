"""Sign a stored report (issue 21): record who signed it in which role, and store the
signed copy, the same report rendered again with the sign-off block filled.

Orchestration only (store + report), in one transaction: a render or storage error
stores nothing. Used by ``auditor signoff``, the API and the audit page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from auditor.report import ReportArtifact
    from auditor.store import Store
    from auditor.store.signoffs import SignOffRow


@dataclass(frozen=True)
class SignedReport:
    """The recorded sign-off and the signed copy's rendering."""

    signoff: SignOffRow
    artifact: ReportArtifact


def sign_report(
    store: Store, audit_id: str, report_id: int, *, signer: str, role: str, user: str
) -> SignedReport:
    """Sign report ``report_id`` of ``audit_id`` as ``signer`` in ``role``.

    The report must show the audit's latest evaluation and be its latest report; the
    signed copy is rendered from the very result JSON stored with it (no model, no data).
    """
    from auditor.lda.evidence import stored_record_for
    from auditor.report import build_report
    from auditor.report.signature import Signature
    from auditor.result import AuditResult
    from auditor.service import TREND_RUNS
    from auditor.store import add_report, load_earlier_runs
    from auditor.store.signoffs import (
        MAX_ROLE_CHARS,
        check_name,
        list_signoffs,
        record_signoff,
        signable_report,
    )

    name = check_name(signer, "signer's name", 200)
    title = check_name(role, "signer's role", MAX_ROLE_CHARS)
    now = datetime.now(UTC).replace(microsecond=0)
    with store.session() as session:
        signable = signable_report(session, audit_id, report_id)
        result = AuditResult.from_json(signable.result_json)
        history = load_earlier_runs(session, result, limit=TREND_RUNS)
        earlier = tuple(
            (sg.signer, sg.role, sg.created_at.isoformat(timespec="seconds"))
            for sg in list_signoffs(session, audit_id)
            if sg.report_id == signable.report_id and sg.current
        )
        signature = Signature(
            signer=name,
            role=title,
            signed_at=now.isoformat(),
            report_id=signable.report_id,
            report_sha256=signable.sha256,
            evaluation=signable.evaluation,
            earlier=earlier,
        )
        artifact = build_report(
            result,
            preset=signable.preset,
            history=history,
            signoff=signature,
            lda=stored_record_for(session, result),  # the search the audit read, as then
        )
        copy_id = add_report(session, audit_id, artifact, user=user, result=result)
        row = record_signoff(
            session,
            audit_id=audit_id,
            signed=signable,
            signed_report_id=copy_id,
            signer=name,
            role=title,
            signed_at=now,
            user=user,
        )
    return SignedReport(row, artifact)
