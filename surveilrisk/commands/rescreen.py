"""`surveilrisk rescreen`: which stored decisions a new model or policy would flip."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail
from surveilrisk.commands.common import training_loaders


class ReportFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def rescreen(
    model: Annotated[str | None, typer.Option(help="`shipped`, an artifact folder or `keyword`.")] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML; default: the policy in settings.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only screenings created on or after this date (UTC).", formats=["%Y-%m-%d"])
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Append a decision record for every applicable flip.")] = False,
    by: Annotated[str, typer.Option(help="Who applies the re-screening (recorded with each record).")] = "cli",
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="Report format.")] = ReportFormat.table,
) -> None:
    """Replay stored screenings (stored text, same destination and end user) and report every decision that
    would flip. Without --apply nothing is written. A person's review in force is never overridden."""
    from classifier.policy import PolicyError, load_policy
    from classifier.predict import Classifier
    from classifier.registry import ModelNotFoundError
    from serving.db import session_scope
    from serving.rescreen import apply as apply_report
    from serving.rescreen import replay, report_csv, report_document
    from serving.settings import get_service_settings
    from surveilrisk.commands.service import _sessions

    settings = get_service_settings()
    try:
        pol = load_policy(policy or settings.policy_path)
    except PolicyError as exc:
        _fail(f"policy: {exc}")
    try:
        clf = Classifier.load(
            model or settings.model,
            limits=settings.limits,
            batch_size=settings.inference_batch_size,
            extra=training_loaders(),
            review=settings.review,
        )
    except ModelNotFoundError as exc:
        _fail(str(exc))
    with session_scope(_sessions()) as session:
        report = replay(session, clf, pol, since)
        written = apply_report(session, report, by) if apply else []
    if format is ReportFormat.json:
        typer.echo(json.dumps(report_document(report, len(written)), indent=2, ensure_ascii=False))
    elif format is ReportFormat.csv:
        sys.stdout.write(report_csv(report))
    else:
        for f in report.flips:
            labels = " ".join([*(f"+{x}" for x in f.labels_added), *(f"-{x}" for x in f.labels_removed)])
            note = "" if f.applies else f"  (kept: reviewed by {f.decided_by})"
            typer.echo(
                f"{f.screening_id}  {f.created_at:%Y-%m-%d}  {f.destination}  {f.end_user_type:<16} "
                f"{f.action_before} → {f.action_after}  tier {f.tier_before} → {f.tier_after}  {labels}{note}"
            )
    verb = f"applied {len(written)}" if apply else "dry run, nothing written"
    typer.echo(
        f"{len(report.flips)} of {report.scanned} decisions would flip "
        f"(model {report.model_version}, policy {report.policy_version}); {verb}",
        err=True,
    )
