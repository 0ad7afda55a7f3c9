"""What a person is asked next: spaced repetition with fsrs, and new questions by exam weight.

Pure: the clock (`now`) and the randomness (`rng`, a random.Random) come in as arguments.
fsrs's own interval fuzzing draws from the global `random` module, so it is switched off;
the intervals are then a function of the answers and the times alone, which the golden tests
pin down.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fsrs import Card, Rating, Scheduler, State
from rapidfuzz import fuzz

from bot.core.corpus import Question
from bot.core.exam import EXAMS, blueprint
from bot.core.grade import OFF_TOPIC, PARTIAL, STRONG, WEAK

# A failed answer is Again (the card goes back to the start); a partial one is Hard.
RATINGS = {STRONG: Rating.Good, PARTIAL: Rating.Hard, WEAK: Rating.Again,
           OFF_TOPIC: Rating.Again}

# One learning step: an interview answer is long, so a failed question comes back later in
# the session (not a minute later), and a good first answer goes straight to days.
SCHEDULER = Scheduler(learning_steps=(timedelta(minutes=10),),
                      relearning_steps=(timedelta(minutes=10),), enable_fuzzing=False)

# The weakest domain's blueprint weight is multiplied by this when new questions are drawn.
WEAKEST_TILT = 2.0
# A filter matches a label when rapidfuzz's WRatio reaches this (0-100) ...
MATCH_CUTOFF = 80
# ... and keeps only the labels within this many points of the best match, so "security"
# takes the items tagged security, not every item of a domain whose name ends in Security.
MATCH_MARGIN = 5
# Queries shorter than this must name a label exactly.
SHORT_QUERY = 4


def utc(moment: datetime) -> datetime:
    """The same instant in UTC; naive datetimes are refused (their zone is a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must be timezone-aware, e.g. datetime.now(UTC)")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class ReviewState:
    """One person's memory of one question, as fsrs tracks it; made for a database row."""

    question_id: str
    state: int
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime
    last_review: datetime | None
    reviews: int = 0

    def to_dict(self) -> dict:
        return {"question_id": self.question_id, "state": self.state, "step": self.step,
                "stability": self.stability, "difficulty": self.difficulty,
                "due": self.due.isoformat(),
                "last_review": self.last_review.isoformat() if self.last_review else None,
                "reviews": self.reviews}

    @classmethod
    def from_dict(cls, row: Mapping) -> ReviewState:
        last = row.get("last_review")
        return cls(question_id=row["question_id"], state=int(row["state"]), step=row["step"],
                   stability=row["stability"], difficulty=row["difficulty"],
                   due=utc(datetime.fromisoformat(row["due"])),
                   last_review=utc(datetime.fromisoformat(last)) if last else None,
                   reviews=int(row.get("reviews") or 0))

    def card(self) -> Card:
        return Card(card_id=1, state=State(self.state), step=self.step,
                    stability=self.stability, difficulty=self.difficulty, due=self.due,
                    last_review=self.last_review)


def rating_for(band: str) -> Rating:
    return RATINGS[band]


def review(previous: ReviewState | None, question_id: str, band: str,
           now: datetime) -> ReviewState:
    """The review state after answering at `now` with a grade in `band`."""
    now = utc(now)
    # card_id is fixed: fsrs would otherwise derive it from the wall clock (and sleep 1 ms).
    card = previous.card() if previous else Card(card_id=1, due=now)
    card, _ = SCHEDULER.review_card(card, rating_for(band), review_datetime=now)
    return ReviewState(question_id=question_id, state=card.state.value, step=card.step,
                       stability=card.stability, difficulty=card.difficulty, due=card.due,
                       last_review=card.last_review,
                       reviews=(previous.reviews if previous else 0) + 1)


def due_reviews(states: Iterable[ReviewState], now: datetime) -> list[ReviewState]:
    """States due at `now`, most overdue first (question id breaks ties, for determinism)."""
    now = utc(now)
    return sorted((s for s in states if s.due <= now), key=lambda s: (s.due, s.question_id))


# --- the topic / domain filter --------------------------------------------------------

def labels(question: Question) -> list[str]:
    """Everything a learner might type to mean this question's subject."""
    found = list(question.topics)
    for exam in EXAMS.values():
        task = question.exam_task(exam.code)
        if task is not None:
            found += [exam.domain_of(task), task, exam.tasks[task]]
    return found


def match_filter(query: str | None, questions: Sequence[Question]) -> list[Question]:
    """The questions whose topic, domain or task best matches `query`, forgiving typos.

    An empty query keeps every question; a query that matches nothing returns []. A query
    shorter than SHORT_QUERY characters ("s3", "iam", "4.3") must equal a label: fuzzy
    matching would find one letter inside every label."""
    if not query or not query.strip():
        return list(questions)
    needle = " ".join(query.lower().split())
    if len(needle) < SHORT_QUERY:
        return [q for q in questions if needle in (label.lower() for label in labels(q))]
    scored = []
    for question in questions:
        best = max((fuzz.WRatio(needle, label.lower()) for label in labels(question) if label),
                   default=0.0)
        scored.append((best, question))
    top = max((score for score, _ in scored), default=0.0)
    if top < MATCH_CUTOFF:
        return []
    return [q for score, q in scored if score >= max(MATCH_CUTOFF, top - MATCH_MARGIN)]


def filter_choices(questions: Sequence[Question], exam: str) -> str:
    """What a filter can name, for a query that matched nothing: the exam's domains (with
    their task numbers) and every topic of the bank."""
    domains = sorted({(q.exam_domain(exam), q.exam_task(exam).split(".")[0]) for q in questions
                      if q.in_exam(exam)}, key=lambda d: d[1])
    topics = sorted({t for q in questions for t in q.topics})
    return (f"Domains: {'; '.join(f'{name} (tasks {n}.x)' for name, n in domains)}. "
            f"Topics: {', '.join(topics)}.")


# --- choosing the next question -------------------------------------------------------

def domain_weights(exam: str, weakest: str | None) -> dict[str, float]:
    """Blueprint weights, the weakest domain's multiplied by WEAKEST_TILT."""
    weights = dict(blueprint(exam))
    if weakest in weights:
        weights[weakest] *= WEAKEST_TILT
    return weights


def weakest_domain(questions: Sequence[Question], best: Mapping[str, int],
                   exam: str) -> str | None:
    """The domain with the lowest average best score over the questions attempted in it.

    None before any attempt, or when every attempted domain stands level."""
    per_domain: dict[str, list[int]] = {}
    for question in questions:
        if question.id in best:
            per_domain.setdefault(question.exam_domain(exam), []).append(best[question.id])
    if not per_domain:
        return None
    averages = {d: sum(s) / len(s) for d, s in per_domain.items()}
    lowest = min(averages.values())
    if len(per_domain) > 1 and all(a == lowest for a in averages.values()):
        return None
    return min(sorted(averages), key=lambda d: averages[d])


def pick_new(candidates: Sequence[Question], weights: Mapping[str, float], exam: str,
             rng: random.Random) -> Question:
    """A domain drawn by weight among those with candidates left, then a question in it."""
    by_domain: dict[str, list[Question]] = {}
    for question in candidates:
        by_domain.setdefault(question.exam_domain(exam), []).append(question)
    domains = sorted(by_domain)
    chosen = rng.choices(domains, weights=[weights.get(d, 0.0) or 1e-9 for d in domains])[0]
    return rng.choice(by_domain[chosen])


def choose_next(questions: Sequence[Question], states: Iterable[ReviewState],
                best: Mapping[str, int], now: datetime, rng: random.Random, exam: str,
                last_asked: str | None = None, query: str | None = None) -> Question | None:
    """Due reviews first; then new questions by weight tilted to the weakest domain; then, with
    nothing due and nothing new, the review due soonest. Never `last_asked`. None when the
    filter leaves nothing to ask."""
    pool = [q for q in match_filter(query, questions) if q.id != last_asked]
    if not pool:
        return None
    in_pool = {q.id: q for q in pool}
    states = [s for s in states if s.question_id in in_pool]
    due = due_reviews(states, now)
    if due:
        return in_pool[due[0].question_id]
    seen = {s.question_id for s in states} | set(best)
    new = [q for q in pool if q.id not in seen]
    if new:
        weights = domain_weights(exam, weakest_domain(questions, best, exam))
        return pick_new(new, weights, exam, rng)
    upcoming = sorted(states, key=lambda s: (s.due, s.question_id))
    if upcoming:
        return in_pool[upcoming[0].question_id]
    return rng.choice(pool)
