"""The `surveilrisk` command: data tools, evaluation, classification, training and the service."""

from __future__ import annotations

import os
from typing import Annotated

import typer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    help="SurveilRisk: surveillance capabilities and human-rights risk tiers of products.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _quiet_libraries(verbose: Annotated[bool, typer.Option("--verbose", help="Show library logs.")] = False) -> None:
    """Keep library chatter (weight-loading bars, deprecation notices) out of command output."""
    # transformers is silenced where it is loaded (classifier.model.quiet_transformers), not imported
    # here: the ONNX path never imports it, which saves seconds of start-up.
    os.environ["SURVEILRISK_LIBRARY_LOGS"] = "verbose" if verbose else "quiet"
    if verbose:
        return
    import logging
    import warnings

    # Set before the libraries are imported (they read these once), and their loggers quietened.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("transformers", "sentence_transformers", "huggingface_hub", "torch", "filelock", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def _register() -> None:
    from surveilrisk.commands import model, perf
    from surveilrisk.commands.classify import classify
    from surveilrisk.commands.data import data_app
    from surveilrisk.commands.rescreen import rescreen
    from surveilrisk.commands.service import audit_app, feedback_app, keys_app, serve

    app.add_typer(data_app, name="data")
    model.register(app)
    perf.register(app)
    app.command()(classify)
    app.command()(serve)
    app.command()(rescreen)
    app.add_typer(keys_app, name="keys")
    app.add_typer(audit_app, name="audit")
    app.add_typer(feedback_app, name="feedback")


_register()


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
