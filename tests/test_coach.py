"""The coach's use cases over a real SQLite file and the fixture bank (scripted grader)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.coach import (
    CoachError,
    NoPendingQuestion,
    NoQuestionsLeft,
    UnknownPerson,
    UnknownQuestion,
)
from bot.core.grade import EMPTY, STRONG

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
ADA = "local:ada"


def open_question(coach, person=ADA, now=NOW, topic=None):
    """Ask until an open (free-text) question comes up; returns it."""
    for _ in range(50):
        question = coach.next_question(person, now, topic)
        if not question.is_choice:
            return question
    raise AssertionError("no open question drawn")


def test_next_question_becomes_the_pending_one(make_coach):
    coach = make_coach()
    coach.register(ADA, "Ada")
    question = coach.next_question(ADA, NOW)
    assert coach.pending(ADA) == question


def test_the_pending_question_survives_a_new_coach_on_the_same_database(make_coach):
    first = make_coach()
    question = first.next_question(ADA, NOW)
    assert make_coach(seed=99).pending(ADA) == question


def test_an_answer_is_graded_recorded_and_closes_the_question(make_coach, store):
    coach = make_coach()
    question = open_question(coach)
    feedback = coach.answer(ADA, "80 because ...", NOW)
    assert feedback.recorded and feedback.question == question
    assert feedback.grade.score == 80 and feedback.grade.band == STRONG
    assert feedback.best_before is None
    assert feedback.next_review == NOW + timedelta(days=2)
    assert coach.pending(ADA) is None
    assert store.best_scores(ADA) == {question.id: 80}


def test_a_failed_answer_comes_back_for_review_first(make_coach):
    coach = make_coach()
    question = open_question(coach)
    feedback = coach.answer(ADA, "10", NOW)
    assert feedback.grade.band != STRONG
    assert feedback.next_review == NOW + timedelta(minutes=10)
    coach.next_question(ADA, NOW + timedelta(minutes=11))  # never the one just asked ...
    again = coach.next_question(ADA, NOW + timedelta(minutes=12))  # ... but the next time
    assert again == question


def test_an_empty_answer_is_not_recorded_and_keeps_the_question(make_coach, store):
    coach = make_coach()
    question = open_question(coach)
    feedback = coach.answer(ADA, "   ", NOW)
    assert not feedback.recorded and feedback.grade.flag == EMPTY
    assert coach.pending(ADA) == question
    assert store.attempt_summary(ADA) == (0, None)


def test_answering_with_nothing_pending_is_a_named_error(make_coach):
    coach = make_coach()
    coach.register(ADA, "Ada")
    with pytest.raises(NoPendingQuestion):
        coach.answer(ADA, "80", NOW)
    with pytest.raises(NoPendingQuestion):
        coach.hint(ADA)


def test_an_answer_to_a_named_question_needs_no_pending_one(make_coach):
    coach = make_coach()
    feedback = coach.answer(ADA, "B", NOW, source="dm", question_id="fx-kms-encryption")
    assert feedback.recorded and feedback.grade.score == 100
    with pytest.raises(UnknownQuestion):
        coach.answer(ADA, "B", NOW, question_id="no-such-question")


def test_best_before_reports_the_previous_best(make_coach):
    coach = make_coach()
    coach.answer(ADA, "40", NOW, question_id="fx-overfitting")
    coach.answer(ADA, "90", NOW + timedelta(days=1), question_id="fx-overfitting")
    third = coach.answer(ADA, "60", NOW + timedelta(days=2), question_id="fx-overfitting")
    assert third.best_before == 90


def test_skip_records_nothing_and_moves_on(make_coach, store):
    coach = make_coach()
    first = coach.next_question(ADA, NOW)
    second = coach.skip(ADA, NOW)
    assert second != first and coach.pending(ADA) == second
    assert store.attempt_summary(ADA) == (0, None)


def test_hint_uses_the_items_hint_or_a_generic_nudge(make_coach):
    coach = make_coach()
    assert coach.hint(ADA, "fx-overfitting") == "Name the problem first, then the levers that " \
                                                "reduce it."
    # fx-missing-values has no hint of its own.
    assert coach.hint(ADA, "fx-missing-values") == (
        "Think about imputation, data-cleaning; a strong answer makes 4 distinct points.")


def test_a_typo_in_the_topic_still_finds_it(make_coach):
    coach = make_coach()
    for _ in range(10):
        assert "security" in coach.next_question(ADA, NOW, topic="securty").topics


def test_a_topic_that_matches_nothing_says_so_and_suggests_one(make_coach):
    coach = make_coach()
    with pytest.raises(NoQuestionsLeft, match="No question matches “kubernetes”"):
        coach.next_question(ADA, NOW, topic="kubernetes")


def test_the_only_question_on_a_topic_is_not_asked_twice_running(make_coach):
    coach = make_coach()
    assert coach.next_question(ADA, NOW, topic="xgboost").id == "fx-xgboost-tabular"
    with pytest.raises(NoQuestionsLeft, match="only question"):
        coach.next_question(ADA, NOW, topic="xgboost")


def test_every_question_gets_asked_before_any_repeats(make_coach, fixture_corpus):
    coach = make_coach()
    now, seen = NOW, []
    for _ in range(len(fixture_corpus)):
        question = coach.next_question(ADA, now)
        seen.append(question.id)
        coach.answer(ADA, " ".join(question.answer) if question.is_choice else "90", now)
        now += timedelta(minutes=1)
    assert sorted(seen) == sorted(q.id for q in fixture_corpus)


def test_naive_time_is_refused(make_coach):
    with pytest.raises(ValueError, match="timezone-aware"):
        make_coach().next_question(ADA, datetime(2026, 3, 4, 12))


# --- stats ----------------------------------------------------------------------------

def test_stats_of_someone_never_seen_is_a_named_error(make_coach):
    with pytest.raises(UnknownPerson):
        make_coach().stats("local:nobody", NOW)


def test_stats_add_up(make_coach):
    coach = make_coach()
    coach.register(ADA, "Ada", "Europe/Paris")
    coach.answer(ADA, "80", NOW - timedelta(days=1), question_id="fx-overfitting")
    coach.answer(ADA, "40", NOW, question_id="fx-overfitting")
    coach.answer(ADA, "A", NOW, question_id="fx-glue-etl")
    coach.answer(ADA, "B", NOW, question_id="fx-xgboost-tabular")  # wrong: C
    stats = coach.stats(ADA, NOW)
    assert stats.attempts == 4
    assert stats.average_score == pytest.approx((80 + 40 + 100 + 0) / 4)
    assert (stats.current_streak, stats.longest_streak) == (2, 2)
    domains = {d.domain: d for d in stats.domains}
    modeling = domains["Modeling"]
    assert (modeling.attempted, modeling.total) == (2, 3)
    assert modeling.mastery == pytest.approx((0.80 + 0 + 0) / 3)  # best scores, over all 3
    assert domains["Data Engineering"].mastery == pytest.approx(1.0 / 3)
    assert stats.readiness == pytest.approx(0.36 * 0.80 / 3 + 0.20 * 1.0 / 3)
    assert stats.exam == "mls-c01"


def test_reviews_due_counts_only_questions_whose_time_has_come(make_coach):
    coach = make_coach()
    coach.answer(ADA, "10", NOW, question_id="fx-overfitting")  # due in 10 minutes
    coach.answer(ADA, "90", NOW, question_id="fx-missing-values")  # due in 2 days
    assert coach.stats(ADA, NOW).reviews_due == 0
    assert coach.stats(ADA, NOW + timedelta(minutes=10)).reviews_due == 1
    assert coach.stats(ADA, NOW + timedelta(days=2)).reviews_due == 2


def test_readiness_uses_the_mla_blueprint_when_asked(make_coach):
    coach = make_coach(exam="mla-c01")
    coach.answer(ADA, "100", NOW, question_id="fx-overfitting")
    stats = coach.stats(ADA, NOW)
    assert [d.domain for d in stats.domains][0] == "Data Preparation for ML"
    assert stats.readiness == pytest.approx(0.26 * 1.0 / 3)


# --- the leaderboard --------------------------------------------------------------------

def test_the_board_counts_best_scores_once_and_shows_my_rank(make_coach):
    coach = make_coach()
    for i, name in enumerate(["ada", "bob", "cat"]):
        coach.register(f"local:{name}", name.title())
        coach.answer(f"local:{name}", str(50 + 10 * i), NOW, question_id="fx-overfitting")
    for minute in range(1, 21):  # ada farms the same question at the same score
        coach.answer(ADA, "50", NOW + timedelta(minutes=minute), question_id="fx-overfitting")
    board = coach.leaderboard(NOW + timedelta(hours=1), "all", person_id=ADA, limit=2)
    assert [(e.rank, e.display_name, e.points) for e in board.entries] == [(1, "Cat", 70),
                                                                          (2, "Bob", 60)]
    assert (board.me.rank, board.me.points) == (3, 50)


def test_the_weekly_board_resets_on_monday_in_the_workspace_zone(make_coach):
    coach = make_coach(tz="America/Los_Angeles")
    sunday_night_la = datetime(2026, 3, 16, 6, 30, tzinfo=UTC)  # Sun 23:30 PDT
    monday_morning_la = datetime(2026, 3, 16, 7, 30, tzinfo=UTC)  # Mon 00:30 PDT
    coach.answer(ADA, "80", sunday_night_la, question_id="fx-overfitting")
    coach.answer("local:bob", "30", monday_morning_la, question_id="fx-overfitting")
    week = coach.leaderboard(monday_morning_la, "week", person_id=ADA)
    assert [(e.person_id, e.points) for e in week.entries] == [("local:bob", 30)]
    assert week.me is None
    assert week.since == datetime(2026, 3, 16, 7, 0, tzinfo=UTC)
    # Looking back at the week before, Monday's answer belongs to the next week.
    before = coach.leaderboard(sunday_night_la, "week")
    assert [(e.person_id, e.points) for e in before.entries] == [(ADA, 80)]
    all_time = coach.leaderboard(monday_morning_la, "all")
    assert [(e.person_id, e.points) for e in all_time.entries] == [(ADA, 80), ("local:bob", 30)]


def test_an_unknown_board_period_is_a_coach_error(make_coach):
    with pytest.raises(CoachError):
        make_coach().leaderboard(NOW, "month")


# --- privacy ----------------------------------------------------------------------------

def test_export_holds_everything_and_is_json(make_coach):
    coach = make_coach()
    coach.register(ADA, "Ada", "Europe/Paris")
    coach.answer(ADA, "80 my answer", NOW, question_id="fx-overfitting")
    coach.next_question(ADA, NOW)
    data = json.loads(json.dumps(coach.export(ADA)))
    assert data["person"]["display_name"] == "Ada" and data["person"]["tz"] == "Europe/Paris"
    [attempt] = data["attempts"]
    assert attempt["answer"] == "80 my answer" and attempt["score"] == 80
    assert attempt["covered"] and attempt["missed"]
    assert [r["question_id"] for r in data["reviews"]] == ["fx-overfitting"]
    assert data["pending"]["is_open"] == 1


def test_forget_deletes_every_row_and_leaves_others(make_coach, store):
    coach = make_coach()
    for person in (ADA, "local:bob"):
        coach.answer(person, "80", NOW, question_id="fx-overfitting")
        coach.next_question(person, NOW)
    assert coach.forget(ADA) == 4  # attempt, review, pending, person
    with pytest.raises(UnknownPerson):
        coach.export(ADA)
    with pytest.raises(UnknownPerson):
        coach.forget(ADA)
    assert [e.person_id for e in coach.leaderboard(NOW, "all").entries] == ["local:bob"]
    for table in ("people", "attempts", "reviews", "pending"):
        column = "id" if table == "people" else "person_id"
        rows = store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?",
                                [ADA]).fetchone()
        assert rows == (0,), table


# --- people and the model's readiness ----------------------------------------------------

def test_register_updates_name_and_zone_and_falls_back_on_an_unknown_zone(make_coach):
    coach = make_coach(tz="Europe/Berlin")
    coach.register(ADA, "Ada", "Asia/Tokyo")
    assert coach.register(ADA, "Ada L.", "Mars/Olympus").tz == "Europe/Berlin"
    assert coach.person(ADA).display_name == "Ada L."


def test_warm_up_is_passed_to_a_grader_that_has_one(make_coach):
    class SlowGrader:
        ready = False
        warmed = 0

        def warm_up(self):
            self.warmed += 1

    grader = SlowGrader()
    coach = make_coach(grader=grader)
    assert not coach.ready
    coach.warm_up()
    assert grader.warmed == 1
    assert make_coach().ready  # the scripted grader has nothing to load


def test_a_person_s_exam_is_stored_and_drives_draws_and_stats(make_coach):
    from datetime import UTC, datetime

    from bot.core.coach import CoachError

    coach = make_coach(exam="mls-c01")
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    coach.register("local:ada", "Ada")
    assert coach.exam_for("local:ada") == "mls-c01"
    assert coach.choose_exam("local:ada", "MLA-C02") == "mla-c02"
    assert coach.exam_for("local:ada") == "mla-c02"
    assert coach.exam_for("local:bob") == "mls-c01"
    for _ in range(5):
        question = coach.next_question("local:ada", now)
        assert question.in_exam("mla-c02")
    stats = coach.stats("local:ada", now)
    assert stats.exam == "mla-c02"
    assert [d.domain for d in stats.domains][0] == "Data Preparation for ML and AI"
    assert coach.stats("local:ada", now, "mla-c01").exam == "mla-c01"
    assert coach.export("local:ada")["exam"] == "mla-c02"
    with pytest.raises(CoachError, match="mla-c02"):
        coach.choose_exam("local:ada", "aws-101")
