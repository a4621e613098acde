"""Stored searches for less discriminatory alternatives: the ``lda_search`` events.

A search's record is the whole payload of one event of the hash chain (``auditor lda
--store``), so there is no table to query: the events of that kind are read back, newest
first, and a payload that no longer parses is skipped (``auditor verify`` reports it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.store.models import Event

LDA_EVENT = "lda_search"
"""The event kind that carries a search's record."""
MAX_SEARCHES = 200
"""The most stored searches one listing reads (newest kept)."""


@dataclass(frozen=True)
class StoredSearch:
    """One stored search: its event (id, time, user, chain hash) and its record."""

    event_id: int
    created_at: datetime
    user: str
    hash: str
    record: dict[str, Any]

    @property
    def name(self) -> str:
        """The audit name the search was run for."""
        return str(self.record.get("name", ""))


def stored_searches(
    session: Session, name: str | None = None, *, limit: int = MAX_SEARCHES
) -> list[StoredSearch]:
    """Stored searches, newest first; only those for the audit ``name`` when given."""
    query = select(Event).where(Event.kind == LDA_EVENT).order_by(Event.id.desc())
    if name is not None:
        # the text match narrows the scan; the parsed record then decides
        # (the payload is canonical JSON: non-ASCII is stored as is, so match it so)
        needle = json.dumps(name, ensure_ascii=False)
        query = query.where(Event.payload.contains(needle, autoescape=True))
    out: list[StoredSearch] = []
    for event in session.scalars(query.limit(limit * 4 if name else limit)):
        found = _parse(event)
        if found is not None and (name is None or found.name == name):
            out.append(found)
        if len(out) >= limit:
            break
    return out


def stored_search(session: Session, event_id: int) -> StoredSearch | None:
    """The stored search of event ``event_id`` (``None``: no such search)."""
    event = session.get(Event, event_id)
    if event is None or event.kind != LDA_EVENT:
        return None
    return _parse(event)


def _parse(event: Event) -> StoredSearch | None:
    try:
        record = json.loads(event.payload)
    except ValueError:
        return None  # an altered payload: `auditor verify` reports it
    if not isinstance(record, dict):
        return None
    return StoredSearch(event.id, event.created_at, event.user, event.hash, record)


def stored_search_by_digest(session: Session, digest: str) -> StoredSearch | None:
    """The newest stored search whose record has ``record_sha256 == digest``."""
    query = (
        select(Event)
        .where(Event.kind == LDA_EVENT)
        .where(Event.payload.contains(digest, autoescape=True))
        .order_by(Event.id.desc())
    )
    for event in session.scalars(query.limit(20)):
        found = _parse(event)
        if found is not None and found.record.get("record_sha256") == digest:
            return found
    return None
