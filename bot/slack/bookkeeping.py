"""Slack's own records: the event ids it delivered, and for the daily channel question which
question a channel got on which day, the ts of the message that holds it, and who answered in
its thread.

The coach picks and grades questions; which Slack message carries a question, and which
event was seen already, is the adapter's business, so it is kept here, over the store (where
its SQL lives, with all the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.coach import Coach, CoachError, Feedback
from bot.core.corpus import Question
from bot.core.schedule import utc

# How many past daily questions of a channel are not asked again there.
DAILY_NO_REPEAT = 60
# Processed Slack event ids are kept this long; Slack retries within minutes.
EVENT_MEMORY = timedelta(days=2)


class NotADailyThread(CoachError):
    """A thread reply that does not belong to a daily question post."""


def take_job(store, job: dict, now: datetime) -> str:
    """Record a Slack event's job with its event id, forgetting ids older than EVENT_MEMORY:
    "new", "unfinished" (a retry of an open job) or "duplicate" (see Store.take_job)."""
    now = utc(now)
    return store.take_job(job, now, forget_before=now - EVENT_MEMORY)


@dataclass(frozen=True)
class DailyPost:
    channel: str
    day: date  # the local date in the workspace time zone
    question: Question
    ts: str | None  # Slack message ts once posted; the thread key for answers
    id: int | None = None  # the record's id: the coach's daily_id


@dataclass(frozen=True)
class DailySummary:
    post: DailyPost
    answered: int
    average_score: float | None
    best: tuple[tuple[str, str, int], ...] = field(default=())  # (person_id, display_name, score)


class DailyPosts:
    """The daily posts of every channel, over the coach's store and bank."""

    def __init__(self, coach: Coach):
        self.coach = coach
        self.store = coach.store

    def claim(self, channel: str, now: datetime) -> DailyPost | None:
        """Claim today's post for the channel (today in the workspace time zone) and pick its
        question. Returns None when today's post was already claimed, by this process or any
        other: the guard is a unique row in the database. Raises NoQuestionsLeft."""
        now = utc(now)
        day = now.astimezone(ZoneInfo(self.coach.tz)).date()
        if self.store.daily_by_day(channel, day) is not None:
            return None
        recent = set(self.store.recent_daily_questions(channel, DAILY_NO_REPEAT))
        question = self.coach.shared_question(avoid=recent)
        daily_id = self.store.claim_daily(channel, day, question.id, now)
        if daily_id is None:
            return None
        return DailyPost(channel=channel, day=day, question=question, ts=None, id=daily_id)

    def record_ts(self, channel: str, day: date, ts: str) -> None:
        self.store.set_daily_ts(channel, day, ts)

    def for_thread(self, channel: str, thread_ts: str) -> DailyPost:
        """Raises NotADailyThread."""
        row = self.store.daily_by_ts(channel, thread_ts)
        if row is None:
            raise NotADailyThread("That thread is not a daily question.")
        return self._post(row)

    def answer(self, person_id: str, channel: str, thread_ts: str, text: str, now: datetime,
               on_record: Callable[[Feedback], None] | None = None) -> Feedback:
        """Grade a thread reply to a daily post (see Coach.answer_daily). Raises
        NotADailyThread."""
        post = self.for_thread(channel, thread_ts)
        return self.coach.answer_daily(person_id, post.id, post.question.id, text, now,
                                       on_record=on_record)

    def previous(self, channel: str, before: date) -> DailyPost | None:
        row = self.store.previous_daily(channel, before)
        return self._post(row) if row else None

    def summary(self, post: DailyPost) -> DailySummary:
        """How many people answered, their average, and the best three (each person's best
        score counts once; a tie goes to who answered first)."""
        row = self.store.daily_by_day(post.channel, post.day)
        attempts = self.store.daily_attempts(row["id"]) if row else []
        best: dict[str, tuple[str, int, str]] = {}  # person -> (name, best score, first at)
        for a in attempts:
            known = best.get(a["person_id"])
            if known is None or a["score"] > known[1]:
                best[a["person_id"]] = (a["display_name"], a["score"], a["created_at"])
        ranked = sorted(best.items(), key=lambda item: (-item[1][1], item[1][2], item[0]))
        average = (round(sum(score for _, score, _ in best.values()) / len(best), 1)
                   if best else None)
        return DailySummary(post=post, answered=len(best), average_score=average,
                            best=tuple((pid, name, score) for pid, (name, score, _) in ranked[:3]))

    def _post(self, row: dict) -> DailyPost:
        return DailyPost(channel=row["channel"], day=date.fromisoformat(row["day"]),
                         question=self.coach.question(row["question_id"]), ts=row["ts"],
                         id=row["id"])
