"""Building the real set: collectors' folders in, manifest entries out, split by vendor or site."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from classifier.taxonomy import Taxonomy, Tier, default_taxonomy
from classifier.text import find_quote
from training.corpus import DOC_TYPES
from training.exclusion import ExclusionList
from training.realset import TEXTS_DIR, RealEntry, RealEvidence, sha256_text

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
