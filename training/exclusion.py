"""Keep the hidden real-text set out: its sources and 12-word runs, as hashes (data/exclusion/).

Nothing that comes from a listed source, or shares one 12-word run with the hidden texts, may
enter the corpus, the real sets, the outside set or the examples. The same 12-word runs also
check that documents written in imitation of a real text did not copy its sentences.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from training.corpus import DATA_DIR

EXCLUSION_DIR = DATA_DIR / "exclusion"
RUN_WORDS = 12
_WORD = re.compile(r"[a-z0-9]+")


def normalise_source(source: str) -> str:
    """The form the lists hash: lower case, no scheme, no leading www., no trailing slash."""
    s = source.strip().lower()
    s = re.sub(r"^https?://", "", s)
    s = re.sub(r"^www\.", "", s)
    return s.rstrip("/")


def source_keys(source: str) -> list[str]:
    """sha256 of the source itself and, for a GitHub file, of its repository (which excludes every file)."""
    s = normalise_source(source)
    keys = [s]
    repo = re.match(r"(github\.com/[^/]+/[^/#?]+)", s)
    if repo:
        keys.append(repo.group(1))
    return [hashlib.sha256(k.encode()).hexdigest() for k in keys]


def word_runs(text: str, n: int = RUN_WORDS) -> set[str]:
    """The hashed n-word runs of a text, in the lists' format (16 hex digits of sha256)."""
    words = _WORD.findall(text.lower())
    return {hashlib.sha256(" ".join(words[i : i + n]).encode()).hexdigest()[:16] for i in range(len(words) - n + 1)}


def shared_runs(a: str, b: str, n: int = RUN_WORDS) -> int:
    """How many n-word runs two texts share (for checking imitations against their originals)."""
    return len(word_runs(a, n) & word_runs(b, n))


@dataclass(frozen=True)
class ExclusionList:
    """The two hash lists; load once, then ask about sources and texts."""

    folder: Path = EXCLUSION_DIR

    @cached_property
    def sources(self) -> frozenset[str]:
        return frozenset((self.folder / "source-sha256.txt").read_text(encoding="utf-8").split())

    @cached_property
    def runs(self) -> frozenset[str]:
        return frozenset((self.folder / "12gram-sha256-16.txt").read_text(encoding="utf-8").split())

    def excludes_source(self, source: str) -> bool:
        return any(k in self.sources for k in source_keys(source))

    def overlap(self, text: str) -> int:
        """Number of the text's 12-word runs that the hidden set also has."""
        return len(word_runs(text) & self.runs)

    def offending(self, texts: Iterable[tuple[str, str]]) -> list[str]:
        """`name: shares N twelve-word runs` for every (name, text) that overlaps."""
        return [
            f"{name}: shares {k} twelve-word runs with the hidden set"
            for name, text in texts
            if (k := self.overlap(text))
        ]


def outside_and_example_texts(root: Path | None = None) -> list[tuple[str, str]]:
    """(name, text) of the outside evaluation set and the example documents (PDF and DOCX extracted)."""
    from classifier.extract import SUPPORTED_SUFFIXES, ExtractionError, extract_path

    root = root or DATA_DIR.parent
    paths = sorted((root / "data" / "outside").glob("*.txt")) + sorted(
        p for p in (root / "examples").glob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES
    )
    out = []
    for p in paths:
        try:
            out.append((str(p.relative_to(root)), extract_path(p).text))
        except ExtractionError as exc:
            out.append((str(p.relative_to(root)), f"(unreadable: {exc.message})"))
    return out
