"""Per-label decision thresholds, chosen on validation from one precision-recall curve per label."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from classifier.taxonomy import Taxonomy, Tier

HIGH_RECALL_TARGET = 0.95
# Recall 0.95 measured on fewer than 20 positives means "miss none": one odd document would set
# the threshold. Below this count the data does not allow the rule.
MIN_POSITIVES_FOR_RECALL_RULE = 20
# Nor is recall bought at any price: below this precision the rule yields to the F1-best
# threshold (the choice between 0.6 and 0.7 is recorded in training/configs/COMPARISON.md).
MIN_PRECISION_FOR_RECALL_RULE = 0.7
THRESHOLD_RANGE = (0.02, 0.95)


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    rule: str  # "recall>=0.95", "max_f1" or "default"
    precision: float
    recall: float
    f1: float
    positives: int

    def as_dict(self) -> dict[str, float | str | int]:
        return asdict(self)


def recall_targets(taxonomy: Taxonomy, target: float = HIGH_RECALL_TARGET) -> dict[str, float]:
    """High- and critical-tier capabilities: a missed one costs more than a false alarm."""
    return {c.id: target for c in taxonomy.capabilities if c.min_tier >= Tier.HIGH}


class _Curve:
    """Precision, recall and F1 of `score >= t` for any t, from sklearn's precision-recall curve."""

    def __init__(self, p: np.ndarray, y: np.ndarray) -> None:
        from sklearn.metrics import precision_recall_curve

        precision, recall, cuts = precision_recall_curve(y, p, drop_intermediate=False)
        self.cuts, self.precision, self.recall = cuts, precision[:-1], recall[:-1]

    def at(self, t: float) -> tuple[float, float, float]:
        i = int(np.searchsorted(self.cuts, t, side="left"))  # `p >= t` selects what `p >= cuts[i]` does
        if i == len(self.cuts):
            return 0.0, 0.0, 0.0  # nothing predicted positive
        prec, rec = float(self.precision[i]), float(self.recall[i])
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)


def choose_threshold(p: np.ndarray, y: np.ndarray, recall_target: float | None = None) -> ThresholdChoice:
    """Highest threshold meeting the recall target if the data allows it, else the F1-best one.

    The data allows the recall rule when there are enough positives and the threshold it
    implies keeps precision at or above MIN_PRECISION_FOR_RECALL_RULE. Candidate thresholds sit
    halfway between neighbouring scores, so a choice does not sit exactly on one validation
    document's score.
    """
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=int)
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        from sklearn.metrics import precision_recall_fscore_support

        prec, rec, f1, _ = precision_recall_fscore_support(y, p >= 0.5, average="binary", zero_division=0)
        return ThresholdChoice(0.5, "default", float(prec), float(rec), float(f1), positives)
    curve = _Curve(p, y)
    uniq = np.unique(np.clip(p, *THRESHOLD_RANGE))
    candidates = np.unique(np.concatenate([(uniq[:-1] + uniq[1:]) / 2, [0.5], uniq[:1]]))
    candidates = candidates[(candidates >= THRESHOLD_RANGE[0]) & (candidates <= THRESHOLD_RANGE[1])]
    stats = {float(t): curve.at(float(t)) for t in candidates}
    if recall_target is not None and positives >= MIN_POSITIVES_FOR_RECALL_RULE:
        ok = [t for t, (_, rec, _) in stats.items() if rec >= recall_target]
        if ok:
            t = max(ok)
            prec, rec, f1 = stats[t]
            if prec >= MIN_PRECISION_FOR_RECALL_RULE:
                return ThresholdChoice(round(t, 4), f"recall>={recall_target}", prec, rec, f1, positives)
    t = max(stats, key=lambda t: (round(stats[t][2], 9), -abs(t - 0.5), t))
    prec, rec, f1 = stats[t]
    return ThresholdChoice(round(t, 4), "max_f1", prec, rec, f1, positives)


def choose_thresholds(
    probs: np.ndarray, targets: np.ndarray, label_ids: Sequence[str], recall: Mapping[str, float]
) -> dict[str, ThresholdChoice]:
    if probs.shape != targets.shape or probs.shape[1] != len(label_ids):
        raise ValueError(f"probs {probs.shape} and targets {targets.shape} must be (docs, {len(label_ids)})")
    return {lab: choose_threshold(probs[:, i], targets[:, i], recall.get(lab)) for i, lab in enumerate(label_ids)}
