"""Writing an artifact: metadata, a content-derived version id, weights, metrics, reports, model card."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.artifact import METRICS_FILE, ArtifactMeta, BaseModelRef, DataRef, WindowSpec
from classifier.model import BASE_MODEL_ID, BASE_MODEL_PACKAGE, SurveilRiskNet, base_model_fingerprint, save_weights
from classifier.taxonomy import TIER_IDS, Taxonomy

# Calibration values enter the version id rounded to this many decimals: the same weights and
# calibration give the same id on any machine, where full-precision stacker coefficients differ
# around 1e-7 from one CPU to another.
VERSION_DECIMALS = 6
HEADLINE_METRICS = (
    "documents",
    "capability_macro_f1",
    "capability_micro_f1",
    "risk_factor_macro_f1",
    "tier_accuracy",
    "tier_macro_f1",
    "high_critical_recall",
    "false_alarm_rate",
    "label_ece",
    "tier_ece",
)


def new_meta(
    net: SurveilRiskNet, taxonomy: Taxonomy, windows: WindowSpec, data: DataRef, **fields: Any
) -> ArtifactMeta:
    """Metadata of a freshly trained network, before calibration fills in thresholds and read-out."""
    return ArtifactMeta(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        base_model=BaseModelRef(id=BASE_MODEL_ID, package=BASE_MODEL_PACKAGE, sha256=base_model_fingerprint()),
        capabilities=list(taxonomy.capability_ids),
        risk_factors=list(taxonomy.risk_factor_ids),
        tiers=list(TIER_IDS),
        taxonomy_version=taxonomy.version,
        windows=windows,
        net=net.config.to_dict(),
        data=data,
        **fields,
    )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, VERSION_DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def content_version(weights: bytes, meta: ArtifactMeta) -> str:
    """`surveilrisk-<hash>` of the weights and the rounded calibration; the date lives in `created`."""
    calibration = meta.model_dump(mode="json", include={"thresholds", "temperature", "tier_stacker"})
    parts = [calibration["thresholds"], calibration["temperature"], calibration["tier_stacker"]]
    digest = hashlib.sha256(weights + json.dumps(_rounded(parts), sort_keys=True).encode()).hexdigest()
    return f"surveilrisk-{digest[:10]}"


def headline(m: dict[str, Any]) -> dict[str, float]:
    out = {k: float(m[k]) for k in HEADLINE_METRICS}
    out["evidence_hit_at_1"] = float(m["evidence"]["hit_at_1"])
    return out


def write_artifact(
    folder: Path,
    net: SurveilRiskNet,
    meta: ArtifactMeta,
    metrics: dict[str, Any],
    reports_dir: Path | None = None,
) -> ArtifactMeta:
    """Weights (safetensors), metadata with its content-derived version, metrics, reports and model card."""
    from training.model_card import write_model_card
    from training.report import write_report

    folder.mkdir(parents=True, exist_ok=True)
    weights = save_weights(net, folder)
    meta = meta.model_copy(update={"metrics": {s: headline(m) for s, m in metrics.items()}})
    meta = meta.model_copy(update={"version": content_version(weights.read_bytes(), meta)})
    meta.write(folder)
    (folder / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    for split, m in metrics.items():
        write_report(m, (reports_dir or folder.parent) / f"report-{split}", f"{meta.version} on {split}")
    write_model_card(folder, meta, metrics)
    return meta


def publish(artifact: Path, target: Path) -> None:
    """Replace the shipped model with a new artifact (only its small files are copied)."""
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(artifact, tmp)
    if target.exists():
        shutil.rmtree(target)
    tmp.rename(target)
