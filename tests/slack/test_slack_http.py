"""Slack's rules over real HTTP: signatures, acks, retries, rate limits, unhandled events."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from harness import SECRET, good_answer, texts
from standin import BOT_ID, BOT_USER, TEAM, event_body

from bot.slack.runtime import person_id

ADA = "U0ADA"

TABLES = ("people", "attempts", "pending", "events", "daily_posts")


def snapshot(slack) -> dict[str, int]:
    return {table: slack.rows(table) for table in TABLES}


def test_health_answers_200_with_model_readiness(slack):
    response = slack.get("/healthz")
    assert response.status == 200
    assert response.json()["ok"] is True
    assert response.json()["model_ready"] is True  # the session model is loaded


@pytest.mark.parametrize("how", ["bad signature", "stale timestamp", "unsigned", "wrong secret"])
def test_requests_not_signed_by_slack_get_401_and_nothing_is_written(slack, how):
    before = snapshot(slack)
    calls_before = slack.standin.methods()
    body = event_body({"type": "message", "channel_type": "im", "channel": "DU0ADA",
                       "user": ADA, "text": "quiz", "ts": "1.1"}, "EvForged")
    if how == "bad signature":
        response = slack.post(body, "application/json",
                              headers={"X-Slack-Signature": "v0=" + "0" * 64})
    elif how == "stale timestamp":
        # Signed correctly, but six minutes old: a replay.
        response = slack.post(body, "application/json", timestamp=int(time.time()) - 360)
    elif how == "unsigned":
        response = slack.post(body, "application/json", signed=False)
    else:
        response = slack.post(body, "application/json", secret=SECRET + "x")
    assert response.status == 401
    slack.idle()
    assert snapshot(slack) == before
    assert slack.standin.methods() == calls_before


def test_a_forged_command_and_click_are_refused_too(slack):
    before = snapshot(slack)
    body = "command=%2Fmlsprep&text=forget-me&user_id=U0ADA&team_id=T0TEAM"
    assert slack.post(body, "application/x-www-form-urlencoded",
                      headers={"X-Slack-Signature": "v0=" + "1" * 64}).status == 401
    assert snapshot(slack) == before


def test_the_same_event_delivered_three_times_is_scored_once(slack):
    slack.dm(ADA, "quiz")
    slack.standin.wait_for("chat.postMessage")
    slack.idle()
    answer = good_answer(slack.coach.pending(person_id(TEAM, ADA)))
    first = slack.dm(ADA, answer, event_id="EvAnswer1")
    # Slack retries when it thinks the first delivery failed: same event id, Retry-Num set.
    again = [slack.dm(ADA, answer, event_id="EvAnswer1", retry_num=n) for n in (1, 2)]
    assert [r.status for r in [first, *again]] == [200, 200, 200]
    slack.idle()
    assert slack.rows("attempts") == 1
    feedback = [c for c in slack.standin.of("chat.postMessage", channel="DU0ADA")
                if "Score" in c.args["text"]]
    assert len(feedback) == 1


def test_a_429_on_the_feedback_post_is_retried_and_delivered(slack):
    slack.dm(ADA, "quiz")
    slack.standin.wait_for("chat.postMessage")
    slack.idle()
    slack.standin.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.dm(ADA, good_answer(slack.coach.pending(person_id(TEAM, ADA))))
    slack.idle()
    posts = [c for c in slack.standin.calls if c.method == "chat.postMessage"]
    assert [c.status for c in posts] == [200, 429, 200]
    limited, delivered = posts[1], posts[2]
    assert delivered.args == limited.args  # the same feedback, sent again
    assert "Score" in delivered.args["text"]
    assert delivered.at - limited.at >= 0.9  # it waited for Retry-After


def test_a_dropped_connection_on_the_feedback_post_is_retried_and_delivered(slack):
    slack.dm(ADA, "quiz")
    slack.standin.wait_for("chat.postMessage")
    slack.idle()
    slack.standin.drop_next("chat.postMessage")
    slack.dm(ADA, good_answer(slack.coach.pending(person_id(TEAM, ADA))))
    slack.idle()
    posts = [c for c in slack.standin.calls if c.method == "chat.postMessage"]
    assert [c.status for c in posts] == [200, 0, 200]
    assert posts[2].args == posts[1].args and "Score" in posts[2].args["text"]


def test_the_bots_own_messages_and_unhandled_subtypes_get_200_and_no_reply(slack):
    events = [
        {"type": "message", "channel_type": "im", "channel": "DU0ADA", "user": BOT_USER,
         "bot_id": BOT_ID, "text": "Question: ...", "ts": "5.1"},
        {"type": "message", "channel_type": "im", "channel": "DU0ADA",
         "subtype": "message_changed", "message": {"text": "edited"}, "ts": "5.2"},
        {"type": "message", "channel_type": "channel", "channel": "C0GENERAL",
         "subtype": "channel_join", "user": ADA, "ts": "5.3"},
        {"type": "message", "channel_type": "channel", "channel": "C0GENERAL", "user": ADA,
         "text": "lunch?", "ts": "5.4"},
        {"type": "reaction_added", "user": ADA, "reaction": "tada",
         "item": {"type": "message", "channel": "C0GENERAL", "ts": "5.4"}},
        {"type": "member_joined_channel", "user": ADA, "channel": "C0GENERAL"},
    ]
    for event in events:
        assert slack.event(event).status == 200, event
    slack.idle()
    assert [m for m in slack.standin.methods() if m != "auth.test"] == []
    assert slack.rows("attempts") == 0


def test_a_burst_of_answers_does_not_delay_the_acks(slack):
    people = [f"U0P{n:02d}" for n in range(12)]
    for user in people:
        slack.standin.add_user(user, user)
        slack.dm(user, "quiz")
    slack.standin.wait_for("chat.postMessage", count=len(people))
    slack.idle()
    answers = {u: good_answer(slack.coach.pending(person_id(TEAM, u))) for u in people}
    with ThreadPoolExecutor(len(people)) as pool:
        responses = list(pool.map(lambda u: slack.dm(u, answers[u]), people))
    assert all(r.status == 200 for r in responses)
    # Every ack came back inside Slack's 3 seconds (with a margin) while 12 answers were graded.
    assert max(r.elapsed for r in responses) < 2.5, [round(r.elapsed, 2) for r in responses]
    slack.idle(60)
    assert slack.rows("attempts") == len(people)


def test_acks_never_wait_for_the_work_pool(slack):
    # Every pool thread busy (as in a long burst of grading): acks must still come at once.
    release = threading.Event()
    for _ in range(slack.rt.work.workers):
        slack.rt.work.submit(release.wait, 30)
    # DMs run as durable jobs on threads of their own: keep those busy too.
    for _ in range(slack.rt.jobs.workers):
        slack.rt.jobs._pool.submit(release.wait, 30)
    try:
        responses = [slack.dm(ADA, "quiz"), slack.command("score", ADA)[0],
                     slack.click("mlsprep_next", "", ADA, "DU0ADA", "1.1")[0],
                     slack.event({"type": "app_home_opened", "user": ADA, "tab": "home"})]
        assert [r.status for r in responses] == [200, 200, 200, 200]
        assert max(r.elapsed for r in responses) < 1.0, [r.elapsed for r in responses]
        assert slack.standin.of("chat.postMessage") == []  # the work itself is queued
    finally:
        release.set()
    slack.standin.wait_for("chat.postMessage", count=2, channel="DU0ADA")
    slack.standin.wait_for("views.publish")
    slack.standin.wait_for("response_url")


def test_slack_url_verification_gets_the_challenge_back(slack):
    body = '{"token": "x", "challenge": "c-123", "type": "url_verification"}'
    response = slack.post(body, "application/json")
    assert response.status == 200 and response.json() == {"challenge": "c-123"}


def test_unknown_subcommand_suggests_the_nearest(slack):
    response, _ = slack.command("scroe", ADA)
    assert response.status == 200
    assert "did you mean `score`?" in response.json()["text"]


def test_help_lists_every_subcommand(slack):
    response, _ = slack.command("help", ADA)
    text = texts(response.json()["blocks"])
    for usage in ("score", "ask [topic]", "stats", "topics", "help", "daily #channel HH:MM",
                  "daily now", "forget-me"):
        assert f"`/mlsprep {usage}`" in text
