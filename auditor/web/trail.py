"""The audit-trail page's data: the chain events of one stored audit."""

from __future__ import annotations

from typing import Any

from auditor.store import Store
from auditor.store.audit_trail import MAX_TRAIL_EVENTS, TrailEvent, audit_trail
from auditor.web.workspace import audit_summary


def trail_events(store: Store, audit_id: str) -> list[TrailEvent]:
    """The events of ``audit_id`` oldest first; :class:`NotFoundError` if it is not stored."""
    audit_summary(store, audit_id)  # raises NotFoundError for an unknown audit
    with store.session() as session:
        return audit_trail(session, audit_id)


def trail_page(store: Store, audit_id: str) -> dict[str, Any]:
    """The template context of ``/audits/{id}/trail``."""
    audit = audit_summary(store, audit_id)
    events = trail_events(store, audit_id)
    return {
        "title": f"Audit trail of {audit.name}",
        "audit": audit,
        "events": events,
        "truncated": len(events) >= MAX_TRAIL_EVENTS,
        "limit": MAX_TRAIL_EVENTS,
    }
