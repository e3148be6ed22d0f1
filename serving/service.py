"""What the routes share: extraction with API errors, classification, and response shaping."""

from __future__ import annotations

from collections.abc import Sequence

from classifier.extract import Extracted, ExtractionError, extract_bytes, extract_text
from classifier.policy import country_names
from classifier.results import ClassificationResult
from serving.deps import AppState
from serving.errors import EXTRACTION_STATUS
from serving.inputs import DocumentInput
from serving.schemas import (
    Actor,
    DecisionOut,
    DestinationOut,
    DocumentOut,
    ErrorBody,
    ReviewOut,
    ScreeningOut,
    ScreeningSummary,
)
from serving.tables import Review, Screening


def extract(state: AppState, doc: DocumentInput) -> Extracted:
    """Raises ExtractionError (mapped to 413/415/422 by the error handlers)."""
    if doc.data is not None:
        return extract_bytes(doc.data, filename=doc.filename, declared_type=doc.declared_type, limits=state.limits)
    return extract_text(doc.text or "", limits=state.limits)


def classify_many(
    state: AppState, docs: Sequence[DocumentInput]
) -> list[tuple[Extracted | None, ClassificationResult | ErrorBody, int]]:
    """Extract each document (errors stay per item), then classify the good ones in one batch."""
    extracted: list[tuple[int, DocumentInput, Extracted]] = []
    out: list[tuple[Extracted | None, ClassificationResult | ErrorBody, int]] = [None] * len(docs)  # type: ignore[list-item]
    for i, doc in enumerate(docs):
        try:
            extracted.append((i, doc, extract(state, doc)))
        except ExtractionError as exc:
            out[i] = (None, ErrorBody(code=exc.code, message=exc.message), EXTRACTION_STATUS.get(exc.code, 422))
    if extracted:
        results = state.inference.classify([(doc.source, ex) for _, doc, ex in extracted])
        for (i, _, ex), res in zip(extracted, results, strict=True):
            state.metrics.classifications.labels(res.tier).inc()
            out[i] = (ex, res, 200)
    return out


def review_out(r: Review) -> ReviewOut:
    return ReviewOut(
        id=r.id,
        created_at=r.created_at,
        reviewer=Actor(key_id=r.reviewer_key_id, name=r.reviewer_name),
        verdict=r.verdict,
        capabilities=r.capabilities,
        risk_factors=r.risk_factors,
        tier=r.tier,
        action=r.action,
        evidence=r.evidence,
        comment=r.comment,
    )


def screening_out(s: Screening, reviews: Sequence[Review], include_text: bool = True) -> ScreeningOut:
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
        document=DocumentOut(
            filename=s.filename,
            media_type=s.media_type,
            size_bytes=s.size_bytes,
            sha256=s.document_sha256,
            text_chars=len(s.text),
            text=s.text if include_text else None,
        ),
        classification=ClassificationResult.model_validate(s.classification),
        decision=DecisionOut(
            action=s.decision["action"],
            reasons=s.decision["reasons"],
            rule=s.decision["rule"],
            policy_version=s.policy_version,
        ),
        model_version=s.model_version,
        reviews=[review_out(r) for r in reviews],
        permalink=f"/screenings/{s.id}",
    )


def screening_summary(s: Screening, reviewed: bool) -> ScreeningSummary:
    return ScreeningSummary(
        id=s.id,
        created_at=s.created_at,
        created_by=Actor(key_id=s.created_by_key_id, name=s.created_by_name),
        reference=s.reference,
        destination=s.destination,
        end_user_type=s.end_user_type,
        filename=s.filename,
        tier=s.tier,
        action=s.action,
        reviewed=reviewed,
    )
