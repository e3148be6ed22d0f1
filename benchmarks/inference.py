"""Inference figures of the shipped model on this machine: throughput, padding, attention, memory.

Run with `make bench` (or `python -m benchmarks.inference`). Prints a table; nothing is asserted,
because speed depends on the machine. Figures are recorded in README/model card by hand.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from classifier.predict import Classifier
from classifier.transformer import TransformerModel
from training.corpus import load_corpus


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time(fn, repeat: int = 2) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="shipped")
    parser.add_argument("--docs", type=int, default=64, help="test documents to score")
    args = parser.parse_args()

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    clf = Classifier.load(args.model)
    load_s = time.perf_counter() - t0
    model = clf.model
    assert isinstance(model, TransformerModel), "benchmarks need a transformer artifact"
    texts = [d.text for d in load_corpus() if d.split == "test"][: args.docs]
    windows = sum(len(d.windows) for d in model.document_logits(texts[:4]))  # warm-up
    n_windows = sum(len(d.windows) for d in model.document_logits(texts))
    words = sum(len(t.split()) for t in texts)
    print(f"model {model.version}; load {load_s:.1f} s; RSS after load {_rss_mb():.0f} MB (start {rss0:.0f} MB)")
    print(f"{len(texts)} test documents, {words} words, {n_windows} windows; torch threads {torch.get_num_threads()}")
    print()
    print(f"{'setting':<44} {'docs/s':>8} {'windows/s':>10} {'ms/doc':>8}")

    def row(name: str, seconds: float) -> None:
        print(
            f"{name:<44} {len(texts) / seconds:>8.2f} {n_windows / seconds:>10.1f} {1000 * seconds / len(texts):>8.1f}"
        )

    for bs in (1, 8, 32, 64):
        model.batch_size = bs
        row(f"full pipeline, batch {bs}, dynamic padding", _time(lambda: model.score(texts)))
    model.batch_size = 32

    # Padding every batch to the full window length instead of the batch's longest.
    tok = model.tokenizer
    original_pad = tok.pad
    tok.pad = lambda enc, **kw: original_pad(enc, padding="max_length", max_length=model.max_tokens + 2, **kw)
    row("document logits, batch 32, pad to max length", _time(lambda: model.document_logits(texts)))
    tok.pad = original_pad
    row("document logits, batch 32, dynamic padding", _time(lambda: model.document_logits(texts)))

    # Eager attention instead of SDPA (same weights).
    encoder = model.net.encoder
    encoder.set_attn_implementation("eager")
    row("document logits, batch 32, eager attention", _time(lambda: model.document_logits(texts)))
    encoder.set_attn_implementation("sdpa")

    latencies = []
    for t in texts[:20]:
        start = time.perf_counter()
        clf.classify_text(t)
        latencies.append(time.perf_counter() - start)
    print()
    print(
        f"single-document latency (classify_text): median {1000 * np.median(latencies):.0f} ms, "
        f"p95 {1000 * np.percentile(latencies, 95):.0f} ms"
    )
    print(f"peak RSS {_rss_mb():.0f} MB; windows per document {n_windows / len(texts):.1f} (warm-up {windows})")


if __name__ == "__main__":
    main()
