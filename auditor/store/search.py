"""Find stored audits: by short id (a unique prefix) and by name, model, date and status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from auditor.errors import StorageError
from auditor.result import FINDING_STATUSES
from auditor.store.models import Audit
from auditor.store.repository import AuditRow, audit_row

SHORT_ID = 8  # what ``auditor history`` and ``auditor audits list`` print
MIN_PREFIX = 4
_SHOWN = 10


@dataclass(frozen=True)
class AuditMatch:
    """A stored audit found by :func:`search_audits`, with the model its spec names."""

    row: AuditRow
    model: str


def resolve_stored_id(session: Session, given: str) -> str:
    """The full id of the stored audit that ``given`` names: its id or a unique prefix.

    An ambiguous prefix raises :class:`StorageError` listing the matches (with names and
    dates); no match says how to list stored audits.
    """
    exact = given.strip()
    if session.get(Audit, exact) is not None:
        return exact
    wanted = exact.lower()
    missing = StorageError(
        f"No audit with id {given!r} in the store, nor one whose id starts with it "
        f"(a short id needs at least {MIN_PREFIX} characters); 'auditor audits list' "
        "shows the stored audits."
    )
    if len(wanted) < MIN_PREFIX:
        raise missing
    rows = session.execute(
        select(Audit.id, Audit.name, Audit.created_at)
        .where(Audit.id.startswith(wanted, autoescape=True))
        .order_by(Audit.created_at.desc())
        .limit(_SHOWN + 1)
    ).all()
    if not rows:
        raise missing
    if len(rows) > 1:
        shown = [f"{i} ({name}, {when:%Y-%m-%d %H:%M})" for i, name, when in rows[:_SHOWN]]
        more = " and more" if len(rows) > _SHOWN else ""
        raise StorageError(
            f"Audit id {given!r} is ambiguous: it starts {len(rows[:_SHOWN])}{more} stored "
            "audits; give more of the id.",
            problems=shown,
        )
    return str(rows[0][0])


def search_audits(
    session: Session,
    *,
    name: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[AuditMatch]:
    """Stored audits, newest first, that match every filter given.

    ``name``: part of the audit's name (case-insensitive). ``model``: the start of the
    model's SHA-256, or part of the model path in the spec. ``since``/``until``: when the
    audit started (inclusive / exclusive). ``status``: audits with at least one finding of
    this status (``fail``, ``warn``, …).
    """
    if status is not None and status not in FINDING_STATUSES:
        raise StorageError(
            f"--status must be one of {', '.join(FINDING_STATUSES)}; got {status!r}."
        )
    if limit < 1:
        raise StorageError(f"--limit must be at least 1; got {limit}.")
    stmt = select(Audit).order_by(Audit.created_at.desc(), Audit.id.desc())
    if name:
        stmt = stmt.where(Audit.name.ilike(f"%{_like(name)}%", escape="\\"))
    if since is not None:
        stmt = stmt.where(Audit.created_at >= since)
    if until is not None:
        stmt = stmt.where(Audit.created_at < until)
    if status is not None:
        stmt = stmt.where(getattr(Audit, f"findings_{status}") > 0)
    out: list[AuditMatch] = []
    # the model path lives in the spec JSON, filtered here the same on SQLite and PostgreSQL
    for audit in session.scalars(stmt.execution_options(yield_per=200)):
        if model and not _model_matches(audit, model):
            continue
        out.append(AuditMatch(audit_row(audit), model_label(audit.spec)))
        if len(out) >= limit:
            break
    return out


def model_label(spec: dict[str, Any]) -> str:
    """The model a spec names (its path), or ``-`` for a decisions-only audit."""
    model = spec.get("model") if isinstance(spec, dict) else None
    if isinstance(model, dict) and model.get("path"):
        return str(model["path"])
    return "-"


def _model_matches(audit: Audit, wanted: str) -> bool:
    text = wanted.strip().lower()
    if audit.model_sha256 and audit.model_sha256.lower().startswith(text):
        return True
    return text in model_label(audit.spec).lower()


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
