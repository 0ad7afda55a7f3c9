"""Grading: an answer to any question -> Grade (score, band, key points covered and missed).

Open answers are measured point by point against the answer's sentences (bot.core.features)
and scored by a small learned grader (bot/grader.json, fitted on human-graded SemEval-2013
answers by scripts/fit_grader.py). Answers that must not score well (too short, the
question echoed back, gibberish, a bare keyword list, a contradiction of a key point) are
caught by rules first and capped, each with its own message. Choice answers are parsed by
bot.core.choice.

The embedder is handed in (bot.embeddings.Embedder or anything with encode/count_tokens);
this module never imports the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core import grade as g
from bot.core.choice import parse_choice
from bot.core.corpus import Question
from bot.core.features import (
    COVERED,
    Analysis,
    Reference,
    analyse,
    answer_texts,
    derive_points,
    prepare,
)
from bot.core.learned import DEFAULT_MODEL, LearnedGrader
from bot.core.markup import clean
from bot.core.text import FUNCTION_WORDS, NEGATORS, content_stems, stem, words

# Caps: the most an answer of each kind can score, whatever the learned grader says.
CAPS = {g.TOO_SHORT: 30, g.ECHO: 10, g.GIBBERISH: 0, g.KEYWORDS: 35}
CONTRADICTION_CAP = 30  # when the contradiction is all the answer says
CONTRADICTION_CAP_MIXED = 60  # when it also makes other points: partial at best

RUBRIC_WEIGHT = 0.5  # weight of key-point coverage when the question has written key points

MESSAGES = {
    g.EMPTY: "I didn't get an answer there - type it out, or say `skip`.",
    g.UNCLEAR_CHOICE: "I couldn't tell which option you meant - reply with the letter "
                      "(for example `b`, or `a and c`).",
    g.TOO_SHORT: "That's very short - say in a sentence or two what you would do and why.",
    g.ECHO: "That mostly repeats the question back - say what you would actually do.",
    g.GIBBERISH: "I couldn't read that as words - try again in plain sentences.",
    g.KEYWORDS: "That's a list of terms - explain how they answer the question to get credit.",
    g.CONTRADICTION: "Careful: you said the opposite of a key point: {point}",
}


@dataclass(frozen=True)
class Checks:
    """Thresholds of the rule checks, named so tests and docs can refer to them."""

    min_words: int = 3
    short_ratio: float = 0.2  # fewer words than this share of the reference ...
    short_words: int = 6  # ... and fewer than this many words is too short
    echo_overlap: float = 0.75  # share of the answer's words found in the question
    echo_repeat: float = 0.5  # share of the question's words the answer repeats
    echo_gain: float = 0.1  # the answer must be this much closer to the reference than to
    # the question not to count as an echo
    gibberish_share: float = 0.5  # share of unknown words that makes gibberish
    keyword_items: int = 3


class Grader:
    """Grades answers to corpus questions and to rows of an evaluation file."""

    def __init__(self, embedder, model: LearnedGrader | str | Path | None = None,
                 checks: Checks | None = None):
        self.embedder = embedder
        self._model = model
        self.checks = checks or Checks()
        self._references: dict[tuple, Reference] = {}
        self._prefetched: dict[str, np.ndarray] = {}

    @property
    def model(self) -> LearnedGrader:
        """The learned grader, read on first use (fitting needs features before it exists)."""
        if not isinstance(self._model, LearnedGrader):
            self._model = LearnedGrader.load(self._model or DEFAULT_MODEL)
        return self._model

    # the coach's entry point ---------------------------------------------------------
    def grade(self, question: Question, answer: str) -> Grade:
        if question.is_choice:
            return self.grade_choice(question, answer)
        return self.grade_open(question.prompt, question.reference_answer, answer,
                               question.key_points)

    def warm(self, questions: Iterable[Question]) -> int:
        """Encode the reference side of every open question now (through the cache), so
        the first learner does not wait. Returns how many were prepared."""
        count = 0
        for q in questions:
            if not q.is_choice:
                self.reference(q.prompt, q.reference_answer, q.key_points)
                count += 1
        return count

    # choice items --------------------------------------------------------------------
    def grade_choice(self, question: Question, answer: str) -> Grade:
        text = clean(answer)
        if not re.search(r"\w", text):
            return g.Grade(0, g.OFF_TOPIC, flag=g.EMPTY, message=MESSAGES[g.EMPTY])
        chosen = parse_choice(question, text)
        if chosen is None:
            return g.Grade(0, g.OFF_TOPIC, flag=g.UNCLEAR_CHOICE,
                           message=MESSAGES[g.UNCLEAR_CHOICE])
        right = set(question.answer)
        if set(chosen) == right:
            return g.Grade(100, g.STRONG, chosen=chosen, message="Correct.")
        if question.type == "multi":
            hits, wrong = len(right & set(chosen)), len(set(chosen) - right)
            score = max(0, round(100 * (hits - wrong) / len(right)))
            if hits and score:
                return g.Grade(score, g.PARTIAL, chosen=chosen,
                               message=f"Partly right: {hits} of {len(right)} correct options"
                                       + (f", and {wrong} wrong one(s)." if wrong else "."))
            return g.Grade(score, g.WEAK, chosen=chosen, message="Not quite.")
        return g.Grade(0, g.WEAK, chosen=chosen, message="Not quite.")

    # open answers --------------------------------------------------------------------
    def reference(self, question: str, reference: str, points: Sequence[str] = ()) -> Reference:
        key = (question, reference, tuple(points))
        ref = self._references.get(key)
        if ref is None:
            ref = prepare(self.embedder, question, reference, tuple(points))
            self._references[key] = ref
        return ref

    def grade_open(self, question: str, reference: str, answer: str,
                   key_points: Sequence[str] = (), alternatives: Sequence[str] = ()) -> Grade:
        """Grade a free-text answer. `alternatives` are other full reference answers (as in
        SemEval); the answer is graded against whichever reference it is closest to."""
        text = clean(answer)
        if not re.search(r"[^\W_]", text):
            return g.Grade(0, g.OFF_TOPIC, flag=g.EMPTY, message=MESSAGES[g.EMPTY])
        refs = [self.reference(question, reference, key_points)]
        refs += [self.reference(question, alt) for alt in alternatives
                 if alt.strip() and alt.strip() != reference.strip()]
        encoder = _Prefetched(self.embedder, self._prefetched)
        scored = []
        for ref in refs:
            analysis = analyse(encoder, ref, text)
            scored.append((self.model.probability(analysis.vector), analysis, ref))
        probability, analysis, ref = max(scored, key=lambda s: s[0])
        return self._verdict(text, probability, analysis, ref)

    def analyses(self, question: str, reference: str, answer: str,
                 key_points: Sequence[str] = (), alternatives: Sequence[str] = ()
                 ) -> list[Analysis]:
        """The feature analyses of an answer against each reference (for fitting)."""
        text = clean(answer) or "-"
        refs = [self.reference(question, reference, key_points)]
        refs += [self.reference(question, alt) for alt in alternatives
                 if alt.strip() and alt.strip() != reference.strip()]
        encoder = _Prefetched(self.embedder, self._prefetched)
        return [analyse(encoder, ref, text) for ref in refs]

    @contextmanager
    def prefetched(self, answers: Sequence[str]) -> Iterator[None]:
        """Encode the pieces of many answers in large batches up front (for evaluation runs:
        several times faster than one small batch per answer)."""
        texts: list[str] = []
        for answer in answers:
            units, whole = answer_texts(self.embedder, clean(answer) or "-")
            texts += units + whole
        unique = list(dict.fromkeys(texts))
        vectors = self.embedder.encode(unique) if unique else []
        self._prefetched = dict(zip(unique, vectors, strict=True))
        try:
            yield
        finally:
            self._prefetched = {}

    # the verdict -----------------------------------------------------------------------
    def _verdict(self, text: str, probability: float, a: Analysis, ref: Reference) -> Grade:
        if ref.explicit_points:
            # A written rubric: half the learned verdict, half the share of points made.
            probability = RUBRIC_WEIGHT * a.coverage() + (1 - RUBRIC_WEIGHT) * probability
        score = int(round(100 * probability))
        covered = [p for i, (p, s) in enumerate(zip(ref.points, a.point_sims, strict=True))
                   if s >= COVERED and i not in a.contradicted]
        missed = [p for p in ref.points if p not in covered]
        flag = self._flag(text, a, ref)
        message = ""
        if flag == g.CONTRADICTION:
            first = min(a.contradicted)
            cap = CONTRADICTION_CAP if not covered else CONTRADICTION_CAP_MIXED
            score = min(score, cap)
            message = MESSAGES[g.CONTRADICTION].format(point=ref.points[first])
        elif flag:
            score = min(score, CAPS[flag])
            message = MESSAGES[flag]
            if flag in (g.GIBBERISH, g.ECHO):
                covered, missed = [], list(ref.points)
        band = g.band_for(score)
        if not message:
            message = _summary(band, len(covered), len(ref.points))
        return g.Grade(score, band, tuple(covered), tuple(missed), flag, message)

    def _flag(self, text: str, a: Analysis, ref: Reference) -> str | None:
        c = self.checks
        tokens = words(text)
        alpha = [t for t in tokens if t.isalpha()]
        if self._gibberish(alpha, ref):
            return g.GIBBERISH
        if a.contradicted:
            return g.CONTRADICTION
        stems = set(content_stems(text))
        # An echo is made of the question's words, repeats much of the question (not just a
        # detail of its scenario), and is no closer to the reference than to the question.
        if stems and ref.question_stems and a.sim_reference - a.sim_question < c.echo_gain \
                and len(stems & ref.question_stems) / len(stems) >= c.echo_overlap \
                and len(stems & ref.question_stems) / len(ref.question_stems) >= c.echo_repeat:
            return g.ECHO
        if _keyword_list(text, c.keyword_items):
            return g.KEYWORDS
        if len(tokens) < c.min_words or (len(tokens) < c.short_words
                                          and len(tokens) < c.short_ratio * ref.reference_words):
            return g.TOO_SHORT
        return None

    def _gibberish(self, alpha: list[str], ref: Reference) -> bool:
        if not alpha:
            return False
        vocabulary = _vocabulary(self.embedder)
        known_stems = ref.reference_stems | ref.question_stems
        unknown = sum(1 for w in alpha if not _looks_like_a_word(w, vocabulary, known_stems))
        return unknown / len(alpha) > self.checks.gibberish_share


class _Prefetched:
    """Serves answer vectors computed in a batch; everything else goes to the embedder."""

    def __init__(self, embedder, vectors: dict[str, np.ndarray]):
        self.embedder, self.vectors = embedder, vectors

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.vectors and all(t in self.vectors for t in texts):
            return np.stack([self.vectors[t] for t in texts])
        return self.embedder.encode(texts)

    def count_tokens(self, text: str) -> int:
        return self.embedder.count_tokens(text)


def _vocabulary(embedder) -> frozenset[str]:
    get = getattr(embedder, "vocabulary", None)
    return get() if get else frozenset()


def _looks_like_a_word(word: str, vocabulary: frozenset[str], known: frozenset[str]) -> bool:
    if word in vocabulary or stem(word) in known or word in NEGATORS:
        return True
    if re.search(r"(.)\1\1", word) or not re.search(r"[aeiouy]", word):
        return False  # "aaaa", "sdfgh"
    # A long word the vocabulary lacks may still be a word ("autoscaling", a typo):
    # accept it when it is built from vocabulary words.
    if len(word) >= 6:
        for cut in range(3, len(word) - 2):
            if word[:cut] in vocabulary and word[cut:] in vocabulary:
                return True
        return any(word[:-k] in vocabulary for k in (1, 2) if len(word) - k >= 5)
    return False


def _keyword_list(text: str, min_items: int) -> bool:
    """A bare list of terms: no word that makes a statement, and several items."""
    tokens = words(text)
    if any(t in FUNCTION_WORDS - {"and", "or"} or t in NEGATORS for t in tokens):
        return False
    items = [i for i in re.split(r"[,;\n/]|\band\b|\bor\b", text.lower()) if i.strip()]
    real = [i for i in items if len(re.sub(r"[^a-z]", "", i)) >= 2]
    if len(real) >= min_items:
        return True
    return len(items) == 1 and len(tokens) >= 4  # "kms iam vpc cloudtrail" without commas


def _summary(band: str, covered: int, total: int) -> str:
    made = f"you made {covered} of the {total} key points"
    return {
        g.STRONG: f"Strong answer: {made}.",
        g.PARTIAL: f"Partly there: {made}; see what you missed below.",
        g.WEAK: f"Weak: {made}. Compare with the reference answer.",
        g.OFF_TOPIC: "That doesn't seem to answer this question. Have a look at the reference.",
    }[band]


Grade = g.Grade  # re-exported: `from bot.core.scoring import Grader, Grade`
__all__ = ["Grader", "Grade", "Checks", "CAPS", "MESSAGES", "derive_points"]
