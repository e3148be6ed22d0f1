"""Honest real-dev figures for a model calibrated on real-dev: `python -m training.crossfit ARTIFACT`.

A model whose thresholds and tier read-out were fitted on corpus validation plus real-dev scores
real-dev with hindsight. Cross-fitting recalibrates it K times, each time on corpus validation
plus the real-dev groups of the other folds, and scores the held-out fold; the pooled
out-of-fold predictions give real-dev figures that can be compared with other models'. It also
scores real-dev under calibration on corpus validation alone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from classifier.predict import Classifier
from classifier.taxonomy import default_taxonomy
from classifier.transformer import TransformerModel
from training.calibration import ValidationArrays, calibrate_arrays
from training.corpus import load_corpus
from training.evaluate import evaluate
from training.metrics import all_metrics
from training.realset import MANIFEST, TEXTS_DIR, documents_for_real, golds_for_real, read_manifest

HEADLINE = ("capability_macro_f1", "risk_factor_macro_f1", "tier_accuracy", "high_critical_recall", "false_alarm_rate")


def fold_of(group: str, folds: int, seed: int) -> int:
    return int(hashlib.sha256(f"{seed}:{group}".encode()).hexdigest(), 16) % folds


def crossfit(artifact: Path, folds: int = 3, seed: int = 0) -> dict[str, Any]:
    """Out-of-fold real-dev metrics, and real-dev metrics under corpus-only calibration."""
    taxonomy = default_taxonomy()
    model = TransformerModel.load(artifact)
    val = [d for d in load_corpus() if d.split == "validation"]
    corpus = ValidationArrays.of(model, val, taxonomy)
    docs = documents_for_real("dev", MANIFEST, TEXTS_DIR, as_split="validation")
    golds = golds_for_real("dev", MANIFEST, TEXTS_DIR)
    group = {e.id: e.group for e in read_manifest(MANIFEST)}
    real = ValidationArrays.of(model, docs, taxonomy)
    fold = np.array([fold_of(group[d.id], folds, seed) for d in docs])
    preds: list[Any] = [None] * len(golds)
    for k in range(folds):
        keep = fold != k
        part = ValidationArrays(real.logits[keep], real.labels[keep], real.tiers[keep])
        clf = Classifier(calibrate_arrays(model, corpus + part, taxonomy, model.meta.seed), taxonomy=taxonomy)
        held = [i for i in range(len(golds)) if fold[i] == k]
        _, got = evaluate(clf, [golds[i] for i in held], progress=False)
        for i, p in zip(held, got, strict=True):
            preds[i] = p
    out_of_fold = all_metrics(golds, preds, taxonomy)
    corpus_only = evaluate(
        Classifier(calibrate_arrays(model, corpus, taxonomy, model.meta.seed), taxonomy=taxonomy), golds, False
    )[0]
    return {
        "model": model.version,
        "real_dev_documents": len(golds),
        "folds": folds,
        "cross_fitted": {k: out_of_fold[k] for k in HEADLINE},
        "corpus_calibration_only": {k: corpus_only[k] for k in HEADLINE},
    }


def main(artifact: Path, folds: int = 3, seed: int = 0) -> None:
    typer.echo(json.dumps(crossfit(artifact, folds, seed), indent=1))


if __name__ == "__main__":
    typer.run(main)
