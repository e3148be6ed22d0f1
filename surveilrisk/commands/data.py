"""`surveilrisk data ...`: corpus and real-set tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail

data_app = typer.Typer(
    help="Corpus and real-set tools: ingest, split, compose, check, card, real.", no_args_is_help=True
)


@data_app.command("ingest")
def data_ingest(
    folders: Annotated[list[Path], typer.Argument(help="Folders of Markdown drafts with front matter.")],
    out: Annotated[Path, typer.Option(help="Corpus file to add the documents to.")] = Path("data/corpus/written.jsonl"),
) -> None:
    """Add hand-written drafts to the corpus (replacing documents with the same id)."""
    from training.corpus import read_jsonl, write_jsonl
    from training.ingest import ingest_folder

    existing = {d.id: d for d in read_jsonl(out)} if out.exists() else {}
    errors = 0
    for folder in folders:
        res = ingest_folder(folder)
        for err in res.errors:
            typer.echo(f"ERROR {err}", err=True)
        errors += len(res.errors)
        for doc in res.documents:
            old = existing.get(doc.id)
            existing[doc.id] = doc.model_copy(update={"split": old.split if old else None})
        typer.echo(f"{folder}: {len(res.documents)} documents")
    n = write_jsonl(out, sorted(existing.values(), key=lambda d: d.id))
    typer.echo(f"{out}: {n} documents")
    if errors:
        raise typer.Exit(1)


@data_app.command("split")
def data_split(
    reassign: Annotated[bool, typer.Option(help="Recompute every split instead of only unassigned groups.")] = False,
    seed: int = 13,
) -> None:
    """Assign train/validation/test by group (stratified by label and tier)."""
    from training.corpus import corpus_files, read_jsonl, write_jsonl
    from training.splits import assign_splits

    files = {p: list(read_jsonl(p)) for p in corpus_files()}
    docs = [d for ds in files.values() for d in ds]
    known = {} if reassign else {d.group: d.split for d in docs if d.split}
    todo = [d for d in docs if d.group not in known]
    mapping = {**assign_splits(todo, seed=seed), **known} if todo else known
    for path, ds in files.items():
        write_jsonl(path, [d.model_copy(update={"split": mapping[d.group]}) for d in ds])
    typer.echo(f"assigned {len({d.group for d in todo})} groups; {len(docs)} documents in {len(files)} files")


@data_app.command("compose")
def data_compose(seed: int = 7, count: int = 600) -> None:
    """Rebuild data/corpus/composed.jsonl from written documents (same split as their sources)."""
    from training.compose import compose_corpus
    from training.corpus import CORPUS_DIR, read_jsonl, write_jsonl

    written = list(read_jsonl(CORPUS_DIR / "written.jsonl"))
    docs = compose_corpus(written, count=count, seed=seed)
    n = write_jsonl(CORPUS_DIR / "composed.jsonl", docs)
    typer.echo(f"wrote {n} composed documents")


@data_app.command("check")
def data_check(
    corpus_dir: Annotated[Path | None, typer.Option(help="Corpus folder (default data/corpus).")] = None,
    stats_json: Annotated[Path | None, typer.Option(help="Also write the statistics here as JSON.")] = None,
) -> None:
    """Validate the corpus: ids, tier rule, evidence, duplicates, leakage, minimum counts."""
    from training.corpus import CORPUS_DIR, load_corpus
    from training.validate import check_corpus

    try:
        docs = load_corpus(corpus_dir or CORPUS_DIR)
    except ValueError as exc:
        _fail(str(exc), 1)
    report = check_corpus(docs)
    typer.echo(json.dumps(report.stats, indent=1))
    if stats_json:
        stats_json.write_text(json.dumps(report.stats, indent=2), encoding="utf-8")
    for err in report.errors:
        typer.echo(f"ERROR {err}", err=True)
    if not report.ok:
        typer.echo(f"corpus check failed: {len(report.errors)} problem(s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"corpus check passed: {len(docs)} documents")


@data_app.command("card")
def data_card(
    check: Annotated[bool, typer.Option(help="Only check that data/README.md is up to date.")] = False,
) -> None:
    """Regenerate the statistics block of the data card (data/README.md)."""
    from training.corpus import DATA_DIR, load_corpus
    from training.datacard import replace_block, stats_markdown

    card = DATA_DIR / "README.md"
    current = card.read_text(encoding="utf-8")
    updated = replace_block(current, stats_markdown(load_corpus()))
    if check:
        if updated != current:
            _fail("data/README.md statistics are stale; run `surveilrisk data card`", 1)
        typer.echo("data card is up to date")
        return
    card.write_text(updated, encoding="utf-8")
    typer.echo(f"updated {card}")
