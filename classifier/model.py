"""The network: a MiniLM encoder with one multi-label head and one ordinal tier head.

Each window of a document is encoded on its own; a document's logits are the maximum over
its windows (a capability shown anywhere in the text counts). The tier head predicts the
three cumulative logits P(tier ≥ limited), P(tier ≥ high), P(tier ≥ critical).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from classifier.artifact import WEIGHTS_FILE
from classifier.base import BASE_MODEL_ID, BASE_MODEL_PACKAGE, base_model_fingerprint, base_model_path

__all__ = ["BASE_MODEL_ID", "BASE_MODEL_PACKAGE", "base_model_fingerprint", "base_model_path"]
N_TIER_LOGITS = 3  # cumulative: >= limited, >= high, >= critical
# Every linear layer of the six transformer blocks; not the unused pooler.
N_LAYERS = 6
LINEAR_LAYERS = r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


def lora_targets(first_layer: int) -> str:
    """Regex of the linear layers of blocks `first_layer`..5 (never the unused pooler)."""
    layers = "|".join(str(i) for i in range(first_layer, N_LAYERS))
    return rf".*encoder\.layer\.({layers})\.{LINEAR_LAYERS}"


@dataclass
class AdapterConfig:
    """How the encoder is fine-tuned: LoRA adapters or the full encoder (embeddings frozen)."""

    kind: str = "lora"  # "lora" or "full"
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    first_layer: int = 0  # blocks below stay frozen: no backward pass through them, faster training

    def __post_init__(self) -> None:
        if self.kind not in {"lora", "full"}:
            raise ValueError(f"adapter kind must be 'lora' or 'full', got {self.kind!r}")
        if self.kind == "lora" and self.r < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.r}")
        if not 0 <= self.first_layer < N_LAYERS:
            raise ValueError(f"first_layer must be in 0..{N_LAYERS - 1}, got {self.first_layer}")


POOLINGS = ("mean", "label_attention")


@dataclass
class NetConfig:
    n_labels: int
    hidden_dropout: float = 0.1
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    # "mean": one mean-pooled vector per window feeds every label. "label_attention": each label
    # attends over the window's tokens with its own query, so a single decisive line is not
    # averaged away by the other capabilities and spec lines around it.
    pooling: str = "mean"

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NetConfig:
        return cls(
            n_labels=int(raw["n_labels"]),
            hidden_dropout=float(raw.get("hidden_dropout", 0.1)),
            adapter=AdapterConfig(**raw.get("adapter", {})),
            pooling=str(raw.get("pooling", "mean")),
        )


class SurveilRiskNet(nn.Module):
    """Encoder + heads. `forward` works on windows and pools them to documents."""

    def __init__(self, config: NetConfig, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.config = config
        enc: Any = encoder if encoder is not None else load_base_encoder()
        hidden = int(enc.config.hidden_size)
        self.encoder = enc
        # The base's mean-pooled features are small (std ~0.1): normalising them lets the heads learn quickly.
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(config.hidden_dropout)
        self.register_buffer("pos_weight", torch.ones(config.n_labels + N_TIER_LOGITS), persistent=False)
        self.label_head = nn.Linear(hidden, config.n_labels)
        self.tier_head = nn.Linear(hidden, N_TIER_LOGITS)
        if config.pooling == "label_attention":
            # Small queries start the attention near uniform, i.e. near mean pooling.
            self.label_query = nn.Parameter(torch.randn(config.n_labels, hidden) * 0.02)
        self._apply_adapter()

    def _apply_adapter(self) -> None:
        ad = self.config.adapter
        if ad.kind == "lora":
            from peft import LoraConfig, get_peft_model

            for p in self.encoder.parameters():
                p.requires_grad_(False)
            lora = LoraConfig(
                r=ad.r,
                lora_alpha=ad.alpha,
                lora_dropout=ad.dropout,
                target_modules=lora_targets(ad.first_layer),
                bias="none",
            )
            self.encoder = get_peft_model(self.encoder, lora)  # type: ignore[arg-type]
        else:
            trained = tuple(f"encoder.layer.{i}." for i in range(ad.first_layer, N_LAYERS))
            for name, p in self.encoder.named_parameters():
                p.requires_grad_(name.startswith(trained))  # embeddings, pooler and lower blocks stay frozen

    def set_pos_weight(self, weight: torch.Tensor) -> None:
        """Up-weight positives of rare labels during training (sqrt of the negative/positive ratio)."""
        current: torch.Tensor = self.pos_weight  # type: ignore[assignment]
        assert weight.shape == current.shape, f"pos_weight must have shape {tuple(current.shape)}"
        current.copy_(weight)

    def window_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[windows, n_labels + 3] logits: labels first, then the cumulative tier logits."""
        return self.window_outputs(input_ids, attention_mask)[0]

    def window_outputs(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Window logits and, with label attention, each label's weights over the tokens [windows, labels, tokens].

        The weights are what inference ranks evidence with, so evidence needs no second encoder pass.
        """
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # mean pooling, as the base was trained
        pooled = self.dropout(self.norm(pooled))
        tier = self.tier_head(pooled)
        if self.config.pooling == "mean":
            return torch.cat([self.label_head(pooled), tier], dim=-1), None
        # Label-wise attention: [windows, labels, tokens] weights over the window's own tokens.
        query: torch.Tensor = self.label_query
        scores = torch.einsum("wth,lh->wlt", self.norm(hidden), query) / hidden.shape[-1] ** 0.5
        scores = scores.masked_fill(attention_mask.unsqueeze(1) == 0, torch.finfo(scores.dtype).min)
        weights = scores.softmax(-1)
        context = torch.einsum("wlt,wth->wlh", weights, hidden)
        context = self.dropout(self.norm(context))
        weight: torch.Tensor = self.label_head.weight
        labels = (context * weight.unsqueeze(0)).sum(-1) + self.label_head.bias
        return torch.cat([labels, tier], dim=-1), weights

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        doc_index: torch.Tensor,
        doc_targets: torch.Tensor | None = None,
        window_targets: torch.Tensor | None = None,
        window_mask: torch.Tensor | None = None,
        window_loss_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """Document logits (max over each document's windows) and, with targets, the loss.

        Loss = BCE on document logits (multiple-instance: some window must show each label)
        + BCE on the windows whose label is known: windows holding an annotated evidence
        span are positive, every window of a document without the label is negative.
        """
        assert input_ids.shape == attention_mask.shape, "input_ids and attention_mask shapes differ"
        logits = self.window_logits(input_ids, attention_mask)
        n_docs = int(doc_index.max().item()) + 1 if doc_targets is None else doc_targets.shape[0]
        doc_logits = pool_max(logits, doc_index, n_docs)
        out = {"logits": doc_logits}
        if doc_targets is not None:
            pw: torch.Tensor = self.pos_weight  # type: ignore[assignment]
            loss = F.binary_cross_entropy_with_logits(doc_logits, doc_targets, pos_weight=pw)
            if window_targets is not None and window_mask is not None and window_mask.sum() > 0:
                per = F.binary_cross_entropy_with_logits(logits, window_targets, reduction="none", pos_weight=pw)
                loss = loss + window_loss_weight * (per * window_mask).sum() / window_mask.sum()
            out["loss"] = loss
        return out


def pool_max(logits: torch.Tensor, doc_index: torch.Tensor, n_docs: int) -> torch.Tensor:
    """Per-document maximum of window logits."""
    out = torch.full((n_docs, logits.shape[1]), float("-inf"), dtype=logits.dtype, device=logits.device)
    return out.scatter_reduce(0, doc_index.unsqueeze(1).expand_as(logits), logits, reduce="amax", include_self=True)


def quiet_transformers() -> None:
    """Keep transformers' notices and loading bars out of command output (the CLI asks for it)."""
    import os

    if os.environ.get("SURVEILRISK_LIBRARY_LOGS", "quiet") != "quiet":
        return
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_base_encoder(attn: str = "sdpa") -> nn.Module:
    from transformers import AutoModel

    quiet_transformers()
    return AutoModel.from_pretrained(str(base_model_path()), attn_implementation=attn)


def load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(base_model_path()))


def trainable_state(net: SurveilRiskNet) -> dict[str, torch.Tensor]:
    """Only what fine-tuning changed (adapters or encoder layers, and the heads)."""
    names = {n for n, p in net.named_parameters() if p.requires_grad}
    return {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items() if k in names}


def stored_in_half(net: SurveilRiskNet) -> bool:
    """Full fine-tunes are stored in float16 to stay small; adapters are small enough in float32."""
    return net.config.adapter.kind == "full"


def round_to_stored_precision(net: SurveilRiskNet) -> None:
    """Give the in-memory network the precision its saved weights will have.

    Calibration runs right after training; fitted on float32 weights it would not hold for the
    artifact as loaded (float16), and close choices (the tier read-out, thresholds halfway
    between two validation scores) came out differently in a rerun of the same training.
    """
    if not stored_in_half(net):
        return
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.copy_(p.half().to(p.dtype))


def save_weights(net: SurveilRiskNet, folder: Path, half: bool | None = None) -> Path:
    """safetensors only (no pickle)."""
    from safetensors.torch import save_file

    state = trainable_state(net)
    half = stored_in_half(net) if half is None else half
    if half:
        state = {k: v.half() for k, v in state.items()}
    path = folder / WEIGHTS_FILE
    save_file(state, str(path))
    return path


def load_net(folder: Path, config: NetConfig, attn: str = "sdpa") -> SurveilRiskNet:
    """Rebuild the network from the base package plus the artifact's trainable weights."""
    from safetensors.torch import load_file

    net = SurveilRiskNet(config, encoder=load_base_encoder(attn))
    state = load_file(str(folder / WEIGHTS_FILE))
    expected = set(trainable_state(net))
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ValueError(
            f"artifact weights do not fit the network: {len(missing)} missing (e.g. {sorted(missing)[:2]}), "
            f"{len(unexpected)} unexpected (e.g. {sorted(unexpected)[:2]})"
        )
    own = net.state_dict()
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=False)
    return net
