"""HTML pages: letters (officers and admins only), schedules and policy packs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from auditor.errors import AuditorError
from auditor.letters.recipients import MAX_RECIPIENTS_CHARS, parse_recipients
from auditor.schedule import list_runs, list_schedules, remove_schedule, set_enabled
from auditor.web.auth import Principal, check_form_csrf, page_user, web
from auditor.web.catalog import (
    add_server_schedule,
    letters_for_decision,
    open_letter,
    policy_catalog,
)
from auditor.web.templating import render
from auditor.web.workspace import audit_summary

LetterId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]
router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(page_user("viewer"))]
Officer = Annotated[Principal, Depends(page_user("officer"))]
LETTER_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'"
)


def _letters_page(
    request: Request, decision_id: str | None = None, issue_error: str | None = None
) -> Response:
    found = letters_for_decision(web(request).store, decision_id) if decision_id else None
    context = {
        "title": "Letters",
        "decision_id": decision_id or "",
        "letters": found,
        "issue_error": issue_error,
    }
    return render(request, "letters.html.j2", context, 400 if issue_error else 200)


@router.get("/letters")
def letters(request: Request, who: Officer, decision_id: str | None = None) -> Response:
    return _letters_page(request, decision_id)


@router.post("/letters/issue")
async def letters_issue(
    request: Request,
    who: Officer,
    audit_id: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    decisions: Annotated[str, Form()] = "adverse",
    recipients: Annotated[UploadFile | None, File()] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(who, csrf)
    ctx = web(request)
    audit_id = audit_id.strip()
    if not audit_id or not decisions.strip():
        return _letters_page(
            request, issue_error="Name the audit and the decisions (adverse, all, or ids)."
        )
    # the database and a 20 MB CSV are worked on in a thread, never on the event loop
    await run_in_threadpool(audit_summary, ctx.store, audit_id)  # unknown: 404, not a job
    addressed = None
    if recipients is not None and recipients.filename:
        # parsed here, kept in the job's memory only: never written to disk or the store
        content = await recipients.read(MAX_RECIPIENTS_CHARS + 1)
        name = _safe(recipients.filename)
        try:
            if len(content) > MAX_RECIPIENTS_CHARS:
                raise AuditorError(f"Recipients file {name} is too large.")
            try:
                text = content.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise AuditorError(f"Recipients file {name} is not UTF-8 text.") from None
            addressed = await run_in_threadpool(parse_recipients, text, source=name)
        except AuditorError as exc:
            return _letters_page(request, issue_error=str(exc))
    job = await run_in_threadpool(
        ctx.jobs.submit_letters,
        audit_id,
        kind=kind or None,
        decisions=decisions.strip(),
        user=who.name,
        recipients=addressed,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/letters/review")
def letters_review(request: Request, who: Officer, review_error: str | None = None) -> Response:
    """The queue of held and blocked letters, and the ones already reviewed (issue 21)."""
    from auditor.letters.queue import review_queue

    queued = review_queue(web(request).store, include_done=True)
    context = {
        "title": "Letters to review",
        "queued": [q for q in queued if q.status in ("needs_review", "blocked")],
        "done": [q for q in queued if q.status not in ("needs_review", "blocked")],
        "four_eyes": web(request).settings.four_eyes,
        "review_error": review_error,
    }
    return render(request, "letters_review.html.j2", context, 400 if review_error else 200)


@router.post("/letters/{letter_id}/review")
async def letter_review(
    request: Request,
    who: Officer,
    letter_id: LetterId,
    action: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    keep: Annotated[list[str] | None, Form(max_length=200)] = None,
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """Approve, reject or amend a held letter as the signed-in reviewer."""
    from auditor.letters.queue import amend_letter, review_letter

    check_form_csrf(who, csrf)
    ctx = web(request)
    try:
        if action == "amend":
            await run_in_threadpool(
                amend_letter, ctx.store, letter_id, list(keep or []), reviewer=who.name,
                note=note, four_eyes=ctx.settings.four_eyes,
            )  # fmt: skip
        else:
            await run_in_threadpool(
                review_letter, ctx.store, letter_id, action, reviewer=who.name, note=note,
                four_eyes=ctx.settings.four_eyes,
            )  # fmt: skip
    except AuditorError as exc:
        return letters_review(request, who, review_error=str(exc))
    return RedirectResponse("/letters/review", status_code=303)


@router.get("/letters/{letter_id}")
def letter(request: Request, who: Officer, letter_id: LetterId) -> Response:
    from auditor.letters.queue import letter_history

    store = web(request).store
    content = open_letter(store, letter_id, reader=who.name)
    history = letter_history(store, letter_id)
    return render(
        request, "letter.html.j2", {"title": "Letter", "letter": content, "history": history}
    )


@router.get("/letters/{letter_id}/content")
def letter_content(request: Request, who: Officer, letter_id: LetterId) -> Response:
    """The letter's own HTML, sandboxed (no scripts, no requests), framed by the letter page."""
    content = open_letter(web(request).store, letter_id, reader=who.name)
    return Response(
        content.html,
        media_type="text/html",
        headers={"Content-Security-Policy": LETTER_CSP, "X-Frame-Options": "SAMEORIGIN"},
    )


@router.get("/letters/{letter_id}/pdf")
def letter_pdf(request: Request, who: Officer, letter_id: LetterId) -> Response:
    content = open_letter(web(request).store, letter_id, reader=who.name)
    if content.pdf is None:
        raise AuditorError(f"Letter {letter_id} was stored without a PDF; view its HTML.")
    name = f"letter-{content.row.decision_id}-{content.row.kind}.pdf"
    return Response(
        content.pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{_safe(name)}"',
            "X-Letter-SHA256": content.row.sha256,
        },
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _schedules_page(
    request: Request, error: str | None = None, form: dict[str, str] | None = None
) -> Response:
    ctx = web(request)
    context = {
        "title": "Schedules",
        "schedules": list_schedules(ctx.store),
        "runs": list_runs(ctx.store, limit=20),
        "error": error,
        "form": form or {"name": "", "spec_path": "", "cron": "0 6 * * 1"},
        "data_root": str(ctx.settings.data_root),
    }
    return render(request, "schedules.html.j2", context, 400 if error else 200)


@router.get("/schedules")
def schedules(request: Request, who: Viewer) -> Response:
    return _schedules_page(request)


@router.post("/schedules")
def schedule_add(
    request: Request,
    who: Officer,
    name: Annotated[str, Form()] = "",
    spec_path: Annotated[str, Form()] = "",
    cron: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_form_csrf(who, csrf)
    ctx = web(request)
    try:
        add_server_schedule(
            ctx.store, name, spec_path, cron, data_root=ctx.settings.data_root, user=who.name
        )
    except AuditorError as exc:
        form = {"name": name, "spec_path": spec_path, "cron": cron}
        return _schedules_page(request, str(exc), form)
    return RedirectResponse("/schedules", status_code=303)


@router.post("/schedules/{name}/{action}")
def schedule_change(
    request: Request, who: Officer, name: str, action: str, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_form_csrf(who, csrf)
    store = web(request).store
    if action == "remove":
        remove_schedule(store, name, user=who.name)
    elif action in ("pause", "resume"):
        set_enabled(store, name, action == "resume", user=who.name)
    else:
        raise AuditorError(f"Unknown schedule action {action!r}; use pause, resume or remove.")
    return RedirectResponse("/schedules", status_code=303)


@router.get("/policies")
def policies(request: Request, who: Viewer, domain: str | None = None) -> Response:
    packs = policy_catalog(domain=domain or None)
    context = {"title": "Policy packs", "packs": packs, "domain": domain or ""}
    return render(request, "policies.html.j2", context)
