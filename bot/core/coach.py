"""The coach: every use case of the study loop, shared by the terminal and Slack adapters.

INTERFACE CONTRACT (fixed; the Slack adapter and the terminal coach are written against it).
The coach knows people by an opaque `person_id` string: "slack:<team_id>:<user_id>" or
"local:<name>". It never reads a clock: every method that depends on time takes `now`, an
aware datetime. Storage and grading are handed in (a Store and a Grader), never imported
here. Domain errors are the exceptions below; adapters turn them into friendly messages.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core import leaderboard, mastery, schedule, streaks
from bot.core.corpus import Question, UnknownQuestion  # noqa: F401  (re-exported for adapters)
from bot.core.exam import EXAMS, UnknownExam, blueprint, exam
from bot.core.grade import WEAK, Grade
from bot.core.schedule import ReviewState, utc


class CoachError(Exception):
    """Base of the coach's domain errors; str(error) is fit to show a learner."""


class NoPendingQuestion(CoachError):
    """An answer arrived but no question is open for this person."""


class NoQuestionsLeft(CoachError):
    """The filter (topic, domain) matched no question."""


class UnknownPerson(CoachError):
    """No such person in the store (stats/export/forget of someone never seen)."""


@dataclass(frozen=True)
class Person:
    id: str
    display_name: str
    tz: str = "UTC"


@dataclass(frozen=True)
class Feedback:
    """What an attempt produced. `recorded` is False when the answer could not be graded."""

    question: Question
    grade: Grade
    recorded: bool
    best_before: int | None = None  # the person's best score on this question before this try
    next_review: datetime | None = None  # when the scheduler wants it again


@dataclass(frozen=True)
class DomainMastery:
    domain: str
    weight: float  # the blueprint weight (0-1)
    mastery: float  # 0-1, from the person's best scores in the domain over all its questions
    attempted: int  # distinct questions attempted in the domain
    total: int  # questions in the bank for the domain


@dataclass(frozen=True)
class Stats:
    person: Person
    attempts: int
    average_score: float | None  # None before the first attempt
    domains: tuple[DomainMastery, ...]
    current_streak: int  # days in a row, counted in the person's time zone
    longest_streak: int
    reviews_due: int
    # Sum over domains of weight x mastery (0-1): practice coverage, not a pass prediction.
    readiness: float
    exam: str


@dataclass(frozen=True)
class BoardEntry:
    rank: int
    person_id: str
    display_name: str
    points: int


@dataclass(frozen=True)
class Board:
    period: str  # "week" or "all"
    since: datetime | None  # start of the week (workspace time zone) for "week"
    entries: tuple[BoardEntry, ...]  # the top ones, best first; ties go to who got there first
    me: BoardEntry | None = None  # the asking person's own entry, even outside the top


HOW_TO_GET_A_QUESTION = "There is no open question right now: ask for one first."


class Coach:
    """The study loop. Constructed with a Corpus, a Store, a Grader and settings."""

    def __init__(self, corpus, store, grader, *, exam: str = "mls-c01", tz: str = "UTC",
                 rng=None):
        blueprint(exam)  # raises UnknownExam early
        ZoneInfo(tz)
        self.corpus = corpus
        self.store = store
        self.grader = grader
        self.exam = exam.lower()
        self.tz = tz
        self.rng = rng if rng is not None else random.Random()

    # model readiness (adapters use these to warm the model while the learner reads) ----
    def warm_up(self) -> None:
        """Start loading the grader's model in the background, if it has one to load."""
        warm = getattr(self.grader, "warm_up", None)
        if callable(warm):
            warm()

    @property
    def ready(self) -> bool:
        """True when grading will not wait for the model to load."""
        return bool(getattr(self.grader, "ready", True))

    def close(self, timeout: float | None = None) -> bool:
        """Stop background model work (waiting up to `timeout` seconds) and close the store;
        call once, at shutdown. False when model work is still running: the caller should
        then leave with os._exit, as torch aborts a normal exit under a busy thread."""
        close = getattr(self.grader, "close", None)
        idle = close(timeout) if callable(close) else True
        self.store.close()
        return idle

    # people ---------------------------------------------------------------------------
    def register(self, person_id: str, display_name: str, tz: str = "UTC") -> Person:
        """Create or update a person (display name and time zone may change)."""
        tz = _known_zone(tz, self.tz)
        name = display_name.strip() or _default_name(person_id)
        self.store.upsert_person(person_id, name, tz)
        return Person(person_id, name, tz)

    def person(self, person_id: str) -> Person | None:
        row = self.store.person(person_id)
        return Person(row["id"], row["display_name"], row["tz"]) if row else None

    def _ensure(self, person_id: str) -> None:
        self.store.ensure_person(person_id, _default_name(person_id), self.tz)

    def exam_for(self, person_id: str) -> str:
        """The exam the person prepares for: their own choice, else the workspace default."""
        row = self.store.person(person_id)
        return (row or {}).get("exam") or self.exam

    def choose_exam(self, person_id: str, code: str) -> str:
        """Store the person's exam (an exam code, any case); returns the code. Raises
        CoachError naming the codes for anything else."""
        try:
            chosen = exam(code).code
        except UnknownExam:
            raise CoachError(f"“{code}” is not an exam I know: use one of "
                             f"{', '.join(EXAMS)}.") from None
        self._ensure(person_id)
        self.store.set_exam(person_id, chosen)
        return chosen

    # practice -------------------------------------------------------------------------
    def question(self, question_id: str) -> Question:
        """A question by id (one an adapter carried, e.g. in a button); raises UnknownQuestion."""
        return self.corpus.get(question_id)

    def next_question(self, person_id: str, now: datetime, topic: str | None = None) -> Question:
        """Due reviews first, then new questions by domain weight tilted to the weakest domain;
        never the question just asked. `topic` matches a topic, domain or task fuzzily.
        The question becomes the person's pending question (persisted)."""
        now = utc(now)
        self._ensure(person_id)
        last = self.store.pending(person_id)
        last_asked = last["question_id"] if last else None
        code = self.exam_for(person_id)
        question = schedule.choose_next(
            self._bank(code), self._states(person_id), self.store.best_scores(person_id), now,
            self.rng, code, last_asked=last_asked, query=topic)
        if question is None:
            raise NoQuestionsLeft(self._nothing_left(topic, last_asked, code))
        self.store.set_pending(person_id, question.id, now)
        return question

    def _bank(self, code: str | None = None) -> list[Question]:
        """The questions an exam tests (default: the workspace's exam)."""
        code = code or self.exam
        return [q for q in self.corpus if q.in_exam(code)]

    def pending(self, person_id: str) -> Question | None:
        """The open question awaiting this person's answer, if any."""
        row = self.store.pending(person_id)
        if not row or not row["is_open"] or row["question_id"] not in self.corpus:
            return None
        return self.corpus.get(row["question_id"])

    def answer(self, person_id: str, text: str, now: datetime, source: str = "cli",
               question_id: str | None = None,
               on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        """Grade an answer to `question_id` (default: the pending question), record the attempt,
        update the review schedule and clear the pending question. Ungradable answers (empty,
        unclear choice) are not recorded and leave the question pending.
        `on_record(feedback)` runs inside the attempt's transaction (an adapter queues the
        reply there, so the attempt and its reply are stored together or not at all).
        Raises NoPendingQuestion, UnknownQuestion."""
        now = utc(now)
        if question_id is None:
            open_question = self.pending(person_id)
            if open_question is None:
                raise NoPendingQuestion(HOW_TO_GET_A_QUESTION)
            question = open_question
        else:
            question = self.corpus.get(question_id)
        self._ensure(person_id)
        return self._grade_and_record(person_id, question, text, now, source,
                                      on_record=on_record)

    def give_up(self, person_id: str, now: datetime, source: str = "cli",
                on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        """Record a miss on the pending question (score 0: review brings it back soon) so its
        answer can be shown. `on_record` as in `answer`. Raises NoPendingQuestion."""
        now = utc(now)
        question = self.pending(person_id)
        if question is None:
            raise NoPendingQuestion(HOW_TO_GET_A_QUESTION)
        return self._record(person_id, question, "", Grade(0, WEAK, missed=question.key_points),
                            now, source, on_record=on_record)

    def ask(self, person_id: str, question_id: str, now: datetime) -> Question:
        """Make one given question the pending one (a scripted session). Raises UnknownQuestion."""
        question = self.corpus.get(question_id)
        self._ensure(person_id)
        self.store.set_pending(person_id, question.id, utc(now))
        return question

    def _grade_and_record(self, person_id: str, question: Question, text: str, now: datetime,
                          source: str, daily_id: int | None = None,
                          on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        grade = self.grader.grade(question, text)
        if not grade.gradable:
            return Feedback(question=question, grade=grade, recorded=False)
        return self._record(person_id, question, text, grade, now, source, daily_id,
                            on_record=on_record)

    def _record(self, person_id: str, question: Question, text: str, grade: Grade,
                now: datetime, source: str, daily_id: int | None = None,
                on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        best_before = self.store.best_scores(person_id).get(question.id)
        updated: list[ReviewState] = []

        def next_state(row: dict | None) -> dict:
            # Runs inside the write transaction, so two answers at once cannot lose a review.
            previous = ReviewState.from_dict(row) if row else None
            state = schedule.review(previous, question.id, grade.band, now)
            updated.append(state)
            return state.to_dict()

        def feedback() -> Feedback:
            return Feedback(question=question, grade=grade, recorded=True,
                            best_before=best_before,
                            next_review=updated[-1].due if updated else None)

        self.store.record_attempt(
            person_id, question.id, text, grade.score, grade.band, grade.covered,
            grade.contradicted + grade.missed, source, now, review=next_state,
            daily_id=daily_id, close_pending=True,
            then=(lambda _: on_record(feedback())) if on_record is not None else None)
        return feedback()

    def hint(self, person_id: str, question_id: str | None = None) -> str:
        if question_id is not None:
            question = self.corpus.get(question_id)
        else:
            question = self.pending(person_id)
            if question is None:
                raise NoPendingQuestion(HOW_TO_GET_A_QUESTION)
        if question.hint:
            return question.hint
        if question.is_choice:
            return "Rule out the options that are clearly wrong first, then compare the rest."
        return (f"Think about {', '.join(question.topics)}; a strong answer makes "
                f"{len(question.key_points)} distinct points.")

    def skip(self, person_id: str, now: datetime, topic: str | None = None) -> Question:
        """Drop the pending question (no attempt recorded) and return the next one."""
        self.store.close_pending(person_id)
        return self.next_question(person_id, now, topic)

    def topics(self) -> list[str]:
        return self.corpus.topics()

    def _states(self, person_id: str) -> list[ReviewState]:
        return [ReviewState.from_dict(r) for r in self.store.review_states(person_id)]

    def _nothing_left(self, topic: str | None, last_asked: str | None,
                      code: str | None = None) -> str:
        code = code or self.exam
        if topic and not schedule.match_filter(topic, self._bank(code)):
            return (f"No question matches “{topic}”. "
                    f"{schedule.filter_choices(self._bank(code), code)}")
        if last_asked:
            what = f"on “{topic}”" if topic else "in the bank"
            return f"That was the only question {what}; try another topic."
        return "The question bank is empty."

    # progress -------------------------------------------------------------------------
    def stats(self, person_id: str, now: datetime, exam_code: str | None = None) -> Stats:
        """Progress in the person's exam (or in `exam_code`, to look at another one)."""
        now = utc(now)
        person = self.person(person_id)
        if person is None:
            raise UnknownPerson(f"No progress stored for {_default_name(person_id)} yet.")
        code = exam_code or self.exam_for(person_id)
        attempts, average = self.store.attempt_summary(person_id)
        rows = mastery.domain_mastery(self._bank(code), self.store.best_scores(person_id),
                                      code)
        times = [datetime.fromisoformat(t) for t in self.store.attempt_times(person_id)]
        current, longest = streaks.streaks(times, person.tz, now)
        due = [s for s in schedule.due_reviews(self._states(person_id), now)
               if s.question_id in self.corpus]
        return Stats(
            person=person, attempts=attempts,
            average_score=round(average, 1) if average is not None else None,
            domains=tuple(DomainMastery(d, w, m, a, t) for d, w, m, a, t in rows),
            current_streak=current, longest_streak=longest, reviews_due=len(due),
            readiness=mastery.readiness(rows), exam=code)

    def leaderboard(self, now: datetime, period: str = "week", person_id: str | None = None,
                    limit: int = 10) -> Board:
        now = utc(now)
        if period not in ("week", "all"):
            raise CoachError(f"The board is by “week” or “all” time, not “{period}”.")
        since = until = None
        if period == "week":
            since = leaderboard.week_start(now, self.tz)
            until = leaderboard.week_end(since)
        standing = leaderboard.standings(self.store.scoring_rows(since, until))
        names = self.store.display_names()
        entries = [BoardEntry(rank, s.person_id, names.get(s.person_id, s.person_id), s.points)
                   for rank, s in enumerate(standing, start=1)]
        me = next((e for e in entries if e.person_id == person_id), None)
        return Board(period=period, since=since, entries=tuple(entries[:limit]), me=me)

    def forget(self, person_id: str) -> int:
        """Delete every row about the person; returns how many rows went."""
        if self.store.person(person_id) is None:
            raise UnknownPerson(f"Nothing is stored about {_default_name(person_id)}.")
        return self.store.delete_person(person_id)

    def export(self, person_id: str) -> dict:
        """Everything stored about the person, JSON-serialisable."""
        data = self.store.export_person(person_id)
        if data is None:
            raise UnknownPerson(f"Nothing is stored about {_default_name(person_id)}.")
        return {"exam": self.exam_for(person_id), **data}

    # the daily question, shared by everyone -------------------------------------------
    def shared_question(self, avoid: Collection[str] = ()) -> Question:
        """A new question for everyone at once (the daily question): picked by the
        workspace exam's blueprint weights, and not one of `avoid` while others remain.
        Raises NoQuestionsLeft."""
        bank = self._bank()
        pool = [q for q in bank if q.id not in avoid] or bank
        if not pool:
            raise NoQuestionsLeft("The question bank is empty.")
        return schedule.pick_new(pool, blueprint(self.exam), self.exam, self.rng)

    def answer_daily(self, person_id: str, daily_id: int, question_id: str, text: str,
                     now: datetime,
                     on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        """Grade an answer to a daily question (source "daily"); `daily_id` is the record of
        that day's question, which earns participation points once per person.
        Raises UnknownQuestion."""
        now = utc(now)
        question = self.corpus.get(question_id)
        self._ensure(person_id)
        return self._grade_and_record(person_id, question, text, now, "daily",
                                      daily_id=daily_id, on_record=on_record)


def _default_name(person_id: str) -> str:
    """"local:ada" -> "ada"; "slack:T1:U2" -> "U2"."""
    return person_id.rsplit(":", 1)[-1] or person_id


def _known_zone(tz: str, fallback: str) -> str:
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback
    return tz
