"""The fine-tuned transformer as a `ScoringModel`: windows → batched forward → documents + evidence."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from classifier.artifact import ArtifactMeta
from classifier.model import NetConfig, SurveilRiskNet, base_model_fingerprint, load_net, load_tokenizer
from classifier.results import RawPrediction, ScoredSpan
from classifier.taxonomy import TIER_IDS, default_taxonomy
from classifier.text import Span, Window, make_windows

log = logging.getLogger(__name__)
EVIDENCE_WINDOWS = 2  # windows per label whose segments are re-read one by one


@dataclass
class DocumentLogits:
    """Raw (uncalibrated) logits of one document and of each of its windows."""

    doc: np.ndarray  # [n_labels + 3]
    windows: list[Window]
    window_logits: np.ndarray  # [n_windows, n_labels + 3]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def tier_probabilities(cumulative_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Cumulative logits [..., 3] → probabilities of the four tiers [..., 4], kept monotone."""
    c = sigmoid(cumulative_logits / temperature)
    c = np.minimum.accumulate(c, axis=-1)
    ones = np.ones((*c.shape[:-1], 1))
    zeros = np.zeros((*c.shape[:-1], 1))
    upper = np.concatenate([ones, c], axis=-1)
    lower = np.concatenate([c, zeros], axis=-1)
    return np.clip(upper - lower, 0.0, 1.0)


class TransformerModel:
    """Loaded once per process; `score` is batched, in inference mode, with dynamic padding."""

    def __init__(self, net: SurveilRiskNet, tokenizer: Any, meta: ArtifactMeta, batch_size: int = 32) -> None:
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.batch_size = batch_size
        self.label_ids: list[str] = meta.label_ids
        self.max_tokens = meta.windows.max_tokens
        self.overlap_tokens = meta.windows.overlap_tokens
        self.label_temperature = meta.temperature.labels
        self.tier_temperature = meta.temperature.tier
        self._thresholds = {lab: float(meta.thresholds.get(lab, 0.5)) for lab in self.label_ids}
        self._taxonomy = default_taxonomy()
        # Fast tokenizers refuse concurrent use ("Already borrowed"); one scoring call at a time per
        # process. Parallelism comes from batching and from several worker processes.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path | str, batch_size: int = 32) -> TransformerModel:
        folder = Path(folder)
        meta = ArtifactMeta.read(folder)
        if meta.base_model.sha256 != base_model_fingerprint():
            log.warning("base model weights differ from those the artifact was trained on; results may drift")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # library deprecation notices, not ours
            net = load_net(folder, NetConfig.from_dict(meta.net))
            if net.config.adapter.kind == "lora":
                net.encoder = net.encoder.merge_and_unload()  # plain BERT layers: faster inference
        return cls(net, load_tokenizer(), meta, batch_size)

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self._thresholds)

    @property
    def high_tier_cut(self) -> float | None:
        return None if self.meta.tier_stacker is None else self.meta.tier_stacker.high_cut

    # ------------------------------------------------------------------ forward passes

    def _forward_texts(self, pieces: Sequence[str], progress: bool = False) -> np.ndarray:
        """Logits for many short texts; sorted by length so each batch pads only to its own longest."""
        if not pieces:
            return np.zeros((0, len(self.label_ids) + 3), dtype=np.float32)
        enc = self.tokenizer(list(pieces), truncation=True, max_length=self.max_tokens + 2)
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        out = np.zeros((len(pieces), len(self.label_ids) + 3), dtype=np.float32)
        batches = range(0, len(order), self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="windows", unit="batch", leave=False)
        with torch.inference_mode():
            for start in batches:
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer.pad({"input_ids": [enc["input_ids"][i] for i in idx]}, return_tensors="pt")
                logits = self.net.window_logits(batch["input_ids"], batch["attention_mask"])
                out[idx] = logits.float().numpy()
        return out

    def document_logits(self, texts: Sequence[str], progress: bool = False) -> list[DocumentLogits]:
        """Raw logits per document: all windows of all texts go through the model together."""
        windows = [make_windows(t, self.tokenizer, self.max_tokens, self.overlap_tokens) for t in texts]
        flat = [t[w.start : w.end] for t, ws in zip(texts, windows, strict=True) for w in ws]
        logits = self._forward_texts(flat, progress=progress)
        out, pos = [], 0
        width = len(self.label_ids) + 3
        for ws in windows:
            wl = logits[pos : pos + len(ws)]
            pos += len(ws)
            doc = wl.max(axis=0) if len(ws) else np.full(width, -20.0, dtype=np.float32)
            out.append(DocumentLogits(doc=doc, windows=ws, window_logits=wl))
        return out

    # ------------------------------------------------------------------ scoring

    def label_probabilities(self, doc_logits: np.ndarray) -> np.ndarray:
        return sigmoid(doc_logits[..., : len(self.label_ids)] / self.label_temperature)

    def tier_floor(self, doc_logits: np.ndarray, thresholds: Mapping[str, float] | None = None) -> np.ndarray:
        """The minimum tier (as an int) that the labels passing their thresholds imply, per document.

        `thresholds` replaces the artifact's own, for calibration to try thresholds fitted elsewhere.
        """
        cut = thresholds or self._thresholds
        detected = self.label_probabilities(doc_logits) >= np.array([cut[lab] for lab in self.label_ids])
        rows = detected.reshape(-1, len(self.label_ids))
        floor = [self._taxonomy.minimum_tier([self.label_ids[j] for j in np.flatnonzero(r)]).tier.value for r in rows]
        return np.asarray(floor, dtype=int).reshape(detected.shape[:-1])

    def tier_features(self, doc_logits: np.ndarray, floor: bool = False) -> np.ndarray:
        """Calibrated label probabilities and cumulative tier probabilities, side by side.

        With `floor`, the one-hot minimum tier of the detected labels is appended: it lets the
        stacker learn that a high reading with no detected high-tier label is often a false alarm.
        """
        cumulative = sigmoid(doc_logits[..., len(self.label_ids) :] / self.tier_temperature)
        parts = [self.label_probabilities(doc_logits), cumulative]
        if floor:
            parts.append(np.eye(len(TIER_IDS))[self.tier_floor(doc_logits)])
        return np.concatenate(parts, axis=-1)

    def tier_scores(self, doc_logits: np.ndarray) -> np.ndarray:
        """Tier probabilities: the fitted stacker when the artifact has one, else the ordinal head."""
        stacker = self.meta.tier_stacker
        if stacker is not None:
            features = self.tier_features(doc_logits, floor=stacker.floor_feature)
            z = features @ np.asarray(stacker.coef).T + np.asarray(stacker.intercept)
            z = z - z.max(axis=-1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)  # type: ignore[no-any-return]
        return tier_probabilities(doc_logits[..., len(self.label_ids) :], self.tier_temperature)

    def score(self, texts: Sequence[str], progress: bool = False) -> list[RawPrediction]:
        with self._lock:
            return self._score(texts, progress)

    def _score(self, texts: Sequence[str], progress: bool) -> list[RawPrediction]:
        docs = self.document_logits(texts, progress=progress)
        preds = []
        wanted: list[tuple[int, str, list[Span]]] = []
        for i, d in enumerate(docs):
            probs = self.label_probabilities(d.doc)
            tiers = self.tier_scores(d.doc)
            preds.append(
                RawPrediction(
                    scores={lab: float(p) for lab, p in zip(self.label_ids, probs, strict=True)},
                    tier_scores={t: float(p) for t, p in zip(TIER_IDS, tiers, strict=True)},
                )
            )
            for j, lab in enumerate(self.label_ids):
                if probs[j] >= self._thresholds[lab] and len(d.windows):
                    top = np.argsort(-d.window_logits[:, j])[:EVIDENCE_WINDOWS]
                    wanted.append((i, lab, [s for k in top for s in d.windows[k].segments]))
        self._attach_evidence(texts, preds, wanted)
        return preds

    def _attach_evidence(
        self, texts: Sequence[str], preds: list[RawPrediction], wanted: list[tuple[int, str, list[Span]]]
    ) -> None:
        """Re-read each segment of the best windows alone; the segments that score highest are the evidence."""
        keys = sorted({(i, s.start, s.end) for i, _, segs in wanted for s in segs})
        index = {k: n for n, k in enumerate(keys)}
        seg_logits = self._forward_texts([texts[i][a:b] for i, a, b in keys])
        seg_probs = self.label_probabilities(seg_logits)
        col = {lab: j for j, lab in enumerate(self.label_ids)}
        for i, lab, segs in wanted:
            scored = {(s.start, s.end): float(seg_probs[index[(i, s.start, s.end)], col[lab]]) for s in segs}
            ranked = sorted(scored.items(), key=lambda kv: -kv[1])
            best = ranked[0][1]
            keep = [ScoredSpan(a, b, p) for (a, b), p in ranked if p >= 0.5 * best][:3]
            preds[i].evidence[lab] = keep
