"""The evaluation harness: score any model on a corpus split or an outside folder of texts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifier.extract import extract_text
from classifier.predict import Classifier
from classifier.taxonomy import Taxonomy, TaxonomyError, Tier, default_taxonomy
from classifier.text import find_quote
from training.corpus import CORPUS_DIR, Document, load_corpus
from training.metrics import Gold, all_metrics
from training.report import write_report


class EvaluationInputError(ValueError):
    """An outside evaluation folder that cannot be scored; the message says what to fix."""


def gold_from_document(doc: Document) -> Gold:
    return Gold(
        id=doc.id,
        text=doc.text,
        capabilities=frozenset(doc.capabilities),
        risk_factors=frozenset(doc.risk_factors),
        tier=doc.tier,
        evidence=tuple((e.label, e.start, e.end) for e in doc.evidence),
    )


def golds_for_split(split: str, corpus_dir: Path = CORPUS_DIR) -> list[Gold]:
    docs = [d for d in load_corpus(corpus_dir) if d.split == split]
    if not docs:
        raise EvaluationInputError(f"no documents in split {split!r} of {corpus_dir}")
    return [gold_from_document(d) for d in docs]


def golds_from_folder(folder: Path, taxonomy: Taxonomy | None = None) -> list[Gold]:
    """`.txt` files plus `labels.jsonl` beside them: {file|id, capabilities, risk_factors, tier[, evidence]}.

    Evidence (optional) is a list of {label, start, end} or {label, quote}.
    """
    taxonomy = taxonomy or default_taxonomy()
    labels_path = folder / "labels.jsonl"
    if not labels_path.is_file():
        raise EvaluationInputError(f"{folder} has no labels.jsonl beside its .txt files")
    golds: list[Gold] = []
    for lineno, line in enumerate(labels_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{labels_path}:{lineno}"
        try:
            rec = json.loads(line)
            name = rec.get("file") or f"{rec['id']}.txt"
            text = (folder / name).read_text(encoding="utf-8")
            caps = taxonomy.check_ids(rec.get("capabilities", []), "capability")
            risks = taxonomy.check_ids(rec.get("risk_factors", []), "risk_factor")
            tier = Tier.parse(rec["tier"]).id
        except (json.JSONDecodeError, KeyError) as exc:
            raise EvaluationInputError(f"{where}: needs file or id, capabilities, risk_factors, tier ({exc})") from exc
        except OSError as exc:
            raise EvaluationInputError(f"{where}: cannot read the text file ({exc})") from exc
        except TaxonomyError as exc:
            raise EvaluationInputError(f"{where}: {exc}") from exc
        # Evidence must refer to the text the classifier reads, i.e. the normalised text.
        norm = extract_text(text).text
        spans = []
        for ev in rec.get("evidence", []):
            if "quote" in ev:
                found = find_quote(norm, ev["quote"])
                if found is not None:
                    spans.append((ev["label"], found.start, found.end))
            else:
                spans.append((ev["label"], int(ev["start"]), int(ev["end"])))
        golds.append(
            Gold(str(rec.get("id") or Path(name).stem), norm, frozenset(caps), frozenset(risks), tier, tuple(spans))
        )
    if not golds:
        raise EvaluationInputError(f"{labels_path} holds no records")
    return golds


def evaluate(classifier: Classifier, golds: Sequence[Gold], progress: bool = True) -> tuple[dict[str, Any], list[Any]]:
    """Classify every gold text and compute the harness's metrics."""
    from classifier.extract import Extracted

    items = [(g.id, Extracted(text=g.text, media_type="text/plain", sha256="", size_bytes=len(g.text))) for g in golds]
    preds = classifier.classify_extracted(items, progress=progress)
    return all_metrics(golds, preds, classifier.taxonomy), preds


def run_evaluation(
    model: str,
    split: str | None = None,
    folder: Path | None = None,
    out_dir: Path | None = None,
    corpus_dir: Path = CORPUS_DIR,
    real: str | None = None,
    real_manifest: Path | None = None,
    real_texts: Path | None = None,
) -> tuple[dict[str, Any], Path]:
    """Evaluate and write `metrics.json`, `predictions.jsonl` and `report.md`; returns metrics and folder.

    Exactly one of: a corpus `split`, an outside `folder`, or a `real` split (dev, test or train)
    of the real-text yardstick, whose texts must be cached locally.
    """
    from training.baselines import training_models
    from training.realset import MANIFEST, TEXTS_DIR, RealSetError, golds_for_real

    if sum(x is not None for x in (split, folder, real)) != 1:
        raise EvaluationInputError("give exactly one of a corpus split, an outside folder or a real split")
    if real is not None:
        try:
            golds = golds_for_real(real, real_manifest or MANIFEST, real_texts or TEXTS_DIR)
        except RealSetError as exc:
            raise EvaluationInputError(str(exc)) from exc
        target = f"real-{real}"
    elif split is not None:
        golds, target = golds_for_split(split, corpus_dir), split
    else:
        golds, target = golds_from_folder(Path(folder)), Path(folder).name  # type: ignore[arg-type]

    classifier = Classifier.load(model, extra=training_models())
    metrics, preds = evaluate(classifier, golds)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = out_dir or Path("runs") / "eval" / f"{Path(model).name}-{target}-{stamp}"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"model": model, "model_version": classifier.version, "evaluated_on": target, **metrics}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for p in preds:
            fh.write(p.model_dump_json() + "\n")
    write_report(metrics, out_dir, f"Evaluation of {classifier.version} on {target}")
    return metrics, out_dir


def summary_line(metrics: dict[str, Any]) -> str:
    return (
        f"cap macro-F1 {metrics['capability_macro_f1']:.3f} | cap micro-F1 {metrics['capability_micro_f1']:.3f} | "
        f"risk macro-F1 {metrics['risk_factor_macro_f1']:.3f} | tier acc {metrics['tier_accuracy']:.3f} | "
        f"tier macro-F1 {metrics['tier_macro_f1']:.3f} | high+crit recall {metrics['high_critical_recall']:.3f} | "
        f"false alarms {metrics['false_alarm_rate']:.3f} | label ECE {metrics['label_ece']:.3f} | "
        f"evidence hit@1 {metrics['evidence']['hit_at_1']:.3f}"
    )
