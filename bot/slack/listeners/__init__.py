"""Listeners grouped by kind; `register(app, rt)` wires them all, and `run_job` runs the
durable jobs they take (answers typed, answers clicked, every DM)."""

from __future__ import annotations

from slack_bolt import App

from bot.core.coach import CoachError, UnknownQuestion
from bot.slack.listeners import actions, commands, home, messages
from bot.slack.listeners.messages import AlreadyDone, finish, notice_to
from bot.slack.replies import friendly
from bot.slack.runtime import Runtime

RUNNERS = {"dm": messages.run_dm_job, "thread": messages.run_thread_job,
           "choice": actions.run_choice_job}


def register(app: App, rt: Runtime) -> None:
    """Every listener is a module-level function that declares `rt` among Bolt's arguments:
    Bolt passes what the context holds by name, and this middleware puts the runtime there,
    so a test calls a listener with its own."""
    def with_runtime(context, next):  # noqa: A002 - Bolt passes middleware arguments by name
        context["rt"] = rt
        next()

    app.use(with_runtime)
    commands.register(app)
    actions.register(app)
    home.register(app)
    # Last: it ends with the catch-all that answers every other event with 200.
    messages.register(app)


def run_job(rt: Runtime, job: dict) -> str | None:
    """Run a job with the one error reply of every kind: a domain error (the question left
    the bank, nothing is open) finishes it with a notice to its person; nothing was recorded.
    Anything else is the job pool's to retry, then `give_up`."""
    try:
        return RUNNERS[job["kind"]](rt, job)
    except AlreadyDone:
        return None  # an earlier run recorded it, with its replies
    except (CoachError, UnknownQuestion) as exc:
        finish(rt, job, notice_to(job, friendly(exc)))
        return None


def give_up(rt: Runtime, job: dict, error: Exception) -> None:
    """A job that kept failing: finish it, and tell the person (their words are kept)."""
    rt.store.finish_job(job["id"], [notice_to(job, friendly(error))], outcome="failed")
    rt.outbox.nudge()
