"""Every knob of a training run, read from YAML and/or flags; invalid values fail with a message."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from classifier.model import POOLINGS
from training.corpus import CORPUS_DIR
from training.realset import MANIFEST, TEXTS_DIR


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
    # Real texts (data/real): copies of each real-train text among the training documents
    # (0: none), and whether real-dev joins the validation split that picks the epoch and
    # calibrates. Without the cached texts the run goes on corpus-only and says so.
    real_train_repeat: int = 0
    real_dev_validation: bool = False
    real_manifest: Path = MANIFEST
    real_texts: Path = TEXTS_DIR
    max_docs_per_split: int | None = None  # tiny runs in tests
    evaluate_test: bool = True
    publish_to: Path | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        self.corpus_dir = Path(self.corpus_dir)
        self.extra = [Path(p) for p in self.extra]
        self.real_manifest = Path(self.real_manifest)
        self.real_texts = Path(self.real_texts)
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
        if self.real_train_repeat < 0:
            problems.append(f"real_train_repeat must be >= 0, got {self.real_train_repeat}")
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
