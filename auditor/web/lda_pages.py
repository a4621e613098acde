"""The web view of stored searches for less discriminatory alternatives (issue 22).

Pages: the searches stored for an audit (same audit name; the ones made for the audit's
own model file marked) and one page per search with its table and frontier chart, plus
its standalone PDF. API: the record itself as JSON. Viewers may read all of it, as they
may read the audits; a search is named by its record's SHA-256, the digest the report
section and the packs' findings cite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from auditor.store import AuditRow, Store
from auditor.store.lda_records import StoredSearch, stored_search_by_digest, stored_searches
from auditor.web.auth import Principal, api_user, page_user, web
from auditor.web.templating import render
from auditor.web.workspace import NotFoundError, audit_summary

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api", tags=["api"])
Viewer = Annotated[Principal, Depends(page_user("viewer"))]
ApiViewer = Annotated[Principal, Depends(api_user("viewer"))]
Digest = Annotated[str, PathParam(pattern=r"^[0-9a-f]{64}$")]


@dataclass(frozen=True)
class SearchItem:
    """One stored search as the audit's list shows it."""

    digest: str
    created_at: str
    user: str
    candidates: int
    outcome: str
    recommended: str | None
    for_this_model: bool
    event_id: int


def audit_searches(store: Store, audit_id: str) -> tuple[AuditRow, list[SearchItem]]:
    """The audit and the searches stored under its name, newest first."""
    from auditor.lda.evidence import outcome_of
    from auditor.report.lda import OUTCOME_TEXT

    audit = audit_summary(store, audit_id)  # NotFoundError for an unknown audit
    with store.session() as session:
        found = stored_searches(session, audit.name)
    items = []
    for s in found:
        rec = s.record.get("recommended")
        audited = s.record.get("audited_model")
        model = audited.get("sha256") if isinstance(audited, dict) else None
        items.append(
            SearchItem(
                digest=str(s.record.get("record_sha256", "")),
                created_at=str(s.record.get("created_at", "")),
                user=s.user,
                candidates=max(0, len(s.record.get("candidates") or []) - 1),
                outcome=OUTCOME_TEXT[outcome_of(s.record)],
                recommended=rec.get("id") if isinstance(rec, dict) else None,
                for_this_model=model is not None and model == audit.model_sha256,
                event_id=s.event_id,
            )
        )
    return audit, items


def search_of(store: Store, digest: str) -> StoredSearch:
    """The stored search with record digest ``digest``, or :class:`NotFoundError`."""
    with store.session() as session:
        found = stored_search_by_digest(session, digest)
    if found is None:
        raise NotFoundError(f"No stored search with record SHA-256 {digest}.")
    return found


@router.get("/audits/{audit_id}/lda")
def audit_lda_page(request: Request, who: Viewer, audit_id: str) -> Response:
    """The searches for less discriminatory alternatives stored for this audit's name."""
    audit, items = audit_searches(web(request).store, audit_id)
    context = {"title": f"Searches for {audit.name}", "audit": audit, "searches": items}
    return render(request, "lda_list.html.j2", context)


@router.get("/lda/{digest}")
def lda_page(request: Request, who: Viewer, digest: Digest) -> Response:
    """One stored search: outcome, frontier chart and every candidate with its figures."""
    from auditor.lda.evidence import record_intact
    from auditor.report.lda import build_lda_view

    found = search_of(web(request).store, digest)
    view = build_lda_view(found.record)
    context = {
        "title": f"Search: {view.name}",
        "v": view,
        "event": found,
        "intact": record_intact(found.record),
    }
    return render(request, "lda.html.j2", context)


@router.get("/lda/{digest}/document.pdf")
async def lda_pdf(request: Request, who: Viewer, digest: Digest) -> Response:
    """The search's standalone document, rendered from the stored record."""
    from auditor.lda.document import render_lda_pdf

    found = search_of(web(request).store, digest)
    pdf = await run_in_threadpool(render_lda_pdf, found.record)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="lda-{digest[:16]}.pdf"',
            "X-Record-SHA256": digest,
        },
    )


@api_router.get("/lda/{digest}")
def lda_record(request: Request, who: ApiViewer, digest: Digest) -> dict[str, Any]:
    """The stored search's record, exactly as it was stored (with its own digest)."""
    return search_of(web(request).store, digest).record


@api_router.get("/audits/{audit_id}/lda")
def audit_lda(request: Request, who: ApiViewer, audit_id: str) -> list[dict[str, Any]]:
    """The searches stored under the audit's name, newest first (summaries)."""
    _, items = audit_searches(web(request).store, audit_id)
    return [asdict(item) for item in items]
