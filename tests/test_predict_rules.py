"""The finaliser: thresholds, evidence text, the tier floor and its warnings."""

from typing import ClassVar

from classifier.predict import decide_tier, finalise
from classifier.results import RawPrediction, ScoredSpan
from classifier.taxonomy import default_taxonomy

TEXT = "Box X. It matches faces against a watch list. Police use it live in city squares."


class _Thresholds:
    """A scoring model's public surface, for exercising the finaliser's rules on given scores."""

    version = "rules-test"
    thresholds: ClassVar[dict[str, float]] = {"face_identification": 0.4, "law_enforcement": 0.5}

    def score(self, texts, progress=False):  # pragma: no cover - not used here
        raise NotImplementedError


def _raw(scores, tier_scores, evidence):
    return RawPrediction(scores=scores, tier_scores=tier_scores, evidence=evidence)


def test_tier_is_lifted_to_the_minimum_with_a_warning():
    tax = default_taxonomy()
    start = TEXT.index("It matches")
    raw = _raw(
        {"face_identification": 0.45, "law_enforcement": 0.2},
        {"minimal": 0.1, "limited": 0.7, "high": 0.15, "critical": 0.05},
        {"face_identification": [ScoredSpan(start, start + 38, 0.8)]},
    )
    res = finalise(raw, TEXT, source="doc.txt", model=_Thresholds(), taxonomy=tax)
    assert res.tier == "high"
    assert any("own tier was limited; raised to high" in w for w in res.warnings)
    (face,) = res.capabilities
    assert face.id == "face_identification" and face.evidence[0].text == TEXT[start : start + 38]
    assert res.risk_factors == []  # 0.2 < its 0.5 threshold
    assert set(res.scores) == set(tax.label_ids)


def test_critical_combination_from_detected_labels():
    tax = default_taxonomy()
    d = decide_tier(
        {"minimal": 0.0, "limited": 0.0, "high": 0.9, "critical": 0.1},
        ["face_identification", "real_time", "public_space_mass_scale", "law_enforcement"],
        tax,
    )
    assert d.tier.id == "critical"
    assert "public spaces for law enforcement" in d.reason


def test_model_tier_above_capabilities_is_kept_but_flagged():
    d = decide_tier({"minimal": 0.05, "limited": 0.1, "high": 0.8, "critical": 0.05}, [], default_taxonomy())
    assert d.tier.id == "high"
    assert any("reviewer should confirm" in w for w in d.warnings)


def test_missing_evidence_and_low_confidence_are_warned():
    raw = _raw({"face_identification": 0.9}, {"minimal": 0.3, "limited": 0.2, "high": 0.4, "critical": 0.1}, {})
    res = finalise(raw, TEXT, source="-", model=_Thresholds(), taxonomy=default_taxonomy())
    joined = " ".join(res.warnings)
    assert "no supporting span" in joined and "low confidence" in joined
