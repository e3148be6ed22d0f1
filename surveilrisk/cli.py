"""The `surveilrisk` command: data tools, evaluation, classification, training and the service."""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
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
    if verbose:
        return
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


data_app = typer.Typer(help="Corpus tools: ingest, split, compose, check.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- evaluate


@app.command()
def evaluate(
    model: Annotated[str, typer.Option(help="`shipped`, an artifact folder, `keyword` or `tfidf`.")] = "shipped",
    split: Annotated[str | None, typer.Option(help="Corpus split to score (train, validation, test).")] = None,
    folder: Annotated[Path | None, typer.Option(help="Outside folder of .txt files with labels.jsonl.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default runs/eval/...).")] = None,
) -> None:
    """Score a model with the harness; writes metrics.json, predictions.jsonl and report.md."""
    from training.evaluate import EvaluationInputError, run_evaluation, summary_line

    if split is None and folder is None:
        split = "test"
    try:
        metrics, out_dir = run_evaluation(model, split=split, folder=folder, out_dir=out)
    except (EvaluationInputError, FileNotFoundError) as exc:
        _fail(str(exc))
    typer.echo(f"{metrics['model_version']} on {metrics['evaluated_on']} ({metrics['documents']} documents)")
    typer.echo(summary_line(metrics))
    typer.echo(f"report: {out_dir / 'report.md'}")


# --------------------------------------------------------------------------- train


@app.command()
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
    from classifier.settings import SHIPPED_MODEL_DIR
    from training.train import TrainConfig
    from training.train import train as run_training

    overrides = {
        "output_dir": output_dir,
        "epochs": epochs,
        "seed": seed,
        "adapter": adapter,
        "max_docs_per_split": max_docs_per_split,
        "extra": extra or None,
        "publish_to": SHIPPED_MODEL_DIR if publish else None,
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
    meta = json.loads((artifact / "artifact.json").read_text())
    typer.echo(f"artifact {meta['version']} written to {artifact}")
    for split, m in meta["metrics"].items():
        typer.echo(f"{split}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)))
    if publish:
        typer.echo(f"published to {SHIPPED_MODEL_DIR}")


@app.command()
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
    meta = json.loads((folder / "artifact.json").read_text())
    typer.echo(f"artifact {meta['version']} written to {folder}")
    for split, m in meta["metrics"].items():
        typer.echo(f"{split}: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items() if isinstance(v, float)))


# --------------------------------------------------------------------------- classify


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def _expand(paths: list[str]) -> Iterator[str]:
    from classifier.extract import SUPPORTED_SUFFIXES

    for p in paths:
        path = Path(p)
        if p != "-" and path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield str(child)
        else:
            yield p


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Files (.txt .md .html .pdf .docx), folders, or - for stdin.")],
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    model: Annotated[str | None, typer.Option(help="`shipped`, an artifact folder, `keyword` or `tfidf`.")] = None,
    chunk: Annotated[int, typer.Option(help="Documents classified per batch (bounds memory).")] = 64,
) -> None:
    """Classify documents; unreadable files are reported and the others still classified."""
    from classifier.extract import ExtractionError, Limits, extract_path, extract_text
    from classifier.predict import Classifier
    from classifier.registry import ModelNotFoundError
    from classifier.settings import get_settings

    settings = get_settings()
    limits = Limits(settings.max_upload_bytes, settings.max_pages, settings.max_chars, settings.extraction_timeout_s)
    try:
        clf = Classifier.load(model or settings.model, limits=limits, batch_size=settings.inference_batch_size)
    except ModelNotFoundError as exc:
        _fail(str(exc))
    sources = list(_expand(paths))
    if not sources:
        _fail("no supported files found in the given paths")
    show_progress = len(sources) > 1 and sys.stderr.isatty()
    writer = _Writer(format, clf.taxonomy.label_ids, many=len(sources) > 1)
    failures = 0
    from tqdm import tqdm

    bar = tqdm(total=len(sources), desc="classifying", unit="doc", disable=not show_progress, file=sys.stderr)
    for i in range(0, len(sources), chunk):
        batch = []
        for src in sources[i : i + chunk]:
            try:
                ex = extract_text(sys.stdin.read(), limits) if src == "-" else extract_path(src, limits)
                batch.append((src, ex))
            except ExtractionError as exc:
                failures += 1
                typer.echo(f"error: {src}: {exc.message}", err=True)
                writer.error(src, exc.code, exc.message)
                bar.update(1)
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
            for w in r.warnings:
                typer.echo(f"{'':<9} {'':<40} warning: {w}")

    def error(self, source: str, code: str, message: str) -> None:
        rec = {"source": source, "error": {"code": code, "message": message}}
        if self.fmt == OutputFormat.jsonl:
            typer.echo(json.dumps(rec))
        elif self.fmt == OutputFormat.json:
            self.items.append(rec)
        elif self.fmt == OutputFormat.csv:
            self.csv.writerow([source, "", "", "", "", "", "", f"{code}: {message}", *([""] * len(self.label_ids))])
        else:
            typer.echo(f"{'ERROR':<9} {_short(source, 40):<40} {message}")

    def close(self) -> None:
        if self.fmt == OutputFormat.json:
            payload: object = self.items if self.many else (self.items[0] if self.items else {})
            typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        sys.stdout.flush()


def _short(s: str, n: int) -> str:
    return s if len(s) <= n else "…" + s[-(n - 1) :]


# --------------------------------------------------------------------------- service

keys_app = typer.Typer(help="API keys of the service.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail of screenings and reviews.", no_args_is_help=True)
feedback_app = typer.Typer(help="Reviewer corrections for retraining.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(feedback_app, name="feedback")


def _sessions():  # type: ignore[no-untyped-def]
    from classifier.settings import get_settings
    from serving.db import make_engine, make_session_factory, upgrade

    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    return make_session_factory(engine)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the API and web page; on an empty database, create and print the first admin key."""
    import uvicorn

    from classifier.policy import PolicyError, load_policy
    from classifier.settings import get_settings
    from serving.auth import ensure_bootstrap_admin
    from serving.db import session_scope

    settings = get_settings()
    try:
        load_policy(settings.policy_path)
    except PolicyError as exc:
        _fail(f"policy: {exc}")
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        typer.echo(
            "warning: several workers on SQLite serialise writes; set SURVEILRISK_DATABASE_URL to PostgreSQL", err=True
        )
    with session_scope(_sessions()) as session:
        secret = ensure_bootstrap_admin(session)
    if secret:
        typer.echo("=" * 72)
        typer.echo("First start: created an admin API key. It is shown only now; store it safely:")
        typer.echo(f"    {secret}")
        typer.echo("=" * 72)
    typer.echo(f"SurveilRisk on http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run("serving.asgi:app", host=host, port=port, workers=workers, log_level="info")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="screener, reviewer or admin.")],
    name: Annotated[str, typer.Option(help="Whose key this is.")],
) -> None:
    """Create an API key and print its secret once."""
    from serving.auth import create_key
    from serving.db import session_scope

    try:
        with session_scope(_sessions()) as session:
            row, secret = create_key(session, role=role, name=name)
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"created key {row.id} ({role}, {name}); the secret is shown only now:")
    typer.echo(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from serving.auth import list_keys
    from serving.db import session_scope

    with session_scope(_sessions()) as session:
        for k in list_keys(session):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            typer.echo(f"{k.id:>4}  {k.prefix}…  {k.role:<9} {state:<18} {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke a key by its id."""
    from serving.auth import revoke_key
    from serving.db import session_scope

    with session_scope(_sessions()) as session:
        if not revoke_key(session, key_id):
            _fail(f"no active key with id {key_id}")
    typer.echo(f"revoked key {key_id}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain of screenings and reviews; exit 1 at the first break."""
    from serving.db import session_scope
    from serving.store import verify_chain

    with session_scope(_sessions()) as session:
        reports = verify_chain(session)
    bad = False
    for r in reports:
        if r.ok:
            typer.echo(f"{r.table}: {r.rows} rows, chain intact")
        else:
            bad = True
            typer.echo(f"{r.table}: CHAIN BROKEN at {r.problem}", err=True)
    if bad:
        raise typer.Exit(1)


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option(help="JSONL file to write (corpus format).")] = Path("feedback.jsonl"),
) -> None:
    """Write reviewed screenings as corpus documents for `surveilrisk train --extra`."""
    from serving.db import session_scope
    from serving.feedback import export_lines

    with session_scope(_sessions()) as session, out.open("w", encoding="utf-8") as fh:
        n = 0
        for line in export_lines(session):
            fh.write(line)
            n += 1
    typer.echo(f"wrote {n} reviewed documents to {out}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
