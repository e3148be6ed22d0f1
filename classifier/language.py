"""A cheap check that text is English, since the model was trained on English only.

Spec sheets hold few function words of any language, so the check compares English
function words with those of other common languages instead of using a fixed share.
"""

from __future__ import annotations

import re

_ENGLISH = frozenset(
    """
    the a an and or of to in on for with by from at as is are be was were it its this that these those
    can will not no our your their we you they which who all any each more most into over under than
    has have had also when where while such only other
    """.split()
)
_OTHER = (
    frozenset(
        # German, French, Spanish, Italian, Portuguese and Dutch function words absent from English
        """
    der die das und ist mit von den dem des ein eine einer nicht auch für sich auf werden wird
    le la les et est une des du dans pour avec sur par qui que pas sont
    el los las y es un una del por con para como más son
    il lo gli della delle che è per con sono
    os um uma não são com para pelo pela
    het een en van zijn voor met niet ook wordt
    """.split()
    )
    - _ENGLISH
)
_WORD = re.compile(r"[^\W\d_]{1,30}", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0400-\u04ff\u0600-\u06ff]")


def language_signal(text: str, sample_words: int = 2000) -> tuple[float, float, float]:
    """(English function-word share, other-language share, share of CJK/Cyrillic/Arabic letters)."""
    sample = text[:50_000]
    words = [w.lower() for w in _WORD.findall(sample)][:sample_words]
    letters = sum(ch.isalpha() for ch in sample) or 1
    script = len(_CJK.findall(sample)) / letters
    if not words:
        return 0.0, 0.0, script
    return (
        sum(w in _ENGLISH for w in words) / len(words),
        sum(w in _OTHER for w in words) / len(words),
        script,
    )


def english_warning(text: str) -> str | None:
    """A warning when the text looks like another language; None for English or spec-only text."""
    en, other, script = language_signal(text)
    if script > 0.3 or (other > 0.04 and other > en):
        return "the text does not look like English; the model was trained on English and may miss capabilities"
    return None
