import json
from pathlib import Path

import pytest

from tests.factories import doc
from training.compose import compose_corpus
from training.corpus import Document, read_jsonl, write_jsonl
from training.datasets import to_dataset_dict
from training.ingest import ingest_folder
from training.splits import assign_splits
from training.validate import CorpusRequirements, check_corpus

TINY = CorpusRequirements(
    min_documents=1,
    min_written=1,
    min_written_positives_per_label=0,
    min_low_tier_share=0,
    min_hard_negatives=0,
    min_critical=0,
    min_test_share=0,
    every_label_in_test=False,
)

DRAFT = """---
title: Test box
doc_type: datasheet
capabilities: [face_identification]
risk_factors: [real_time]
tier: {tier}
hard_negative_of: []
evidence:
  - {{label: face_identification, quote: "checks  faces against a watch list"}}
  - {{label: real_time, quote: "{rt_quote}"}}
---
Test box  |  PoE
It checks  faces against a watch list and alerts within two seconds.
"""


def _draft(folder: Path, name: str, tier: str = "high", rt_quote: str = "alerts within two seconds") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(DRAFT.format(tier=tier, rt_quote=rt_quote), encoding="utf-8")


def test_ingest_normalises_text_and_places_quotes(tmp_path):
    _draft(tmp_path / "d", "001.md")
    res = ingest_folder(tmp_path / "d")
    assert res.errors == []
    (d,) = res.documents
    assert d.id == "d-001" and d.source == "written"
    assert d.text.startswith("Test box | PoE")  # double spaces collapsed
    for span in d.evidence:
        assert d.text[span.start : span.end] in {"checks faces against a watch list", "alerts within two seconds"}


@pytest.mark.parametrize(
    ("tier", "quote", "message"),
    [
        ("limited", "alerts within two seconds", "below the minimum high"),
        ("high", "alerts within ten seconds", "not in the body verbatim"),
    ],
)
def test_ingest_rejects_bad_drafts(tmp_path, tier, quote, message):
    _draft(tmp_path / "d", "001.md", tier=tier, rt_quote=quote)
    res = ingest_folder(tmp_path / "d")
    assert not res.documents
    assert message in res.errors[0]


def _corpus() -> list[Document]:
    return [
        doc("a", "The camera matches faces against a watch list.", "high", {"face_identification": "matches faces"}),
        doc("b", "A lens with a 2.8 mm focal length.", "minimal", split="test"),
        doc("c", "Counts visitors anonymously at the door.", "limited", split="validation", hard=["person_tracking"]),
    ]


def test_valid_tiny_corpus_passes():
    report = check_corpus(_corpus(), TINY)
    assert report.ok, report.errors
    assert report.stats["tiers"] == {"minimal": 1, "limited": 1, "high": 1, "critical": 0}
    assert report.stats["hard_negatives"] == 1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda ds: ds[0].capabilities.append("face_scan"), "unknown capability id"),
        (lambda ds: setattr(ds[0], "tier", "limited"), "below the minimum high"),
        (lambda ds: ds[0].evidence.clear(), "has no evidence span"),
        (lambda ds: setattr(ds[0].evidence[0], "end", 999), "past the end"),
        (lambda ds: setattr(ds[1], "text", ds[0].text), "duplicate text"),
        (lambda ds: setattr(ds[1], "group", "a"), "leaks across splits"),
        (lambda ds: setattr(ds[2], "split", None), "no split"),
        (lambda ds: setattr(ds[1], "text", "two  spaces"), "not normalised"),
    ],
)
def test_validator_catches_each_problem(mutate, message):
    docs = _corpus()
    mutate(docs)
    report = check_corpus(docs, TINY)
    assert any(message in e for e in report.errors), report.errors


def test_validator_enforces_minimums():
    report = check_corpus(_corpus(), CorpusRequirements())
    joined = "\n".join(report.errors)
    assert "fewer than 1000" in joined
    assert "written positives, fewer than 40" in joined
    assert "critical documents, fewer than 60" in joined


def test_near_duplicates_across_splits_are_caught():
    base = " ".join(f"word{i}" for i in range(60))
    docs = [doc("x", base, split="train"), doc("y", base + " extra", split="test")]
    report = check_corpus(docs, TINY)
    assert any("near-duplicate" in e for e in report.errors)


def test_splits_keep_groups_together_and_spread_labels():
    docs = []
    for i in range(120):
        label = ["face_identification", "license_plate_recognition", "device_intrusion"][i % 3]
        text = f"Product {i} has feature {label} number {i}."
        docs.append(doc(f"d{i}", text, "high", {label: f"feature {label}"}, split=None, group=f"g{i // 2}"))
    mapping = assign_splits(docs)
    assert {mapping[d.group] for d in docs} == {"train", "validation", "test"}
    for label in ("face_identification", "license_plate_recognition", "device_intrusion"):
        test_pos = [d for d in docs if label in d.labels and mapping[d.group] == "test"]
        assert len(test_pos) >= 4
    share = sum(mapping[d.group] == "test" for d in docs) / len(docs)
    assert 0.13 <= share <= 0.22


def test_composed_documents_keep_evidence_and_split():
    written = []
    for i in range(30):
        filler = "\n".join(f"Spec line {j} of product {i}: value {j * i}." for j in range(20))
        if i % 2:
            written.append(
                doc(
                    f"w{i}",
                    f"Model {i}\n{filler}\nIt reads number plates of passing cars.",
                    "high",
                    {"license_plate_recognition": "reads number plates"},
                    split="train",
                )
            )
        else:
            written.append(doc(f"w{i}", f"Model {i}\n{filler}", "minimal", split="train"))
    composed = compose_corpus(written, count=30, seed=1)
    assert len(composed) >= 20
    kinds = {c.id.split("-")[1] for c in composed}
    assert kinds == {"cat", "bury", "deny"}
    report = check_corpus(written + composed, TINY)
    assert report.ok, report.errors[:5]
    for c in composed:
        assert c.split == "train" and c.source == "composed"
        for span in c.evidence:
            if span.label == "license_plate_recognition":
                assert c.text[span.start : span.end] == "reads number plates"


def test_buried_sentences_carry_a_capability_and_keep_their_tier():
    """A buried sentence is chosen for a capability quote, and voice/other biometrics from a
    higher-tier donor (used to identify) are never buried with the lower tier the label implies."""
    written = []
    for i in range(20):
        filler = "\n".join(f"Spec line {j} of product {i}: value {j * i}." for j in range(20))
        written.append(doc(f"host{i}", f"Host {i}\n{filler}", "minimal", split="train"))
    for i in range(10):
        written.append(
            doc(
                f"rf{i}",
                f"Donor {i}.\nSold only to police forces.\nIt counts cars in car parks.",
                "minimal",
                {"law_enforcement": "Sold only to police forces"},
                split="train",
            )
        )
        written.append(
            doc(
                f"voice{i}",
                f"Donor {i}.\nIt searches a gallery of voiceprints for the caller.\nUsed by police.",
                "high",
                {"voice_biometrics": "searches a gallery of voiceprints"},
                split="train",
            )
        )
        written.append(
            doc(
                f"lpr{i}",
                f"Donor {i}.\nIt reads number plates of passing cars.\nMounted on poles.",
                "high",
                {"license_plate_recognition": "reads number plates"},
                split="train",
            )
        )
    composed = [c for c in compose_corpus(written, count=60, seed=3) if c.id.startswith("composed-bury")]
    assert composed
    for c in composed:
        assert "police forces" not in c.text and "voiceprints" not in c.text
        assert c.capabilities == ["license_plate_recognition"] and c.tier == "high"


def test_jsonl_round_trip_and_dataset_dict(tmp_path):
    docs = _corpus()
    write_jsonl(tmp_path / "c.jsonl", docs)
    back = list(read_jsonl(tmp_path / "c.jsonl"))
    assert back == docs
    dd = to_dataset_dict(back)
    assert set(dd) == {"train", "validation", "test"}
    row = dd["train"][0]
    feats = dd["train"].features
    assert feats["tier"].int2str(row["tier"]) == "high"
    assert [feats["capabilities"].feature.int2str(i) for i in row["capabilities"]] == ["face_identification"]
    assert row["evidence"][0]["label"] == "face_identification"


def test_export_hf_writes_the_corpus_that_load_from_disk_reads_back(tmp_path):
    from collections import Counter

    from datasets import load_from_disk
    from typer.testing import CliRunner

    from surveilrisk.cli import app
    from training.corpus import load_corpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    several = doc(
        "d",
        "It matches faces and reads number plates in real time.",
        "high",
        {"face_identification": "matches faces", "license_plate_recognition": "number plates", "real_time": "real"},
    )
    docs = [*_corpus(), several]
    write_jsonl(corpus / "written.jsonl", docs)
    out = tmp_path / "hf"

    res = CliRunner().invoke(app, ["data", "export-hf", str(out), "--corpus-dir", str(corpus)])
    assert res.exit_code == 0, res.output

    dd = load_from_disk(str(out))
    by_id = {d.id: d for d in load_corpus(corpus)}
    counts = {s: len(dd[s]) for s in dd}
    assert counts == dict(Counter(d.split for d in docs)) == {"train": 2, "validation": 1, "test": 1}
    assert len(by_id["d"].capabilities) == 2 and by_id["d"].risk_factors == ["real_time"]
    for split in dd:
        feats = dd[split].features
        for row in dd[split]:
            want = by_id[row["id"]]
            assert want.split == split
            assert feats["tier"].int2str(row["tier"]) == want.tier
            assert [feats["capabilities"].feature.int2str(i) for i in row["capabilities"]] == want.capabilities
            assert [feats["risk_factors"].feature.int2str(i) for i in row["risk_factors"]] == want.risk_factors
            assert row["text"] == want.text

    again = CliRunner().invoke(app, ["data", "export-hf", str(out), "--corpus-dir", str(corpus)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_bad_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        list(read_jsonl(path))


def test_outside_evaluation_set_is_well_formed():
    """The held-out outside set loads through the harness, every quote resolves, no tier is below its floor."""
    from classifier.taxonomy import Tier, default_taxonomy
    from training.evaluate import golds_from_folder

    folder = Path(__file__).resolve().parent.parent / "data" / "outside"
    tax = default_taxonomy()
    records = [json.loads(x) for x in (folder / "labels.jsonl").read_text().splitlines() if x.strip()]
    golds = golds_from_folder(folder, tax)
    assert len(golds) == len(records) >= 30
    for rec, gold in zip(records, golds, strict=True):
        assert len(gold.evidence) == len(rec["evidence"]), f"{rec['file']}: a quote is not in the text"
        positives = set(rec["capabilities"]) | set(rec["risk_factors"])
        assert positives <= {e["label"] for e in rec["evidence"]}, f"{rec['file']}: a label has no evidence"
        assert Tier.parse(rec["tier"]) >= tax.minimum_tier([*positives]).tier, rec["file"]
