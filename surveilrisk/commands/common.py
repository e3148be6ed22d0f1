"""What every subcommand shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from classifier.registry import ModelLoader


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (2: bad usage or input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def training_loaders() -> dict[str, ModelLoader]:
    """Models built from the training corpus on demand (imported only when one is asked for)."""

    def tfidf(batch_size: int):  # type: ignore[no-untyped-def]
        from training.baselines import load_tfidf

        return load_tfidf()

    return {"tfidf": tfidf}
