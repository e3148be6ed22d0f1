"""Turn hand-written documents (Markdown with YAML front matter) into corpus records.

Writers quote the evidence instead of counting characters; this module finds each quote
in the body and stores its offsets, so a span can never drift from the text it cites.

File layout::

    ---
    title: Example datasheet
    doc_type: datasheet
    capabilities: [face_identification]
    risk_factors: [real_time]
    tier: high
    hard_negative_of: []        # optional
    group: fam-07               # optional, near-duplicate family
    voice: EU exporter          # optional
    evidence:
      - {label: face_identification, quote: "matches faces against a watch list"}
      - {label: real_time, quote: "alerts within two seconds"}
    ---
    Body text ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from classifier.taxonomy import Taxonomy, TaxonomyError, Tier, default_taxonomy
from classifier.text import normalise
from training.corpus import DOC_TYPES, Document, EvidenceSpan


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _split_front_matter(raw: str) -> tuple[dict[str, object], str]:
    if not raw.startswith("---"):
        raise ValueError("file must start with a '---' front-matter line")
    parts = raw.split("\n---", 2)
    if len(parts) < 2:
        raise ValueError("front matter is not closed by a '---' line")
    header = parts[0][3:]
    body = parts[1]
    # `body` starts with the rest of the closing '---' line.
    body = body.split("\n", 1)[1] if "\n" in body else ""
    if len(parts) == 3:
        body = body + "\n---" + parts[2]
    meta = yaml.safe_load(header) or {}
    if not isinstance(meta, dict):
        raise ValueError("front matter must be a YAML mapping")
    return meta, body.strip("\n").rstrip()


def parse_document(path: Path, taxonomy: Taxonomy, doc_id: str) -> Document:
    """Parse one Markdown file; raises ValueError with a message that says what to fix."""
    meta, body = _split_front_matter(path.read_text(encoding="utf-8"))
    # Stored text is what the classifier reads after extraction, so offsets mean the same thing.
    body = normalise(body).text
    if not body.strip():
        raise ValueError("empty body")
    caps = taxonomy.check_ids(list(meta.get("capabilities") or []), "capability")  # type: ignore[call-overload]
    risks = taxonomy.check_ids(list(meta.get("risk_factors") or []), "risk_factor")  # type: ignore[call-overload]
    hard = taxonomy.check_ids(list(meta.get("hard_negative_of") or []), "capability")  # type: ignore[call-overload]
    tier = Tier.parse(str(meta.get("tier", "")))
    doc_type = str(meta.get("doc_type", ""))
    if doc_type not in DOC_TYPES:
        raise ValueError(f"doc_type {doc_type!r} is not one of {', '.join(DOC_TYPES)}")
    positives = set(caps) | set(risks)
    if set(hard) & set(caps):
        raise ValueError(f"hard_negative_of {sorted(set(hard) & set(caps))} are also positive capabilities")
    spans: list[EvidenceSpan] = []
    for item in meta.get("evidence") or []:  # type: ignore[attr-defined]
        label, quote = str(item.get("label", "")), normalise(str(item.get("quote", ""))).text
        if label not in positives:
            raise ValueError(f"evidence for {label!r}, which is not a positive label of this document")
        if len(quote.strip()) < 3:
            raise ValueError(f"evidence quote for {label} is too short: {quote!r}")
        start = body.find(quote)
        if start < 0:
            raise ValueError(f"evidence quote for {label} is not in the body verbatim: {quote!r}")
        spans.append(EvidenceSpan(label=label, start=start, end=start + len(quote)))
    missing = sorted(positives - {s.label for s in spans})
    if missing:
        raise ValueError(f"no evidence quote for positive label(s): {', '.join(missing)}")
    minimum = taxonomy.minimum_tier(positives)
    if tier < minimum.tier:
        raise ValueError(
            f"tier {tier.id} is below the minimum {minimum.tier.id} its labels imply ({'; '.join(minimum.reasons)})"
        )
    return Document(
        id=doc_id,
        title=str(meta.get("title") or path.stem),
        doc_type=doc_type,
        text=body,
        capabilities=caps,
        risk_factors=risks,
        tier=tier.id,
        evidence=spans,
        group=str(meta.get("group") or doc_id),
        source="written",
        hard_negative_of=hard,
        voice=str(meta.get("voice") or ""),
    )


def ingest_folder(folder: Path | str, prefix: str | None = None, taxonomy: Taxonomy | None = None) -> IngestResult:
    """Parse every `*.md` under `folder`; ids are `<prefix>-<file stem>`."""
    taxonomy = taxonomy or default_taxonomy()
    folder = Path(folder)
    prefix = prefix or folder.name
    result = IngestResult()
    for path in sorted(folder.rglob("*.md")):
        doc_id = f"{prefix}-{path.stem}"
        try:
            result.documents.append(parse_document(path, taxonomy, doc_id))
        except (ValueError, TaxonomyError, yaml.YAMLError, AttributeError, TypeError) as exc:
            result.errors.append(f"{path}: {exc}")
    return result
