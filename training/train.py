"""`surveilrisk train`: documents → fine-tune → calibrate on validation → test once → artifact.

Each step lives in its own module (config, trainer, calibration, artifact); this one runs them
in order, and `recalibrate` reruns the last steps on an existing artifact.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from classifier.artifact import DataRef, WindowSpec
from classifier.documents import Document
from classifier.model import round_to_stored_precision
from classifier.predict import Classifier
from classifier.taxonomy import Taxonomy, default_taxonomy
from classifier.transformer import TransformerModel
from training.artifact import new_meta, publish, write_artifact
from training.config import TrainConfig
from training.corpus import CORPUS_DIR, corpus_files, corpus_hash, load_corpus, read_jsonl
from training.metrics import Gold
from training.realset import RealEntry, hash_of_entries

if TYPE_CHECKING:
    from training.calibration import ValidationArrays

log = logging.getLogger(__name__)
# Real-dev logits, labels and tiers that joined calibration: numbers only, never the texts.
REAL_CALIBRATION_FILE = "calibration-real-dev.npz"

__all__ = ["TrainConfig", "load_real_documents", "load_training_documents", "real_test_golds", "recalibrate", "train"]


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


@dataclass
class RealInputs:
    """Real texts a run uses: real-train copies for training, real-dev for validation and calibration."""

    train: list[Document] = field(default_factory=list)
    dev: list[Document] = field(default_factory=list)
    entries: list[RealEntry] = field(default_factory=list)
    note: str = ""


def load_real_documents(cfg: TrainConfig) -> RealInputs:
    """The real texts `cfg` asks for, or none with a note saying why (a corpus-only model)."""
    from training.realset import RealSetError, documents_for_real, read_manifest

    wanted = [s for s, on in (("train", cfg.real_train_repeat > 0), ("dev", cfg.real_dev_validation)) if on]
    if not wanted:
        return RealInputs()
    try:
        got = {s: documents_for_real(s, cfg.real_manifest, cfg.real_texts, as_split="validation") for s in wanted}
    except (RealSetError, OSError) as exc:
        note = f"corpus-only: real {'/'.join(wanted)} texts unavailable ({exc})"
        log.warning(note)
        return RealInputs(note=note)
    if cfg.max_docs_per_split:
        got = {s: v[: cfg.max_docs_per_split] for s, v in got.items()}
    train_docs = [
        d.model_copy(update={"id": f"{d.id}#{k}" if k else d.id, "split": "train"})
        for d in got.get("train", [])
        for k in range(cfg.real_train_repeat)
    ]
    used = {d.id for docs in got.values() for d in docs}
    entries = [e for e in read_manifest(cfg.real_manifest) if e.id in used]
    return RealInputs(train=train_docs, dev=got.get("dev", []), entries=entries)


def train(cfg: TrainConfig) -> Path:
    """Run the whole pipeline and return the artifact folder."""
    from training.trainer import fine_tune

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    taxonomy = default_taxonomy()
    splits = load_training_documents(cfg, taxonomy)
    real = load_real_documents(cfg)
    tuned = fine_tune(
        cfg,
        {**splits, "train": splits["train"] + real.train, "validation": splits["validation"] + real.dev},
        taxonomy,
    )
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
            documents={
                **{s: len(v) for s, v in splits.items()},
                **({"real-train": len({d.id.split("#")[0] for d in real.train})} if real.train else {}),
                **({"real-dev": len(real.dev)} if real.dev else {}),
            },
            real_texts=sorted({d.id.split("#")[0] for d in real.train}),
            real_calibration=sorted(d.id for d in real.dev),
            real_sha256=hash_of_entries(real.entries) if real.entries else None,
            real_note=real.note,
        ),
        train_config=cfg.to_dict(),
        history=tuned.history,
        weights_chosen=tuned.weights_chosen,
    )
    model = TransformerModel(tuned.net, tuned.tokenizer, meta)
    calibrate_and_write(
        model,
        splits["validation"],
        splits["test"] if cfg.evaluate_test else [],
        folder,
        cfg.output_dir,
        real_dev=real.dev,
        real_test=real_test_golds(cfg) if cfg.evaluate_test else [],
    )
    if cfg.publish_to:
        publish(folder, cfg.publish_to)
    return folder


def real_test_golds(cfg: TrainConfig) -> list[Gold]:
    """Real-test golds when their texts are cached (scored once per trained model), else none."""
    from training.realset import RealSetError, golds_for_real

    try:
        return golds_for_real("test", cfg.real_manifest, cfg.real_texts)
    except (RealSetError, OSError) as exc:
        log.warning("real-test not scored: %s", exc)
        return []


def calibrate_and_write(
    model: TransformerModel,
    val: list[Document],
    test: list[Document],
    folder: Path,
    reports_dir: Path | None,
    real_dev: list[Document] | None = None,
    real_dev_arrays: ValidationArrays | None = None,
    real_test: list[Gold] | None = None,
) -> None:
    """Calibrate on validation (plus real-dev, from its texts or its stored logits), evaluate and write.

    Real-dev logits are stored with the artifact (numbers, never the texts), so recalibrating on a
    machine without the real texts reproduces the calibration.
    """
    from training.calibration import ValidationArrays, calibrate
    from training.evaluate import evaluate, gold_from_document

    taxonomy = default_taxonomy()
    if real_dev:
        real_dev_arrays = ValidationArrays.of(model, real_dev, taxonomy)
    model = calibrate(model, val, taxonomy, seed=model.meta.seed, extra=real_dev_arrays)
    clf = Classifier(model, taxonomy=taxonomy)
    golds = {
        "validation": [gold_from_document(d) for d in val],
        "test": [gold_from_document(d) for d in test],
        "real-dev": [gold_from_document(d) for d in real_dev or []],
        "real-test": list(real_test or []),
    }
    metrics = {split: evaluate(clf, g, progress=False)[0] for split, g in golds.items() if g}
    write_artifact(folder, model.net, model.meta, metrics, reports_dir=reports_dir)
    if real_dev_arrays is not None:
        real_dev_arrays.save(folder / REAL_CALIBRATION_FILE)


def recalibrate(artifact: Path, out: Path, corpus_dir: Path = CORPUS_DIR, evaluate_test: bool = False) -> Path:
    """Refit calibration of a trained artifact on the current validation split (and the real-dev
    logits stored with it), without retraining."""
    from training.calibration import ValidationArrays

    docs = load_corpus(corpus_dir)
    val = [d for d in docs if d.split == "validation"]
    test = [d for d in docs if d.split == "test"] if evaluate_test else []
    stored = artifact / REAL_CALIBRATION_FILE
    real_arrays = ValidationArrays.load(stored) if stored.is_file() else None
    calibrate_and_write(TransformerModel.load(artifact), val, test, out, None, real_dev_arrays=real_arrays)
    return out
