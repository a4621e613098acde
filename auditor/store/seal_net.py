"""A safety net: seal the rows a transaction changed through auditor's ORM but that no
event of that transaction sealed.

Session hooks (registered when :mod:`auditor.store` is imported). Apart from
:mod:`auditor.store.integrity` (the seals) and :mod:`auditor.store.events` (the chain)
because the net appends an event and an event carries seals: each of those two imports
only the one below it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from auditor.store.events import append_event
from auditor.store.integrity import (
    _SEALED,
    _UNSEALED,
    COVERED,
    Covered,
    _columns,
    key_text,
)

ROWS_SEALED = "rows.sealed"
"""The event that seals rows a transaction changed through auditor's ORM but that no
event of that transaction sealed (a writer that forgot ``sealed=``)."""


def _unit(obj: Any) -> tuple[str, str] | None:
    table = getattr(obj, "__table__", None)
    covered = COVERED.get(getattr(table, "name", ""))
    if covered is None:
        return None
    key = getattr(obj, covered.key, None)
    return None if key is None else (covered.name, key_text(key))


def _changed(obj: Any, covered: Covered) -> bool:
    """Whether a flushed object changed a column its seal covers (not only ``skip`` ones)."""
    attrs = inspect(obj).attrs
    return any(
        attrs[c.key].history.has_changes() for c in _columns(covered) if c.key in attrs
    )


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context: Any) -> None:
    pending: set[tuple[str, str]] = session.info.setdefault(_UNSEALED, set())
    for obj in [*session.new, *session.deleted]:
        unit = _unit(obj)
        if unit is not None:
            pending.add(unit)
    for obj in session.dirty:
        unit = _unit(obj)
        if unit is not None and _changed(obj, COVERED[unit[0]]):
            pending.add(unit)


@event.listens_for(Session, "before_commit")
def _seal_leftovers(session: Session) -> None:
    """Seal what this transaction changed through the ORM and no event sealed.

    Explicit ``sealed=`` on the writer's own event is the rule (it says *why*); this
    keeps a writer that forgot it from making a legitimate change look like tampering.
    Changes made outside auditor (SQL, another program) never pass through here.
    """
    session.flush()
    pending = session.info.get(_UNSEALED, set()) - session.info.get(_SEALED, set())
    if not pending:
        return
    tables: dict[str, list[str]] = {}
    for name, key in sorted(pending):
        tables.setdefault(name, []).append(key)
    append_event(
        session,
        ROWS_SEALED,
        {"rows": {name: len(keys) for name, keys in tables.items()}},
        user=str(session.info.get("user", "auditor")),
        sealed=tables,
    )
    session.info.pop(_UNSEALED, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_UNSEALED, None)
    session.info.pop(_SEALED, None)
