"""`surveilrisk evaluate | train | calibrate`: the model's life cycle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from surveilrisk.commands.common import fail as _fail


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(train)
    app.command()(calibrate)


def evaluate(
    model: Annotated[str, typer.Option(help="`shipped`, an artifact folder, `keyword` or `tfidf`.")] = "shipped",
    split: Annotated[str | None, typer.Option(help="Corpus split to score (train, validation, test).")] = None,
    folder: Annotated[Path | None, typer.Option(help="Outside folder of .txt files with labels.jsonl.")] = None,
    real: Annotated[
        str | None, typer.Option(help="Real-text split to score (dev or test; texts cached in data/real/texts).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/eval/...).")] = None,
) -> None:
    """Score a model with the harness; writes metrics.json, predictions.jsonl and report.md."""
    from training.evaluate import EvaluationInputError, run_evaluation, summary_line

    if split is None and folder is None and real is None:
        split = "test"
    try:
        metrics, out_dir = run_evaluation(model, split=split, folder=folder, out_dir=out, real=real)
    except (EvaluationInputError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"{metrics['model_version']} on {metrics['evaluated_on']} ({metrics['documents']} documents)")
    typer.echo(summary_line(metrics))
    typer.echo(f"report: {out_dir / 'report.md'}")


def train(
    config: Annotated[Path | None, typer.Option(help="YAML file with TrainConfig fields.")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Where the run and its artifact go.")] = None,
    extra: Annotated[
        list[Path] | None, typer.Option(help="Extra JSONL in corpus format (reviewer corrections).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    adapter: Annotated[str | None, typer.Option(help="`lora` or `full`.")] = None,
    publish: Annotated[bool, typer.Option(help="Replace the shipped model (models/shipped) with the result.")] = False,
    max_docs_per_split: Annotated[
        int | None, typer.Option(help="Use only the first N documents of each split.")
    ] = None,
) -> None:
    """Fine-tune the transformer, calibrate on validation, evaluate on test and write a versioned artifact."""
    from classifier.resources import shipped_model_dir
    from training.train import TrainConfig
    from training.train import train as run_training

    overrides: dict[str, Any] = {
        "output_dir": output_dir,
        "epochs": epochs,
        "seed": seed,
        "adapter": adapter,
        "max_docs_per_split": max_docs_per_split,
        "extra": extra or None,
        "publish_to": shipped_model_dir() if publish else None,
    }
    try:
        cfg = (
            TrainConfig.from_yaml(config, **overrides)
            if config
            else TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        )
        artifact = run_training(cfg)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _report(artifact)
    if publish:
        typer.echo(f"published to {shipped_model_dir()}")


def calibrate(
    model: Annotated[Path, typer.Option(help="Trained artifact folder to recalibrate.")],
    out: Annotated[Path, typer.Option(help="Where the recalibrated artifact goes.")],
    test: Annotated[bool, typer.Option(help="Also evaluate once on the test split.")] = False,
) -> None:
    """Refit temperatures, thresholds and the tier read-out on validation, without retraining."""
    from training.train import recalibrate

    try:
        folder = recalibrate(model, out, evaluate_test=test)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc))
    _report(folder)


def _report(folder: Path) -> None:
    from classifier.artifact import ArtifactMeta

    meta = ArtifactMeta.read(folder)
    typer.echo(f"artifact {meta.version} written to {folder}")
    for split, m in meta.metrics.items():
        typer.echo(f"{split}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items()))
