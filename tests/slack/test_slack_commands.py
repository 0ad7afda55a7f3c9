"""/mlsprep subcommands end to end, and answers that arrive while the model is loading."""

from __future__ import annotations

import threading
from pathlib import Path

from harness import Clock, good_answer, serve, slack_settings, texts, wait_until, weak_answer
from standin import TEAM

from bot.slack import blocks
from bot.slack.app import build_app
from bot.slack.runtime import person_id
from bot.slack.work import Work
from bot.wiring import build_coach

ADA, BOB, CY = "U0ADA", "U0BOB", "U0CY"


def answer_one(slack, user: str, text_for) -> None:
    count = len(slack.standin.of("chat.postMessage", channel="D" + user))
    slack.dm(user, "quiz")
    slack.standin.wait_for("chat.postMessage", count=count + 1, channel="D" + user)
    slack.idle()
    question = slack.coach.pending(person_id(TEAM, user))
    slack.dm(user, text_for(question))
    # The session's first grade builds the grader: on a busy machine that takes over 20 s.
    slack.standin.wait_for("chat.postMessage", count=count + 2, channel="D" + user, timeout=90)
    slack.idle()


def test_score_after_answers_from_three_people(slack):
    answer_one(slack, ADA, good_answer)
    answer_one(slack, BOB, good_answer)
    answer_one(slack, CY, weak_answer)
    assert slack.rows("attempts") == 3

    response, name = slack.command("score", BOB)
    assert response.status == 200 and response.body == ""  # acked at once, empty
    reply = slack.responses(name)[0]
    assert reply["response_type"] == "ephemeral"
    text = texts(reply["blocks"])
    week = slack.coach.leaderboard(slack.clock(), "week", person_id=person_id(TEAM, BOB))
    assert "This week" in text
    for entry in week.entries:
        assert f"{entry.display_name} · {entry.points}" in text
    # rank order as the coach ranks them
    positions = [text.index(f"{e.display_name} · {e.points}") for e in week.entries]
    assert positions == sorted(positions)
    assert {"Ada", "Bob"} <= {e.display_name for e in week.entries}
    assert f"You: #{week.me.rank} this week ({week.me.points} points)" in text
    assert "All time" in text


def test_ask_sends_a_question_to_the_dm(slack):
    response, name = slack.command("ask security", ADA, channel="C0GENERAL")
    assert response.status == 200
    assert "I sent you a question in <#DU0ADA>" in slack.responses(name)[0]["text"]
    question = slack.standin.wait_for("chat.postMessage", channel="DU0ADA")[0]
    pending = slack.coach.pending(person_id(TEAM, ADA))
    assert pending.prompt in texts(question.args["blocks"])


def test_stats_and_topics(slack):
    answer_one(slack, ADA, good_answer)
    _, name = slack.command("stats", ADA)
    text = texts(slack.responses(name)[0]["blocks"])
    assert "*1* answers" in text and "Readiness" in text and "not a pass prediction" in text
    _, name = slack.command("topics", ADA)
    text = texts(slack.responses(name)[0]["blocks"])
    for topic in slack.coach.topics()[:5]:
        assert f"`{topic}`" in text


def test_forget_me_asks_first_and_deletes_only_on_confirmation(slack):
    answer_one(slack, ADA, good_answer)
    answer_one(slack, BOB, good_answer)
    response, _ = slack.command("forget-me", ADA)
    confirm = response.json()
    assert [b["action_id"] for b in confirm["blocks"][1]["elements"]] == [
        blocks.FORGET_YES, blocks.FORGET_NO]
    assert slack.coach.person(person_id(TEAM, ADA)) is not None  # nothing deleted yet

    _, name = slack.click(blocks.FORGET_NO, "cancel", ADA, "C0GENERAL", "1.1")
    assert "nothing was deleted" in slack.responses(name)[0]["text"]
    assert slack.coach.person(person_id(TEAM, ADA)) is not None

    # the value names nobody: whoever clicks is whoever is forgotten
    _, name = slack.click(blocks.FORGET_YES, "slack:T0TEAM:U0BOB", ADA, "C0GENERAL", "1.1")
    done = slack.responses(name)[0]
    assert done["replace_original"] is True and "deleted everything" in done["text"]
    assert slack.coach.person(person_id(TEAM, ADA)) is None
    assert slack.coach.person(person_id(TEAM, BOB)) is not None
    assert slack.rows("attempts") == 1


def test_answers_sent_while_the_model_loads_are_acked_queued_and_scored_once_ready(
        tmp_path, standin, embedder):
    loaded = threading.Event()  # stands for the model finishing its load
    settings = slack_settings(tmp_path, standin)
    coach = build_coach(settings, embedder=embedder)
    clock = Clock()
    app, rt = build_app(settings, coach, clock=clock,
                        work=Work(ready=lambda: loaded.is_set() and coach.ready, poll=0.05))
    with serve(app, rt, standin, settings, clock) as slack:
        assert slack.get("/healthz").json()["model_ready"] is False
        slack.dm(ADA, "quiz")  # asking needs no model
        slack.standin.wait_for("chat.postMessage", channel="DU0ADA")
        slack.idle()
        question = coach.pending(person_id(TEAM, ADA))
        response = slack.dm(ADA, good_answer(question))
        assert response.status == 200 and response.elapsed < 2.5
        notice = slack.standin.wait_for("chat.postMessage", count=2, channel="DU0ADA")[-1]
        assert "still warming up" in notice.args["text"]
        wait_until(lambda: rt.jobs.waiting == 1, what="the answer to be queued")
        assert slack.get("/healthz").json() == {"ok": True, "model_ready": False,
                                                "answers_waiting": 1}
        assert slack.rows("attempts") == 0

        loaded.set()
        feedback = slack.standin.wait_for("chat.postMessage", count=3, channel="DU0ADA")[-1]
        assert feedback.args["text"].startswith("Score ")
        slack.idle()
        assert slack.rows("attempts") == 1
        assert slack.get("/healthz").json()["model_ready"] is True


def test_a_command_that_fails_inside_still_gets_a_polite_answer(slack, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(slack.coach, "leaderboard", broken)
    _, name = slack.command("score", ADA)
    reply = slack.responses(name)[0]
    assert "Something went wrong on my side" in reply["text"]
    assert "disk on fire" not in reply["text"]  # internals are logged, not shown
    slack.idle()
    assert "/mlsprep score failed" in caplog.text


def test_each_person_picks_their_exam_and_stats_follow_it(slack):
    _, name = slack.command("exam", ADA)
    assert "You are preparing for AWS Certified Machine Learning – Specialty (MLS-C01)" in \
        slack.responses(name)[0]["text"]
    _, name = slack.command("exam mla-c02", ADA)
    assert "(MLA-C02)" in slack.responses(name)[0]["text"]
    assert slack.coach.exam_for(person_id(TEAM, ADA)) == "mla-c02"
    assert slack.coach.exam_for(person_id(TEAM, BOB)) == "mls-c01"  # the workspace default
    _, name = slack.command("exam mla-c09", BOB)
    reply = slack.responses(name)[0]["text"]
    assert "not an exam I know" in reply and "mla-c02" in reply
    _, name = slack.command("stats", ADA)
    text = texts(slack.responses(name)[0]["blocks"])
    assert "MLA-C02" in text and "Operating, Monitoring, and Securing ML and AI" in text
    # Ada's next question comes from the bank MLA-C02 tests.
    slack.dm(ADA, "quiz")
    slack.standin.wait_for("chat.postMessage", channel="D" + ADA)
    slack.idle()
    assert slack.coach.pending(person_id(TEAM, ADA)).in_exam("mla-c02")


def test_forget_me_leaves_the_answer_text_in_neither_the_database_nor_its_wal(slack):
    secret = "quokka-zebra-5519 is how I would shard the training data"
    pid = person_id(TEAM, ADA)
    slack.dm(ADA, "quiz")
    for _ in range(40):  # an open question takes any text as an answer
        slack.idle()
        if slack.coach.pending(pid).type == "open":
            break
        slack.dm(ADA, "skip")
    count = len(slack.standin.of("chat.postMessage", channel="D" + ADA))
    slack.dm(ADA, secret)
    # Scored feedback: the first grade builds the grader, slow on a busy machine.
    slack.standin.wait_for("chat.postMessage", count=count + 1, channel="D" + ADA, timeout=90)
    slack.idle()
    db = Path(slack.db_path)
    wal = Path(slack.db_path + "-wal")

    def holding() -> list[str]:
        return [f.name for f in (db, wal) if f.exists() and secret.encode() in f.read_bytes()]

    assert holding() != []  # stored, so its absence below means something
    _, name = slack.click(blocks.FORGET_YES, "forget", ADA, "C0GENERAL", "1.1")
    assert "deleted everything" in slack.responses(name)[0]["text"]
    slack.idle()
    assert holding() == []
