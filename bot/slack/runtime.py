"""What every listener is handed: the coach, settings, Web API client, clock and work pool."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.core.coach import Coach
from bot.slack.daily import DailyScheduler
from bot.slack.work import Work

log = logging.getLogger(__name__)

# How long a looked-up display name and time zone are trusted before asking users.info again.
PROFILE_TTL_SECONDS = 3600


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
    _profiles: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        return self.clock()

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.admins

    def person(self, team_id: str | None, user_id: str) -> str:
        """The coach's id for a Slack user, registered with their name and time zone."""
        pid = person_id(team_id or self.team_id, user_id)
        with self._lock:
            fresh = time.monotonic() - self._profiles.get(pid, -PROFILE_TTL_SECONDS) \
                < PROFILE_TTL_SECONDS
        if not fresh:
            name, tz = self._profile(user_id)
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

    def close(self) -> None:
        """Shutdown, once: stop the scheduler, finish queued work, stop the model's warm-up.

        A process must not exit while torch works in another thread (it aborts), so the
        coach's background model work is stopped and waited for last.
        """
        if self.daily is not None:
            self.daily.stop()
        self.work.shutdown()
        close = getattr(self.coach, "close", None)
        if callable(close):
            close()

    def open_dm(self, user_id: str) -> str:
        return self.client.conversations_open(users=user_id)["channel"]["id"]


def _error_code(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown error"))
    return type(exc).__name__
