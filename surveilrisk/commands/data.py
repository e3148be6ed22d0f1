"""`surveilrisk data ...`: corpus and real-set tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail

data_app = typer.Typer(
    help="Corpus and real-set tools: ingest, split, compose, check, card, export-hf, real.", no_args_is_help=True
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
    report.errors.extend(_exclusion_problems(docs))
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


@data_app.command("export-hf")
def data_export_hf(
    out: Annotated[Path, typer.Argument(help="Folder to write the dataset to (must not exist yet).")],
    corpus_dir: Annotated[Path | None, typer.Option(help="Corpus folder (default data/corpus).")] = None,
) -> None:
    """Write the corpus as a Hugging Face DatasetDict (train/validation/test) with `save_to_disk`."""
    from datasets import disable_progress_bars

    from training.corpus import CORPUS_DIR
    from training.datasets import export_corpus

    disable_progress_bars()
    if out.exists():
        _fail(f"{out} already exists; give a new folder", 2)
    try:
        dataset = export_corpus(out, corpus_dir or CORPUS_DIR)
    except ValueError as exc:
        _fail(str(exc), 1)
    counts = ", ".join(f"{split} {len(rows)}" for split, rows in dataset.items())
    typer.echo(f"wrote {out}: {counts}")


def _exclusion_problems(docs: list) -> list[str]:  # type: ignore[type-arg]
    """Hidden-set exclusion, real-set manifest rules, and imitations that copy a cached real text."""
    from training.exclusion import ExclusionList, outside_and_example_texts, word_runs
    from training.realset import MANIFEST, TEXTS_DIR, check_entries, read_manifest, verify_texts

    exclusion = ExclusionList()
    problems = [f"corpus {p}" for p in exclusion.offending((d.id, d.text) for d in docs)]
    problems += exclusion.offending(outside_and_example_texts())
    if not MANIFEST.is_file():
        return problems
    entries = read_manifest()
    problems += [f"real set: {p}" for p in check_entries(entries)]
    problems += [
        f"real set: {e.id} comes from an excluded source ({e.source})"
        for e in entries
        if exclusion.excludes_source(e.source)
    ]
    report = verify_texts(entries)
    problems += [f"real set: {i} differs from its recorded sha256" for i in report.changed]
    cached = [
        (e.id, (TEXTS_DIR / f"{e.id}.txt").read_text(encoding="utf-8"))
        for e in entries
        if (TEXTS_DIR / f"{e.id}.txt").is_file()
    ]
    problems += [f"real set {p}" for p in exclusion.offending(cached)]
    # Documents written in imitation of a real text keep its facts, never its sentences.
    real_runs: dict[str, str] = {}
    for rid, text in cached:
        for h in word_runs(text):
            real_runs.setdefault(h, rid)
    for d in docs:
        hits = {real_runs[h] for h in word_runs(d.text) if h in real_runs}
        if hits:
            problems.append(f"corpus {d.id} shares a 12-word run with real text(s) {sorted(hits)[:3]}")
    if report.missing:
        typer.echo(
            f"note: {len(report.missing)} real texts are not on this machine; their runs were not checked", err=True
        )
    return problems


real_app = typer.Typer(help="The real-text yardstick: manifest, cached texts, splits, agreement.", no_args_is_help=True)
data_app.add_typer(real_app, name="real")


@real_app.command("verify")
def real_verify(
    manifest: Annotated[Path | None, typer.Option(help="Manifest (default data/real/manifest.jsonl).")] = None,
    texts: Annotated[Path | None, typer.Option(help="Folder of cached texts (default data/real/texts).")] = None,
) -> None:
    """Check the cached real texts against the manifest's hashes; list the missing ones."""
    from training.realset import MANIFEST, TEXTS_DIR, RealSetError, read_manifest, verify_texts

    texts = texts or TEXTS_DIR
    try:
        entries = read_manifest(manifest or MANIFEST)
    except RealSetError as exc:
        _fail(str(exc), 1)
    report = verify_texts(entries, texts)
    typer.echo(f"{report.present} of {len(entries)} real texts present and unchanged in {texts}")
    for i in report.changed:
        typer.echo(f"CHANGED {i} (its text no longer matches the recorded sha256)", err=True)
    for i in report.missing:
        e = next(x for x in entries if x.id == i)
        typer.echo(f"MISSING {i}  {e.source}  (found by {e.found_by})", err=True)
    if not report.ok:
        raise typer.Exit(1)


@real_app.command("ingest")
def real_ingest(
    folders: Annotated[list[Path], typer.Argument(help="Collectors' folders: NNN.txt files and labels.jsonl.")],
    retrieved: Annotated[str | None, typer.Option(help="Retrieval date (ISO); default today.")] = None,
    seed: int = 7,
    shares: Annotated[
        str, typer.Option(help="Target share of new groups per split, e.g. 'train=0.2,dev=0.3,test=0.5'.")
    ] = "train=0.25,dev=0.5,test=0.25",
) -> None:
    """Add collected texts: cache them, turn quotes into offsets, and split new vendors by group."""
    from training.realset import MANIFEST, read_manifest, write_manifest
    from training.realset_build import ingest_incoming, merge_new

    try:
        share_of = {k.strip(): float(v) for k, v in (part.split("=") for part in shares.split(","))}
    except ValueError:
        raise typer.BadParameter("write shares as 'train=0.25,dev=0.5,test=0.25'", param_hint="--shares") from None
    if set(share_of) != {"train", "dev", "test"} or abs(sum(share_of.values()) - 1) > 1e-6:
        raise typer.BadParameter("give train, dev and test shares that add up to 1", param_hint="--shares")
    existing = read_manifest() if MANIFEST.is_file() else []
    report = ingest_incoming(folders, retrieved=retrieved)
    for p in report.problems:
        typer.echo(f"skipped: {p}", err=True)
    merged = merge_new(existing, report.entries, share_of, seed=seed)
    n = write_manifest(merged)
    typer.echo(f"{n - len(existing)} new real texts; {n} in {MANIFEST}")


@real_app.command("stats")
def real_stats() -> None:
    """Texts, groups, tiers and label counts per real split."""
    from training.realset import read_manifest
    from training.realset_report import summary

    typer.echo(json.dumps(summary(read_manifest()), indent=1))


@real_app.command("agreement")
def real_agreement() -> None:
    """Agreement of the blind second labelling (data/real/second_labels.jsonl) with the manifest."""
    from training.realset import SECOND_LABELS, read_manifest
    from training.realset_report import agreement

    second = {}
    for line in SECOND_LABELS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            second[row["id"]] = row
    typer.echo(json.dumps(agreement(read_manifest(), second), indent=1))
