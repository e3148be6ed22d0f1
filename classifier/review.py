"""When a reading cannot be trusted: reasons that put a result in front of a person.

A wrong "minimal" is the costly error in export screening, so a result is flagged whenever the
model did not really read the document (another language, too little text, text cut off), was
unsure (no tier likely enough), or the tier came from a rule meant to catch misses (the
recall-first cut). Flagged results carry `review_required`, and the policy never lets them
`proceed` (`review_required_floor` in the policy file).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import BaseModel, Field

# Codes a result may carry, with what a reviewer should do about each.
REASONS: dict[str, str] = {
    "not_english": "The text does not look like English; the model reads English only, so capabilities may "
    "have been missed. Read the document or supply an English version.",
    "little_text": "Too little text to judge the product; supply the full datasheet or product page.",
    "truncated": "The document was cut off at the character limit; the rest was not read.",
    "low_confidence": "No tier is clearly the likeliest; the model is unsure.",
    "recall_first_cut": "The tier was raised to high because a miss costs more than a false alarm, not because "
    "high is the likeliest reading; confirm it.",
    "hidden_content_dropped": "Part of the document could not be parsed and was not read.",
    "confusable_letters_folded": "The text mixes look-alike letters from other alphabets; it was folded to "
    "Latin letters before reading.",
}
# Extraction flags that always ask for review (set by `classifier.extract`).
EXTRACTION_FLAGS = ("not_english", "truncated", "hidden_content_dropped", "confusable_letters_folded")
_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)


@dataclass(frozen=True)
class ReviewThresholds:
    """Below `min_words` words, or with no tier at least `low_confidence` likely, a person reviews."""

    min_words: int = 40
    low_confidence: float = 0.6


class ReviewReason(BaseModel):
    code: str = Field(description="Stable code: " + ", ".join(REASONS))
    message: str = Field(description="What was unreliable and what to do about it.")


def reason(code: str, detail: str = "") -> ReviewReason:
    text = REASONS[code]
    return ReviewReason(code=code, message=f"{text} {detail}".strip())


def word_count(text: str) -> int:
    return len(_WORD.findall(text))


def review_reasons(
    text: str,
    extraction_flags: Iterable[str],
    tier_scores: dict[str, float],
    recall_cut_decided: bool,
    limits: ReviewThresholds,
) -> list[ReviewReason]:
    """Every reason the reading of one document needs a person, in a stable order."""
    flags = set(extraction_flags)
    out = [reason(code) for code in EXTRACTION_FLAGS if code in flags]
    words = word_count(text)
    if words < limits.min_words:
        out.append(reason("little_text", f"({words} words; at least {limits.min_words} expected)."))
    top = max(tier_scores.values(), default=0.0)
    if top < limits.low_confidence:
        out.append(reason("low_confidence", f"(the likeliest tier has probability {top:.2f})."))
    if recall_cut_decided:
        out.append(reason("recall_first_cut"))
    return out
