"""The fine-tuned network run by ONNX Runtime: no torch, no transformers, only numpy and `tokenizers`.

`surveilrisk export-onnx` writes `model.onnx` (exact, fp32) and optionally `model.int8.onnx`
(tolerant) next to the artifact, with `onnx.json` saying which artifact version they came
from and the agreement measured. A graph from another artifact version is never used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from classifier.artifact import ArtifactMeta
from classifier.scoring import WindowModel

log = logging.getLogger(__name__)
EXACT_FILE = "model.onnx"
TOLERANT_FILE = "model.int8.onnx"
SIDECAR_FILE = "onnx.json"
Variant = Literal["auto", "exact", "tolerant"]


class Agreement(BaseModel):
    """How a variant's readings compare with a reference runtime on the same documents."""

    documents: int
    label_set_agreement: float = Field(description="Share of documents with the identical detected label set.")
    label_decision_agreement: float = Field(description="Share of (document, label) decisions that agree.")
    tier_agreement: float
    high_critical_documents: int = Field(description="Documents the reference reads as high or critical.")
    high_critical_tier_agreement: float
    max_probability_difference: float
    sets: list[str] = Field(default_factory=list)


class TolerantGraph(BaseModel):
    file: str = TOLERANT_FILE
    method: str
    agreement: Agreement | None = None
    gate: str = ">= 0.99 label-set agreement and 1.0 tier agreement on high/critical documents, against exact"
    gate_passed: bool = False


class OnnxSidecar(BaseModel):
    """`onnx.json`: the graphs' provenance and what their agreement checks found."""

    artifact_version: str
    opset: int
    exported_with: dict[str, str] = Field(default_factory=dict)
    exact_file: str = EXACT_FILE
    outputs: list[str]
    exact_agreement: Agreement | None = None
    tolerant: TolerantGraph | None = None

    @classmethod
    def read(cls, folder: Path) -> OnnxSidecar | None:
        path = Path(folder) / SIDECAR_FILE
        if not path.is_file():
            return None
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValueError:
            log.warning("%s is unreadable; the ONNX graph next to it is not used", path)
            return None

    def write(self, folder: Path) -> Path:
        path = Path(folder) / SIDECAR_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path


def usable_graph(folder: Path, meta: ArtifactMeta, variant: Variant = "auto") -> tuple[Path, str] | None:
    """The graph to load for this artifact and variant, with the variant chosen; None when there is none.

    `auto` takes the tolerant graph only when its recorded gate passed, else the exact one.
    """
    folder = Path(folder)
    side = OnnxSidecar.read(folder)
    if side is None or not (folder / side.exact_file).is_file():
        return None
    if side.artifact_version != meta.version:
        log.warning(
            "ONNX graph in %s was exported from %s, not %s; run `surveilrisk export-onnx`",
            folder,
            side.artifact_version,
            meta.version,
        )
        return None
    tol = side.tolerant
    tolerant_ok = tol is not None and (folder / tol.file).is_file()
    if variant == "tolerant":
        return (folder / tol.file, "tolerant") if tolerant_ok and tol is not None else None
    if variant == "auto" and tolerant_ok and tol is not None and tol.gate_passed:
        return folder / tol.file, "tolerant"
    return folder / side.exact_file, "exact"


class OnnxModel(WindowModel):
    """One ONNX Runtime session per process; `_encode` feeds it padded numpy batches."""

    runtime = "onnx"

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        meta: ArtifactMeta,
        batch_size: int = 32,
        evidence: str | None = None,
        variant: str = "exact",
    ) -> None:
        super().__init__(tokenizer, meta, batch_size, evidence)
        self.session = session
        self.variant = variant
        self._outputs = [o.name for o in session.get_outputs()]
        if self.evidence_mode == "attention" and "attention" not in self._outputs:
            self.evidence_mode = "reread"

    @property
    def runtime_name(self) -> str:
        return f"onnx-{self.variant}"

    @classmethod
    def load(
        cls,
        folder: Path | str,
        batch_size: int = 32,
        variant: Variant = "auto",
        threads: int | None = None,
        evidence: str | None = None,
    ) -> OnnxModel:
        from classifier.tokenizer import WordPieceTokenizer

        folder = Path(folder)
        meta = ArtifactMeta.read(folder)
        found = usable_graph(folder, meta, variant)
        if found is None:
            raise FileNotFoundError(f"no usable ONNX graph ({variant}) in {folder}; run `surveilrisk export-onnx`")
        path, chosen = found
        return cls(open_session(path, threads), WordPieceTokenizer(), meta, batch_size, evidence, chosen)

    def _encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        out = self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})
        named = dict(zip(self._outputs, out, strict=True))
        return named["logits"], named.get("attention")


def open_session(path: Path, threads: int | None = None) -> Any:
    """A CPU session with full graph optimisation; `threads` caps intra-op threads (default: all cores)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or (os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
