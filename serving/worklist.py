"""The reviewers' worklist: screenings nobody has reviewed, the costliest possible mistakes first.

priority = severity × uncertainty
  severity (1-7): 1 + the most severe action any plausible tier would get for this destination and
    end user (0 proceed … 3 block) + the highest plausible tier (0 minimal … 3 critical); a tier is
    plausible when the model gives it at least `PLAUSIBLE` probability, and the decided tier always is.
  uncertainty (0-1): the largest of 1 − (top tier probability − runner-up), closeness of any label
    score to its threshold (within `NEAR`), and 1 when the reading was flagged `review_required`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from classifier.policy import Action, Policy, PolicyError
from classifier.taxonomy import TIER_IDS
from serving.decisions import decision_in_force, screening_review_required
from serving.store import active_claims, human_reviewed, records_of
from serving.tables import Claim, Screening

PLAUSIBLE = 0.05
NEAR = 0.15
MIN_UNCERTAINTY = 0.05


@dataclass(frozen=True)
class Priority:
    score: float
    severity: int
    uncertainty: float
    why: list[str]


def priority(
    s: Screening,
    policy: Policy,
    thresholds: dict[str, float],
    action_in_force: str,
    names: dict[str, str] | None = None,
) -> Priority:
    cls: dict[str, Any] = s.classification
    probs: dict[str, float] = {t: float(p) for t, p in (cls.get("tier_scores") or {}).items() if t in TIER_IDS}
    plausible = {t for t, p in probs.items() if p >= PLAUSIBLE} | {s.tier}
    worst_tier = max(plausible, key=TIER_IDS.index)
    actions = {}
    for t in plausible:
        try:
            actions[t] = policy.decide(t, s.destination, s.end_user_type).action
        except PolicyError:  # a destination the current policy no longer knows: judge by what was decided
            actions[t] = Action.parse(s.action)
    worst_action = max([*actions.values(), Action.parse(action_in_force)])
    severity = 1 + int(worst_action) + TIER_IDS.index(worst_tier)
    why = [f"at stake: {worst_action.id.replace('_', ' ')} and tier {worst_tier}"]

    ordered = [*sorted(probs.values(), reverse=True), 0.0, 0.0]
    margin_u = 1.0 - (ordered[0] - ordered[1])
    parts = {"tier margin": margin_u}
    near_label, near_u = None, 0.0
    for label, score in (cls.get("scores") or {}).items():
        thr = thresholds.get(label, 0.5)
        closeness = 1.0 - abs(float(score) - thr) / NEAR
        if closeness > near_u:
            near_label, near_u = label, closeness
    if near_label is not None:
        parts[f"{(names or {}).get(near_label, near_label)} near its threshold"] = near_u
    flagged = screening_review_required(s)
    if flagged:
        codes = ", ".join(r["code"] for r in cls.get("review_reasons", [])) or "flagged"
        parts[f"needs human review ({codes})"] = 1.0
    driver = max(parts, key=lambda k: parts[k])
    uncertainty = max(MIN_UNCERTAINTY, min(1.0, parts[driver]))
    why.append(f"unsure: {driver} ({uncertainty:.2f})")
    if probs:
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:2]
        why.append("tier probabilities " + ", ".join(f"{t} {p:.0%}" for t, p in top))
    return Priority(round(severity * uncertainty, 3), severity, round(uncertainty, 3), why)


@dataclass(frozen=True)
class Entry:
    screening: Screening
    priority: Priority
    claim: Claim | None


def status_counts(session: Session, visible_to: int | None) -> dict[str, int]:
    base = select(Screening.id)
    if visible_to is not None:
        base = base.where(Screening.created_by_key_id == visible_to)
    total = int(session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    decided = int(session.scalar(select(func.count()).select_from(base.where(human_reviewed()).subquery())) or 0)
    open_ids = [r for r in session.scalars(base.where(~human_reviewed()))]
    in_review = len(active_claims(session, open_ids)) if open_ids else 0
    return {"open": total - decided - in_review, "in_review": in_review, "decided": decided}


def ranked(
    session: Session,
    policy: Policy,
    thresholds: dict[str, float],
    *,
    scan: int,
    status: str | None = None,
    exclude_creator: int | None = None,
    names: dict[str, str] | None = None,
) -> list[Entry]:
    """Unreviewed screenings, highest priority first (newest `scan` rows considered)."""
    q = select(Screening).where(~human_reviewed()).order_by(Screening.seq.desc()).limit(scan)
    rows = list(session.scalars(q))
    records = records_of(session, [s.id for s in rows])
    claims = active_claims(session, [s.id for s in rows])
    out = []
    for s in rows:
        c = claims.get(s.id)
        if (status == "open" and c is not None) or (status == "in_review" and c is None):
            continue
        if exclude_creator is not None and s.created_by_key_id == exclude_creator:
            continue
        f = decision_in_force(s, records[s.id])
        out.append(Entry(s, priority(s, policy, thresholds, f.action, names), c))
    out.sort(key=lambda e: (-e.priority.score, -e.screening.seq))
    return out
