"""Fit the TF-IDF baseline on the train split and choose its thresholds on validation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from classifier.baselines import TfidfModel
from classifier.predict import ScoringModel
from classifier.taxonomy import Taxonomy, default_taxonomy
from training.calibration.thresholds import choose_thresholds
from training.corpus import CORPUS_DIR, Document, load_corpus


def fit_tfidf(docs: list[Document], taxonomy: Taxonomy | None = None, seed: int = 0) -> TfidfModel:
    """Train on `train` documents, then pick F1-best thresholds on `validation`.

    F1-best rather than the transformer's recall-first thresholds: a baseline should be the
    strongest version of itself on the metric it is compared by (capability macro F1).
    """
    taxonomy = taxonomy or default_taxonomy()
    train = [d for d in docs if d.split == "train"]
    val = [d for d in docs if d.split == "validation"]
    if not train:
        raise ValueError("the corpus has no train split; run `surveilrisk data split` first")
    model = TfidfModel(taxonomy).fit(
        [d.text for d in train], [d.labels for d in train], [d.tier for d in train], seed=seed
    )
    if val:
        raws = model.score([d.text for d in val])
        ids = taxonomy.label_ids
        probs = np.array([[r.scores[lab] for lab in ids] for r in raws])
        y = np.array([[lab in d.labels for lab in ids] for d in val], dtype=int)
        chosen = choose_thresholds(probs, y, ids, recall={})
        model.set_thresholds({lab: c.threshold for lab, c in chosen.items()})
    return model


def load_tfidf(corpus_dir: Path = CORPUS_DIR) -> TfidfModel:
    return fit_tfidf(load_corpus(corpus_dir))


def training_models() -> dict[str, Callable[[int], ScoringModel]]:
    """Models the training layer can build on demand, for `Classifier.load(..., extra=...)`."""
    return {"tfidf": lambda _batch_size: load_tfidf()}
