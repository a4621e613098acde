"""The JSON API under ``/api`` (OpenAPI at ``/api/openapi.json``).

Authenticate with ``Authorization: Bearer <token>`` (``auditor users token NAME``) or a
browser session (then writes need the ``X-CSRF-Token`` header). Errors are
``{"detail": "..."}`` with 400 (bad input), 401, 403 or 404.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from auditor.errors import SpecError, StorageError
from auditor.letters.recipients import MAX_RECIPIENTS_CHARS, parse_recipients
from auditor.schedule import list_schedules, remove_schedule, set_enabled
from auditor.schedule.service import ScheduleInfo
from auditor.store import AuditRow, Document, load_result
from auditor.web.attestations import (
    attest_evidence,
    audit_signoffs,
    evaluation_dict,
    evaluations,
    outcome_dict,
    sign_stored_report,
    signoff_dict,
)
from auditor.web.auth import Principal, api_user, web
from auditor.web.catalog import (
    add_server_schedule,
    letters_for_decision,
    open_letter,
    policy_catalog,
)
from auditor.web.jobs import Job
from auditor.web.trail import trail_events
from auditor.web.uploads import parse_upload_isolated
from auditor.web.workspace import (
    NotFoundError,
    audit_exists,
    audit_result,
    audit_summary,
    audit_trend,
    search_audits,
    stored_pdf,
)

LetterId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
router = APIRouter(prefix="/api", tags=["api"])
Viewer = Annotated[Principal, Depends(api_user("viewer"))]
Officer = Annotated[Principal, Depends(api_user("officer"))]


class AuditOut(BaseModel):
    """A stored audit: identity, timing and findings per status."""

    id: str
    name: str
    domain: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    user: str
    spec_sha256: str
    data_sha256: str
    model_sha256: str | None
    findings: dict[str, int]


class JobOut(BaseModel):
    """A background audit started from an upload."""

    id: str
    name: str
    state: str = Field(description="queued | running | completed | failed")
    stage: str
    stages: list[str] = Field(description="Stages reached so far; the last is the current one")
    user: str
    created_at: datetime
    finished_at: datetime | None
    audit_id: str | None
    error: str | None
    kind: str = Field("audit", description="audit | letters")
    summary: str | None = Field(None, description="Letters jobs: issued, blocked, held")


class LettersRequest(BaseModel):
    """A batch of letters for a stored audit (as ``auditor letters``)."""

    audit_id: str = Field(min_length=1, max_length=64)
    kind: str | None = Field(None, max_length=32)
    decisions: str = Field("adverse", min_length=1, max_length=100_000)
    recipients_csv: str | None = Field(
        None,
        max_length=MAX_RECIPIENTS_CHARS,
        description="CSV text: decision_id, name, address_1..address_6 (as --recipients); "
        "kept in the job's memory only and printed in the letters",
    )


class DocumentIn(BaseModel):
    """A document kept with an attestation (its SHA-256 is recorded in the chain)."""

    name: str = Field(min_length=1, max_length=200)
    content_base64: str = Field(description="The file's bytes, base64-encoded")


class AttestationIn(BaseModel):
    """Evidence the caller attests for a stored audit (issue 21): the keys are those the
    audit's rules read under ``evidence.*``, e.g. ``{"retention_months": 25}``."""

    evidence: dict[str, Any] = Field(min_length=1)
    document: DocumentIn | None = None


class ScheduleOut(BaseModel):
    """A schedule with its last and next run."""

    name: str
    spec_path: str
    cron: str
    enabled: bool
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_status: str | None


class ScheduleIn(BaseModel):
    """A new schedule; ``spec_path`` is relative to the server's data root."""

    name: str = Field(max_length=200)
    spec_path: str = Field(max_length=4096)
    cron: str = Field(max_length=100)


class LetterOut(BaseModel):
    """A stored letter (``html`` only when one letter is asked for)."""

    id: int
    audit_id: str
    audit_name: str
    decision_id: str
    kind: str
    created_at: datetime
    sha256: str
    has_pdf: bool
    status: str | None = Field(None, description="issued | blocked | needs_review")
    review: dict[str, Any] | None = Field(
        None, description="Reason-stability review: needed, changed_share, draws, noise, threshold"
    )
    html: str | None = None
    intact: bool | None = None


class UserOut(BaseModel):
    """The caller."""

    name: str
    role: str


def _audit(row: AuditRow) -> AuditOut:
    return AuditOut(
        id=row.id, name=row.name, domain=row.domain, status=row.status,
        created_at=row.created_at, finished_at=row.finished_at, user=row.user,
        spec_sha256=row.spec_sha256, data_sha256=row.data_sha256,
        model_sha256=row.model_sha256, findings=dict(row.findings),
    )  # fmt: skip


def _job(job: Job) -> JobOut:
    return JobOut(
        id=job.id, name=job.name, state=job.state, stage=job.stage, stages=list(job.stages),
        user=job.user,
        created_at=job.created_at, finished_at=job.finished_at, audit_id=job.audit_id,
        error=job.error, kind=job.kind, summary=job.summary,
    )  # fmt: skip


def _schedule(s: ScheduleInfo) -> ScheduleOut:
    return ScheduleOut(
        name=s.name, spec_path=s.spec_path, cron=s.cron, enabled=s.enabled,
        last_run_at=s.last_run_at, next_run_at=s.next_run_at, last_status=s.last_status,
    )  # fmt: skip


@router.get("/me")
def me(who: Viewer) -> UserOut:
    """Who the token or session belongs to."""
    return UserOut(name=who.user.name, role=who.user.role)


@router.get("/audits")
def audits(
    request: Request,
    who: Viewer,
    q: Annotated[str | None, Query(max_length=200)] = None,
    domain: Annotated[str | None, Query(max_length=32)] = None,
    finding: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditOut]:
    """Stored audits, newest first, filtered by name/id text, domain and finding status."""
    rows = search_audits(web(request).store, q=q, domain=domain, finding=finding, limit=limit)
    return [_audit(r) for r in rows]


@router.get("/audits/{audit_id}")
def audit(request: Request, who: Viewer, audit_id: str) -> dict[str, Any]:
    """One audit: its summary, the full stored result and the trend against earlier runs."""
    store = web(request).store
    result = audit_result(store, audit_id)
    return {
        "audit": _audit(audit_summary(store, audit_id)).model_dump(mode="json"),
        "result": json.loads(result.to_json()),
        "trend": audit_trend(store, result),
    }


@router.post("/audits/{audit_id}/attestations", status_code=201)
def add_attestation(
    request: Request, who: Officer, audit_id: str, body: AttestationIn
) -> dict[str, Any]:
    """Attest evidence as the caller: the audit's evidence rules are evaluated again over
    its stored facts (no model or data run) and kept as a new evaluation; the earlier
    evaluations stay readable. A key no rule reads, or a bad value, is a 400."""
    document = None
    if body.document is not None:
        try:
            data = base64.b64decode(body.document.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise SpecError("document.content_base64 is not valid base64.") from None
        document = Document(body.document.name, data)
    outcome = attest_evidence(
        web(request).store, audit_id, body.evidence, user=who.name, document=document
    )
    return outcome_dict(outcome)


class SignOffIn(BaseModel):
    """The caller signs a stored report in this role (issue 21)."""

    role: str = Field(min_length=1, max_length=100)


@router.post("/audits/{audit_id}/reports/{report_id}/signoff", status_code=201)
def sign_off(
    request: Request,
    who: Officer,
    audit_id: str,
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    body: SignOffIn,
) -> dict[str, Any]:
    """Sign a stored report as the caller: an event with signer, role, time and the
    report's SHA-256, and a signed copy stored as a new report. The report must be the
    audit's latest and show its latest evaluation (else 400)."""
    row = sign_stored_report(
        web(request).store, audit_id, report_id, role=body.role, user=who.name
    )
    return signoff_dict(row)


@router.get("/audits/{audit_id}/signoffs")
def signoffs(request: Request, who: Viewer, audit_id: str) -> list[dict[str, Any]]:
    """The audit's sign-offs, oldest first, each current or superseded (and by what)."""
    return [signoff_dict(r) for r in audit_signoffs(web(request).store, audit_id)]


@router.get("/audits/{audit_id}/events")
def audit_events(request: Request, who: Viewer, audit_id: str) -> list[dict[str, Any]]:
    """The hash-chain events that concern the audit, oldest first, each with its hash."""
    return [e.to_dict() for e in trail_events(web(request).store, audit_id)]


@router.get("/audits/{audit_id}/findings")
def audit_findings(
    request: Request,
    who: Viewer,
    audit_id: str,
    status: Annotated[str | None, Query(max_length=32)] = None,
    pack: Annotated[str | None, Query(max_length=100)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=16)] = None,
    evaluation: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> list[dict[str, Any]]:
    """The audit's findings (latest evaluation, or ``evaluation``) filtered by status, pack,
    severity and group, sorted by status, severity, rule, pack or scope. Each carries its
    ``evidence``: the metric rows and charts it judged (links into the audit page), the
    evidence values it read (attested: who, when, document digest) and its rule."""
    from auditor.findings_view import FindingFilter, filtered, finding_dict
    from auditor.web.evidence import finding_evidence, finding_key, page_tables

    result = _evaluation(request, audit_id, evaluation)
    how = FindingFilter(status=status, pack=pack, severity=severity, group=group)
    kept = filtered(result, how, sort)
    evidence = finding_evidence(result, page_tables(result))
    page = f"/audits/{audit_id}"
    return [
        {**finding_dict(f), "evidence": [e.to_dict(page) for e in evidence[finding_key(f)]]}
        for f in kept
    ]


@router.get("/audits/{audit_id}/compare")
def compare_audits(
    request: Request,
    who: Viewer,
    audit_id: str,
    with_audit: Annotated[str | None, Query(max_length=64)] = None,
    with_evaluation: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    evaluation: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> dict[str, Any]:
    """What changed from ``with_audit`` (default: this audit) at ``with_evaluation``
    (default: 1 for this audit, the latest for another) to this audit (latest, or
    ``evaluation``): findings whose status changed, and impact ratios with both intervals."""
    from auditor.findings_view import compare

    other = with_audit or audit_id
    before_number = with_evaluation or (1 if other == audit_id else None)
    before = _evaluation(request, other, before_number)
    after = _evaluation(request, audit_id, evaluation)
    return compare(before, after)


def _evaluation(request: Request, audit_id: str, number: int | None) -> Any:
    store = web(request).store
    audit_exists(store, audit_id)
    with store.session() as session:
        try:
            return load_result(session, audit_id, evaluation=number)
        except StorageError as exc:
            raise NotFoundError(str(exc)) from None


@router.get("/audits/{audit_id}/evaluations")
def list_audit_evaluations(request: Request, who: Viewer, audit_id: str) -> list[dict[str, Any]]:
    """Every evaluation of the audit: the run (1), then one per attestation."""
    return [evaluation_dict(r) for r in evaluations(web(request).store, audit_id)]


@router.get("/audits/{audit_id}/evaluations/{number}")
def audit_evaluation(
    request: Request,
    who: Viewer,
    audit_id: str,
    number: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
) -> dict[str, Any]:
    """The full result of one evaluation (1: the run as stored)."""
    return dict(json.loads(_evaluation(request, audit_id, number).to_json()))


@router.get("/audits/{audit_id}/report.pdf", response_class=Response)
def audit_pdf(
    request: Request,
    who: Viewer,
    audit_id: str,
    report_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """A stored PDF: ``report_id``, else the latest full report; ``X-Report-SHA256`` and
    ``X-Report-Verified`` carry the check, ``X-Report-Id``/``X-Report-Preset`` say which."""
    stored = stored_pdf(web(request).store, audit_id, report_id=report_id)
    return Response(
        stored.pdf,
        media_type="application/pdf",
        headers={
            "X-Report-SHA256": stored.sha256,
            "X-Report-Verified": "yes" if stored.verified else "no",
            "X-Report-Id": str(stored.report_id),
            "X-Report-Preset": stored.preset,
        },
    )


@router.post("/audits", status_code=202)
async def start_audit(
    request: Request, who: Officer, spec: Annotated[UploadFile, File()]
) -> JobOut:
    """Start an audit from an uploaded spec (paths relative to the server's data root)."""
    ctx = web(request)
    content = await spec.read()  # at most the upload limit (BodyGuard)
    parsed, digest = await parse_upload_isolated(
        content, spec.filename or "spec.yaml", ctx.settings.data_root, ctx.settings.parse_limits
    )
    job = await run_in_threadpool(
        ctx.jobs.submit,
        parsed,
        source=spec.filename or "upload",
        user=who.name,
        spec_sha256=digest,
    )
    return _job(job)


@router.get("/jobs/{job_id}")
def job(request: Request, who: Viewer, job_id: str) -> JobOut:
    """A background audit's state and stage."""
    found = web(request).jobs.get(job_id)
    if found is None:
        raise NotFoundError(f"No audit job {job_id!r} on this server.")
    return _job(found)


@router.post("/letters/issue", status_code=202)
def issue_letters_job(request: Request, who: Officer, body: LettersRequest) -> JobOut:
    """Issue letters for a stored audit in the background (officers and admins only)."""
    ctx = web(request)
    audit_summary(ctx.store, body.audit_id)  # an unknown audit is a 404, not a failed job
    recipients = (
        parse_recipients(body.recipients_csv, source="recipients_csv")
        if body.recipients_csv is not None
        else None
    )
    jobs = ctx.jobs
    return _job(
        jobs.submit_letters(
            body.audit_id,
            kind=body.kind,
            decisions=body.decisions,
            user=who.name,
            recipients=recipients,
        )
    )


@router.get("/letters")
def letters(
    request: Request, who: Officer, decision_id: Annotated[str, Query(min_length=1, max_length=200)]
) -> list[LetterOut]:
    """Letters issued for a decision id (officers and admins only)."""
    rows = letters_for_decision(web(request).store, decision_id)
    return [LetterOut(**r.__dict__) for r in rows]


class ReviewIn(BaseModel):
    """A reviewer's act on a held or blocked letter (issue 21)."""

    action: str = Field(
        description="approve (a held letter is issued) | reject (never issued) | amend "
        "(state only the reasons in keep; the letter stays held)"
    )
    note: str | None = Field(None, max_length=2000)
    keep: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="amend: the features of the letter's own reasons to state",
    )


@router.get("/letters/review")
def letters_to_review(
    request: Request,
    who: Officer,
    audit_id: Annotated[str | None, Query(max_length=64)] = None,
    include_done: bool = False,
) -> list[dict[str, Any]]:
    """Held and blocked letters (``include_done``: also those reviewed), with history."""
    from auditor.letters.queue import review_queue

    rows = review_queue(web(request).store, audit_id=audit_id, include_done=include_done)
    return [
        {**{k: v for k, v in r.__dict__.items() if k != "created_at"},
         "created_at": r.created_at.isoformat(timespec="seconds")}
        for r in rows
    ]  # fmt: skip


@router.post("/letters/{letter_id}/review")
def review_held_letter(
    request: Request, who: Officer, letter_id: LetterId, body: ReviewIn
) -> dict[str, Any]:
    """Approve or reject a held letter as the caller (four eyes when the server has it
    on: the reviewer may not be who issued the letter). 400 when it cannot be done."""
    from auditor.letters.queue import amend_letter, review_letter

    ctx = web(request)
    if body.action == "amend":
        outcome = amend_letter(
            ctx.store, letter_id, body.keep, reviewer=who.name, note=body.note or "",
            four_eyes=ctx.settings.four_eyes,
        )  # fmt: skip
    else:
        outcome = review_letter(
            ctx.store, letter_id, body.action, reviewer=who.name, note=body.note,
            four_eyes=ctx.settings.four_eyes,
        )  # fmt: skip
    return {
        "letter_id": outcome.letter_id,
        "action": outcome.action,
        "status": outcome.status,
        "reviewer": outcome.reviewer,
        "sha256": outcome.sha256,
    }


@router.get("/letters/{letter_id}")
def letter(request: Request, who: Officer, letter_id: LetterId) -> LetterOut:
    """One letter with its HTML and whether it still matches its digest (read is logged)."""
    content = open_letter(web(request).store, letter_id, reader=who.name)
    return LetterOut(**content.row.__dict__, html=content.html, intact=content.intact)


@router.get("/schedules")
def schedules(request: Request, who: Viewer) -> list[ScheduleOut]:
    """All schedules with their last and next run."""
    return [_schedule(s) for s in list_schedules(web(request).store)]


@router.post("/schedules", status_code=201)
def add_schedule(request: Request, who: Officer, body: ScheduleIn) -> ScheduleOut:
    """Add a schedule (the spec is parsed now)."""
    ctx = web(request)
    info = add_server_schedule(
        ctx.store, body.name, body.spec_path, body.cron,
        data_root=ctx.settings.data_root, user=who.name,
    )  # fmt: skip
    return _schedule(info)


@router.post("/schedules/{name}/pause")
def pause_schedule(request: Request, who: Officer, name: str) -> ScheduleOut:
    """Pause a schedule."""
    return _schedule(set_enabled(web(request).store, name, False, user=who.name))


@router.post("/schedules/{name}/resume")
def resume_schedule(request: Request, who: Officer, name: str) -> ScheduleOut:
    """Resume a schedule at its next fire time."""
    return _schedule(set_enabled(web(request).store, name, True, user=who.name))


@router.delete("/schedules/{name}", status_code=204, response_class=Response)
def delete_schedule(request: Request, who: Officer, name: str) -> Response:
    """Remove a schedule and its run history (its audits stay)."""
    remove_schedule(web(request).store, name, user=who.name)
    return Response(status_code=204)


@router.get("/policies")
def policies(
    who: Viewer, domain: Annotated[str | None, Query(max_length=32)] = None
) -> list[dict[str, Any]]:
    """The policy packs and their rules, with citations and status."""
    return policy_catalog(domain=domain)
