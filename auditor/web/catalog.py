"""Policy packs, letters and schedules as the web workspace offers them.

Thin service functions over :mod:`auditor.policy`, :mod:`auditor.store.letter_lookup`
and :mod:`auditor.schedule`; spec paths of schedules are confined to the data root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.policy.describe import basis_text, describe
from auditor.schedule import add_schedule
from auditor.schedule.service import ScheduleInfo
from auditor.store import Store
from auditor.store.letter_lookup import LetterContent, LetterRow, find_letters, read_letter
from auditor.web.uploads import server_path
from auditor.web.workspace import NotFoundError


def policy_catalog(*, domain: str | None = None) -> list[dict[str, Any]]:
    """Every shipped pack with its rules: citation, status, dates and what is checked."""
    from datetime import date

    from auditor.policy import available_packs, load_packs

    today = date.today()
    packs = []
    for pack in load_packs(available_packs()):
        rules = [
            {
                "id": r.id,
                "title": r.title,
                "citation": r.citation,
                "instrument": r.instrument,
                "jurisdiction": r.jurisdiction,
                "domain": r.domain,
                "status": r.status,
                # issue 18: the status on today's date, where it applies, and its checking
                "status_today": r.status_on(today),
                "territory": r.territory_or(pack.meta.territory_or_derived()),
                "verification": r.verification,
                "effective_from": r.effective_from.isoformat() if r.effective_from else None,
                "effective_until": r.effective_until.isoformat() if r.effective_until else None,
                "kind": r.kind,
                "basis": r.basis,
                "basis_text": basis_text(r),
                "severity": r.severity,
                "checks": describe(r),
                "sources": list(r.sources),
                "notes": " ".join(r.notes.split()) if r.notes else None,
            }
            for r in pack.rules
            if not domain or r.domain in (domain, "both")
        ]
        packs.append(
            {
                "id": pack.meta.id,
                "title": pack.meta.title,
                "version": pack.meta.version,
                "instrument": pack.meta.instrument,
                "jurisdiction": pack.meta.jurisdiction,
                "advisory": pack.meta.advisory,
                "description": " ".join(pack.meta.description.split()),
                "rules": rules,
            }
        )
    return packs


def letters_for_decision(store: Store, decision_id: str) -> list[LetterRow]:
    """Letters issued for one decision id, newest first."""
    if "\x00" in decision_id:
        raise AuditorError("A decision id cannot contain a NUL character.")
    with store.session() as session:
        return find_letters(session, decision_id.strip())


def open_letter(store: Store, letter_id: int, *, reader: str) -> LetterContent:
    """One letter and its content; the read is logged with ``reader``."""
    from auditor.errors import StorageError

    try:
        with store.session() as session:
            return read_letter(session, letter_id, reader=reader)
    except StorageError as exc:
        if "No letter" in str(exc):
            raise NotFoundError(str(exc)) from None
        raise


def add_server_schedule(
    store: Store, name: str, spec_path: str, cron: str, *, data_root: Path, user: str
) -> ScheduleInfo:
    """Add a schedule whose spec lies inside the data root (checked and parsed now)."""
    path = server_path(spec_path, data_root, what="Spec path")
    return add_schedule(store, name, path, cron, user=user)
