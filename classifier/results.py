"""The result of classifying one document: the same object from the CLI, the API and Python."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from classifier.review import ReviewReason


class Evidence(BaseModel):
    """A span of the extracted text that supports a label; `text == extracted[start:end]`."""

    start: int = Field(ge=0, description="Start offset (characters) in the extracted text.")
    end: int = Field(gt=0, description="End offset (exclusive).")
    text: str = Field(description="The supporting text itself.")
    score: float = Field(ge=0, le=1, description="How strongly this span alone supports the label.")
    page: int | None = Field(default=None, ge=1, description="PDFs: the page the span is on (1-based).")


class DetectedLabel(BaseModel):
    id: str = Field(description="Capability or risk-factor id from the taxonomy.")
    score: float = Field(ge=0, le=1, description="Calibrated probability that the label applies.")
    evidence: list[Evidence] = Field(default_factory=list, description="Supporting spans, best first.")


class ClassificationResult(BaseModel):
    """Stable public shape; documented in the README."""

    source: str = Field(description="The path as given, '-' for stdin, or the upload's file name.")
    model_version: str
    tier: str = Field(description="minimal | limited | high | critical")
    tier_reason: str = Field(description="One line saying why the product got this tier.")
    tier_scores: dict[str, float] = Field(description="Probability of each tier from the model.")
    capabilities: list[DetectedLabel] = Field(description="Detected capabilities, highest score first.")
    risk_factors: list[DetectedLabel] = Field(description="Detected risk factors, highest score first.")
    scores: dict[str, float] = Field(description="Probability of every capability and risk-factor id.")
    text_chars: int = Field(ge=0, description="Length of the extracted text that was read.")
    warnings: list[str] = Field(default_factory=list)
    review_required: bool = Field(
        default=False, description="True when the reading cannot be trusted; `review_reasons` says why."
    )
    review_reasons: list[ReviewReason] = Field(default_factory=list, description="Why a person must review it.")


@dataclass(frozen=True)
class ScoredSpan:
    start: int
    end: int
    score: float


@dataclass
class RawPrediction:
    """What a scoring model says about one text before thresholds and tier rules.

    `evidence` lists candidate spans for every label the model would call positive; the
    finaliser keeps those of labels that pass their threshold.
    """

    scores: dict[str, float]
    tier_scores: dict[str, float]
    evidence: dict[str, list[ScoredSpan]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
