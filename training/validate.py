"""`surveilrisk data check`: every rule a corpus must satisfy before a model may learn from it."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from classifier.taxonomy import Taxonomy, TaxonomyError, Tier, default_taxonomy
from classifier.text import normalise
from training.corpus import DOC_TYPES, SPLITS, Document


@dataclass(frozen=True)
class CorpusRequirements:
    """The minimums the project's corpus must meet; tests pass smaller ones for tiny corpora."""

    min_documents: int = 1000
    min_written: int = 400
    min_written_positives_per_label: int = 40
    min_low_tier_share: float = 0.30  # minimal + limited
    min_hard_negatives: int = 100
    min_critical: int = 60
    min_test_share: float = 0.15
    near_duplicate_jaccard: float = 0.8
    every_label_in_test: bool = True


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    stats: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _shingles(text: str, k: int = 8) -> set[int]:
    words = re.findall(r"\w+", text.lower())
    return {hash(tuple(words[i : i + k])) for i in range(max(1, len(words) - k + 1))}


def _near_duplicates_across_splits(docs: Sequence[Document], threshold: float) -> list[str]:
    """Pairs in different splits whose 8-word shingles overlap by `threshold` or more (Jaccard)."""
    sh = [_shingles(d.text) for d in docs]
    index: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sh):
        for h in s:
            index[h].append(i)
    errors = []
    seen: set[tuple[int, int]] = set()
    for i, s in enumerate(sh):
        counts: Counter[int] = Counter()
        for h in s:
            for j in index[h]:
                if j > i:
                    counts[j] += 1
        for j, inter in counts.items():
            if docs[i].split == docs[j].split or (i, j) in seen:
                continue
            jac = inter / (len(s) + len(sh[j]) - inter)
            if jac >= threshold:
                seen.add((i, j))
                errors.append(
                    f"near-duplicate texts {docs[i].id} ({docs[i].split}) and {docs[j].id} ({docs[j].split}): "
                    f"{jac:.0%} shared 8-word shingles; give them one group"
                )
    return errors


def check_document(doc: Document, taxonomy: Taxonomy) -> list[str]:
    """Schema-level rules for one document."""
    errs: list[str] = []
    where = f"{doc.id}:"
    for kind, ids in (
        ("capability", doc.capabilities),
        ("risk_factor", doc.risk_factors),
        ("capability", doc.hard_negative_of),
    ):
        try:
            taxonomy.check_ids(ids, kind)
        except TaxonomyError as exc:
            errs.append(f"{where} {exc}")
    if len(set(doc.labels)) != len(doc.labels):
        errs.append(f"{where} a label is listed twice")
    if doc.doc_type not in DOC_TYPES:
        errs.append(f"{where} unknown doc_type {doc.doc_type!r}")
    try:
        tier = Tier.parse(doc.tier)
    except TaxonomyError as exc:
        return [*errs, f"{where} {exc}"]
    if errs:
        return errs
    minimum = taxonomy.minimum_tier(doc.labels)
    if tier < minimum.tier:
        errs.append(f"{where} tier {tier.id} is below the minimum {minimum.tier.id} ({'; '.join(minimum.reasons)})")
    if set(doc.hard_negative_of) & set(doc.capabilities):
        errs.append(f"{where} hard_negative_of overlaps its positive capabilities")
    positives = set(doc.labels)
    covered = set()
    for span in doc.evidence:
        if span.label not in positives:
            errs.append(f"{where} evidence for {span.label}, which is not a positive label")
        if span.end > len(doc.text):
            errs.append(f"{where} evidence {span.label} [{span.start}:{span.end}] is past the end of the text")
        elif not doc.text[span.start : span.end].strip():
            errs.append(f"{where} evidence {span.label} [{span.start}:{span.end}] covers only whitespace")
        covered.add(span.label)
    for lab in sorted(positives - covered):
        errs.append(f"{where} positive label {lab} has no evidence span")
    if normalise(doc.text).text != doc.text:
        errs.append(f"{where} text is not normalised (run it through classifier.text.normalise)")
    if doc.split is None:
        errs.append(f"{where} no split assigned")
    return errs


def check_corpus(
    docs: Sequence[Document], requirements: CorpusRequirements | None = None, taxonomy: Taxonomy | None = None
) -> CheckReport:
    req = requirements or CorpusRequirements()
    taxonomy = taxonomy or default_taxonomy()
    report = CheckReport()
    for doc in docs:
        report.errors.extend(check_document(doc, taxonomy))

    ids = Counter(d.id for d in docs)
    report.errors.extend(f"duplicate id {i} ({n} times)" for i, n in ids.items() if n > 1)
    texts: dict[str, str] = {}
    for d in docs:
        key = " ".join(d.text.lower().split())
        if key in texts:
            report.errors.append(f"duplicate text: {d.id} repeats {texts[key]}")
        texts.setdefault(key, d.id)
    split_of_group: dict[str, set[str]] = defaultdict(set)
    for d in docs:
        if d.split:
            split_of_group[d.group].add(d.split)
    for group, splits in sorted(split_of_group.items()):
        if len(splits) > 1:
            report.errors.append(f"group {group} leaks across splits {sorted(splits)}")
    report.errors.extend(_near_duplicates_across_splits(docs, req.near_duplicate_jaccard))

    stats = corpus_stats(docs, taxonomy)
    report.stats = stats
    n = len(docs)

    def need(cond: bool, msg: str) -> None:
        if not cond:
            report.errors.append(msg)

    need(n >= req.min_documents, f"corpus has {n} documents, fewer than {req.min_documents}")
    written = stats["written"]
    need(written >= req.min_written, f"{written} written documents, fewer than {req.min_written}")  # type: ignore[operator]
    for lab, count in stats["written_positives"].items():  # type: ignore[attr-defined]
        need(
            count >= req.min_written_positives_per_label,
            f"label {lab} has {count} written positives, fewer than {req.min_written_positives_per_label}",
        )
    low = stats["tiers"].get("minimal", 0) + stats["tiers"].get("limited", 0)  # type: ignore[attr-defined]
    need(
        n == 0 or low / n >= req.min_low_tier_share,
        f"minimal+limited share is {low / max(n, 1):.1%}, below {req.min_low_tier_share:.0%}",
    )
    need(
        stats["hard_negatives"] >= req.min_hard_negatives,  # type: ignore[operator]
        f"{stats['hard_negatives']} hard negatives, fewer than {req.min_hard_negatives}",
    )
    critical = stats["tiers"].get("critical", 0)  # type: ignore[attr-defined]
    need(critical >= req.min_critical, f"{critical} critical documents, fewer than {req.min_critical}")
    test = stats["splits"].get("test", 0)  # type: ignore[attr-defined]
    need(
        n == 0 or test / n >= req.min_test_share,
        f"test split is {test / max(n, 1):.1%}, below {req.min_test_share:.0%}",
    )
    for lab, count in stats["test_positives"].items() if req.every_label_in_test else ():  # type: ignore[attr-defined]
        need(count > 0, f"label {lab} has no positive document in the test split")
    for t, count in stats["test_tiers"].items() if req.every_label_in_test else ():  # type: ignore[attr-defined]
        need(count > 0, f"tier {t} has no document in the test split")
    return report


def corpus_stats(docs: Sequence[Document], taxonomy: Taxonomy | None = None) -> dict[str, object]:
    """Counts a data card and the validator both need."""
    taxonomy = taxonomy or default_taxonomy()
    words = sorted(len(d.text.split()) for d in docs) or [0]
    written = [d for d in docs if d.source == "written"]
    test = [d for d in docs if d.split == "test"]
    return {
        "documents": len(docs),
        "written": len(written),
        "composed": sum(d.source == "composed" for d in docs),
        "feedback": sum(d.source == "feedback" for d in docs),
        "splits": {s: sum(d.split == s for d in docs) for s in SPLITS},
        "tiers": {t: sum(d.tier == t for d in docs) for t in (x.id for x in Tier)},
        "test_tiers": {t: sum(d.tier == t for d in test) for t in (x.id for x in Tier)},
        "positives": {lab: sum(lab in d.labels for d in docs) for lab in taxonomy.label_ids},
        "written_positives": {lab: sum(lab in d.labels for d in written) for lab in taxonomy.label_ids},
        "test_positives": {lab: sum(lab in d.labels for d in test) for lab in taxonomy.label_ids},
        "hard_negatives": sum(bool(d.hard_negative_of) for d in docs),
        "no_capability": sum(not d.capabilities for d in docs),
        "doc_types": dict(Counter(d.doc_type for d in docs).most_common()),
        "words": {
            "min": words[0],
            "median": words[len(words) // 2],
            "max": words[-1],
            "over_1000": sum(w > 1000 for w in words),
        },
        "groups": len({d.group for d in docs}),
    }
