"""What the grader looks at: an answer measured against a reference, point by point.

`prepare` turns a question into a Reference once (vectors through the embedder's cache);
`analyse` encodes one answer's sentences in a single batch and computes the feature vector
the learned grader reads. The same features serve SemEval rows and corpus questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz

from bot.core.text import clauses, content_stems, flipped, negative_forms, sentences, words

WINDOW_TOKENS = 200  # below the model's 256-token window, leaving room for special tokens
WINDOW_WORDS = 100  # texts shorter than this in words cannot reach WINDOW_TOKENS
COVERED = 0.55  # a point's best sentence similarity at which it counts as made
POINT_FLOOR, POINT_FULL = 0.35, 0.70  # partial credit for a point between these
PAIRED = 0.5  # similarity at which an answer sentence is read as talking about a point
NEAR_BEST = 0.15
PAIRED_FORM = 0.3  # the same, when the sentence negates the point with a negative form

FEATURES = (
    "sim_whole", "point_mean", "point_min", "point_max", "point_covered", "unit_precision",
    "sim_question", "ref_question", "gain", "lex_recall_new", "lex_recall", "lex_precision",
    "lex_echo", "fuzzy", "log_words", "length_ratio", "contradictions", "negation_mismatch",
)


@dataclass(frozen=True)
class Reference:
    """A question's reference side, encoded once and reused for every answer."""

    question: str
    reference: str
    points: tuple[str, ...]
    question_vec: np.ndarray
    reference_vec: np.ndarray
    point_vecs: np.ndarray
    question_stems: frozenset[str]
    reference_stems: frozenset[str]
    reference_words: int
    explicit_points: bool  # key points were written for the question (not derived)
    # Points the clause-level negation check finds negated by the reference answer itself
    # ("...which are not included in Invocations" against the point it makes): the check
    # misreads them, and an answer that words them as the reference does is not wrong.
    negated_by_itself: frozenset[int] = frozenset()


@dataclass
class Analysis:
    """One answer against one Reference."""

    units: list[str]
    point_sims: np.ndarray  # best sentence similarity per key point
    contradicted: dict[int, str] = field(default_factory=dict)  # point index -> sentence
    vector: np.ndarray = field(default_factory=lambda: np.zeros(len(FEATURES)))
    word_count: int = 0
    sim_question: float = 0.0
    sim_reference: float = 0.0

    def feature(self, name: str) -> float:
        return float(self.vector[FEATURES.index(name)])

    def coverage(self) -> float:
        """0-1: how fully the key points are made, each point's best similarity mapped
        linearly from POINT_FLOOR (nothing) to POINT_FULL (made); contradicted points 0."""
        credit = np.clip((self.point_sims - POINT_FLOOR) / (POINT_FULL - POINT_FLOOR), 0, 1)
        for p in self.contradicted:
            credit[p] = 0.0
        return float(credit.mean()) if len(credit) else 0.0


def derive_points(reference: str) -> tuple[str, ...]:
    """Key points of a reference that has none: its sentences."""
    return tuple(sentences(reference)) or (reference,)


def reference_texts(embedder, question: str, reference: str,
                    points: tuple[str, ...] = ()) -> list[str]:
    """What `prepare` encodes for a question, each text once: the prompt, the reference answer
    (in windows when it is long), the key points (or the reference's sentences when none are
    written) and the reference's clauses (the negation check reads it as an answer)."""
    return _reference_pieces(embedder, question, reference, points)[3]


def _reference_pieces(embedder, question: str, reference: str, points: tuple[str, ...]
                      ) -> tuple[list[str], tuple[str, ...], list[str], list[str]]:
    """(the reference's windows, the points, the reference's clauses, every distinct text)."""
    points = tuple(p for p in points if p.strip()) or derive_points(reference)
    windows = _fit(embedder, [reference])
    clauses = answer_texts(embedder, reference)[0]
    return windows, points, clauses, list(dict.fromkeys([question, *windows, *points, *clauses]))


def prepare(embedder, question: str, reference: str, points: tuple[str, ...] = ()) -> Reference:
    explicit = any(p.strip() for p in points)
    windows, points, clauses, texts = _reference_pieces(embedder, question, reference, points)
    encode = getattr(embedder, "encode_cached", embedder.encode)
    vector = dict(zip(texts, encode(texts), strict=True))
    point_vecs = np.stack([vector[p] for p in points])
    clause_vecs = np.stack([vector[c] for c in clauses])
    return Reference(
        question=question, reference=reference, points=points,
        question_vec=vector[question],
        reference_vec=_normalise(np.stack([vector[w] for w in windows]).mean(axis=0)),
        point_vecs=point_vecs,
        question_stems=frozenset(content_stems(question)),
        reference_stems=frozenset(content_stems(reference + " " + " ".join(points))),
        reference_words=max(1, len(words(reference))),
        explicit_points=explicit,
        negated_by_itself=frozenset(_negated(points, clauses, point_vecs @ clause_vecs.T)),
    )


def answer_texts(embedder, answer: str) -> tuple[list[str], list[str]]:
    """The pieces of an answer that get encoded: its clauses (so each point of "encrypt it,
    block public access and log reads" is seen on its own; a one-clause sentence is its own
    unit), and, for a one-sentence answer, the whole; each split to fit the model's window.
    A longer answer's whole is the mean of its units: encoding it again would cost as much
    as all the units together."""
    found = sentences(answer)
    units = [c for sentence in found for c in (clauses(sentence) or [sentence])]
    units = _fit(embedder, list(dict.fromkeys(units))) or [answer]
    return units, (_fit(embedder, [answer]) if len(found) <= 1 else [])


def analyse(embedder, ref: Reference, answer: str) -> Analysis:
    units, whole = answer_texts(embedder, answer)
    texts = list(dict.fromkeys(units + whole))
    vecs = embedder.encode(texts)
    index = {t: i for i, t in enumerate(texts)}
    unit_vecs = vecs[[index[u] for u in units]]
    whole_vecs = vecs[[index[w] for w in whole]] if whole else unit_vecs
    whole_vec = _normalise(whole_vecs.mean(axis=0))
    # Units: the clauses and the whole answer, so a point made across sentences counts.
    all_vecs = np.vstack([unit_vecs, whole_vec[None, :]])
    sims = ref.point_vecs @ all_vecs.T  # points x units
    point_sims = sims.max(axis=1)

    contradicted = _negated(ref.points, units, sims[:, :len(units)],
                            skip=ref.negated_by_itself)

    answer_stems = content_stems(answer)
    a_set = set(answer_stems)
    new_ref = ref.reference_stems - ref.question_stems
    n_words = len(words(answer))
    sim_whole = float(whole_vec @ ref.reference_vec)
    sim_q = float(whole_vec @ ref.question_vec)
    unit_best = np.maximum((ref.point_vecs @ unit_vecs.T).max(axis=0),
                           unit_vecs @ ref.reference_vec)
    negation = _negations(answer) % 2 != _negations(ref.reference) % 2
    values = [
        sim_whole,
        float(point_sims.mean()),
        float(point_sims.min()),
        float(point_sims.max()),
        float((point_sims >= COVERED).mean()),
        float(unit_best.mean()),
        sim_q,
        float(ref.reference_vec @ ref.question_vec),
        sim_whole - sim_q,
        len(a_set & new_ref) / len(new_ref) if new_ref else 0.0,
        len(a_set & ref.reference_stems) / max(1, len(ref.reference_stems)),
        len(a_set & (ref.reference_stems | ref.question_stems)) / len(a_set) if a_set else 0.0,
        len(a_set & ref.question_stems) / len(a_set) if a_set else 0.0,
        fuzz.token_set_ratio(answer.lower(), ref.reference.lower()) / 100.0,
        float(np.log1p(n_words)),
        min(3.0, n_words / ref.reference_words),
        float(len(contradicted)),
        float(negation),
    ]
    return Analysis(units=units, point_sims=point_sims, contradicted=contradicted,
                    vector=np.array(values, dtype=np.float64), word_count=n_words,
                    sim_question=sim_q, sim_reference=sim_whole)


def _negated(points: Sequence[str], units: Sequence[str], sims: np.ndarray,
             skip: frozenset[int] = frozenset()) -> dict[int, str]:
    """Point index -> the clause that says its opposite; `sims` is points x clauses.
    Contradictions are looked for clause by clause: the negation and the similarity are
    judged on the same short span, so a "not" elsewhere in a long sentence cannot pair
    with a point that the rest of the sentence happens to resemble."""
    contradicted: dict[int, str] = {}
    for p, point in enumerate(points):
        if p in skip:
            continue
        for u, unit in enumerate(units):
            # The clause must be mainly about this point (its best match, or nearly) to
            # contradict it.
            if sims[p, u] < PAIRED_FORM or sims[p, u] < sims[:, u].max() - NEAR_BEST:
                continue
            flips = flipped(unit, point)
            # A negative form ("unencrypted", "disable") is a clear signal, so it needs less
            # similarity than a "not" whose scope is a guess.
            if flips and (sims[p, u] >= PAIRED or flips & negative_forms(unit)):
                contradicted[p] = unit
                break
    return contradicted


def _negations(text: str) -> int:
    return sum(1 for w in words(text) if w in ("not", "n't", "no", "never", "without"))


def _normalise(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm else v.astype(np.float32)


def _fit(embedder, texts: list[str]) -> list[str]:
    """Split any text too long for the model's window into overlapping windows of words,
    so nothing past the window is silently dropped."""
    out: list[str] = []
    for text in texts:
        ws = text.split()
        if len(ws) < WINDOW_WORDS or embedder.count_tokens(text) <= WINDOW_TOKENS:
            out.append(text)
            continue
        start = 0
        while start < len(ws):
            piece = ws[start:start + WINDOW_WORDS]
            while len(piece) > 10 and embedder.count_tokens(" ".join(piece)) > WINDOW_TOKENS:
                piece = piece[: int(len(piece) * 0.8)]
            out.append(" ".join(piece))
            if start + len(piece) >= len(ws):
                break
            start += len(piece) - min(20, len(piece) // 4)  # windows overlap a little
    return out
