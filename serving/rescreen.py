"""Re-screening impact: replay stored screenings with another model or policy and list every decision
that would flip, before anyone switches. `apply` appends decision records (kind `rescreen`) that name
the record they supersede; nothing stored is edited, so the audit chain stays intact.

A screening a person has reviewed keeps the reviewer's decision: a flip against it is reported
(`applies: false`) for a person to look at, never applied.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from classifier.extract import extract_text
from classifier.policy import Policy
from classifier.predict import Classifier
from classifier.results import ClassificationResult
from serving.decisions import decision_in_force, is_human
from serving.store import add_review, records_of
from serving.tables import Review, Screening

BATCH = 16


@dataclass
class Flip:
    """One decision that would come out differently."""

    screening_id: str
    created_at: datetime
    reference: str | None
    document: str | None
    destination: str
    end_user_type: str
    action_before: str
    action_after: str
    tier_before: str
    tier_after: str
    labels_added: list[str]
    labels_removed: list[str]
    decided_by: str  # "policy", or the reviewer / re-screening that is in force
    applies: bool  # False when a person's review is in force
    review_required: bool
    reasons: list[str] = field(default_factory=list)
    supersedes: str = ""
    applied_record: str | None = None
    _result: ClassificationResult | None = field(default=None, repr=False)

    def as_row(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if not k.startswith("_")}
        out["created_at"] = self.created_at.isoformat(timespec="seconds")
        return out


@dataclass
class Report:
    scanned: int
    flips: list[Flip]
    model_version: str
    policy_version: str


def _batches(session: Session, since: datetime | None) -> Iterator[list[Screening]]:
    q = select(Screening).order_by(Screening.seq)
    if since is not None:
        q = q.where(Screening.created_at >= since)
    batch: list[Screening] = []
    for row in session.scalars(q).yield_per(BATCH * 4):
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def replay(session: Session, classifier: Classifier, policy: Policy, since: datetime | None = None) -> Report:
    """Classify each stored text again and decide with `policy` (same destination and end user)."""
    limits = dataclasses.replace(classifier.limits, max_bytes=2**62)  # stored text was accepted once already
    flips: list[Flip] = []
    scanned = 0
    for rows in _batches(session, since):
        scanned += len(rows)
        results = classifier.classify_extracted([(s.filename or s.id, extract_text(s.text, limits)) for s in rows])
        records = records_of(session, [s.id for s in rows])
        for s, res in zip(rows, results, strict=True):
            new = policy.decide(res.tier, s.destination, s.end_user_type, review_required=res.review_required)
            recs = records[s.id]
            before = decision_in_force(s, recs)
            if new.action.id == before.action:
                continue
            old_labels = {*before.capabilities, *before.risk_factors}
            new_labels = {d.id for d in (*res.capabilities, *res.risk_factors)}
            human = bool(recs) and is_human(recs[-1])
            flips.append(
                Flip(
                    screening_id=s.id,
                    created_at=s.created_at,
                    reference=s.reference,
                    document=s.filename,
                    destination=s.destination,
                    end_user_type=s.end_user_type,
                    action_before=before.action,
                    action_after=new.action.id,
                    tier_before=before.tier,
                    tier_after=res.tier,
                    labels_added=sorted(new_labels - old_labels),
                    labels_removed=sorted(old_labels - new_labels),
                    decided_by=before.decided_by_name or "policy",
                    applies=not human,
                    review_required=res.review_required,
                    reasons=list(new.reasons),
                    supersedes=before.record_id or s.id,
                    _result=res,
                )
            )
    return Report(scanned, flips, classifier.version, policy.version)


def apply(session: Session, report: Report, by: str, by_key_id: int = 0) -> list[Review]:
    """Append one `rescreen` record per applicable flip; returns the records written.

    A flip whose decision in force changed since the replay (a review arrived meanwhile) is
    skipped and marked `applies: false`: it was computed against a record that no longer counts.
    """
    written = []
    current = _in_force_now(session, [f.screening_id for f in report.flips if f.applies])
    for f in report.flips:
        if not f.applies or f._result is None:
            continue
        if current.get(f.screening_id) != f.supersedes:
            f.applies = False
            continue
        res = f._result
        evidence = [
            {"label": d.id, "start": e.start, "end": e.end}
            for d in (*res.capabilities, *res.risk_factors)
            for e in d.evidence[:1]
        ]
        rec = add_review(
            session,
            screening_id=f.screening_id,
            reviewer_key_id=by_key_id,
            reviewer_name=f"rescreen ({by})",
            verdict="rescreen",
            capabilities=[d.id for d in res.capabilities],
            risk_factors=[d.id for d in res.risk_factors],
            tier=res.tier,
            action=f.action_after,
            evidence=evidence,
            comment=(
                f"Re-screened with model {report.model_version} and policy {report.policy_version}: "
                f"{f.action_before} → {f.action_after}."
            ),
            kind="rescreen",
            supersedes=f.supersedes,
            reasons=f.reasons,
            policy_version=report.policy_version,
            model_version=report.model_version,
        )
        f.applied_record = rec.id
        written.append(rec)
    return written


def _in_force_now(session: Session, ids: list[str]) -> dict[str, str]:
    """For each screening, the id of the record its decision in force rests on (its own id for the policy's)."""
    if not ids:
        return {}
    rows = session.scalars(select(Screening).where(Screening.id.in_(ids)))
    records = records_of(session, ids)
    return {s.id: decision_in_force(s, records[s.id]).record_id or s.id for s in rows}


def report_document(report: Report, applied: int) -> dict[str, Any]:
    """The report as JSON, the same for `surveilrisk rescreen --format json` and `POST /v1/rescreen`."""
    return {
        "model_version": report.model_version,
        "policy_version": report.policy_version,
        "scanned": report.scanned,
        "applied": applied,
        "flips": [f.as_row() for f in report.flips],
    }


def report_csv(report: Report) -> str:
    """The flips as CSV (one row each, list columns joined with `;`), with spreadsheet-safe cells."""
    from serving.security import csv_safe

    buf = io.StringIO()
    out = csv.DictWriter(buf, fieldnames=list(FIELDS), extrasaction="ignore")
    out.writeheader()
    for f in report.flips:
        row = f.as_row()
        out.writerow({k: csv_safe(";".join(v) if isinstance(v, list) else v) for k, v in row.items()})
    return buf.getvalue()


FIELDS: Sequence[str] = (
    "screening_id",
    "created_at",
    "reference",
    "document",
    "destination",
    "end_user_type",
    "action_before",
    "action_after",
    "tier_before",
    "tier_after",
    "labels_added",
    "labels_removed",
    "decided_by",
    "applies",
    "review_required",
    "applied_record",
)
