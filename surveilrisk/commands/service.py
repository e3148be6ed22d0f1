"""`surveilrisk serve | keys | audit | feedback`: the service and its records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail

keys_app = typer.Typer(help="API keys of the service.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail of screenings and reviews.", no_args_is_help=True)
feedback_app = typer.Typer(help="Reviewer corrections for retraining.", no_args_is_help=True)


def _sessions():  # type: ignore[no-untyped-def]
    """Keyed, anchored sessions on the configured database (migrated; triggers checked)."""
    from serving.app import open_audit
    from serving.audit import KeyFileError, TriggersMissing
    from serving.db import make_engine, upgrade
    from serving.settings import get_service_settings as get_settings

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    try:
        _, _, sessions = open_audit(settings, engine)
    except (KeyFileError, TriggersMissing, ValueError) as exc:
        _fail(str(exc))
    return sessions


class _Server:
    """uvicorn's Server, except that SIGTERM ends with exit status 0 after the drain.

    uvicorn re-raises the signal it caught once it has shut down, so a clean, drained stop
    on SIGTERM would still exit 143; process supervisors read that as a crash.
    """

    @staticmethod
    def make(config):  # type: ignore[no-untyped-def]
        import signal

        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(self, sig, frame):  # type: ignore[no-untyped-def]
                if sig == signal.SIGTERM:
                    self.should_exit = True  # drain, then return normally
                    return
                super().handle_exit(sig, frame)

        return Server(config)


def _log_to_stderr() -> None:
    """The service's own log lines (refusals, lockouts, audit start-up checks) next to uvicorn's."""
    import logging

    logger = logging.getLogger("surveilrisk")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     [%(name)s] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the API and web page; on an empty database, create and print the first admin key.

    SIGTERM stops accepting connections, lets in-flight requests finish (at most
    server_graceful_shutdown_s) and exits 0.
    """
    import uvicorn

    from classifier.policy import PolicyError, load_policy
    from serving.auth import ensure_bootstrap_admin
    from serving.db import session_scope
    from serving.settings import get_service_settings as get_settings

    settings = get_settings()
    try:
        load_policy(settings.policy_path)
    except PolicyError as exc:
        _fail(f"policy: {exc}")
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        typer.echo(
            "warning: several workers on SQLite serialise writes; set SURVEILRISK_DATABASE_URL to PostgreSQL", err=True
        )
    with session_scope(_sessions()) as session:
        secret = ensure_bootstrap_admin(session)
    if secret:
        typer.echo("=" * 72)
        typer.echo("First start: created an admin API key. It is shown only now; store it safely:")
        typer.echo(f"    {secret}")
        typer.echo("=" * 72)
    typer.echo(f"SurveilRisk on http://{host}:{port}/  (API docs: /docs)")
    _log_to_stderr()
    if workers > 1:
        # The multiprocess supervisor drains its workers on SIGTERM the same way.
        uvicorn.run(
            "serving.asgi:app",
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            timeout_keep_alive=settings.server_keepalive_s,
            limit_concurrency=settings.server_limit_concurrency,
            timeout_graceful_shutdown=settings.server_graceful_shutdown_s,
        )
        return
    config = uvicorn.Config(
        "serving.asgi:app",
        host=host,
        port=port,
        log_level="info",
        timeout_keep_alive=settings.server_keepalive_s,
        limit_concurrency=settings.server_limit_concurrency,
        timeout_graceful_shutdown=settings.server_graceful_shutdown_s,
        h11_max_incomplete_event_size=64 * 1024,  # request line + headers
    )
    _Server.make(config).run()


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="screener, reviewer or admin.")],
    name: Annotated[str, typer.Option(help="Whose key this is.")],
) -> None:
    """Create an API key and print its secret once."""
    from serving.auth import create_key
    from serving.db import session_scope

    try:
        with session_scope(_sessions()) as session:
            row, secret = create_key(session, role=role, name=name)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"created key {row.id} ({role}, {name}); the secret is shown only now:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from serving.auth import list_keys
    from serving.db import read_scope

    with read_scope(_sessions()) as session:
        for k in list_keys(session):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            typer.echo(f"{k.id:>4}  {k.prefix}…  {k.role:<9} {state:<18} {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key by its id."""
    from serving.auth import revoke_key
    from serving.db import session_scope

    with session_scope(_sessions()) as session:
        if not revoke_key(session, key_id):
            _fail(f"no active key with id {key_id}")
    typer.echo(f"revoked key {key_id}")


@keys_app.command("role")
def keys_role(key_id: int, role: Annotated[str, typer.Argument(help="screener, reviewer or admin.")]) -> None:
    """Change a key's role (recorded in the audit chain)."""
    from serving.auth import set_role
    from serving.db import session_scope

    try:
        with session_scope(_sessions()) as session:
            row = set_role(session, key_id, role)
    except ValueError as exc:
        _fail(str(exc))
    if row is None:
        _fail(f"no active key with id {key_id}")
    typer.echo(f"key {key_id} now has the {role} role")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit trail; exit 1 naming each problem found.

    Checks: every row's HMAC and link (edits, removed or reordered rows); the anchor file
    against the database (a rewritten chain, removed newest rows); the append-only triggers;
    API keys against their audit events (roles or keys changed outside the API).
    """
    from serving.audit import load_keyring, verify
    from serving.db import make_engine, make_session_factory, read_scope, upgrade
    from serving.settings import get_service_settings as get_settings

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    try:
        keyring = load_keyring(settings.audit_key, settings.effective_audit_key_file, create=False)
    except (RuntimeError, ValueError) as exc:
        _fail(f"audit key: {exc}")
    with read_scope(make_session_factory(engine)) as session:
        report = verify(session, keyring, settings.effective_audit_anchor_file)
    for r in report.chains:
        if r.ok:
            typer.echo(f"{r.table}: {r.rows} rows, chain intact")
        else:
            typer.echo(f"{r.table}: CHAIN BROKEN at {r.problem}", err=True)
    for note in report.notes:
        typer.echo(f"note: {note}")
    for problem in report.problems:
        typer.echo(f"TAMPERING: {problem}", err=True)
    if not report.ok:
        raise typer.Exit(1)
    typer.echo("audit trail verified")


@audit_app.command("rotate-key")
def audit_rotate_key() -> None:
    """Add a new HMAC key to the key file; it signs new rows, older keys stay to verify old ones."""
    from serving.audit import rotate_key
    from serving.settings import get_service_settings as get_settings

    settings = get_settings()
    if settings.audit_key:
        _fail("SURVEILRISK_AUDIT_KEY is set: append a new hex key to it (comma-separated, newest last) instead")
    new = rotate_key(settings.effective_audit_key_file)
    typer.echo(f"new audit key {new} appended to {settings.effective_audit_key_file}; restart the service to use it")


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="JSONL file to write (corpus format).")] = Path("feedback.jsonl"),
) -> None:
    """Write reviewed screenings as corpus documents for `surveilrisk train --extra`."""
    from serving.db import session_scope
    from serving.feedback import export_lines

    with session_scope(_sessions()) as session, out.open("w", encoding="utf-8") as fh:
        n = 0
        for line in export_lines(session):
            fh.write(line)
            n += 1
    typer.echo(f"wrote {n} reviewed documents to {out}")
