"""The labelled-document format shared by the corpus, the real sets and reviewers' feedback.

One JSON object per line. Training reads it, the service writes it when exporting reviews, so
it lives in the inference layer that both may import.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DOC_TYPES: tuple[str, ...] = (
    "datasheet",
    "brochure",
    "product_page",
    "press_release",
    "case_study",
    "tender_notice",
    "manual",
    "glossary",
    "readme",
    "article",
    "research_abstract",
    "privacy_notice",
    "app_listing",
    "mixed",
    "other",
)
SPLITS: tuple[str, ...] = ("train", "validation", "test")


class EvidenceSpan(BaseModel):
    """Character span [start, end) of `text` that shows `label`."""

    model_config = ConfigDict(extra="forbid")
    label: str
    start: int = Field(ge=0)
    end: int = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> EvidenceSpan:
        if self.end <= self.start:
            raise ValueError(f"evidence span for {self.label} has end {self.end} <= start {self.start}")
        return self


class Document(BaseModel):
    """One labeled document, exactly as stored on a JSONL line."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    doc_type: str
    text: str
    capabilities: list[str] = Field(default_factory=list)
    risk_factors: list[str] = Field(default_factory=list)
    tier: str
    evidence: list[EvidenceSpan] = Field(default_factory=list)
    group: str
    source: Literal["written", "composed", "feedback", "real"]
    split: Literal["train", "validation", "test"] | None = None
    hard_negative_of: list[str] = Field(default_factory=list)
    voice: str = ""

    @property
    def labels(self) -> list[str]:
        return [*self.capabilities, *self.risk_factors]


def read_jsonl(path: Path | str) -> Iterator[Document]:
    """Yield documents from one JSONL file, naming the line of any malformed record."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Document.model_validate_json(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: invalid document: {exc}") from exc


def write_jsonl(path: Path | str, docs: Iterable[Document]) -> int:
    """Write documents one per line (stable key order); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.model_dump(mode="json"), ensure_ascii=False) + "\n")
            n += 1
    return n
