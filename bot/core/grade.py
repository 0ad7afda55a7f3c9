"""The result of grading one answer: what the coach records and what the learner is shown."""

from __future__ import annotations

from dataclasses import dataclass

# Bands, best first. Choice items use STRONG (right), PARTIAL (some of a multi) and WEAK (wrong).
STRONG = "strong"
PARTIAL = "partial"
WEAK = "weak"
OFF_TOPIC = "off-topic"
BANDS = (STRONG, PARTIAL, WEAK, OFF_TOPIC)

# Why an answer was held down or not graded at all. None for an ordinary answer.
EMPTY = "empty"  # nothing but whitespace or markup: not graded, the question stays open
UNCLEAR_CHOICE = "unclear-choice"  # matched no option: not graded, the question stays open
TOO_SHORT = "too-short"
ECHO = "echo"  # the question repeated back
GIBBERISH = "gibberish"
KEYWORDS = "keywords"  # a bare list of terms with no statement
CONTRADICTION = "contradiction"  # says the opposite of the reference
UNGRADED_FLAGS = (EMPTY, UNCLEAR_CHOICE)


@dataclass(frozen=True)
class Grade:
    score: int  # 0-100
    band: str  # one of BANDS
    covered: tuple[str, ...] = ()  # key points the answer makes (open items)
    missed: tuple[str, ...] = ()  # key points it does not
    flag: str | None = None  # one of the flags above
    message: str = ""  # one or two sentences for the learner about this answer
    chosen: tuple[str, ...] = ()  # letters the learner picked (choice items)
    contradicted: tuple[str, ...] = ()  # key points the answer says the opposite of

    @property
    def gradable(self) -> bool:
        """False when the answer could not be graded; nothing is recorded and it is asked again."""
        return self.flag not in UNGRADED_FLAGS


def band_for(score: int) -> str:
    """The band of an open-answer score; the thresholds are the scorer's calibration."""
    if score >= 70:
        return STRONG
    if score >= 40:
        return PARTIAL
    if score >= 15:
        return WEAK
    return OFF_TOPIC
