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
    from serving.db import make_engine, make_session_factory, upgrade
    from serving.settings import get_service_settings as get_settings

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return make_session_factory(engine)


def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the API and web page; on an empty database, create and print the first admin key."""
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
    uvicorn.run("serving.asgi:app", host=host, port=port, workers=workers, log_level="info")


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
    from serving.db import session_scope

    with session_scope(_sessions()) as session:
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


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain of screenings and reviews; exit 1 at the first break."""
    from serving.db import session_scope
    from serving.store import verify_chain

    with session_scope(_sessions()) as session:
        reports = verify_chain(session)
    bad = False
    for r in reports:
        if r.ok:
            typer.echo(f"{r.table}: {r.rows} rows, chain intact")
        else:
            bad = True
            typer.echo(f"{r.table}: CHAIN BROKEN at {r.problem}", err=True)
    if bad:
        raise typer.Exit(1)


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
