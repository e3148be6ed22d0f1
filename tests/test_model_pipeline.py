"""End to end on a tiny corpus: train, calibrate, save, load, classify with evidence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from classifier.artifact import ArtifactMeta, TierStackerMeta
from classifier.model import pool_max
from classifier.predict import Classifier
from classifier.transformer import TransformerModel, tier_probabilities
from tests.factories import doc
from training.corpus import write_jsonl
from training.train import TrainConfig, train

PLATE = "The roadside unit reads number plates of passing cars and checks them against a hotlist."
LENS = "This varifocal lens offers a 2.8 to 12 mm focal length in a weather-sealed metal body."
FILLER = " ".join(f"Spec item {i}: nominal value {i * 7} units." for i in range(40))


def _tiny_corpus() -> list:
    docs = []
    for i in range(18):
        split = "train" if i < 12 else ("validation" if i < 15 else "test")
        # the plate sentence sits after a long run of neutral specs: beyond the first windows
        docs.append(
            doc(
                f"p{i}",
                f"Model P{i}.\n{FILLER}\n{PLATE}\nWarranty {i} years.",
                "high",
                {"license_plate_recognition": "reads number plates"},
                split=split,
            )
        )
        docs.append(doc(f"l{i}", f"Model L{i}.\n{LENS}\nWeight {100 + i} g.", "minimal", split=split))
    return docs


def _small_config(root, name: str, **overrides) -> TrainConfig:
    """A two-epoch configuration on `root/corpus` that trains in seconds."""
    base = dict(
        output_dir=root / name,
        corpus_dir=root / "corpus",
        epochs=2,
        docs_per_batch=4,
        windows_per_doc=2,
        max_window_tokens=48,
        augment_window_sizes=[],
        evaluate_test=False,
    )
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_artifact(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    write_jsonl(root / "corpus" / "tiny.jsonl", _tiny_corpus())
    cfg = TrainConfig(
        output_dir=root / "run",
        corpus_dir=root / "corpus",
        epochs=4,
        docs_per_batch=4,
        windows_per_doc=3,
        max_window_tokens=64,
        augment_window_sizes=[48],
        learning_rate=3e-3,
        head_learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        seed=3,
    )
    return train(cfg)


def test_training_writes_a_complete_artifact(tiny_artifact):
    names = {p.name for p in tiny_artifact.iterdir()}
    assert {"weights.safetensors", "artifact.json", "MODEL_CARD.md", "metrics.json"} <= names
    assert not any(p.suffix in {".bin", ".pt", ".pkl"} for p in tiny_artifact.iterdir())
    meta = json.loads((tiny_artifact / "artifact.json").read_text())
    assert meta["version"].startswith("surveilrisk-")
    assert set(meta["thresholds"]) == set(meta["capabilities"]) | set(meta["risk_factors"])
    assert meta["data"]["sha256"] and meta["base_model"]["sha256"]
    assert {"validation", "test"} <= set(meta["metrics"])
    assert (tiny_artifact / "weights.safetensors").stat().st_size < 25 * 1024 * 1024


def test_tiny_model_learned_and_cites_the_buried_sentence(tiny_artifact):
    clf = Classifier.load(tiny_artifact)
    text = f"Model Q1.\n{FILLER}\n{PLATE}"
    res = clf.classify_text(text, source="q1.txt")
    lens = clf.classify_text(f"Model Z.\n{LENS}", source="z.txt")
    assert res.scores["license_plate_recognition"] > lens.scores["license_plate_recognition"] + 0.3
    plate = next(d for d in res.capabilities if d.id == "license_plate_recognition")
    assert res.tier in {"high", "critical"}
    best = plate.evidence[0]
    assert text[best.start : best.end] == best.text  # evidence offsets point into the text
    assert "number plates" in best.text  # the sentence past the first windows was read
    assert res.source == "q1.txt" and res.model_version == clf.version


def test_artifact_round_trip_gives_identical_scores(tiny_artifact):
    a = Classifier.load(tiny_artifact).classify_text(PLATE)
    b = Classifier.load(tiny_artifact).classify_text(PLATE)
    assert a.scores == b.scores and a.tier_scores == b.tier_scores


def test_tier_stacker_with_and_without_the_floor_feature(tiny_artifact):
    """Artifacts from before the floor feature (no `floor_feature` key) still read their tier."""
    model = TransformerModel.load(tiny_artifact)
    logits = np.stack([d.doc for d in model.document_logits([PLATE, "A plain hinge for doors."])])
    n = len(model.label_ids) + 3
    old = TierStackerMeta(coef=np.zeros((4, n)).tolist(), intercept=[0.0, 0.0, 4.0, 0.0])
    model.meta.tier_stacker = old
    assert model.high_tier_cut is None
    assert (model.tier_scores(logits).argmax(axis=1) == 2).all()
    # with the floor: the one-hot floor columns come last; weight only the floor's "high" column
    coef = np.zeros((4, n + 4))
    coef[2, n + 2] = 8.0
    model.meta.tier_stacker = TierStackerMeta(coef=coef.tolist(), intercept=[0.0] * 4, floor_feature=True)
    # thresholds that detect nothing, then a plate reader in both documents: floors 0 and 2
    for plate_threshold, expected_floor in ((1.01, 0), (0.0, 2)):
        thresholds = {**dict.fromkeys(model.label_ids, 1.01), "license_plate_recognition": plate_threshold}
        forced = TransformerModel(model.net, model.tokenizer, model.meta.model_copy(update={"thresholds": thresholds}))
        floor = forced.tier_floor(logits)
        assert floor.tolist() == [expected_floor] * 2
        scores = forced.tier_scores(logits)
        assert ((scores[:, 2] > 0.9) == (floor == 2)).all()
    model.meta.tier_stacker.high_cut = 0.3
    assert model.high_tier_cut == 0.3


def test_every_window_is_scored_and_evidence_matches_source(tiny_artifact):
    model = TransformerModel.load(tiny_artifact)
    text = "\n".join([FILLER] * 6 + [PLATE])
    (d,) = model.document_logits([text])
    assert len(d.windows) > 8
    assert d.windows[-1].end == len(text)
    assert d.window_logits.shape[0] == len(d.windows)
    np.testing.assert_allclose(d.doc, d.window_logits.max(axis=0))
    (raw,) = model.score([text])
    for spans in raw.evidence.values():
        for s in spans:
            assert 0 <= s.start < s.end <= len(text)


def test_pool_max_and_tier_probabilities():
    logits = torch.tensor([[1.0, -2.0], [3.0, -5.0], [0.0, 4.0]])
    pooled = pool_max(logits, torch.tensor([0, 0, 1]), 2)
    assert pooled.tolist() == [[3.0, -2.0], [0.0, 4.0]]
    p = tier_probabilities(np.array([[5.0, 6.0, -9.0]]))  # >=high more likely than >=limited is clamped
    assert p.shape == (1, 4) and p.sum() == pytest.approx(1.0)
    assert p[0].argmax() == 2


def test_label_attention_ignores_padding_and_round_trips(tmp_path):
    """Each label attends over real tokens only: padding a window must not move its logits."""
    from classifier.model import AdapterConfig, NetConfig, SurveilRiskNet, load_net, save_weights

    torch.manual_seed(0)
    cfg = NetConfig(n_labels=5, pooling="label_attention", adapter=AdapterConfig(kind="full", first_layer=4))
    net = SurveilRiskNet(cfg).eval()
    with torch.no_grad():
        net.label_query.normal_(0, 1.0)  # far from uniform attention, so masking matters
    ids = torch.randint(1000, 5000, (1, 10))
    padded = torch.cat([ids, torch.zeros(1, 6, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 10, dtype=torch.long), torch.zeros(1, 6, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a = net.window_logits(ids, torch.ones_like(ids))
        b = net.window_logits(padded, mask)
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    save_weights(net, tmp_path, half=False)
    again = load_net(tmp_path, cfg).eval()
    with torch.no_grad():
        torch.testing.assert_close(again.window_logits(ids, torch.ones_like(ids)), a)
    with pytest.raises(ValueError, match="pooling must be one of"):
        NetConfig(n_labels=5, pooling="cls")


def test_network_rounded_to_stored_precision_equals_the_loaded_artifact(tmp_path):
    from classifier.model import (
        AdapterConfig,
        NetConfig,
        SurveilRiskNet,
        load_net,
        round_to_stored_precision,
        save_weights,
        trainable_state,
    )

    torch.manual_seed(0)
    cfg = NetConfig(n_labels=5, pooling="label_attention", adapter=AdapterConfig(kind="full", first_layer=5))
    net = SurveilRiskNet(cfg).eval()
    with torch.no_grad():
        for p in net.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 1e-3)  # values float16 cannot hold exactly

    def same_as_saved() -> bool:
        save_weights(net, tmp_path)
        loaded = trainable_state(load_net(tmp_path, cfg))
        return all(torch.equal(v, loaded[k]) for k, v in trainable_state(net).items())

    assert not same_as_saved()
    round_to_stored_precision(net)
    assert same_as_saved()


def test_calibration_after_training_holds_for_the_saved_artifact(tmp_path):
    """Full fine-tunes are saved in float16; calibrating the float32 network instead gave a rerun
    of the shipped training a different tier read-out. Recalibrating the saved artifact must
    reproduce the artifact exactly."""
    from training.train import recalibrate

    write_jsonl(tmp_path / "corpus" / "tiny.jsonl", _tiny_corpus())
    cfg = _small_config(tmp_path, "run", adapter="full", first_layer=5, pooling="label_attention", seed=5)
    trained = train(cfg)
    again = recalibrate(trained, tmp_path / "recal", corpus_dir=tmp_path / "corpus")
    a = json.loads((trained / "artifact.json").read_text())
    b = json.loads((again / "artifact.json").read_text())
    assert a["thresholds"] == b["thresholds"]
    assert a["temperature"] == b["temperature"]
    assert a["tier_choice"] == b["tier_choice"]
    assert a["version"] == b["version"]
    # Validation figures are computed from full-precision probabilities, so they see any
    # difference between the network that was calibrated and the one that was saved.
    metrics_a = json.loads((trained / "metrics.json").read_text())["validation"]
    metrics_b = json.loads((again / "metrics.json").read_text())["validation"]
    assert metrics_a == metrics_b


def test_bad_training_config_is_rejected():
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="adapter must be"):
        TrainConfig(adapter="prefix")
    with pytest.raises(ValueError, match="pooling must be one of"):
        TrainConfig(pooling="cls")
    with pytest.raises(ValueError, match="average_last_epochs must be in"):
        TrainConfig(epochs=3, average_last_epochs=4)


def test_average_states_is_the_elementwise_mean_in_each_tensors_dtype():
    from training.trainer import average_states

    a = {"w": torch.tensor([1.0, 2.0], dtype=torch.float16), "b": torch.tensor([0.0])}
    b = {"w": torch.tensor([3.0, 5.0], dtype=torch.float16), "b": torch.tensor([1.0])}
    c = {"w": torch.tensor([2.0, 2.0], dtype=torch.float16), "b": torch.tensor([2.0])}
    avg = average_states([a, b, c])
    assert avg["w"].dtype == torch.float16 and avg["b"].dtype == torch.float32
    assert avg["w"].tolist() == [2.0, 3.0] and avg["b"].tolist() == [1.0]


def test_averaged_weights_are_scored_and_kept_only_when_validation_prefers_them(tmp_path):
    from classifier.model import NetConfig, load_net, trainable_state

    write_jsonl(tmp_path / "corpus" / "tiny.jsonl", _tiny_corpus())
    cfg = _small_config(
        tmp_path, "run", epochs=3, adapter="full", first_layer=5, pooling="label_attention", average_last_epochs=2
    )
    folder = train(cfg)
    meta = json.loads((folder / "artifact.json").read_text())
    epochs = [h for h in meta["history"] if "averaged_epochs" not in h]
    averaged = [h for h in meta["history"] if "averaged_epochs" in h]
    assert [round(h["epoch"]) for h in epochs] == [1, 2, 3]
    assert len(averaged) == 1 and averaged[0]["averaged_epochs"] == 2
    # What the artifact reports as chosen follows from the recorded selection figures.
    best_epoch = max(h["eval_selection"] for h in epochs)
    assert meta["train_config"]["average_last_epochs"] == 2
    chosen = "average" if averaged[0]["eval_selection"] > best_epoch else "best epoch"
    assert meta["weights_chosen"] == chosen
    assert trainable_state(load_net(folder, NetConfig.from_dict(ArtifactMeta.read(folder).net)))  # the weights load


@pytest.mark.slow
def test_same_seed_reproduces_the_same_model(tmp_path):
    write_jsonl(tmp_path / "corpus" / "tiny.jsonl", _tiny_corpus())

    def run(name: str) -> dict:
        cfg = _small_config(tmp_path, name, lora_r=2, lora_alpha=4, seed=11)
        return json.loads((train(cfg) / "artifact.json").read_text())

    a, b = run("a"), run("b")
    assert a["thresholds"] == b["thresholds"]
    assert a["metrics"] == b["metrics"]


def test_read_out_study_scores_what_calibration_chose(tiny_artifact, tmp_path):
    """The study's row for the calibrated read-out carries the figures calibration recorded."""
    from training.calibration import TIER_CUTS
    from training.readout_study import study
    from training.train import recalibrate

    corpus = tiny_artifact.parent.parent / "corpus"
    choice = json.loads((recalibrate(tiny_artifact, tmp_path / "recal", corpus) / "artifact.json").read_text())[
        "tier_choice"
    ]
    rows = {r.read_out: r for r in study(tiny_artifact, corpus)}
    assert len(rows) == 1 + 2 * len(TIER_CUTS)
    assert rows["ordinal head"].accuracy == pytest.approx(choice["head_accuracy"])
    cut = choice["stacker_high_cut"]
    chosen = rows["stacker + floor feature" + ("" if cut is None else f", cut {cut:.2f}")]
    assert chosen.accuracy == pytest.approx(choice["stacker_cv_accuracy"])
    assert chosen.recall == pytest.approx(choice["stacker_cv_recall"])
