"""Attestations and the evaluations they produce (issue 21).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
# 0009 is another branch's; the integrator chains this revision after it
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTS = (
    "findings_fail",
    "findings_warn",
    "findings_insufficient_evidence",
    "findings_needs_attestation",
    "findings_pass",
    "findings_not_applicable",
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("result_sha256", sa.String(length=64), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in _COUNTS],
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_evaluations_audit_id_audits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("audit_id", "number", name=op.f("uq_evaluations_audit_id")),
    )
    op.create_index(op.f("ix_evaluations_audit_id"), "evaluations", ["audit_id"], unique=False)
    op.create_table(
        "attestations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attested_by", sa.String(length=200), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("document_name", sa.String(length=200), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("document", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_attestations_audit_id_audits")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_attestations_evaluation_id_evaluations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attestations")),
    )
    op.create_index(op.f("ix_attestations_audit_id"), "attestations", ["audit_id"], unique=False)
    op.create_index(
        op.f("ix_attestations_evaluation_id"), "attestations", ["evaluation_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_attestations_evaluation_id"), table_name="attestations")
    op.drop_index(op.f("ix_attestations_audit_id"), table_name="attestations")
    op.drop_table("attestations")
    op.drop_index(op.f("ix_evaluations_audit_id"), table_name="evaluations")
    op.drop_table("evaluations")
