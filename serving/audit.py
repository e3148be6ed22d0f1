"""Tamper evidence beyond the database: the HMAC keyring, the anchor file, key events, triggers.

- Keyring: HMAC keys kept outside the database (a 0600 key file in the data folder, or
  SURVEILRISK_AUDIT_KEY). The last key signs new rows; older keys stay to verify old rows,
  which is how a key is rotated (`surveilrisk audit rotate-key`).
- Anchor: after every commit that extends a chain, the new head (table, seq, hash) is appended,
  with its own HMAC, to an append-only file. `verify` compares: a rewritten chain no longer
  matches the anchored hashes, and removed newest rows leave anchors pointing past the end.
- Key events: creating, revoking and re-roling an API key are rows of the `audit_events`
  chain; `verify` replays them and names keys whose stored state differs (changed by SQL).
- Triggers: the database refuses UPDATE/DELETE on chained tables; start-up checks that the
  triggers exist and restores them (recording that in the chain) or refuses to start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from serving.store import EVENT_FIELDS, ChainReport, append, new_id, verify_chain
from serving.tables import ApiKey, AuditEvent

log = logging.getLogger("surveilrisk.audit")

CHAINED_TABLES = ("screenings", "reviews", "audit_events")
KEY_EVENTS = ("key_created", "key_revoked", "key_role_changed", "key_adopted")


# --------------------------------------------------------------------------- keyring


def key_id(secret: bytes) -> str:
    return hashlib.sha256(b"surveilrisk-audit-key:" + secret).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    """HMAC keys by id; `current` signs new rows."""

    keys: dict[str, bytes]
    current: str

    def secret(self, kid: str) -> bytes:
        return self.keys[kid]

    def mac(self, data: bytes, kid: str | None = None) -> str:
        return hmac.new(self.keys[kid or self.current], data, hashlib.sha256).hexdigest()

    @classmethod
    def from_hex(cls, lines: Iterable[str]) -> Keyring:
        keys: dict[str, bytes] = {}
        last = None
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                secret = bytes.fromhex(line)
            except ValueError:
                raise ValueError("an audit key must be hex (64 characters for 32 bytes)") from None
            if len(secret) < 16:
                raise ValueError("an audit key must be at least 16 bytes (32 hex characters)")
            last = key_id(secret)
            keys[last] = secret
        if last is None:
            raise ValueError("no audit key found")
        return cls(keys, last)


class KeyFileError(RuntimeError):
    pass


def load_keyring(key: str | None, key_file: Path, create: bool = True) -> Keyring:
    """The keyring from `key` (hex, comma-separated, last one current) or from the key file.

    A missing key file is created with one fresh key, mode 0600. A key file that others can
    read is refused: anyone who reads the key can rewrite the chain undetected.
    """
    if key:
        return Keyring.from_hex(key.split(","))
    if not key_file.exists():
        if not create:
            raise KeyFileError(f"no audit key file at {key_file}; start the service once or set SURVEILRISK_AUDIT_KEY")
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return load_keyring(None, key_file, create=False)
        with os.fdopen(fd, "w") as fh:
            fh.write("# SurveilRisk audit HMAC keys: the last line signs new rows; keep older lines to verify.\n")
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        log.warning("created the audit key file %s (keep a copy outside this machine)", key_file)
    mode = key_file.stat().st_mode
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"the audit key file {key_file} is readable by others; run: chmod 600 {key_file}")
    return Keyring.from_hex(key_file.read_text(encoding="ascii").splitlines())


def rotate_key(key_file: Path) -> str:
    """Append a new key to the key file (it signs from now on); return its id."""
    keyring = load_keyring(None, key_file, create=True)
    secret = secrets.token_hex(32)
    with key_file.open("a", encoding="ascii") as fh:
        fh.write(secret + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    new = key_id(bytes.fromhex(secret))
    assert new not in keyring.keys
    return new


# --------------------------------------------------------------------------- anchor file


class Anchor:
    """The append-only file of chain heads, each line signed with the current key."""

    def __init__(self, path: Path, keyring: Keyring) -> None:
        self.path = path
        self.keyring = keyring
        self._lock = threading.Lock()

    def _line(self, table: str, seq: int, row_hash: str) -> str:
        entry: dict[str, object] = {
            "table": table,
            "seq": seq,
            "hash": row_hash,
            "at": datetime.now(UTC).isoformat(),
            "key": self.keyring.current,
        }
        body = json.dumps(entry, sort_keys=True, separators=(",", ":"))
        entry["mac"] = self.keyring.mac(body.encode())
        return json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"

    def record(self, heads: Sequence[tuple[str, int, str]]) -> None:
        """Append one line per head; O_APPEND keeps lines whole when several processes write."""
        data = "".join(self._line(t, s, h) for t, s, h in heads).encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)


@dataclass
class AnchorRead:
    heads: dict[str, dict[int, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    lines: int = 0


def read_anchor(path: Path, keyring: Keyring) -> AnchorRead:
    out = AnchorRead()
    if not path.exists():
        return out
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.endswith("\n"):
                continue  # a line cut by a crash mid-write: the head it named is still in the next line
            out.lines += 1
            try:
                entry = json.loads(raw)
                mac = entry.pop("mac")
                body = json.dumps(entry, sort_keys=True, separators=(",", ":"))
                kid = entry["key"]
                if kid not in keyring.keys:
                    out.problems.append(f"anchor line {n}: signed with unknown audit key {kid!r}")
                    continue
                if not hmac.compare_digest(keyring.mac(body.encode(), kid), mac):
                    out.problems.append(f"anchor line {n}: its signature does not match (the line was edited)")
                    continue
                out.heads.setdefault(entry["table"], {})[int(entry["seq"])] = entry["hash"]
            except (ValueError, KeyError, TypeError):
                out.problems.append(f"anchor line {n}: not a valid anchor entry")
    return out


# --------------------------------------------------------------------------- key events


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def key_state(row: ApiKey) -> dict[str, Any]:
    """What an event records of a key, and what verify compares with the table."""
    return {
        "role": row.role,
        "name": row.name,
        "key_hash": row.key_hash,
        "prefix": row.prefix,
        "revoked": row.revoked_at is not None,
    }


def record_event(
    session: Session,
    event: str,
    *,
    details: dict[str, Any],
    subject_key_id: int | None = None,
    actor_key_id: int | None = None,
    actor_name: str = "command line",
) -> AuditEvent:
    row = AuditEvent(
        id=new_id("evt"),
        created_at=_now(),
        actor_key_id=actor_key_id,
        actor_name=actor_name[:120],
        event=event,
        subject_key_id=subject_key_id,
        details=details,
    )
    append(session, row, EVENT_FIELDS)
    return row


def record_key_event(
    session: Session, event: str, key: ApiKey, actor_key_id: int | None = None, actor_name: str = "command line"
) -> AuditEvent:
    assert event in KEY_EVENTS
    session.flush()  # the key's id
    return record_event(
        session,
        event,
        details=key_state(key),
        subject_key_id=key.id,
        actor_key_id=actor_key_id,
        actor_name=actor_name,
    )


def adopt_unrecorded_keys(session: Session) -> int:
    """Once, on a database from before key events: record every existing key as it stands.

    Only while the events table is empty; afterwards a key without events was created
    outside the service and `verify` names it.
    """
    if session.scalar(select(func.count()).select_from(AuditEvent)):
        return 0
    keys = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
    for k in keys:
        record_key_event(session, "key_adopted", k, actor_name="start-up")
    return len(keys)


def key_problems(session: Session) -> list[str]:
    """Keys whose stored state differs from what their audit events say."""
    expected: dict[int, dict[str, Any]] = {}
    for ev in session.scalars(select(AuditEvent).where(AuditEvent.event.in_(KEY_EVENTS)).order_by(AuditEvent.seq)):
        if ev.subject_key_id is not None:
            expected[ev.subject_key_id] = dict(ev.details)
    problems = []
    seen = set()
    for row in session.scalars(select(ApiKey).order_by(ApiKey.id)):
        seen.add(row.id)
        want = expected.get(row.id)
        if want is None:
            problems.append(f"api key {row.id} ({row.role}, {row.name!r}) has no audit event: added outside the API")
            continue
        have = key_state(row)
        for k in ("role", "key_hash", "revoked", "name"):
            if have.get(k) != want.get(k):
                problems.append(
                    f"api key {row.id}: {k} is {have.get(k)!r} in the table but {want.get(k)!r} in the audit trail "
                    "(changed outside the API)"
                )
    for missing in sorted(set(expected) - seen):
        problems.append(f"api key {missing} is in the audit trail but missing from the table (deleted outside the API)")
    return problems


# --------------------------------------------------------------------------- triggers


def expected_triggers(dialect: str) -> dict[str, list[str]]:
    """Trigger names that must exist, by table."""
    if dialect == "sqlite":
        return {t: [f"{t}_no_update", f"{t}_no_delete"] for t in CHAINED_TABLES}
    if dialect == "postgresql":
        return {t: [f"{t}_append_only"] for t in CHAINED_TABLES}
    return {}


def missing_triggers(conn: Connection) -> list[str]:
    dialect = conn.dialect.name
    wanted = [name for names in expected_triggers(dialect).values() for name in names]
    if dialect == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        present = {r[0] for r in rows}
    elif dialect == "postgresql":
        rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'"))
        present = {r[0] for r in rows}
    else:
        return []
    return [name for name in wanted if name not in present]


def create_triggers(conn: Connection, names: Sequence[str]) -> None:
    dialect = conn.dialect.name
    for table, tnames in expected_triggers(dialect).items():
        for name in tnames:
            if name not in names:
                continue
            if dialect == "sqlite":
                what = "UPDATE" if name.endswith("_no_update") else "DELETE"
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {what} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
            else:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                conn.exec_driver_sql(
                    f"CREATE TRIGGER {name} BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION surveilrisk_append_only()"
                )


class TriggersMissing(RuntimeError):
    pass


def ensure_triggers(engine: Engine, session: Session, repair: bool) -> list[str]:
    """Check the append-only triggers; restore missing ones (and record it) or refuse."""
    with engine.connect() as conn:
        missing = missing_triggers(conn)
    if not missing:
        return []
    if not repair:
        raise TriggersMissing(
            f"append-only triggers are missing ({', '.join(missing)}); the audit tables could have been edited. "
            "Run `surveilrisk audit verify`, then restart with SURVEILRISK_AUDIT_REPAIR_TRIGGERS=true to restore them"
        )
    log.error("append-only triggers were missing and are restored: %s", ", ".join(missing))
    create_triggers(session.connection(), missing)  # in the session's (write) transaction, with the event
    record_event(session, "triggers_restored", details={"missing": missing}, actor_name="start-up")
    return missing


# --------------------------------------------------------------------------- verify


@dataclass
class AuditReport:
    chains: list[ChainReport]
    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.chains)


def _max_seq(session: Session, table: str) -> tuple[int, dict[int, str]]:
    rows = session.execute(text(f"SELECT seq, row_hash FROM {table}"))
    hashes = {int(s): h for s, h in rows}
    return (max(hashes) if hashes else 0), hashes


def verify(session: Session, keyring: Keyring | None, anchor_path: Path | None) -> AuditReport:
    """Everything `surveilrisk audit verify` checks; `problems` name each kind of tampering found."""
    chains = verify_chain(session, keyring)
    problems: list[str] = []
    notes: list[str] = []
    missing = missing_triggers(session.connection())
    if missing:
        problems.append(f"append-only triggers missing: {', '.join(missing)} (the audit tables can be edited)")
    for ev in session.scalars(select(AuditEvent).where(AuditEvent.event == "triggers_restored")):
        notes.append(
            f"{ev.created_at:%Y-%m-%d %H:%M} start-up found triggers missing and restored them: "
            f"{', '.join(ev.details.get('missing', []))}"
        )
    problems.extend(key_problems(session))
    if keyring is not None and anchor_path is not None:
        anchors = read_anchor(anchor_path, keyring)
        problems.extend(anchors.problems)
        if not anchors.lines:
            notes.append(f"no anchor file at {anchor_path} (or it is empty): tail cuts cannot be checked")
        for table in CHAINED_TABLES:
            heads = anchors.heads.get(table, {})
            top, hashes = _max_seq(session, table)
            if not heads:
                continue
            anchored_top = max(heads)
            if anchored_top > top:
                problems.append(
                    f"{table}: the anchor file records row seq={anchored_top} but the table ends at seq={top}: "
                    f"the newest {anchored_top - top} rows were removed"
                )
            for seq, h in sorted(heads.items()):
                if seq in hashes and not hmac.compare_digest(hashes[seq], h):
                    problems.append(f"{table}: row seq={seq} differs from its anchored hash (the chain was rewritten)")
                    break
            if top > anchored_top:
                notes.append(
                    f"{table}: {top - anchored_top} newest rows are not anchored yet "
                    "(normal after a crash between commit and anchoring; otherwise check the anchor file)"
                )
    return AuditReport(chains, problems, notes)
