"""The keyed, anchored audit trail: each tampering case is named by verify; start-up checks triggers."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from serving.audit import (
    Anchor,
    KeyFileError,
    TriggersMissing,
    ensure_triggers,
    load_keyring,
    rotate_key,
    verify,
)
from serving.auth import create_key, revoke_key, set_role
from serving.db import make_engine, make_session_factory, read_scope, session_scope, upgrade
from serving.store import SCREENING_FIELDS, row_hash
from serving.tables import Screening
from tests.test_store import _screening


class Audited:
    def __init__(self, tmp_path) -> None:
        self.db = tmp_path / "audit.db"
        self.key_file = tmp_path / "audit.key"
        self.anchor_file = tmp_path / "anchor.log"
        self.engine = make_engine(f"sqlite:///{self.db}")
        upgrade(self.engine)
        self.keyring = load_keyring(None, self.key_file)
        self.sessions = make_session_factory(self.engine, self.keyring, Anchor(self.anchor_file, self.keyring))

    def verify(self):
        with read_scope(self.sessions) as s:
            return verify(s, self.keyring, self.anchor_file)

    def sql(self, *statements: str) -> None:
        """What someone with the database file (but not the key file) can do."""
        con = sqlite3.connect(self.db)
        for st in statements:
            con.execute(st)
        con.commit()
        con.close()


@pytest.fixture
def audited(tmp_path):
    a = Audited(tmp_path)
    with session_scope(a.sessions) as s:
        for i in range(6):
            _screening(s, i)
        create_key(s, role="screener", name="alice")
    yield a
    a.engine.dispose()


def _problems(report) -> str:
    return " | ".join([*report.problems, *(c.problem or "" for c in report.chains)])


def test_untouched_trail_verifies(audited):
    report = audited.verify()
    assert report.ok, _problems(report)
    with read_scope(audited.sessions) as s:
        rows = list(s.scalars(text("SELECT mac_key FROM screenings")))
    assert set(rows) == {audited.keyring.current}  # every row is keyed


def test_edited_row_with_the_chain_recomputed_is_named(audited):
    # Edit row 3, then recompute every hash from there as the unkeyed scheme would (no key to hand).
    audited.sql("DROP TRIGGER screenings_no_update")
    audited.sql("UPDATE screenings SET action = 'block', tier = 'critical' WHERE seq = 3")
    with session_scope(make_session_factory(audited.engine)) as s:
        prev = s.scalar(text("SELECT row_hash FROM screenings WHERE seq = 2"))
        for row in s.query(Screening).filter(Screening.seq >= 3).order_by(Screening.seq):
            row.mac_key = None
            row.prev_hash = prev
            row.row_hash = row_hash(row, SCREENING_FIELDS)
            prev = row.row_hash
            s.flush()
    problems = _problems(audited.verify())
    assert "seq=3" in problems and ("without a key" in problems or "anchored hash" in problems), problems


def test_whole_chain_rewritten_is_named_by_the_anchor(audited):
    audited.sql("DROP TRIGGER screenings_no_update")
    audited.sql("UPDATE screenings SET action = 'block'")
    with session_scope(make_session_factory(audited.engine)) as s:
        prev = "0" * 64
        for row in s.query(Screening).order_by(Screening.seq):
            row.mac_key = None
            row.prev_hash = prev
            row.row_hash = row_hash(row, SCREENING_FIELDS)
            prev = row.row_hash
            s.flush()
    report = audited.verify()
    assert report.chains[0].ok  # the chain is self-consistent again ...
    assert "differs from its anchored hash" in _problems(report)  # ... but not what was anchored


def test_cut_tail_is_named(audited):
    audited.sql("DROP TRIGGER screenings_no_delete", "DELETE FROM screenings WHERE seq > 3")
    report = audited.verify()
    assert report.chains[0].ok  # what is left still links up
    assert "the newest 3 rows were removed" in _problems(report)


def test_dropped_triggers_are_named_then_restored_at_start_up(audited):
    audited.sql("DROP TRIGGER reviews_no_delete")
    assert "triggers missing: reviews_no_delete" in _problems(audited.verify())
    with session_scope(audited.sessions) as s, pytest.raises(TriggersMissing):
        ensure_triggers(audited.engine, s, repair=False)
    with session_scope(audited.sessions) as s:
        assert ensure_triggers(audited.engine, s, repair=True) == ["reviews_no_delete"]
    report = audited.verify()
    assert report.ok, _problems(report)
    assert any("restored" in n and "reviews_no_delete" in n for n in report.notes)


def test_role_changed_outside_the_api_is_named(audited):
    audited.sql("UPDATE api_keys SET role = 'admin' WHERE name = 'alice'")
    assert "role is 'admin' in the table but 'screener' in the audit trail" in _problems(audited.verify())


def test_key_added_outside_the_api_is_named(audited):
    audited.sql(
        "INSERT INTO api_keys (prefix, key_hash, role, name, created_at) "
        "VALUES ('sr_x', 'abc', 'admin', 'mallory', '2026-01-01 00:00:00')"
    )
    assert "has no audit event" in _problems(audited.verify())


def test_key_changes_through_the_api_are_chained_and_verify(audited):
    with session_scope(audited.sessions) as s:
        row, _ = create_key(s, role="reviewer", name="rita")
        set_role(s, row.id, "admin")
        revoke_key(s, row.id)
    with read_scope(audited.sessions) as s:
        events = [e for (e,) in s.execute(text("SELECT event FROM audit_events ORDER BY seq"))]
    assert events == ["key_created", "key_created", "key_role_changed", "key_revoked"]
    assert audited.verify().ok


def test_forged_anchor_line_is_named(audited):
    lines = audited.anchor_file.read_text().splitlines()
    lines[-1] = lines[-1].replace('"seq":', '"seq":1', 1)
    audited.anchor_file.write_text("\n".join(lines) + "\n")
    assert "signature does not match" in _problems(audited.verify())


def test_key_file_is_private_and_rotation_keeps_old_rows_verifiable(audited):
    assert stat.S_IMODE(audited.key_file.stat().st_mode) == 0o600
    new_id = rotate_key(audited.key_file)
    keyring = load_keyring(None, audited.key_file)
    assert keyring.current == new_id and len(keyring.keys) == 2
    sessions = make_session_factory(audited.engine, keyring, Anchor(audited.anchor_file, keyring))
    with session_scope(sessions) as s:
        _screening(s, 99)
    with read_scope(sessions) as s:
        assert verify(s, keyring, audited.anchor_file).ok
    os.chmod(audited.key_file, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_keyring(None, audited.key_file)


def test_verify_without_the_key_cannot_pass(audited, tmp_path):
    other = load_keyring(None, tmp_path / "other.key")
    with read_scope(audited.sessions) as s:
        report = verify(s, other, audited.anchor_file)
    assert not report.ok and "keyring does not hold" in _problems(report)


def test_cli_names_a_cut_tail(audited, monkeypatch):
    from surveilrisk.cli import app as cli_app

    audited.sql("DROP TRIGGER screenings_no_delete", "DELETE FROM screenings WHERE seq > 4")
    monkeypatch.setenv("SURVEILRISK_DATABASE_URL", f"sqlite:///{audited.db}")
    monkeypatch.setenv("SURVEILRISK_AUDIT_KEY_FILE", str(audited.key_file))
    monkeypatch.setenv("SURVEILRISK_AUDIT_ANCHOR_FILE", str(audited.anchor_file))
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1 and "TAMPERING" in result.output and "newest 2 rows were removed" in result.output


def test_sqlite_is_synchronous_full(audited):
    with audited.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2


def test_reads_do_not_wait_for_the_write_lock(audited):
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with session_scope(audited.sessions) as s:  # BEGIN IMMEDIATE: holds the write lock
            s.execute(text("SELECT 1"))
            holding.set()
            release.wait(10)

    t = threading.Thread(target=writer)
    t.start()
    holding.wait(5)
    started = time.monotonic()
    with read_scope(audited.sessions) as s:
        assert s.scalar(text("SELECT count(*) FROM screenings")) == 6
    waited = time.monotonic() - started
    release.set()
    t.join()
    assert waited < 2  # a read under a held write lock is not queued behind it (busy_timeout is 30 s)
