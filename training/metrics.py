"""Metrics of the evaluation harness, as plain functions over gold and predicted records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from classifier.results import ClassificationResult
from classifier.taxonomy import TIER_IDS, Taxonomy, Tier


@dataclass(frozen=True)
class Gold:
    """The labels an evaluation compares against (a corpus document or an outside record)."""

    id: str
    text: str
    capabilities: frozenset[str]
    risk_factors: frozenset[str]
    tier: str
    evidence: tuple[tuple[str, int, int], ...] = ()  # (label, start, end)


def _per_label(gold: np.ndarray, got: np.ndarray, names: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each column (sklearn; 0 where undefined)."""
    from sklearn.metrics import precision_recall_fscore_support

    if not len(gold):
        return {n: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for n in names}
    p, r, f, support = precision_recall_fscore_support(gold, got, average=None, zero_division=0)
    return {
        n: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(support[j])}
        for j, n in enumerate(names)
    }


def label_metrics(
    golds: Sequence[Gold], preds: Sequence[ClassificationResult], ids: Sequence[str], kind: str
) -> dict[str, object]:
    from sklearn.metrics import f1_score

    def indicator(sets: Sequence[Iterable[str]]) -> np.ndarray:
        return np.array([[lab in s for lab in ids] for s in sets], dtype=int).reshape(len(sets), len(ids))

    gold = indicator([g.capabilities if kind == "capability" else g.risk_factors for g in golds])
    got = indicator([{d.id for d in (p.capabilities if kind == "capability" else p.risk_factors)} for p in preds])
    per = _per_label(gold, got, ids)
    supported = [m["f1"] for m in per.values() if m["support"] > 0]
    micro = float(f1_score(gold, got, average="micro", zero_division=0)) if len(gold) else 0.0
    return {"per_label": per, "macro_f1": float(np.mean(supported)) if supported else 0.0, "micro_f1": micro}


def tier_metrics(golds: Sequence[Gold], preds: Sequence[ClassificationResult]) -> dict[str, object]:
    from sklearn.metrics import confusion_matrix

    y = np.array([Tier.parse(g.tier).value for g in golds], dtype=int)
    yhat = np.array([Tier.parse(p.tier).value for p in preds], dtype=int)
    tiers = [t.value for t in Tier]
    confusion = confusion_matrix(y, yhat, labels=tiers) if len(y) else np.zeros((4, 4), dtype=int)
    onehot = np.eye(len(tiers), dtype=int)
    per = _per_label(onehot[y], onehot[yhat], [t.id for t in Tier])
    supported = [m["f1"] for m in per.values() if m["support"] > 0]
    high = y >= Tier.HIGH
    low = ~high
    return {
        "accuracy": float((y == yhat).mean()) if len(y) else 0.0,
        "macro_f1": float(np.mean(supported)) if supported else 0.0,
        "per_tier": per,
        "high_critical_recall": float((yhat[high] >= Tier.HIGH).mean()) if high.any() else 0.0,
        "false_alarm_rate": float((yhat[low] >= Tier.HIGH).mean()) if low.any() else 0.0,
        "under_tier_rate": float((yhat < y).mean()) if len(y) else 0.0,
        "confusion": confusion.tolist(),
        "labels": list(TIER_IDS),
    }


def calibration(
    golds: Sequence[Gold], preds: Sequence[ClassificationResult], taxonomy: Taxonomy, bins: int = 10
) -> dict[str, object]:
    """Expected calibration error of every label probability, and of the tier's top probability."""
    conf, correct = [], []
    for g, p in zip(golds, preds, strict=True):
        gold = g.capabilities | g.risk_factors
        for lab in taxonomy.label_ids:
            conf.append(p.scores.get(lab, 0.0))
            correct.append(float(lab in gold))
    label_ece, label_curve = _ece(np.array(conf), np.array(correct), bins)
    tconf = np.array([max(p.tier_scores.values()) for p in preds])
    likeliest = [max(p.tier_scores.items(), key=lambda kv: kv[1])[0] for p in preds]
    tcorrect = np.array([t == g.tier for t, g in zip(likeliest, golds, strict=True)], dtype=float)
    tier_ece, tier_curve = _ece(tconf, tcorrect, bins, top_label=True)
    return {"label_ece": label_ece, "tier_ece": tier_ece, "label_curve": label_curve, "tier_curve": tier_curve}


def _ece(
    conf: np.ndarray, outcome: np.ndarray, bins: int, top_label: bool = False
) -> tuple[float, list[dict[str, float]]]:
    """Binned |mean outcome - mean confidence|, weighted by bin size; the curve feeds the plot."""
    if not len(conf):
        return 0.0, []
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    curve = []
    for b in range(bins):
        mask = idx == b
        if not mask.any():
            continue
        c, o = float(conf[mask].mean()), float(outcome[mask].mean())
        ece += mask.mean() * abs(c - o)
        curve.append({"bin_low": float(edges[b]), "confidence": c, "observed": o, "count": int(mask.sum())})
    return float(ece), curve


def evidence_quality(golds: Sequence[Gold], preds: Sequence[ClassificationResult]) -> dict[str, float]:
    """How often the evidence of a correctly detected label lands on an annotated span.

    hit_at_1: the best span overlaps an annotated span of that label; hit_any: one of the
    returned spans does; char_precision: share of returned evidence characters inside
    annotated spans (a lower bound, since annotators marked one or a few places, not all).
    """
    hits1 = hits = n = 0
    inside = total = 0
    for g, p in zip(golds, preds, strict=True):
        gold_spans: dict[str, list[tuple[int, int]]] = {}
        for lab, s, e in g.evidence:
            gold_spans.setdefault(lab, []).append((s, e))
        for det in (*p.capabilities, *p.risk_factors):
            spans = gold_spans.get(det.id)
            if not spans or not det.evidence:
                continue
            n += 1
            overl = [any(ev.start < e and s < ev.end for s, e in spans) for ev in det.evidence]
            hits1 += overl[0]
            hits += any(overl)
            for ev in det.evidence:
                total += ev.end - ev.start
                covered = np.zeros(ev.end - ev.start, dtype=bool)
                for s, e in spans:
                    lo, hi = max(s, ev.start), min(e, ev.end)
                    if lo < hi:
                        covered[lo - ev.start : hi - ev.start] = True
                inside += int(covered.sum())
    return {
        "hit_at_1": hits1 / n if n else 0.0,
        "hit_any": hits / n if n else 0.0,
        "char_precision": inside / total if total else 0.0,
        "pairs": n,
    }


def all_metrics(golds: Sequence[Gold], preds: Sequence[ClassificationResult], taxonomy: Taxonomy) -> dict[str, object]:
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold records but {len(preds)} predictions")
    caps = label_metrics(golds, preds, taxonomy.capability_ids, "capability")
    risks = label_metrics(golds, preds, taxonomy.risk_factor_ids, "risk_factor")
    tiers = tier_metrics(golds, preds)
    calib = calibration(golds, preds, taxonomy)
    return {
        "documents": len(golds),
        "capability_macro_f1": caps["macro_f1"],
        "capability_micro_f1": caps["micro_f1"],
        "risk_factor_macro_f1": risks["macro_f1"],
        "tier_accuracy": tiers["accuracy"],
        "tier_macro_f1": tiers["macro_f1"],
        "high_critical_recall": tiers["high_critical_recall"],
        "false_alarm_rate": tiers["false_alarm_rate"],
        "label_ece": calib["label_ece"],
        "tier_ece": calib["tier_ece"],
        "evidence": evidence_quality(golds, preds),
        "capabilities": caps,
        "risk_factors": risks,
        "tier": tiers,
        "calibration": calib,
    }
