"""Letters: the reason-stability review, the counterfactual's details, whether addressed.

``review`` holds what decided a ``needs_review`` status (changed share, near tie, draws,
noise, threshold); ``counterfactual_detail`` the note, cost and model score of the
counterfactual; ``addressed`` whether the letter carries a recipient's name and postal
address (the name and address themselves are only in the letter's HTML and PDF).
NULL for letters stored before this revision.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("letters") as batch:
        batch.add_column(sa.Column("review", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("counterfactual_detail", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("addressed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("letters") as batch:
        for name in ("addressed", "counterfactual_detail", "review"):
            batch.drop_column(name)
