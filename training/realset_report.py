"""What the real set holds and how far two annotators agree: for `data real stats|agreement` and the data card."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from classifier.taxonomy import Tier, default_taxonomy
from training.realset import REAL_SPLITS, RealEntry, RealSetError


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
