"""`surveilrisk train`: documents → fine-tune → calibrate on validation → test once → artifact.

Each step lives in its own module (config, trainer, calibration, artifact); this one runs them
in order, and `recalibrate` reruns the last steps on an existing artifact.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from classifier.artifact import DataRef, WindowSpec
from classifier.documents import Document
from classifier.model import round_to_stored_precision
from classifier.predict import Classifier
from classifier.taxonomy import Taxonomy, default_taxonomy
from classifier.transformer import TransformerModel
from training.artifact import new_meta, publish, write_artifact
from training.config import TrainConfig
from training.corpus import CORPUS_DIR, corpus_files, corpus_hash, load_corpus, read_jsonl

__all__ = ["TrainConfig", "load_training_documents", "recalibrate", "train"]


def load_training_documents(cfg: TrainConfig, taxonomy: Taxonomy) -> dict[str, list[Document]]:
    """Corpus splits plus extra JSONL (reviewer corrections, always training data), validated."""
    from training.validate import check_document

    docs = load_corpus(cfg.corpus_dir)
    for path in cfg.extra:
        extra = [d.model_copy(update={"split": "train"}) for d in read_jsonl(path)]
        problems = [e for d in extra for e in check_document(d, taxonomy)]
        if problems:
            raise ValueError(f"{path} has invalid documents: " + "; ".join(problems[:5]))
        corrected = {d.id for d in extra}
        docs = [d for d in docs if d.id not in corrected] + extra
    splits: dict[str, list[Document]] = {s: [] for s in ("train", "validation", "test")}
    for d in docs:
        if d.split in splits:
            splits[d.split].append(d)
    if cfg.max_docs_per_split:
        splits = {s: v[: cfg.max_docs_per_split] for s, v in splits.items()}
    if not splits["train"] or not splits["validation"]:
        raise ValueError("training needs documents in both the train and validation splits")
    return splits


def train(cfg: TrainConfig) -> Path:
    """Run the whole pipeline and return the artifact folder."""
    from training.trainer import fine_tune

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    taxonomy = default_taxonomy()
    splits = load_training_documents(cfg, taxonomy)
    tuned = fine_tune(cfg, splits, taxonomy)
    folder = cfg.output_dir / "artifact"
    if not tuned.is_main_process:
        return folder
    round_to_stored_precision(tuned.net)  # calibrate the model that will be shipped, not its float32 original
    if folder.exists():
        shutil.rmtree(folder)
    data_files = [*corpus_files(cfg.corpus_dir), *cfg.extra]
    meta = new_meta(
        tuned.net,
        taxonomy,
        WindowSpec(max_tokens=cfg.max_window_tokens, overlap_tokens=cfg.overlap_tokens),
        DataRef(
            sha256=corpus_hash(data_files),
            files=[p.name for p in data_files],
            documents={s: len(v) for s, v in splits.items()},
        ),
        train_config=cfg.to_dict(),
        history=tuned.history,
        weights_chosen=tuned.weights_chosen,
    )
    model = TransformerModel(tuned.net, tuned.tokenizer, meta)
    calibrate_and_write(
        model, splits["validation"], splits["test"] if cfg.evaluate_test else [], folder, cfg.output_dir
    )
    if cfg.publish_to:
        publish(folder, cfg.publish_to)
    return folder


def calibrate_and_write(
    model: TransformerModel, val: list[Document], test: list[Document], folder: Path, reports_dir: Path | None
) -> None:
    """Calibrate on validation, evaluate (validation, and test when given) and write the artifact."""
    from training.calibration import calibrate
    from training.evaluate import evaluate, gold_from_document

    taxonomy = default_taxonomy()
    model = calibrate(model, val, taxonomy, seed=model.meta.seed)
    clf = Classifier(model, taxonomy=taxonomy)
    metrics = {
        split: evaluate(clf, [gold_from_document(d) for d in docs], progress=False)[0]
        for split, docs in (("validation", val), ("test", test))
        if docs
    }
    write_artifact(folder, model.net, model.meta, metrics, reports_dir=reports_dir)


def recalibrate(artifact: Path, out: Path, corpus_dir: Path = CORPUS_DIR, evaluate_test: bool = False) -> Path:
    """Refit calibration of a trained artifact on the current validation split, without retraining."""
    docs = load_corpus(corpus_dir)
    val = [d for d in docs if d.split == "validation"]
    test = [d for d in docs if d.split == "test"] if evaluate_test else []
    calibrate_and_write(TransformerModel.load(artifact), val, test, out, None)
    return out
