"""The fine-tuned network run by torch, as a `ScoringModel` (training, calibration, and the fallback runtime)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.artifact import ArtifactMeta
from classifier.model import NetConfig, SurveilRiskNet, base_model_fingerprint, load_net
from classifier.scoring import EVIDENCE_WINDOWS, DocumentLogits, WindowModel, sigmoid, tier_probabilities

__all__ = ["EVIDENCE_WINDOWS", "DocumentLogits", "TransformerModel", "sigmoid", "tier_probabilities"]
log = logging.getLogger(__name__)


class TransformerModel(WindowModel):
    """Batched, in inference mode, with dynamic padding; `net` stays reachable for calibration."""

    runtime = "torch"

    def __init__(
        self,
        net: SurveilRiskNet,
        tokenizer: Any,
        meta: ArtifactMeta,
        batch_size: int = 32,
        evidence: str | None = None,
    ) -> None:
        super().__init__(tokenizer, meta, batch_size, evidence)
        self.net = net.eval()

    @classmethod
    def load(cls, folder: Path | str, batch_size: int = 32, evidence: str | None = None) -> TransformerModel:
        from classifier.tokenizer import WordPieceTokenizer

        folder = Path(folder)
        meta = ArtifactMeta.read(folder)
        if meta.base_model.sha256 != base_model_fingerprint():
            log.warning("base model weights differ from those the artifact was trained on; results may drift")
        return cls(load_inference_net(folder, meta), WordPieceTokenizer(), meta, batch_size, evidence)

    def _encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        with torch.inference_mode():
            logits, weights = self.net.window_outputs(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
        return logits.float().numpy(), None if weights is None else weights.float().numpy()


def load_inference_net(folder: Path, meta: ArtifactMeta, attn: str = "sdpa") -> SurveilRiskNet:
    """The artifact's network with LoRA adapters merged into plain layers (faster, and exportable)."""
    import warnings

    from classifier.model import quiet_transformers

    quiet_transformers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # library deprecation notices, not ours
        net = load_net(folder, NetConfig.from_dict(meta.net), attn=attn)
        if net.config.adapter.kind == "lora":
            net.encoder = net.encoder.merge_and_unload()
    return net.eval()
