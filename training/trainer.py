"""The fine-tuning loop: the transformers `Trainer` over document windows, keeping the best epoch.

Runs as is on one CPU; the same code runs on several GPUs under `torchrun` or `accelerate launch`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback

from classifier.documents import Document
from classifier.model import AdapterConfig, NetConfig, SurveilRiskNet, trainable_state
from classifier.taxonomy import Taxonomy
from training.config import TrainConfig

log = logging.getLogger(__name__)
HEAD_PARAMETERS = ("label_head", "tier_head", "norm", "label_query")


@dataclass
class FineTuned:
    """The trained network (best epoch or averaged weights loaded) and how it got there."""

    net: SurveilRiskNet
    tokenizer: Any
    history: list[dict[str, float]]
    weights_chosen: str
    is_main_process: bool = True


def selection_metrics(n_labels: int, n_caps: int) -> Any:
    """`compute_metrics` for the Trainer: label F1 at 0.5 and tier accuracy; epochs are chosen by their mean."""
    from sklearn.metrics import accuracy_score, f1_score

    def macro(gold: np.ndarray, got: np.ndarray) -> float:
        supported = gold.any(axis=0)
        if not supported.any():
            return 0.0
        return float(f1_score(gold[:, supported], got[:, supported], average="macro", zero_division=0))

    def compute(pred: Any) -> dict[str, float]:
        logits, targets = np.asarray(pred.predictions), np.asarray(pred.label_ids)
        probs = 1 / (1 + np.exp(-logits))
        got, gold = probs[:, :n_labels] >= 0.5, targets[:, :n_labels] >= 0.5
        tier_hat = (probs[:, n_labels:] >= 0.5).sum(1)
        tier = targets[:, n_labels:].sum(1)
        cap = macro(gold[:, :n_caps], got[:, :n_caps])
        acc = float(accuracy_score(tier, tier_hat))
        return {
            "cap_macro_f1": cap,
            "risk_macro_f1": macro(gold[:, n_caps:], got[:, n_caps:]),
            "tier_accuracy": acc,
            "selection": (cap + acc) / 2,
        }

    return compute


@dataclass
class KeepBest(TrainerCallback):
    """Keeps the best validation epoch's trainable weights in memory (no checkpoint files), and
    the last epochs' weights when averaging is on."""

    net: SurveilRiskNet
    epochs: int
    average_last: int = 0
    best: float = -1.0
    state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    recent: list[dict[str, torch.Tensor]] = field(default_factory=list)
    chosen: str = "best epoch"

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw: Any
    ) -> None:
        metrics = metrics or {}
        epoch = float(state.epoch or 0)
        self.history.append({"epoch": epoch, **metrics})
        score = metrics.get("eval_selection", -1.0)
        averaging = self.average_last >= 2 and round(epoch) > self.epochs - self.average_last
        if score <= self.best and not averaging:
            return
        current = copy.deepcopy(trainable_state(self.net))  # one copy serves both; neither is modified
        if score > self.best:
            self.best, self.state = score, current
        if averaging:
            self.recent.append(current)


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform average of weight dicts, summed in float64, returned in each tensor's own dtype."""
    out = {}
    for k in states[0]:
        total = states[0][k].double()
        for s in states[1:]:
            total = total + s[k].double()
        out[k] = (total / len(states)).to(states[0][k].dtype)
    return out


def _try_average(trainer: Any, net: SurveilRiskNet, keep: KeepBest) -> None:
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


def build_net(cfg: TrainConfig, n_labels: int) -> SurveilRiskNet:
    return SurveilRiskNet(
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


def fine_tune(cfg: TrainConfig, splits: dict[str, list[Document]], taxonomy: Taxonomy) -> FineTuned:
    """Train on `splits["train"]`, validate every epoch, return the chosen weights loaded into the net."""
    from transformers import Trainer, TrainingArguments, set_seed

    from classifier.model import load_tokenizer
    from training.windows import DocumentDataset, WindowCollator, encode_document

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    set_seed(cfg.seed)
    tokenizer = load_tokenizer()
    sizes = [cfg.max_window_tokens, *[s for s in cfg.augment_window_sizes if s != cfg.max_window_tokens]]

    def encode(docs: list[Document], train: bool) -> list[Any]:
        return [
            encode_document(d, tokenizer, taxonomy, sizes if train else sizes[:1], cfg.overlap_tokens) for d in docs
        ]

    train_ds = DocumentDataset(encode(splits["train"], True), train=True)
    val_ds = DocumentDataset(encode(splits["validation"], False), train=False)
    n_labels = len(taxonomy.label_ids)
    net = build_net(cfg, n_labels)
    targets = np.stack([d.targets for d in train_ds.docs])
    positives = targets.sum(0).clip(min=1)
    net.set_pos_weight(
        torch.tensor(np.sqrt((len(targets) - positives) / positives).clip(1.0, 10.0), dtype=torch.float32)
    )
    heads = [p for n, p in net.named_parameters() if p.requires_grad and n.startswith(HEAD_PARAMETERS)]
    body = [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith(HEAD_PARAMETERS)]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": cfg.learning_rate}, {"params": heads, "lr": cfg.head_learning_rate}],
        weight_decay=cfg.weight_decay,
    )
    keep = KeepBest(net=net, epochs=cfg.epochs, average_last=cfg.average_last_epochs)
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
        compute_metrics=selection_metrics(n_labels, len(taxonomy.capability_ids)),
        callbacks=[keep],
        optimizers=(optimizer, None),
    )
    trainer.train()
    if len(keep.recent) >= 2:
        trainer.remove_callback(keep)  # the averaged weights' evaluation is not an epoch
        _try_average(trainer, net, keep)
    if keep.state is not None:
        net.load_state_dict(keep.state, strict=False)
    net.eval()
    return FineTuned(net, tokenizer, keep.history, keep.chosen, bool(trainer.is_world_process_zero()))
