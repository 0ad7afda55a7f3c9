"""The listeners' functions called directly, as Bolt's samples test theirs: a stand-in runtime
(a recording Web API client) over a real coach, store and the scripted grader. The end-to-end
path over HTTP is tests/slack/test_slack_dm.py's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from bot.core import turn
from bot.core.coach import NoPendingQuestion
from bot.core.grade import EMPTY
from bot.slack import listeners
from bot.slack.bookkeeping import DailyPosts
from bot.slack.listeners import run_job
from bot.slack.listeners.actions import (
    STALE,
    TAMPERED,
    Click,
    Stale,
    on_choice,
    on_click,
    on_hint,
    open_question,
    run_click,
)
from bot.slack.listeners.commands import on_command
from bot.slack.listeners.messages import EMPTY_MARKUP, QUIT_REPLY, on_message
from bot.slack.runtime import person_id
from bot.slack.text import TamperedValue

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TEAM, ADA = "T1", "U0ADA"
PID = person_id(TEAM, ADA)
DM = "D" + ADA
OPEN_ID, CHOICE_ID = "fx-least-privilege", "fx-kms-encryption"


class Client:
    """Records the Web API calls a listener makes directly."""

    def __init__(self):
        self.posted: list[dict] = []

    def chat_postMessage(self, **args):  # noqa: N802 - the Web API's name
        self.posted.append(args)
        return SimpleNamespace(data={"ok": True, "ts": "1.1"})

    def conversations_open(self, users: str) -> dict:
        return {"channel": {"id": "D" + users}}


class Work:
    """The pool: records what a listener hands it instead of running it."""

    ready = True

    def __init__(self):
        self.submitted: list[tuple] = []

    def submit(self, fn, *args):
        self.submitted.append((fn, *args))


class Runtime:
    """What a listener uses of bot.slack.runtime.Runtime."""

    team_id = TEAM

    def __init__(self, coach):
        self.coach = coach
        self.client = Client()
        self.work = Work()
        self.outbox = SimpleNamespace(nudge=lambda: None)
        self.jobs = SimpleNamespace(nudge=lambda: None)
        self.daily = SimpleNamespace(posts=DailyPosts(coach))

    def is_admin(self, user: str) -> bool:
        return user == "U0ADMIN"

    @property
    def store(self):
        return self.coach.store

    def now(self) -> datetime:
        return NOW

    def person(self, team: str, user: str) -> str:
        pid = person_id(team, user)
        self.coach.register(pid, user)
        return pid

    def open_dm(self, user: str) -> str:
        return "D" + user


@pytest.fixture
def rt(make_coach):
    return Runtime(make_coach())


def queued(rt) -> list[dict]:
    """The replies jobs queued, in order."""
    return [json.loads(r["args"]) for r in rt.store.db.query("SELECT args FROM outbox ORDER BY id")]


def dm_job(rt, text: str, question_id: str | None = None) -> dict:
    rt.store.take_job({"event_id": f"Ev{len(queued(rt))}-{text[:8]}", "kind": "dm",
                       "person_id": PID, "user_id": ADA, "channel": DM, "answer": text,
                       "question_id": question_id}, NOW)
    return rt.store.open_jobs()[-1]


# --- the DM: the turn's rules and wording ----------------------------------------------------

@pytest.mark.parametrize("text", ["a c", "y" * (turn.MAX_ANSWER_CHARS + 1), "   "])
def test_an_unusable_dm_answer_gets_the_turns_one_wording(rt, text):
    question = rt.coach.ask(PID, CHOICE_ID, NOW)
    run_job(rt, dm_job(rt, text, CHOICE_ID))
    [reply] = queued(rt)
    assert reply["text"] == turn.check_answer(question, text.strip()).message
    assert rt.coach.grader.calls == 0  # never graded
    assert rt.coach.pending(PID) == question


def test_a_dm_give_up_records_a_miss_and_queues_the_answer_with_it(rt):
    question = rt.coach.ask(PID, OPEN_ID, NOW)
    run_job(rt, dm_job(rt, "idk", OPEN_ID))
    [reply] = queued(rt)
    assert "Given up" in json.dumps(reply["blocks"]) and reply["channel"] == DM
    attempts = rt.coach.export(PID)["attempts"]
    assert [(a["question_id"], a["score"], a["source"]) for a in attempts] == [
        (question.id, 0, "dm")]
    assert rt.store.open_jobs() == []


def test_a_dm_command_word_is_answered_directly(rt):
    rt.coach.ask(PID, OPEN_ID, NOW)
    run_job(rt, dm_job(rt, "clue", OPEN_ID))  # a synonym the DM did not know before
    assert rt.client.posted[-1]["text"].startswith("Hint:")
    assert queued(rt) == []


def test_quit_in_a_dm_says_goodbye_and_leaves_the_question_open(rt):
    question = rt.coach.ask(PID, OPEN_ID, NOW)
    run_job(rt, dm_job(rt, "bye", OPEN_ID))
    assert rt.client.posted[-1]["text"] == QUIT_REPLY
    assert rt.coach.pending(PID) == question


def test_a_thread_reply_is_checked_by_the_turn_and_answered_privately(rt):
    post = rt.daily.posts.claim("C1", NOW)
    rt.daily.posts.record_ts("C1", post.day, "7.7")
    rt.store.take_job({"kind": "thread", "person_id": PID, "user_id": ADA, "channel": "C1",
                       "thread_ts": "7.7", "ts": "7.8", "answer": "<@U0BOB>",
                       "question_id": post.question.id}, NOW)
    run_job(rt, rt.store.open_jobs()[-1])
    [reply] = rt.store.db.query("SELECT method, args FROM outbox")
    said = json.loads(reply["args"])
    assert reply["method"] == "chat.postEphemeral" and said["thread_ts"] == "7.7"
    assert said["text"] == f"{EMPTY_MARKUP} {turn.problem(EMPTY, post.question).message}"
    assert rt.coach.grader.calls == 0


# --- one error reply -------------------------------------------------------------------------

@pytest.mark.parametrize("kind, method", [("dm", "chat.postMessage"),
                                          ("thread", "chat.postEphemeral")])
def test_a_domain_error_in_any_job_ends_it_with_one_notice_to_its_person(rt, monkeypatch,
                                                                         kind, method):
    def fails(rt, job):
        raise NoPendingQuestion("There is no open question right now: ask for one first.")

    monkeypatch.setitem(listeners.RUNNERS, kind, fails)
    rt.store.take_job({"kind": kind, "person_id": PID, "user_id": ADA, "channel": "C1",
                       "thread_ts": "9.9", "answer": "x"}, NOW)
    run_job(rt, rt.store.open_jobs()[-1])
    [reply] = rt.store.db.query("SELECT method, args FROM outbox")
    assert reply["method"] == method
    assert json.loads(reply["args"])["text"].startswith("There is no open question")
    assert rt.store.open_jobs() == []


def click(value: str, action_id: str = "mlsprep_hint") -> Click:
    return Click(team=TEAM, user=ADA, channel=DM, message_ts="1.1", action_id=action_id,
                 value=value)


@pytest.mark.parametrize("error, said", [
    (TamperedValue("x"), TAMPERED), (Stale("q"), STALE),
    (NoPendingQuestion("There is no open question right now."),
     "There is no open question right now."),
])
def test_every_button_error_gets_the_one_reply_and_nothing_else(rt, error, said):
    def job(rt, click, respond):
        raise error

    run_click(rt, job, click("v"), respond=None)
    assert [(p["channel"], p["text"]) for p in rt.client.posted] == [(DM, said)]


def test_a_question_s_buttons_act_only_on_the_open_question(rt):
    question = rt.coach.ask(PID, OPEN_ID, NOW)
    assert open_question(rt, click(OPEN_ID), OPEN_ID) == (PID, DM, question)
    with pytest.raises(Stale):
        open_question(rt, click(CHOICE_ID), CHOICE_ID)


# --- Bolt's listeners, called as Bolt calls them -----------------------------------------------

CONTEXT = SimpleNamespace(bot_user_id="U0BOT", team_id=TEAM)


def test_a_dm_is_taken_as_a_job_with_the_question_open_when_it_came(rt):
    rt.coach.ask(PID, OPEN_ID, NOW)
    on_message(rt, {"event_id": "Ev1"}, {"type": "message", "channel_type": "im", "user": ADA,
                                         "channel": DM, "ts": "1.1", "text": "my answer"},
               CONTEXT)
    [job] = rt.store.open_jobs()
    assert (job["kind"], job["person_id"], job["question_id"], job["answer"]) == (
        "dm", PID, OPEN_ID, "my answer")


@pytest.mark.parametrize("event", [
    {"channel_type": "im", "user": "U0BOT", "channel": DM, "ts": "1"},  # the bot's own
    {"channel_type": "channel", "user": ADA, "channel": "C1", "ts": "2", "thread_ts": "1"},
])
def test_messages_the_bot_does_not_handle_leave_no_job(rt, event):
    on_message(rt, {"event_id": "Ev2"}, {"type": "message", **event}, CONTEXT)
    assert rt.store.open_jobs() == []  # the second: a thread that is no daily question


def command(text: str, user: str = ADA) -> dict:
    return {"text": text, "user_id": user, "team_id": TEAM, "channel_id": "C1"}


def test_a_command_is_acked_at_once_and_run_in_the_pool(rt):
    acked = []
    on_command(rt, lambda **kw: acked.append(kw), command("ask security"), None, CONTEXT)
    assert acked == [{}]
    [(fn, _, sub, call, _)] = rt.work.submitted
    assert (sub.name, call.rest, call.user) == ("ask", "security", ADA)


@pytest.mark.parametrize("text, user, said", [
    ("scroe", ADA, "did you mean `score`?"),
    ("daily now", ADA, "is for the admins"),
    ("", ADA, "mlsprep commands"),
])
def test_a_command_answered_inside_the_ack(rt, text, user, said):
    acked = []
    on_command(rt, lambda **kw: acked.append(kw), command(text, user), None, CONTEXT)
    assert said in acked[0]["text"] and acked[0]["response_type"] == "ephemeral"
    assert rt.work.submitted == []


@pytest.mark.parametrize("action_id, job", [("mlsprep_hint", on_hint),
                                            ("mlsprep_choice_B", on_choice)])
def test_a_click_is_acked_and_its_job_handed_to_the_pool(rt, action_id, job):
    acked = []
    body = {"user": {"id": ADA, "team_id": TEAM}, "channel": {"id": DM},
            "container": {"message_ts": "1.1"},
            "actions": [{"action_id": action_id, "value": "fx-kms-encryption:B"}]}
    on_click(rt, lambda: acked.append(True), body, None)
    assert acked == [True]
    [(fn, _, handed, clicked, _)] = rt.work.submitted
    assert (fn, handed, clicked.action_id) == (run_click, job, action_id)
