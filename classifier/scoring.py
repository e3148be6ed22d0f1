"""Scoring shared by every runtime of the fine-tuned network (torch or ONNX Runtime); numpy only.

windows → tokenise → pack windows of many documents into length-sorted batches → encoder
(one pass per window) → max over windows → calibrated label and tier probabilities →
evidence. The runtime only supplies `_encode`: a padded batch in, window logits (and, for
label-attention pooling, each label's attention over the tokens) out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifier.artifact import ArtifactMeta
from classifier.results import RawPrediction, ScoredSpan
from classifier.taxonomy import TIER_IDS, default_taxonomy
from classifier.text import Span, Window, make_windows
from classifier.tokenizer import encode_pieces

log = logging.getLogger(__name__)
EVIDENCE_WINDOWS = 2  # best windows per label whose segments are ranked as evidence
EVIDENCE_MODES = ("attention", "shortlist", "reread")
SHORTLIST = 4  # segments per label that the attention shortlist hands to the re-read
STAGES = ("normalise_window", "tokenise", "encoder", "aggregate_evidence")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))  # type: ignore[no-any-return]


def tier_probabilities(cumulative_logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Cumulative logits [..., 3] → probabilities of the four tiers [..., 4], kept monotone."""
    c = sigmoid(cumulative_logits / temperature)
    c = np.minimum.accumulate(c, axis=-1)
    ones = np.ones((*c.shape[:-1], 1))
    zeros = np.zeros((*c.shape[:-1], 1))
    upper = np.concatenate([ones, c], axis=-1)
    lower = np.concatenate([c, zeros], axis=-1)
    return np.clip(upper - lower, 0.0, 1.0)  # type: ignore[no-any-return]


@dataclass
class DocumentLogits:
    """Raw (uncalibrated) logits of one document and of each of its windows."""

    doc: np.ndarray  # [n_labels + 3]
    windows: list[Window]
    window_logits: np.ndarray  # [n_windows, n_labels + 3]
    # Per window: each label's attention mass on each of the window's segments [n_labels, n_segments].
    segment_attention: list[np.ndarray] = field(default_factory=list)


@dataclass
class StageProfile:
    """Seconds spent per stage and work counted, summed over calls while profiling is on."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    windows: int = 0
    tokens: int = 0
    padded_tokens: int = 0
    batches: int = 0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def pad_batch(ids: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad to the batch's longest piece: int64 ids and attention mask."""
    width = max(len(x) for x in ids)
    out = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, x in enumerate(ids):
        out[i, : len(x)] = x
        mask[i, : len(x)] = 1
    return out, mask


class WindowModel:
    """A `ScoringModel` over windows; subclasses run the encoder. Loaded once per process."""

    runtime = "abstract"
    # How a segment's share of a label's attention is read: the sum over its tokens, or its peak token.
    attention_reduce = "max"

    def __init__(self, tokenizer: Any, meta: ArtifactMeta, batch_size: int = 32, evidence: str | None = None) -> None:
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
        self.has_attention = str(meta.net.get("pooling", "mean")) == "label_attention"
        self.evidence_mode = self._evidence_mode(evidence)
        self.profile: StageProfile | None = None
        # Fast tokenizers refuse concurrent use ("Already borrowed"); one scoring call at a time per
        # process. Parallelism comes from batching (across documents and requests) and from workers.
        self._lock = threading.Lock()

    def _evidence_mode(self, asked: str | None) -> str:
        """How evidence is found; `auto` is the second pass, which cites the annotated span more often.

        Measured on the corpus validation split (training/configs/COMPARISON.md): evidence hit@1
        0.760 re-reading the best windows' segments, 0.695 re-reading only the attention's
        shortlist, 0.565 from the first pass's label attention alone.
        """
        if asked not in (None, "auto", *EVIDENCE_MODES):
            raise ValueError(f"evidence mode must be auto, attention, shortlist or reread, got {asked!r}")
        if asked in (None, "auto", "reread") or not self.has_attention:
            return "reread"
        return asked

    # ------------------------------------------------------------------ what a runtime provides

    def _encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Window logits [B, n_labels + 3] and label attention [B, n_labels, T] (None without it)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ properties of the protocol

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

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        if self.profile is None:
            yield
        else:
            with self.profile.stage(name):
                yield

    def _forward_texts(
        self, pieces: Sequence[str], progress: bool = False, attention: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray] | None, list[list[tuple[int, int]]]]:
        """Logits for many short texts; sorted by length so each batch pads only to its own longest.

        With `attention`, also each piece's label attention over its own tokens and the tokens' offsets.
        """
        width = len(self.label_ids) + 3
        if not pieces:
            return np.zeros((0, width), dtype=np.float32), ([] if attention else None), []
        with self._stage("tokenise"):
            enc = encode_pieces(self.tokenizer, pieces, self.max_tokens + 2)
        order = np.argsort([len(ids) for ids, _ in enc], kind="stable")
        out = np.zeros((len(pieces), width), dtype=np.float32)
        attn: list[np.ndarray] = [np.zeros(0)] * len(pieces)
        batches: Any = range(0, len(order), self.batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="windows", unit="batch", leave=False)
        for start in batches:
            idx = order[start : start + self.batch_size]
            ids, mask = pad_batch([enc[i][0] for i in idx], getattr(self.tokenizer, "pad_token_id", 0) or 0)
            with self._stage("encoder"):
                logits, weights = self._encode(ids, mask)
            out[idx] = logits
            if self.profile is not None:
                self.profile.batches += 1
                self.profile.windows += len(idx)
                self.profile.tokens += int(mask.sum())
                self.profile.padded_tokens += int(mask.size)
            if attention and weights is not None:
                for row, i in enumerate(idx):
                    attn[i] = weights[row, :, : len(enc[i][0])]
        offsets = [offs for _, offs in enc]
        return out, (attn if attention else None), offsets

    def document_logits(self, texts: Sequence[str], progress: bool = False) -> list[DocumentLogits]:
        """Raw logits per document: all windows of all texts go through the model together."""
        with self._stage("normalise_window"):
            windows = [make_windows(t, self.tokenizer, self.max_tokens, self.overlap_tokens) for t in texts]
        flat = [t[w.start : w.end] for t, ws in zip(texts, windows, strict=True) for w in ws]
        use_attention = self.evidence_mode in ("attention", "shortlist")
        logits, attn, offsets = self._forward_texts(flat, progress=progress, attention=use_attention)
        out, pos = [], 0
        width = len(self.label_ids) + 3
        for ws in windows:
            wl = logits[pos : pos + len(ws)]
            doc = wl.max(axis=0) if len(ws) else np.full(width, -20.0, dtype=np.float32)
            seg_attn = []
            if attn is not None:
                seg_attn = [
                    segment_mass(w, attn[pos + k], offsets[pos + k], self.attention_reduce) for k, w in enumerate(ws)
                ]
            pos += len(ws)
            out.append(DocumentLogits(doc=doc, windows=ws, window_logits=wl, segment_attention=seg_attn))
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
        with self._stage("aggregate_evidence"):
            preds = []
            wanted: list[tuple[int, str, list[int]]] = []
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
                        top = np.argsort(-d.window_logits[:, j], kind="stable")[:EVIDENCE_WINDOWS]
                        wanted.append((i, lab, [int(k) for k in top]))
            if self.evidence_mode == "attention":
                self._evidence_from_attention(docs, preds, wanted)
        if self.evidence_mode == "reread":
            segs = [(i, lab, [s for k in top for s in docs[i].windows[k].segments]) for i, lab, top in wanted]
            self._evidence_by_rereading(texts, preds, segs)
        elif self.evidence_mode == "shortlist":
            self._evidence_by_rereading(texts, preds, self._shortlist(docs, wanted))
        return preds

    def _shortlist(
        self, docs: Sequence[DocumentLogits], wanted: list[tuple[int, str, list[int]]]
    ) -> list[tuple[int, str, list[Span]]]:
        """The few segments of the best windows that each label attended to most: only they are re-read."""
        col = {lab: j for j, lab in enumerate(self.label_ids)}
        out = []
        for i, lab, top in wanted:
            d, j = docs[i], col[lab]
            ranked: dict[Span, float] = {}
            for k in top:
                for s, mass in zip(d.windows[k].segments, d.segment_attention[k][j], strict=True):
                    ranked[s] = max(ranked.get(s, 0.0), float(mass))
            best = sorted(ranked, key=lambda s: -ranked[s])[:SHORTLIST]
            out.append((i, lab, best))
        return out

    def _evidence_from_attention(
        self, docs: Sequence[DocumentLogits], preds: list[RawPrediction], wanted: list[tuple[int, str, list[int]]]
    ) -> None:
        """Rank the segments of the best windows by the label's own attention in the pass already made.

        A span's score is the window's probability for the label times the share of the label's
        attention that fell on the span: no second encoder pass.
        """
        col = {lab: j for j, lab in enumerate(self.label_ids)}
        for i, lab, top in wanted:
            d, j = docs[i], col[lab]
            scored: dict[tuple[int, int], float] = {}
            for k in top:
                p_window = float(sigmoid(d.window_logits[k, j] / self.label_temperature))
                for s, mass in zip(d.windows[k].segments, d.segment_attention[k][j], strict=True):
                    key = (s.start, s.end)
                    scored[key] = max(scored.get(key, 0.0), p_window * float(mass))
            _keep_best(preds[i], lab, scored)

    def _evidence_by_rereading(
        self, texts: Sequence[str], preds: list[RawPrediction], wanted: list[tuple[int, str, list[Span]]]
    ) -> None:
        """Re-read each segment of the best windows alone; the segments that score highest are the evidence."""
        keys = sorted({(i, s.start, s.end) for i, _, segs in wanted for s in segs})
        index = {k: n for n, k in enumerate(keys)}
        seg_logits, _, _ = self._forward_texts([texts[i][a:b] for i, a, b in keys])
        with self._stage("aggregate_evidence"):
            seg_probs = self.label_probabilities(seg_logits)
            col = {lab: j for j, lab in enumerate(self.label_ids)}
            for i, lab, segs in wanted:
                scored = {(s.start, s.end): float(seg_probs[index[(i, s.start, s.end)], col[lab]]) for s in segs}
                _keep_best(preds[i], lab, scored)


def _keep_best(pred: RawPrediction, lab: str, scored: Mapping[tuple[int, int], float]) -> None:
    ranked = sorted(scored.items(), key=lambda kv: -kv[1])
    best = ranked[0][1]
    pred.evidence[lab] = [ScoredSpan(a, b, p) for (a, b), p in ranked if p >= 0.5 * best][:3]


def segment_mass(
    window: Window, attention: np.ndarray, offsets: Sequence[tuple[int, int]], reduce: str = "sum"
) -> np.ndarray:
    """[n_labels, n_segments]: each label's attention summed over the tokens inside each segment.

    `offsets` are the window's token offsets relative to the window's start ((0, 0) for [CLS],
    [SEP] and padding, whose attention belongs to no segment).
    """
    n_seg = len(window.segments)
    owner = np.full(len(offsets), -1, dtype=np.int64)
    bounds = [(s.start - window.start, s.end - window.start) for s in window.segments]
    k = 0
    for t, (a, b) in enumerate(offsets):
        if b <= a:
            continue
        while k < n_seg - 1 and a >= bounds[k][1]:
            k += 1
        owner[t] = k
    mass = np.zeros((attention.shape[0], n_seg), dtype=np.float64)
    inside = owner >= 0
    n = min(len(owner), attention.shape[1])
    ufunc = np.maximum if reduce == "max" else np.add
    ufunc.at(mass.T, owner[:n][inside[:n]], attention[:, :n][:, inside[:n]].T)
    return mass
