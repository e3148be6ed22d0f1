"""The tier read-out: the ordinal head, or a stacker over all document probabilities.

The tier depends on combinations of labels (a critical rule needs several), which one window's
ordinal head cannot see; the stacker reads all document-level probabilities and is kept only
when it beats the head in cross-validation on the validation split.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from classifier.predict import read_tiers
from classifier.taxonomy import Tier
from training.calibration.thresholds import HIGH_RECALL_TARGET

# The tier read-out may call a document high+ before high is the likeliest tier (the cut on
# P(high or critical)). The cut is chosen in cross-validation on the validation split; its
# recall there must clear the document-level target by a margin, because on ~140 high and
# critical validation documents the estimate moves by about a point between fold shuffles.
TIER_CUTS: tuple[float | None, ...] = (None, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25)
TIER_RECALL_MARGIN = 0.01


@dataclass(frozen=True)
class TierStacker:
    """Multinomial logistic regression from document label and tier probabilities to the tier."""

    coef: list[list[float]]
    intercept: list[float]
    cv_accuracy: float  # cross-validated on the validation split, after the tier floor
    head_accuracy: float  # the ordinal head, same documents and folds, after the tier floor
    high_cut: float | None = None  # None: the likeliest tier
    cv_recall: float = 0.0  # high+critical documents read high+, cross-validated, after the floor
    head_recall: float = 0.0
    beats_head: bool = False  # more accurate than the head, without losing recall it needs


def fit_tier_stacker(
    features: np.ndarray,
    tiers: np.ndarray,
    head_pred: np.ndarray,
    seed: int = 0,
    floor: np.ndarray | None = None,
    repeats: int = 5,
    cuts: Sequence[float | None] = TIER_CUTS,
    min_recall: float = HIGH_RECALL_TARGET + TIER_RECALL_MARGIN,
    fold_floor: Callable[[np.ndarray], np.ndarray] | None = None,
    floor_feature: bool = False,
) -> TierStacker:
    """Fit on validation; report 5-fold cross-validated accuracy so the choice is not judged on its own fit.

    The tier depends on combinations of labels (a critical rule needs several), which one
    window's ordinal head cannot see; the stacker reads all document-level probabilities.
    `floor` is the minimum tier the detected labels imply for each document: both read-outs
    are scored on the tier that is actually returned, max(read-out, floor), since a read-out
    that is right only where the floor overrides it anyway gains nothing. The cross-validated
    figures are averaged over `repeats` shuffles: with one shuffle the head-or-stacker choice
    turned on one or two documents and flipped with the fold seed.

    The floor comes from thresholds that were themselves fitted on validation. `fold_floor`
    (training-fold indices -> every document's floor under thresholds fitted on those folds
    alone) keeps the held-out fold unseen; without it the cross-validated recall came out about
    1.5 points too optimistic. With `floor_feature` the one-hot floor is appended to the
    features, so the stacker can learn that a high reading with no detected high-tier label is
    often a false alarm.

    The cut on P(high or critical) is the one with the best cross-validated accuracy among
    those whose recall of high+critical documents reaches `min_recall` (the most recall-keeping
    cut when none does). The stacker beats the head when it is more accurate and its recall
    reaches `min_recall`, or the head's if that is lower.
    """
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    n_classes = 4
    model = LogisticRegression(C=1.0, max_iter=5000, random_state=seed)
    full_floor = floor if floor is not None else np.zeros(len(tiers), dtype=int)

    def with_floor(x: np.ndarray, fl: np.ndarray) -> np.ndarray:
        return np.hstack([x, np.eye(n_classes)[fl]]) if floor_feature else x

    counts = np.bincount(tiers, minlength=n_classes)
    folds = int(min(5, counts[counts > 0].min())) if (counts > 0).sum() > 1 else 0
    scores = {cut: np.zeros(2) for cut in cuts}  # cut -> (accuracy, recall), summed over repeats
    head_scores = np.zeros(2)
    if folds >= 2:
        for r in range(max(repeats, 1)):
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
            proba = np.zeros((len(tiers), n_classes))
            oof_floor = np.zeros(len(tiers), dtype=int)
            for train_idx, test_idx in cv.split(features, tiers):
                fl = fold_floor(train_idx) if fold_floor is not None else full_floor
                fitted = clone(model)
                fitted.fit(with_floor(features[train_idx], fl[train_idx]), tiers[train_idx])
                proba[np.ix_(test_idx, fitted.classes_)] = fitted.predict_proba(
                    with_floor(features[test_idx], fl[test_idx])
                )
                oof_floor[test_idx] = fl[test_idx]
            for cut in cuts:
                pred = np.maximum(read_tiers(proba, cut), oof_floor)
                scores[cut] += ((pred == tiers).mean(), _high_recall(pred, tiers))
            head = np.maximum(head_pred, oof_floor)
            head_scores += ((head == tiers).mean(), _high_recall(head, tiers))
        scores = {cut: v / max(repeats, 1) for cut, v in scores.items()}
        head_acc, head_recall = (float(x) for x in head_scores / max(repeats, 1))
        meeting = [c for c in cuts if scores[c][1] >= min_recall]
        if meeting:
            cut = max(meeting, key=lambda c: (scores[c][0], scores[c][1]))
        else:
            cut = max(cuts, key=lambda c: (scores[c][1], scores[c][0]))
        cv_acc, cv_recall = (float(x) for x in scores[cut])
    else:
        head = _floored(head_pred, floor)
        head_acc, head_recall = float((head == tiers).mean()), _high_recall(head, tiers)
        cut, cv_acc, cv_recall = None, 0.0, 0.0
    model.fit(with_floor(features, full_floor), tiers)
    n_features = model.coef_.shape[1]
    coef = np.zeros((n_classes, n_features))
    intercept = np.full(n_classes, -30.0)  # a tier absent from validation gets (almost) no probability
    coef[model.classes_] = model.coef_ if len(model.classes_) > 2 else np.vstack([-model.coef_, model.coef_])
    intercept[model.classes_] = (
        model.intercept_ if len(model.classes_) > 2 else [-model.intercept_[0], model.intercept_[0]]
    )
    beats = cv_acc > head_acc and cv_recall >= min(head_recall, min_recall)
    return TierStacker(coef.tolist(), intercept.tolist(), cv_acc, head_acc, cut, cv_recall, head_recall, beats)


def _high_recall(pred: np.ndarray, tiers: np.ndarray) -> float:
    high = tiers >= Tier.HIGH.value
    return float((pred[high] >= Tier.HIGH.value).mean()) if high.any() else 1.0


def _floored(pred: np.ndarray, floor: np.ndarray | None) -> np.ndarray:
    return pred if floor is None else np.maximum(pred, floor)
