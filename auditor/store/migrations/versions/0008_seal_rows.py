"""Tamper evidence: seal every row stored before this revision (no schema change).

From this revision every event that writes, changes or deletes rows records their seals
(see :mod:`auditor.store.integrity`). Rows already stored have no such event, so this
revision appends one ``db.sealed`` event holding the seals of every covered row as it
is at the upgrade. It vouches for those rows from the upgrade on, not for how they got
there: a change made before the upgrade is caught only where another digest covers it
(result JSON, report PDFs, metric and finding rows against the result). Nothing is
written to an empty database.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DB_SEALED = "db.sealed"


def upgrade() -> None:
    """Seal the rows that exist now, in one event."""
    from auditor.store.events import append_event
    from auditor.store.integrity import COVERED, all_keys

    session = Session(bind=op.get_bind())
    # tables a later revision creates (letter_batches, 0009) are not there yet
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    keys = {
        name: all_keys(session, covered)
        for name, covered in COVERED.items()
        if name in existing
    }
    keys = {name: found for name, found in keys.items() if found}
    if keys:
        append_event(
            session,
            DB_SEALED,
            {
                "revision": revision,
                "reason": "rows stored before revision 0008, sealed as they were at the upgrade",
                "rows": {name: len(found) for name, found in keys.items()},
            },
            user="auditor db upgrade",
            sealed=keys,
        )
    session.flush()


def downgrade() -> None:
    """Nothing to undo in the schema; the db.sealed event stays in the append-only log."""
