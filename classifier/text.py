"""Normalise extracted text, split it into segments, pack segments into model windows.

Every object here keeps character offsets into the normalised text, so any score the model
gives a window or a segment can be shown to a reviewer as the exact text it read.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

_ZERO_WIDTH = {"\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}
_BULLETS = "•▪◦●■□►–—·"


@dataclass(frozen=True)
class NormalisedText:
    """Normalised text plus, for each of its characters, the index in the raw text."""

    text: str
    source_index: tuple[int, ...]


def normalise(raw: str) -> NormalisedText:
    """NFKC characters, drop invisible ones, tidy whitespace; keep an index back to `raw`.

    Ligatures from PDFs become plain letters, runs of spaces become one, more than one blank
    line becomes one; words are never joined or reordered, so offsets stay meaningful.
    """
    out: list[str] = []
    src: list[int] = []
    i = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\r":
            if i + 1 < n and raw[i + 1] == "\n":
                i += 1
                continue
            ch = "\n"
        if ch in _ZERO_WIDTH:
            i += 1
            continue
        if ch == "\t" or ch == "\u00a0" or (unicodedata.category(ch) in {"Cc", "Zs"} and ch != "\n"):
            ch = " "
        elif ch in {"\u2028", "\u2029", "\x0b", "\x0c"}:
            ch = "\n"
        for piece in unicodedata.normalize("NFKC", ch):
            if piece == " ":
                if not out or out[-1] in " \n":
                    continue
            elif piece == "\n":
                while out and out[-1] == " ":
                    out.pop()
                    src.pop()
                if len(out) >= 2 and out[-1] == "\n" and out[-2] == "\n":
                    continue
                if not out:
                    continue
            out.append(piece)
            src.append(i)
        i += 1
    while out and out[-1] in " \n":
        out.pop()
        src.pop()
    return NormalisedText("".join(out), tuple(src))


@dataclass(frozen=True)
class Span:
    start: int
    end: int


# A segment boundary: after sentence punctuation followed by space and an upper-case letter,
# digit, quote or bullet; before a bullet glyph in the middle of a line.
_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9" + _BULLETS + r"])")
_MID_BULLET = re.compile(r"\s+(?=[" + _BULLETS + r"]\s)")


def segment(text: str) -> list[Span]:
    """Sentence-like segments: lines, then sentences and bullet items within a line."""
    spans: list[Span] = []
    for line in re.finditer(r"[^\n]+", text):
        cuts = [line.start()]
        body = line.group()
        for m in _SENTENCE_END.finditer(body):
            cuts.append(line.start() + m.end())
        for m in _MID_BULLET.finditer(body):
            cuts.append(line.start() + m.end())
        cuts = [*sorted(set(cuts)), line.end()]
        for a, b in itertools.pairwise(cuts):
            seg = text[a:b]
            lead = len(seg) - len(seg.lstrip())
            trail = len(seg) - len(seg.rstrip())
            if b - trail > a + lead:
                spans.append(Span(a + lead, b - trail))
    return spans


class OffsetTokenizer(Protocol):
    """What windowing needs from a tokenizer: word-piece character offsets."""

    def __call__(self, text: str, **kwargs: object) -> object: ...


@dataclass(frozen=True)
class Window:
    """A piece of text the model reads in one pass, with the segments inside it."""

    start: int
    end: int
    segments: tuple[Span, ...] = field(default_factory=tuple)
    n_tokens: int = 0


def token_offsets(text: str, tokenizer: OffsetTokenizer) -> list[tuple[int, int, bool]]:
    """(start, end, continues_word) for every word piece of `text`, no special tokens."""
    # verbose=False: the whole text is tokenised only to find offsets, so the tokenizer's
    # "longer than the maximum sequence length" notice would be a false alarm here.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    offsets = enc["offset_mapping"]  # type: ignore[index]
    ids = enc["input_ids"]  # type: ignore[index]
    convert = getattr(tokenizer, "convert_ids_to_tokens", None)
    pieces = convert(ids) if convert else [""] * len(ids)
    return [(int(s), int(e), str(p).startswith("##")) for (s, e), p in zip(offsets, pieces, strict=True)]


def _split_long(span: Span, toks: Sequence[tuple[int, int, bool]], budget: int) -> list[tuple[Span, int]]:
    """Cut a segment longer than the budget at word starts, never inside a word."""
    inside = [t for t in toks if span.start <= t[0] < span.end]
    out: list[tuple[Span, int]] = []
    i = 0
    while i < len(inside):
        j = min(i + budget, len(inside))
        if j < len(inside):
            k = j
            while k > i + 1 and inside[k][2]:
                k -= 1
            j = k
        start = inside[i][0] if out else span.start
        end = inside[j][0] if j < len(inside) else span.end
        out.append((Span(start, end), j - i))
        i = j
    return out


def make_windows(
    text: str,
    tokenizer: OffsetTokenizer,
    max_tokens: int = 128,
    overlap_tokens: int = 32,
) -> list[Window]:
    """Pack whole segments into windows of at most `max_tokens` word pieces.

    Windows cover every segment; a segment longer than a window is cut at word starts.
    The last segment of a window is repeated at the start of the next one when it is
    shorter than `overlap_tokens`, so a sentence that depends on the previous one keeps it.
    """
    if max_tokens < 8:
        raise ValueError(f"max_tokens must be at least 8, got {max_tokens}")
    toks = token_offsets(text, tokenizer)
    starts = [t[0] for t in toks]
    pieces: list[tuple[Span, int]] = []
    import bisect

    for seg in segment(text):
        lo = bisect.bisect_left(starts, seg.start)
        hi = bisect.bisect_left(starts, seg.end)
        count = hi - lo
        if count == 0:
            continue
        if count > max_tokens:
            pieces.extend(_split_long(seg, toks, max_tokens))
        else:
            pieces.append((seg, count))

    windows: list[Window] = []
    cur: list[tuple[Span, int]] = []
    used = 0
    for piece in pieces:
        if cur and used + piece[1] > max_tokens:
            windows.append(_window(cur, used))
            tail = cur[-1]
            cur, used = ([tail], tail[1]) if tail[1] <= overlap_tokens and tail[1] + piece[1] <= max_tokens else ([], 0)
        cur.append(piece)
        used += piece[1]
    if cur:
        windows.append(_window(cur, used))
    return windows


def _window(pieces: list[tuple[Span, int]], used: int) -> Window:
    segs = tuple(p[0] for p in pieces)
    return Window(start=segs[0].start, end=segs[-1].end, segments=segs, n_tokens=used)


def find_quote(text: str, quote: str) -> Span | None:
    """Where a quoted passage sits in `text`, whatever whitespace (line breaks, double spaces) separates its words.

    A quote copied from a PDF or a web page rarely keeps the extracted text's exact line breaks.
    """
    words = quote.split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return Span(match.start(), match.end()) if match else None
