"""The daily channel question: when it is due, posting it once, and summarising the day before.

The guard against a second post is `DailyPosts.claim` (a unique row in the database),
so restarts and a second process cannot post twice; the scheduler only decides *when* to try.
Time comes from the runtime's clock, so tests drive days by moving the clock.

The scheduler is handed the Runtime but does not import it: the Runtime holds the scheduler,
and `Host` names the little the scheduler uses, so the two modules do not import each other.
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.core.coach import Coach
from bot.slack import blocks
from bot.slack.bookkeeping import DailyPost, DailyPosts

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 30
CHANNEL_KEY = "slack.daily_channel"
TIME_KEY = "slack.daily_time"


class DailyPostFailed(Exception):
    """Slack refused the daily post (e.g. not_in_channel); str() is fit to show an admin."""


class SettingsStore(Protocol):
    def get_setting(self, key: str, default: str | None = None) -> str | None: ...
    def set_setting(self, key: str, value: str) -> None: ...


class Host(Protocol):
    """What the scheduler uses of bot.slack.runtime.Runtime."""

    coach: Coach
    settings: Settings
    client: WebClient

    def now(self) -> datetime: ...


class DailyScheduler:
    def __init__(self, rt: Host, store: SettingsStore):
        self.rt = rt
        self.store = store  # where `/mlsprep daily` keeps the channel and time: the database
        self.posts = DailyPosts(rt.coach)
        self._posted: dict[str, date] = {}  # a cache only: the database decides
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # where and when -------------------------------------------------------------------------
    def schedule(self) -> tuple[str, str]:
        """(channel, "HH:MM"): what `/mlsprep daily` set, else the environment."""
        channel = self.store.get_setting(CHANNEL_KEY) or self.rt.settings.daily_channel
        at = self.store.get_setting(TIME_KEY) or self.rt.settings.daily_time
        return channel, at

    def set_schedule(self, channel: str, at: str) -> None:
        self.store.set_setting(CHANNEL_KEY, channel)
        self.store.set_setting(TIME_KEY, at)

    def local_day(self, now: datetime) -> date:
        return now.astimezone(self.rt.settings.zone).date()

    def due(self, now: datetime) -> str | None:
        """The channel whose question is due at `now`, if any (not yet posted today)."""
        channel, at = self.schedule()
        if not channel:
            return None
        local = now.astimezone(self.rt.settings.zone)
        if local.strftime("%H:%M") < at or self._posted.get(channel) == local.date():
            return None
        return channel

    # posting --------------------------------------------------------------------------------
    def tick(self, now: datetime) -> DailyPost | None:
        channel = self.due(now)
        return self.post(channel, now) if channel else None

    def post(self, channel: str, now: datetime) -> DailyPost | None:
        """Post today's question in the channel unless it was posted already (None then)."""
        with self._lock:
            post = self.posts.claim(channel, now)
            self._posted[channel] = self.local_day(now)
            if post is None:
                return None
            try:
                sent = self.rt.client.chat_postMessage(
                    channel=channel, text=blocks.question_text(post.question),
                    blocks=blocks.daily_question_blocks(post), unfurl_links=False)
            except SlackApiError as exc:
                # Today's claim stays: a retry from another process must not post twice.
                error = exc.response.get("error", "unknown error")
                log.error("the daily question for %s was not posted: %s", channel, error)
                raise DailyPostFailed(
                    f"I couldn't post in <#{channel}> ({error}). If I'm not in the channel, "
                    "invite me with `/invite @mlsprep`; today's question is skipped.") from exc
            self.posts.record_ts(channel, post.day, sent["ts"])
            log.info("posted the daily question %s in %s", post.question.id, channel)
            self._summarise_previous(channel, post.day)
            return post

    def _summarise_previous(self, channel: str, day: date) -> None:
        previous = self.posts.previous(channel, before=day)
        if previous is None or not previous.ts:
            return
        summary = self.posts.summary(previous)
        self.rt.client.chat_postMessage(
            channel=channel, thread_ts=previous.ts, text=blocks.daily_summary_text(summary),
            blocks=blocks.daily_summary_blocks(summary))

    # the background thread -------------------------------------------------------------------
    def start(self, every: float = CHECK_EVERY_SECONDS) -> threading.Thread:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(every,),
                                            name="mlsprep-daily", daemon=True)
            self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()

    def _run(self, every: float) -> None:
        while True:
            try:
                self.tick(self.rt.now())
            except Exception:  # the loop must outlive a Slack outage or a locked database
                log.exception("daily question check failed")
            if self._stop.wait(every):
                return
