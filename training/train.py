"""`surveilrisk train`: fine-tune, keep the best epoch, calibrate on validation, test once, write an artifact.

Runs as is on one CPU; the same entry point runs on several GPUs under `torchrun` or
`accelerate launch`, because the loop is the transformers `Trainer`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from classifier.model import (
    ARTIFACT_FILE,
    BASE_MODEL_ID,
    BASE_MODEL_PACKAGE,
    POOLINGS,
    AdapterConfig,
    NetConfig,
    SurveilRiskNet,
    base_model_fingerprint,
    load_tokenizer,
    save_weights,
    trainable_state,
)
from classifier.taxonomy import TIER_IDS, Taxonomy, Tier, default_taxonomy
from training.corpus import CORPUS_DIR, Document, corpus_files, corpus_hash, load_corpus, read_jsonl

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Every knob of a training run; read from YAML and/or flags. Invalid values fail with a message."""

    output_dir: Path = Path("runs/train/latest")
    corpus_dir: Path = CORPUS_DIR
    extra: list[Path] = field(default_factory=list)
    seed: int = 13
    epochs: int = 6
    learning_rate: float = 5e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    docs_per_batch: int = 8
    windows_per_doc: int = 6
    max_window_tokens: int = 128
    overlap_tokens: int = 32
    augment_window_sizes: list[int] = field(default_factory=lambda: [96, 160])
    adapter: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    first_layer: int = 0
    hidden_dropout: float = 0.1
    pooling: str = "mean"
    window_loss_weight: float = 1.0
    # Also try the uniform average of the weights at the end of the last N epochs (N >= 2),
    # kept instead of the best single epoch only when validation prefers it.
    average_last_epochs: int = 0
    max_docs_per_split: int | None = None  # tiny runs in tests
    evaluate_test: bool = True
    publish_to: Path | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.corpus_dir = Path(self.corpus_dir)
        self.extra = [Path(p) for p in self.extra]
        if self.publish_to is not None:
            self.publish_to = Path(self.publish_to)
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if not 0 < self.learning_rate < 1:
            problems.append(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.max_window_tokens < 16 or self.max_window_tokens > 510:
            problems.append(f"max_window_tokens must be in [16, 510], got {self.max_window_tokens}")
        if any(s < 16 or s > 510 for s in self.augment_window_sizes):
            problems.append(f"augment_window_sizes must be in [16, 510], got {self.augment_window_sizes}")
        if self.adapter not in {"lora", "full"}:
            problems.append(f"adapter must be 'lora' or 'full', got {self.adapter!r}")
        if self.pooling not in POOLINGS:
            problems.append(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.average_last_epochs < 0 or self.average_last_epochs > self.epochs:
            problems.append(f"average_last_epochs must be in [0, epochs={self.epochs}], got {self.average_last_epochs}")
        if self.docs_per_batch < 1 or self.windows_per_doc < 1:
            problems.append("docs_per_batch and windows_per_doc must be >= 1")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    @classmethod
    def from_yaml(cls, path: Path, **overrides: Any) -> TrainConfig:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown keys in {path}: {sorted(unknown)}")
        raw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


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


def _compute_metrics_factory(n_labels: int, n_caps: int):  # type: ignore[no-untyped-def]
    def compute(pred: Any) -> dict[str, float]:
        logits, targets = np.asarray(pred.predictions), np.asarray(pred.label_ids)
        probs = 1 / (1 + np.exp(-logits))
        got, gold = probs[:, :n_labels] >= 0.5, targets[:, :n_labels] >= 0.5

        def macro(cols: range) -> float:
            f1s = []
            for j in cols:
                tp = float((got[:, j] & gold[:, j]).sum())
                denom = float(got[:, j].sum() + gold[:, j].sum())
                if gold[:, j].any():
                    f1s.append(2 * tp / denom if denom else 0.0)
            return float(np.mean(f1s)) if f1s else 0.0

        tier_hat = (probs[:, n_labels:] >= 0.5).sum(1)
        tier = targets[:, n_labels:].sum(1)
        cap = macro(range(n_caps))
        acc = float((tier_hat == tier).mean())
        return {
            "cap_macro_f1": cap,
            "risk_macro_f1": macro(range(n_caps, n_labels)),
            "tier_accuracy": acc,
            "selection": (cap + acc) / 2,
        }

    return compute


def train(cfg: TrainConfig) -> Path:
    """Run the whole pipeline and return the artifact folder."""
    from transformers import Trainer, TrainerCallback, TrainingArguments, set_seed

    from training.windows import DocumentDataset, WindowCollator, encode_document

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    taxonomy = default_taxonomy()
    splits = load_training_documents(cfg, taxonomy)
    tokenizer = load_tokenizer()
    sizes = [cfg.max_window_tokens, *[s for s in cfg.augment_window_sizes if s != cfg.max_window_tokens]]

    def encode(docs: list[Document], train: bool) -> list[Any]:
        return [
            encode_document(d, tokenizer, taxonomy, sizes if train else sizes[:1], cfg.overlap_tokens) for d in docs
        ]

    train_ds = DocumentDataset(encode(splits["train"], True), train=True)
    val_ds = DocumentDataset(encode(splits["validation"], False), train=False)
    n_labels = len(taxonomy.label_ids)
    net = SurveilRiskNet(
        NetConfig(
            n_labels=n_labels,
            hidden_dropout=cfg.hidden_dropout,
            pooling=cfg.pooling,
            adapter=AdapterConfig(
                kind=cfg.adapter,
                r=cfg.lora_r,
                alpha=cfg.lora_alpha,
                dropout=cfg.lora_dropout,
                first_layer=cfg.first_layer,
            ),
        )
    )
    targets = np.stack([d.targets for d in train_ds.docs])
    positives = targets.sum(0).clip(min=1)
    net.set_pos_weight(
        torch.tensor(np.sqrt((len(targets) - positives) / positives).clip(1.0, 10.0), dtype=torch.float32)
    )
    head_names = ("label_head", "tier_head", "norm", "label_query")
    heads = [p for n, p in net.named_parameters() if p.requires_grad and n.startswith(head_names)]
    body = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith(head_names)]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": cfg.learning_rate}, {"params": heads, "lr": cfg.head_learning_rate}],
        weight_decay=cfg.weight_decay,
    )

    class KeepBest(TrainerCallback):
        """Keeps the best validation epoch's trainable weights in memory (no checkpoint files),
        and the last epochs' weights when averaging is on."""

        def __init__(self) -> None:
            self.best = -1.0
            self.state: dict[str, torch.Tensor] | None = None
            self.history: list[dict[str, float]] = []
            self.recent: list[dict[str, torch.Tensor]] = []
            self.chosen = "best epoch"

        def on_evaluate(
            self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
        ) -> None:
            metrics = metrics or {}
            epoch = float(state.epoch or 0)
            self.history.append({"epoch": epoch, **metrics})
            score = metrics.get("eval_selection", -1.0)
            averaging = cfg.average_last_epochs >= 2 and round(epoch) > cfg.epochs - cfg.average_last_epochs
            if score <= self.best and not averaging:
                return
            current = copy.deepcopy(trainable_state(net))  # one copy serves both; neither is modified
            if score > self.best:
                self.best, self.state = score, current
            if averaging:
                self.recent.append(current)

    keep = KeepBest()
    args = TrainingArguments(
        output_dir=str(cfg.output_dir / "trainer"),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.docs_per_batch,
        per_device_eval_batch_size=16,
        warmup_steps=cfg.warmup,
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="steps",
        logging_steps=20,
        report_to=[],
        remove_unused_columns=False,
        label_names=["doc_targets"],
        seed=cfg.seed,
        data_seed=cfg.seed,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=net,
        args=args,
        train_dataset=train_ds,
        eval_dataset=val_ds,
        data_collator=WindowCollator(tokenizer.pad_token_id, cfg.windows_per_doc, seed=cfg.seed),
        compute_metrics=_compute_metrics_factory(n_labels, len(taxonomy.capability_ids)),
        callbacks=[keep],
        optimizers=(optimizer, None),
    )
    trainer.train()
    if len(keep.recent) >= 2:
        trainer.remove_callback(keep)  # the averaged weights' evaluation is not an epoch
        _try_average(trainer, net, keep)
    if not trainer.is_world_process_zero():
        return cfg.output_dir / "artifact"
    if keep.state is not None:
        net.load_state_dict(keep.state, strict=False)
    net.eval()
    return _finish(cfg, net, tokenizer, splits, taxonomy, keep.history, keep.chosen)


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform average of weight dicts, summed in float64, returned in each tensor's own dtype."""
    return {k: (sum(s[k].double() for s in states) / len(states)).to(states[0][k].dtype) for k in states[0]}


def _try_average(trainer: Any, net: SurveilRiskNet, keep: Any) -> None:
    """Score the average of the last epochs' weights on validation; keep it if it beats the best epoch.

    Averaging the end points of a decaying schedule lands in a flatter region than any single
    one of them, which tends to generalise better; validation decides, by the same selection
    figure as the epochs themselves.
    """
    averaged = average_states(keep.recent)
    net.load_state_dict(averaged, strict=False)
    metrics = trainer.evaluate()
    score = metrics.get("eval_selection", -1.0)
    n = len(keep.recent)
    keep.history.append({"epoch": float(trainer.state.epoch or 0), "averaged_epochs": float(n), **metrics})
    log.info("average of the last %d epochs: selection %.4f (best single epoch %.4f)", n, score, keep.best)
    if score > keep.best:
        keep.best, keep.state, keep.chosen = score, averaged, "average"


def _finish(
    cfg: TrainConfig,
    net: SurveilRiskNet,
    tokenizer: Any,
    splits: dict[str, list[Document]],
    taxonomy: Taxonomy,
    history: list[dict[str, float]],
    weights_chosen: str = "best epoch",
) -> Path:
    """Calibrate on validation, evaluate once on test, write the artifact (and publish it)."""
    from classifier.model import round_to_stored_precision
    from classifier.transformer import TransformerModel

    round_to_stored_precision(net)  # calibrate the model that will be shipped, not its float32 original

    folder = cfg.output_dir / "artifact"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    data_files = [*corpus_files(cfg.corpus_dir), *cfg.extra]
    meta: dict[str, Any] = {
        "format": "surveilrisk-artifact/1",
        "version": "unsaved",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": {"id": BASE_MODEL_ID, "package": BASE_MODEL_PACKAGE, "sha256": base_model_fingerprint()},
        "capabilities": list(taxonomy.capability_ids),
        "risk_factors": list(taxonomy.risk_factor_ids),
        "tiers": list(TIER_IDS),
        "taxonomy_version": taxonomy.version,
        "windows": {"max_tokens": cfg.max_window_tokens, "overlap_tokens": cfg.overlap_tokens},
        "aggregation": "max over windows",
        "net": net.config.to_dict(),
        "data": {
            "sha256": corpus_hash(data_files),
            "files": [p.name for p in data_files],
            "documents": {s: len(v) for s, v in splits.items()},
        },
        "train_config": cfg.to_dict(),
        "history": history,
        "weights_chosen": weights_chosen,
    }
    test = splits["test"] if cfg.evaluate_test else []
    _calibrate_and_write(
        TransformerModel(net, tokenizer, meta), splits["validation"], test, taxonomy, folder, cfg.output_dir
    )
    if cfg.publish_to:
        publish(folder, cfg.publish_to)
    return folder


def _calibrate_and_write(
    model: Any, val: list[Document], test: list[Document], taxonomy: Taxonomy, folder: Path, reports_dir: Path | None
) -> None:
    """Calibrate, evaluate (validation, and test when given) and write the artifact.

    Training and `surveilrisk calibrate` both end here, with the fold seed taken from the
    artifact's own training configuration, so recalibrating an artifact on the split it was
    calibrated on reproduces it exactly.
    """
    from classifier.predict import Classifier
    from training.evaluate import evaluate, gold_from_document

    seed = int(model.meta.get("train_config", {}).get("seed", 0))
    model = calibrate(model, val, taxonomy, seed=seed)
    clf = Classifier(model, taxonomy=taxonomy)
    metrics: dict[str, Any] = {}
    for split, docs in (("validation", val), ("test", test)):
        if docs:
            metrics[split] = evaluate(clf, [gold_from_document(d) for d in docs], progress=False)[0]
    write_artifact(folder, model.net, model.meta, metrics, reports_dir=reports_dir)


@dataclass(frozen=True)
class ValidationArrays:
    """Document logits and gold targets of the validation split, computed once per calibration."""

    logits: np.ndarray
    labels: np.ndarray  # (documents, labels) 0/1
    tiers: np.ndarray  # (documents,) Tier values

    @classmethod
    def of(cls, model: Any, val: list[Document], taxonomy: Taxonomy) -> ValidationArrays:
        return cls(
            np.stack([d.doc for d in model.document_logits([d.text for d in val])]),
            np.array([[lab in d.labels for lab in taxonomy.label_ids] for d in val], dtype=float),
            np.array([Tier.parse(d.tier).value for d in val]),
        )


def calibrate(model: Any, val: list[Document], taxonomy: Taxonomy, seed: int = 0) -> Any:
    """Fit temperatures, thresholds and the tier read-out on validation; returns the calibrated model."""
    from classifier.transformer import TransformerModel
    from training.calibrate import fit_tier_stacker

    arrays = ValidationArrays.of(model, val, taxonomy)
    model = calibrate_labels(model, arrays, taxonomy)
    # Tier: keep the ordinal head unless a stacker over all document probabilities does better in
    # cross-validation on the validation split without losing recall. The stacker also sees the
    # floor (the minimum tier of the detected labels) and may read high+ below an even chance, at
    # a cut chosen for recall (training/configs/COMPARISON.md).
    stacker = fit_tier_stacker(**tier_stacker_inputs(model, arrays, taxonomy), seed=seed, floor_feature=True)
    meta = dict(model.meta)
    meta["tier_choice"] = {
        "head_accuracy": stacker.head_accuracy,
        "head_recall": stacker.head_recall,
        "stacker_cv_accuracy": stacker.cv_accuracy,
        "stacker_cv_recall": stacker.cv_recall,
        "stacker_high_cut": stacker.high_cut,
    }
    if stacker.beats_head:
        meta["tier_stacker"] = {
            "coef": stacker.coef,
            "intercept": stacker.intercept,
            "floor_feature": True,
            "high_cut": stacker.high_cut,
        }
    return TransformerModel(model.net, model.tokenizer, meta, model.batch_size)


def calibrate_labels(model: Any, arrays: ValidationArrays, taxonomy: Taxonomy) -> Any:
    """Temperatures and per-label thresholds; the returned model has no tier stacker yet."""
    from classifier.transformer import TransformerModel, tier_probabilities
    from training.calibrate import choose_thresholds, fit_temperature, recall_targets

    meta = {k: v for k, v in model.meta.items() if k not in {"tier_stacker", "thresholds", "temperature"}}
    logits, y, tier_y = arrays.logits, arrays.labels, arrays.tiers
    n_labels = len(taxonomy.label_ids)
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(8.0), 121)):
        p = tier_probabilities(logits[:, n_labels:], float(t))
        nll = -np.log(np.clip(p[np.arange(len(tier_y)), tier_y], 1e-9, 1)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), float(nll)
    meta["temperature"] = {"labels": fit_temperature(logits[:, :n_labels], y), "tier": best_t}
    model = TransformerModel(model.net, model.tokenizer, meta, model.batch_size)
    chosen = choose_thresholds(model.label_probabilities(logits), y, taxonomy.label_ids, recall_targets(taxonomy))
    meta["thresholds"] = {lab: c.threshold for lab, c in chosen.items()}
    meta["threshold_details"] = {lab: c.as_dict() for lab, c in chosen.items()}
    return TransformerModel(model.net, model.tokenizer, meta, model.batch_size)


def tier_stacker_inputs(model: Any, arrays: ValidationArrays, taxonomy: Taxonomy) -> dict[str, Any]:
    """What `fit_tier_stacker` reads, for a model whose labels are calibrated: features, gold tiers,
    the head's reading, the floor, and the floor under thresholds refitted on training folds only."""
    from training.calibrate import choose_thresholds, recall_targets

    logits = arrays.logits
    probs = model.label_probabilities(logits)
    targets = recall_targets(taxonomy)

    def fold_floor(train_idx: np.ndarray) -> np.ndarray:
        fold = choose_thresholds(probs[train_idx], arrays.labels[train_idx], taxonomy.label_ids, targets)
        return model.tier_floor(logits, {lab: c.threshold for lab, c in fold.items()})  # type: ignore[no-any-return]

    return {
        "features": model.tier_features(logits),
        "tiers": arrays.tiers,
        "head_pred": model.tier_scores(logits).argmax(axis=1),
        "floor": model.tier_floor(logits),
        "fold_floor": fold_floor,
    }


def write_artifact(
    folder: Path, net: SurveilRiskNet, meta: dict[str, Any], metrics: dict[str, Any], reports_dir: Path | None = None
) -> None:
    """Weights (safetensors), metadata with a content-derived version id, metrics, reports and model card."""
    from training.model_card import write_model_card
    from training.report import write_report

    folder.mkdir(parents=True, exist_ok=True)
    meta["metrics"] = {s: _headline(m) for s, m in metrics.items()}
    weights = save_weights(net, folder)
    meta["version"] = content_version(weights.read_bytes(), meta)
    (folder / ARTIFACT_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    for split, m in metrics.items():
        write_report(m, (reports_dir or folder.parent) / f"report-{split}", f"{meta['version']} on {split}")
    write_model_card(folder, meta, metrics)


# Calibration values enter the version id rounded to this many decimals: the same weights and
# calibration give the same id on any machine, where full-precision stacker coefficients differ
# around 1e-7 from one CPU to another.
VERSION_DECIMALS = 6


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, VERSION_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def content_version(weights: bytes, meta: dict[str, Any]) -> str:
    """`surveilrisk-<hash>` of the weights and the rounded calibration; the date lives in `created`."""
    import hashlib

    calibration = _rounded([meta["thresholds"], meta["temperature"], meta.get("tier_stacker")])
    digest = hashlib.sha256(weights + json.dumps(calibration, sort_keys=True).encode()).hexdigest()
    return f"surveilrisk-{digest[:10]}"


def recalibrate(artifact: Path, out: Path, corpus_dir: Path = CORPUS_DIR, evaluate_test: bool = False) -> Path:
    """Refit calibration of a trained artifact on the current validation split, without retraining."""
    from classifier.transformer import TransformerModel

    docs = load_corpus(corpus_dir)
    val = [d for d in docs if d.split == "validation"]
    test = [d for d in docs if d.split == "test"] if evaluate_test else []
    _calibrate_and_write(TransformerModel.load(artifact), val, test, default_taxonomy(), out, None)
    return out


def _headline(m: dict[str, Any]) -> dict[str, float]:
    keys = (
        "documents",
        "capability_macro_f1",
        "capability_micro_f1",
        "risk_factor_macro_f1",
        "tier_accuracy",
        "tier_macro_f1",
        "high_critical_recall",
        "false_alarm_rate",
        "label_ece",
        "tier_ece",
    )
    out = {k: m[k] for k in keys}
    out["evidence_hit_at_1"] = m["evidence"]["hit_at_1"]
    return out


def publish(artifact: Path, target: Path) -> None:
    """Replace the shipped model with a new artifact (only its small files are copied)."""
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(artifact, tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
