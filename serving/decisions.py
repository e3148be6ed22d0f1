"""Which decision counts: the latest decision record (a person's review or an applied re-screening),
else the model reading with the policy's action. Pure functions over stored rows, so the API, the
page, the CSV, the report and the worklist all agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serving.tables import Review, Screening

REVIEW_STATUSES = ("open", "in_review", "decided")


@dataclass(frozen=True)
class InForce:
    """The decision in force on one screening and where it comes from."""

    source: str  # "policy" (the model reading + policy), "review" or "rescreen"
    action: str
    tier: str
    capabilities: list[str]
    risk_factors: list[str]
    reasons: list[str]
    decided_at: datetime
    record_id: str | None = None  # None while the model's decision stands
    decided_by_key_id: int | None = None
    decided_by_name: str | None = None
    comment: str | None = None
    action_reason: str | None = None
    review_required: bool = False
    review_reasons: list[dict[str, Any]] = field(default_factory=list)


def is_human(record: Review) -> bool:
    return record.kind in (None, "review")


def screening_review_required(s: Screening) -> bool:
    """The stored flag; rows from before the flag was a column carry it in the classification only."""
    if s.review_required is not None:
        return bool(s.review_required)
    return bool(s.classification.get("review_required", False))


def model_labels(s: Screening) -> tuple[list[str], list[str]]:
    cls = s.classification
    return [d["id"] for d in cls.get("capabilities", [])], [d["id"] for d in cls.get("risk_factors", [])]


def model_in_force(s: Screening) -> InForce:
    caps, risks = model_labels(s)
    flagged = screening_review_required(s)
    return InForce(
        source="policy",
        action=s.action,
        tier=s.tier,
        capabilities=caps,
        risk_factors=risks,
        reasons=list(s.decision.get("reasons", [])),
        decided_at=s.created_at,
        review_required=flagged,
        review_reasons=list(s.classification.get("review_reasons", [])) if flagged else [],
    )


def record_in_force(s: Screening, r: Review) -> InForce:
    human = is_human(r)
    if human:
        verb = "Confirmed" if r.verdict == "confirm" else "Corrected"
        reasons = [f"{verb} by {r.reviewer_name} on {r.created_at:%Y-%m-%d %H:%M} UTC: {r.comment}"]
        if r.action_reason:
            reasons.append(f"Why the action changed: {r.action_reason}")
    else:
        reasons = list(r.reasons or [])
    flagged = not human and screening_review_required(s)
    return InForce(
        source="review" if human else "rescreen",
        action=r.action,
        tier=r.tier,
        capabilities=list(r.capabilities),
        risk_factors=list(r.risk_factors),
        reasons=reasons,
        decided_at=r.created_at,
        record_id=r.id,
        decided_by_key_id=r.reviewer_key_id,
        decided_by_name=r.reviewer_name,
        comment=r.comment,
        action_reason=r.action_reason,
        review_required=flagged,
        review_reasons=list(s.classification.get("review_reasons", [])) if flagged else [],
    )


def decision_in_force(s: Screening, records: Sequence[Review]) -> InForce:
    """The newest record wins; records are append-only, so the history of who decided what stays."""
    return record_in_force(s, records[-1]) if records else model_in_force(s)


def review_status(records: Sequence[Review], claimed: bool) -> str:
    if any(is_human(r) for r in records):
        return "decided"
    return "in_review" if claimed else "open"


@dataclass(frozen=True)
class Change:
    """What one decision changes relative to another: labels added/removed, tier and action moves."""

    added: list[str]
    removed: list[str]
    tier: tuple[str, str] | None
    action: tuple[str, str] | None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.tier or self.action)

    def as_dict(self) -> dict[str, Any]:
        return {
            "labels_added": self.added,
            "labels_removed": self.removed,
            "tier": {"from": self.tier[0], "to": self.tier[1]} if self.tier else None,
            "action": {"from": self.action[0], "to": self.action[1]} if self.action else None,
        }


def change(
    before: InForce, labels: Sequence[str], tier: str, action: str, before_labels: Sequence[str] | None = None
) -> Change:
    old = set(before_labels if before_labels is not None else [*before.capabilities, *before.risk_factors])
    new = set(labels)
    return Change(
        added=sorted(new - old),
        removed=sorted(old - new),
        tier=(before.tier, tier) if tier != before.tier else None,
        action=(before.action, action) if action != before.action else None,
    )


def history(s: Screening, records: Sequence[Review]) -> list[tuple[Review, InForce, Change]]:
    """Each record with the decision it superseded and what it changed."""
    out = []
    prev = model_in_force(s)
    for r in records:
        out.append((r, prev, change(prev, [*r.capabilities, *r.risk_factors], r.tier, r.action)))
        prev = record_in_force(s, r)
    return out
