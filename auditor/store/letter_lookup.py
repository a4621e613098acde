"""Read stored per-decision letters: find them by decision id, fetch one.

Letters hold personal data, so every read is written to the event log with the reader
(``letter.viewed``). None of these functions commits; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.store.events import append_event
from auditor.store.models import Audit, Letter

LETTER_VIEWED = "letter.viewed"


@dataclass(frozen=True)
class LetterRow:
    """A stored letter without its content."""

    id: int
    audit_id: str
    audit_name: str
    decision_id: str
    kind: str
    created_at: datetime
    sha256: str
    has_pdf: bool
    status: str | None = None
    """``issued``, ``blocked`` or ``needs_review`` (None: stored before statuses)."""
    review: dict[str, Any] | None = None
    """Why an adverse letter was (not) held for review (None before migration 0006)."""


@dataclass(frozen=True)
class LetterContent:
    """A stored letter, its HTML and PDF, and whether the PDF still matches its digest."""

    row: LetterRow
    html: str
    pdf: bytes | None
    intact: bool


def _row(letter: Letter, audit_name: str) -> LetterRow:
    return LetterRow(
        id=letter.id,
        audit_id=letter.audit_id,
        audit_name=audit_name,
        decision_id=letter.decision_id,
        kind=letter.kind,
        created_at=letter.created_at,
        sha256=letter.sha256,
        has_pdf=letter.pdf is not None,
        status=letter.status,
        review=letter.review,
    )


def find_letters(session: Session, decision_id: str, *, limit: int = 100) -> list[LetterRow]:
    """Letters issued for ``decision_id`` (exact match), newest first."""
    stmt = (
        select(Letter, Audit.name)
        .join(Audit, Audit.id == Letter.audit_id)
        .where(Letter.decision_id == decision_id)
        .order_by(Letter.created_at.desc(), Letter.id.desc())
        .limit(limit)
    )
    return [_row(letter, name) for letter, name in session.execute(stmt)]


def read_letter(session: Session, letter_id: int, *, reader: str) -> LetterContent:
    """One letter with its content; the read is logged as ``letter.viewed`` by ``reader``."""
    found = session.execute(
        select(Letter, Audit.name)
        .join(Audit, Audit.id == Letter.audit_id)
        .where(Letter.id == letter_id)
    ).first()
    if found is None:
        raise StorageError(f"No letter with id {letter_id} in the store.")
    letter, name = found
    # the digest covers the PDF when there is one, else the HTML; accept either form
    bodies = [letter.html.encode("utf-8")] + ([letter.pdf] if letter.pdf is not None else [])
    intact = letter.sha256 in {hashlib.sha256(b).hexdigest() for b in bodies}
    append_event(
        session,
        LETTER_VIEWED,
        {"letter_id": letter.id, "audit_id": letter.audit_id, "decision_id": letter.decision_id},
        user=reader,
    )
    return LetterContent(_row(letter, name), letter.html, letter.pdf, intact)
