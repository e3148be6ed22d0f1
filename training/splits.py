"""Assign train/validation/test by near-duplicate group, stratified so every label reaches test."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence

from training.corpus import SPLITS, Document

DEFAULT_SHARES = {"train": 0.68, "validation": 0.15, "test": 0.17}


def assign_splits(docs: Sequence[Document], shares: dict[str, float] | None = None, seed: int = 13) -> dict[str, str]:
    """Map group id → split.

    Groups are placed rarest-label first, each into the split furthest below its target
    share (relatively) for the group's rarest label, then for all its labels, then for size:
    iterative stratification at group level. Deterministic for a seed.
    """
    shares = shares or DEFAULT_SHARES
    if abs(sum(shares.values()) - 1.0) > 1e-6 or set(shares) != set(SPLITS):
        raise ValueError(f"split shares must cover {SPLITS} and sum to 1, got {shares}")
    groups: dict[str, list[Document]] = defaultdict(list)
    for d in docs:
        groups[d.group].append(d)

    def keys(d: Document) -> set[str]:
        return {*d.labels, f"tier:{d.tier}"}

    group_keys = {g: set().union(*(keys(d) for d in ds)) for g, ds in groups.items()}
    totals: dict[str, int] = defaultdict(int)
    for ks in group_keys.values():
        for k in ks:
            totals[k] += 1
    rng = random.Random(seed)
    order = list(groups)
    rng.shuffle(order)
    order.sort(key=lambda g: min((totals[k] for k in group_keys[g]), default=10**9))

    have: dict[str, dict[str, int]] = {s: defaultdict(int) for s in SPLITS}
    size = dict.fromkeys(SPLITS, 0)
    n_docs = len(docs)
    out: dict[str, str] = {}
    for g in order:
        ks = group_keys[g]
        rarest = min(ks, key=lambda k: totals[k])

        def deficit(split: str, rarest: str = rarest, ks: set[str] = ks) -> tuple[float, float, float]:
            # Relative shortfall of the group's rarest label first, then of all its labels, then of size.
            want = shares[split] * totals[rarest]
            rare_gap = (want - have[split][rarest]) / want
            mean_gap = sum((shares[split] * totals[k] - have[split][k]) / (shares[split] * totals[k]) for k in ks)
            size_gap = (shares[split] * n_docs - size[split]) / (shares[split] * n_docs)
            return (round(rare_gap, 6), mean_gap / max(len(ks), 1), size_gap)

        best = max(SPLITS, key=deficit)
        out[g] = best
        size[best] += len(groups[g])
        for k in ks:
            have[best][k] += 1
    return out
