"""One temperature search for every calibrated output: the grid value with the lowest validation loss."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 121))


def fit_temperature(loss: Callable[[float], float]) -> float:
    """The temperature on a log grid from 0.25 to 8 that minimises `loss` (first one on ties)."""
    losses = [loss(float(t)) for t in GRID]
    return float(GRID[int(np.argmin(losses))])


def binary_loss(logits: np.ndarray, targets: np.ndarray) -> Callable[[float], float]:
    """Mean binary log-loss of independent sigmoid outputs (the labels) at temperature t."""
    logits, targets = np.asarray(logits, dtype=float), np.asarray(targets, dtype=float)
    return lambda t: float(np.mean(np.logaddexp(0, logits / t) - targets * logits / t))


def ordinal_loss(cumulative_logits: np.ndarray, tiers: np.ndarray) -> Callable[[float], float]:
    """Mean negative log-likelihood of the gold tier under the ordinal head at temperature t."""
    from classifier.transformer import tier_probabilities

    rows = np.arange(len(tiers))
    return lambda t: float(-np.log(np.clip(tier_probabilities(cumulative_logits, t)[rows, tiers], 1e-9, 1)).mean())
