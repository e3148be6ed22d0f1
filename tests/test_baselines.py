import pytest

from classifier.baselines import KeywordModel, TfidfModel
from classifier.predict import Classifier
from tests.factories import doc


def test_keyword_baseline_finds_cues_with_evidence():
    clf = Classifier(KeywordModel())
    text = "Overview.\nThe NVR raises a blacklist alarm for police in real time.\nStorage: 8 TB."
    res = clf.classify_text(text, source="kw.txt")
    ids = {d.id for d in res.capabilities}
    assert "face_identification" in ids
    assert res.tier in {"high", "critical"}
    ev = next(d for d in res.capabilities if d.id == "face_identification").evidence[0]
    assert ev.text == "The NVR raises a blacklist alarm for police in real time."
    assert text[ev.start : ev.end] == ev.text


def test_keyword_baseline_plain_camera_is_limited():
    res = Classifier(KeywordModel()).classify_text("A 4 MP dome camera (IP camera) with PoE and IR night vision.")
    assert res.tier == "limited" and res.capabilities == []


def test_tfidf_learns_and_explains():
    plate = "The roadside unit reads number plates and checks them against a stolen-vehicle hotlist."
    lens = "A varifocal lens with 2.8-12 mm focal length and a metal housing for outdoor use."
    train = [
        doc(f"p{i}", f"Model P{i}. {plate} Housing {i}.", "high", {"license_plate_recognition": "reads number plates"})
        for i in range(12)
    ] + [doc(f"l{i}", f"Model L{i}. {lens} Weight {i} g.", "minimal") for i in range(12)]
    model = TfidfModel().fit([d.text for d in train], [d.labels for d in train], [d.tier for d in train])
    res = Classifier(model).classify_text(f"Intro line. Weather sealed.\nNew model. {plate}")
    assert [d.id for d in res.capabilities] == ["license_plate_recognition"]
    assert res.capabilities[0].evidence[0].text.startswith("The roadside unit reads number plates")
    assert Classifier(model).classify_text(f"Model Z. {lens}").capabilities == []


def test_tfidf_must_be_fitted():
    with pytest.raises(RuntimeError, match="fit"):
        TfidfModel().score(["x"])
