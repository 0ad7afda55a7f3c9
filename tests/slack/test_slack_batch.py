"""Answers waiting at the same time are graded after one embedder call for all of them (issue 10,
item 9), on the real served app with the real models, and each still ends on its own: its
attempt and its feedback, or its apology when it alone keeps failing.
"""

from __future__ import annotations

import sqlite3

import pytest
from harness import wait_until, weak_answer
from standin import TEAM
from test_slack_durable import feedback_posts, served

from bot.core.features import answer_texts
from bot.core.markup import clean
from bot.slack.jobs import MAX_TRIES
from bot.slack.runtime import person_id
from bot.slack.text import plain_text

PEOPLE_WAITING = 6



def people_waiting(bot, answer_of) -> dict[str, tuple]:
    """Each person gets an open question of the bank with key points; the model is held back
    while they all answer, so every answer waits. Returns user -> (question, answer)."""
    open_questions = [q for q in bot.coach.corpus if not q.is_choice and q.key_points]
    waiting = {}
    for n, question in enumerate(open_questions[:PEOPLE_WAITING]):
        user = f"U0W{n:02d}"
        bot.standin.add_user(user, user)
        bot.coach.ask(person_id(TEAM, user), question.id, bot.clock())
        waiting[user] = (question, answer_of(n, question))
    bot.loaded.clear()
    for user, (_, answer) in waiting.items():
        assert bot.dm(user, answer).status == 200
    # Each is told once that the model is warming up: all are parked, none graded.
    wait_until(lambda: _parked(bot.db_path) == len(waiting), what="every answer parked")
    assert bot.rows("attempts") == 0
    return waiting


def _parked(db_path: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT COUNT(*) FROM jobs WHERE waited = 1 AND done_at IS NULL"
                          ).fetchone()[0]


def stored_scores(db_path: str) -> dict[str, int]:
    with sqlite3.connect(db_path) as db:
        return dict(db.execute("SELECT person_id, score FROM attempts"))


def pieces(embedder, answer: str) -> set[str]:
    units, whole = answer_texts(embedder, clean(plain_text(answer)))
    return set(units + whole)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_waiting_answers_are_graded_after_one_embedder_call(tmp_path, standin, embedder,
                                                            counting_embedder, workers):
    """With two job threads, one finishes its own answer while the other still encodes the
    batch of the rest (slowed down here), then takes an answer of that batch: it waits for
    the call instead of encoding the answer a second time."""
    counting = counting_embedder(embedder, slow_over=20)
    with served(tmp_path, standin, counting, MLSPREP_JOB_WORKERS=workers) as bot:
        # Every answer its own text, so that a call holding its pieces holds that answer.
        waiting = people_waiting(bot, lambda n, q: q.reference_answer if n % 2 == 0
                                 else f"{weak_answer(q)} Person {n} is guessing")
        counting.calls.clear()
        bot.loaded.set()
        wait_until(lambda: all(feedback_posts(standin, u) for u in waiting), timeout=120,
                   what="everyone's feedback")
        bot.idle()
        calls = list(counting.calls)
        grader = bot.coach.grader._build()
        alone = {person_id(TEAM, u): grader.grade(q, plain_text(a)).score
                 for u, (q, a) in waiting.items()}

        # Each answer went to the model in one call, with all its pieces, never twice (its
        # whole text tells it apart: the vague ones share clauses); with one job thread,
        # the six answers all in the same call.
        wanted = {u: pieces(counting, a) for u, (_, a) in waiting.items()}
        graded_calls = [call for call in calls if any(set(call) & p for p in wanted.values())]
        for user, (_, answer) in waiting.items():
            whole = clean(plain_text(answer))
            holding = [call for call in graded_calls if whole in call]
            assert len(holding) == 1, (user, [len(c) for c in holding])
            assert wanted[user] <= set(holding[0])
        if workers == "1":
            assert len(graded_calls) == 1, [len(c) for c in graded_calls]
        # Each answer ended on its own: one attempt, one feedback, the score it gets alone.
        assert stored_scores(bot.db_path) == alone
        assert {u: len(feedback_posts(standin, u)) for u in waiting} == \
            {u: 1 for u in waiting}


def test_an_answer_that_keeps_failing_does_not_fail_its_batch(tmp_path, standin, embedder,
                                                              counting_embedder):
    counting = counting_embedder(embedder, fail_on="BOOM")
    with served(tmp_path, standin, counting, MLSPREP_JOB_WORKERS="1") as bot:
        waiting = people_waiting(bot, lambda n, q: q.reference_answer + (
            " BOOM." if n == 0 else ""))
        bad = next(iter(waiting))
        bot.loaded.set()
        good = [u for u in waiting if u != bad]
        wait_until(lambda: all(feedback_posts(standin, u) for u in good), timeout=120,
                   what="the others' feedback")
        # The failing one is tried MAX_TRIES times, then the person is told (their words kept).
        wait_until(lambda: bot.rows("jobs") and _outcome(bot.db_path, bad) == "failed",
                   timeout=60, what="the failing answer to be given up")
        bot.idle()
        graded = stored_scores(bot.db_path)
        assert set(graded) == {person_id(TEAM, u) for u in good}
        assert feedback_posts(standin, bad) == []
        told = [c.args.get("text", "") for c in standin.delivered(
            "chat.postMessage", channel="D" + bad)]
        assert any("nothing you sent was lost" in t for t in told), told
        assert _tries(bot.db_path, bad) == MAX_TRIES
        # The batch's shared call failed, so the others were graded one by one.
        assert sum(1 for call in counting.calls if any("BOOM" in t for t in call)) >= 2


def _outcome(db_path: str, user: str) -> str | None:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT outcome FROM jobs WHERE person_id = ? ORDER BY id DESC",
                         [person_id(TEAM, user)]).fetchone()
    return row[0] if row else None


def _tries(db_path: str, user: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT tries FROM jobs WHERE person_id = ? ORDER BY id DESC",
                          [person_id(TEAM, user)]).fetchone()[0]
