"""Keeping a search record in the store's hash-chained event log (no new table)."""

from __future__ import annotations

from typing import Any

from auditor.store.database import open_store
from auditor.store.events import append_event
from auditor.store.lda_records import LDA_EVENT

__all__ = ["LDA_EVENT", "store_record"]


def store_record(record: dict[str, Any], url: str | None) -> str:
    """Append the record as an ``lda_search`` event (the whole record is its payload, so
    ``auditor verify``'s chain check covers every candidate); returns the masked URL."""
    store = open_store(url)
    try:
        with store.session() as session:
            append_event(session, LDA_EVENT, record, user=str(record["run_by"]["user"])[:200])
        return store.url
    finally:
        store.dispose()
