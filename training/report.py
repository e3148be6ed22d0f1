"""Human-readable evaluation report: Markdown with plots a reviewer would rather look at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _bar_plot(per_label: dict[str, dict[str, float]], title: str, path: Path) -> None:
    labels = list(per_label)
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(labels) + 2), 4.2))
    for i, (key, color) in enumerate((("precision", "#4C72B0"), ("recall", "#DD8452"), ("f1", "#55A868"))):
        ax.bar(x + (i - 1) * 0.27, [per_label[lab][key] for lab in labels], 0.27, label=key, color=color)
    ax.set_xticks(x, labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _confusion_plot(confusion: list[list[int]], labels: list[str], path: Path) -> None:
    m = np.array(confusion)
    fig, ax = plt.subplots(figsize=(4.6, 4))
    ax.imshow(m, cmap="Blues")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="white" if m[i, j] > m.max() / 2 else "black")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted tier")
    ax.set_ylabel("annotated tier")
    ax.set_title("Tier confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _reliability_plot(calib: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    for key, name in (("label_curve", "labels"), ("tier_curve", "tier (top class)")):
        pts = calib[key]
        if pts:
            ax.plot([p["confidence"] for p in pts], [p["observed"] for p in pts], "o-", label=name)
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"Reliability (ECE labels {calib['label_ece']:.3f}, tier {calib['tier_ece']:.3f})", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(per: dict[str, dict[str, float]]) -> str:
    rows = ["| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    rows += [
        f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {int(v['support'])} |"
        for k, v in per.items()
    ]
    return "\n".join(rows)


def write_report(metrics: dict[str, Any], out_dir: Path, title: str) -> Path:
    """Write plots and `report.md` into `out_dir`; returns the report's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _bar_plot(
        metrics["capabilities"]["per_label"], "Capabilities: precision / recall / F1", out_dir / "capabilities.png"
    )
    _bar_plot(
        metrics["risk_factors"]["per_label"], "Risk factors: precision / recall / F1", out_dir / "risk_factors.png"
    )
    _confusion_plot(metrics["tier"]["confusion"], metrics["tier"]["labels"], out_dir / "tier_confusion.png")
    _reliability_plot(metrics["calibration"], out_dir / "reliability.png")
    ev = metrics["evidence"]
    lines = [
        f"# {title}",
        "",
        f"Documents: {metrics['documents']}",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| capability macro F1 | {metrics['capability_macro_f1']:.3f} |",
        f"| capability micro F1 | {metrics['capability_micro_f1']:.3f} |",
        f"| risk-factor macro F1 | {metrics['risk_factor_macro_f1']:.3f} |",
        f"| tier accuracy | {metrics['tier_accuracy']:.3f} |",
        f"| tier macro F1 | {metrics['tier_macro_f1']:.3f} |",
        f"| recall of high+critical documents | {metrics['high_critical_recall']:.3f} |",
        f"| false-alarm rate on minimal/limited (predicted high+) | {metrics['false_alarm_rate']:.3f} |",
        f"| label ECE | {metrics['label_ece']:.3f} |",
        f"| tier ECE | {metrics['tier_ece']:.3f} |",
        f"| evidence hit@1 / hit@any | {ev['hit_at_1']:.3f} / {ev['hit_any']:.3f} |",
        f"| evidence char precision (lower bound) | {ev['char_precision']:.3f} |",
        "",
        "![capabilities](capabilities.png)",
        "",
        _table(metrics["capabilities"]["per_label"]),
        "",
        "![risk factors](risk_factors.png)",
        "",
        _table(metrics["risk_factors"]["per_label"]),
        "",
        "![tier confusion](tier_confusion.png) ![reliability](reliability.png)",
        "",
    ]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
