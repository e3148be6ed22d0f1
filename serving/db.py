"""Engine, sessions and schema migrations (Alembic, run programmatically at start-up)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


WRITE = "surveilrisk_write"  # execution option: this transaction will write


class DurabilityError(RuntimeError):
    """SQLite did not accept synchronous=FULL, so a power cut could lose acknowledged writes."""


def make_engine(url: str) -> Engine:
    """SQLite gets WAL, foreign keys, synchronous=FULL (asserted) and write locks for writers only.

    Readers start a plain (deferred) transaction and never wait for the write lock; a writer
    opens its transaction with BEGIN IMMEDIATE, so two writers never read the same chain head.
    PostgreSQL gets a pre-ping pool.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below control transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL's default (NORMAL) may lose the last commits on power loss; FULL syncs every commit.
            cur.execute("PRAGMA synchronous=FULL")
            level = cur.execute("PRAGMA synchronous").fetchone()[0]
            cur.close()
            if int(level) != 2:
                raise DurabilityError(f"SQLite synchronous is {level}, not FULL (2); refusing to store audit records")

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # type: ignore[no-untyped-def]
            if conn.get_execution_options().get(WRITE):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def make_session_factory(
    engine: Engine, keyring: object | None = None, anchor: object | None = None
) -> sessionmaker[Session]:
    """Sessions of this engine; `keyring` and `anchor` (serving.audit) key and anchor the audit chain."""
    info: dict[str, object] = {}
    if keyring is not None:
        info["audit_keyring"] = keyring
    if anchor is not None:
        info["audit_anchor"] = anchor
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


@contextmanager
def session_scope(factory: sessionmaker[Session], write: bool = True) -> Iterator[Session]:
    """One transaction; `write=False` for reads, which on SQLite then never take the write lock."""
    session = factory()
    if write:
        session.connection(execution_options={WRITE: True})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def read_scope(factory: sessionmaker[Session]) -> AbstractContextManager[Session]:
    return session_scope(factory, write=False)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any driver error means "not reachable"
        return False
