"""Fold Cyrillic and Greek letters that look like Latin ones, where that is safe.

"fасе" written with Cyrillic а, с and е reads as "face" to a person and as an unknown
word to the model, so a datasheet could hide its capabilities from the classifier. A word
is folded when it mixes Latin letters with look-alikes, or when it consists only of
look-alikes inside a text that is almost all Latin; real Russian or Greek text keeps its
letters. Folding replaces one character by one character, so every offset stays valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CODE = "confusable_letters_folded"

_PAIRS = {
    # Cyrillic lower case
    "а": "a",
    "е": "e",
    "о": "o",
    "р": "p",
    "с": "c",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "і": "i",
    "ј": "j",
    "ԁ": "d",
    "ӏ": "l",
    "һ": "h",
    "ԛ": "q",
    "ԝ": "w",
    "ɡ": "g",
    # Cyrillic upper case
    "А": "A",
    "В": "B",
    "Е": "E",
    "К": "K",
    "М": "M",
    "Н": "H",
    "О": "O",
    "Р": "P",
    "С": "C",
    "Т": "T",
    "Х": "X",
    "У": "Y",
    "Ѕ": "S",
    "І": "I",
    "Ј": "J",
    "Ү": "Y",
    "Ԝ": "W",
    # Greek
    "ο": "o",
    "ν": "v",
    "ρ": "p",
    "υ": "u",
    "ι": "i",
    "κ": "k",
    "α": "a",
    "Α": "A",
    "Β": "B",
    "Ε": "E",
    "Ζ": "Z",
    "Η": "H",
    "Ι": "I",
    "Κ": "K",
    "Μ": "M",
    "Ν": "N",
    "Ο": "O",
    "Ρ": "P",
    "Τ": "T",
    "Υ": "Y",
    "Χ": "X",
}
_WORD = re.compile(r"[^\W\d_]+")
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Folded:
    text: str
    letters: int
    words: int

    @property
    def warning(self) -> str | None:
        if not self.letters:
            return None
        return (
            f"{CODE}: {self.letters} look-alike Cyrillic/Greek letters in {self.words} words were read as Latin "
            "letters (a way to hide words from the classifier); review the original document"
        )


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if c.isascii()) / len(letters)


def fold(text: str) -> Folded:
    """Return the text with safe look-alikes folded to Latin, and how many letters changed."""
    if text.isascii() or not any(c in _PAIRS for c in text):
        return Folded(text, 0, 0)
    mostly_latin = _latin_share(text) >= 0.9
    out = list(text)
    letters = words = 0
    for m in _WORD.finditer(text):
        word = m.group()
        if word.isascii():
            continue
        foreign = [c for c in word if not c.isascii()]
        if not all(c in _PAIRS for c in foreign):
            continue  # a letter with no Latin twin: a real foreign word
        if not (_LATIN.search(word) or mostly_latin):
            continue
        for i, c in enumerate(word, start=m.start()):
            if c in _PAIRS:
                out[i] = _PAIRS[c]
                letters += 1
        words += 1
    return Folded("".join(out), letters, words)
