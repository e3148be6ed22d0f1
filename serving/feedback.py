"""Reviewed screenings → corpus documents, so reviewers' corrections can retrain the model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from classifier.documents import Document, EvidenceSpan
from classifier.taxonomy import Taxonomy, default_taxonomy
from serving.store import iter_reviewed
from serving.tables import Review, Screening


def review_evidence(
    screening: Screening, capabilities: list[str], risk_factors: list[str], extra: list[dict[str, Any]]
) -> list[EvidenceSpan]:
    """Spans for every reviewed label: the model's evidence for labels it found, the reviewer's for the rest."""
    wanted = set(capabilities) | set(risk_factors)
    spans: list[EvidenceSpan] = []
    cls = screening.classification
    for det in [*cls.get("capabilities", []), *cls.get("risk_factors", [])]:
        if det["id"] in wanted:
            spans.extend(EvidenceSpan(label=det["id"], start=e["start"], end=e["end"]) for e in det.get("evidence", []))
    spans.extend(EvidenceSpan(label=e["label"], start=e["start"], end=e["end"]) for e in extra if e["label"] in wanted)
    return spans


def to_document(screening: Screening, review: Review, taxonomy: Taxonomy) -> Document:
    caps = [c for c in taxonomy.capability_ids if c in review.capabilities]
    risks = [r for r in taxonomy.risk_factor_ids if r in review.risk_factors]
    return Document(
        id=f"feedback-{screening.id}",
        title=screening.filename or screening.reference or screening.id,
        doc_type="other",
        text=screening.text,
        capabilities=caps,
        risk_factors=risks,
        tier=review.tier,
        evidence=review_evidence(screening, caps, risks, review.evidence),
        group=f"feedback-{screening.document_sha256[:16]}",
        source="feedback",
        split="train",
        voice="reviewer correction" if review.verdict == "correct" else "reviewer confirmation",
    )


def export_lines(session: Session, taxonomy: Taxonomy | None = None) -> Iterator[str]:
    """JSONL lines in the corpus format, one per reviewed screening (its latest review wins)."""
    taxonomy = taxonomy or default_taxonomy()
    for screening, review in iter_reviewed(session):
        yield json.dumps(to_document(screening, review, taxonomy).model_dump(mode="json"), ensure_ascii=False) + "\n"
