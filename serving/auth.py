"""API keys: random secrets shown once, stored as SHA-256 hashes, each with one role.

Every change of a key (create, revoke, role) is also an event in the audit chain, so a key
changed by SQL outside the service is named by `surveilrisk audit verify`.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.tables import ApiKey

ROLES: tuple[str, ...] = ("screener", "reviewer", "admin")  # each role can do what the previous can
KEY_PREFIX = "sr_"


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def hash_key(key: str) -> str:
    # Keys are 256-bit random secrets, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, display name and role."""

    key_id: int
    name: str
    role: str

    def can(self, needed: str) -> bool:
        return role_at_least(self.role, needed)


def _actor(actor: Principal | None) -> dict[str, object]:
    return {"actor_key_id": actor.key_id, "actor_name": actor.name} if actor else {}


def create_key(session: Session, *, role: str, name: str, actor: Principal | None = None) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is never stored or shown again."""
    from serving.audit import record_key_event

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("a key needs a name saying whose it is")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        prefix=secret[:10],
        key_hash=hash_key(secret),
        role=role,
        name=name.strip()[:120],
        created_at=datetime.now(UTC).replace(tzinfo=None),
    )
    session.add(row)
    session.flush()
    record_key_event(session, "key_created", row, **_actor(actor))  # type: ignore[arg-type]
    return row, secret


def authenticate(session: Session, secret: str) -> Principal | None:
    if len(secret) > 200:  # real keys are 46 characters; do not hash megabytes
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(secret)))
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=row.id, name=row.name, role=row.role)


def revoke_key(session: Session, key_id: int, actor: Principal | None = None) -> bool:
    from serving.audit import record_key_event

    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC).replace(tzinfo=None)
    record_key_event(session, "key_revoked", row, **_actor(actor))  # type: ignore[arg-type]
    return True


def set_role(session: Session, key_id: int, role: str, actor: Principal | None = None) -> ApiKey | None:
    """Change an active key's role (recorded in the audit chain); None if there is no such active key."""
    from serving.audit import record_key_event

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of: {', '.join(ROLES)}")
    row = session.get(ApiKey, key_id)
    if row is None or row.revoked_at is not None:
        return None
    if row.role != role:
        row.role = role
        record_key_event(session, "key_role_changed", row, **_actor(actor))  # type: ignore[arg-type]
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def count_active_admins(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(ApiKey).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
        )
        or 0
    )


def ensure_bootstrap_admin(session: Session) -> str | None:
    """On an empty key table, create the first admin key and return its secret (else None)."""
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    _, secret = create_key(session, role="admin", name="bootstrap admin")
    return secret
