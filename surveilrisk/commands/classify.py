"""`surveilrisk classify`: documents in, results out in four formats."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail
from surveilrisk.commands.common import training_loaders


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def _expand(paths: list[str], skipped: list[str]) -> Iterator[str]:
    """Files given by name are kept whatever their type (their error says why); a folder contributes
    its supported files, and the others are added to `skipped` so the user learns what was left out."""
    from classifier.extract import SUPPORTED_SUFFIXES

    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            for child in sorted(path.rglob("*")):
                if not child.is_file():
                    continue
                if child.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield str(child)
                else:
                    skipped.append(str(child.relative_to(path)))
        else:
            yield p


def skipped_note(skipped: list[str], shown: int = 10) -> str:
    """One line naming the files a folder held that were not read, e.g. for `classify docs/`."""
    names = ", ".join(skipped[:shown]) + (f" and {len(skipped) - shown} more" if len(skipped) > shown else "")
    files = "file" if len(skipped) == 1 else "files"
    return f"skipped {len(skipped)} {files} with unsupported types: {names}"


def classify(
    paths: Annotated[list[str], typer.Argument(help="Files (.txt .md .html .pdf .docx), folders, or - for stdin.")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    model: Annotated[str | None, typer.Option(help="`shipped`, an artifact folder, `keyword` or `tfidf`.")] = None,
    chunk: Annotated[int, typer.Option(help="Documents classified per batch (bounds memory).")] = 64,
    runtime: Annotated[
        str | None, typer.Option(help="`auto` (ONNX graph when exported, else torch), `torch` or `onnx`.")
    ] = None,
) -> None:
    """Classify documents; unreadable files are reported and the others still classified."""
    from concurrent.futures import ThreadPoolExecutor

    from classifier.extract import Extracted, ExtractionError, extract_path, extract_text
    from classifier.predict import Classifier
    from classifier.registry import ModelNotFoundError
    from classifier.settings import get_settings

    settings = get_settings()
    limits = settings.limits
    choice = settings.runtime
    if runtime is not None:
        try:
            choice = dataclasses.replace(choice, runtime=runtime)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--runtime") from None
    try:
        clf = Classifier.load(
            model or settings.model,
            limits=limits,
            batch_size=settings.inference_batch_size,
            extra=training_loaders(),
            review=settings.review,
            runtime=choice,
        )
    except ModelNotFoundError as exc:
        _fail(str(exc))
    skipped: list[str] = []
    sources = list(_expand(paths, skipped))
    if skipped:
        typer.echo(skipped_note(skipped), err=True)
    if not sources:
        _fail("no supported files found in the given paths")
    show_progress = len(sources) > 1 and sys.stderr.isatty()
    writer = _Writer(format, clf.taxonomy.label_ids, many=len(sources) > 1)
    failures = 0
    from tqdm import tqdm

    bar = tqdm(total=len(sources), desc="classifying", unit="doc", disable=not show_progress, file=sys.stderr)

    def read(src: str) -> Extracted | ExtractionError:
        try:
            return extract_text(sys.stdin.read(), limits) if src == "-" else extract_path(src, limits)
        except ExtractionError as exc:
            return exc

    # The next chunk is extracted (PDF/DOCX/HTML in worker processes) while this one is classified.
    chunks = [sources[i : i + chunk] for i in range(0, len(sources), chunk)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = [pool.submit(read, src) for src in chunks[0]]
        for n in range(len(chunks)):
            done = [f.result() for f in pending]
            pending = [pool.submit(read, src) for src in chunks[n + 1]] if n + 1 < len(chunks) else []
            batch = []
            for src, got in zip(chunks[n], done, strict=True):
                if isinstance(got, ExtractionError):
                    failures += 1
                    typer.echo(f"error: {src}: {got.message}", err=True)
                    writer.error(src, got.code, got.message)
                    bar.update(1)
                else:
                    batch.append((src, got))
            for result in clf.classify_extracted(batch):
                writer.result(result)
                bar.update(1)
    bar.close()
    writer.close()
    if failures:
        raise typer.Exit(1)


class _Writer:
    """Streams results in the chosen format; errors keep their place so callers can join by source."""

    def __init__(self, fmt: OutputFormat, label_ids: tuple[str, ...], many: bool) -> None:
        self.fmt, self.label_ids, self.many = fmt, label_ids, many
        self.items: list[dict[str, object]] = []
        if fmt == OutputFormat.csv:
            self.csv = csv.writer(sys.stdout)
            self.csv.writerow(
                [
                    "source",
                    "model_version",
                    "tier",
                    "review_required",
                    "review_reasons",
                    "capabilities",
                    "risk_factors",
                    "text_chars",
                    "warnings",
                    "error",
                    *self.label_ids,
                ]
            )
        if fmt == OutputFormat.table:
            typer.echo(f"{'TIER':<9} {'SOURCE':<40} CAPABILITIES / RISK FACTORS")

    def result(self, r: object) -> None:
        from classifier.results import ClassificationResult

        assert isinstance(r, ClassificationResult)
        if self.fmt == OutputFormat.jsonl:
            typer.echo(r.model_dump_json())
        elif self.fmt == OutputFormat.json:
            self.items.append(r.model_dump(mode="json"))
        elif self.fmt == OutputFormat.csv:
            self.csv.writerow(
                [
                    r.source,
                    r.model_version,
                    r.tier,
                    "yes" if r.review_required else "no",
                    ";".join(x.code for x in r.review_reasons),
                    ";".join(d.id for d in r.capabilities),
                    ";".join(d.id for d in r.risk_factors),
                    r.text_chars,
                    " | ".join(r.warnings),
                    "",
                    *(r.scores[lab] for lab in self.label_ids),
                ]
            )
        else:
            caps = ", ".join(f"{d.id} {d.score:.2f}" for d in r.capabilities) or "-"
            risks = ", ".join(d.id for d in r.risk_factors) or "-"
            typer.echo(f"{r.tier:<9} {_short(r.source, 40):<40} {caps}")
            typer.echo(f"{'':<9} {'':<40} risk: {risks}")
            for why in r.review_reasons:
                typer.echo(f"{'':<9} {'':<40} NEEDS REVIEW: {why.message}")
            for w in r.warnings:
                typer.echo(f"{'':<9} {'':<40} warning: {w}")

    def error(self, source: str, code: str, message: str) -> None:
        rec: dict[str, object] = {"source": source, "error": {"code": code, "message": message}}
        if self.fmt == OutputFormat.jsonl:
            typer.echo(json.dumps(rec))
        elif self.fmt == OutputFormat.json:
            self.items.append(rec)
        elif self.fmt == OutputFormat.csv:
            self.csv.writerow(
                [source, "", "", "", "", "", "", "", "", f"{code}: {message}", *([""] * len(self.label_ids))]
            )
        else:
            typer.echo(f"{'ERROR':<9} {_short(source, 40):<40} {message}")

    def close(self) -> None:
        if self.fmt == OutputFormat.json:
            payload: object = self.items if self.many else (self.items[0] if self.items else {})
            typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        sys.stdout.flush()


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else "…" + s[-(n - 1) :]
