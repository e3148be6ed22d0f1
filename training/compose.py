"""Composed documents: new layouts assembled from written ones, for what real files look like.

Three shapes the written documents are too tidy to cover often enough:
- catalogue pages that put several products of different tiers on one page;
- long specification sheets where one capability sentence sits deep among neutral lines;
- benign products whose text denies a capability ("does not compare faces ...").

Every composed document takes the split of the written documents it draws on, so no text
crosses from train to test; its group is its first source's group.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from classifier.taxonomy import Taxonomy, Tier, default_taxonomy
from classifier.text import normalise, segment
from training.corpus import Document, EvidenceSpan

_HEADERS = (
    "PRODUCT CATALOGUE {year} | Security & Analytics",
    "Home > Solutions > Product overview",
    "{vendor} — Portfolio highlights",
    "Selection guide — models available for export, {year} edition",
    "Datasheet bundle (extracted from PDF) — {vendor}",
)
_SEPARATORS = (
    "\n\n-- page {page} --\n\n",
    "\n\n{vendor} | confidential | p. {page}\n\n",
    "\n\n* * *\n\n",
    "\n\n————————————\n\n",
    "\n\n{page}\n\n",
)
_VENDORS = (
    "Nordvik Systems",
    "Aurelis Technik",
    "Qiantu Vision",
    "Meridian Secure",
    "Vela Analytics",
    "Kestrel Integrations",
    "Huayuan Smart Tech",
    "Orbis Defence Electronics",
    "Lumen Peak",
    "Castellan Networks",
)

# Denials written for this project; each is paired with the capability it names.
_DENIALS: dict[str, tuple[str, ...]] = {
    "face_identification": (
        "Note: the device does not compare faces with any list or database and keeps no face templates.",
        "No facial recognition is performed; detected faces are never matched against stored identities.",
    ),
    "emotion_recognition": (
        "The software does not attempt to read emotions, moods or attention levels of the people in view.",
        "Expression or sentiment analysis of faces is not part of this product and cannot be enabled.",
    ),
    "biometric_categorisation": (
        "The counter does not estimate age, gender or any other personal attribute of visitors.",
        "No demographic or ethnic attributes are inferred; only anonymous totals are reported.",
    ),
    "person_tracking": (
        "Individuals are not followed between cameras and no appearance features are stored.",
        "The system cannot re-identify a person across sites; counts reset at every entrance.",
    ),
    "license_plate_recognition": (
        "Vehicles are counted and classified by size only; number plates are not read or stored.",
    ),
    "voice_biometrics": (
        "Transcription only: the engine does not recognise or verify who is speaking.",
        "No voiceprints are created, and speakers are labelled only as 'speaker 1', 'speaker 2'.",
    ),
    "location_tracking": ("The tags report the position of pallets and forklifts, not of employees or their phones.",),
    "communications_interception": (
        "The appliance filters traffic by port and protocol for the owner's own network and does not record content.",
    ),
}


def _fill(template: str, rng: random.Random, page: int) -> str:
    return template.format(year=rng.choice(range(2019, 2027)), vendor=rng.choice(_VENDORS), page=page)


def _join(parts: Sequence[tuple[str, Document | None]]) -> tuple[str, list[EvidenceSpan], list[Document]]:
    """Concatenate text pieces, moving each source's evidence to its new offset."""
    text = ""
    spans: list[EvidenceSpan] = []
    sources: list[Document] = []
    for piece, doc in parts:
        offset = len(text)
        text += piece
        if doc is not None:
            sources.append(doc)
            spans.extend(EvidenceSpan(label=e.label, start=e.start + offset, end=e.end + offset) for e in doc.evidence)
    return text, spans, sources


def _make(
    doc_id: str,
    title: str,
    doc_type: str,
    text: str,
    spans: list[EvidenceSpan],
    sources: list[Document],
    taxonomy: Taxonomy,
    extra_tier: Tier = Tier.MINIMAL,
    hard: Sequence[str] = (),
    whole_sources: int | None = None,
) -> Document | None:
    """`sources[:whole_sources]` appear whole (default all); later ones gave only a sentence."""
    whole_sources = len(sources) if whole_sources is None else whole_sources
    if normalise(text).text != text:
        return None
    labels = {e.label for e in spans}
    caps = [c for c in taxonomy.capability_ids if c in labels]
    risks = [r for r in taxonomy.risk_factor_ids if r in labels]
    # Whole documents bring their tier; a donor that gives only one sentence brings only what that
    # sentence's labels imply (extra_tier), never its own document's tier.
    source_tier = max([Tier.parse(d.tier) for d in sources[:whole_sources]], default=Tier.MINIMAL)
    tier = max(source_tier, extra_tier)
    if taxonomy.minimum_tier(labels).tier > tier:
        return None  # labels of separate products would combine into a critical rule: skip
    return Document(
        id=doc_id,
        title=title,
        doc_type=doc_type,
        text=text,
        capabilities=caps,
        risk_factors=risks,
        tier=tier.id,
        evidence=spans,
        group=sources[0].group,
        source="composed",
        split=sources[0].split,
        hard_negative_of=[h for h in hard if h not in caps],
        voice="composed",
    )


def _catalogue(i: int, pool: list[Document], rng: random.Random, taxonomy: Taxonomy) -> Document | None:
    k = rng.choice((2, 3, 3, 4))
    picks = rng.sample(pool, min(k, len(pool)))
    parts: list[tuple[str, Document | None]] = [(_fill(rng.choice(_HEADERS), rng, 1) + "\n\n", None)]
    for n, d in enumerate(picks):
        if n:
            parts.append((_fill(rng.choice(_SEPARATORS), rng, n + 1), None))
        parts.append((d.text, d))
    text, spans, sources = _join(parts)
    return _make(
        f"composed-cat-{i:04d}",
        f"Catalogue: {', '.join(d.title for d in picks)}"[:200],
        "mixed",
        text,
        spans,
        sources,
        taxonomy,
    )


def _buried(
    i: int, hosts: list[Document], donors: list[Document], rng: random.Random, taxonomy: Taxonomy
) -> Document | None:
    host, donor = rng.choice(hosts), rng.choice(donors)
    # The moved sentence must carry a capability: a sentence chosen for a risk factor's quote
    # often shows a capability whose quote sat elsewhere in the donor, and would be mislabelled.
    cap_evidence = [e for e in donor.evidence if e.label in taxonomy.capability_ids]
    if not cap_evidence:
        return None
    ev = rng.choice(cap_evidence)
    seg = next((s for s in segment(donor.text) if s.start <= ev.start < s.end), None)
    if seg is None or seg.end < ev.end:
        return None
    sentence = donor.text[seg.start : seg.end]
    moved = [
        EvidenceSpan(label=e.label, start=e.start - seg.start, end=e.end - seg.start)
        for e in donor.evidence
        if seg.start <= e.start and e.end <= seg.end
    ]
    host_segs = segment(host.text)
    if len(host_segs) < 6:
        return None
    cut = host_segs[rng.randrange(len(host_segs) // 3, len(host_segs) - 1)].end
    before, after = host.text[:cut], host.text[cut:]
    text = before + "\n" + sentence + ("\n" if not after.startswith("\n") else "") + after.lstrip(" ")
    offset = len(before) + 1
    spans = [*host.evidence, *(EvidenceSpan(label=e.label, start=e.start + offset, end=e.end + offset) for e in moved)]
    if text[offset : offset + len(sentence)] != sentence:
        return None
    labels = {e.label for e in moved}
    implied = taxonomy.minimum_tier(labels).tier
    if labels & taxonomy.use_dependent_ids and Tier.parse(donor.tier) > implied:
        # Voice or other biometrics in a higher-tier donor were probably used to identify; the
        # sentence alone cannot say which, so it would carry the wrong tier.
        return None
    return _make(
        f"composed-bury-{i:04d}",
        host.title,
        host.doc_type,
        text,
        spans,
        [host, donor],
        taxonomy,
        extra_tier=implied,
        whole_sources=1,
    )


def _denial(i: int, hosts: list[Document], rng: random.Random, taxonomy: Taxonomy) -> Document | None:
    host = rng.choice(hosts)
    cap = rng.choice([c for c in _DENIALS if c not in host.capabilities])
    sentence = rng.choice(_DENIALS[cap])
    segs = segment(host.text)
    cut = segs[rng.randrange(len(segs))].end if segs else len(host.text)
    text = host.text[:cut] + "\n" + sentence + host.text[cut:]
    shift = len(sentence) + 1
    spans = [
        e
        if e.end <= cut
        else EvidenceSpan(label=e.label, start=e.start + (shift if e.start >= cut else 0), end=e.end + shift)
        for e in host.evidence
    ]
    doc = _make(
        f"composed-deny-{i:04d}",
        host.title,
        host.doc_type,
        text,
        spans,
        [host],
        taxonomy,
        hard=[*host.hard_negative_of, cap],
    )
    return doc


def compose_corpus(
    written: Sequence[Document], count: int = 600, seed: int = 7, taxonomy: Taxonomy | None = None
) -> list[Document]:
    """Build about `count` composed documents: 40% catalogues, 40% buried lines, 20% denials."""
    taxonomy = taxonomy or default_taxonomy()
    rng = random.Random(seed)
    by_split: dict[str, list[Document]] = defaultdict(list)
    for d in written:
        if d.split is None:
            raise ValueError(f"{d.id} has no split; run `surveilrisk data split` before composing")
        by_split[d.split].append(d)
    out: list[Document] = []
    seen: set[str] = set()
    plan = [("cat", int(count * 0.4)), ("bury", int(count * 0.4)), ("deny", count - 2 * int(count * 0.4))]
    n = 0
    for kind, quota in plan:
        made = attempts = 0
        while made < quota and attempts < quota * 20:
            attempts += 1
            split = rng.choices(list(by_split), weights=[len(v) for v in by_split.values()])[0]
            pool = by_split[split]
            plain = [d for d in pool if not d.capabilities and len(d.text.split()) > 120]
            donors = [d for d in pool if d.capabilities and d.evidence]
            if kind == "cat":
                roll = rng.random()
                if roll < 0.08:  # a few long bundles: real datasheet collections run to thousands of words
                    picks = [d for d in pool if 500 < len(d.text.split()) < 1300]
                else:
                    picks = [d for d in pool if len(d.text.split()) < 900]
                    if roll < 0.45:  # catalogues of look-alike benign products are common too
                        picks = [d for d in picks if Tier.parse(d.tier) <= Tier.LIMITED]
                doc = _catalogue(n, picks, rng, taxonomy)
                if doc is not None and len(doc.text.split()) > 2500:
                    doc = None
            elif kind == "bury":
                doc = _buried(n, plain, donors, rng, taxonomy) if plain and donors else None
            else:
                doc = _denial(n, [d for d in pool if Tier.parse(d.tier) <= Tier.LIMITED], rng, taxonomy)
            if doc is None or doc.text in seen:
                continue
            seen.add(doc.text)
            out.append(doc)
            made += 1
            n += 1
    return out
