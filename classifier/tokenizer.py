"""The base model's word-piece tokenizer through the `tokenizers` library alone.

Inference needs only ids and character offsets; loading them from `tokenizer.json` directly
avoids importing transformers (seconds of start-up) and gives the same ids as its fast tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifier.base import base_model_path

Encoded = tuple[list[int], list[tuple[int, int]]]  # ids (with [CLS] and [SEP]) and their character offsets


class WordPieceTokenizer:
    """What windowing and scoring call: offsets of a whole text, and batches of window pieces."""

    def __init__(self, path: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str((path or base_model_path()) / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()
        self.pad_token_id = self._tok.token_to_id("[PAD]") or 0

    def __call__(self, text: str, **kwargs: Any) -> dict[str, list[Any]]:
        """The subset of the transformers call that `classifier.text.token_offsets` uses."""
        enc = self._tok.encode(text, add_special_tokens=bool(kwargs.get("add_special_tokens", True)))
        return {"input_ids": list(enc.ids), "offset_mapping": list(enc.offsets), "tokens": list(enc.tokens)}

    def convert_ids_to_tokens(self, ids: Sequence[int]) -> list[str]:
        return [self._tok.id_to_token(int(i)) or "" for i in ids]

    def encode_pieces(self, pieces: Sequence[str], max_length: int) -> list[Encoded]:
        """Each piece with [CLS]/[SEP], cut to `max_length` ids (as transformers' truncation=True does)."""
        out: list[Encoded] = []
        for enc in self._tok.encode_batch(list(pieces)):
            ids, offsets = list(enc.ids), list(enc.offsets)
            if len(ids) > max_length:
                ids = [*ids[: max_length - 1], ids[-1]]
                offsets = [*offsets[: max_length - 1], (0, 0)]
            out.append((ids, offsets))
        return out


def encode_pieces(tokenizer: Any, pieces: Sequence[str], max_length: int) -> list[Encoded]:
    """Ids and offsets from either tokenizer: ours, or a transformers fast tokenizer (training passes one)."""
    if isinstance(tokenizer, WordPieceTokenizer):
        return tokenizer.encode_pieces(pieces, max_length)
    if not pieces:
        return []
    enc = tokenizer(list(pieces), truncation=True, max_length=max_length, return_offsets_mapping=True)
    return [
        (list(ids), [tuple(o) for o in offs])  # type: ignore[misc]
        for ids, offs in zip(enc["input_ids"], enc["offset_mapping"], strict=True)
    ]
