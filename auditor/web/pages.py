"""HTML pages: login, the audits list and detail, PDF download, new audits and jobs."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from auditor.errors import AuditorError, SpecError
from auditor.findings_view import FindingFilter
from auditor.store import Document
from auditor.users import authenticate, record_login
from auditor.web.attestations import MAX_EVIDENCE_CHARS, attest_evidence, sign_stored_report
from auditor.web.auth import Principal, check_form_csrf, page_user, web
from auditor.web.ops_pages import router as ops_router
from auditor.web.sessions import COOKIE, end_session, start_session
from auditor.web.templating import render
from auditor.web.trail import trail_page
from auditor.web.uploads import parse_upload_isolated
from auditor.web.workspace import (
    FINDING_FILTERS,
    NotFoundError,
    StoredPdf,
    audit_page,
    search_audits,
)
from auditor.web.workspace import stored_pdf as load_pdf

router = APIRouter(include_in_schema=False)
router.include_router(ops_router)
LOGIN_COOKIE = "auditor_login_csrf"
Viewer = Annotated[Principal, Depends(page_user("viewer"))]
Officer = Annotated[Principal, Depends(page_user("officer"))]


def _secure(request: Request) -> bool:
    setting = web(request).settings.secure_cookies
    return setting if setting is not None else request.url.scheme == "https"


def _local(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/audits"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    token = secrets.token_hex(16)
    context = {"title": "Sign in", "login_csrf": token, "next": _local(next), "error": None}
    response = render(request, "login.html.j2", context)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), max_age=900
    )
    return response


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/audits",
) -> Response:
    ctx = web(request)
    client = request.client.host if request.client else "unknown"
    expected = request.cookies.get(LOGIN_COOKIE, "")
    context = {
        "title": "Sign in",
        "login_csrf": expected or secrets.token_hex(16),
        "next": _local(next),
        "error": "Too many failed sign-ins; wait a few minutes and try again.",
    }
    if not ctx.logins.allowed(client, name):
        return render(request, "login.html.j2", context, 429)
    user = None
    if expected and secrets.compare_digest(expected, csrf):
        user = authenticate(ctx.store, name, password)
    if user is None:
        ctx.logins.failed(client, name)
        # the event log cannot be pruned, so failures are logged at a bounded rate
        log, unlogged = ctx.logins.claim_log_slot()
        if log:
            record_login(ctx.store, name, ok=False, unlogged_failures=unlogged)
        context["error"] = "Wrong name or password, or the sign-in form expired."
        return render(request, "login.html.j2", context, 401)
    record_login(ctx.store, name, ok=True)
    ctx.logins.succeeded(client, name)
    value, _ = start_session(ctx.store, user.id, hours=ctx.settings.session_hours)
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        max_age=int(ctx.settings.session_hours * 3600),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, who: Viewer, csrf: Annotated[str, Form()] = "") -> Response:
    check_form_csrf(who, csrf)
    # the row goes, so a copy of this cookie is refused from now on, not only forgotten
    end_session(web(request).store, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(who: Viewer) -> Response:
    return RedirectResponse("/audits", status_code=303)


@router.get("/audits")
def audits(
    request: Request,
    who: Viewer,
    q: str | None = None,
    domain: str | None = None,
    finding: str | None = None,
) -> Response:
    rows = search_audits(web(request).store, q=q, domain=domain or None, finding=finding)
    context = {
        "title": "Audits",
        "rows": rows,
        "q": q or "",
        "domain": domain or "",
        "finding": finding or "",
        "finding_filters": FINDING_FILTERS,
        "jobs": web(request).jobs.list()[:5],
    }
    return render(request, "audits.html.j2", context)


@router.get("/audits/new")
def new_audit_form(request: Request, who: Officer) -> Response:
    context = {
        "title": "New audit",
        "error": None,
        "data_root": str(web(request).settings.data_root),
    }
    return render(request, "new_audit.html.j2", context)


@router.post("/audits/new")
async def new_audit(
    request: Request,
    who: Officer,
    spec: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(who, csrf)
    ctx = web(request)
    content = await spec.read()  # at most the upload limit (BodyGuard)
    try:
        parsed, digest = await parse_upload_isolated(
            content, spec.filename or "spec.yaml", ctx.settings.data_root, ctx.settings.parse_limits
        )
    except SpecError as exc:
        context = {
            "title": "New audit",
            "error": str(exc),
            "data_root": str(ctx.settings.data_root),
        }
        return render(request, "new_audit.html.j2", context, 400)
    job = await run_in_threadpool(
        ctx.jobs.submit,
        parsed,
        source=spec.filename or "upload",
        user=who.name,
        spec_sha256=digest,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/jobs/{job_id}")
def job_page(request: Request, who: Viewer, job_id: str) -> Response:
    job = web(request).jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"No audit job {job_id!r} on this server (jobs end with a restart).")
    return render(request, "job.html.j2", {"title": f"Audit {job.name}", "job": job})


@router.get("/audits/{audit_id}")
def audit_detail(
    request: Request,
    who: Viewer,
    audit_id: str,
    status: Annotated[str | None, Query(max_length=32)] = None,
    pack: Annotated[str | None, Query(max_length=100)] = None,
    severity: Annotated[str | None, Query(max_length=16)] = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    how = FindingFilter(
        status=status or None, pack=pack or None, severity=severity or None, group=group or None
    )
    context = audit_page(web(request).store, audit_id, finding_filter=how, sort=sort or None)
    context["title"] = context["audit"].name
    return render(request, "audit.html.j2", context)


@router.get("/audits/{audit_id}/trail")
def audit_trail_page(request: Request, who: Viewer, audit_id: str) -> Response:
    """Every chain event that concerns the audit, with its hash."""
    return render(request, "trail.html.j2", trail_page(web(request).store, audit_id))


@router.get("/audits/{audit_id}/compare")
def audit_compare(
    request: Request,
    who: Viewer,
    audit_id: str,
    with_audit: Annotated[str | None, Query(max_length=64)] = None,
    with_evaluation: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Two evaluations or two audits side by side: what changed, with intervals."""
    from auditor.errors import StorageError
    from auditor.findings_view import compare
    from auditor.store import load_result

    store = web(request).store
    other = with_audit or audit_id
    with store.session() as session:
        try:
            before = load_result(
                session, other, evaluation=with_evaluation or (1 if other == audit_id else None)
            )
            after = load_result(session, audit_id)
        except StorageError as exc:
            raise NotFoundError(str(exc)) from None
    context = {"title": f"Compare {after.name}", "audit_id": audit_id, "c": compare(before, after)}
    return render(request, "compare.html.j2", context)


@router.post("/audits/{audit_id}/attest")
async def attest_form(
    request: Request,
    who: Officer,
    audit_id: str,
    evidence: Annotated[str, Form(max_length=MAX_EVIDENCE_CHARS)] = "",
    document: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Attest evidence as the signed-in officer (issue 21): a new evaluation, no re-run."""
    check_form_csrf(who, csrf)
    store = web(request).store
    attached = None
    if document is not None and document.filename:
        attached = Document(document.filename, await document.read())
    try:
        outcome = await run_in_threadpool(
            attest_evidence, store, audit_id, evidence, user=who.name, document=attached
        )
    except AuditorError as exc:
        if isinstance(exc, NotFoundError):
            raise
        context = audit_page(store, audit_id)
        context.update(title=context["audit"].name, attest_error=str(exc), attest_text=evidence)
        return render(request, "audit.html.j2", context, 400)
    return RedirectResponse(
        f"/audits/{audit_id}?evaluation={outcome.evaluation}#sec-evaluations", status_code=303
    )


@router.post("/audits/{audit_id}/reports/{report_id}/signoff")
async def signoff_form(
    request: Request,
    who: Officer,
    audit_id: str,
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    role: Annotated[str, Form(max_length=100)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Sign a stored report as the signed-in officer (issue 21)."""
    check_form_csrf(who, csrf)
    store = web(request).store
    try:
        await run_in_threadpool(
            sign_stored_report, store, audit_id, report_id, role=role, user=who.name
        )
    except AuditorError as exc:
        if isinstance(exc, NotFoundError):
            raise
        context = audit_page(store, audit_id)
        context.update(title=context["audit"].name, signoff_error=str(exc))
        return render(request, "audit.html.j2", context, 400)
    return RedirectResponse(f"/audits/{audit_id}#sign-offs", status_code=303)


@router.get("/audits/{audit_id}/report.pdf")
def audit_pdf(
    request: Request,
    who: Viewer,
    audit_id: str,
    report: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The PDF of stored report ``report`` (default: the latest full report)."""
    return _pdf_response(load_pdf(web(request).store, audit_id, report_id=report))


@router.get("/audits/{audit_id}/reports/{report_id}.pdf")
def audit_report_pdf(
    request: Request,
    who: Viewer,
    audit_id: str,
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
) -> Response:
    """The PDF of one stored report, by its id (what each button on the audit page names)."""
    return _pdf_response(load_pdf(web(request).store, audit_id, report_id=report_id))


def _pdf_response(stored: StoredPdf) -> Response:
    return Response(
        stored.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{_filename(stored.filename)}"',
            "X-Report-SHA256": stored.sha256,
            "X-Report-Verified": "yes" if stored.verified else "no",
            "X-Report-Id": str(stored.report_id),
            "X-Report-Preset": stored.preset,
        },
    )


def _filename(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
