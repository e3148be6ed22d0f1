"""Resolve a model name (`shipped`, a folder, `keyword`) to a loaded `ScoringModel`.

Models fitted from the training corpus (the TF-IDF baseline) belong to the training layer; the
command line hands their loaders in through `extra`, so inference never imports training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from classifier.predict import ScoringModel

ModelLoader = Callable[[int], ScoringModel]  # batch size -> model
log = logging.getLogger(__name__)
RUNTIMES = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class RuntimeChoice:
    """How a trained artifact is run: `auto` takes its ONNX graph when there is one, else torch."""

    runtime: str = "auto"
    onnx_variant: str = "auto"  # auto: the tolerant graph only if its agreement gate passed
    evidence: str = "auto"  # auto: the first pass's label attention when the network has it
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {self.runtime!r}")
        if self.onnx_variant not in ("auto", "exact", "tolerant"):
            raise ValueError(f"onnx variant must be auto, exact or tolerant, got {self.onnx_variant!r}")


class ModelNotFoundError(FileNotFoundError):
    """The named model is neither a known baseline nor a trained artifact folder."""


def load_scoring_model(
    name: str,
    batch_size: int = 32,
    extra: Mapping[str, ModelLoader] | None = None,
    runtime: RuntimeChoice | None = None,
) -> ScoringModel:
    from classifier.resources import shipped_model_dir

    if extra and name in extra:
        return extra[name](batch_size)
    if name == "keyword":
        from classifier.baselines import KeywordModel

        return KeywordModel()
    if name == "tfidf":
        raise ModelNotFoundError(
            "the `tfidf` baseline is fitted from the training corpus; use it from the command line "
            "(`surveilrisk classify|evaluate --model tfidf`), not in the service"
        )
    path = shipped_model_dir() if name in ("shipped", "default") else Path(name)
    if not (path / "artifact.json").is_file():
        raise ModelNotFoundError(
            f"no model {name!r}: expected `shipped`, `keyword`, `tfidf` or a folder with artifact.json "
            f"(looked in {path})"
        )
    return load_artifact(path, batch_size, runtime or RuntimeChoice())


def load_artifact(path: Path, batch_size: int, choice: RuntimeChoice) -> ScoringModel:
    """ONNX Runtime when asked or when the artifact has a current graph; torch otherwise."""
    if choice.runtime != "torch":
        from classifier.artifact import ArtifactMeta
        from classifier.onnx_model import OnnxModel, Variant, usable_graph

        variant: Variant = choice.onnx_variant  # type: ignore[assignment]  # checked in __post_init__
        if usable_graph(path, ArtifactMeta.read(path), variant) is not None:
            return OnnxModel.load(path, batch_size, variant=variant, threads=choice.threads, evidence=choice.evidence)
        if choice.runtime == "onnx":
            raise ModelNotFoundError(
                f"no current ONNX graph ({variant}) in {path}: run `surveilrisk export-onnx --model {path}` "
                "or choose the torch runtime"
            )
        log.info("no current ONNX graph in %s; running the model with torch (slower start)", path)
    from classifier.transformer import TransformerModel

    model = TransformerModel.load(path, batch_size=batch_size, evidence=choice.evidence)
    if choice.threads:
        import torch

        torch.set_num_threads(choice.threads)
    return model
