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
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.core import grade as g
from bot.core import rubric
from bot.core.choice import parse_choice, unclear_choice_message
from bot.core.corpus import Question
from bot.core.features import (
    COVERED,
    Analysis,
    Reference,
    analyse,
    answer_texts,
    derive_points,
    prepare,
    reference_texts,
)
from bot.core.learned import DEFAULT_MODEL, LearnedGrader
from bot.core.markup import clean
from bot.core.point_model import PointModel
from bot.core.point_model import load_default as load_point_model
from bot.core.text import FUNCTION_WORDS, NEGATORS, content_stems, stem, words

# Caps: the most an answer of each kind can score, whatever the models say. An echo of the
# question is rubric grade 2 (true, on topic, not an answer) at the floor of its range.
CAPS = {g.TOO_SHORT: 30, g.ECHO: 25, g.GIBBERISH: 0, g.KEYWORDS: 35}
CONTRADICTION_CAP = 30  # when the contradiction is all the answer says
CONTRADICTION_CAP_MIXED = 60  # when it also makes other points: partial at best

RUBRIC_WEIGHT = 0.5  # weight of key-point coverage when the question has written key points

MESSAGES = {
    g.EMPTY: "That was an empty answer. Type an answer first.",
    g.TOO_SHORT: "That's very short - say in a sentence or two what you would do and why.",
    g.ECHO: "That mostly repeats the question back - say what you would actually do.",
    g.GIBBERISH: "I couldn't read that as words - try again in plain sentences.",
    g.KEYWORDS: "That's a list of terms - explain how they answer the question to get credit.",
    g.CONTRADICTION: "Careful: you said the opposite of a key point: {point}",
    g.OFF_TOPIC: "That doesn't seem to answer this question - it reads like an answer about "
                 "something else. Have a look at the reference.",
}
# The band each rubric grade lands in (docs/scoring.md).
GRADE_BANDS = {5: g.STRONG, 4: g.STRONG, 3: g.PARTIAL, 2: g.WEAK, 1: g.WEAK, 0: g.OFF_TOPIC}


@dataclass(frozen=True)
class Checks:
    """Thresholds of the rule checks, named so tests and docs can refer to them."""

    min_words: int = 3
    # Fewer words than this are too short whatever they name ("Use spot instances."): a bare
    # phrase gives no reason, and the judge credits a lone term with the point it names.
    tiny_words: int = 4
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
                 checks: Checks | None = None, judge=None,
                 thresholds: rubric.Thresholds | None = None, bank: Iterable[Question] = (),
                 point_model: PointModel | bool = True):
        self.embedder = embedder
        self._model = model
        self.checks = checks or Checks()
        # The entailment judge (bot.nli.EntailmentModel): with it, answers to questions
        # with written key points are graded on the rubric; other answers, and all answers
        # without it, by the learned grader.
        self.judge = judge
        self.thresholds = thresholds or rubric.Thresholds.load()
        # The learned reading of each point's verdict (bot/core/point_model.py): True for
        # the shipped one (when there is one), False for the thresholds alone. Only the
        # rubric reads it, and only with a judge.
        if point_model is True:
            point_model = load_point_model() if judge is not None else None
        self.point_model = point_model or None
        self._references: dict[tuple, Reference] = {}
        # Answer vectors encoded ahead in a batch (`prefetched`), per thread: a grading
        # thread only ever reads the vectors it was handed, never another thread's.
        self._local = threading.local()
        # Every open question's reference vector, so that topicality can ask "is this
        # answer closer to another question of the bank?" Encoded on first need.
        self._bank = tuple(q for q in bank if not q.is_choice)
        self._topics: dict[str, np.ndarray] = {}

    @property
    def model(self) -> LearnedGrader:
        """The learned grader, read on first use (fitting needs features before it exists)."""
        if not isinstance(self._model, LearnedGrader):
            self._model = LearnedGrader.load(self._model or DEFAULT_MODEL)
        return self._model

    # the coach's entry point ---------------------------------------------------------
    def grade(self, question: Question, answer: str,
              vectors: Mapping[str, np.ndarray] | None = None) -> Grade:
        """Grade one answer. `vectors` are answer pieces encoded ahead (`encode_answers`);
        without them, those of the enclosing `prefetched` block, else encoded here."""
        if question.is_choice:
            return self.grade_choice(question, answer)
        return self.grade_open(question.prompt, question.reference_answer, answer,
                               question.key_points, vectors=vectors)

    def grade_many(self, items: Sequence[tuple[Question, str]]) -> list[Grade]:
        """Grade several answers with one embedder call for all their pieces (and one for
        any reference side not prepared yet), then each on its own with those vectors: the
        same grades as one by one. The entailment judge reads pairs one at a time whatever
        the batch (bot/nli.py: on a CPU, batching pairs only adds padding)."""
        open_items = [(q, a) for q, a in items if not q.is_choice]
        self.prepare_references(q for q, _ in open_items)
        vectors = self.encode_answers([a for _, a in open_items])
        return [self.grade(q, a, vectors=vectors) for q, a in items]

    def encode_answers(self, answers: Sequence[str]) -> dict[str, np.ndarray]:
        """Every piece of these answers that grading encodes (clauses or windows, the whole
        answer), each distinct text once, in one embedder call: text -> vector. Pass it to
        `grade`/`grade_open`, or use it in a `prefetched` block. Nothing here is stored."""
        texts: list[str] = []
        for answer in answers:
            text = clean(answer) or "-"  # what grade_open and analyses read
            units, whole = answer_texts(self.embedder, text)
            texts += units + whole
            if self.judge is not None:
                texts.append(text)  # the rubric's whole-answer vector
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        return dict(zip(unique, self.embedder.encode(unique), strict=True))

    def prepare_references(self, questions: Iterable[Question]) -> int:
        """Prepare the reference side of these open questions, encoding whatever is not
        prepared yet in one call (through the embedder's cache). Returns how many were new."""
        missing = {}
        for q in questions:
            key = (q.prompt, q.reference_answer, tuple(q.key_points))
            if not q.is_choice and key not in self._references:
                missing[key] = q
        if not missing:
            return 0
        encode = getattr(self.embedder, "encode_cached", None)
        if encode is not None:  # one call fills the cache; prepare() then reads from it
            encode([t for q in missing.values() for t in reference_texts(
                self.embedder, q.prompt, q.reference_answer, tuple(q.key_points))])
        for q in missing.values():
            self.reference(q.prompt, q.reference_answer, q.key_points)
        return len(missing)

    def warm(self, questions: Iterable[Question]) -> int:
        """Encode the reference side of every open question now (through the cache), so
        the first learner does not wait. Returns how many were prepared."""
        count = 0
        for q in questions:
            if not q.is_choice:
                ref = self.reference(q.prompt, q.reference_answer, q.key_points)
                self._topics[q.prompt] = ref.reference_vec
                count += 1
        return count

    def _topic_vectors(self) -> dict[str, np.ndarray]:
        """The bank's reference vectors, encoded in one batch on first need (through the
        embedder's cache when it has one), not question by question."""
        missing = [q for q in self._bank if q.prompt not in self._topics]
        if missing:
            encode = getattr(self.embedder, "encode_cached", self.embedder.encode)
            vectors = encode([q.reference_answer for q in missing])
            self._topics.update(zip((q.prompt for q in missing), vectors, strict=True))
        return self._topics

    # choice items --------------------------------------------------------------------
    def grade_choice(self, question: Question, answer: str) -> Grade:
        text = clean(answer)
        if not re.search(r"\w", text):
            return g.Grade(0, g.OFF_TOPIC, flag=g.EMPTY, message=MESSAGES[g.EMPTY])
        chosen = parse_choice(question, text)
        if chosen is None:
            return g.Grade(0, g.OFF_TOPIC, flag=g.UNCLEAR_CHOICE,
                           message=unclear_choice_message(question))
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
                   key_points: Sequence[str] = (), alternatives: Sequence[str] = (),
                   vectors: Mapping[str, np.ndarray] | None = None) -> Grade:
        """Grade a free-text answer. `alternatives` are other full reference answers (as in
        SemEval); the answer is graded against whichever reference it is closest to."""
        text = clean(answer)
        if not re.search(r"[^\W_]", text):
            return g.Grade(0, g.OFF_TOPIC, flag=g.EMPTY, message=MESSAGES[g.EMPTY])
        if vectors is None and getattr(self._local, "vectors", None) is None:
            # Every piece in one call rather than one per step: the embedder can spread
            # one call's runs over the cores it was given.
            vectors = self.encode_answers([answer])
        if self.judge is not None and any(p.strip() for p in key_points):
            ref = self.reference(question, reference, key_points)
            return rubric_verdict(self.rubric_evidence(text, ref, vectors), ref.points,
                                  self.thresholds, self.point_model)
        # Without written key points (SemEval rows) the learned grader decides: judging a
        # whole reference answer at once was less accurate on SemEval than its features.
        refs = [self.reference(question, reference, key_points)]
        refs += [self.reference(question, alt) for alt in alternatives
                 if alt.strip() and alt.strip() != reference.strip()]
        encoder = self._encoder(vectors)
        scored = []
        for ref in refs:
            analysis = analyse(encoder, ref, text)
            scored.append((self.model.probability(analysis.vector), analysis, ref))
        probability, analysis, ref = max(scored, key=lambda s: s[0])
        return self._verdict(text, probability, analysis, ref)

    def analyses(self, question: str, reference: str, answer: str,
                 key_points: Sequence[str] = (), alternatives: Sequence[str] = (),
                 vectors: Mapping[str, np.ndarray] | None = None) -> list[Analysis]:
        """The feature analyses of an answer against each reference (for fitting)."""
        text = clean(answer) or "-"
        refs = [self.reference(question, reference, key_points)]
        refs += [self.reference(question, alt) for alt in alternatives
                 if alt.strip() and alt.strip() != reference.strip()]
        encoder = self._encoder(vectors)
        return [analyse(encoder, ref, text) for ref in refs]

    @contextmanager
    def prefetched(self, answers: Sequence[str] = (),
                   vectors: Mapping[str, np.ndarray] | None = None) -> Iterator[None]:
        """Grade inside this block with the pieces of many answers encoded up front in one
        call (`encode_answers`), or with `vectors` already encoded: several times faster
        than one small call per answer. Only the calling thread's grading sees them, so
        threads grading side by side never share or clear each other's vectors."""
        if vectors is None:
            vectors = self.encode_answers(answers)
        before = getattr(self._local, "vectors", None)
        self._local.vectors = vectors
        try:
            yield
        finally:
            self._local.vectors = before

    def _encoder(self, vectors: Mapping[str, np.ndarray] | None) -> _Prefetched:
        """The embedder, serving the answer vectors handed in (or the enclosing
        `prefetched` block's) without encoding them again."""
        if vectors is None:
            vectors = getattr(self._local, "vectors", None)
        return _Prefetched(self.embedder, vectors or {})

    # the rubric ------------------------------------------------------------------------
    def rubric_evidence(self, text: str, ref: Reference,
                        vectors: Mapping[str, np.ndarray] | None = None) -> rubric.Evidence:
        """Everything the rubric verdict needs from the models, for one cleaned answer."""
        encoder = self._encoder(vectors)
        vector = encoder.encode([text])[0]
        sims = [float(ref.reference_vec @ vector), float(ref.question_vec @ vector)]
        sims += [float(s) for s in ref.point_vecs @ vector]
        elsewhere = [float(v @ vector) for prompt, v in self._topic_vectors().items()
                     if prompt != ref.question]
        gibberish = self._gibberish([w for w in words(text) if w.isalpha()], ref)
        verdicts = None
        if not gibberish:
            # Similarity per point and the clause-level negation check come from the same
            # analysis the learned grader uses; the judge adds entailment per point.
            analysis = analyse(encoder, ref, text)
            verdicts = rubric.judge_points(self.judge, text, ref.points,
                                           similarity=analysis.point_sims,
                                           negated=frozenset(analysis.contradicted),
                                           judge_from=self.thresholds.judge_from)
        return rubric.Evidence(
            sim_this=max(sims), sim_elsewhere=max(elsewhere, default=0.0), verdicts=verdicts,
            gibberish=gibberish, no_claim=self._no_claim(text, ref, vector),
            too_short=self._too_short(text, ref),
            tiny=len(words(text)) < self.checks.tiny_words)

    def _no_claim(self, text: str, ref: Reference, vector: np.ndarray) -> str | None:
        """The question echoed back or a bare list of terms: the answer states nothing."""
        c = self.checks
        stems = set(content_stems(text))
        gain = float(ref.reference_vec @ vector) - float(ref.question_vec @ vector)
        if stems and ref.question_stems and gain < c.echo_gain \
                and len(stems & ref.question_stems) / len(stems) >= c.echo_overlap \
                and len(stems & ref.question_stems) / len(ref.question_stems) >= c.echo_repeat:
            return g.ECHO
        if _keyword_list(text, c.keyword_items):
            return g.KEYWORDS
        return None

    def _too_short(self, text: str, ref: Reference) -> bool:
        c = self.checks
        tokens = words(text)
        return len(tokens) < c.min_words or (
            len(tokens) < c.short_words and len(tokens) < c.short_ratio * ref.reference_words)

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


def rubric_verdict(evidence: rubric.Evidence, points: Sequence[str],
                   t: rubric.Thresholds, point_model: PointModel | None = None) -> Grade:
    """The Grade of an answer from its evidence: pure, so that thresholds can be fitted.
    With `point_model`, it decides which points are made and adds contradictions."""
    points = tuple(points)
    if evidence.gibberish:
        return g.Grade(0, g.OFF_TOPIC, (), points, g.GIBBERISH, MESSAGES[g.GIBBERISH])
    verdicts = evidence.verdicts.within(t)
    if point_model is not None:
        made, contradicted = point_model.verdicts(evidence, t)
    else:
        made, contradicted = verdicts.made(t), verdicts.contradicted(t)
    # Far from everything this question is about, an answer is off topic whatever the judge
    # reads into it; closer, a point made or contradicted puts it on topic.
    on_topic = evidence.sim_this >= t.off_topic and (
        bool(made or contradicted)
        or rubric.topicality(evidence.sim_this, evidence.sim_elsewhere, t))
    if not on_topic:
        score = rubric.score_in_grade(0, evidence.sim_this / t.on_topic)
        return g.Grade(score, g.OFF_TOPIC, (), points, None, MESSAGES[g.OFF_TOPIC])
    flag = None
    if contradicted:
        grade, flag = 1, g.CONTRADICTION
        strength = 1.0 - float(verdicts.contradict[contradicted].max())
    else:
        # An echo or a bare list states nothing, whatever words it shares with the points;
        # a few words that make no point are too short to judge.
        short = evidence.tiny or (evidence.too_short and not made)
        flag = evidence.no_claim or (g.TOO_SHORT if short else None)
        if flag:
            made = []
        grade = rubric.rubric_grade(len(made), len(points), 0)
        if flag:
            strength = 0.0
        elif not made:
            # No point made: how near the answer came to making one (the best entailment,
            # under the `made` threshold), so a near miss ranks above talk around the terms.
            strength = float(verdicts.entail.max(initial=0.0)) / max(t.made, 1e-6)
        else:
            strength = float(verdicts.entail.mean())
    score = rubric.score_in_grade(grade, strength)
    covered = tuple(points[i] for i in made)
    against = tuple(points[i] for i in contradicted)
    missed = tuple(p for i, p in enumerate(points) if i not in made and i not in contradicted)
    band = GRADE_BANDS[grade]
    if flag == g.CONTRADICTION:
        message = MESSAGES[g.CONTRADICTION].format(point=against[0])
    elif flag:
        message = MESSAGES[flag]
    else:
        message = _summary(band, len(covered), len(points))
    return g.Grade(score, band, covered, missed, flag, message, contradicted=against)


class _Prefetched:
    """Serves answer vectors computed in a batch; everything else goes to the embedder."""

    def __init__(self, embedder, vectors: Mapping[str, np.ndarray]):
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
