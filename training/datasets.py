"""The corpus as a Hugging Face `DatasetDict` with typed features, for `surveilrisk data export-hf`.

Label columns are `ClassLabel` lists in taxonomy order, so a notebook or another trainer gets the
label names with the data instead of re-reading the taxonomy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

from classifier.taxonomy import TIER_IDS, Taxonomy, default_taxonomy
from training.corpus import CORPUS_DIR, SPLITS, Document, load_corpus


def corpus_features(taxonomy: Taxonomy | None = None) -> Features:
    taxonomy = taxonomy or default_taxonomy()
    return Features(
        {
            "id": Value("string"),
            "title": Value("string"),
            "doc_type": Value("string"),
            "text": Value("string"),
            "capabilities": List(ClassLabel(names=list(taxonomy.capability_ids))),
            "risk_factors": List(ClassLabel(names=list(taxonomy.risk_factor_ids))),
            "tier": ClassLabel(names=list(TIER_IDS)),
            "evidence": List({"label": Value("string"), "start": Value("int32"), "end": Value("int32")}),
            "group": Value("string"),
            "source": Value("string"),
            "split": Value("string"),
            "hard_negative_of": List(ClassLabel(names=list(taxonomy.capability_ids))),
            "voice": Value("string"),
        }
    )


def to_dataset_dict(docs: Sequence[Document], taxonomy: Taxonomy | None = None) -> DatasetDict:
    """One `Dataset` per split present; label columns are class indices into the taxonomy order."""
    features = corpus_features(taxonomy)
    by_split: dict[str, list[dict[str, object]]] = {}
    for d in docs:
        if d.split is None:
            raise ValueError(f"document {d.id} has no split; run `surveilrisk data split`")
        by_split.setdefault(d.split, []).append(d.model_dump(mode="json"))
    return DatasetDict({s: Dataset.from_list(by_split[s], features=features) for s in SPLITS if s in by_split})


def export_corpus(out: Path, corpus_dir: Path = CORPUS_DIR) -> DatasetDict:
    """Write the corpus to `out` with `DatasetDict.save_to_disk` (read it back with `load_from_disk`)."""
    dataset = to_dataset_dict(load_corpus(corpus_dir))
    dataset.save_to_disk(str(out))
    return dataset
