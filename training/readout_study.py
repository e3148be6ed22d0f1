"""Compare tier read-outs of one trained artifact in cross-validation on the validation split.

    python -m training.readout_study models/shipped

Prints, for the ordinal head and for the stacker with and without the floor feature at each cut
on P(high or critical), the cross-validated tier accuracy and high+critical recall, scored the
way calibration scores them (after the floor, thresholds refitted on each training fold). The
table in training/configs/COMPARISON.md comes from here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from classifier.taxonomy import default_taxonomy
from training.calibration import TIER_CUTS, fit_tier_stacker
from training.corpus import CORPUS_DIR, load_corpus


@dataclass(frozen=True)
class ReadOutRow:
    read_out: str
    accuracy: float
    recall: float


def study(artifact: Path, corpus_dir: Path = CORPUS_DIR) -> list[ReadOutRow]:
    """Recalibrate the artifact's labels on the current validation split, then score every read-out."""
    from classifier.transformer import TransformerModel
    from training.calibration import ValidationArrays, calibrate_labels, tier_stacker_inputs

    taxonomy = default_taxonomy()
    model = TransformerModel.load(artifact)
    seed = model.meta.seed
    val = [d for d in load_corpus(corpus_dir) if d.split == "validation"]
    arrays = ValidationArrays.of(model, val, taxonomy)
    model = calibrate_labels(model, arrays, taxonomy)
    inputs = tier_stacker_inputs(model, arrays, taxonomy)
    rows: list[ReadOutRow] = []
    for floor_feature in (False, True):
        for cut in TIER_CUTS:
            s = fit_tier_stacker(**inputs, seed=seed, cuts=(cut,), floor_feature=floor_feature)
            if not rows:
                rows.append(ReadOutRow("ordinal head", s.head_accuracy, s.head_recall))
            name = "stacker" + (" + floor feature" if floor_feature else "")
            rows.append(ReadOutRow(name + ("" if cut is None else f", cut {cut:.2f}"), s.cv_accuracy, s.cv_recall))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    args = parser.parse_args()
    print("| read-out | tier accuracy | high+critical recall |\n|---|---:|---:|")
    for row in study(args.artifact):
        print(f"| {row.read_out} | {row.accuracy:.3f} | {row.recall:.3f} |")


if __name__ == "__main__":
    main()
