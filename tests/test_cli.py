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


def test_folder_names_the_files_it_skipped(tmp_path):
    (tmp_path / "spec.txt").write_text((EXAMPLES / "ptz-camera.txt").read_text())
    (tmp_path / "a.bin").write_bytes(b"\x00\x01")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.xls").write_bytes(b"\xd0\xcf")
    res = _run("classify", str(tmp_path), "--format", "jsonl", "--model", "keyword")
    assert res.exit_code == 0, res.output
    assert "skipped 2 files with unsupported types: a.bin, sub/b.xls" in res.stderr
    assert [json.loads(x)["source"] for x in res.stdout.splitlines()] == [str(tmp_path / "spec.txt")]
    # a file named on the command line is not skipped silently: it gets its own error
    res = _run("classify", str(tmp_path / "a.bin"), "--model", "keyword")
    assert res.exit_code == 1 and "skipped" not in res.stderr and "a.bin" in res.stderr
    only_bad = tmp_path / "sub"
    res = _run("classify", str(only_bad), "--model", "keyword")
    assert res.exit_code == 2 and "skipped 1 file with unsupported types: b.xls" in res.stderr


@pytest.mark.slow
def test_classify_stderr_has_no_library_noise(tmp_path):
    """In a fresh process (as a user runs it), the shipped model loads without progress bars or log lines."""
    import subprocess
    import sys

    (tmp_path / "spec.txt").write_text((EXAMPLES / "ptz-camera.txt").read_text())
    (tmp_path / "notes.bin").write_bytes(b"\x00")
    env = {k: v for k, v in os.environ.items() if k not in {"TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS"}}
    env["SURVEILRISK_INFERENCE_RUNTIME"] = "torch"  # the path whose libraries are noisy (ONNX loads silently)
    cmd = [sys.executable, "-m", "surveilrisk", "classify", str(tmp_path), "--model", MODEL, "--format", "json"]
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr.splitlines() == ["skipped 1 file with unsupported types: notes.bin"]
    assert json.loads(quiet.stdout)["tier"]
    loud = subprocess.run([*cmd[:3], "--verbose", *cmd[3:]], capture_output=True, text=True, env=env, timeout=600)
    assert loud.returncode == 0 and len(loud.stderr.splitlines()) >= 1  # --verbose lets the libraries speak
    if MODEL == "shipped":
        assert "Loading weights" in loud.stderr


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
