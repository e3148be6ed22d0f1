"""Storage of screenings, reviews and audit events: append-only rows, each carrying its predecessor's hash.

A row's hash covers its content and the previous row's hash, so editing or deleting any
stored row breaks the chain from that row on; `verify_chain` finds the first break. With an
audit keyring in the session (`serving.audit`), the hash is an HMAC under a key kept outside
the database, so someone who can write the database still cannot recompute the chain; after
each commit the new chain heads are appended to the anchor file, so cutting the newest rows
is seen too (`serving.audit.verify`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, event, exists, func, or_, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, aliased

from serving.tables import AuditEvent, Claim, Review, Screening

GENESIS = "0" * 64
SCREENING_FIELDS = (
    "seq",
    "id",
    "created_at",
    "created_by_key_id",
    "created_by_name",
    "reference",
    "destination",
    "destination_group",
    "end_user_type",
    "end_user_name",
    "filename",
    "media_type",
    "size_bytes",
    "document_sha256",
    "text",
    "raw_bytes",
    "classification",
    "tier",
    "action",
    "decision",
    "policy_version",
    "model_version",
    "prev_hash",
)
# Columns added after the first release: hashed when set, left out when NULL, so older rows still verify.
OPTIONAL_SCREENING_FIELDS = (
    "review_required",
    "control_list_entry",
    "licence_reference",
    "party_screening",
    "party_screening_by",
)
REVIEW_FIELDS = (
    "seq",
    "id",
    "screening_id",
    "created_at",
    "reviewer_key_id",
    "reviewer_name",
    "verdict",
    "capabilities",
    "risk_factors",
    "tier",
    "action",
    "evidence",
    "comment",
    "prev_hash",
)
OPTIONAL_REVIEW_FIELDS = ("kind", "supersedes", "action_reason", "reasons", "policy_version", "model_version")
HUMAN_KINDS = (None, "review")  # records a person made; `rescreen` records come from a model re-run
EVENT_FIELDS = (
    "seq",
    "id",
    "created_at",
    "actor_key_id",
    "actor_name",
    "event",
    "subject_key_id",
    "details",
    "prev_hash",
)
# Each chained table: its row class, the fields every row hashes, and fields hashed only when set
# (columns added later, NULL on older rows, so older rows keep verifying).
CHAINS: tuple[tuple[type[Any], tuple[str, ...], tuple[str, ...]], ...] = (
    (Screening, SCREENING_FIELDS, OPTIONAL_SCREENING_FIELDS),
    (Review, REVIEW_FIELDS, OPTIONAL_REVIEW_FIELDS),
    (AuditEvent, EVENT_FIELDS, ()),
)
Chained = Screening | Review | AuditEvent


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive UTC on every database


def new_id(prefix: str) -> str:
    """Sortable public id: time in milliseconds plus randomness."""
    return f"{prefix}_{int(datetime.now(UTC).timestamp() * 1000):013d}{secrets.token_hex(5)}"


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def row_hash(row: Chained, fields: Sequence[str], optional: Sequence[str] = (), keyring: Any = None) -> str:
    """SHA-256 of the row's canonical JSON; with `row.mac_key` set, an HMAC under that key of the keyring.

    Raises KeyError when the row names a key the keyring does not hold.
    """
    payload = {f: _canonical(getattr(row, f)) for f in fields}
    payload.update({f: _canonical(getattr(row, f)) for f in optional if getattr(row, f) is not None})
    if "text" in payload:  # long text enters through its own hash
        payload["text"] = hashlib.sha256(str(payload["text"]).encode("utf-8")).hexdigest()
    key_id = getattr(row, "mac_key", None)
    if key_id:
        payload["mac_key"] = key_id
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    if key_id:
        if keyring is None:
            raise KeyError(key_id)
        return hmac.new(keyring.secret(key_id), blob, hashlib.sha256).hexdigest()
    return hashlib.sha256(blob).hexdigest()


def _lock_chain(session: Session, table: str) -> None:
    """Serialise appends: PostgreSQL advisory lock; SQLite already holds its write lock (BEGIN IMMEDIATE)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 7_304_000 + len(table)})


def append(session: Session, row: Chained, fields: Sequence[str], optional: Sequence[str] = ()) -> None:
    """Put `row` at the head of its table's chain (keyed when the session carries a keyring)."""
    model = type(row)
    keyring = session.info.get("audit_keyring")
    try:
        _lock_chain(session, model.__tablename__)
        head = session.execute(select(model.seq, model.row_hash).order_by(model.seq.desc()).limit(1)).first()
    except OperationalError as exc:  # SQLite: a read transaction could not take the write lock
        raise ChainConflictError("the audit chain is busy; retry the request") from exc
    row.seq = (head[0] + 1) if head else 1
    row.prev_hash = head[1] if head else GENESIS
    row.mac_key = keyring.current if keyring is not None else None
    row.row_hash = row_hash(row, fields, optional, keyring)
    session.add(row)
    try:
        session.flush()
    except (IntegrityError, OperationalError) as exc:  # unique prev_hash: a concurrent writer took this place
        raise ChainConflictError("another write reached the audit chain first; retry the request") from exc
    session.info.setdefault("audit_pending", []).append((model.__tablename__, row.seq, row.row_hash))


@event.listens_for(Session, "after_commit")
def _anchor_after_commit(session: Session) -> None:
    """Append the chain heads this transaction wrote to the anchor file (outside the database)."""
    pending = session.info.pop("audit_pending", None)
    anchor = session.info.get("audit_anchor")
    if pending and anchor is not None:
        anchor.record(pending)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop("audit_pending", None)


class ChainConflictError(RuntimeError):
    pass


class NotFoundError(LookupError):
    pass


def create_screening(session: Session, **values: Any) -> Screening:
    row = Screening(id=new_id("scr"), created_at=_now(), **values)
    append(session, row, SCREENING_FIELDS, OPTIONAL_SCREENING_FIELDS)
    return row


def add_review(session: Session, **values: Any) -> Review:
    row = Review(id=new_id("rev"), created_at=_now(), **values)
    append(session, row, REVIEW_FIELDS, OPTIONAL_REVIEW_FIELDS)
    return row


def get_screening(session: Session, screening_id: str) -> Screening:
    row = session.scalar(select(Screening).where(Screening.id == screening_id))
    if row is None:
        raise NotFoundError(screening_id)
    return row


def reviews_of(session: Session, screening_id: str) -> list[Review]:
    return list(session.scalars(select(Review).where(Review.screening_id == screening_id).order_by(Review.seq)))


@dataclass(frozen=True)
class ScreeningFilter:
    """What the history list and the CSV export select; `action` and `tier` match the decision in force."""

    action: str | None = None
    tier: str | None = None
    reference: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    created_by_key_id: int | None = None
    q: str | None = None  # free text, partial, case-insensitive
    end_user_type: str | None = None
    reviewed: bool | None = None  # a person has (True) / has not (False) reviewed it
    review_required: bool | None = None  # the model's reading was flagged as unreliable


def _latest_record():  # type: ignore[no-untyped-def]
    """Each screening's newest decision record (a review or an applied re-screening)."""
    latest = select(Review.screening_id.label("sid"), func.max(Review.seq).label("seq")).group_by(Review.screening_id)
    return latest.subquery()


def human_reviewed() -> ColumnElement[bool]:
    return exists(
        select(Review.seq).where(
            Review.screening_id == Screening.id, or_(Review.kind.is_(None), Review.kind == "review")
        )
    )


def list_screenings(session: Session, flt: ScreeningFilter, *, offset: int, limit: int) -> tuple[list[Screening], int]:
    """Newest first, with the total count of matching rows for pagination."""
    latest = _latest_record()
    rec = aliased(Review)
    q = select(Screening).outerjoin(latest, latest.c.sid == Screening.id).outerjoin(rec, rec.seq == latest.c.seq)
    if flt.action:
        q = q.where(func.coalesce(rec.action, Screening.action) == flt.action)
    if flt.tier:
        q = q.where(func.coalesce(rec.tier, Screening.tier) == flt.tier)
    if flt.reference:
        q = q.where(Screening.reference == flt.reference)
    if flt.created_from:
        q = q.where(Screening.created_at >= flt.created_from)
    if flt.created_to:
        q = q.where(Screening.created_at < flt.created_to)
    if flt.created_by_key_id is not None:
        q = q.where(Screening.created_by_key_id == flt.created_by_key_id)
    if flt.end_user_type:
        q = q.where(Screening.end_user_type == flt.end_user_type)
    if flt.reviewed is not None:
        q = q.where(human_reviewed() if flt.reviewed else ~human_reviewed())
    if flt.review_required is not None:
        flagged = Screening.review_required.is_(True)
        q = q.where(flagged if flt.review_required else ~flagged | Screening.review_required.is_(None))
    if flt.q and flt.q.strip():
        needle = flt.q.strip().lower()
        cols = (Screening.reference, Screening.filename, Screening.end_user_name, Screening.destination, Screening.id)
        q = q.where(or_(*(func.lower(c).contains(needle, autoescape=True) for c in cols)))
    total = int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    rows = list(session.scalars(q.order_by(Screening.seq.desc()).offset(offset).limit(limit)))
    return rows, total


def records_of(session: Session, screening_ids: Sequence[str]) -> dict[str, list[Review]]:
    """All decision records of the given screenings, oldest first, in one query."""
    out: dict[str, list[Review]] = {sid: [] for sid in screening_ids}
    if not screening_ids:
        return out
    for r in session.scalars(select(Review).where(Review.screening_id.in_(list(screening_ids))).order_by(Review.seq)):
        out[r.screening_id].append(r)
    return out


def iter_reviewed(session: Session) -> Iterator[tuple[Screening, Review]]:
    """Each screening a person reviewed, with its latest human review, oldest screening first."""
    latest = (
        select(Review.screening_id, func.max(Review.seq).label("seq"))
        .where(or_(Review.kind.is_(None), Review.kind == "review"))
        .group_by(Review.screening_id)
        .subquery()
    )
    q = (
        select(Screening, Review)
        .join(latest, latest.c.screening_id == Screening.id)
        .join(Review, Review.seq == latest.c.seq)
        .order_by(Screening.seq)
    )
    for row in session.execute(q):
        yield row[0], row[1]


@dataclass(frozen=True)
class ChainReport:
    table: str
    rows: int
    ok: bool
    problem: str | None = None


def verify_chain(session: Session, keyring: Any = None) -> list[ChainReport]:
    """Recompute every row's hash (HMAC for keyed rows) and link; report the first break of each table."""
    keyring = keyring if keyring is not None else session.info.get("audit_keyring")
    reports = []
    for model, fields, optional in CHAINS:
        prev = GENESIS
        n = 0
        problem = None
        keyed_seen = False
        rows: Iterable[Any] = session.scalars(select(model).order_by(model.seq)).yield_per(200)
        for row in rows:
            n += 1
            where = f"row seq={row.seq} id={row.id}"
            if row.prev_hash != prev:
                problem = f"{where}: previous-hash link broken (a row was removed or reordered)"
                break
            if row.mac_key:
                keyed_seen = True
            elif keyed_seen:
                problem = f"{where}: row without a key after keyed rows (it was rewritten without the audit key)"
                break
            try:
                expected = row_hash(row, fields, optional, keyring)
            except KeyError:
                problem = f"{where}: signed with audit key {row.mac_key!r}, which the keyring does not hold"
                break
            if not hmac.compare_digest(expected, row.row_hash):
                problem = f"{where}: content does not match its hash (the row was edited)"
                break
            prev = row.row_hash
        reports.append(ChainReport(model.__tablename__, n, problem is None, problem))
    return reports


# --------------------------------------------------------------------------- claims (working state)


class ClaimConflictError(RuntimeError):
    def __init__(self, claim: Claim) -> None:
        super().__init__(f"claimed by {claim.reviewer_name} until {claim.expires_at:%H:%M} UTC")
        self.claim = claim


def active_claims(session: Session, screening_ids: Sequence[str] | None = None) -> dict[str, Claim]:
    q = select(Claim).where(Claim.expires_at > _now())
    if screening_ids is not None:
        q = q.where(Claim.screening_id.in_(list(screening_ids)))
    return {c.screening_id: c for c in session.scalars(q)}


def claim(session: Session, screening_id: str, key_id: int, name: str, ttl: timedelta) -> Claim:
    """Take (or renew) the claim on a screening; another reviewer's unexpired claim raises ClaimConflictError."""
    now = _now()
    row = session.get(Claim, screening_id)
    if row is not None and row.expires_at > now and row.reviewer_key_id != key_id:
        raise ClaimConflictError(row)
    if row is None:
        row = Claim(screening_id=screening_id)
        session.add(row)
    row.reviewer_key_id, row.reviewer_name, row.claimed_at, row.expires_at = key_id, name, now, now + ttl
    try:
        session.flush()
    except IntegrityError:  # another reviewer inserted the claim at the same moment
        session.rollback()
        raise ClaimConflictError(session.get(Claim, screening_id) or row) from None
    return row


def release(session: Session, screening_id: str, key_id: int | None = None) -> bool:
    """Drop a claim (only the holder's when `key_id` is given)."""
    row = session.get(Claim, screening_id)
    if row is None or (key_id is not None and row.reviewer_key_id != key_id):
        return False
    session.delete(row)
    return True
