import numpy as np
import pytest

from classifier.predict import read_tier, read_tiers
from classifier.results import ClassificationResult, DetectedLabel, Evidence
from classifier.taxonomy import TIER_IDS, default_taxonomy
from training.calibration import choose_threshold, fit_tier_stacker, recall_targets
from training.calibration.temperature import binary_loss, fit_temperature
from training.calibration.thresholds import MIN_PRECISION_FOR_RECALL_RULE
from training.metrics import Gold, all_metrics, evidence_quality, tier_metrics


def test_recall_rule_picks_highest_threshold_meeting_target():
    rng = np.random.default_rng(0)
    y = np.array([1] * 20 + [0] * 80)
    p = np.concatenate([rng.uniform(0.3, 1.0, 20), rng.uniform(0.0, 0.3, 80)])
    c = choose_threshold(p, y, recall_target=0.95)
    assert c.rule.startswith("recall")
    assert c.recall >= 0.95
    # one step higher would lose the recall target
    above = p[p > c.threshold]
    assert (above[y[p > c.threshold] == 1].size) / 20 >= 0.95
    tighter = np.sort(p[y == 1])[1]  # threshold that drops two positives
    assert c.threshold < tighter


def test_recall_rule_yields_when_precision_is_too_low():
    # 20 positives, two of them low: recall 0.95 needs the one at 0.31, below 14 negatives, so it
    # costs precision 19/(19+14) < MIN_PRECISION_FOR_RECALL_RULE and the F1-best threshold is used.
    y = np.array([1] * 20 + [0] * 80)
    positives = [*np.linspace(0.6, 1.0, 18), 0.31, 0.05]
    p = np.concatenate([positives, np.linspace(0.32, 0.5, 14), np.linspace(0.0, 0.02, 66)])
    assert MIN_PRECISION_FOR_RECALL_RULE > 19 / 33
    c = choose_threshold(p, y, recall_target=0.95)
    assert c.rule == "max_f1" and c.precision == 1.0 and c.recall == 0.9


def test_tier_read_out_is_scored_after_the_floor():
    """A head that is wrong only where the floor lifts it anyway is as good as a perfect one."""
    rng = np.random.default_rng(0)
    tiers = np.array([0, 1, 2, 3] * 15)
    features = rng.normal(size=(60, 6)) + tiers[:, None]
    floor = np.where(np.arange(60) % 5 == 0, tiers, 0)
    head = np.where(floor == tiers, 0, tiers)  # wrong exactly where the floor is right
    with_floor = fit_tier_stacker(features, tiers, head, floor=floor)
    without = fit_tier_stacker(features, tiers, head)
    assert with_floor.head_accuracy == pytest.approx(1.0)
    assert without.head_accuracy < 1.0
    assert with_floor.cv_accuracy >= without.cv_accuracy


def test_f1_rule_when_no_target_or_too_few_positives():
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.1])
    c = choose_threshold(p, y, recall_target=0.95)  # 2 positives: too few for the recall rule
    assert c.rule == "max_f1" and c.f1 == 1.0 and 0.3 < c.threshold <= 0.8
    assert choose_threshold(p, y).rule == "max_f1"
    assert choose_threshold(np.array([0.2, 0.4]), np.array([0, 0])).rule == "default"


def test_recall_rule_yields_when_precision_would_collapse():
    # two positives score lower than every negative: recall 0.95 would flag everything
    y = np.array([1] * 20 + [0] * 80)
    p = np.concatenate([np.full(18, 0.9), [0.05, 0.05], np.linspace(0.1, 0.5, 80)])
    c = choose_threshold(p, y, recall_target=0.95)
    assert c.rule == "max_f1" and c.precision == 1.0 and c.recall == 0.9


def test_recall_targets_cover_high_tier_capabilities_only():
    targets = recall_targets(default_taxonomy())
    assert "face_identification" in targets and "device_intrusion" in targets
    assert "face_detection" not in targets and "real_time" not in targets


def test_temperature_softens_overconfident_logits():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    true_logit = np.where(y == 1, 1.0, -1.0) + rng.normal(0, 1.5, 2000)
    assert fit_temperature(binary_loss(true_logit * 4, y)) > 2.0
    assert fit_temperature(binary_loss(true_logit, y)) == pytest.approx(1.0, abs=0.6)


def _result(caps, tier, evidence=None, scores=None):
    tax = default_taxonomy()
    return ClassificationResult(
        source="x",
        model_version="t",
        tier=tier,
        tier_reason="",
        tier_scores={"minimal": 0.1, "limited": 0.1, "high": 0.7, "critical": 0.1},
        capabilities=[DetectedLabel(id=c, score=0.9, evidence=evidence or []) for c in caps],
        risk_factors=[],
        scores=scores or {lab: (0.9 if lab in caps else 0.1) for lab in tax.label_ids},
        text_chars=10,
    )


def test_headline_metrics_on_known_case():
    golds = [
        Gold("a", "t", frozenset({"face_identification"}), frozenset(), "high"),
        Gold("b", "t", frozenset(), frozenset(), "minimal"),
        Gold("c", "t", frozenset({"license_plate_recognition"}), frozenset(), "high"),
    ]
    preds = [_result(["face_identification"], "high"), _result(["face_identification"], "high"), _result([], "limited")]
    m = all_metrics(golds, preds, default_taxonomy())
    face = m["capabilities"]["per_label"]["face_identification"]
    assert face["precision"] == 0.5 and face["recall"] == 1.0
    assert m["capabilities"]["per_label"]["license_plate_recognition"]["recall"] == 0.0
    assert m["tier_accuracy"] == pytest.approx(1 / 3)
    assert m["high_critical_recall"] == 0.5
    assert m["false_alarm_rate"] == 1.0


def test_tier_confusion_counts():
    golds = [Gold(str(i), "", frozenset(), frozenset(), t) for i, t in enumerate(["minimal", "critical", "critical"])]
    preds = [_result([], t) for t in ["minimal", "high", "critical"]]
    m = tier_metrics(golds, preds)
    assert m["confusion"][3] == [0, 0, 1, 1]
    assert m["high_critical_recall"] == 1.0 and m["under_tier_rate"] == pytest.approx(1 / 3)


def test_evidence_quality_overlap():
    gold = Gold(
        "a", "x" * 100, frozenset({"face_identification"}), frozenset(), "high", (("face_identification", 10, 30),)
    )
    hit = _result(["face_identification"], "high", [Evidence(start=20, end=40, text="x" * 20, score=0.9)])
    miss = _result(["face_identification"], "high", [Evidence(start=50, end=60, text="x" * 10, score=0.9)])
    assert evidence_quality([gold], [hit])["hit_at_1"] == 1.0
    assert evidence_quality([gold], [hit])["char_precision"] == 0.5
    assert evidence_quality([gold], [miss])["hit_any"] == 0.0


def test_read_tiers_matches_the_classifier_read_out():
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=200)
    for cut in (None, 0.5, 0.3):
        expected = [read_tier(dict(zip(TIER_IDS, row, strict=True)), cut).value for row in proba]
        assert read_tiers(proba, cut).tolist() == expected


def test_stacker_lowers_the_cut_until_high_documents_are_found():
    """High documents that look half-limited: the even-chance read-out misses many, a lower cut finds them."""
    rng = np.random.default_rng(5)
    tiers = np.array([1] * 120 + [2] * 120)
    # one noisy feature; high documents sit only a little above limited ones
    x = rng.normal(size=240) + 0.9 * (tiers == 2)
    features = np.column_stack([x, rng.normal(size=240)])
    head = np.ones(240, dtype=int)
    s = fit_tier_stacker(features, tiers, head, min_recall=0.9)
    assert s.high_cut is not None and s.high_cut < 0.5
    assert s.cv_recall >= 0.9
    assert s.head_recall == 0.0
    even = fit_tier_stacker(features, tiers, head, cuts=(None,), min_recall=0.9)
    assert even.cv_recall < 0.9 and even.high_cut is None
    assert s.cv_accuracy <= even.cv_accuracy  # recall is bought with accuracy, and the figures say so


def test_fold_floors_come_from_training_folds_only():
    """The floor's thresholds are refitted on each training fold, so the held-out fold stays unseen."""
    rng = np.random.default_rng(2)
    tiers = np.array([0, 1, 2, 3] * 20)
    features = rng.normal(size=(80, 5)) + tiers[:, None]
    calls: list[np.ndarray] = []

    def fold_floor(train_idx: np.ndarray) -> np.ndarray:
        calls.append(train_idx)
        return np.where(np.isin(np.arange(80), train_idx), tiers, 0)  # a floor that knows only its folds

    s = fit_tier_stacker(features, tiers, tiers, floor=tiers, repeats=2, fold_floor=fold_floor, floor_feature=True)
    assert len(calls) == 10 and all(len(c) == 64 for c in calls)
    assert np.asarray(s.coef).shape == (4, 5 + 4)  # the one-hot floor is a feature
    # the head is perfect, and scoring it with out-of-fold floors keeps it perfect
    assert s.head_accuracy == pytest.approx(1.0) and s.head_recall == 1.0
    leaky = fit_tier_stacker(features, tiers, tiers, floor=tiers, repeats=2, floor_feature=True)
    assert leaky.cv_accuracy >= s.cv_accuracy  # a floor that saw the held-out fold can only flatter
