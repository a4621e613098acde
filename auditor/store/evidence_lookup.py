"""Answers for outside auditors: which audit a short id means, whether a PDF someone
was handed is a report (or letter) stored here and still current, and whether a chain
head kept elsewhere is still in the log."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.store.events import check_chain
from auditor.store.models import Audit, Event, Letter, Report
from auditor.store.verification import AUDIT_COMPLETED, REPORT_ADDED


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def resolve_audit_id(session: Session, given: str) -> str:
    """The full id of the audit ``given`` names: a full id or a unique prefix (8 characters,
    as ``auditor history`` prints them); audits deleted from the store but recorded in the
    log count too, so that their deletion can be reported."""
    wanted = given.strip().lower()
    if len(wanted) < 4:
        raise StorageError(f"Audit id {given!r} is too short: give at least 4 characters.")
    stored = set(session.scalars(select(Audit.id).where(Audit.id.startswith(wanted))))
    logged = {
        str(p.get("audit_id"))
        for _, kind, p in check_chain(session).payloads
        if kind == AUDIT_COMPLETED and str(p.get("audit_id", "")).startswith(wanted)
    }
    found = sorted(stored | logged)
    if not found:
        raise StorageError(
            f"No audit with an id starting {given!r} is stored or recorded in the event log; "
            "'auditor history NAME' lists stored audits with their short ids."
        )
    if len(found) > 1:
        raise StorageError(
            f"Audit id {given!r} is ambiguous: it starts {', '.join(found)}; give more of it."
        )
    return found[0]


@dataclass(frozen=True)
class PdfMatch:
    """Where a PDF's digest is found: a stored report, or only the event log."""

    sha256: str
    audit_id: str | None = None
    audit_name: str | None = None
    report_id: int | None = None
    created_at: datetime | None = None
    event_id: int | None = None
    intact: bool = False
    """The stored copy's bytes still match the digest."""
    later: list[tuple[int, datetime, str]] = field(default_factory=list)
    """Later reports of the same audit (id, time, SHA-256): this one is superseded."""
    letter: tuple[int, str, str, str | None] | None = None
    """Not a report but a stored letter: (letter id, decision id, kind, status)."""

    @property
    def stored(self) -> bool:
        """True when a stored report (or letter) has this digest."""
        return self.report_id is not None or self.letter is not None

    @property
    def superseded(self) -> bool:
        """True when the audit has a later report."""
        return bool(self.later)


def locate_pdf(session: Session, pdf: bytes) -> PdfMatch:
    """Is ``pdf`` a report stored (or once recorded) here, of which audit, and superseded?"""
    digest = _sha256(pdf)
    event_id: int | None = None
    logged_audit: str | None = None
    for eid, kind, payload in check_chain(session).payloads:
        if kind in (AUDIT_COMPLETED, REPORT_ADDED) and payload.get("report_sha256") == digest:
            event_id, logged_audit = eid, str(payload.get("audit_id"))
            break
    row = session.execute(
        select(Report.id, Report.audit_id, Report.created_at, Report.pdf)
        .where(Report.sha256 == digest)
        .order_by(Report.id)
        .limit(1)
    ).first()
    if row is None:
        letter = session.execute(
            select(Letter.id, Letter.audit_id, Letter.decision_id, Letter.kind, Letter.status)
            .where(Letter.sha256 == digest, Letter.pdf.is_not(None))
            .order_by(Letter.id)
            .limit(1)
        ).first()
        if letter is not None and logged_audit is None:
            letter_id, audit_id, decision_id, kind, status = letter
            return PdfMatch(
                digest,
                audit_id=audit_id,
                audit_name=session.scalar(select(Audit.name).where(Audit.id == audit_id)),
                letter=(int(letter_id), decision_id, kind, status),
            )
        return PdfMatch(digest, audit_id=logged_audit, event_id=event_id)
    report_id, audit_id, created_at, stored_pdf = row
    name = session.scalar(select(Audit.name).where(Audit.id == audit_id))
    later = [
        (int(i), c, s)
        for i, c, s in session.execute(
            select(Report.id, Report.created_at, Report.sha256)
            .where(Report.audit_id == audit_id, Report.id > report_id)
            .order_by(Report.id)
        )
    ]
    return PdfMatch(
        digest,
        audit_id=audit_id,
        audit_name=name,
        report_id=report_id,
        created_at=created_at,
        event_id=event_id,
        intact=_sha256(stored_pdf) == digest,
        later=later,
    )


def pinned_event(session: Session, digest: str) -> int | None:
    """The id of the event whose hash is ``digest`` (a chain head kept elsewhere), or None.

    A log rewritten from an earlier point on (chain recomputed) no longer contains it.
    """
    found = session.scalar(select(Event.id).where(Event.hash == digest.strip().lower()))
    return None if found is None else int(found)
