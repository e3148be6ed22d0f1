"""The real-text yardstick's tooling: manifest rules, hash check, exclusion lists, splits, scoring."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from surveilrisk.cli import app
from training.evaluate import EvaluationInputError, run_evaluation
from training.exclusion import ExclusionList, normalise_source, shared_runs, word_runs
from training.realset import (
    RealEntry,
    RealEvidence,
    check_entries,
    golds_for_real,
    sha256_text,
    verify_texts,
    write_manifest,
)
from training.realset_build import assign_splits, group_keys, ingest_incoming, merge_new
from training.realset_report import agreement

PLATE_TEXT = "ALPR-9 camera.\nIt reads number plates of passing cars and checks them against a hotlist in real time."
LENS_TEXT = "A varifocal lens, 2.8 to 12 mm, with a metal housing for outdoor domes."


def entry(i: str, text: str, split: str = "dev", group: str | None = None, **labels: object) -> RealEntry:
    caps = labels.get("capabilities", [])
    quote = "reads number plates"
    ev = [RealEvidence(label=c, start=text.index(quote), end=text.index(quote) + len(quote)) for c in caps]  # type: ignore[union-attr]
    return RealEntry(
        id=i,
        source=f"https://vendor-{i}.example/page",
        found_by="test",
        retrieved="2026-12-07",
        sha256=sha256_text(text),
        chars=len(text),
        title=i,
        doc_type="product_page",
        group=group or i,
        split=split,  # type: ignore[arg-type]
        capabilities=list(caps),  # type: ignore[arg-type]
        risk_factors=[],
        tier=str(labels.get("tier", "minimal")),
        evidence=ev,
    )


@pytest.fixture()
def real_set(tmp_path: Path) -> tuple[Path, Path]:
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "r1.txt").write_text(PLATE_TEXT, encoding="utf-8")
    (texts / "r2.txt").write_text(LENS_TEXT, encoding="utf-8")
    manifest = tmp_path / "manifest.jsonl"
    write_manifest(
        [
            entry("r1", PLATE_TEXT, capabilities=["license_plate_recognition"], tier="high"),
            entry("r2", LENS_TEXT),
            entry("r3", "missing text", split="test"),
        ],
        manifest,
    )
    return manifest, texts


def test_verify_names_missing_and_changed_texts(real_set, tmp_path):
    manifest, texts = real_set
    from training.realset import read_manifest

    report = verify_texts(read_manifest(manifest), texts)
    assert report.present == 2 and report.missing == ["r3"] and not report.changed
    (texts / "r2.txt").write_text(LENS_TEXT + " edited", encoding="utf-8")
    report = verify_texts(read_manifest(manifest), texts)
    assert report.changed == ["r2"] and not report.ok
    result = CliRunner().invoke(app, ["data", "real", "verify", "--manifest", str(manifest), "--texts", str(texts)])
    assert result.exit_code == 1
    assert "MISSING r3" in result.output and "CHANGED r2" in result.output


def test_manifest_rules_catch_bad_entries():
    good = entry("a", PLATE_TEXT, capabilities=["license_plate_recognition"], tier="high")
    assert check_entries([good]) == []
    below = good.model_copy(update={"id": "b", "group": "b", "tier": "limited"})
    no_evidence = good.model_copy(update={"id": "c", "group": "c", "evidence": []})
    unknown = good.model_copy(update={"id": "d", "group": "d", "capabilities": ["mind_reading"], "evidence": []})
    spans = good.model_copy(update={"id": "e", "group": "a", "split": "test"})
    errors = "\n".join(check_entries([good, below, no_evidence, unknown, spans]))
    assert "b: tier limited is below the high" in errors
    assert "c: no evidence for ['license_plate_recognition']" in errors
    assert "d: unknown labels ['mind_reading']" in errors
    assert "group 'a' spans splits" in errors


def test_golds_map_evidence_onto_the_text_the_classifier_reads(real_set):
    manifest, texts = real_set
    (texts / "r1.txt").write_text(PLATE_TEXT.replace("It reads", "It  reads"), encoding="utf-8")  # hash now differs
    with pytest.raises(ValueError, match="differ from their hash"):
        golds_for_real("dev", manifest, texts)
    (texts / "r1.txt").write_text(PLATE_TEXT, encoding="utf-8")
    golds = golds_for_real("dev", manifest, texts)
    plate = next(g for g in golds if g.id == "r1")
    ((label, start, end),) = plate.evidence
    assert label == "license_plate_recognition" and plate.text[start:end] == "reads number plates"
    with pytest.raises(ValueError, match="1 of 1 real test texts are not in"):
        golds_for_real("test", manifest, texts)


def test_evaluate_scores_a_real_split(real_set, tmp_path):
    manifest, texts = real_set
    metrics, out = run_evaluation(
        "keyword", real="dev", real_manifest=manifest, real_texts=texts, out_dir=tmp_path / "e"
    )
    assert metrics["evaluated_on"] == "real-dev" and metrics["documents"] == 2
    assert (out / "report.md").is_file() and len((out / "predictions.jsonl").read_text().splitlines()) == 2
    with pytest.raises(EvaluationInputError, match="unknown real split"):
        run_evaluation("keyword", real="holdout", real_manifest=manifest, real_texts=texts)


def _exclusion_folder(tmp_path: Path, sources: list[str], texts: list[str]) -> ExclusionList:
    folder = tmp_path / "exclusion"
    folder.mkdir()
    hashes = [hashlib.sha256(normalise_source(s).encode()).hexdigest() for s in sources]
    (folder / "source-sha256.txt").write_text("\n".join(hashes))
    (folder / "12gram-sha256-16.txt").write_text("\n".join(h for t in texts for h in word_runs(t)))
    return ExclusionList(folder)


HIDDEN = "Our platform compares faces captured in live footage with images of known individuals held by the city police"


def test_exclusion_lists_catch_sources_repositories_and_shared_runs(tmp_path):
    ex = _exclusion_folder(tmp_path, ["https://www.hidden.example/product/", "github.com/owner/repo"], [HIDDEN])
    assert ex.excludes_source("http://hidden.example/product")
    assert ex.excludes_source("https://github.com/Owner/Repo/blob/main/README.md")  # a whole repository
    assert not ex.excludes_source("https://hidden.example/other-page")
    assert ex.overlap("Intro. " + HIDDEN.upper() + " today.") > 0  # case and punctuation do not hide a copy
    rewritten = "The system matches faces seen on live video against photos of people the police already know"
    assert ex.overlap(rewritten) == 0
    assert shared_runs(HIDDEN, rewritten) == 0 and shared_runs(HIDDEN, HIDDEN) == len(word_runs(HIDDEN))


def test_ingest_turns_quotes_into_offsets_and_refuses_excluded_texts(tmp_path):
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "a001.txt").write_text(PLATE_TEXT, encoding="utf-8")
    (folder / "a002.txt").write_text("Intro. " + HIDDEN, encoding="utf-8")
    (folder / "a003.txt").write_text(LENS_TEXT, encoding="utf-8")
    rows = [
        {
            "file": "a001.txt",
            "source": "https://plates.example/alpr9",
            "vendor": "Plates Inc",
            "doc_type": "datasheet",
            "capabilities": ["license_plate_recognition"],
            "risk_factors": ["real_time"],
            "tier": "high",
            "evidence": [
                {"label": "license_plate_recognition", "quote": "reads number   plates"},
                {"label": "real_time", "quote": "in real time"},
            ],
        },
        {"file": "a002.txt", "source": "https://copy.example/x", "vendor": "Copy", "tier": "high"},
        {"file": "a003.txt", "source": "https://www.hidden.example/product", "vendor": "Lens", "tier": "minimal"},
    ]
    (folder / "labels.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    ex = _exclusion_folder(tmp_path, ["hidden.example/product"], [HIDDEN])
    report = ingest_incoming([folder], texts_dir=tmp_path / "texts", retrieved="2026-12-07", exclusion=ex)
    assert [e.id for e in report.entries] == ["real-a001"]
    assert len(report.problems) == 2
    got = report.entries[0]
    text = (tmp_path / "texts" / "real-a001.txt").read_text(encoding="utf-8")
    assert got.sha256 == sha256_text(text) and check_entries([got]) == []
    assert {text[e.start : e.end] for e in got.evidence} == {"reads number plates", "in real time"}


def test_splits_keep_each_vendor_on_one_side_and_new_texts_join_their_vendor():
    records = [
        ("Acme", "https://acme.example/a"),
        ("ACME ", "https://acme.example/b"),
        ("Other", "https://github.com/acme-x/tool"),
    ]
    groups = group_keys(records)
    assert groups[0] == groups[1] != groups[2]
    labels = [["face_identification"], ["face_identification"], []] + [["osint_profiling"]] * 9
    tiers = ["high", "high", "minimal"] + ["high"] * 9
    split = assign_splits([*groups, *[f"g{i}" for i in range(9)]], labels, tiers, {"dev": 0.67, "test": 0.33}, seed=1)
    assert split[0] == split[1] and {"dev", "test"} == set(split)
    old = [
        entry("old", PLATE_TEXT, group="acme", capabilities=["license_plate_recognition"], tier="high").model_copy(
            update={"source": "https://acme.example/a", "split": "test"}
        )
    ]
    new = [entry("new", LENS_TEXT).model_copy(update={"source": "https://acme.example/c", "group": "Acme"})]
    merged = merge_new(old, new, {"dev": 1.0}, seed=0)
    assert merged[0].split == "test" and merged[1].split == "test"  # joins its vendor, not the dev share


def test_agreement_of_a_second_labelling():
    a = [entry("r1", PLATE_TEXT, capabilities=["license_plate_recognition"], tier="high"), entry("r2", LENS_TEXT)]
    same = {
        "r1": {"capabilities": ["license_plate_recognition"], "risk_factors": [], "tier": "high"},
        "r2": {"capabilities": [], "risk_factors": [], "tier": "minimal"},
    }
    assert agreement(a, same)["tier_accuracy"] == 1.0 and agreement(a, same)["capability_macro_f1"] == 1.0
    other = {**same, "r1": {"capabilities": [], "risk_factors": [], "tier": "limited"}}
    assert agreement(a, other)["tier_accuracy"] == 0.5
    assert agreement(a, other)["capability_macro_f1"] == 0.0


def test_training_uses_real_texts_only_when_all_are_there(real_set, tmp_path):
    from training.config import TrainConfig
    from training.train import load_real_documents

    manifest, texts = real_set
    cfg = TrainConfig(real_dev_validation=True, real_manifest=manifest, real_texts=texts)
    got = load_real_documents(cfg)
    assert [d.id for d in got.dev] == ["r1", "r2"] and got.note == ""
    assert got.dev[0].source == "real" and got.dev[0].evidence[0].label == "license_plate_recognition"
    (texts / "r2.txt").unlink()  # one dev text missing: the run goes corpus-only and says why
    got = load_real_documents(cfg)
    assert got.train == [] and got.dev == [] and "corpus-only" in got.note and "not in" in got.note


def test_real_train_texts_are_repeated_under_distinct_ids(tmp_path):
    from training.config import TrainConfig
    from training.train import load_real_documents

    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "t1.txt").write_text(PLATE_TEXT, encoding="utf-8")
    manifest = tmp_path / "manifest.jsonl"
    write_manifest([entry("t1", PLATE_TEXT, split="train", capabilities=["license_plate_recognition"])], manifest)
    got = load_real_documents(TrainConfig(real_train_repeat=3, real_manifest=manifest, real_texts=texts))
    assert [d.id for d in got.train] == ["t1", "t1#1", "t1#2"] and {d.split for d in got.train} == {"train"}
    assert [e.id for e in got.entries] == ["t1"]


def test_stored_calibration_arrays_round_trip(tmp_path):
    import numpy as np

    from training.calibration import ValidationArrays

    a = ValidationArrays(np.ones((2, 5), dtype=np.float32), np.zeros((2, 3)), np.array([0, 2]))
    b = ValidationArrays(np.zeros((1, 5), dtype=np.float32), np.ones((1, 3)), np.array([3]))
    (a + b).save(tmp_path / "cal.npz")
    back = ValidationArrays.load(tmp_path / "cal.npz")
    assert back.logits.shape == (3, 5) and back.tiers.tolist() == [0, 2, 3] and back.labels[2].tolist() == [1, 1, 1]
