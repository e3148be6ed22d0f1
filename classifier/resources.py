"""Where the files the code ships with are: the checkout's `data/` and `models/`, or the installed wheel.

A checkout reads `data/taxonomy.yaml`, `data/policy.yaml` and `models/shipped/` in place; an
installed wheel carries them as `classifier/shipped/` (taxonomy, policy) and `classifier/shipped/model/`
(mapped from the same files in pyproject.toml).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def in_checkout() -> bool:
    """True when running from a source tree (the package sits next to data/ and pyproject.toml)."""
    return (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "data" / "taxonomy.yaml").is_file()


def _packaged(*parts: str) -> Path:
    return Path(str(files("classifier"))).joinpath("shipped", *parts)


def data_file(name: str) -> Path:
    """`taxonomy.yaml` or `policy.yaml`."""
    return CHECKOUT / "data" / name if in_checkout() else _packaged(name)


def shipped_model_dir() -> Path:
    return CHECKOUT / "models" / "shipped" if in_checkout() else _packaged("model")


def default_data_dir() -> Path:
    """`var/` in a checkout; the user's data folder (XDG) when installed."""
    if in_checkout():
        return CHECKOUT / "var"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "surveilrisk"
