"""The corpus folder: which files it holds, loading them, and the hash an artifact records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from classifier.documents import DOC_TYPES, SPLITS, Document, EvidenceSpan, read_jsonl, write_jsonl

__all__ = [
    "CORPUS_DIR",
    "DATA_DIR",
    "DOC_TYPES",
    "SPLITS",
    "Document",
    "EvidenceSpan",
    "corpus_files",
    "corpus_hash",
    "load_corpus",
    "read_jsonl",
    "write_jsonl",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CORPUS_DIR = DATA_DIR / "corpus"


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
