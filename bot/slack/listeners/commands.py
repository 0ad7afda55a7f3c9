"""`/mlsprep <subcommand>`: one table registers the subcommands and generates `help`.

Subcommands marked `instant` answer inside the ack (they are pure: no database, no model);
the rest ack at once and reply through the command's response_url from the work pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App

from bot.core.coach import CoachError
from bot.core.exam import EXAM_NAMES
from bot.slack import blocks
from bot.slack.daily import DailyPostFailed
from bot.slack.replies import ask, friendly
from bot.slack.runtime import Runtime
from bot.slack.text import BadArguments, parse_daily_args, split_command, suggest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One /mlsprep invocation, as plain values."""

    team: str
    user: str
    channel: str
    rest: str  # the text after the subcommand


Message = dict  # keyword arguments for ack()/respond(): text and blocks


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    run: Callable[[Runtime, Call], Message]
    admin: bool = False
    instant: bool = False


def message(text: str, message_blocks: list[dict] | None = None) -> Message:
    return {"text": text, "blocks": message_blocks or blocks.notice_blocks(text)}


# --- the subcommands -------------------------------------------------------------------------

def run_score(rt: Runtime, call: Call) -> Message:
    pid = rt.person(call.team, call.user)
    now = rt.now()
    week = rt.coach.leaderboard(now, "week", person_id=pid)
    all_time = rt.coach.leaderboard(now, "all", person_id=pid)
    return message("Leaderboard", blocks.board_blocks(week, all_time))


def run_ask(rt: Runtime, call: Call) -> Message:
    pid = rt.person(call.team, call.user)
    dm = rt.open_dm(call.user)
    question = ask(rt, pid, dm, call.rest or None, intro="You asked for a question.")
    if question is None:
        return message("No question matched: it's explained in our DM.")
    return message(f"I sent you a question in <#{dm}>: answer it there.")


def run_stats(rt: Runtime, call: Call) -> Message:
    stats = rt.coach.stats(rt.person(call.team, call.user), rt.now())
    return message("Your progress", blocks.stats_blocks(stats))


def run_exam(rt: Runtime, call: Call) -> Message:
    pid = rt.person(call.team, call.user)
    if not call.rest.strip():
        current = rt.coach.exam_for(pid)
        return message(f"You are preparing for {EXAM_NAMES[current]}. Switch with "
                       f"`/mlsprep exam CODE`, where CODE is one of {', '.join(EXAM_NAMES)}.")
    chosen = rt.coach.choose_exam(pid, call.rest.split()[0])  # CoachError names the codes
    return message(f"From now on your questions, stats and readiness follow "
                   f"{EXAM_NAMES[chosen]}.")


def run_topics(rt: Runtime, call: Call) -> Message:
    topics = rt.coach.topics()
    return message(f"{len(topics)} topics", blocks.topics_blocks(topics))


def run_help(rt: Runtime, call: Call) -> Message:
    return help_message()


def run_daily(rt: Runtime, call: Call) -> Message:
    try:
        parsed = parse_daily_args(call.rest)
    except BadArguments as exc:
        return message(str(exc))
    daily = rt.daily
    if parsed == "now":
        channel, _ = daily.schedule()
        if not channel:
            return message("There is no daily channel yet: set one with "
                           "`/mlsprep daily #channel HH:MM`.")
        try:
            post = daily.post(channel, rt.now())
        except DailyPostFailed as exc:
            return message(str(exc))
        if post is None:
            return message(f"Today's question is already up in <#{channel}>.")
        return message(f"Posted today's question in <#{channel}>.")
    channel, at = parsed
    daily.set_schedule(channel, at)
    return message(f"The daily question goes to <#{channel}> at {at} ({rt.settings.tz}). "
                   "Invite me there with `/invite @mlsprep` if I'm not in it yet.")


def run_forget_me(rt: Runtime, call: Call) -> Message:
    return message("Delete everything stored about you?", blocks.forget_confirm_blocks())


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("score", "score", "the leaderboard: this week and all time, with your rank",
               run_score),
    Subcommand("ask", "ask [topic]", "get a question in our DM, optionally on a topic",
               run_ask),
    Subcommand("stats", "stats", "your streak, mastery per domain and readiness", run_stats),
    Subcommand("exam", "exam [mls-c01|mla-c01|mla-c02]",
               "show or choose the exam you prepare for (yours only)", run_exam),
    Subcommand("topics", "topics", "the topics you can ask for", run_topics),
    Subcommand("help", "help", "this list", run_help, instant=True),
    Subcommand("daily", "daily #channel HH:MM", "post the question of the day there, daily",
               run_daily, admin=True),
    Subcommand("daily now", "daily now", "post today's question now", run_daily, admin=True),
    Subcommand("forget-me", "forget-me", "delete everything stored about you (asks first)",
               run_forget_me, instant=True),
)
# `daily now` is a usage line of `daily`, not a name of its own.
BY_NAME = {s.name: s for s in SUBCOMMANDS if " " not in s.name}


def help_message() -> Message:
    rows = [(s.usage, s.summary, s.admin) for s in SUBCOMMANDS]
    return message("mlsprep commands", blocks.help_blocks(rows))


def unknown_message(word: str) -> Message:
    near = suggest(word, list(BY_NAME))
    hint = f"did you mean `{near}`? " if near else ""
    return message(f"I don't know `{word[:40]}`: {hint}`/mlsprep help` lists what I can do.")


def refusal_message(sub: Subcommand) -> Message:
    return message(f"Sorry, `{sub.name}` is for the admins of this coach. Ask one of them to "
                   "set up the daily question.")


# --- the listener ----------------------------------------------------------------------------

def register(app: App) -> None:
    app.command("/mlsprep")(on_command)


def on_command(rt: Runtime, ack, command: dict, respond, context) -> None:
    name, rest = split_command(command.get("text"))
    sub = BY_NAME.get(name or "help")
    if sub is None:
        ack(**unknown_message(name), response_type="ephemeral")
        return
    user = command.get("user_id", "")
    if sub.admin and not rt.is_admin(user):
        ack(**refusal_message(sub), response_type="ephemeral")
        return
    call = Call(context.team_id or command.get("team_id", ""), user,
                command.get("channel_id", ""), rest)
    if sub.instant:
        ack(**sub.run(rt, call), response_type="ephemeral")
        return
    ack()
    rt.work.submit(_run_and_respond, rt, sub, call, respond)


def _run_and_respond(rt: Runtime, sub: Subcommand, call: Call, respond) -> None:
    # The outermost layer of a command's work: whatever happens, the person gets an answer.
    try:
        reply = sub.run(rt, call)
    except Exception as exc:
        if not isinstance(exc, CoachError | KeyError):
            log.exception("/mlsprep %s failed", sub.name)
        reply = message(friendly(exc))
    respond(**reply, response_type="ephemeral")
