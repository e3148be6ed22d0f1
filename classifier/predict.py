"""The public Python API: documents in, `ClassificationResult`s out.

extract → score (any `ScoringModel`: the fine-tuned transformer or a baseline) →
thresholds → evidence → tier rules. The CLI and the service both call `Classifier`, so a
document gets the same answer from every door.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from classifier.extract import Extracted, Limits, extract_bytes, extract_path, extract_text, page_at
from classifier.results import ClassificationResult, DetectedLabel, Evidence, RawPrediction
from classifier.review import ReviewThresholds, review_reasons
from classifier.taxonomy import Taxonomy, Tier, default_taxonomy

if TYPE_CHECKING:
    from classifier.registry import ModelLoader, RuntimeChoice

MAX_EVIDENCE_PER_LABEL = 3


class ScoringModel(Protocol):
    """Anything that turns texts into label probabilities, tier probabilities and evidence."""

    @property
    def version(self) -> str: ...

    @property
    def thresholds(self) -> dict[str, float]: ...

    @property
    def high_tier_cut(self) -> float | None:
        """P(high or critical) at which the tier reads high+ even when a lower tier is likelier; None: argmax."""
        ...

    def score(self, texts: Sequence[str], progress: bool = False) -> list[RawPrediction]: ...


@dataclass(frozen=True)
class TierDecision:
    tier: Tier
    reason: str
    warnings: tuple[str, ...]
    by_recall_cut: bool = False  # the cut, not the likeliest tier, decided


def read_tiers(proba: np.ndarray, high_cut: float | None = None) -> np.ndarray:
    """The model's own tier per row of (documents, 4) probabilities, in `Tier` order.

    Without a cut, the likeliest tier. With one, high+ once P(high or critical) reaches it: a
    missed high-risk product costs more than a false alarm, so calibration may choose a cut
    below one half. Inside each side (minimal/limited, high/critical) the likelier tier wins.
    Calibration scores read-outs with this same function.
    """
    proba = np.asarray(proba, dtype=float)
    if high_cut is None:
        return proba.argmax(axis=-1)  # type: ignore[no-any-return]
    upper = proba[..., Tier.HIGH] + proba[..., Tier.CRITICAL] >= high_cut
    return np.where(upper, Tier.HIGH + proba[..., Tier.HIGH :].argmax(axis=-1), proba[..., : Tier.HIGH].argmax(axis=-1))


def read_tier(tier_scores: dict[str, float], high_cut: float | None = None) -> Tier:
    """`read_tiers` for one document's {tier id: probability}."""
    return Tier(int(read_tiers(np.array([tier_scores.get(t.id, 0.0) for t in Tier]), high_cut)))


def decide_tier(
    model_tier_scores: dict[str, float],
    detected: Iterable[str],
    taxonomy: Taxonomy,
    high_cut: float | None = None,
) -> TierDecision:
    """The model's tier, never below the minimum the detected labels imply."""
    detected = list(detected)
    model_tier = read_tier(model_tier_scores, high_cut)
    minimum = taxonomy.minimum_tier(detected)
    warnings: list[str] = []
    likeliest = read_tier(model_tier_scores)
    if model_tier != likeliest:
        upper = model_tier_scores.get("high", 0.0) + model_tier_scores.get("critical", 0.0)
        warnings.append(
            f"the likeliest tier alone was {likeliest.id}; read as {model_tier.id} because P(high or critical) "
            f"= {upper:.2f} reaches the recall-first cut {high_cut:.2f}"
        )
    if model_tier < minimum.tier:
        warnings.append(
            f"the model's own tier was {model_tier.id}; raised to {minimum.tier.id} because "
            + "; ".join(minimum.reasons)
        )
        tier = minimum.tier
    else:
        tier = model_tier
    caps = [d for d in detected if d in taxonomy.capability_ids]
    if tier >= Tier.HIGH and not any(taxonomy.label(c).min_tier >= Tier.HIGH for c in caps) and minimum.tier < tier:
        warnings.append(
            f"tier {tier.id} comes from the model's reading of the whole text, not from one detected "
            "high-tier capability; a reviewer should confirm it"
        )
    by_cut = model_tier != likeliest and tier == model_tier
    return TierDecision(tier, _tier_reason(tier, minimum.reasons, caps, taxonomy), tuple(warnings), by_cut)


def _tier_reason(tier: Tier, rule_reasons: Sequence[str], caps: Sequence[str], taxonomy: Taxonomy) -> str:
    if tier == Tier.CRITICAL and rule_reasons and "implies" not in rule_reasons[0]:
        return rule_reasons[0]
    names = [taxonomy.label(c).name for c in caps if taxonomy.label(c).min_tier >= min(tier, Tier.HIGH)]
    names = names or [taxonomy.label(c).name for c in caps]
    meaning = taxonomy.tier_meanings.get(tier.id, "")
    if names:
        return f"{', '.join(names[:3])} detected. {meaning}"
    if tier == Tier.MINIMAL:
        return "No surveillance capability against people was found in the text."
    return f"No single capability crossed its threshold; the text as a whole reads as {tier.id}. {meaning}"


def finalise(
    raw: RawPrediction,
    text: str,
    *,
    source: str,
    model: ScoringModel,
    taxonomy: Taxonomy,
    extra_warnings: Sequence[str] = (),
    flags: Sequence[str] = (),
    review: ReviewThresholds | None = None,
    page_starts: list[int] | None = None,
) -> ClassificationResult:
    """Apply thresholds, attach evidence, enforce the tier rule, collect warnings and review reasons.

    `page_starts` (PDFs) lets each evidence span name its page, for reviewers holding the paper copy."""
    thresholds = model.thresholds
    warnings = [*extra_warnings, *raw.warnings]

    def detected(ids: Sequence[str]) -> list[DetectedLabel]:
        out: list[DetectedLabel] = []
        for lab in ids:
            score = raw.scores.get(lab, 0.0)
            if score < thresholds.get(lab, 0.5):
                continue
            spans = sorted(raw.evidence.get(lab, []), key=lambda s: -s.score)[:MAX_EVIDENCE_PER_LABEL]
            evidence = [
                Evidence(
                    start=s.start,
                    end=s.end,
                    text=text[s.start : s.end],
                    score=round(min(max(s.score, 0.0), 1.0), 4),
                    page=page_at(page_starts, s.start),
                )
                for s in spans
                if 0 <= s.start < s.end <= len(text)
            ]
            if not evidence:
                warnings.append(f"{lab} scored {score:.2f} but no supporting span was found; review it by hand")
            out.append(DetectedLabel(id=lab, score=round(score, 4), evidence=evidence))
        return sorted(out, key=lambda d: -d.score)

    caps = detected(taxonomy.capability_ids)
    risks = detected(taxonomy.risk_factor_ids)
    decision = decide_tier(raw.tier_scores, [d.id for d in (*caps, *risks)], taxonomy, model.high_tier_cut)
    warnings.extend(decision.warnings)
    reasons = review_reasons(text, flags, raw.tier_scores, decision.by_recall_cut, review or ReviewThresholds())
    tier_reason = decision.reason
    if "not_english" in flags and decision.tier == Tier.MINIMAL:
        tier_reason = (
            "Not read: the text is not in English, which the model reads only. Minimal here means nothing "
            "was recognised, not that the product is harmless."
        )
    return ClassificationResult(
        source=source,
        model_version=model.version,
        tier=decision.tier.id,
        tier_reason=tier_reason,
        tier_scores={t: round(raw.tier_scores.get(t, 0.0), 4) for t in (x.id for x in Tier)},
        capabilities=caps,
        risk_factors=risks,
        scores={lab: round(raw.scores.get(lab, 0.0), 4) for lab in taxonomy.label_ids},
        text_chars=len(text),
        warnings=warnings,
        review_required=bool(reasons),
        review_reasons=reasons,
    )


class Classifier:
    """Load once per process (`Classifier.load`), then classify as many documents as needed."""

    def __init__(
        self,
        model: ScoringModel,
        limits: Limits | None = None,
        taxonomy: Taxonomy | None = None,
        review: ReviewThresholds | None = None,
    ) -> None:
        self.model = model
        self.limits = limits or Limits()
        self.taxonomy = taxonomy or default_taxonomy()
        self.review = review or ReviewThresholds()

    @classmethod
    def load(
        cls,
        name: str | Path = "shipped",
        limits: Limits | None = None,
        batch_size: int = 32,
        extra: Mapping[str, ModelLoader] | None = None,
        review: ReviewThresholds | None = None,
        runtime: RuntimeChoice | None = None,
    ) -> Classifier:
        """`name`: `shipped`, an artifact folder, `keyword`, or a name in `extra` (e.g. `tfidf`).

        `runtime` picks torch or ONNX Runtime for a trained artifact (default: ONNX when exported).
        """
        from classifier.registry import load_scoring_model

        model = load_scoring_model(str(name), batch_size=batch_size, extra=extra, runtime=runtime)
        return cls(model, limits=limits, review=review)

    @property
    def version(self) -> str:
        return self.model.version

    def classify_extracted(
        self, items: Sequence[tuple[str, Extracted]], progress: bool = False
    ) -> list[ClassificationResult]:
        """Score already-extracted documents in one batched pass; `items` are (source, extracted)."""
        raws = self.model.score([ex.text for _, ex in items], progress=progress)
        return [
            finalise(
                raw,
                ex.text,
                source=src,
                model=self.model,
                taxonomy=self.taxonomy,
                extra_warnings=ex.warnings,
                flags=ex.flags,
                review=self.review,
                page_starts=ex.page_starts,
            )
            for (src, ex), raw in zip(items, raws, strict=True)
        ]

    def classify_text(self, text: str, source: str = "-") -> ClassificationResult:
        return self.classify_extracted([(source, extract_text(text, self.limits))])[0]

    def classify_bytes(
        self, data: bytes, filename: str | None = None, source: str | None = None
    ) -> ClassificationResult:
        extracted = extract_bytes(data, filename=filename, limits=self.limits)
        return self.classify_extracted([(source or filename or "-", extracted)])[0]

    def classify_path(self, path: str | Path) -> ClassificationResult:
        return self.classify_extracted([(str(path), extract_path(path, self.limits))])[0]
