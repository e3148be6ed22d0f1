"""Workflow: decision records (kind, supersedes, reasons), screening context, review claims.

New columns are nullable so older rows keep their stored hashes: the row hash leaves out
optional fields that are NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_workflow"
down_revision = "0002_audit_hmac"
branch_labels = None
depends_on = None

def screening_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("review_required", sa.Boolean, nullable=True),
        sa.Column("control_list_entry", sa.String(200), nullable=True),
        sa.Column("licence_reference", sa.String(200), nullable=True),
        sa.Column("party_screening", sa.String(16), nullable=True),
        sa.Column("party_screening_by", sa.String(120), nullable=True),
    ]


def review_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("supersedes", sa.String(40), nullable=True),
        sa.Column("action_reason", sa.Text, nullable=True),
        sa.Column("reasons", sa.JSON, nullable=True),
        sa.Column("policy_version", sa.String(64), nullable=True),
        sa.Column("model_version", sa.String(120), nullable=True),
    ]


def upgrade() -> None:
    # ADD COLUMN directly (no batch table copy): the append-only triggers must stay in place.
    for col in screening_columns():
        op.add_column("screenings", col)
    op.create_index("ix_screenings_review_required", "screenings", ["review_required"])
    for col in review_columns():
        op.add_column("reviews", col)
    op.create_table(
        "claims",
        sa.Column("screening_id", sa.String(40), sa.ForeignKey("screenings.id"), primary_key=True),
        sa.Column("reviewer_key_id", sa.Integer, nullable=False),
        sa.Column("reviewer_name", sa.String(120), nullable=False),
        sa.Column("claimed_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("claims")
    with op.batch_alter_table("reviews") as batch:
        for col in review_columns():
            batch.drop_column(col.name)
    op.drop_index("ix_screenings_review_required", "screenings")
    with op.batch_alter_table("screenings") as batch:
        for col in screening_columns():
            batch.drop_column(col.name)
