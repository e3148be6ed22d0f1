"""Keyed audit chain: the HMAC key id on chained rows, and a chained table of key events.

Rows written before this migration keep plain SHA-256 hashes (mac_key NULL); `audit verify`
accepts them only before the first keyed row.

Revision ID: 0002_audit_hmac
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_hmac"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN (not a batch copy), so the append-only triggers stay in place.
    op.add_column("screenings", sa.Column("mac_key", sa.String(16), nullable=True))
    op.add_column("reviews", sa.Column("mac_key", sa.String(16), nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("actor_key_id", sa.Integer, nullable=True),
        sa.Column("actor_name", sa.String(120), nullable=False),
        sa.Column("event", sa.String(32), nullable=False, index=True),
        sa.Column("subject_key_id", sa.Integer, nullable=True, index=True),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("row_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("mac_key", sa.String(16), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{what.lower()} BEFORE {what} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION surveilrisk_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
    op.drop_table("audit_events")
    # SQLite before 3.35 cannot drop columns; the mac_key columns stay (NULL-able, ignored by 0001's code).
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("reviews", "mac_key")
        op.drop_column("screenings", "mac_key")
