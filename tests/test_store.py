"""The store on SQLite and PostgreSQL: append-only rows, hash chain, tamper detection, queries."""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from serving.auth import Principal, authenticate, create_key, ensure_bootstrap_admin, revoke_key
from serving.db import make_engine, make_session_factory, session_scope, upgrade
from serving.store import (
    ScreeningFilter,
    add_review,
    create_screening,
    get_screening,
    list_screenings,
    verify_chain,
)


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # idempotent
    yield make_session_factory(engine)
    engine.dispose()


def _screening(session, n: int = 0, key_id: int = 1, action: str = "proceed", tier: str = "minimal"):
    return create_screening(
        session,
        created_by_key_id=key_id,
        created_by_name=f"user{key_id}",
        reference=f"REF-{n}",
        destination="DE",
        destination_group="eu_eu001",
        end_user_type="research",
        end_user_name=None,
        filename=f"doc{n}.pdf",
        media_type="application/pdf",
        size_bytes=100 + n,
        document_sha256=f"{n:064x}",
        text=f"document number {n}",
        raw_bytes=None,
        classification={"tier": tier, "capabilities": [], "risk_factors": [], "scores": {"x": 0.1 * n}},
        tier=tier,
        action=action,
        decision={"action": action, "reasons": ["r"], "rule": 1},
        policy_version="p1",
        model_version="m1",
    )


def test_chain_links_rows_and_verifies(sessions):
    with session_scope(sessions) as s:
        ids = [_screening(s, i).id for i in range(5)]
    with session_scope(sessions) as s:
        add_review(
            s, screening_id=ids[0], reviewer_key_id=2, reviewer_name="rev", verdict="confirm",
            capabilities=[], risk_factors=[], tier="minimal", action="proceed", evidence=[], comment="fine",
        )  # fmt: skip
        reports = verify_chain(s)
    assert [(r.table, r.rows, r.ok) for r in reports] == [
        ("screenings", 5, True),
        ("reviews", 1, True),
        ("audit_events", 0, True),
    ]
    with session_scope(sessions) as s:
        rows = [get_screening(s, i) for i in ids]
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))


def _bypass_append_only(session) -> None:
    """What someone with direct database access could do: switch the guard triggers off."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE screenings DISABLE TRIGGER USER"))
    else:
        session.execute(text("DROP TRIGGER screenings_no_update"))
        session.execute(text("DROP TRIGGER screenings_no_delete"))


def test_database_refuses_updates_and_deletes(sessions):
    with session_scope(sessions) as s:
        _screening(s)
    for stmt in ("UPDATE screenings SET action = 'block'", "DELETE FROM screenings"):
        with pytest.raises(DBAPIError, match="append-only"), session_scope(sessions) as s:
            s.execute(text(stmt))


def test_verify_detects_an_edited_row(sessions):
    with session_scope(sessions) as s:
        ids = [_screening(s, i).id for i in range(4)]
    with session_scope(sessions) as s:
        _bypass_append_only(s)
        s.execute(text("UPDATE screenings SET action = 'block', tier = 'critical' WHERE id = :i"), {"i": ids[2]})
    with session_scope(sessions) as s:
        report = verify_chain(s)[0]
    assert not report.ok and ids[2] in report.problem and "edited" in report.problem


def test_verify_detects_a_deleted_row(sessions):
    with session_scope(sessions) as s:
        ids = [_screening(s, i).id for i in range(4)]
    with session_scope(sessions) as s:
        _bypass_append_only(s)
        s.execute(text("DELETE FROM screenings WHERE id = :i"), {"i": ids[1]})
    with session_scope(sessions) as s:
        report = verify_chain(s)[0]
    assert not report.ok and ids[2] in report.problem and "link broken" in report.problem


def test_concurrent_appends_keep_one_chain(sessions):
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(5):
                with session_scope(sessions) as s:
                    _screening(s, 100 * k + i, key_id=k)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with session_scope(sessions) as s:
        (report, *_) = verify_chain(s)
    assert report.ok and report.rows == 20


def test_list_filters_and_pages(sessions):
    with session_scope(sessions) as s:
        for i in range(7):
            _screening(s, i, key_id=1 + i % 2, action="block" if i % 3 == 0 else "proceed")
    with session_scope(sessions) as s:
        rows, total = list_screenings(s, ScreeningFilter(), offset=0, limit=3)
        assert total == 7 and [r.reference for r in rows] == ["REF-6", "REF-5", "REF-4"]  # newest first
        rows, total = list_screenings(s, ScreeningFilter(action="block"), offset=0, limit=10)
        assert total == 3
        rows, total = list_screenings(s, ScreeningFilter(created_by_key_id=2), offset=0, limit=10)
        assert total == 3 and all(r.created_by_key_id == 2 for r in rows)
        rows, total = list_screenings(s, ScreeningFilter(reference="REF-4"), offset=0, limit=10)
        assert [r.reference for r in rows] == ["REF-4"]


def test_keys_are_hashed_roles_enforced_and_revocable(sessions):
    with session_scope(sessions) as s:
        first = ensure_bootstrap_admin(s)
        assert first and ensure_bootstrap_admin(s) is None
        row, secret = create_key(s, role="screener", name="alice")
        assert secret not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    with session_scope(sessions) as s:
        who = authenticate(s, secret)
        assert who == Principal(key_id=row.id, name="alice", role="screener")
        assert who.can("screener") and not who.can("reviewer")
        assert authenticate(s, secret + "x") is None
        assert revoke_key(s, row.id)
    with session_scope(sessions) as s:
        assert authenticate(s, secret) is None
    with pytest.raises(ValueError, match="unknown role"), session_scope(sessions) as s:
        create_key(s, role="root", name="x")


def test_rows_without_the_newer_columns_hash_as_before(sessions):
    """Migration 0002 adds nullable columns; a row that leaves them NULL keeps the hash it had under 0001."""
    from serving.store import OPTIONAL_SCREENING_FIELDS, SCREENING_FIELDS, row_hash

    with session_scope(sessions) as s:
        row = _screening(s, 1)
        assert row.row_hash == row_hash(row, SCREENING_FIELDS)  # what 0001 computed
        flagged = create_screening(
            s, **{k: getattr(row, k) for k in SCREENING_FIELDS if k not in ("seq", "id", "created_at", "prev_hash")},
            review_required=True, licence_reference="LIC-1",
        )  # fmt: skip
        assert flagged.row_hash != row_hash(flagged, SCREENING_FIELDS)
        assert flagged.row_hash == row_hash(flagged, SCREENING_FIELDS, OPTIONAL_SCREENING_FIELDS)
        assert all(r.ok for r in verify_chain(s))
