"""Letter batches: each letters run's counts and hold rate, stored with the audit.

One row per ``auditor letters`` run (CLI, web, Spark): letters, issued, held, blocked,
adverse letters reviewed, hold rate and the summary of ``letters-summary.json``. New
batches are sealed by their ``letters.issued`` event. Batches issued before this revision
are rebuilt from the letters each ``letters.issued`` event sealed (those still stored),
dated as that event, and sealed together by one ``db.sealed`` event.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DB_SEALED = "db.sealed"
LETTER_ISSUED = "letters.issued"


def upgrade() -> None:
    """Create ``letter_batches`` and rebuild the batches already issued."""
    op.create_table(
        "letter_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("letters", sa.Integer(), nullable=False),
        sa.Column("issued", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.Column("reviewed", sa.Integer(), nullable=False),
        sa.Column("hold_rate", sa.Float(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_id"],
            ["audits.id"],
            name=op.f("fk_letter_batches_audit_id_audits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_batches")),
    )
    op.create_index(
        op.f("ix_letter_batches_audit_id"), "letter_batches", ["audit_id"], unique=False
    )
    _rebuild(Session(bind=op.get_bind()))


def _rebuild(session: Session) -> None:
    from auditor.store.events import append_event
    from auditor.store.letter_batches import add_letter_batch, batch_summary
    from auditor.store.models import Audit, Event, Letter

    added: list[int] = []
    issued = session.execute(
        sa.select(Event.id, Event.created_at, Event.payload)
        .where(Event.kind == LETTER_ISSUED)
        .order_by(Event.id)
    ).all()
    for _event_id, created_at, text in issued:
        payload = json.loads(text)
        audit_id = payload.get("audit_id")
        ids = [int(k) for k in (payload.get("sealed") or {}).get("letters") or {}]
        if not isinstance(audit_id, str) or not ids or session.get(Audit, audit_id) is None:
            continue
        # the columns this revision knows (not the whole entity: later ones may add some)
        columns = (Letter.kind, Letter.status, Letter.review, Letter.failure, Letter.reasons)
        records = [
            dict(r)
            for r in session.execute(sa.select(*columns).where(Letter.id.in_(ids))).mappings()
        ]
        if not records:
            continue  # pruned (retention): nothing left to count
        batch = add_letter_batch(session, audit_id, batch_summary(records))
        batch.created_at = created_at
        added.append(batch.id)
    if added:
        append_event(
            session,
            DB_SEALED,
            {
                "revision": revision,
                "reason": "letter batches rebuilt from the letters of earlier letters.issued "
                "events (their statuses at the upgrade)",
                "rows": {"letter_batches": len(added)},
            },
            user="auditor db upgrade",
            sealed={"letter_batches": added},
        )
    session.flush()


def downgrade() -> None:
    """Drop the table (its rows' seals stay in the append-only log)."""
    op.drop_index(op.f("ix_letter_batches_audit_id"), table_name="letter_batches")
    op.drop_table("letter_batches")
