"""Bulk screening of a large catalogue on Ray Data: read → extract → classify → write.

`surveilrisk bulk FOLDER --out DIR` reads every supported file under FOLDER as binary rows,
extracts text in parallel tasks (PDF/DOCX/HTML parsing isolated as in the service), classifies
in a pool of actors that each load the model once (ONNX Runtime when exported), and writes
JSONL or Parquet: one row per file with its source, tier, error and the full result as JSON,
the same result `surveilrisk classify --format jsonl` gives for that file. Local by default;
with RAY_ADDRESS set it runs on an existing cluster. Needs the `[ray]` extra.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from classifier.extract import SUPPORTED_SUFFIXES


def _limits() -> Any:
    from classifier.settings import get_settings

    return get_settings().limits


def extract_row(row: dict[str, Any]) -> dict[str, Any]:
    """One file's bytes → its extracted text, or the extraction error (kept, never dropped)."""
    from classifier.extract import ExtractionError, extract_bytes

    path = str(row["path"])
    out: dict[str, Any] = {"source": path, "text": "", "media_type": "", "warnings": "[]", "flags": "[]", "error": ""}
    try:
        ex = extract_bytes(bytes(row["bytes"]), filename=Path(path).name, limits=_limits())
    except ExtractionError as exc:
        out["error"] = json.dumps({"code": exc.code, "message": exc.message})
        return out
    out.update(
        text=ex.text,
        media_type=ex.media_type,
        sha256=ex.sha256,
        size_bytes=ex.size_bytes,
        warnings=json.dumps(ex.warnings),
        flags=json.dumps(ex.flags),
    )
    return out


class ClassifyBatch:
    """A Ray actor: the model is loaded once, then every batch of extracted rows goes through it."""

    def __init__(self, model: str) -> None:
        from classifier.predict import Classifier
        from classifier.settings import get_settings

        settings = get_settings()
        self.clf = Classifier.load(
            model,
            limits=settings.limits,
            batch_size=settings.inference_batch_size,
            review=settings.review,
            runtime=settings.runtime,
        )

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from classifier.extract import Extracted

        sources = [str(s) for s in batch["source"]]
        errors = [str(e) for e in batch["error"]]
        todo = [
            (
                src,
                Extracted(
                    text=str(batch["text"][i]),
                    media_type=str(batch["media_type"][i]),
                    sha256=str(batch["sha256"][i]),
                    size_bytes=int(batch["size_bytes"][i]),
                    warnings=json.loads(str(batch["warnings"][i])),
                    flags=json.loads(str(batch["flags"][i])),
                ),
            )
            for i, src in enumerate(sources)
            if not errors[i]
        ]
        results = iter(self.clf.classify_extracted(todo))
        out: dict[str, list[str]] = {"source": [], "tier": [], "error": [], "result": []}
        for src, err in zip(sources, errors, strict=True):
            out["source"].append(src)
            if err:
                out["tier"].append("")
                out["error"].append(err)
                out["result"].append("")
            else:
                res = next(results)
                out["tier"].append(res.tier)
                out["error"].append("")
                out["result"].append(res.model_dump_json())
        return out


def run_bulk(
    folder: Path, out: Path, model: str = "shipped", fmt: str = "jsonl", actors: int = 1, batch_size: int = 16
) -> int:
    """Run the pipeline; returns the number of files read."""
    import ray

    from classifier.resources import CHECKOUT, in_checkout

    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"format must be jsonl or parquet, got {fmt!r}")
    files = sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no supported files (.txt .md .html .pdf .docx) under {folder}")
    if not ray.is_initialized():
        env = {"env_vars": {"PYTHONPATH": str(CHECKOUT)}} if in_checkout() else {}
        ray.init(
            address=os.environ.get("RAY_ADDRESS"),
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=env or None,
        )
    ds = ray.data.read_binary_files(files, include_paths=True)
    ds = ds.map(extract_row)
    ds = ds.map_batches(
        ClassifyBatch,
        fn_constructor_kwargs={"model": model},
        batch_size=batch_size,
        concurrency=actors,
        batch_format="numpy",
    )
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        ds.write_parquet(str(out))
    else:
        ds.write_json(str(out))
    return len(files)


def read_results(out: Path) -> list[dict[str, Any]]:
    """Every row the pipeline wrote (JSONL or Parquet), in no particular order."""
    rows: list[dict[str, Any]] = []
    for p in sorted(Path(out).iterdir()):
        if p.suffix == ".json" or p.name.endswith(".jsonl"):
            rows += [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif p.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows += pq.read_table(p).to_pylist()
    return rows
