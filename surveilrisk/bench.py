"""`surveilrisk bench`: the naive anchor beside each project path, in one process and one run.

Anchor: the base encoder through the transformers `pipeline`, one 256-token chunk at a time
(what a user writes first). Project paths: torch fp32 (the pipeline before issue 12,
"today"), ONNX Runtime exact (fp32), the same with first-pass evidence, and, when exported,
ONNX Runtime tolerant (int8). Cold start and peak RSS come from separate
`surveilrisk classify` processes on one short text, so every path starts from nothing.
Nothing here is asserted: figures depend on the machine.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from classifier.extract import Extracted, extract_text
from classifier.predict import Classifier
from classifier.registry import RuntimeChoice
from classifier.resources import CHECKOUT, shipped_model_dir
from classifier.results import ClassificationResult

ANCHOR_TOKENS = 256
SHORT_TEXT = CHECKOUT / "examples" / "ptz-camera.txt"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "load_average_1m": load}


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def cold_start(model: str, runtime: str, variant: str = "auto", evidence: str = "auto") -> dict[str, float]:
    """Whole-process `surveilrisk classify` on one short text: wall seconds and peak RSS (MB).

    RSS is sampled with psutil: a child's own `ru_maxrss` would include this big benchmark
    process it was forked from.
    """
    import psutil

    env = {
        **os.environ,
        "SURVEILRISK_ONNX_VARIANT": variant,
        "SURVEILRISK_EVIDENCE_MODE": evidence,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "surveilrisk", "classify", "--runtime", runtime, "--model", model, str(SHORT_TEXT)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=CHECKOUT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    child = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            peak = max(peak, child.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
    wall = time.perf_counter() - start
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    return {"seconds": wall, "peak_rss_mb": peak / 2**20}


class NaiveAnchor:
    """The base encoder through `pipeline("feature-extraction")`, one 256-token chunk per call."""

    def __init__(self) -> None:
        from transformers import pipeline

        from classifier.base import base_model_path
        from classifier.model import quiet_transformers
        from classifier.tokenizer import WordPieceTokenizer

        quiet_transformers()
        self.pipe = pipeline("feature-extraction", model=str(base_model_path()), framework="pt")
        self.tok = WordPieceTokenizer()

    def chunks(self, text: str) -> list[str]:
        offsets = self.tok(text, add_special_tokens=False)["offset_mapping"]
        step = ANCHOR_TOKENS - 2
        return [text[offsets[i][0] : offsets[min(i + step, len(offsets)) - 1][1]] for i in range(0, len(offsets), step)]

    def run(self, texts: Sequence[str]) -> int:
        n = 0
        for t in texts:
            for c in self.chunks(t):
                self.pipe(c, truncation=True, max_length=ANCHOR_TOKENS)
                n += 1
        return n


def _agreement(ref: Sequence[ClassificationResult], other: Sequence[ClassificationResult]) -> dict[str, float]:
    def labels(r: ClassificationResult) -> set[str]:
        return {d.id for d in (*r.capabilities, *r.risk_factors)}

    n = max(len(ref), 1)
    diff = max((abs(a.scores[k] - b.scores[k]) for a, b in zip(ref, other, strict=True) for k in a.scores), default=0.0)
    return {
        "labels": sum(labels(a) == labels(b) for a, b in zip(ref, other, strict=True)) / n,
        "tier": sum(a.tier == b.tier for a, b in zip(ref, other, strict=True)) / n,
        "max_probability_difference": diff,
    }


def _texts(docs: int, texts_dir: Path | None) -> list[str]:
    if texts_dir is not None:
        files = sorted(Path(texts_dir).glob("*.txt"))[:docs]
        if not files:
            raise FileNotFoundError(f"no .txt files in {texts_dir}")
        return [p.read_text(encoding="utf-8") for p in files]
    from training.corpus import load_corpus

    return [d.text for d in load_corpus() if d.split == "test"][:docs]


def run_bench(
    model: str = "shipped",
    docs: int = 48,
    texts_dir: Path | None = None,
    profile: bool = False,
    repeat: int = 2,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    from classifier.scoring import StageProfile, WindowModel

    folder = str(shipped_model_dir() if model in ("shipped", "default") else Path(model))
    raw_texts = _texts(docs, texts_dir)
    start = time.perf_counter()
    items: list[tuple[str, Extracted]] = [(str(i), extract_text(t)) for i, t in enumerate(raw_texts)]
    extract_s = time.perf_counter() - start
    texts = [ex.text for _, ex in items]
    report: dict[str, Any] = {"machine": machine(), "documents": len(texts), "chars": sum(map(len, texts))}
    report["extract_seconds"] = extract_s
    echo(f"{len(texts)} documents, {report['chars']:,} characters; {report['machine']}")

    # (name, runtime choice, --runtime and variant and evidence for the cold-start process)
    paths: list[tuple[str, RuntimeChoice, tuple[str, str, str]]] = [
        ("torch fp32 (the pipeline before issue 12)", RuntimeChoice("torch"), ("torch", "auto", "auto")),
        ("onnx exact (fp32)", RuntimeChoice("onnx", "exact"), ("onnx", "exact", "auto")),
        (
            "onnx exact, one pass (attention evidence)",
            RuntimeChoice("onnx", "exact", evidence="attention"),
            ("onnx", "exact", "attention"),
        ),
        ("onnx tolerant (int8)", RuntimeChoice("onnx", "tolerant"), ("onnx", "tolerant", "auto")),
    ]
    rows: list[dict[str, Any]] = []

    anchor = NaiveAnchor()
    anchor.run(texts[:2])  # warm-up
    seconds, chunks = _best(lambda: anchor.run(texts), repeat)
    rows.append(
        {"path": "naive anchor (pipeline, 256-token chunks, one at a time)", "seconds": seconds, "windows": chunks}
    )

    reference: list[ClassificationResult] | None = None
    for name, choice, process in paths:
        try:
            clf = Classifier.load(folder, runtime=choice)
        except FileNotFoundError as exc:
            echo(f"skipped {name}: {exc}")
            continue
        m = clf.model
        assert isinstance(m, WindowModel)
        clf.classify_extracted(items[:2])  # warm-up
        seconds, results = _best(partial(clf.classify_extracted, items), repeat)
        windows = sum(len(d.windows) for d in m.document_logits(texts))
        row: dict[str, Any] = {"path": name, "seconds": seconds, "windows": windows, "evidence": m.evidence_mode}
        if reference is None:
            reference = results
        row["agreement_with_torch"] = _agreement(reference, results)
        if profile:
            m.profile = StageProfile()
            clf.classify_extracted(items)
            p = m.profile
            m.profile = None
            row["profile"] = {
                "extract": extract_s,
                **{k: round(v, 4) for k, v in p.seconds.items()},
                "batches": p.batches,
                "encoder_windows": p.windows,
                "padding_share": 1 - p.tokens / max(p.padded_tokens, 1),
            }
        try:
            row["cold_start"] = cold_start(folder, *process)
        except RuntimeError as exc:
            row["cold_start"] = {"error": str(exc)[-200:]}
        rows.append(row)

    anchor_row, today = rows[0], rows[1] if len(rows) > 1 else rows[0]
    for r in rows:
        r["docs_per_s"] = len(texts) / r["seconds"]
        r["windows_per_s"] = r["windows"] / r["seconds"]
        r["x_anchor"] = r["docs_per_s"] / (len(texts) / anchor_row["seconds"])
        r["x_today"] = r["docs_per_s"] / (len(texts) / today["seconds"])
    report["rows"] = rows
    report["bench_process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    _print(rows, echo)
    return report


def _print(rows: list[dict[str, Any]], echo: Callable[[str], None]) -> None:
    echo("")
    head = f"{'path':<58} {'docs/s':>7} {'win/s':>7} {'×anchor':>8} {'×today':>7} {'cold s':>7} {'RSS MB':>7} agreement"
    echo(head)
    for r in rows:
        cold = r.get("cold_start", {})
        agree = r.get("agreement_with_torch")
        agree_s = (
            f"labels {agree['labels']:.3f} tier {agree['tier']:.3f} Δp {agree['max_probability_difference']:.1e}"
            if agree
            else "-"
        )
        echo(
            f"{r['path']:<58} {r['docs_per_s']:>7.2f} {r['windows_per_s']:>7.1f} {r['x_anchor']:>8.2f} "
            f"{r['x_today']:>7.2f} {cold.get('seconds', float('nan')):>7.2f} "
            f"{cold.get('peak_rss_mb', float('nan')):>7.0f} "
            f"{agree_s}"
        )
    for r in rows:
        if "profile" in r:
            echo(f"profile {r['path']}: " + ", ".join(f"{k} {v:.3g}" for k, v in r["profile"].items()))
