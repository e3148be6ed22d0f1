"""Export the fine-tuned network to ONNX (torch's TorchScript-based exporter, opset 17) and check it.

Needs torch; only `surveilrisk export-onnx` and `make install` call it. Inference reads the
result through `classifier.onnx_model` without torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifier.artifact import ArtifactMeta
from classifier.onnx_model import EXACT_FILE, TOLERANT_FILE, Agreement, OnnxSidecar
from classifier.predict import Classifier, ScoringModel
from classifier.transformer import load_inference_net

log = logging.getLogger(__name__)
OPSET = 17


class _Graph(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):  # type: ignore[no-untyped-def]
        logits, weights = self.net.window_outputs(input_ids, attention_mask)  # type: ignore[operator]
        return (logits,) if weights is None else (logits, weights)


def export_exact(folder: Path, out: Path | None = None) -> OnnxSidecar:
    """Write the fp32 graph next to the artifact and a sidecar naming the artifact version."""
    folder = Path(folder)
    meta = ArtifactMeta.read(folder)
    # Eager attention traces to plain MatMul/Softmax, which every ONNX Runtime fuses well.
    net = load_inference_net(folder, meta, attn="eager")
    graph = _Graph(net).eval()
    has_attention = str(meta.net.get("pooling", "mean")) == "label_attention"
    outputs = ["logits", "attention"] if has_attention else ["logits"]
    dynamic = {"input_ids": {0: "windows", 1: "tokens"}, "attention_mask": {0: "windows", 1: "tokens"}}
    dynamic["logits"] = {0: "windows"}
    if has_attention:
        dynamic["attention"] = {0: "windows", 2: "tokens"}
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.int64)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    path = Path(out or folder / EXACT_FILE)
    import warnings

    # The tracer warns about the attention-mask helper's shape test and advanced indexing; both
    # hold for any window count and length, which the agreement check (`--verify`) confirms.
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (ids, mask),
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=outputs,
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    import onnx
    import onnxruntime

    side = OnnxSidecar(
        artifact_version=meta.version,
        opset=OPSET,
        exported_with={"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
        exact_file=path.name,
        outputs=outputs,
    )
    side.write(folder)
    return side


def quantise_int8(folder: Path) -> Path:
    """Dynamic int8, per-channel weights, on the encoder's MatMuls; the heads stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder = Path(folder)
    src, dst = folder / EXACT_FILE, folder / TOLERANT_FILE
    import onnx

    model = onnx.load(str(src))
    # The label-attention read-out and the heads are tiny; quantising them costs accuracy for no speed.
    keep_fp32 = [n.name for n in model.graph.node if n.op_type in {"MatMul", "Gemm"} and "encoder" not in n.name]
    quantize_dynamic(
        str(src),
        str(dst),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul", "Gemm"],
        nodes_to_exclude=keep_fp32,
    )
    return dst


def compare(reference: Classifier, candidate: Classifier, texts: Sequence[str]) -> Agreement:
    """Labels, tiers and probabilities of `candidate` against `reference` on the same texts."""
    from classifier.extract import extract_text

    items = [(str(i), extract_text(t, reference.limits)) for i, t in enumerate(texts)]
    ref = reference.classify_extracted(items)
    cand = candidate.classify_extracted(items)
    same_set = same_dec = total_dec = same_tier = hc = hc_same = 0
    max_diff = 0.0
    labels = reference.taxonomy.label_ids
    for a, b in zip(ref, cand, strict=True):
        da = {d.id for d in (*a.capabilities, *a.risk_factors)}
        db = {d.id for d in (*b.capabilities, *b.risk_factors)}
        same_set += da == db
        same_dec += sum((lab in da) == (lab in db) for lab in labels)
        total_dec += len(labels)
        same_tier += a.tier == b.tier
        if a.tier in {"high", "critical"}:
            hc += 1
            hc_same += a.tier == b.tier
        diffs = [abs(a.scores[k] - b.scores[k]) for k in labels]
        diffs += [abs(a.tier_scores[k] - b.tier_scores[k]) for k in a.tier_scores]
        max_diff = max(max_diff, *diffs)
    n = max(len(ref), 1)
    return Agreement(
        documents=len(ref),
        label_set_agreement=same_set / n,
        label_decision_agreement=same_dec / max(total_dec, 1),
        tier_agreement=same_tier / n,
        high_critical_documents=hc,
        high_critical_tier_agreement=hc_same / hc if hc else 1.0,
        max_probability_difference=max_diff,
    )


def raw_probability_difference(a: ScoringModel, b: ScoringModel, texts: Sequence[str]) -> float:
    """Largest difference of unrounded label and tier probabilities between two models."""
    worst = 0.0
    for x, y in zip(a.score(texts), b.score(texts), strict=True):
        worst = max(worst, *(abs(x.scores[k] - y.scores[k]) for k in x.scores))
        worst = max(worst, *(abs(x.tier_scores[k] - y.tier_scores[k]) for k in x.tier_scores))
    return float(np.float64(worst))
