"""Grading against a written rubric: which key points an answer makes, contradicts or misses.

Similarity finds what an answer talks about; entailment decides whether it says it right.
The entailment judge (bot.nli.EntailmentModel, handed in) reads the answer, in windows when
it is long, with each key point and says entails / contradicts / neither. The verdicts map
onto the 0-5 rubric of docs/scoring.md, and the rubric grade onto 0-100:

    grade   meaning                                  score    band
    5       every key point, nothing wrong           85-100   strong
    4       all key points but one                   70-84    strong
    3       some key points, nothing wrong           40-69    partial
    2       on topic, no key point made              25-39    weak
    1       contradicts a key point                  15-24    weak
    0       about something else (topicality)        0-14     off-topic

Topicality is decided on its own, from how close the answer is to this question compared
with the rest of the bank, never from a low score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from bot.core.text import sentences, words

# Score range of each rubric grade: (lowest, highest).
RANGES = {5: (85, 100), 4: (70, 84), 3: (40, 69), 2: (25, 39), 1: (15, 24), 0: (0, 14)}
# Fitted by scripts/fit_rubric.py on the dev set's fitting part.
THRESHOLDS_FILE = Path(__file__).resolve().parents[1] / "rubric.json"
WINDOW_WORDS = 90  # the judge reads at most 160 tokens with the key point; 90 words fit


@dataclass(frozen=True)
class Thresholds:
    """Calibration, fitted on the dev set's fitting part (see docs/scoring.md)."""

    made: float = 0.5  # entailment probability at which a point counts as made
    # ... or the similarity of the answer's closest clause to the point: the judge misses
    # points made in other words or packed into a dense sentence, which similarity finds.
    # 1.01 turns it off.
    sim_made: float = 1.01
    contradicted: float = 0.5  # contradiction probability at which a point is contradicted
    # ... provided it is at least this share of the entailment probability: an answer that
    # talks about a point is often judged to entail it too, so 0 lets contradiction win.
    contra_vs_entail: float = 0.0
    on_topic: float = 0.45  # similarity to this question above which an answer is on topic
    off_topic: float = 0.2  # ... below which it is off topic whatever else holds
    closer_elsewhere: float = 0.1  # off topic when another question is closer by this much
    # The judge reads a point only when the answer's closest clause is at least this similar
    # to it: an answer that never comes near a point neither makes nor contradicts it (the
    # clause-level negation check still runs), and the judge's pairs are most of a grade's time.
    judge_from: float = 0.0

    @classmethod
    def load(cls, path: Path = THRESHOLDS_FILE) -> Thresholds:
        """The fitted thresholds, or the defaults above when none were fitted."""
        if not path.exists():
            return cls()
        values = json.loads(path.read_text(encoding="utf-8"))
        return cls(**{f.name: float(values[f.name]) for f in fields(cls) if f.name in values})


@dataclass(frozen=True)
class PointVerdicts:
    """Per key point: what the judge says, how close the answer comes, and whether a clause
    that is mainly about the point says its opposite in so many words."""

    entail: np.ndarray  # best entailment probability per key point, over the windows
    contradict: np.ndarray  # best contradiction probability per key point
    similarity: np.ndarray | None = None  # best clause similarity per key point
    negated: frozenset[int] = frozenset()  # points a clause negates ("disable versioning")

    def within(self, t: Thresholds) -> PointVerdicts:
        """These verdicts with the points the judge does not read (below `judge_from`) set to
        neither: what `judge_points` returns when it skips them."""
        if self.similarity is None or t.judge_from <= 0:
            return self
        far = self.similarity < t.judge_from
        return replace(self, entail=np.where(far, 0.0, self.entail),
                       contradict=np.where(far, 0.0, self.contradict))

    def made(self, t: Thresholds) -> list[int]:
        against = set(self.contradicted(t))
        close = (self.similarity if self.similarity is not None
                 else np.zeros(len(self.entail)))
        return [i for i in range(len(self.entail)) if i not in against
                and (self.entail[i] >= t.made or close[i] >= t.sim_made)]

    def contradicted(self, t: Thresholds) -> list[int]:
        return [i for i in range(len(self.contradict))
                if i in self.negated or (
                    self.contradict[i] >= t.contradicted
                    and self.contradict[i] >= self.entail[i] * t.contra_vs_entail)]


@dataclass(frozen=True)
class Evidence:
    """What the models say about one answer; the verdict is then a pure function of it."""

    sim_this: float  # closest similarity to this question's reference, prompt or a point
    sim_elsewhere: float  # closest similarity to another question's reference
    verdicts: PointVerdicts | None  # None for gibberish (not judged)
    gibberish: bool = False
    no_claim: str | None = None  # an echo or a bare list of terms (a flag)
    too_short: bool = False  # short for the question: too short unless it makes a point
    tiny: bool = False  # a few words: too short whatever they make


def windows(text: str, limit: int = WINDOW_WORDS) -> list[str]:
    """The answer whole when it is short; else runs of whole sentences of about `limit`
    words, each overlapping the next by one sentence, so that a sentence that retracts or
    negates what came before is read together with it."""
    if len(words(text)) <= limit:
        return [text]
    parts = sentences(text) or [text]
    found, current = [], []
    for sentence in parts:
        if current and len(words(" ".join(current + [sentence]))) > limit:
            found.append(" ".join(current))
            current = current[-1:]
        current.append(sentence)
    if current:
        found.append(" ".join(current))
    return found


def judge_points(judge, text: str, points: Sequence[str], similarity: np.ndarray | None = None,
                 negated: frozenset[int] = frozenset(), judge_from: float = 0.0
                 ) -> PointVerdicts:
    """Ask the judge about every key point the answer comes near (`similarity` at least
    `judge_from`) against each window of the answer; a point keeps its best entailment and
    its best contradiction over the windows, and a point not read is neither. (Judging each
    clause as well was tried: better on the fitting part, worse on the checking part; see
    docs/scoring.md.)"""
    spans = windows(text)
    read = [i for i in range(len(points))
            if similarity is None or judge_from <= 0 or similarity[i] >= judge_from]
    pairs = [(span, points[i]) for i in read for span in spans]
    probs = judge.predict(pairs).reshape(len(read), len(spans), 3)
    entail, contradict = np.zeros(len(points)), np.zeros(len(points))
    # LABELS order: contradiction, entailment, neutral
    entail[read] = probs[:, :, 1].max(axis=1)
    contradict[read] = probs[:, :, 0].max(axis=1)
    return PointVerdicts(entail=entail, contradict=contradict,
                         similarity=similarity, negated=frozenset(negated))


def rubric_grade(made: int, total: int, contradicted: int) -> int:
    """The 0-5 rubric grade of an on-topic answer from its point verdicts."""
    if contradicted:
        return 1
    if made == 0:
        return 2
    if made >= total:
        return 5
    if made == total - 1 and total >= 3:
        return 4
    return 3


def score_in_grade(grade: int, strength: float) -> int:
    """A 0-100 score inside the grade's range; `strength` 0-1 places it within the range."""
    low, high = RANGES[grade]
    return int(round(low + (high - low) * float(np.clip(strength, 0.0, 1.0))))


def topicality(sim_this: float, sim_elsewhere: float, t: Thresholds) -> bool:
    """True when the answer is about this question rather than something else."""
    if sim_this < t.off_topic:
        return False
    if sim_this >= t.on_topic:
        return True
    return sim_elsewhere - sim_this < t.closer_elsewhere
