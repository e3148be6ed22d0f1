"""Average the weights of runs that differ only in their seed, then calibrate and write one artifact.

Runs fine-tuned from the same base with the same configuration land close enough in weight space
that their uniform average (a "model soup") is a model of its own, usually steadier than either.
`python -m training.soup RUN_A RUN_B … --config CONFIG --out DIR [--publish]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer

from classifier.model import round_to_stored_precision
from classifier.resources import shipped_model_dir
from classifier.transformer import TransformerModel
from training.artifact import publish
from training.config import TrainConfig
from training.corpus import load_corpus


def soup(artifacts: list[Path], cfg: TrainConfig, out: Path) -> Path:
    """Uniform weight average of `artifacts`, calibrated and evaluated as `surveilrisk train` would."""
    from training.train import calibrate_and_write, load_real_documents, real_test_golds

    if len(artifacts) < 2:
        raise ValueError("a soup needs at least two artifacts")
    models = [TransformerModel.load(a) for a in artifacts]
    first = models[0]
    if any(m.meta.net != first.meta.net for m in models[1:]):
        raise ValueError("the artifacts differ in architecture; only runs of one configuration can be averaged")
    states = [m.net.state_dict() for m in models]
    with torch.no_grad():
        for key, value in states[0].items():
            if value.dtype.is_floating_point:
                value.copy_(sum(s[key] for s in states) / len(states))
    round_to_stored_precision(first.net)
    seeds = ", ".join(str(m.meta.seed) for m in models)
    meta = first.meta.model_copy(
        update={"weights_chosen": f"uniform average of {len(models)} runs (seeds {seeds}; best epoch of each)"}
    )
    model = TransformerModel(first.net, first.tokenizer, meta)
    docs = load_corpus(cfg.corpus_dir)
    real = load_real_documents(cfg)
    calibrate_and_write(
        model,
        [d for d in docs if d.split == "validation"],
        [d for d in docs if d.split == "test"] if cfg.evaluate_test else [],
        out / "artifact",
        out,
        real_dev=real.dev,
        real_test=real_test_golds(cfg) if cfg.evaluate_test else [],
    )
    return out / "artifact"


def main(
    runs: Annotated[list[Path], typer.Argument(help="Artifact folders of the runs to average.")],
    config: Annotated[Path, typer.Option(help="The runs' training configuration (YAML).")],
    out: Annotated[Path, typer.Option(help="Where the averaged artifact goes.")],
    publish_it: Annotated[bool, typer.Option("--publish", help="Replace models/shipped with the result.")] = False,
) -> None:
    artifact = soup(runs, TrainConfig.from_yaml(config), out)
    typer.echo(f"wrote {artifact}")
    if publish_it:
        publish(artifact, shipped_model_dir())
        typer.echo(f"published to {shipped_model_dir()}")


if __name__ == "__main__":
    typer.run(main)
