"""Resolve a model name (`shipped`, a folder, `keyword`, `tfidf`) to a loaded `ScoringModel`."""

from __future__ import annotations

from pathlib import Path

from classifier.predict import ScoringModel
from classifier.settings import SHIPPED_MODEL_DIR

BASELINES = ("keyword", "tfidf")


class ModelNotFoundError(FileNotFoundError):
    """The named model is neither a baseline nor a trained artifact folder."""


def load_scoring_model(name: str, batch_size: int = 32) -> ScoringModel:
    if name == "keyword":
        from classifier.baselines import KeywordModel

        return KeywordModel()
    if name == "tfidf":
        # Fitted on demand from the corpus (a few seconds): no pickled model file to ship.
        from training.baselines import load_tfidf

        return load_tfidf()
    path = SHIPPED_MODEL_DIR if name in ("shipped", "default") else Path(name)
    if not (path / "artifact.json").is_file():
        raise ModelNotFoundError(
            f"no model {name!r}: expected `keyword`, `tfidf`, `shipped` or a folder with artifact.json "
            f"(looked in {path})"
        )
    from classifier.transformer import TransformerModel

    return TransformerModel.load(path, batch_size=batch_size)
