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
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from classifier.documents import Document, EvidenceSpan
from classifier.taxonomy import Taxonomy, Tier, default_taxonomy
from classifier.text import find_quote
from training.corpus import DATA_DIR, DOC_TYPES
from training.exclusion import ExclusionList
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


# --------------------------------------------------------------------------- building the set

_AGGREGATORS = {"github.com", "sii.transparencytoolkit.org", "medium.com", "linkedin.com", "youtube.com"}


def source_site(source: str) -> str:
    """The site a source belongs to (github.com/<owner> for repositories)."""
    s = re.sub(r"^https?://", "", source.strip().lower())
    s = re.sub(r"^www\.", "", s)
    host = s.split("/")[0]
    if host == "github.com":
        parts = s.split("/")
        return "github.com/" + parts[1] if len(parts) > 1 else host
    return host


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"


def group_keys(records: Sequence[tuple[str, str]]) -> list[str]:
    """One group per connected vendor/site: (vendor, source) pairs sharing a vendor or a site join."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for vendor, source in records:
        site = source_site(source)
        a = find("v:" + slug(vendor))
        if site.split("/")[0] not in _AGGREGATORS or site.startswith("github.com/"):
            parent[a] = find("s:" + site)
    return [find("v:" + slug(v)).split(":", 1)[1] for v, _ in records]


def assign_splits(
    groups: Sequence[str],
    labels: Sequence[Sequence[str]],
    tiers: Sequence[str],
    shares: dict[str, float],
    seed: int = 0,
) -> list[str]:
    """Split by group, keeping every label's and tier's share near `shares` in each split.

    Greedy iterative stratification over groups: groups holding the rarest labels are placed
    first, each into the split that most lacks what it holds (ties broken by a seeded hash).
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    keys = [f"label:{lab}" for labs in labels for lab in labs] + [f"tier:{t}" for t in tiers] + ["all"] * len(tiers)
    total = Counter(keys)
    want = {s: {k: n * share for k, n in total.items()} for s, share in shares.items()}
    have: dict[str, Counter[str]] = {s: Counter() for s in shares}

    def group_keys_of(g: str) -> Counter[str]:
        c: Counter[str] = Counter()
        for i in members[g]:
            c.update([f"label:{lab}" for lab in labels[i]] + [f"tier:{tiers[i]}", "all"])
        return c

    def rarity(g: str) -> tuple[float, str]:
        held = group_keys_of(g)
        return (min(total[k] for k in held), hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())

    out = [""] * len(groups)
    for g in sorted(members, key=rarity):
        held = group_keys_of(g)

        def need(s: str, held: Counter[str] = held, g: str = g) -> tuple[float, float, str]:
            gap = sum(n * (want[s][k] - have[s][k]) / total[k] for k, n in held.items())
            room = want[s]["all"] - have[s]["all"]
            return (gap, room, hashlib.sha256(f"{seed}:{g}:{s}".encode()).hexdigest())

        split = max(shares, key=need)
        have[split].update(held)
        for i in members[g]:
            out[i] = split
    return out


@dataclass
class IngestReport:
    entries: list[RealEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def ingest_incoming(
    folders: Sequence[Path],
    texts_dir: Path = TEXTS_DIR,
    retrieved: str | None = None,
    taxonomy: Taxonomy | None = None,
    exclusion: ExclusionList | None = None,
) -> IngestReport:
    """Turn collectors' folders (`NNN.txt` + `labels.jsonl` with quotes) into manifest entries.

    Each text is copied to `texts_dir/<id>.txt` unchanged; quotes become offsets into it. Entries
    get split "dev" here; `assign_splits` decides the real split afterwards.
    """
    taxonomy = taxonomy or default_taxonomy()
    exclusion = exclusion or ExclusionList()
    retrieved = retrieved or date.today().isoformat()
    report = IngestReport()
    seen_sources: set[str] = set()
    texts_dir.mkdir(parents=True, exist_ok=True)
    for folder in folders:
        labels = folder / "labels.jsonl"
        if not labels.is_file():
            report.problems.append(f"{folder}: no labels.jsonl")
            continue
        for lineno, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{labels}:{lineno}"
            try:
                rec = json.loads(line)
                text = (folder / rec["file"]).read_text(encoding="utf-8")
            except (json.JSONDecodeError, KeyError, OSError) as exc:
                report.problems.append(f"{where}: unreadable ({exc})")
                continue
            source = str(rec.get("source", "")).strip()
            if not source or exclusion.excludes_source(source):
                report.problems.append(f"{where}: source {source!r} is missing or excluded")
                continue
            if (k := exclusion.overlap(text)) > 0:
                report.problems.append(f"{where}: shares {k} twelve-word runs with the hidden set")
                continue
            norm_source = source.lower().rstrip("/")
            if norm_source in seen_sources:
                report.problems.append(f"{where}: source already collected")
                continue
            seen_sources.add(norm_source)
            caps = [c for c in rec.get("capabilities", []) if c in taxonomy.capability_ids]
            risks = [r for r in rec.get("risk_factors", []) if r in taxonomy.risk_factor_ids]
            evidence = []
            for ev in rec.get("evidence", []):
                quote = str(ev.get("quote", ""))
                start = text.find(quote) if quote else -1
                span = (start, start + len(quote)) if start >= 0 else None
                if span is None and (found := find_quote(text, quote)) is not None:
                    span = (found.start, found.end)
                if span is None:
                    report.problems.append(f"{where}: quote for {ev.get('label')} not in the text: {quote[:60]!r}")
                    continue
                evidence.append(RealEvidence(label=ev["label"], start=span[0], end=span[1]))
            entry_id = f"real-{Path(rec['file']).stem}"
            doc_type = rec.get("doc_type") if rec.get("doc_type") in DOC_TYPES else "other"
            entry = RealEntry(
                id=entry_id,
                source=source,
                found_by=str(rec.get("found_by", "")),
                retrieved=retrieved,
                sha256=sha256_text(text),
                chars=len(text),
                title=str(rec.get("title", ""))[:200],
                doc_type=doc_type,
                group=str(rec.get("vendor", "")) or source_site(source),
                split="dev",
                capabilities=caps,
                risk_factors=risks,
                tier=Tier.parse(rec["tier"]).id,
                rule=str(rec.get("rule", "")),
                evidence=evidence,
            )
            (texts_dir / f"{entry_id}.txt").write_text(text, encoding="utf-8")
            report.entries.append(entry)
    return report


# --------------------------------------------------------------------------- agreement


def agreement(first: Sequence[RealEntry], second: dict[str, dict[str, object]]) -> dict[str, float | int]:
    """Agreement of a blind second labelling with the manifest, on the texts both labelled."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

    taxonomy = default_taxonomy()
    both = [e for e in first if e.id in second]
    if not both:
        raise RealSetError("no text was labelled twice")

    def rows(sets: Sequence[Iterable[str]], ids: Sequence[str]) -> list[list[int]]:
        return [[int(i in set(s)) for i in ids] for s in sets]

    caps = taxonomy.capability_ids
    risks = taxonomy.risk_factor_ids
    a_caps = rows([e.capabilities for e in both], caps)
    b_caps = rows([second[e.id].get("capabilities", []) for e in both], caps)  # type: ignore[misc]
    a_risk = rows([e.risk_factors for e in both], risks)
    b_risk = rows([second[e.id].get("risk_factors", []) for e in both], risks)  # type: ignore[misc]
    a_tier = [e.tier for e in both]
    b_tier = [str(second[e.id]["tier"]) for e in both]
    present_caps = [j for j in range(len(caps)) if any(r[j] for r in a_caps) or any(r[j] for r in b_caps)]
    present_risks = [j for j in range(len(risks)) if any(r[j] for r in a_risk) or any(r[j] for r in b_risk)]
    import numpy as np

    def macro(a: list[list[int]], b: list[list[int]], cols: list[int]) -> float:
        if not cols:
            return 1.0  # neither annotator saw any label of this kind
        x, y = np.array(a), np.array(b)
        return float(np.mean([f1_score(x[:, j], y[:, j], zero_division=0) for j in cols]))

    return {
        "texts": len(both),
        "capability_macro_f1": macro(a_caps, b_caps, present_caps),
        "risk_factor_macro_f1": macro(a_risk, b_risk, present_risks),
        "tier_accuracy": float(accuracy_score(a_tier, b_tier)),
        "tier_kappa": float(cohen_kappa_score(a_tier, b_tier, weights="linear", labels=[t.id for t in Tier])),
    }


def balance_yardstick(entries: Sequence[RealEntry], low_share: float = 0.30, seed: int = 0) -> list[RealEntry]:
    """Move whole low-tier groups from dev/test to train until minimal+limited is `low_share` of each.

    Real screening work is mostly products that do something to people; a yardstick with more
    harmless products than that would flatter false-alarm-averse models. Groups are moved in a
    seeded order, alternating minimal-only and limited-only groups so both stay represented.
    """
    low = {Tier.MINIMAL.id, Tier.LIMITED.id}
    out = list(entries)
    for split in ("dev", "test"):
        members: dict[str, list[int]] = defaultdict(list)
        for i, e in enumerate(out):
            if e.split == split:
                members[e.group].append(i)
        n_high = sum(1 for e in out if e.split == split and e.tier not in low)
        n_low = sum(1 for e in out if e.split == split and e.tier in low)
        target = round(n_high * low_share / (1 - low_share))
        candidates = [g for g, idx in members.items() if all(out[i].tier in low for i in idx)]
        by_tier: dict[str, list[str]] = {
            t: sorted(
                (g for g in candidates if out[members[g][0]].tier == t),
                key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest(),
            )
            for t in sorted(low)
        }
        turn = 0
        while n_low > target and any(by_tier.values()):
            tier = sorted(low)[turn % 2] if by_tier[sorted(low)[turn % 2]] else next(t for t in by_tier if by_tier[t])
            g = by_tier[tier].pop(0)
            for i in members[g]:
                out[i] = out[i].model_copy(update={"split": "train"})
            n_low -= len(members[g])
            turn += 1
    return out


def merge_new(
    existing: Sequence[RealEntry], new: Sequence[RealEntry], shares: dict[str, float], seed: int = 0
) -> list[RealEntry]:
    """Add newly ingested entries: old entries keep their id, group and split; a new text whose
    vendor or site is already in a split joins it; the other new groups are split by `assign_splits`."""
    known = {e.id for e in existing}
    fresh = [e for e in new if e.id not in known]
    everything = [*existing, *fresh]
    groups = group_keys([(e.group, e.source) for e in everything])
    split_of_group: dict[str, str] = {}
    for e, g in zip(existing, groups, strict=False):
        split_of_group.setdefault(g, e.split)
    fresh_groups = groups[len(existing) :]
    todo = [i for i, g in enumerate(fresh_groups) if g not in split_of_group]
    assigned = assign_splits(
        [fresh_groups[i] for i in todo], [fresh[i].labels for i in todo], [fresh[i].tier for i in todo], shares, seed
    )
    split_for = dict(zip(todo, assigned, strict=True))
    out = list(existing)
    for i, e in enumerate(fresh):
        g = fresh_groups[i]
        split = split_of_group.get(g) or split_for[i]
        out.append(e.model_copy(update={"group": g, "split": split}))
    return out


def summary(entries: Sequence[RealEntry]) -> dict[str, object]:
    """Counts per split, tier and label: what the data card and `data real stats` print."""
    taxonomy = default_taxonomy()
    out: dict[str, object] = {}
    for split in REAL_SPLITS:
        sub = [e for e in entries if e.split == split]
        labels = Counter(lab for e in sub for lab in e.labels)
        out[split] = {
            "texts": len(sub),
            "groups": len({e.group for e in sub}),
            "tiers": {t.id: sum(e.tier == t.id for e in sub) for t in Tier},
            "no_capability": sum(not e.capabilities for e in sub),
            "labels": {lab: labels[lab] for lab in taxonomy.label_ids},
            "doc_types": dict(Counter(e.doc_type for e in sub).most_common()),
        }
    return out
