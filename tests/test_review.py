"""`review_required`: readings a person must check, and a policy that never lets them proceed."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from classifier.extract import Limits
from classifier.policy import END_USER_TYPES, Action, PolicyError, load_policy, parse_policy
from classifier.predict import Classifier
from classifier.resources import data_file
from classifier.taxonomy import TIER_IDS
from surveilrisk.cli import app

# Written for these tests: a German datasheet of live face matching against a police watch list.
GERMAN = (
    "Das System GesichtsWache vergleicht Gesichter aus den Live-Bildern aller Kameras eines Bahnhofs in "
    "Echtzeit mit einer Fahndungsliste der Polizei. Wird eine gesuchte Person erkannt, erhält die "
    "Leitstelle sofort einen Alarm mit Foto, Ort und Uhrzeit. Die Lösung ist für Behörden der öffentlichen "
    "Sicherheit gedacht und verarbeitet bis zu zweihundert Videoströme gleichzeitig auf einem Server. "
    "Die Datenbank der gesuchten Personen wird von der Behörde selbst gepflegt und ist nicht Teil der Lieferung."
)
# Written for these tests: a plain English datasheet with enough words to be read.
ENGLISH_HIGH = (
    "WatchGate FR-8 compares every face seen by the station cameras with a watch list of wanted persons "
    "supplied by the police. When a listed person walks past, operators in the control room get an alert "
    "with the snapshot, the camera and the time within two seconds. The server handles two hundred live "
    "streams and keeps a searchable history of every face it has seen for thirty days, so investigators can "
    "trace where a suspect went. Sold to national police forces and transport security agencies."
)


@pytest.fixture(scope="module")
def keyword():
    return Classifier.load("keyword")


def codes(result) -> list[str]:
    return [r.code for r in result.review_reasons]


def test_german_text_is_never_a_clean_minimal(keyword):
    res = keyword.classify_text(GERMAN)
    assert res.review_required and "not_english" in codes(res)
    if res.tier == "minimal":
        assert res.tier_reason.startswith("Not read")


@pytest.mark.slow
def test_german_text_with_the_shipped_model(shipped_classifier):
    res = shipped_classifier.classify_text(GERMAN)
    assert res.review_required and "not_english" in codes(res)
    assert res.tier != "minimal" or res.tier_reason.startswith("Not read")


def test_too_little_text_asks_for_review(keyword):
    res = keyword.classify_text("IP camera, 4 MP, PoE.")
    assert res.review_required and "little_text" in codes(res)
    assert "words" in next(r.message for r in res.review_reasons if r.code == "little_text")


def test_a_cut_off_document_asks_for_review():
    clf = Classifier.load("keyword", limits=Limits(max_chars=1000))
    res = clf.classify_text(ENGLISH_HIGH * 4)
    assert "truncated" in codes(res) and res.review_required


@pytest.mark.slow
def test_a_clear_english_datasheet_needs_no_review(shipped_classifier):
    res = shipped_classifier.classify_text(ENGLISH_HIGH)
    assert res.tier in {"high", "critical"}
    assert not res.review_required, res.review_reasons
    assert res.review_reasons == []


def test_policy_never_proceeds_when_review_is_required():
    policy = load_policy(data_file("policy.yaml"))
    assert policy.review_required_floor == Action.ESCALATE
    for tier in TIER_IDS:
        for country in ("DE", "BR", "CN", "AE"):
            for end_user in END_USER_TYPES:
                plain = policy.decide(tier, country, end_user)
                flagged = policy.decide(tier, country, end_user, review_required=True)
                assert flagged.action == max(plain.action, Action.ESCALATE), (tier, country, end_user)
                assert flagged.action != Action.PROCEED
                if plain.action < Action.ESCALATE:
                    assert "needs human review" in " ".join(flagged.reasons)


def test_a_policy_may_not_let_unreviewed_readings_proceed():
    text = (
        data_file("policy.yaml")
        .read_text(encoding="utf-8")
        .replace("review_required_floor: escalate", "review_required_floor: proceed")
    )
    with pytest.raises(PolicyError, match="review_required_floor"):
        parse_policy(text)
    stricter = parse_policy(text.replace("review_required_floor: proceed", "review_required_floor: block"))
    assert stricter.decide("minimal", "DE", "research", review_required=True).action == Action.BLOCK


def test_cli_formats_carry_review_required(tmp_path):
    doc = tmp_path / "gesichtswache.txt"
    doc.write_text(GERMAN, encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["classify", str(doc), "--model", "keyword", "-f", "json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.stdout)
    assert rec["review_required"] is True and "not_english" in [r["code"] for r in rec["review_reasons"]]
    out = runner.invoke(app, ["classify", str(doc), "--model", "keyword", "-f", "csv"])
    (row,) = list(csv.DictReader(io.StringIO(out.stdout)))
    assert row["review_required"] == "yes" and "not_english" in row["review_reasons"]
    out = runner.invoke(app, ["classify", str(doc), "--model", "keyword"])
    assert "NEEDS REVIEW" in out.stdout
