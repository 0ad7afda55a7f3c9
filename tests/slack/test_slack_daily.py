"""The daily channel question, end to end: the post, thread replies scored privately, the
summary when the next one is posted, and exactly one post per channel per day."""

from __future__ import annotations

from harness import ADMIN, DAILY_CHANNEL, good_answer, texts, weak_answer

from bot.slack.daily import DailyScheduler
from bot.slack.listeners.messages import SCORED_REACTION
from bot.wiring import build_coach

PEOPLE = ("U0ADA", "U0BOB", "U0CY")


def channel_posts(slack, **where):
    return slack.standin.of("chat.postMessage", channel=DAILY_CHANNEL, **where)


def test_the_daily_question_thread_replies_and_the_summary_next_day(slack):
    post = slack.rt.daily.tick(slack.clock())
    assert post is not None
    first = slack.standin.wait_for("chat.postMessage", channel=DAILY_CHANNEL)[0]
    assert post.question.prompt in texts(first.args["blocks"])
    assert "Answer in this thread" in texts(first.args["blocks"])
    thread_ts = first.result["ts"]

    answers = dict(zip(PEOPLE, (good_answer(post.question), good_answer(post.question),
                                weak_answer(post.question)), strict=True))
    reply_ts = {}
    for user, text in answers.items():
        response, reply_ts[user] = slack.reply(user, DAILY_CHANNEL, thread_ts, text)
        assert response.status == 200
    private = slack.standin.wait_for("chat.postEphemeral", count=3, channel=DAILY_CHANNEL)
    assert sorted(c.args["user"] for c in private) == sorted(PEOPLE)
    for call in private:
        assert call.args["thread_ts"] == thread_ts
        assert "/100" in texts(call.args["blocks"])
        assert "Only you can see this" in texts(call.args["blocks"])
    reactions = slack.standin.wait_for("reactions.add", count=3, channel=DAILY_CHANNEL)
    assert sorted(c.args["timestamp"] for c in reactions) == sorted(reply_ts.values())
    assert {c.args["name"] for c in reactions} == {SCORED_REACTION}  # same for every score
    slack.idle()
    # nothing about scores reached the channel itself
    assert len(channel_posts(slack)) == 1
    assert slack.rows("attempts") == 3

    # the next day: a new question, and the summary goes into yesterday's thread
    slack.clock.advance(days=1)
    assert slack.rt.daily.tick(slack.clock()) is not None
    summary = slack.standin.wait_for("chat.postMessage", channel=DAILY_CHANNEL,
                                     thread_ts=thread_ts)[0]
    text = texts(summary.args["blocks"])
    assert "3 people answered" in text
    posts = slack.rt.daily.posts
    expected = posts.summary(posts.for_thread(DAILY_CHANNEL, thread_ts))
    assert f"average score *{round(expected.average_score)}*/100" in text
    best = ", ".join(f"{name} ({score})" for _, name, score in expected.best)
    assert f"Best: {best}" in text
    assert expected.best[0][1] in ("Ada", "Bob")  # the two good answers beat the weak one
    assert (post.question.reference_answer or post.question.answer_text()) in text
    new_posts = [c for c in channel_posts(slack) if "thread_ts" not in c.args]
    assert len(new_posts) == 2


def test_exactly_one_post_per_channel_per_day_across_restarts_and_processes(slack, embedder):
    assert slack.rt.daily.tick(slack.clock()) is not None
    assert slack.rt.daily.tick(slack.clock()) is None  # the same process, later that day
    slack.clock.advance(hours=5)
    # A restarted or second process: its own coach and scheduler over the same database file.
    other_coach = build_coach(slack.rt.settings, embedder=embedder)
    other = DailyScheduler(slack.rt.__class__(coach=other_coach, settings=slack.rt.settings,
                                              client=slack.rt.client, work=slack.rt.work,
                                              clock=slack.clock), other_coach.store)
    assert other.tick(slack.clock()) is None
    assert other.post(DAILY_CHANNEL, slack.clock()) is None  # even when forced
    slack.idle()
    assert len(channel_posts(slack)) == 1
    assert slack.rows("daily_posts") == 1
    other_coach.close()


def test_before_the_daily_time_nothing_is_posted(slack):
    slack.clock.now = slack.clock.now.replace(hour=8, minute=59)
    assert slack.rt.daily.tick(slack.clock()) is None
    slack.clock.advance(minutes=1)
    assert slack.rt.daily.tick(slack.clock()) is not None


def test_admins_post_now_and_set_the_channel_others_are_refused(slack, embedder):
    response, _ = slack.command("daily now", "U0ADA")
    assert "for the admins" in response.json()["text"]
    response, _ = slack.command("daily <#C0STUDY|ml-study> 07:30", "U0BOB")
    assert "for the admins" in response.json()["text"]
    slack.idle()
    assert channel_posts(slack) == [] and slack.rows("daily_posts") == 0

    response, name = slack.command("daily <#C0STUDY|ml-study> 07:30", ADMIN)
    assert response.status == 200
    assert "<#C0STUDY> at 07:30" in slack.responses(name)[0]["text"]
    # the schedule is stored in the database: a restarted process sees it
    other_coach = build_coach(slack.rt.settings, embedder=embedder)
    assert DailyScheduler(slack.rt, other_coach.store).schedule() == ("C0STUDY", "07:30")
    other_coach.close()

    _, name = slack.command("daily now", ADMIN)
    assert "Posted today's question in <#C0STUDY>" in slack.responses(name)[0]["text"]
    slack.standin.wait_for("chat.postMessage", channel="C0STUDY")
    _, name = slack.command("daily now", ADMIN)
    assert "already up" in slack.responses(name)[0]["text"]
    slack.idle()
    assert len(slack.standin.of("chat.postMessage", channel="C0STUDY")) == 1


def test_a_reply_in_some_other_thread_is_ignored(slack):
    response, _ = slack.reply("U0ADA", DAILY_CHANNEL, "1600000000.000100", "just chatting")
    assert response.status == 200
    slack.idle()
    assert [m for m in slack.standin.methods() if m != "auth.test"] == []
    assert slack.rows("attempts") == 0 and slack.rows("events") == 0


def test_a_channel_the_bot_is_not_in_gets_a_clear_message_for_the_admin(slack):
    slack.standin.outside.add("C0LOCKED")
    slack.command("daily <#C0LOCKED|private> 09:00", ADMIN)
    slack.idle()
    _, name = slack.command("daily now", ADMIN)
    text = slack.responses(name)[0]["text"]
    assert "couldn't post in <#C0LOCKED> (not_in_channel)" in text and "/invite" in text
    # the scheduler's own attempt later that day does not post either (the day is claimed)
    assert slack.rt.daily.tick(slack.clock()) is None
