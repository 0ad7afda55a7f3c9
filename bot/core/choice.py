"""Which option(s) a learner meant: letters, option text with typos, true/false words.

`parse_choice` returns the letters picked, or None when the answer matches no option
clearly; the grader then asks again instead of marking a guess wrong.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from bot.core.corpus import LETTERS, Question
from bot.core.text import STOPWORDS

# How close option text must be, and by how much the best option must beat the next one.
MIN_TEXT_SCORE = 80
MIN_MARGIN = 10

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "yep", "yeah", "correct", "right", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "nope", "incorrect", "wrong", "0"})

_LEAD = r"(?:(?:i\s+(?:think|choose|pick|go\s+with|would\s+say)|my\s+answer\s+is|answer\s*:?|" \
        r"option|choice|it'?s|it\s+is)\s+)*"
_LETTER = r"[\(\[]?([a-z])[\)\].:]?"
_ONE_LETTER = re.compile(rf"^{_LEAD}(?:option\s+|choice\s+)?{_LETTER}$")
_SEPARATORS = re.compile(r"\s*(?:,|;|/|&|\+|\band\b|\bor\b|\bplus\b)\s*|\s+")
_LETTER_PREFIX = re.compile(r"^[\(\[]?([a-z])[\)\]:.]\s+(\S.*)$")
_PARTS = re.compile(r"\s*(?:[,;\n]|\band\b|&|\+)\s*")


def parse_choice(question: Question, text: str) -> tuple[str, ...] | None:
    """The letters the answer picks, in option order; None when it is unclear."""
    letters = question.letters
    answer = _normalise(text)
    if not answer:
        return None
    if question.type == "truefalse":
        picked = _true_false(question, answer)
        if picked:
            return picked
    picked = _by_letters(question, answer)
    if picked is not None:
        return picked
    if question.type == "multi":
        parts = [p for p in _PARTS.split(answer) if p]
        chosen = []
        for part in parts:
            one = _by_letters(question, part) or _by_text(question, part)
            if one is None:
                return _whole_text(question, answer)
            chosen.extend(one)
        return tuple(sorted(set(chosen), key=letters.index)) if chosen else None
    return _whole_text(question, answer)


def _normalise(text: str) -> str:
    text = text.strip().lower()
    text = re.sub(r"[\s.!?]+$", "", text)  # "C." or "b!" at the end of a message
    return re.sub(r"\s+", " ", text)


def _true_false(question: Question, answer: str) -> tuple[str, ...] | None:
    words = {_tf_word(w) for w in re.findall(r"[a-z0-9]+", answer)}
    options = [o.lower() for o in question.options]
    says_true = bool(words & TRUE_WORDS) and len(words) <= 3
    says_false = bool(words & FALSE_WORDS) and len(words) <= 3
    if says_true == says_false:
        return None
    target = "true" if says_true else "false"
    if target in options:
        return (LETTERS[options.index(target)],)
    return None


def _tf_word(word: str) -> str:
    """"ture" -> "true", "fasle" -> "false"; other words unchanged."""
    if len(word) >= 4:
        for target in ("true", "false"):
            if fuzz.ratio(word, target) >= 75:
                return target
    return word


def _by_letters(question: Question, answer: str) -> tuple[str, ...] | None:
    """"c", "C)", "(c)", "option c", "a and c", "A,C"; None when it is not letters."""
    one = _ONE_LETTER.match(answer)
    if one:
        return _known((one.group(1),), question)
    if question.type != "multi":
        return None
    tokens = [t.strip("()[].:") for t in _SEPARATORS.split(answer) if t]
    tokens = [t for t in tokens if t not in ("option", "options", "choice", "choices")]
    if tokens and all(len(t) == 1 and t.isalpha() for t in tokens):
        return _known(tuple(tokens), question)
    if len(tokens) == 1 and tokens[0].isalpha() and len(tokens[0]) <= len(question.letters) \
            and len(set(tokens[0])) == len(tokens[0]) and tokens[0] not in _WORDS_NOT_LETTERS:
        return _known(tuple(tokens[0]), question)  # "ac"
    return None


# Short words that are also runs of option letters; never read them as letters.
_WORDS_NOT_LETTERS = frozenset({"a", "ab", "ad", "be", "bed", "cab", "dab", "fab", "fad",
                                "face", "bad", "dec", "deb"})


def _known(raw: tuple[str, ...], question: Question) -> tuple[str, ...] | None:
    letters = question.letters
    picked = [r.upper() for r in raw]
    if any(p not in letters for p in picked):
        return None
    return tuple(sorted(set(picked), key=letters.index))


def _by_text(question: Question, answer: str) -> tuple[str, ...] | None:
    prefixed = _LETTER_PREFIX.match(answer)  # "c) spot instances": the letter decides
    if prefixed:
        letter = prefixed.group(1).upper()
        if letter in question.letters:
            return (letter,)
    said = _content(answer)
    if not said:
        return None
    scores = sorted(((_word_match(said, _content(o)), i) for i, o in enumerate(question.options)),
                    reverse=True)
    if scores[0][0] < MIN_TEXT_SCORE:
        return None
    if len(scores) > 1 and scores[0][0] - scores[1][0] < MIN_MARGIN:
        return None  # as close to another option: ask rather than guess
    return (LETTERS[scores[0][1]],)


def _content(text: str) -> list[str]:
    tokens = re.findall(r"[a-z0-9]+", default_process(text))
    content = [t for t in tokens if t not in STOPWORDS]
    return content or tokens


def _word_match(said: list[str], option: list[str]) -> float:
    """How well the answer's words are found among the option's words, typos forgiven:
    the mean over answer words of the best similarity (0-100) to an option word."""
    if not option:
        return 0.0
    return sum(process.extractOne(w, option, scorer=fuzz.ratio)[1] for w in said) / len(said)


def _whole_text(question: Question, answer: str) -> tuple[str, ...] | None:
    if question.type != "multi":
        return _by_text(question, answer)
    # A multi answer given as text: every option the answer names closely enough.
    scores = [fuzz.partial_ratio(default_process(o), answer) if len(o) <= len(answer) else 0
              for o in question.options]
    picked = tuple(LETTERS[i] for i, s in enumerate(scores) if s >= 90)
    return picked or None


def unclear_choice_message(question: Question) -> str:
    """What to say to an answer that picks no option clearly: which letters it takes."""
    letters = question.letters
    among = f"{', '.join(letters[:-1])} and {letters[-1]}"
    if question.type == "multi":
        n = len(question.answer)
        example = " ".join(letters[:n]).lower()
        return (f"I couldn't tell which options you meant. This question has {n} answers "
                f"among {among}. Pick {n} letters on one line, e.g. `{example}`.")
    if question.type == "truefalse":
        return "I couldn't tell whether you meant true or false. Say true or false."
    return (f"I couldn't tell which option you meant. This question has a single answer "
            f"among {among}. Pick a letter.")
