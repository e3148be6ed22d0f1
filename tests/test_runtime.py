"""ONNX Runtime path: graph selection, no torch on that path, same readings as torch, first-pass evidence."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from classifier.artifact import ArtifactMeta
from classifier.onnx_model import EXACT_FILE, SIDECAR_FILE, OnnxSidecar, usable_graph
from classifier.resources import CHECKOUT, shipped_model_dir
from classifier.scoring import segment_mass
from classifier.text import Span, Window

ROOT = CHECKOUT


def _artifact_copy(dst: Path) -> Path:
    """The shipped artifact's small files (no graph) in a temporary folder."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("artifact.json", "weights.safetensors", "metrics.json", "MODEL_CARD.md"):
        shutil.copy(shipped_model_dir() / name, dst / name)
    return dst


def _toy_graph(folder: Path, n_outputs: int, n_labels: int) -> None:
    """A small stand-in ONNX graph with the real inputs and outputs: logits grow with window length,
    label attention is uniform over real tokens. Enough to exercise the runtime without torch."""
    import onnx
    from onnx import TensorProto, helper

    width = n_outputs
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Mul", ["count", "scale"], ["scaled"]),
        helper.make_node("Sub", ["scaled", "shift"], ["logits"]),
        helper.make_node("Div", ["maskf", "count"], ["share"]),
        helper.make_node("Unsqueeze", ["share", "axis1"], ["share3"]),
        helper.make_node("Mul", ["share3", "ones"], ["attention"]),
    ]
    inits = [
        helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        helper.make_tensor("scale", TensorProto.FLOAT, [1, width], [0.1] * width),
        helper.make_tensor("shift", TensorProto.FLOAT, [1, width], [2.0] * width),
        helper.make_tensor("ones", TensorProto.FLOAT, [1, n_labels, 1], [1.0] * n_labels),
    ]
    graph = helper.make_graph(
        nodes,
        "toy",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["w", "t"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["w", "t"]),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["w", width]),
            helper.make_tensor_value_info("attention", TensorProto.FLOAT, ["w", n_labels, "t"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / EXACT_FILE))
    meta = ArtifactMeta.read(folder)
    OnnxSidecar(artifact_version=meta.version, opset=17, outputs=["logits", "attention"]).write(folder)


@pytest.fixture
def toy_artifact(tmp_path: Path) -> Path:
    folder = _artifact_copy(tmp_path / "artifact")
    meta = ArtifactMeta.read(folder)
    _toy_graph(folder, len(meta.label_ids) + 3, len(meta.label_ids))
    return folder


def test_graph_is_used_only_for_the_artifact_version_it_came_from(toy_artifact):
    meta = ArtifactMeta.read(toy_artifact)
    assert usable_graph(toy_artifact, meta) == (toy_artifact / EXACT_FILE, "exact")
    assert usable_graph(toy_artifact, meta, "tolerant") is None  # no int8 graph was written
    side = json.loads((toy_artifact / SIDECAR_FILE).read_text())
    side["artifact_version"] = "surveilrisk-0000000000"  # e.g. the shipped model was replaced
    (toy_artifact / SIDECAR_FILE).write_text(json.dumps(side))
    assert usable_graph(toy_artifact, meta) is None
    (toy_artifact / SIDECAR_FILE).unlink()
    assert usable_graph(toy_artifact, meta) is None


def test_onnx_path_never_imports_torch_or_transformers(toy_artifact, tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("The camera reads number plates. It records video to an SD card.\n", encoding="utf-8")
    code = textwrap.dedent(
        f"""
        import sys
        from surveilrisk.cli import app
        sys.argv = ["surveilrisk", "classify", "--format", "json", "--model", {str(toy_artifact)!r}, {str(doc)!r}]
        try:
            app()
        except SystemExit as exc:
            assert not exc.code, exc.code
        heavy = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    result = json.loads(out.stdout[: out.stdout.rindex("HEAVY")])
    assert result["model_version"] == ArtifactMeta.read(toy_artifact).version


@pytest.mark.parametrize("evidence", ["auto", "attention", "shortlist", "reread"])
def test_toy_graph_scores_and_cites_spans_that_exist(toy_artifact, evidence):
    from classifier.onnx_model import OnnxModel

    model = OnnxModel.load(toy_artifact, evidence=evidence)
    assert model.evidence_mode == ("reread" if evidence == "auto" else evidence) and model.variant == "exact"
    text = "Reads number plates at 120 km/h.\nStores a hotlist of plates. Sends alerts to a control room."
    (raw,) = model.score([text])
    assert raw.evidence, "every label passes a threshold with these logits, so each gets evidence"
    for spans in raw.evidence.values():
        assert spans and all(0 <= s.start < s.end <= len(text) for s in spans)
        assert spans == sorted(spans, key=lambda s: -s.score)


def test_forcing_onnx_without_a_graph_is_a_clear_error(tmp_path):
    folder = _artifact_copy(tmp_path / "bare")
    doc = tmp_path / "d.txt"
    doc.write_text("A lens.", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "surveilrisk", "classify", "--runtime", "onnx", "--model", str(folder), str(doc)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert "export-onnx" in out.stderr and "Traceback" not in out.stderr


def test_segment_mass_sums_each_labels_attention_per_segment():
    text = "Alpha beta. Gamma delta epsilon."
    window = Window(0, len(text), (Span(0, 11), Span(12, len(text))), 7)
    # [CLS] alpha beta . gamma delta epsilon . [SEP]
    offsets = [(0, 0), (0, 5), (6, 10), (10, 11), (12, 17), (18, 23), (24, 31), (31, 32), (0, 0)]
    attn = np.zeros((2, len(offsets)))
    attn[0, [1, 2]] = 0.4
    attn[0, 0] = 0.2  # [CLS] belongs to no segment
    attn[1, [5, 6]] = 0.5
    mass = segment_mass(window, attn, offsets)
    np.testing.assert_allclose(mass, [[0.8, 0.0], [0.0, 1.0]])


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    from classifier.onnx_export import export_exact

    folder = _artifact_copy(tmp_path_factory.mktemp("onnx") / "artifact")
    export_exact(folder)
    return folder


@pytest.mark.slow
def test_exact_graph_gives_torchs_labels_tiers_and_evidence(exported):
    """On a sample of the corpus test split, the outside set and examples (the full sets: `export-onnx --verify`)."""
    from classifier.onnx_export import compare, raw_probability_difference
    from classifier.predict import Classifier
    from classifier.registry import RuntimeChoice
    from surveilrisk.commands.perf import agreement_sets

    texts = [t for ts in agreement_sets(limit=4).values() for t in ts]
    torch_clf = Classifier.load(exported, runtime=RuntimeChoice("torch"))
    onnx_clf = Classifier.load(exported)
    assert type(onnx_clf.model).__name__ == "OnnxModel"
    agree = compare(torch_clf, onnx_clf, texts)
    assert agree.label_set_agreement == 1.0 and agree.tier_agreement == 1.0
    assert raw_probability_difference(torch_clf.model, onnx_clf.model, texts) < 1e-4
    a = torch_clf.classify_text(texts[-1])
    b = onnx_clf.classify_text(texts[-1])
    assert [(d.id, [(e.start, e.end) for e in d.evidence]) for d in a.capabilities] == [
        (d.id, [(e.start, e.end) for e in d.evidence]) for d in b.capabilities
    ]


@pytest.mark.slow
def test_without_a_graph_auto_falls_back_to_torch_and_says_so(tmp_path, caplog):
    from classifier.predict import Classifier

    folder = _artifact_copy(tmp_path / "bare")
    with caplog.at_level("INFO", logger="classifier.registry"):
        clf = Classifier.load(folder)
    assert type(clf.model).__name__ == "TransformerModel"
    assert any("torch" in r.getMessage() for r in caplog.records)
