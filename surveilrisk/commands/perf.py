"""`surveilrisk export-onnx | bench | loadtest`: the fast runtimes, and the figures that show they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from surveilrisk.commands.common import fail as _fail


def register(app: typer.Typer) -> None:
    app.command("export-onnx")(export_onnx)
    app.command()(bench)
    app.command()(loadtest)
    app.command()(bulk)


def agreement_sets(limit: int | None = None) -> dict[str, list[str]]:
    """The documents runtimes are compared on: corpus test split, the outside set, examples/."""
    from classifier.extract import ExtractionError, extract_path
    from classifier.resources import CHECKOUT
    from training.corpus import load_corpus

    sets = {"corpus-test": [d.text for d in load_corpus() if d.split == "test"]}
    outside = CHECKOUT / "data" / "outside"
    if outside.is_dir():
        sets["outside"] = [p.read_text(encoding="utf-8") for p in sorted(outside.glob("*.txt"))]
    examples = []
    for p in sorted((CHECKOUT / "examples").glob("*")):
        try:
            examples.append(extract_path(p).text)
        except ExtractionError:
            continue
    sets["examples"] = examples
    return {k: v[:limit] if limit else v for k, v in sets.items() if v}


def export_onnx(
    model: Annotated[Path | None, typer.Option(help="Artifact folder (default: the shipped model).")] = None,
    verify: Annotated[
        bool, typer.Option(help="Compare with torch fp32 on the corpus test split, outside set and examples.")
    ] = False,
    tolerant: Annotated[
        bool, typer.Option(help="Also write the int8 graph and measure its agreement gate against the exact one.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="Compare on at most N documents per set (quick check).")] = None,
) -> None:
    """Write model.onnx (fp32, exact) next to the artifact, optionally the gated int8 graph.

    The safetensors weights stay the source; the graphs are derived and not committed.
    """
    from classifier.onnx_export import compare, export_exact, quantise_int8
    from classifier.onnx_model import TolerantGraph
    from classifier.predict import Classifier
    from classifier.registry import RuntimeChoice
    from classifier.resources import shipped_model_dir

    folder = model or shipped_model_dir()
    if not (folder / "artifact.json").is_file():
        _fail(f"{folder} is not a model artifact (no artifact.json)")
    side = export_exact(folder)
    typer.echo(f"wrote {folder / side.exact_file} (opset {side.opset}, artifact {side.artifact_version})")
    if not (verify or tolerant):
        return
    sets = agreement_sets(limit)
    texts = [t for ts in sets.values() for t in ts]
    exact = Classifier.load(folder, runtime=RuntimeChoice("onnx", "exact"))
    if verify:
        torch_clf = Classifier.load(folder, runtime=RuntimeChoice("torch"))
        side.exact_agreement = compare(torch_clf, exact, texts).model_copy(update={"sets": list(sets)})
        _show("onnx exact vs torch fp32", side.exact_agreement.model_dump())
        side.write(folder)
    if tolerant:
        quantise_int8(folder)
        side.tolerant = TolerantGraph(method="int8 dynamic, per-channel weights, encoder MatMuls (onnxruntime)")
        side.write(folder)
        tol = Classifier.load(folder, runtime=RuntimeChoice("onnx", "tolerant"))
        agree = compare(exact, tol, texts).model_copy(update={"sets": list(sets)})
        passed = agree.label_set_agreement >= 0.99 and agree.high_critical_tier_agreement >= 1.0
        side.tolerant = side.tolerant.model_copy(update={"agreement": agree, "gate_passed": passed})
        side.write(folder)
        _show("onnx int8 vs onnx exact", agree.model_dump())
        typer.echo(f"tolerant gate {'PASSED: used by default' if passed else 'FAILED: stays off'}")
    exact_ok = side.exact_agreement
    if exact_ok is not None and (exact_ok.label_set_agreement < 1.0 or exact_ok.tier_agreement < 1.0):
        _fail("the exact ONNX graph does not reproduce torch's labels and tiers", 1)


def _show(title: str, figures: dict[str, object]) -> None:
    typer.echo(f"{title}: " + json.dumps(figures))


def bench(
    model: Annotated[str, typer.Option(help="`shipped` or an artifact folder.")] = "shipped",
    docs: Annotated[int, typer.Option(help="Documents to score (corpus test split, or --texts).")] = 48,
    texts: Annotated[Path | None, typer.Option(help="Folder of .txt files to use instead of the corpus.")] = None,
    profile: Annotated[bool, typer.Option(help="Also print a per-stage profile of each project path.")] = False,
    out: Annotated[Path, typer.Option(help="JSON file for the figures.")] = Path("runs/bench/bench.json"),
    repeat: Annotated[int, typer.Option(help="Timed runs per path (the best is kept).")] = 2,
) -> None:
    """Naive anchor beside each project path (torch, ONNX exact, ONNX tolerant), in one process and one run."""
    from surveilrisk.bench import run_bench

    try:
        report = run_bench(model, docs=docs, texts_dir=texts, profile=profile, repeat=repeat)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    typer.echo(f"figures written to {out}")


def loadtest(
    clients: Annotated[str, typer.Option(help="Concurrency levels, comma-separated.")] = "1,4,8,16",
    requests: Annotated[int, typer.Option(help="Requests per client at each level.")] = 6,
    queue_limit: Annotated[int | None, typer.Option(help="inference_queue_limit for the test server.")] = None,
    out: Annotated[Path, typer.Option(help="JSON file for the figures.")] = Path("runs/bench/loadtest.json"),
) -> None:
    """Start the service on loopback and load POST /v1/classify and /v1/screenings with a 2-page datasheet."""
    from surveilrisk.loadtest import run_loadtest

    levels = [int(x) for x in clients.split(",") if x.strip()]
    report = run_loadtest(levels, per_client=requests, queue_limit=queue_limit)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    typer.echo(f"figures written to {out}")


def bulk(
    folder: Annotated[Path, typer.Argument(help="Folder of documents (searched recursively).")],
    out: Annotated[Path, typer.Option(help="Output folder for the result files.")],
    model: Annotated[str, typer.Option(help="`shipped` or an artifact folder.")] = "shipped",
    format: Annotated[str, typer.Option("--format", "-f", help="jsonl or parquet.")] = "jsonl",
    actors: Annotated[int, typer.Option(help="Classifier actors (each loads the model once).", min=1)] = 1,
    batch_size: Annotated[int, typer.Option(help="Documents per actor call.", min=1)] = 16,
) -> None:
    """Screen a large catalogue on Ray Data (local, or the cluster in RAY_ADDRESS); needs the [ray] extra."""
    try:
        from surveilrisk.bulk import run_bulk
    except ImportError:
        _fail("the Ray pipeline needs the optional extra: pip install 'surveilrisk[ray]'")
    try:
        n = run_bulk(folder, out, model=model, fmt=format, actors=actors, batch_size=batch_size)
    except ModuleNotFoundError:
        _fail("the Ray pipeline needs the optional extra: pip install 'surveilrisk[ray]'")
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    typer.echo(f"{n} files screened; results in {out}")
