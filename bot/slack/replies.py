"""Sending: the few ways the bot answers, shared by every kind of listener."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.core.coach import CoachError, NoQuestionsLeft, Question, UnknownQuestion
from bot.slack import blocks
from bot.slack.outbox import reply
from bot.slack.runtime import Runtime

log = logging.getLogger(__name__)


def friendly(error: Exception) -> str:
    """A domain error as a sentence for the learner."""
    if isinstance(error, UnknownQuestion):
        return ("That question is no longer in the bank (it may have been renamed). "
                "Say `next` for a new one.")
    if isinstance(error, CoachError):
        return str(error)
    return "Something went wrong on my side; nothing you sent was lost. Please try again."


# --- replies as outbox rows: written with the attempt, posted by the outbox ---------------------

def post_reply(channel: str, message_blocks: list[dict], text: str) -> dict:
    return reply("chat.postMessage", channel=channel, blocks=message_blocks, text=text,
                 unfurl_links=False, unfurl_media=False)


def notice_reply(channel: str, text: str) -> dict:
    return post_reply(channel, blocks.notice_blocks(text), text)


def ephemeral_reply(channel: str, user: str, message_blocks: list[dict], text: str,
                    thread_ts: str | None = None) -> dict:
    return reply("chat.postEphemeral", channel=channel, user=user, blocks=message_blocks,
                 text=text, thread_ts=thread_ts)


def reaction_reply(channel: str, ts: str, name: str) -> dict:
    return reply("reactions.add", channel=channel, timestamp=ts, name=name)


def update_reply(channel: str, ts: str, message_blocks: list[dict], text: str) -> dict:
    return reply("chat.update", channel=channel, ts=ts, blocks=message_blocks, text=text)


# --- direct replies: for what is not an answer (asking, hints, stats) -------------------------

def post(rt: Runtime, channel: str, message_blocks: list[dict], text: str) -> dict:
    return rt.client.chat_postMessage(channel=channel, blocks=message_blocks, text=text,
                                      unfurl_links=False, unfurl_media=False).data


def say(rt: Runtime, channel: str, text: str) -> dict:
    return post(rt, channel, blocks.notice_blocks(text), text)


def ephemeral(rt: Runtime, channel: str, user: str, message_blocks: list[dict], text: str,
              thread_ts: str | None = None) -> None:
    rt.client.chat_postEphemeral(channel=channel, user=user, blocks=message_blocks, text=text,
                                 thread_ts=thread_ts)


def ask(rt: Runtime, pid: str, channel: str, topic: str | None = None,
        intro: str = "") -> Question | None:
    """Pick the person's next question and post it (`/mlsprep ask`)."""
    try:
        question = rt.coach.next_question(pid, rt.now(), topic=topic)
    except NoQuestionsLeft as exc:  # its message names the topic and the nearest ones
        say(rt, channel, f"{exc} `/mlsprep topics` lists what I can ask about.")
        return None
    post(rt, channel, blocks.question_blocks(question, intro=intro,
                                             exam=rt.coach.exam_for(pid)),
         blocks.question_text(question))
    return question


def react(rt: Runtime, channel: str, ts: str, name: str) -> None:
    try:
        rt.client.reactions_add(channel=channel, timestamp=ts, name=name)
    except SlackApiError as exc:
        if exc.response.get("error") != "already_reacted":
            raise
