"""Slack's records (bot/slack/bookkeeping.py): delivered event ids and the daily channel
question, over the coach, a real SQLite file and the fixture bank (scripted grader). Moved
here from tests/test_coach.py with the methods they test, which left the Coach."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.core.leaderboard import PARTICIPATION_POINTS
from bot.slack.bookkeeping import DailyPosts, NotADailyThread, take_job

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
ADA = "local:ada"


def test_a_reply_outside_a_daily_thread_is_a_named_error(make_coach):
    with pytest.raises(NotADailyThread):
        DailyPosts(make_coach()).answer(ADA, "C1", "123.456", "90", NOW)


def test_a_retried_event_is_recognised(make_coach):
    store = make_coach().store
    job = {"event_id": "Ev123", "kind": "dm", "person_id": "slack:T1:U1", "user_id": "U1",
           "channel": "D1", "answer": "hi"}
    assert take_job(store, job, NOW) == "new"
    assert take_job(store, job, NOW + timedelta(seconds=30)) != "new"


def test_one_daily_post_per_channel_per_local_day(make_coach):
    posts = DailyPosts(make_coach(tz="Asia/Tokyo"))
    post = posts.claim("C1", NOW)
    assert post is not None and post.day == date(2026, 3, 4)
    assert posts.claim("C1", NOW + timedelta(hours=2)) is None
    # 15:00 UTC is already the next day in Tokyo.
    assert posts.claim("C1", NOW + timedelta(hours=3)).day == date(2026, 3, 5)
    other = DailyPosts(make_coach(seed=1, tz="Asia/Tokyo"))  # another process
    assert other.claim("C1", NOW) is None


def test_daily_thread_answers_earn_participation_once_and_a_summary(make_coach):
    coach = make_coach()
    posts = DailyPosts(coach)
    post = posts.claim("C1", NOW)
    posts.record_ts("C1", post.day, "1700000000.000100")
    assert posts.for_thread("C1", "1700000000.000100").question == post.question
    right = post.question.answer_text()[0] if post.question.is_choice else "90"
    wrong = "Z" if post.question.is_choice else "20"
    for who, text, minute in [("local:ada", right, 1), ("local:bob", wrong, 2),
                              ("local:ada", right, 3), ("local:cat", right, 4)]:
        coach.register(who, who[6:].title())
        feedback = posts.answer(who, "C1", "1700000000.000100", text,
                                NOW + timedelta(minutes=minute))
        assert feedback.recorded is (text != "Z")
    summary = posts.summary(post)
    answered = 3 if not post.question.is_choice else 2
    assert summary.answered == answered
    assert summary.best[0][:2] == ("local:ada", "Ada")
    board = {e.person_id: e.points for e in coach.leaderboard(NOW + timedelta(hours=1),
                                                                "all").entries}
    top = 100 if post.question.is_choice else 90
    assert board["local:ada"] == top + PARTICIPATION_POINTS


def test_previous_daily_is_the_last_post_before_a_day(make_coach):
    posts = DailyPosts(make_coach())
    first = posts.claim("C1", NOW)
    posts.claim("C1", NOW + timedelta(days=1))
    assert posts.previous("C1", date(2026, 3, 5)).question == first.question
    assert posts.previous("C1", date(2026, 3, 4)) is None


def test_daily_questions_do_not_repeat_while_fresh_ones_remain(make_coach, fixture_corpus):
    posts = DailyPosts(make_coach())
    ids = [posts.claim("C1", NOW + timedelta(days=d)).question.id
           for d in range(len(fixture_corpus))]
    assert len(set(ids)) == len(fixture_corpus)
