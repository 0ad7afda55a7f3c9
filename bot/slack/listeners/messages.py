"""Message events: practice in the bot's DM, and thread replies to the daily question.

The listener only classifies the event and hands it to the work pool; Bolt acks the event as
soon as it returns. Every other message (edits, joins, the bot's own posts, top-level channel
chatter) and every event nobody listens to still gets a 200, so Slack does not retry it.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import App

from bot.core.coach import CoachError, NotADailyThread
from bot.slack import blocks
from bot.slack.listeners.commands import help_message
from bot.slack.replies import ask, ephemeral, friendly, post, react, say
from bot.slack.runtime import Runtime
from bot.slack.text import answer_problem, parse_dm, plain_text

log = logging.getLogger(__name__)

# Subtypes that still carry a person's words; every other subtype is ignored (with a 200).
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")
SCORED_REACTION = "white_check_mark"  # the same for every score: the channel sees no grades
WARMING_UP = "Got it. The scoring model is still warming up; your score follows in a moment."


def classify(event: dict, bot_user_id: str | None) -> str | None:
    """"dm", "thread" (a reply in a channel thread) or None for messages the bot ignores."""
    if event.get("bot_id") or event.get("subtype") not in HANDLED_SUBTYPES:
        return None
    user = event.get("user")
    if not user or user == bot_user_id:
        return None
    if event.get("channel_type") == "im":
        return "dm"
    thread_ts = event.get("thread_ts")
    if thread_ts and thread_ts != event.get("ts") and event.get("channel_type") in (
            "channel", "group"):
        return "thread"
    return None


def register(app: App, rt: Runtime) -> None:
    @app.event("message")
    def on_message(body, event, context):
        kind = classify(event, context.bot_user_id)
        if kind is None:
            return
        team = context.team_id or body.get("team_id")
        if kind == "dm":
            rt.work.submit(handle_dm, rt, body.get("event_id", ""), team, event["user"],
                           event["channel"], event.get("text", ""))
        else:
            rt.work.submit(handle_thread_reply, rt, body.get("event_id", ""), team,
                           event["user"], event["channel"], event["thread_ts"], event["ts"],
                           event.get("text", ""))

    # Anything else Slack sends (subscribed or not) is acknowledged, never a 404.
    @app.event(re.compile(".*"))
    def on_other_event():
        return None


# --- direct messages -------------------------------------------------------------------------

def is_retry(rt: Runtime, event_id: str, now) -> bool:
    """True for a second delivery of an event (Slack retries): it must not be handled twice."""
    if event_id and not rt.coach.first_delivery(event_id, now):
        log.info("event %s delivered again: ignored", event_id)
        return True
    return False


def handle_dm(rt: Runtime, event_id: str, team: str, user: str, channel: str,
              raw: str) -> None:
    now = rt.now()
    if is_retry(rt, event_id, now):
        return
    pid = rt.person(team, user)
    text = plain_text(raw)
    pending = rt.coach.pending(pid)
    intent = parse_dm(text, pending is not None)
    if intent.kind == "answer":
        problem = answer_problem(text)
        if problem:
            say(rt, channel, problem)
        elif rt.work.when_ready(grade_dm, rt, pid, channel, text, now, pending.id):
            say(rt, channel, WARMING_UP)
    elif intent.kind == "question":
        ask(rt, pid, channel, intent.topic, intro="Here's a question for you.")
    elif intent.kind == "skip":
        ask(rt, pid, channel, intent.topic, skip=True, intro="Skipped. Try this one instead.")
    elif intent.kind == "repeat":
        post(rt, channel, blocks.question_blocks(pending, intro="Your open question:",
                                                 exam=rt.coach.exam_for(pid)),
             blocks.question_text(pending))
    elif intent.kind == "hint":
        try:
            hint = rt.coach.hint(pid)
        except CoachError as exc:
            say(rt, channel, friendly(exc))
            return
        post(rt, channel, blocks.hint_blocks(pending, hint), f"Hint: {hint}")
    elif intent.kind == "stats":
        stats = rt.coach.stats(pid, now)
        post(rt, channel, blocks.stats_blocks(stats), "Your progress")
    else:  # help
        reply = help_message()
        post(rt, channel, reply["blocks"], reply["text"])


def grade_dm(rt: Runtime, pid: str, channel: str, text: str, now, question_id: str) -> None:
    # The question comes from the answer's intake: the pending one may have changed since
    # (a Skip pressed while this job waited for the model or for a pool thread).
    try:
        feedback = rt.coach.answer(pid, text, now, source="dm", question_id=question_id)
    except Exception as exc:  # a domain error, or the grader failed: the question stays open
        if not isinstance(exc, CoachError | KeyError):
            log.exception("grading a DM answer failed")
        say(rt, channel, friendly(exc))
        return
    post(rt, channel, blocks.feedback_blocks(feedback), blocks.feedback_text(feedback))


# --- thread replies to the daily question ---------------------------------------------------

def handle_thread_reply(rt: Runtime, event_id: str, team: str, user: str, channel: str,
                        thread_ts: str, ts: str, raw: str) -> None:
    try:
        rt.daily.posts.for_thread(channel, thread_ts)
    except NotADailyThread:
        return  # an ordinary thread in a channel the bot is in
    now = rt.now()
    if is_retry(rt, event_id, now):
        return
    pid = rt.person(team, user)
    text = plain_text(raw)
    problem = answer_problem(text)
    if problem:
        ephemeral(rt, channel, user, blocks.notice_blocks(problem), problem, thread_ts)
    elif rt.work.when_ready(grade_thread_reply, rt, pid, user, channel, thread_ts, ts, text, now):
        ephemeral(rt, channel, user, blocks.notice_blocks(WARMING_UP), WARMING_UP, thread_ts)


def grade_thread_reply(rt: Runtime, pid: str, user: str, channel: str, thread_ts: str, ts: str,
                       text: str, now) -> None:
    try:
        feedback = rt.coach.answer_daily(pid, channel, thread_ts, text, now)
    except Exception as exc:  # a domain error, or the grader failed: nothing was recorded
        if not isinstance(exc, CoachError | KeyError):
            log.exception("grading a thread reply failed")
        ephemeral(rt, channel, user, blocks.notice_blocks(friendly(exc)), friendly(exc),
                  thread_ts)
        return
    ephemeral(rt, channel, user, blocks.daily_feedback_blocks(feedback),
              blocks.feedback_text(feedback), thread_ts)
    if feedback.recorded:
        react(rt, channel, ts, SCORED_REACTION)
