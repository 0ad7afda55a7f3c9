"""What every listener is handed: the coach, settings, Web API client, clock and work pool."""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.core import turn
from bot.core.coach import Coach
from bot.slack.daily import DailyScheduler
from bot.slack.text import plain_text
from bot.slack.work import Work

if TYPE_CHECKING:
    from bot.slack.jobs import Jobs
    from bot.slack.outbox import Outbox

log = logging.getLogger(__name__)

# How long a looked-up display name and time zone are trusted before asking users.info again.
PROFILE_TTL_SECONDS = 3600
# Shutdown must fit gunicorn's graceful timeout (10 s): running jobs get this long to finish,
# queued replies this long to go out; whatever is left stays in the database for the next
# start.
SHUTDOWN_JOBS_SECONDS = 4.0
SHUTDOWN_OUTBOX_SECONDS = 2.0
SHUTDOWN_MODEL_SECONDS = 2.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def person_id(team_id: str, user_id: str) -> str:
    return f"slack:{team_id}:{user_id}"


@dataclass
class Runtime:
    coach: Coach
    settings: Settings
    client: WebClient
    work: Work
    clock: Callable[[], datetime] = utc_now
    bot_user_id: str = ""
    team_id: str = ""
    daily: DailyScheduler | None = None  # set by register()
    jobs: Jobs | None = None  # set by register(): durable work taken from Slack
    outbox: Outbox | None = None  # set by register(): replies to deliver
    _profiles: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock()

    @property
    def store(self):
        """The coach's store: jobs and the outbox live in the same database as progress."""
        return self.coach.store

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.admins

    def person(self, team_id: str | None, user_id: str) -> str:
        """The coach's id for a Slack user, registered with their name and time zone."""
        pid = person_id(team_id or self.team_id, user_id)
        with self._lock:
            fresh = time.monotonic() - self._profiles.get(pid, -PROFILE_TTL_SECONDS) \
                < PROFILE_TTL_SECONDS
        if not fresh:
            try:
                name, tz = self._profile(user_id)
            except (OSError, http.client.HTTPException) as exc:
                # Slack unreachable (refused, reset, timed out): grading must not fail on a
                # display name, or a job retried a few times turns the answer into an
                # apology. The stored profile stays (the coach adds a new person under their
                # id) and is looked up again next time.
                reason = getattr(exc, "reason", None)  # urllib's URLError wraps the cause
                cause = reason if isinstance(reason, BaseException) else exc
                log.warning("users.info for %s unreachable (%s): profile kept", user_id,
                            type(cause).__name__)
                return pid
            self.coach.register(pid, name, tz)
            with self._lock:
                self._profiles[pid] = time.monotonic()
        return pid

    def forget_profile(self, pid: str) -> None:
        with self._lock:
            self._profiles.pop(pid, None)

    def _profile(self, user_id: str) -> tuple[str, str]:
        try:
            user = self.client.users_info(user=user_id)["user"]
        except (SlackApiError, KeyError, TypeError) as exc:
            # Without users:read (or for a deleted user) the coach still works with the id.
            log.warning("users.info for %s failed: %s", user_id, _error_code(exc))
            return user_id, self.settings.tz
        profile = user.get("profile") or {}
        name = (profile.get("display_name") or profile.get("real_name") or user.get("real_name")
                or user.get("name") or user_id)
        return name, user.get("tz") or self.settings.tz

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until the pool, the jobs and the outbox have nothing left (tests)."""
        deadline = time.monotonic() + timeout
        for part in (self.work, self.jobs, self.outbox, self.work):
            if part is not None and not part.idle(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def close(self) -> bool:
        """Shutdown, once, within gunicorn's graceful timeout: stop the scheduler, start no
        new job, let running ones finish, post what is due, stop the model's warm-up.

        Nothing durable is lost by stopping early: unfinished jobs and undelivered replies
        are rows, resumed by the next start. A process must not exit while torch works in
        another thread (it aborts), so the coach's background model work is stopped last;
        False when model work (a warm-up, a job still grading) is still running: the caller
        then leaves with os._exit.
        """
        if self.daily is not None:
            self.daily.stop()
        # Jobs and the pool share one window, so the whole stop fits the graceful timeout.
        deadline = time.monotonic() + SHUTDOWN_JOBS_SECONDS
        stopped = self.jobs.stop(SHUTDOWN_JOBS_SECONDS) if self.jobs is not None else True
        self.work.shutdown(max(0.0, deadline - time.monotonic()))
        if self.outbox is not None:
            self.outbox.stop(SHUTDOWN_OUTBOX_SECONDS)
        close = getattr(self.coach, "close", None)
        idle = bool(close(SHUTDOWN_MODEL_SECONDS)) if callable(close) else True
        # A job still grading uses the model too: its row stays open, but the process
        # must not exit normally under it.
        return idle and stopped

    # grading waiting answers together (bot.slack.jobs) --------------------------------------
    def is_answer(self, job: dict) -> bool:
        """Whether a job is an answer to grade, read from its row alone (no database): a
        reply in a daily thread, or a DM that is no command word while a question was open
        when it came (or that was parked as an answer). A wrong guess costs nothing but
        speed: the job runs its usual way whatever is said here."""
        if job.get("kind") == "thread":
            return True
        if job.get("kind") != "dm":
            return False
        open_question = bool(job.get("question_id")) or bool(job.get("waited"))
        return turn.parse(plain_text(job.get("answer")), open_question).kind == turn.ANSWER

    def encode_answers(self, jobs: list[dict]) -> dict | None:
        """The pieces of these answers encoded in one embedder call (their questions' reference
        side too, in one more, when it is not prepared yet); None when the grader has no
        such thing or the model is not ready."""
        encode = getattr(self.coach.grader, "encode_answers", None)
        if encode is None or not self.coach.ready:
            return None
        questions = []
        for job in jobs:
            try:
                if job.get("question_id"):
                    questions.append(self.coach.question(job["question_id"]))
            except KeyError:  # a question gone from the bank: its job reports that itself
                continue
        return encode([plain_text(job.get("answer")) for job in jobs], questions)

    def grading_with(self, vectors: dict | None) -> AbstractContextManager:
        """The context in which this thread grades with answer vectors encoded ahead."""
        prefetched = getattr(self.coach.grader, "prefetched", None)
        if prefetched is None or not vectors:
            return nullcontext()
        return prefetched(vectors=vectors)

    def open_dm(self, user_id: str) -> str:
        return self.client.conversations_open(users=user_id)["channel"]["id"]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown error"))
    return type(exc).__name__
