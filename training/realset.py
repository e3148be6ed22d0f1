"""The real-text yardstick: references, hashes and labels of real public texts (`data/real/`).

The texts are third-party writing and never enter the repository. The manifest holds, per
text, where it came from and how to find it again, the retrieval date, the sha256 of the exact
text, its labels and evidence offsets into that text. The texts themselves sit in the
git-ignored `data/real/texts/<id>.txt`; `verify` says which are missing or changed.

Splits are by group (vendor or site): `train` may teach a model, `dev` judges every choice,
`test` is scored once per shipped model and never used for a choice.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from classifier.documents import Document, EvidenceSpan
from classifier.taxonomy import Taxonomy, Tier, default_taxonomy
from classifier.text import find_quote
from training.corpus import DATA_DIR, DOC_TYPES
from training.metrics import Gold

REAL_DIR = DATA_DIR / "real"
MANIFEST = REAL_DIR / "manifest.jsonl"
SECOND_LABELS = REAL_DIR / "second_labels.jsonl"
TEXTS_DIR = REAL_DIR / "texts"
REAL_SPLITS = ("train", "dev", "test")
RealSplit = Literal["train", "dev", "test"]


class RealSetError(ValueError):
    """The real set cannot be used as asked; the message says what to fix."""


class RealEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    start: int = Field(ge=0)
    end: int = Field(gt=0)


class RealEntry(BaseModel):
    """One real text, as a manifest line: everything but the text itself."""

    model_config = ConfigDict(extra="forbid")
    id: str
    source: str = Field(description="URL, or github.com/<owner>/<repo>/blob/<path> for a repository file.")
    found_by: str = Field(description="How the stored copy was found again (corpus and query).")
    retrieved: str = Field(description="Retrieval date, ISO 8601.")
    sha256: str
    chars: int = Field(ge=1)
    title: str
    doc_type: str
    group: str = Field(description="Vendor or site; one group never spans two splits.")
    split: RealSplit
    capabilities: list[str] = Field(default_factory=list)
    risk_factors: list[str] = Field(default_factory=list)
    tier: str
    rule: str = Field(default="", description="The tier rule that decided the tier, and why.")
    evidence: list[RealEvidence] = Field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [*self.capabilities, *self.risk_factors]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: Path = MANIFEST) -> list[RealEntry]:
    if not path.is_file():
        raise RealSetError(f"no real-set manifest at {path}")
    entries = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                entries.append(RealEntry.model_validate_json(line))
            except ValueError as exc:
                raise RealSetError(f"{path}:{lineno}: invalid entry: {exc}") from exc
    return entries


def write_manifest(entries: Iterable[RealEntry], path: Path = MANIFEST) -> int:
    rows = sorted(entries, key=lambda e: e.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(e.model_dump_json() + "\n" for e in rows), encoding="utf-8")
    return len(rows)


@dataclass
class VerifyReport:
    present: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.changed


def verify_texts(entries: Sequence[RealEntry], texts_dir: Path = TEXTS_DIR) -> VerifyReport:
    """Which texts are on this machine, and whether each is byte for byte the one labelled."""
    report = VerifyReport()
    for e in entries:
        path = texts_dir / f"{e.id}.txt"
        if not path.is_file():
            report.missing.append(e.id)
        elif sha256_text(path.read_text(encoding="utf-8")) != e.sha256:
            report.changed.append(e.id)
        else:
            report.present += 1
    return report


def check_entries(entries: Sequence[RealEntry], taxonomy: Taxonomy | None = None) -> list[str]:
    """Schema rules the manifest must keep: known ids, evidence for every label, groups inside one split."""
    taxonomy = taxonomy or default_taxonomy()
    errors = []
    ids = Counter(e.id for e in entries)
    errors += [f"{i}: id used {n} times" for i, n in ids.items() if n > 1]
    split_of: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        split_of[e.group].add(e.split)
        unknown = [c for c in e.capabilities if c not in taxonomy.capability_ids]
        unknown += [r for r in e.risk_factors if r not in taxonomy.risk_factor_ids]
        if unknown:
            errors.append(f"{e.id}: unknown labels {unknown}")
        if e.tier not in {t.id for t in Tier}:
            errors.append(f"{e.id}: unknown tier {e.tier!r}")
        if e.doc_type not in DOC_TYPES:
            errors.append(f"{e.id}: unknown doc_type {e.doc_type!r}")
        cited = {ev.label for ev in e.evidence}
        if missing := [lab for lab in e.labels if lab not in cited]:
            errors.append(f"{e.id}: no evidence for {missing}")
        if any(ev.end > e.chars for ev in e.evidence):
            errors.append(f"{e.id}: evidence beyond the text's {e.chars} characters")
        if unknown or e.tier not in {t.id for t in Tier}:
            continue
        floor = taxonomy.minimum_tier(e.labels).tier
        if Tier.parse(e.tier) < floor:
            errors.append(f"{e.id}: tier {e.tier} is below the {floor.id} its labels imply")
    errors += [f"group {g!r} spans splits {sorted(s)}" for g, s in split_of.items() if len(s) > 1]
    return errors


def golds_for_real(
    split: str, manifest: Path = MANIFEST, texts_dir: Path = TEXTS_DIR, allow_missing: bool = False
) -> list[Gold]:
    """Gold records of one real split, with evidence mapped onto the text the classifier reads."""
    from classifier.extract import extract_text

    if split not in REAL_SPLITS:
        raise RealSetError(f"unknown real split {split!r}; expected one of {', '.join(REAL_SPLITS)}")
    entries = [e for e in read_manifest(manifest) if e.split == split]
    report = verify_texts(entries, texts_dir)
    if report.changed:
        raise RealSetError(f"{len(report.changed)} real texts differ from their hash (e.g. {report.changed[:3]})")
    if report.missing and not allow_missing:
        raise RealSetError(
            f"{len(report.missing)} of {len(entries)} real {split} texts are not in {texts_dir} "
            f"(e.g. {report.missing[:3]}); `surveilrisk data real verify` lists them"
        )
    golds = []
    for e in entries:
        path = texts_dir / f"{e.id}.txt"
        if not path.is_file():
            continue
        raw = path.read_text(encoding="utf-8")
        text = extract_text(raw).text
        spans = []
        for ev in e.evidence:
            found = find_quote(text, raw[ev.start : ev.end])
            if found is not None:
                spans.append((ev.label, found.start, found.end))
        golds.append(Gold(e.id, text, frozenset(e.capabilities), frozenset(e.risk_factors), e.tier, tuple(spans)))
    if not golds:
        raise RealSetError(f"no real {split} texts to score in {texts_dir}")
    return golds


def documents_for_real(
    split: str, manifest: Path = MANIFEST, texts_dir: Path = TEXTS_DIR, as_split: str = "train"
) -> list[Document]:
    """Training documents from one real split (the text the classifier reads, evidence mapped onto it).

    Raises `RealSetError` when any text of the split is missing or changed: a model trains on all
    of a real split or on none of it, so its recorded inputs are exact.
    """
    golds = golds_for_real(split, manifest, texts_dir)
    entries = {e.id: e for e in read_manifest(manifest)}
    if len(golds) != sum(1 for e in entries.values() if e.split == split):
        raise RealSetError(f"some real {split} texts are missing from {texts_dir}")
    docs = []
    for g in golds:
        e = entries[g.id]
        docs.append(
            Document(
                id=g.id,
                title=e.title,
                doc_type=e.doc_type if e.doc_type in DOC_TYPES else "other",
                text=g.text,
                capabilities=sorted(g.capabilities),
                risk_factors=sorted(g.risk_factors),
                tier=g.tier,
                evidence=[EvidenceSpan(label=lab, start=a, end=b) for lab, a, b in g.evidence if b > a],
                group=f"real:{e.group}",
                source="real",
                split=as_split,  # type: ignore[arg-type]
            )
        )
    return docs


def hash_of_entries(entries: Iterable[RealEntry]) -> str:
    """One hash over the texts' own hashes, in id order: what an artifact records of its real inputs."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.id):
        h.update(f"{e.id}:{e.sha256}\n".encode())
    return h.hexdigest()
