"""Calibration, fitted on the validation split only: temperatures, per-label thresholds, tier read-out.

Training and `surveilrisk calibrate` both go through `calibrate`, seeded from the artifact's own
training configuration, so recalibrating an artifact on the split it was calibrated on gives it
back (within the tolerances the reproduction test states).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifier.artifact import ThresholdDetail, TierChoice, TierStackerMeta
from classifier.documents import Document
from classifier.taxonomy import Taxonomy, Tier
from classifier.transformer import TransformerModel
from training.calibration.readout import TIER_CUTS, TierStacker, fit_tier_stacker
from training.calibration.temperature import binary_loss, fit_temperature, ordinal_loss
from training.calibration.thresholds import (
    HIGH_RECALL_TARGET,
    ThresholdChoice,
    choose_threshold,
    choose_thresholds,
    recall_targets,
)

__all__ = [
    "HIGH_RECALL_TARGET",
    "TIER_CUTS",
    "ThresholdChoice",
    "TierStacker",
    "ValidationArrays",
    "calibrate",
    "calibrate_arrays",
    "calibrate_labels",
    "choose_threshold",
    "choose_thresholds",
    "fit_tier_stacker",
    "recall_targets",
    "tier_stacker_inputs",
]


@dataclass(frozen=True)
class ValidationArrays:
    """Document logits and gold targets of the validation split, computed once per calibration."""

    logits: np.ndarray
    labels: np.ndarray  # (documents, labels) 0/1
    tiers: np.ndarray  # (documents,) Tier values

    @classmethod
    def of(cls, model: TransformerModel, val: Sequence[Document], taxonomy: Taxonomy) -> ValidationArrays:
        return cls(
            np.stack([d.doc for d in model.document_logits([d.text for d in val])]),
            np.array([[lab in d.labels for lab in taxonomy.label_ids] for d in val], dtype=float),
            np.array([Tier.parse(d.tier).value for d in val]),
        )

    def __add__(self, other: ValidationArrays) -> ValidationArrays:
        return ValidationArrays(
            np.concatenate([self.logits, other.logits]),
            np.concatenate([self.labels, other.labels]),
            np.concatenate([self.tiers, other.tiers]),
        )

    def save(self, path: Path) -> None:
        np.savez_compressed(path, logits=self.logits.astype(np.float32), labels=self.labels, tiers=self.tiers)

    @classmethod
    def load(cls, path: Path) -> ValidationArrays:
        with np.load(path) as z:
            return cls(z["logits"].astype(np.float32), z["labels"], z["tiers"])


def calibrate(
    model: TransformerModel,
    val: Sequence[Document],
    taxonomy: Taxonomy,
    seed: int = 0,
    extra: ValidationArrays | None = None,
) -> TransformerModel:
    """Fit temperatures, thresholds and the tier read-out on validation; returns the calibrated model.

    The tier keeps the ordinal head unless a stacker over all document probabilities does better
    in cross-validation without losing recall. The stacker also sees the floor (the minimum tier
    of the detected labels) and may read high+ below an even chance, at a cut chosen for recall.
    """
    arrays = ValidationArrays.of(model, val, taxonomy)
    if extra is not None:
        arrays = arrays + extra
    return calibrate_arrays(model, arrays, taxonomy, seed)


def calibrate_arrays(
    model: TransformerModel, arrays: ValidationArrays, taxonomy: Taxonomy, seed: int = 0
) -> TransformerModel:
    """`calibrate` on logits already computed (cross-fitting reuses them across folds)."""
    model = calibrate_labels(model, arrays, taxonomy)
    stacker = fit_tier_stacker(**tier_stacker_inputs(model, arrays, taxonomy), seed=seed, floor_feature=True)
    choice = TierChoice(
        head_accuracy=stacker.head_accuracy,
        head_recall=stacker.head_recall,
        stacker_cv_accuracy=stacker.cv_accuracy,
        stacker_cv_recall=stacker.cv_recall,
        stacker_high_cut=stacker.high_cut,
    )
    readout = (
        TierStackerMeta(coef=stacker.coef, intercept=stacker.intercept, floor_feature=True, high_cut=stacker.high_cut)
        if stacker.beats_head
        else None
    )
    meta = model.meta.model_copy(update={"tier_choice": choice, "tier_stacker": readout})
    return TransformerModel(model.net, model.tokenizer, meta, model.batch_size)


def calibrate_labels(model: TransformerModel, arrays: ValidationArrays, taxonomy: Taxonomy) -> TransformerModel:
    """Temperatures and per-label thresholds; the returned model has no tier stacker yet."""
    from classifier.artifact import Temperature

    n_labels = len(taxonomy.label_ids)
    logits = arrays.logits
    temperature = Temperature(
        labels=fit_temperature(binary_loss(logits[:, :n_labels], arrays.labels)),
        tier=fit_temperature(ordinal_loss(logits[:, n_labels:], arrays.tiers)),
    )
    meta = model.meta.model_copy(
        update={"temperature": temperature, "thresholds": {}, "threshold_details": {}, "tier_stacker": None}
    )
    model = TransformerModel(model.net, model.tokenizer, meta, model.batch_size)
    chosen = choose_thresholds(
        model.label_probabilities(logits), arrays.labels, taxonomy.label_ids, recall_targets(taxonomy)
    )
    meta = meta.model_copy(
        update={
            "thresholds": {lab: c.threshold for lab, c in chosen.items()},
            "threshold_details": {lab: ThresholdDetail(**c.as_dict()) for lab, c in chosen.items()},  # type: ignore[arg-type]
        }
    )
    return TransformerModel(model.net, model.tokenizer, meta, model.batch_size)


def tier_stacker_inputs(model: TransformerModel, arrays: ValidationArrays, taxonomy: Taxonomy) -> dict[str, Any]:
    """What `fit_tier_stacker` reads, for a model whose labels are calibrated: features, gold tiers,
    the head's reading, the floor, and the floor under thresholds refitted on training folds only."""
    logits = arrays.logits
    probs = model.label_probabilities(logits)
    targets = recall_targets(taxonomy)

    def fold_floor(train_idx: np.ndarray) -> np.ndarray:
        fold = choose_thresholds(probs[train_idx], arrays.labels[train_idx], taxonomy.label_ids, targets)
        return model.tier_floor(logits, {lab: c.threshold for lab, c in fold.items()})

    return {
        "features": model.tier_features(logits),
        "tiers": arrays.tiers,
        "head_pred": model.tier_scores(logits).argmax(axis=1),
        "floor": model.tier_floor(logits),
        "fold_floor": fold_floor,
    }
