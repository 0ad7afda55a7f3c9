"""An answer is graded against the question it answered, whatever happens before the grade.

The grade of a DM answer runs later than its intake: in the work pool, and while the model
loads, in the pool's waiting list. A person who meanwhile presses Skip (or types `skip`) has
moved on to a new question; the answer already sent still belongs to the old one.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
from harness import Clock, credits_its_reference, serve, slack_settings, texts, wait_until
from standin import TEAM

from bot.slack import blocks
from bot.slack.app import build_app
from bot.slack.runtime import person_id
from bot.slack.work import Work
from bot.wiring import build_coach

ADA = "U0ADA"
DM = "D" + ADA
PID = person_id(TEAM, ADA)


def posts(slack):
    return slack.standin.of("chat.postMessage", channel=DM)


@pytest.mark.parametrize("skip", ["button", "typed"])
def test_an_answer_skipped_before_its_grade_is_graded_against_its_own_question(
        tmp_path, standin, embedder, skip):
    # Grading jobs wait while this is clear, as they do while the model loads: the answer is
    # taken in, and its grade is held until the skip has been carried out.
    grading = threading.Event()
    settings = slack_settings(tmp_path, standin)
    coach = build_coach(settings, embedder=embedder)
    clock = Clock()
    app, rt = build_app(settings, coach, clock=clock,
                        work=Work(ready=lambda: grading.is_set() and coach.ready, poll=0.05))
    with serve(app, rt, standin, settings, clock) as slack:
        slack.dm(ADA, "quiz")
        for _ in range(40):  # skipping needs no model, so it is not held
            wait_until(lambda: len(posts(slack)) > 0 and coach.pending(PID) is not None,
                       what="a question")
            answered = coach.pending(PID)
            # the feedback below must tick a point of its own reference (harness docstring)
            if answered.type == "open" and credits_its_reference(coach.grader, answered):
                break
            count = len(posts(slack))
            slack.dm(ADA, "skip")
            wait_until(lambda c=count: len(posts(slack)) > c, what="the next question")
        assert answered.type == "open"
        count = len(posts(slack))

        slack.dm(ADA, answered.reference_answer)
        # Parked, not merely taken in: the job counts as waiting from intake, and a skip sent
        # before it parks may post the next question ahead of the notice (seen in CI).
        slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)
        wait_until(lambda: rt.jobs.waiting == 1, what="the answer to wait for its grade")
        if skip == "button":
            slack.click(blocks.SKIP, answered.id, ADA, DM, posts(slack)[-1].result["ts"])
        else:
            slack.dm(ADA, "skip")
        replies = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)
        assert "still warming up" in replies[count].args["text"]
        assert replies[count + 1].args["text"] == blocks.question_text(coach.pending(PID))
        next_question = coach.pending(PID)
        assert next_question is not None and next_question != answered
        # the grade has not run yet (the skip's own job closes a moment after its post)
        wait_until(lambda: rt.jobs.waiting == 1, what="only the answer to be left")

        grading.set()
        feedback = slack.standin.wait_for("chat.postMessage", count=count + 3, channel=DM)[-1]
        slack.idle()
        with sqlite3.connect(slack.db_path) as db:
            attempts = db.execute("SELECT question_id, source FROM attempts").fetchall()
        assert attempts == [(answered.id, "dm")]
        # The feedback is about the answered question: its key points, its reference answer.
        assert feedback.args["text"].startswith("Score ")
        ids = [b.get("block_id") for b in feedback.args["blocks"]]
        assert f"feedback:{answered.id}" in ids
        assert "✓" in texts(feedback.args["blocks"])  # its own reference covers its points
        # ... and the question the person moved on to is still theirs to answer.
        assert coach.pending(PID) == next_question
