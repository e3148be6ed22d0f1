"""`surveilrisk classify` and the data/evaluate commands, run as a user would run them."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from surveilrisk.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
runner = CliRunner()
MODEL = os.environ.get("SURVEILRISK_TEST_MODEL", "shipped")


def _run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    for f in EXAMPLES.iterdir():
        shutil.copy(f, root / f.name)
    (root / "nested").mkdir()
    (root / "nested" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (root / "nested" / "notes.bin").write_bytes(b"\x00\x01")  # not a supported suffix: not picked up
    return root


def test_classify_each_format_as_json(folder):
    expected = {
        "nightwatch-nx200.pdf": {"high", "critical"},
        "lens-catalogue.docx": {"minimal", "limited"},
        "vendor-page.html": {"high", "critical"},
        "ptz-camera.txt": {"minimal", "limited"},
    }
    for name, tiers in expected.items():
        res = _run("classify", str(folder / name), "--format", "json", "--model", MODEL)
        assert res.exit_code == 0, res.output
        body = json.loads(res.stdout)
        assert body["source"] == str(folder / name)
        assert body["tier"] in tiers, (name, body["tier"], body["capabilities"])
        assert set(body) >= {
            "model_version",
            "tier_scores",
            "capabilities",
            "risk_factors",
            "scores",
            "text_chars",
            "warnings",
            "tier_reason",
        }
    nx = json.loads(_run("classify", str(folder / "nightwatch-nx200.pdf"), "--format", "json", "--model", MODEL).stdout)
    face = next(c for c in nx["capabilities"] if c["id"] == "face_identification")
    assert "blacklist" in " ".join(e["text"] for e in face["evidence"])


def test_folder_recursion_errors_and_formats(folder):
    res = _run("classify", str(folder), "--format", "jsonl", "--model", MODEL)
    assert res.exit_code == 1  # one file failed; the others were classified
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    sources = {Path(x["source"]).name for x in lines}
    assert sources == {
        "nightwatch-nx200.pdf",
        "lens-catalogue.docx",
        "vendor-page.html",
        "ptz-camera.txt",
        "broken.pdf",
    }
    broken = next(x for x in lines if x["source"].endswith("broken.pdf"))
    assert broken["error"]["code"] in {"unreadable_document", "no_text_found"}
    assert "broken.pdf" in res.stderr

    res = _run(
        "classify",
        str(folder / "ptz-camera.txt"),
        str(folder / "vendor-page.html"),
        "--format",
        "csv",
        "--model",
        MODEL,
    )
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [Path(r["source"]).name for r in rows] == ["ptz-camera.txt", "vendor-page.html"]
    assert "face_identification" in rows[0] and float(rows[1]["face_identification"]) > 0.5

    res = _run("classify", str(folder / "vendor-page.html"), "--model", MODEL)
    assert res.exit_code == 0 and "TIER" in res.stdout and "face_identification" in res.stdout


def test_stdin_and_baselines():
    text = (EXAMPLES / "ptz-camera.txt").read_text()
    res = _run("classify", "-", "--format", "json", "--model", MODEL, input=text)
    assert res.exit_code == 0 and json.loads(res.stdout)["source"] == "-"
    res = _run("classify", "-", "--format", "json", "--model", "keyword", input="ANPR camera with hotlist alerts.")
    body = json.loads(res.stdout)
    assert body["model_version"].startswith("keyword") and body["capabilities"][0]["id"] == "license_plate_recognition"


def test_unknown_model_is_a_clear_error():
    res = _run("classify", "-", "--model", "/nope", input="x")
    assert res.exit_code == 2 and "no model '/nope'" in res.stderr


def test_data_check_passes_on_the_shipped_corpus():
    res = _run("data", "check")
    assert res.exit_code == 0, res.stderr[-2000:]
    assert "corpus check passed" in res.stdout
    assert _run("data", "card", "--check").exit_code == 0


def test_evaluate_outside_folder(tmp_path):
    (tmp_path / "a.txt").write_text("The recorder matches faces against a watch list and alerts police live.")
    (tmp_path / "b.txt").write_text("A 12 mm lens with a metal body.")
    (tmp_path / "labels.jsonl").write_text(
        json.dumps(
            {
                "file": "a.txt",
                "capabilities": ["face_identification"],
                "risk_factors": ["law_enforcement"],
                "tier": "high",
                "evidence": [{"label": "face_identification", "quote": "matches faces"}],
            }
        )
        + "\n"
        + json.dumps({"id": "b", "capabilities": [], "risk_factors": [], "tier": "minimal"})
        + "\n"
    )
    res = _run("evaluate", "--model", "keyword", "--folder", str(tmp_path), "--out", str(tmp_path / "out"))
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["documents"] == 2 and metrics["evaluated_on"] == tmp_path.name
    assert (tmp_path / "out" / "report.md").read_text().count(".png") >= 4
    (tmp_path / "labels.jsonl").write_text('{"file": "a.txt", "capabilities": ["face_scan"], "tier": "high"}\n')
    res = _run("evaluate", "--model", "keyword", "--folder", str(tmp_path))
    assert res.exit_code == 2 and "face_scan" in res.stderr
