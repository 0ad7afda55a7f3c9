"""Scheduling: golden fsrs sequences under a fixed clock, and how the next question is chosen."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fsrs import Rating

from bot.core import schedule
from bot.core.grade import OFF_TOPIC, PARTIAL, STRONG, WEAK
from bot.core.schedule import ReviewState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTES = timedelta(minutes=1)
DAYS = timedelta(days=1)
LEARNING, REVIEW, RELEARNING = 1, 2, 3


@pytest.mark.parametrize("band, rating", [
    (STRONG, Rating.Good), (PARTIAL, Rating.Hard), (WEAK, Rating.Again),
    (OFF_TOPIC, Rating.Again),
])
def test_a_band_maps_to_a_rating_and_a_failed_answer_is_again(band, rating):
    assert schedule.rating_for(band) == rating


# Each step answers when the question falls due; (band, state after, interval to next due).
GOLDEN = {
    "always strong": [(STRONG, REVIEW, 2 * DAYS), (STRONG, REVIEW, 11 * DAYS),
                      (STRONG, REVIEW, 46 * DAYS), (STRONG, REVIEW, 163 * DAYS)],
    "failed first": [(WEAK, LEARNING, 10 * MINUTES), (STRONG, REVIEW, 1 * DAYS),
                     (STRONG, REVIEW, 2 * DAYS), (STRONG, REVIEW, 6 * DAYS)],
    "lapse": [(STRONG, REVIEW, 2 * DAYS), (STRONG, REVIEW, 11 * DAYS),
              (OFF_TOPIC, RELEARNING, 10 * MINUTES), (STRONG, REVIEW, 2 * DAYS)],
    "partial twice": [(PARTIAL, LEARNING, 15 * MINUTES), (PARTIAL, LEARNING, 15 * MINUTES),
                      (STRONG, REVIEW, 1 * DAYS)],
}


@pytest.mark.parametrize("name", list(GOLDEN))
def test_golden_sequence_under_a_fixed_clock(name):
    state, now = None, T0
    for step, (band, expected_state, interval) in enumerate(GOLDEN[name], start=1):
        state = schedule.review(state, "q1", band, now)
        assert (state.state, state.due - now) == (expected_state, interval), f"step {step}"
        assert state.last_review == now
        assert state.reviews == step
        now = state.due


def test_the_same_answers_at_the_same_times_schedule_the_same_way():
    runs = []
    for _ in range(2):
        state = schedule.review(None, "q1", STRONG, T0)
        runs.append(schedule.review(state, "q1", PARTIAL, state.due).to_dict())
    assert runs[0] == runs[1]


def test_a_failed_review_comes_back_sooner_than_a_partial_one():
    state = schedule.review(None, "q1", STRONG, T0)
    failed = schedule.review(state, "q1", WEAK, state.due)
    partial = schedule.review(state, "q1", PARTIAL, state.due)
    assert failed.due < partial.due


def test_review_state_survives_a_round_trip_through_a_row():
    state = schedule.review(schedule.review(None, "q1", STRONG, T0), "q1", WEAK, T0 + 2 * DAYS)
    assert ReviewState.from_dict(state.to_dict()) == state


def test_time_in_another_zone_is_the_same_instant():
    paris = timezone(timedelta(hours=1))
    assert (schedule.review(None, "q", STRONG, T0.astimezone(paris))
            == schedule.review(None, "q", STRONG, T0))


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule.review(None, "q1", STRONG, datetime(2026, 3, 2, 9, 0))


# --- the filter ------------------------------------------------------------------------

@pytest.mark.parametrize("query, expected", [
    ("security", {"fx-least-privilege", "fx-kms-encryption"}),
    ("securty", {"fx-least-privilege", "fx-kms-encryption"}),
    ("SECURITY ", {"fx-least-privilege", "fx-kms-encryption"}),
    ("xgboost", {"fx-xgboost-tabular"}),
    ("modelling", {"fx-overfitting", "fx-xgboost-tabular", "fx-hpo-strategies"}),
    ("Data Engineering", {"fx-s3-data-lake", "fx-kinesis-streaming", "fx-glue-etl"}),
    ("4.3", {"fx-least-privilege", "fx-kms-encryption"}),
])
def test_filter_matches_topics_domains_and_tasks_forgiving_typos(fixture_corpus, query,
                                                                   expected):
    found = schedule.match_filter(query, list(fixture_corpus))
    assert {q.id for q in found} == expected


@pytest.mark.parametrize("query", ["quantum chromodynamics", "zzz"])
def test_filter_that_matches_nothing_returns_nothing(fixture_corpus, query):
    assert schedule.match_filter(query, list(fixture_corpus)) == []


@pytest.mark.parametrize("query, expected", [
    ("a", set()), ("e", set()), ("ml", set()),
    ("kms", {"fx-kms-encryption"}), ("KMS", {"fx-kms-encryption"}),
])
def test_a_short_query_must_name_a_label_exactly(fixture_corpus, query, expected):
    # Fuzzy matching would find one letter inside every label and match the whole bank.
    assert {q.id for q in schedule.match_filter(query, list(fixture_corpus))} == expected


def test_the_choices_for_a_filter_name_every_domain_and_topic(fixture_corpus):
    said = schedule.filter_choices(list(fixture_corpus), "mla-c01")
    assert said.startswith("Domains: Data Preparation for ML (tasks 1.x); ML Model Development")
    assert all(topic in said for topic in fixture_corpus.topics())


def test_no_filter_keeps_every_question(fixture_corpus):
    assert len(schedule.match_filter(None, list(fixture_corpus))) == len(fixture_corpus)


# --- choosing --------------------------------------------------------------------------

def states_for(*entries):
    return [ReviewState(question_id=qid, state=REVIEW, step=None, stability=3.0,
                        difficulty=5.0, due=due, last_review=due - 3 * DAYS, reviews=1)
            for qid, due in entries]


def test_due_reviews_come_first_most_overdue_first(fixture_corpus):
    states = states_for(("fx-glue-etl", T0 - DAYS), ("fx-one-hot", T0 - 3 * DAYS),
                        ("fx-overfitting", T0 + DAYS))
    best = {"fx-glue-etl": 90, "fx-one-hot": 80, "fx-overfitting": 90}
    chosen = schedule.choose_next(list(fixture_corpus), states, best, T0, random.Random(1),
                                  "mls-c01")
    assert chosen.id == "fx-one-hot"


def test_never_the_question_just_asked_even_when_it_is_the_most_due(fixture_corpus):
    states = states_for(("fx-glue-etl", T0 - DAYS), ("fx-one-hot", T0 - 3 * DAYS))
    chosen = schedule.choose_next(list(fixture_corpus), states, {}, T0, random.Random(1),
                                  "mls-c01", last_asked="fx-one-hot")
    assert chosen.id == "fx-glue-etl"


def test_never_the_question_just_asked_over_many_draws(fixture_corpus):
    rng = random.Random(3)
    for _ in range(200):
        last = rng.choice(list(fixture_corpus)).id
        chosen = schedule.choose_next(list(fixture_corpus), [], {}, T0, rng, "mls-c01",
                                      last_asked=last, query="security")
        assert chosen.id != last


def test_only_the_question_just_asked_left_means_none(fixture_corpus):
    assert schedule.choose_next(list(fixture_corpus), [], {}, T0, random.Random(1), "mls-c01",
                                last_asked="fx-xgboost-tabular", query="xgboost") is None


def test_with_nothing_due_and_nothing_new_the_soonest_review_is_asked(fixture_corpus):
    security = [q for q in fixture_corpus if "security" in q.topics]
    states = states_for(("fx-least-privilege", T0 + 5 * DAYS), ("fx-kms-encryption", T0 + DAYS))
    best = {q.id: 90 for q in security}
    chosen = schedule.choose_next(list(fixture_corpus), states, best, T0, random.Random(1),
                                  "mls-c01", query="security")
    assert chosen.id == "fx-kms-encryption"


def draw_domains(questions, best, exam, draws=4000, seed=11):
    """Which domain new questions come from, over many independent first draws."""
    rng = random.Random(seed)
    counts = Counter()
    for _ in range(draws):
        chosen = schedule.choose_next(questions, [], best, T0, rng, exam)
        counts[chosen.exam_domain(exam)] += 1
    return {domain: n / draws for domain, n in counts.items()}


def test_new_questions_follow_the_exam_weights(fixture_corpus):
    shares = draw_domains(list(fixture_corpus), {}, "mls-c01")
    assert shares["Modeling"] == pytest.approx(0.36, abs=0.03)
    assert shares["Exploratory Data Analysis"] == pytest.approx(0.24, abs=0.03)
    assert shares["Data Engineering"] == pytest.approx(0.20, abs=0.03)


def test_new_questions_tilt_toward_the_weakest_domain(fixture_corpus):
    # One question answered in each of two domains: Data Engineering badly, Modeling well.
    best = {"fx-s3-data-lake": 20, "fx-overfitting": 95}
    shares = draw_domains(list(fixture_corpus), best, "mls-c01")
    # Data Engineering's weight 0.20 doubles to 0.40 of a total of 1.20.
    assert shares["Data Engineering"] == pytest.approx(0.40 / 1.20, abs=0.03)
    assert schedule.weakest_domain(list(fixture_corpus), best, "mls-c01") == "Data Engineering"


def test_mla_weights_apply_when_the_exam_is_mla(fixture_corpus):
    shares = draw_domains(list(fixture_corpus), {}, "mla-c01")
    # The fixture maps six items to Data Preparation for ML and none to Deployment, so that
    # domain's 0.22 is left out: 0.28 / (0.28 + 0.26 + 0.24).
    assert shares["Data Preparation for ML"] == pytest.approx(0.28 / 0.78, abs=0.03)
    assert "Deployment and Orchestration of ML Workflows" not in shares


def test_choice_depends_only_on_the_seed(fixture_corpus):
    picks = [[schedule.choose_next(list(fixture_corpus), [], {}, T0, rng, "mls-c01").id
              for _ in range(10)] for rng in (random.Random(5), random.Random(5))]
    assert picks[0] == picks[1]
