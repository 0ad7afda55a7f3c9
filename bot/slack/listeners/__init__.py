"""Listeners grouped by kind; `register(app, rt)` wires them all, and `run_job` runs the
durable jobs they take (answers typed, answers clicked, every DM)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack import blocks
from bot.slack.listeners import actions, commands, home, messages
from bot.slack.replies import ephemeral_reply, friendly, notice_reply
from bot.slack.runtime import Runtime

RUNNERS = {"dm": messages.run_dm_job, "thread": messages.run_thread_job,
           "choice": actions.run_choice_job}


def register(app: App, rt: Runtime) -> None:
    commands.register(app, rt)
    actions.register(app, rt)
    home.register(app, rt)
    # Last: it ends with the catch-all that answers every other event with 200.
    messages.register(app, rt)


def run_job(rt: Runtime, job: dict) -> str | None:
    return RUNNERS[job["kind"]](rt, job)


def give_up(rt: Runtime, job: dict, error: Exception) -> None:
    """A job that kept failing: finish it, and tell the person (their words are kept)."""
    text = friendly(error)
    if job["kind"] == "thread":
        message = ephemeral_reply(job["channel"], job["user_id"], blocks.notice_blocks(text),
                                  text, job["thread_ts"])
    else:
        message = notice_reply(job["channel"], text)
    rt.store.finish_job(job["id"], [message], outcome="failed")
    rt.outbox.nudge()
