"""The labeled corpus: document schema, JSONL reading/writing and the `datasets` view."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CORPUS_DIR = DATA_DIR / "corpus"

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
    source: Literal["written", "composed", "feedback"]
    split: Literal["train", "validation", "test"] | None = None
    hard_negative_of: list[str] = Field(default_factory=list)
    voice: str = ""

    @property
    def labels(self) -> list[str]:
        return [*self.capabilities, *self.risk_factors]

    def span_text(self, span: EvidenceSpan) -> str:
        return self.text[span.start : span.end]


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


def corpus_files(corpus_dir: Path | str = CORPUS_DIR) -> list[Path]:
    return sorted(Path(corpus_dir).glob("*.jsonl"))


def load_corpus(corpus_dir: Path | str = CORPUS_DIR) -> list[Document]:
    """All documents of the corpus folder, in file then line order."""
    docs: list[Document] = []
    for path in corpus_files(corpus_dir):
        docs.extend(read_jsonl(path))
    return docs


def corpus_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the given files' bytes, so an artifact can name the data it saw."""
    h = hashlib.sha256()
    for p in sorted(Path(x) for x in paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()
