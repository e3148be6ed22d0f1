"""The finaliser: thresholds, evidence text, the tier floor and its warnings."""

from typing import ClassVar

from classifier.predict import decide_tier, finalise, read_tier
from classifier.results import RawPrediction, ScoredSpan
from classifier.review import ReviewThresholds
from classifier.taxonomy import default_taxonomy

TEXT = "Box X. It matches faces against a watch list. Police use it live in city squares."


class _Thresholds:
    """A scoring model's public surface, for exercising the finaliser's rules on given scores."""

    version = "rules-test"
    high_tier_cut = None
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


def test_missing_evidence_is_warned_and_low_confidence_asks_for_review():
    raw = _raw({"face_identification": 0.9}, {"minimal": 0.3, "limited": 0.2, "high": 0.4, "critical": 0.1}, {})
    res = finalise(
        raw, TEXT, source="-", model=_Thresholds(), taxonomy=default_taxonomy(), review=ReviewThresholds(min_words=5)
    )
    assert "no supporting span" in " ".join(res.warnings)
    assert res.review_required
    assert [r.code for r in res.review_reasons] == ["low_confidence"]
    assert "0.40" in res.review_reasons[0].message


def test_recall_first_cut_reads_high_before_high_is_likeliest():
    scores = {"minimal": 0.05, "limited": 0.55, "high": 0.25, "critical": 0.15}
    assert read_tier(scores).id == "limited"
    assert read_tier(scores, 0.5).id == "limited"  # P(high or critical) = 0.40
    assert read_tier(scores, 0.4).id == "high"  # the likelier of high and critical
    d = decide_tier(scores, [], default_taxonomy(), high_cut=0.35)
    assert d.tier.id == "high"
    assert any("likeliest tier alone was limited" in w and "0.35" in w for w in d.warnings)
    # below the cut, the lower side's likelier tier
    assert read_tier({"minimal": 0.5, "limited": 0.2, "high": 0.2, "critical": 0.1}, 0.35).id == "minimal"


def test_cut_still_respects_the_floor():
    d = decide_tier(
        {"minimal": 0.7, "limited": 0.2, "high": 0.05, "critical": 0.05},
        ["face_identification"],
        default_taxonomy(),
        high_cut=0.3,
    )
    assert d.tier.id == "high" and any("raised to high" in w for w in d.warnings)
