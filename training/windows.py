"""Documents → tokenised windows with targets, and the collator that batches them for the Trainer.

Window supervision uses the corpus evidence: a window holding an annotated span of a label
is a positive for it, every window of a document without the label is a negative, and the
rest are left out of the window loss (the document-level loss still covers them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from classifier.taxonomy import Taxonomy, Tier
from classifier.text import make_windows
from training.corpus import Document


@dataclass
class EncodedWindow:
    input_ids: list[int]
    targets: np.ndarray  # [n_labels + 3]
    mask: np.ndarray  # [n_labels + 3], 1 = supervised
    has_evidence: bool


@dataclass
class EncodedDoc:
    doc_id: str
    windowings: list[list[EncodedWindow]]  # [0] is the inference windowing; others are augmentation
    targets: np.ndarray  # [n_labels + 3]


def doc_targets(doc: Document, label_ids: Sequence[str]) -> np.ndarray:
    tier = Tier.parse(doc.tier)
    labels = set(doc.labels)
    return np.array([*(lab in labels for lab in label_ids), *(tier >= k for k in (1, 2, 3))], dtype=np.float32)


def encode_document(
    doc: Document,
    tokenizer: Any,
    taxonomy: Taxonomy,
    window_sizes: Sequence[int],
    overlap_tokens: int,
) -> EncodedDoc:
    label_ids = taxonomy.label_ids
    n = len(label_ids)
    targets = doc_targets(doc, label_ids)
    tier = Tier.parse(doc.tier)
    windowings = []
    for size in window_sizes:
        windows = make_windows(doc.text, tokenizer, max_tokens=size, overlap_tokens=overlap_tokens)
        texts = [doc.text[w.start : w.end] for w in windows]
        ids = tokenizer(texts, truncation=True, max_length=size + 2)["input_ids"] if texts else []
        encoded = []
        for w, input_ids in zip(windows, ids, strict=True):
            shown = {e.label for e in doc.evidence if e.start < w.end and w.start < e.end}
            t = np.zeros(n + 3, dtype=np.float32)
            m = np.zeros(n + 3, dtype=np.float32)
            for j, lab in enumerate(label_ids):
                if lab in shown:
                    t[j], m[j] = 1.0, 1.0
                elif targets[j] == 0:
                    m[j] = 1.0
            shown_tier = taxonomy.minimum_tier(shown).tier if shown else Tier.MINIMAL
            for k in (1, 2, 3):
                if tier < k:
                    m[n + k - 1] = 1.0
                elif shown_tier >= k:
                    t[n + k - 1], m[n + k - 1] = 1.0, 1.0
            encoded.append(EncodedWindow(list(input_ids), t, m, bool(shown)))
        windowings.append(encoded)
    return EncodedDoc(doc.id, windowings, targets)


class DocumentDataset(Dataset[tuple[EncodedDoc, bool]]):
    """Items carry a `train` flag so one collator can sample windows (train) or keep all (eval)."""

    def __init__(self, docs: Sequence[EncodedDoc], train: bool) -> None:
        self.docs = list(docs)
        self.train = train

    def __len__(self) -> int:
        return len(self.docs)

    def __getitem__(self, i: int) -> tuple[EncodedDoc, bool]:
        return self.docs[i], self.train


class WindowCollator:
    """Pads windows of a batch of documents to the batch's longest (dynamic padding)."""

    def __init__(self, pad_id: int, windows_per_doc: int, seed: int = 0) -> None:
        self.pad_id = pad_id
        self.windows_per_doc = windows_per_doc
        self.rng = random.Random(seed)

    def _pick(self, doc: EncodedDoc, train: bool) -> list[EncodedWindow]:
        if not train:
            return doc.windowings[0]
        windows = self.rng.choice(doc.windowings)
        if len(windows) <= self.windows_per_doc:
            return windows
        evidence = [w for w in windows if w.has_evidence]
        other = [w for w in windows if not w.has_evidence]
        self.rng.shuffle(evidence)
        self.rng.shuffle(other)
        return (evidence + other)[: self.windows_per_doc]

    def __call__(self, items: Sequence[tuple[EncodedDoc, bool]]) -> dict[str, torch.Tensor]:
        windows: list[EncodedWindow] = []
        doc_index: list[int] = []
        for d, (doc, train) in enumerate(items):
            picked = self._pick(doc, train)
            windows.extend(picked)
            doc_index.extend([d] * len(picked))
        longest = max(len(w.input_ids) for w in windows)
        ids = torch.full((len(windows), longest), self.pad_id, dtype=torch.long)
        att = torch.zeros((len(windows), longest), dtype=torch.long)
        for i, w in enumerate(windows):
            ids[i, : len(w.input_ids)] = torch.tensor(w.input_ids)
            att[i, : len(w.input_ids)] = 1
        return {
            "input_ids": ids,
            "attention_mask": att,
            "doc_index": torch.tensor(doc_index, dtype=torch.long),
            "doc_targets": torch.from_numpy(np.stack([doc.targets for doc, _ in items])),
            "window_targets": torch.from_numpy(np.stack([w.targets for w in windows])),
            "window_mask": torch.from_numpy(np.stack([w.mask for w in windows])),
        }
