"""Schedule runs: the claimed fire time (unique per schedule) and the run's duration.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("schedule_runs") as batch:
        batch.add_column(sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("duration_s", sa.Float(), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_schedule_runs_schedule_id"), ["schedule_id", "scheduled_for"]
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("schedule_runs") as batch:
        batch.drop_constraint(op.f("uq_schedule_runs_schedule_id"), type_="unique")
        batch.drop_column("duration_s")
        batch.drop_column("scheduled_for")
