"""Buttons: Next, Hint, Skip, one per choice option, Start practice, and forget-me's confirmation.

Button values come back from the client and are checked like any input: a value this app could
not have produced, or one for a question that is no longer open, gets a clear message and
changes nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from slack_bolt import App

from bot.core import turn
from bot.core.coach import CoachError, Question, UnknownPerson, UnknownQuestion
from bot.slack import blocks
from bot.slack.listeners.messages import run_answer, show, take, unusable_replies
from bot.slack.replies import friendly, post_reply, say, update_reply
from bot.slack.runtime import Runtime, person_id
from bot.slack.text import (
    TamperedValue,
    parse_choice_value,
    parse_question_value,
    parse_topic_value,
)
from bot.store import parse_time

log = logging.getLogger(__name__)

TAMPERED = ("That button didn't carry anything I recognise, so I did nothing. "
            "Say `next` for a fresh question.")
STALE = ("That question is no longer open (answered or skipped), so I did nothing. "
         "Say `next` for a fresh one.")


@dataclass(frozen=True)
class Click:
    """One button click, as plain values."""

    team: str
    user: str
    channel: str  # "" when the button is not in a conversation (App Home)
    message_ts: str
    action_id: str
    value: str
    ticked: tuple[str, ...] = ()  # the values of the ticked checkboxes, for Submit
    response_url: str = ""  # "" for a button in a view (App Home), which has none


def parse_click(body: dict) -> Click:
    action = (body.get("actions") or [{}])[0]
    user = body.get("user") or {}
    return Click(team=user.get("team_id") or (body.get("team") or {}).get("id", ""),
                 user=user.get("id", ""),
                 channel=(body.get("channel") or {}).get("id", ""),
                 message_ts=(body.get("container") or {}).get("message_ts", ""),
                 action_id=action.get("action_id", ""),
                 value=str(action.get("value", "")),
                 ticked=_ticked(body),
                 response_url=body.get("response_url") or "")


def _ticked(body: dict) -> tuple[str, ...]:
    values = ((body.get("state") or {}).get("values") or {})
    found = []
    for block in values.values() if isinstance(values, dict) else ():
        picked = (block or {}).get(blocks.PICK) or {}
        found.extend(str(o.get("value", "")) for o in picked.get("selected_options") or ())
    return tuple(found)


def register(app: App) -> None:
    for action_id in (*JOBS, CHOICE):
        app.action(action_id)(on_click)
    app.action(blocks.PICK)(on_tick)


def on_click(rt: Runtime, ack, body: dict, respond) -> None:
    """Every button: ack, then its job runs in the pool (see JOBS)."""
    ack()
    click = parse_click(body)
    job = on_choice if CHOICE.match(click.action_id) else JOBS[click.action_id]
    rt.work.submit(run_click, rt, job, click, respond)


def on_tick(ack) -> None:
    ack()  # ticking a box only changes the form; Submit answers


def _channel(rt: Runtime, click: Click) -> str:
    return click.channel or rt.open_dm(click.user)


class Stale(Exception):
    """A button for a question that is no longer open (answered or skipped)."""


def run_click(rt: Runtime, job, click: Click, respond) -> None:
    """Run a button's job with the one error reply of clicks: a value it finds tampered with,
    a question no longer open or a domain error gets one message and changes nothing."""
    try:
        job(rt, click, respond)
    except TamperedValue:
        say(rt, _channel(rt, click), TAMPERED)
    except Stale:
        say(rt, _channel(rt, click), STALE)
    except (CoachError, UnknownQuestion) as exc:
        say(rt, _channel(rt, click), friendly(exc))


def open_question(rt: Runtime, click: Click, question_id: str) -> tuple[str, str, Question]:
    """The preamble of a question's buttons: (person, channel, the open question), once the
    button's question id was read from its value. Raises Stale when it is not the open one."""
    channel = _channel(rt, click)
    pid = rt.person(click.team, click.user)
    pending = rt.coach.pending(pid)
    if pending is None or pending.id != question_id:
        raise Stale(question_id)
    return pid, channel, pending


def on_next(rt: Runtime, click: Click, respond) -> None:
    topic = parse_topic_value(click.value)
    channel = _channel(rt, click)
    pid = rt.person(click.team, click.user)
    show(rt, pid, channel, turn.Turn(rt.coach, source="dm").next(pid, rt.now(), topic),
         rt.now())


def on_hint(rt: Runtime, click: Click, respond) -> None:
    pid, channel, _ = open_question(rt, click, parse_question_value(click.value))
    hinted = turn.Turn(rt.coach, source="dm").act(pid, turn.Intent(turn.HINT), rt.now())
    show(rt, pid, channel, hinted, rt.now())


def on_skip(rt: Runtime, click: Click, respond) -> None:
    pid, channel, _ = open_question(rt, click, parse_question_value(click.value))
    show(rt, pid, channel, turn.Turn(rt.coach, source="dm").next(pid, rt.now()), rt.now())


def on_choice(rt: Runtime, click: Click, respond) -> None:
    question_id, letter = parse_choice_value(click.value, click.action_id)
    pid, channel, question = open_question(rt, click, question_id)
    if letter not in question.letters or question.type not in ("mcq", "truefalse"):
        raise TamperedValue(click.value)
    take_choice(rt, click, pid, channel, question, (letter,))


def on_submit(rt: Runtime, click: Click, respond) -> None:
    """Submit on a multi-answer item: answer with the ticked options."""
    question_id = parse_question_value(click.value)
    ticked = [parse_choice_value(value) for value in click.ticked]
    pid, channel, question = open_question(rt, click, question_id)
    letters = sorted({letter for _, letter in ticked})
    if (any(qid != question_id for qid, _ in ticked) or question.type != "multi"
            or not set(letters) <= set(question.letters)):
        raise TamperedValue(click.value)
    if not letters:
        say(rt, channel, "Tick every option you think is correct, then press Submit.")
        return
    take_choice(rt, click, pid, channel, question, tuple(letters))


def take_choice(rt: Runtime, click: Click, pid: str, channel: str, question,
                letters: tuple[str, ...]) -> None:
    """A choice is an answer: it becomes a durable job like a typed one."""
    take(rt, {"kind": "choice", "person_id": pid, "user_id": click.user, "channel": channel,
              # the clicked message, to turn its buttons into a record once graded
              "ts": (click.message_ts or None) if click.channel else None,
              "question_id": question.id, "answer": " and ".join(letters)})


def run_choice_job(rt: Runtime, job: dict) -> str | None:
    channel = job["channel"]
    pid = rt.person(job["person_id"].split(":")[1], job["user_id"])
    letters = tuple(job["answer"].split(" and "))

    def replies(feedback) -> list[dict]:
        shown = []
        if job["ts"]:
            # The options become a plain record of the choice, so they cannot be re-clicked.
            question = feedback.question
            shown.append(update_reply(channel, job["ts"],
                                      blocks.question_blocks(question, answered=letters),
                                      blocks.question_text(question)))
        shown.append(post_reply(channel, blocks.feedback_blocks(feedback),
                                blocks.feedback_text(feedback)))
        return shown

    def grade(on_record) -> turn.Reply:
        return turn.Turn(rt.coach, source="dm").answer(
            pid, job["answer"], parse_time(job["created_at"]), job["question_id"], on_record)

    return run_answer(rt, job, job["question_id"], job["answer"], grade, replies,
                      unusable_replies(channel, job["answer"]))


def on_forget(rt: Runtime, click: Click, respond) -> None:
    # The person is whoever clicked: the button's value names nobody, so it cannot be aimed
    # at someone else.
    pid = person_id(click.team or rt.team_id, click.user)
    try:
        removed = rt.coach.forget(pid)
    except UnknownPerson:
        removed = 0
    rt.forget_profile(pid)
    log.info("forgot a person on request (%d rows)", removed)
    _replace(rt, click, respond,
             f"Done: I deleted everything I stored about you ({removed} records).")


def on_forget_cancel(rt: Runtime, click: Click, respond) -> None:
    _replace(rt, click, respond, "Cancelled: nothing was deleted.")


# Each button's job, by action id; the option buttons of a choice item match CHOICE.
JOBS = {blocks.NEXT: on_next, blocks.START: on_next, blocks.HINT: on_hint,
        blocks.SKIP: on_skip, blocks.SUBMIT: on_submit, blocks.FORGET_YES: on_forget,
        blocks.FORGET_NO: on_forget_cancel}
CHOICE = re.compile(re.escape(blocks.CHOICE_PREFIX) + r"[A-Z]$")


def _replace(rt: Runtime, click: Click, respond, text: str) -> None:
    """Replace the private confirmation; without a response_url (Bolt's respond cannot work
    then) the answer goes to the person's DM instead of being lost."""
    if click.response_url:
        respond(text=text, replace_original=True, response_type="ephemeral")
    else:
        say(rt, _channel(rt, click), text)
