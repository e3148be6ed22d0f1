"""Small builders for corpus documents used across tests."""

from __future__ import annotations

from training.corpus import Document, EvidenceSpan


def doc(
    id: str,
    text: str,
    tier: str = "minimal",
    evidence: dict[str, str] | None = None,
    split: str | None = "train",
    group: str | None = None,
    source: str = "written",
    hard: list[str] | None = None,
) -> Document:
    """A document whose labels are the keys of `evidence` (label → quoted text)."""
    from classifier.taxonomy import default_taxonomy

    tax = default_taxonomy()
    evidence = evidence or {}
    spans = []
    for label, quote in evidence.items():
        start = text.index(quote)
        spans.append(EvidenceSpan(label=label, start=start, end=start + len(quote)))
    return Document(
        id=id,
        title=id,
        doc_type="datasheet",
        text=text,
        capabilities=[lab for lab in tax.capability_ids if lab in evidence],
        risk_factors=[lab for lab in tax.risk_factor_ids if lab in evidence],
        tier=tier,
        evidence=spans,
        group=group or id,
        source=source,  # type: ignore[arg-type]
        split=split,  # type: ignore[arg-type]
        hard_negative_of=hard or [],
    )
