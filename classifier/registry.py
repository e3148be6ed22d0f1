"""Resolve a model name (`shipped`, a folder, `keyword`) to a loaded `ScoringModel`.

Models fitted from the training corpus (the TF-IDF baseline) belong to the training layer; the
command line hands their loaders in through `extra`, so inference never imports training.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from classifier.predict import ScoringModel

ModelLoader = Callable[[int], ScoringModel]  # batch size -> model


class ModelNotFoundError(FileNotFoundError):
    """The named model is neither a known baseline nor a trained artifact folder."""


def load_scoring_model(name: str, batch_size: int = 32, extra: Mapping[str, ModelLoader] | None = None) -> ScoringModel:
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
    from classifier.transformer import TransformerModel

    return TransformerModel.load(path, batch_size=batch_size)
