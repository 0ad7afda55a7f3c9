"""The coach: every use case of the study loop, shared by the terminal and Slack adapters.

INTERFACE CONTRACT (fixed; the Slack adapter and the terminal coach are written against it).
The coach knows people by an opaque `person_id` string: "slack:<team_id>:<user_id>" or
"local:<name>". It never reads a clock: every method that depends on time takes `now`, an
aware datetime. Storage and grading are handed in (a Store and a Grader), never imported
here. Domain errors are the exceptions below; adapters turn them into friendly messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.core.corpus import Question, UnknownQuestion  # noqa: F401  (re-exported for adapters)
from bot.core.grade import Grade


class CoachError(Exception):
    """Base of the coach's domain errors; str(error) is fit to show a learner."""


class NoPendingQuestion(CoachError):
    """An answer arrived but no question is open for this person."""


class NoQuestionsLeft(CoachError):
    """The filter (topic, domain) matched no question."""


class UnknownPerson(CoachError):
    """No such person in the store (stats/export/forget of someone never seen)."""


class NotADailyThread(CoachError):
    """A thread reply that does not belong to a daily question post."""


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
    readiness: float  # sum over domains of weight x mastery (0-1): practice coverage, not a pass prediction
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


@dataclass(frozen=True)
class DailyPost:
    channel: str
    day: date  # the local date in the workspace time zone
    question: Question
    ts: str | None  # Slack message ts once posted; the thread key for answers


@dataclass(frozen=True)
class DailySummary:
    post: DailyPost
    answered: int
    average_score: float | None
    best: tuple[tuple[str, str, int], ...] = field(default=())  # (person_id, display_name, score)


class Coach:
    """The study loop. Constructed with a Corpus, a Store, a Grader and settings."""

    def __init__(self, corpus, store, grader, *, exam: str = "mls-c01", tz: str = "UTC",
                 rng=None):
        raise NotImplementedError

    # people ---------------------------------------------------------------------------
    def register(self, person_id: str, display_name: str, tz: str = "UTC") -> Person:
        """Create or update a person (display name and time zone may change)."""
        raise NotImplementedError

    # practice -------------------------------------------------------------------------
    def next_question(self, person_id: str, now: datetime, topic: str | None = None) -> Question:
        """Due reviews first, then new questions by domain weight tilted to the weakest domain;
        never the question just asked. `topic` matches a topic, domain or task fuzzily.
        The question becomes the person's pending question (persisted)."""
        raise NotImplementedError

    def pending(self, person_id: str) -> Question | None:
        """The open question awaiting this person's answer, if any."""
        raise NotImplementedError

    def answer(self, person_id: str, text: str, now: datetime, source: str = "cli",
               question_id: str | None = None) -> Feedback:
        """Grade an answer to `question_id` (default: the pending question), record the attempt,
        update the review schedule and clear the pending question. Ungradable answers (empty,
        unclear choice) are not recorded and leave the question pending.
        Raises NoPendingQuestion, UnknownQuestion."""
        raise NotImplementedError

    def hint(self, person_id: str, question_id: str | None = None) -> str:
        raise NotImplementedError

    def skip(self, person_id: str, now: datetime, topic: str | None = None) -> Question:
        """Drop the pending question (no attempt recorded) and return the next one."""
        raise NotImplementedError

    def topics(self) -> list[str]:
        raise NotImplementedError

    # progress -------------------------------------------------------------------------
    def stats(self, person_id: str, now: datetime) -> Stats:
        raise NotImplementedError

    def leaderboard(self, now: datetime, period: str = "week", person_id: str | None = None,
                    limit: int = 10) -> Board:
        raise NotImplementedError

    def forget(self, person_id: str) -> int:
        """Delete every row about the person; returns how many rows went."""
        raise NotImplementedError

    def export(self, person_id: str) -> dict:
        """Everything stored about the person, JSON-serialisable."""
        raise NotImplementedError

    # the daily channel question ------------------------------------------------------
    def claim_daily(self, channel: str, now: datetime) -> DailyPost | None:
        """Claim today's post for the channel (today in the workspace time zone) and pick its
        question. Returns None when today's post was already claimed, by this process or any
        other: the guard is a unique row in the database."""
        raise NotImplementedError

    def record_daily_ts(self, channel: str, day: date, ts: str) -> None:
        raise NotImplementedError

    def daily_for_thread(self, channel: str, thread_ts: str) -> DailyPost:
        """Raises NotADailyThread."""
        raise NotImplementedError

    def previous_daily(self, channel: str, before: date) -> DailyPost | None:
        raise NotImplementedError

    def answer_daily(self, person_id: str, channel: str, thread_ts: str, text: str,
                     now: datetime) -> Feedback:
        """Grade a thread reply to a daily post (source "daily"); participation points once
        per person per post."""
        raise NotImplementedError

    def daily_summary(self, post: DailyPost) -> DailySummary:
        raise NotImplementedError

    # Slack delivery bookkeeping ------------------------------------------------------
    def first_delivery(self, event_id: str, now: datetime) -> bool:
        """True the first time an event id is seen, False for every retry (atomic in the DB)."""
        raise NotImplementedError
