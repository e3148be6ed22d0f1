from pathlib import Path

import pytest

from classifier.taxonomy import TaxonomyError, Tier, default_taxonomy, load_taxonomy

# The label contract (shared TAXONOMY.md): these ids must exist with these meanings.
CONTRACT_CAPABILITIES = {
    "face_detection": "limited",
    "face_identification": "high",
    "face_verification": "limited",
    "emotion_recognition": "high",
    "biometric_categorisation": "high",
    "person_tracking": "high",
    "voice_biometrics": "limited",
    "other_biometrics": "limited",
    "license_plate_recognition": "high",
    "behaviour_analytics": "high",
    "communications_interception": "high",
    "device_intrusion": "high",
    "location_tracking": "high",
    "osint_profiling": "high",
}
CONTRACT_RISKS = {
    "law_enforcement",
    "public_space_mass_scale",
    "real_time",
    "covert",
    "sensitive_attributes",
    "workplace_education",
}


def test_contract_ids_and_minimum_tiers():
    tax = default_taxonomy()
    assert {c.id: c.min_tier.id for c in tax.capabilities} == CONTRACT_CAPABILITIES
    assert set(tax.risk_factor_ids) == CONTRACT_RISKS
    assert list(tax.tier_meanings) == ["minimal", "limited", "high", "critical"]
    for lab in (*tax.capabilities, *tax.risk_factors):
        assert lab.definition and lab.cues, lab.id
    for cap in tax.capabilities:
        assert cap.legal_anchor, cap.id


def test_tier_ordering_and_parse():
    assert Tier.MINIMAL < Tier.LIMITED < Tier.HIGH < Tier.CRITICAL
    assert Tier.parse("High") is Tier.HIGH
    with pytest.raises(TaxonomyError, match="unknown tier"):
        Tier.parse("severe")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], "minimal"),
        (["real_time", "law_enforcement", "covert"], "minimal"),  # risk factors alone never raise the tier
        (["face_detection"], "limited"),
        (["voice_biometrics"], "limited"),  # 1:1 or 1:N cannot be told from the label
        (["other_biometrics", "law_enforcement"], "limited"),
        (["face_verification", "face_detection"], "limited"),
        (["face_identification"], "high"),
        (["license_plate_recognition", "real_time"], "high"),
        (["face_identification", "real_time", "public_space_mass_scale"], "high"),
        (["face_identification", "real_time", "public_space_mass_scale", "law_enforcement"], "critical"),
        (["biometric_categorisation", "sensitive_attributes"], "critical"),
        (["emotion_recognition", "workplace_education"], "critical"),
        (["device_intrusion", "covert"], "critical"),
        (["device_intrusion"], "high"),
        (["sensitive_attributes", "osint_profiling"], "high"),
    ],
)
def test_minimum_tier_rules(labels, expected):
    assert default_taxonomy().minimum_tier(labels).tier.id == expected


def test_minimum_tier_explains_itself():
    exp = default_taxonomy().minimum_tier(["emotion_recognition", "workplace_education"])
    assert "workplaces or schools" in exp.reasons[0]
    exp = default_taxonomy().minimum_tier(["face_identification"])
    assert exp.reasons == ("face_identification implies at least high",)


def test_unknown_label_fails_loudly():
    with pytest.raises(TaxonomyError, match="unknown label id 'face_scan'"):
        default_taxonomy().minimum_tier(["face_scan"])


def test_malformed_taxonomy_is_rejected(tmp_path: Path):
    bad = tmp_path / "t.yaml"
    bad.write_text("tiers: [{id: minimal}, {id: high}]\ncapabilities: []\nrisk_factors: []\n")
    with pytest.raises(TaxonomyError, match="tiers"):
        load_taxonomy(bad)
    dup = tmp_path / "d.yaml"
    text = (Path(__file__).parent.parent / "data" / "taxonomy.yaml").read_text()
    dup.write_text(text.replace("id: face_verification", "id: face_detection"))
    with pytest.raises(TaxonomyError, match="duplicate"):
        load_taxonomy(dup)


def test_use_dependent_capabilities_are_high_only_when_identifying():
    """Rule 2: voice and other biometrics are high when they identify, limited when they verify 1:1."""
    tax = default_taxonomy()
    assert tax.use_dependent_ids == {"voice_biometrics", "other_biometrics"}
    for lab in tax.use_dependent_ids:
        assert tax.label(lab).min_tier == Tier.LIMITED and tax.label(lab).identify_tier == Tier.HIGH
    assert tax.label("face_identification").identify_tier is None
