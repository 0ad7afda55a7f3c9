"""Message events: practice in the bot's DM, and thread replies to the daily question.

The listener classifies the event and writes it as a job, in the transaction that records its
event id (`take`); Bolt acks once that has committed, so an acked answer is never lost. The
job runs later in a worker (`run_dm_job`, `run_thread_job`): what a DM means, and whether an
answer can be graded, is bot.core.turn's; an answer is graded (`run_answer`, shared with
clicked choices) and its feedback queued in the attempt's own transaction. Every other
message (edits, joins, the bot's own posts, top-level channel chatter) and every event nobody
listens to still gets a 200, so Slack does not retry it.
"""

from __future__ import annotations

import logging
import re

from slack_bolt import App

from bot.core import turn
from bot.core.coach import Feedback, Question
from bot.core.grade import EMPTY
from bot.core.turn import Problem
from bot.slack import blocks
from bot.slack.bookkeeping import NotADailyThread, take_job
from bot.slack.jobs import WAIT
from bot.slack.listeners.commands import help_message
from bot.slack.replies import (
    ephemeral_reply,
    notice_reply,
    post,
    post_reply,
    reaction_reply,
    say,
)
from bot.slack.runtime import Runtime, person_id
from bot.slack.text import only_markup, plain_text
from bot.store import parse_time

log = logging.getLogger(__name__)

# Subtypes that still carry a person's words; every other subtype is ignored (with a 200).
HANDLED_SUBTYPES = (None, "file_share", "thread_broadcast")
SCORED_REACTION = "white_check_mark"  # the same for every score: the channel sees no grades
WARMING_UP = "Got it. The scoring model is still warming up; your score follows in a moment."
QUIT_REPLY = ("OK, stopping here. An open question stays open: say `hi` to see it again, or "
              "`quiz` for a new one, whenever you like.")


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


def register(app: App) -> None:
    app.event("message")(on_message)
    # Anything else Slack sends (subscribed or not) is acknowledged, never a 404.
    app.event(re.compile(".*"))(on_other_event)


def on_message(rt: Runtime, body: dict, event: dict, context) -> None:
    """Take a message the bot handles as a durable job (acked once it is committed)."""
    kind = classify(event, context.bot_user_id)
    if kind is None:
        return
    team = context.team_id or body.get("team_id") or rt.team_id
    pid = person_id(team, event["user"])
    job = {"event_id": body.get("event_id") or None, "kind": kind, "person_id": pid,
           "user_id": event["user"], "channel": event["channel"], "ts": event.get("ts"),
           "answer": event.get("text") or ""}
    if kind == "dm":
        pending = rt.coach.pending(pid)
        job["question_id"] = pending.id if pending else None
    else:
        try:
            post_ = rt.daily.posts.for_thread(event["channel"], event["thread_ts"])
        except (NotADailyThread, KeyError):
            return  # an ordinary thread in a channel the bot is in
        job.update(thread_ts=event["thread_ts"], question_id=post_.question.id)
    take(rt, job)


def on_other_event() -> None:
    return None


def take(rt: Runtime, job: dict) -> None:
    """Commit the job with its event id before the ack. A retried event whose job is still
    unfinished is run (not added again); one whose job finished is dropped."""
    taken = take_job(rt.store, job, rt.now())
    if taken == "duplicate":
        log.info("event %s delivered again: already handled", job.get("event_id"))
        return
    if taken == "unfinished":
        log.info("event %s delivered again: its job is still queued", job.get("event_id"))
    rt.jobs.nudge()


def finish(rt: Runtime, job: dict, *replies: dict) -> None:
    rt.store.finish_job(job["id"], list(replies))
    rt.outbox.nudge()


def queue_with_attempt(rt: Runtime, job: dict, make_replies):
    """The `on_record` hook: the job is finished and its replies queued inside the attempt's
    transaction. A job that was already finished rolls the attempt back (it ran twice)."""
    def on_record(feedback) -> None:
        if not rt.store.finish_job(job["id"], make_replies(feedback)):
            raise AlreadyDone(job["id"])

    return on_record


class AlreadyDone(Exception):
    """The job was finished by an earlier run: its attempt must not be stored twice."""


def wait_for_model(rt: Runtime, job: dict, notice: dict, question_id: str | None = None) -> str:
    """Park the job until the model is ready; the person is told once."""
    if rt.store.job_waiting(job["id"], [notice], question_id):
        rt.outbox.nudge()
    return WAIT


def notice_to(job: dict, text: str) -> dict:
    """A short notice to the job's person where they wrote: in the DM, or in the thread only
    they see (the channel sees no grades and no errors)."""
    if job["kind"] == "thread":
        return ephemeral_reply(job["channel"], job["user_id"], blocks.notice_blocks(text), text,
                               job["thread_ts"])
    return notice_reply(job["channel"], text)


def run_answer(rt: Runtime, job: dict, question_id: str, text: str, grade, replies,
               unusable) -> str | None:
    """The one way an answer job goes, typed in a DM or a thread or clicked: checked by the
    turn, parked while the model loads, then graded.

    `grade(on_record)` grades and records the answer and returns the turn's Graded or
    Unusable; `replies(feedback)` are queued in the attempt's transaction; an answer that
    cannot be graded finishes the job with `unusable(question, problem)`. A domain error
    (the question left the bank, nothing open) is run_job's, with its one error reply."""
    question = rt.coach.question(question_id)
    found = turn.check_answer(question, text)
    if found is not None:
        finish(rt, job, unusable(question, found))
        return None
    if not rt.work.ready:
        return wait_for_model(rt, job, notice_to(job, WARMING_UP), question_id)
    reply = grade(queue_with_attempt(rt, job, replies))
    if isinstance(reply, turn.Unusable):  # the grader could not grade it: nothing stored
        finish(rt, job, unusable(reply.question, reply.problem))
    rt.outbox.nudge()
    return None


# --- direct messages -------------------------------------------------------------------------

EMPTY_MARKUP = "I couldn't find any text in that message once mentions and links were left out."


def unusable_text(found: Problem, raw: str) -> str:
    """The turn's wording of an unusable answer; when Slack markup was all there was, say so
    first (the person did type something)."""
    if found.code == EMPTY and only_markup(raw):
        return f"{EMPTY_MARKUP} {found.message}"
    return found.message


def run_dm_job(rt: Runtime, job: dict) -> str | None:
    """A DM, in order with the person's other jobs. What it means is bot.core.turn's (as in
    the terminal): an answer is checked and graded, every other intent carried out; this
    module only renders the reply."""
    channel = job["channel"]
    pid = rt.person(job["person_id"].split(":")[1], job["user_id"])
    now = parse_time(job["created_at"])  # when the person wrote, not when it runs
    text = plain_text(job["answer"])
    pending = rt.coach.pending(pid)
    # An answer parked for the model stays an answer, whatever was asked or skipped since.
    intent = turn.parse(text, pending is not None or bool(job["waited"]))
    coach_turn = turn.Turn(rt.coach, source="dm")
    if intent.kind == turn.ANSWER:
        # Graded against the question open when the person wrote (else the one an earlier
        # job just asked): a Skip pressed while this job waited has moved the person on,
        # not their answer.
        question_id = job["question_id"] or pending.id
        return run_answer(
            rt, job, question_id, text,
            lambda on_record: coach_turn.answer(pid, text, now, question_id, on_record),
            graded_replies(channel), unusable_replies(channel, job["answer"]))
    reply = coach_turn.act(pid, intent, now,
                           on_record=queue_with_attempt(rt, job, gave_up_replies(channel)))
    if isinstance(reply, turn.Graded):  # a give-up: its reply was queued with the attempt
        rt.outbox.nudge()
        return None
    show(rt, pid, channel, reply, now)
    return None


def graded_replies(channel: str):
    """The replies to a recorded answer in a DM, queued in the attempt's transaction."""
    def replies(feedback: Feedback) -> list[dict]:
        return [post_reply(channel, blocks.feedback_blocks(feedback),
                           blocks.feedback_text(feedback))]

    return replies


def gave_up_replies(channel: str):
    """The replies to a give-up in a DM, queued in the transaction of its miss."""
    def replies(feedback: Feedback) -> list[dict]:
        return [post_reply(channel, blocks.gave_up_blocks(feedback),
                           f"Given up. {blocks.question_text(feedback.question)}")]

    return replies


def unusable_replies(channel: str, raw: str):
    """Why an answer in a DM was not graded, with Hint and Skip."""
    def replies(question: Question, found: Problem) -> dict:
        why = unusable_text(found, raw)
        return post_reply(channel, blocks.unusable_blocks(question, found, why), why)

    return replies


def show(rt: Runtime, pid: str, channel: str, reply: turn.Reply, now) -> None:
    """Post a turn's reply (anything but a graded attempt) in the person's DM."""
    if isinstance(reply, turn.Asked):
        intro = ("Your open question:" if reply.resumed else
                 "Skipped: nothing recorded (`give up` shows the answer). Try this one "
                 "instead." if reply.skipped else
                 "Here's a question for you.")
        post(rt, channel, blocks.question_blocks(reply.question, intro=intro,
                                                 exam=rt.coach.exam_for(pid)),
             blocks.question_text(reply.question))
    elif isinstance(reply, turn.NoQuestion):  # its message names the topic and the nearest
        say(rt, channel, f"{reply.message} `/mlsprep topics` lists what I can ask about.")
    elif isinstance(reply, turn.Hinted):
        post(rt, channel, blocks.hint_blocks(reply.question, reply.hint), f"Hint: {reply.hint}")
    elif isinstance(reply, turn.ShowStats):
        post(rt, channel, blocks.stats_blocks(reply.stats), "Your progress")
    elif isinstance(reply, turn.ShowBoard):
        all_time = rt.coach.leaderboard(now, "all", person_id=pid)
        post(rt, channel, blocks.board_blocks(reply.board, all_time), "Leaderboard")
    elif isinstance(reply, turn.ShowHelp):
        shown = help_message()
        post(rt, channel, shown["blocks"], shown["text"])
    elif isinstance(reply, turn.Quit):
        say(rt, channel, QUIT_REPLY)
    else:
        raise TypeError(f"no DM rendering for {reply!r}")


# --- thread replies to the daily question ---------------------------------------------------

def run_thread_job(rt: Runtime, job: dict) -> str | None:
    channel, user, thread_ts = job["channel"], job["user_id"], job["thread_ts"]
    pid = rt.person(job["person_id"].split(":")[1], user)
    text = plain_text(job["answer"])

    def private(message_blocks: list[dict], words: str) -> dict:
        return ephemeral_reply(channel, user, message_blocks, words, thread_ts)

    def replies(feedback: Feedback) -> list[dict]:
        return [private(blocks.daily_feedback_blocks(feedback), blocks.feedback_text(feedback)),
                reaction_reply(channel, job["ts"], SCORED_REACTION)]

    def unusable(question: Question, found: Problem) -> dict:
        why = unusable_text(found, job["answer"])
        return private(blocks.daily_unusable_blocks(why), why)

    def grade(on_record) -> turn.Reply:
        return turn.outcome(rt.daily.posts.answer(pid, channel, thread_ts, text,
                                                  parse_time(job["created_at"]),
                                                  on_record=on_record))

    return run_answer(rt, job, job["question_id"], text, grade, replies, unusable)
