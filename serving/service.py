"""What the routes share: extraction with API errors, classification, and response shaping."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

from classifier import budget
from classifier.extract import Extracted, ExtractionError, Limits, extract_bytes, extract_text
from classifier.policy import country_names
from classifier.results import ClassificationResult
from serving.decisions import (
    Change,
    InForce,
    decision_in_force,
    history,
    is_human,
    review_status,
    screening_review_required,
)
from serving.deps import AppState
from serving.errors import EXTRACTION_STATUS
from serving.inputs import DocumentInput
from serving.schemas import (
    Actor,
    ChangeOut,
    ClaimOut,
    DecisionInForceOut,
    DecisionOut,
    DestinationOut,
    DocumentOut,
    ErrorBody,
    PartyScreeningOut,
    ReviewOut,
    ScreeningOut,
    ScreeningSummary,
)
from serving.tables import Claim, Review, Screening


def extract(state: AppState, doc: DocumentInput, limits: Limits | None = None) -> Extracted:
    """Raises ExtractionError (mapped to 413/415/422/503 by the error handlers)."""
    limits = limits or state.limits
    if doc.data is not None:
        return extract_bytes(doc.data, filename=doc.filename, declared_type=doc.declared_type, limits=limits)
    return extract_text(doc.text or "", limits=limits)


def _over_budget(budget_s: float) -> ErrorBody:
    return ErrorBody(
        code="batch_budget_exceeded",
        message=f"the batch spent its {budget_s:g} s reading budget (batch_budget_s) before this document; "
        "send it in another request",
    )


def classify_many(
    state: AppState, docs: Sequence[DocumentInput]
) -> list[tuple[Extracted | None, ClassificationResult | ErrorBody, int]]:
    """Extract each document (errors stay per item), then classify the good ones in one batch.

    A batch shares one reading budget (`batch_budget_s`): each file may use what is left of it,
    and files reached after it is spent are answered with a per-item error instead of read.
    """
    extracted: list[tuple[int, DocumentInput, Extracted]] = []
    out: list[tuple[Extracted | None, ClassificationResult | ErrorBody, int]] = [None] * len(docs)  # type: ignore[list-item]
    budget_s = state.settings.batch_budget_s
    ends = time.monotonic() + budget_s
    for i, doc in enumerate(docs):
        budget.check()  # the request's deadline, or the client has gone
        left = ends - time.monotonic()
        if len(docs) > 1 and left <= 0:
            out[i] = (None, _over_budget(budget_s), EXTRACTION_STATUS["batch_budget_exceeded"])
            continue
        limits = state.limits
        if len(docs) > 1:
            limits = replace(limits, timeout_s=max(0.05, min(limits.timeout_s, left)))
        try:
            extracted.append((i, doc, extract(state, doc, limits)))
        except ExtractionError as exc:
            out[i] = (None, ErrorBody(code=exc.code, message=exc.message), EXTRACTION_STATUS.get(exc.code, 422))
    if extracted:
        budget.check()
        results = state.inference.classify([(doc.source, ex) for _, doc, ex in extracted])
        for (i, _, ex), res in zip(extracted, results, strict=True):
            state.metrics.classifications.labels(res.tier).inc()
            out[i] = (ex, res, 200)
    return out


def review_out(r: Review, ch: Change | None = None, message: str | None = None) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        kind="rescreen" if r.kind == "rescreen" else "review",
        created_at=r.created_at,
        reviewer=Actor(key_id=r.reviewer_key_id, name=r.reviewer_name),
        verdict=r.verdict,
        capabilities=r.capabilities,
        risk_factors=r.risk_factors,
        tier=r.tier,
        action=r.action,
        evidence=r.evidence,
        comment=r.comment,
        action_reason=r.action_reason,
        supersedes=r.supersedes,
        changes=ChangeOut(**ch.as_dict()) if ch is not None else None,
        message=message,
    )


def in_force_out(f: InForce) -> DecisionInForceOut:
    by = Actor(key_id=f.decided_by_key_id, name=f.decided_by_name or "") if f.decided_by_key_id is not None else None
    return DecisionInForceOut(
        source=f.source,  # type: ignore[arg-type]
        action=f.action,  # type: ignore[arg-type]
        tier=f.tier,  # type: ignore[arg-type]
        capabilities=f.capabilities,
        risk_factors=f.risk_factors,
        reasons=f.reasons,
        decided_at=f.decided_at,
        decided_by=by,
        record_id=f.record_id,
        comment=f.comment,
        action_reason=f.action_reason,
        review_required=f.review_required,
        review_reasons=f.review_reasons,  # type: ignore[arg-type]
    )


def model_decision_out(s: Screening, superseded: bool) -> DecisionOut:
    return DecisionOut(
        action=s.decision["action"],
        tier=s.tier,  # type: ignore[arg-type]
        reasons=s.decision["reasons"],
        rule=s.decision["rule"],
        policy_version=s.policy_version,
        review_required=screening_review_required(s),
        superseded=superseded,
    )


def screening_out(
    s: Screening, records: Sequence[Review], include_text: bool = True, claim: Claim | None = None
) -> ScreeningOut:
    model_decision = model_decision_out(s, superseded=bool(records))
    return ScreeningOut(
        id=s.id,
        created_at=s.created_at,
        created_by=Actor(key_id=s.created_by_key_id, name=s.created_by_name),
        reference=s.reference,
        destination=DestinationOut(
            code=s.destination, name=country_names().get(s.destination, s.destination), group=s.destination_group
        ),
        end_user_type=s.end_user_type,
        end_user_name=s.end_user_name,
        control_list_entry=s.control_list_entry,
        licence_reference=s.licence_reference,
        party_screening=(
            PartyScreeningOut(outcome=s.party_screening, by=s.party_screening_by)  # type: ignore[arg-type]
            if s.party_screening
            else None
        ),
        document=DocumentOut(
            filename=s.filename,
            media_type=s.media_type,
            size_bytes=s.size_bytes,
            sha256=s.document_sha256,
            text_chars=len(s.text),
            text=s.text if include_text else None,
        ),
        classification=ClassificationResult.model_validate(s.classification),
        decision_in_force=in_force_out(decision_in_force(s, records)),
        model_decision=model_decision,
        decision=model_decision,
        model_version=s.model_version,
        review_status=review_status(records, claim is not None),  # type: ignore[arg-type]
        claim=ClaimOut.model_validate(claim) if claim is not None else None,
        reviews=[review_out(r, ch) for r, _, ch in history(s, records)],
        permalink=f"/screenings/{s.id}",
    )


def screening_summary(s: Screening, records: Sequence[Review], claimed: bool = False) -> ScreeningSummary:
    f = decision_in_force(s, records)
    return ScreeningSummary(
        id=s.id,
        created_at=s.created_at,
        created_by=Actor(key_id=s.created_by_key_id, name=s.created_by_name),
        reference=s.reference,
        destination=s.destination,
        end_user_type=s.end_user_type,
        end_user_name=s.end_user_name,
        filename=s.filename,
        tier=f.tier,
        action=f.action,
        decision_source=f.source,  # type: ignore[arg-type]
        decided_by=f.decided_by_name,
        model_tier=s.tier,
        model_action=s.action,
        reviewed=any(is_human(r) for r in records),
        review_status=review_status(records, claimed),  # type: ignore[arg-type]
        review_required=f.review_required,
    )
