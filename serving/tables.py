"""Database tables. Screenings, reviews and audit events are append-only and hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Screening(Base):
    __tablename__ = "screenings"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    created_by_key_id: Mapped[int] = mapped_column(Integer, index=True)
    created_by_name: Mapped[str] = mapped_column(String(120))
    reference: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    destination: Mapped[str] = mapped_column(String(2))
    destination_group: Mapped[str] = mapped_column(String(64))
    end_user_type: Mapped[str] = mapped_column(String(32))
    end_user_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    raw_bytes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    classification: Mapped[dict[str, Any]] = mapped_column(JSON)
    tier: Mapped[str] = mapped_column(String(16), index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    decision: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy_version: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(120))
    # Added by migration 0002; NULL on older rows (and then left out of the row hash).
    review_required: Mapped[bool | None] = mapped_column(Boolean, nullable=True, index=True)
    control_list_entry: Mapped[str | None] = mapped_column(String(200), nullable=True)
    licence_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    party_screening: Mapped[str | None] = mapped_column(String(16), nullable=True)
    party_screening_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mac_key: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Review(Base):
    """A decision record on a screening: a person's review, or a re-screening applied with `rescreen --apply`."""

    __tablename__ = "reviews"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    screening_id: Mapped[str] = mapped_column(String(40), ForeignKey("screenings.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    reviewer_key_id: Mapped[int] = mapped_column(Integer)
    reviewer_name: Mapped[str] = mapped_column(String(120))
    verdict: Mapped[str] = mapped_column(String(16))
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    risk_factors: Mapped[list[str]] = mapped_column(JSON)
    tier: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    comment: Mapped[str] = mapped_column(Text)
    # Added by migration 0002; NULL on older rows (a person's review that superseded the model's decision).
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)  # "review" | "rescreen"
    supersedes: Mapped[str | None] = mapped_column(String(40), nullable=True)  # record (or screening) id replaced
    action_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reasons: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(120), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mac_key: Mapped[str | None] = mapped_column(String(16), nullable=True)


class AuditEvent(Base):
    """Changes that matter to the audit but live in mutable tables: API keys created, revoked, re-roled."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    actor_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(32), index=True)
    subject_key_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)
    mac_key: Mapped[str | None] = mapped_column(String(16), nullable=True)


class Claim(Base):
    """Who is reviewing a screening right now. Working state, not audit: a claim expires and is replaced."""

    __tablename__ = "claims"

    screening_id: Mapped[str] = mapped_column(String(40), ForeignKey("screenings.id"), primary_key=True)
    reviewer_key_id: Mapped[int] = mapped_column(Integer)
    reviewer_name: Mapped[str] = mapped_column(String(120))
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
