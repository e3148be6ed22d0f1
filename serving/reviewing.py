"""Review rules, kept out of the route: who may review, what a confirmation confirms, when a reason
is needed, and which evidence a corrected label must carry. Raises APIError with a message that
says what to fix.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from classifier.policy import Action
from classifier.taxonomy import Taxonomy, TaxonomyError, Tier
from classifier.text import find_quote
from serving.auth import Principal
from serving.decisions import Change, InForce, change, decision_in_force, model_labels
from serving.errors import APIError
from serving.schemas import ReviewCreate
from serving.settings import ServiceSettings
from serving.store import ClaimConflictError, NotFoundError, active_claims, add_review, claim, get_screening, reviews_of
from serving.tables import Review, Screening

RELEASE_FROM = Action.ESCALATE  # lowering an action from this or above needs the reviewer role


def label_names(taxonomy: Taxonomy) -> dict[str, str]:
    return {lab.id: lab.name for lab in (*taxonomy.capabilities, *taxonomy.risk_factors)}


def load_screening(session: Session, screening_id: str, principal: Principal) -> Screening:
    """The screening if the caller may see it; a screener asking for a colleague's gets the 404 of a missing id."""
    try:
        row = get_screening(session, screening_id)
    except NotFoundError:
        row = None
    if row is None or not (principal.can("reviewer") or row.created_by_key_id == principal.key_id):
        raise APIError(404, "not_found", f"screening {screening_id} does not exist or you lack access to it")
    return row


def check_four_eyes(settings: ServiceSettings, row: Screening, principal: Principal) -> None:
    if settings.four_eyes and row.created_by_key_id == principal.key_id:
        raise APIError(
            403,
            "four_eyes",
            "you created this screening, so someone else must review it (four-eyes rule); "
            "one-person teams can turn the rule off with SURVEILRISK_FOUR_EYES=false",
        )


def _based_on(f: InForce, row: Screening) -> str:
    return f.record_id or row.id


def record_review(
    session: Session,
    settings: ServiceSettings,
    taxonomy: Taxonomy,
    principal: Principal,
    screening_id: str,
    body: ReviewCreate,
) -> tuple[Review, Change, str]:
    """Append a review; return it, what it changed relative to the decision in force, and a sentence saying so."""
    row = load_screening(session, screening_id, principal)
    check_four_eyes(settings, row, principal)
    held = active_claims(session, [row.id]).get(row.id)
    if held is not None and held.reviewer_key_id != principal.key_id:
        raise APIError(
            409, "claimed", f"{held.reviewer_name} is reviewing this screening until {held.expires_at:%H:%M} UTC"
        )
    records = reviews_of(session, row.id)
    before = decision_in_force(row, records)
    if body.based_on is not None and body.based_on != _based_on(before, row):
        raise APIError(
            409,
            "decision_changed",
            "the decision in force changed since you opened this screening; reload it and review again",
        )
    if body.verdict == "confirm":
        if any(v is not None for v in (body.capabilities, body.risk_factors, body.tier, body.action)):
            raise APIError(422, "invalid_review", "a 'confirm' review takes no corrected values; use verdict 'correct'")
        caps, risks, tier, action = before.capabilities, before.risk_factors, before.tier, before.action
    else:
        caps = body.capabilities if body.capabilities is not None else before.capabilities
        risks = body.risk_factors if body.risk_factors is not None else before.risk_factors
        tier, action = body.tier or before.tier, body.action or before.action
    try:
        taxonomy.check_ids(caps, "capability")
        taxonomy.check_ids(risks, "risk_factor")
    except TaxonomyError as exc:
        raise APIError(422, "invalid_review", str(exc)) from exc
    names = label_names(taxonomy)
    evidence = review_evidence(body, row, set(caps) | set(risks), records, names)
    floor = taxonomy.minimum_tier([*caps, *risks])
    if Tier.parse(tier) < floor.tier:
        raise APIError(
            422,
            "invalid_review",
            f"tier {tier} is below {floor.tier.id}, the minimum for the labels given ({'; '.join(floor.reasons)})",
        )
    new, old = Action.parse(action), Action.parse(before.action)
    action_reason = (body.action_reason or "").strip() or None
    if new != old and action_reason is None:
        raise APIError(
            422,
            "action_reason_required",
            f"say why the action changes from {old.id.replace('_', ' ')} to {new.id.replace('_', ' ')} (action_reason)",
        )
    if old >= RELEASE_FROM and new < old and not principal.can("reviewer"):
        raise APIError(403, "forbidden", f"releasing a screening from {old.id} needs the reviewer role")
    ch = change(before, [*caps, *risks], tier, action)
    rev = add_review(
        session,
        screening_id=row.id,
        reviewer_key_id=principal.key_id,
        reviewer_name=principal.name,
        verdict=body.verdict,
        capabilities=list(caps),
        risk_factors=list(risks),
        tier=tier,
        action=action,
        evidence=evidence,
        comment=body.comment,
        kind="review",
        supersedes=_based_on(before, row),
        action_reason=action_reason,
    )
    return rev, ch, _message(body.verdict, before, ch)


def _message(verdict: str, before: InForce, ch: Change) -> str:
    was = "the original decision" if before.record_id is None else f"{before.decided_by_name}'s decision"
    if verdict == "confirm" or ch.empty:
        return (
            f"Confirmed the decision in force ({was}): tier {before.tier}, {before.action.replace('_', ' ')}. "
            "It is now the reviewed decision."
        )
    parts = []
    if ch.action:
        parts.append(f"action {ch.action[0].replace('_', ' ')} → {ch.action[1].replace('_', ' ')}")
    if ch.tier:
        parts.append(f"tier {ch.tier[0]} → {ch.tier[1]}")
    if ch.added:
        parts.append("added " + ", ".join(ch.added))
    if ch.removed:
        parts.append("removed " + ", ".join(ch.removed))
    return f"Corrected {was}: {'; '.join(parts)}. This is now the decision in force."


def review_evidence(
    body: ReviewCreate, row: Screening, labels: set[str], records: list[Review], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Resolve the reviewer's spans (offsets or quotes). Every label neither the model nor an earlier review
    supported needs one; spans an earlier review gave are carried over for the labels kept."""
    out = []
    for ev in body.evidence:
        name = names.get(ev.label, ev.label)
        if ev.label not in labels:
            raise APIError(422, "invalid_review", f"evidence given for {name}, which the review does not assert")
        if ev.quote is not None:
            span = find_quote(row.text, ev.quote)
            if span is None:
                raise APIError(
                    422,
                    "invalid_review",
                    f"the quote for {name} is not in the document text; copy it from the extracted text",
                )
            out.append({"label": ev.label, "start": span.start, "end": span.end})
        elif ev.start is not None and ev.end is not None and ev.start < ev.end <= len(row.text):
            out.append({"label": ev.label, "start": ev.start, "end": ev.end})
        else:
            raise APIError(422, "invalid_review", f"add a quote from the text for {name}")
    given = {e["label"] for e in out}
    for r in reversed(records):  # carry the newest earlier span of each label still asserted
        for e in r.evidence:
            if e["label"] in labels and e["label"] not in given:
                out.append(dict(e))
        given |= {e["label"] for e in r.evidence}
    caps, risks = model_labels(row)
    missing = sorted(labels - set(caps) - set(risks) - {e["label"] for e in out})
    if missing:
        raise APIError(
            422, "invalid_review", "add a quote from the text for " + ", ".join(names.get(m, m) for m in missing)
        )
    return out


def claim_for_review(
    session: Session, settings: ServiceSettings, principal: Principal, screening_id: str
) -> tuple[Screening, Any]:
    row = load_screening(session, screening_id, principal)
    check_four_eyes(settings, row, principal)
    if any(r.kind in (None, "review") for r in reviews_of(session, row.id)):
        raise APIError(409, "already_decided", "this screening has been reviewed already; open it to review it again")
    try:
        c = claim(session, row.id, principal.key_id, principal.name, timedelta(minutes=settings.claim_minutes))
    except ClaimConflictError as exc:
        raise APIError(409, "claimed", f"{exc.claim.reviewer_name} is already reviewing this screening") from None
    return row, c
