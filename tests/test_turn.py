"""One turn for every front end: what a person typed -> intent -> reply (scripted grader)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core import turn as t
from bot.core.grade import EMPTY, UNCLEAR_CHOICE, WEAK, Grade

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ADA = "local:ada"
OPEN_ID, CHOICE_ID = "fx-least-privilege", "fx-kms-encryption"


# --- parse -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind", [
    ("hint", t.HINT), ("Hint!", t.HINT), ("  HINT  ", t.HINT),
    ("give up", t.GIVE_UP), ("I don't know", t.GIVE_UP), ("I don’t know.", t.GIVE_UP),
    ("idk", t.GIVE_UP), ("show me the answer", t.GIVE_UP),
    ("skip", t.NEXT), ("next", t.NEXT), ("another", t.NEXT),
    ("stats", t.STATS), ("board", t.BOARD), ("help", t.HELP), ("?", t.HELP),
    ("quit", t.QUIT), ("exit", t.QUIT), ("q", t.QUIT),
    ("hi", t.REPEAT),
    ("next I would shard the data", t.ANSWER), ("more data augmentation", t.ANSWER),
    ("b", t.ANSWER), ("a and c", t.ANSWER), ("", t.ANSWER),
])
def test_with_a_question_open_a_message_is_a_command_word_or_the_answer(text, kind):
    assert t.parse(text, has_pending=True).kind == kind


@pytest.mark.parametrize("text", ["hint", "I don't know", "skip", "hi", "hello there",
                                  "what is this"])
def test_without_a_question_open_anything_but_a_command_asks_for_one(text):
    assert t.parse(text, has_pending=False) == t.Intent(t.NEXT)


@pytest.mark.parametrize("text, pending, topic", [
    ("ask security", True, "security"), ("quiz me on kms", True, "kms"),
    ("more data augmentation", False, "data augmentation"), ("next question", False, None),
])
def test_ask_words_may_carry_a_topic(text, pending, topic):
    assert t.parse(text, pending) == t.Intent(t.NEXT, topic=topic)


# Moved from tests/slack/test_slack_blocks.py with the Slack DM's own parser, which this one
# replaced: its kinds "question" (none open) and "skip" (one open) are both NEXT here.
@pytest.mark.parametrize("text, pending, kind, topic", [
    ("hi", False, t.NEXT, None),
    ("quiz", False, t.NEXT, None),
    ("ask security", False, t.NEXT, "security"),
    ("quiz me on feature engineering", False, t.NEXT, "feature engineering"),
    ("next", False, t.NEXT, None),
    ("hint", False, t.NEXT, None),
    ("hint", True, t.HINT, None),
    ("skip", True, t.NEXT, None),
    ("next", True, t.NEXT, None),
    ("ask security", True, t.NEXT, "security"),
    ("more data augmentation", True, t.ANSWER, None),
    ("Next, enable encryption at rest with KMS", True, t.ANSWER, None),
    ("c", True, t.ANSWER, None),
    ("hello", True, t.REPEAT, None),
    ("help", True, t.HELP, None),
    ("stats", False, t.STATS, None),
    ("I would use KMS", False, t.NEXT, None),
])
def test_a_dm_is_a_command_or_the_answer(text, pending, kind, topic):
    intent = t.parse(text, pending)
    assert (intent.kind, intent.topic) == (kind, topic)


def test_an_answer_keeps_its_exact_text():
    assert t.parse("  B)  ", True) == t.Intent(t.ANSWER, text="  B)  ")


def test_every_command_is_in_the_help_with_what_it_does():
    for command in t.COMMANDS:
        assert f"{command.words[0]}: {command.what}" in t.help_text()
        for word in command.words:
            assert t.parse(word, has_pending=True).kind == command.intent, word


# --- check_answer ----------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   ", "\n\n", "...", "__"])
def test_an_empty_answer_has_one_wording_for_every_question_type(fixture_corpus, text):
    for question in (fixture_corpus.get(OPEN_ID), fixture_corpus.get(CHOICE_ID)):
        found = t.check_answer(question, text)
        assert found == t.Problem(EMPTY, "That was an empty answer. Type an answer first.")


def test_an_answer_over_the_limit_is_refused_not_cut(fixture_corpus):
    question = fixture_corpus.get(OPEN_ID)
    assert t.check_answer(question, "x" * t.MAX_ANSWER_CHARS) is None
    found = t.check_answer(question, "x" * (t.MAX_ANSWER_CHARS + 1))
    assert found.code == t.TOO_LONG and "4,001 characters" in found.message


def test_answer_problems_name_the_limit_and_keep_the_question(fixture_corpus):
    # Moved from tests/slack/test_slack_blocks.py with the Slack DM's own checks; the empty
    # answer's wording is the one above, for every front end.
    question = fixture_corpus.get(OPEN_ID)
    assert t.check_answer(question, "a fine answer") is None
    assert t.check_answer(question, "  ").code == EMPTY
    message = t.check_answer(question, "x" * (t.MAX_ANSWER_CHARS + 1)).message
    assert f"{t.MAX_ANSWER_CHARS:,}" in message and "still open" in message


@pytest.mark.parametrize("code", [EMPTY, UNCLEAR_CHOICE])
def test_the_graders_flags_and_the_checks_share_one_wording(fixture_corpus, code):
    question = fixture_corpus.get(CHOICE_ID)
    text = "" if code == EMPTY else "a c"
    assert t.problem(code, question) == t.check_answer(question, text)


def test_the_limit_is_counted_on_the_text_as_graded(fixture_corpus):
    # A front end strips its own markup first (Slack); what is left is what counts.
    question = fixture_corpus.get(OPEN_ID)
    at_limit = "y" * t.MAX_ANSWER_CHARS
    assert t.check_answer(question, at_limit) is None
    assert t.check_answer(question, at_limit + "y").code == t.TOO_LONG


@pytest.mark.parametrize("text", ["zz", "a c", "b and d", "the cheap one"])
def test_an_unclear_choice_says_the_question_has_one_answer(fixture_corpus, text):
    found = t.check_answer(fixture_corpus.get(CHOICE_ID), text)
    assert found.code == UNCLEAR_CHOICE
    assert "single answer among A, B, C and D. Pick a letter." in found.message
    assert "a and c" not in found.message  # no hint that two letters would do


def test_a_multi_answer_question_asks_for_as_many_letters_as_it_has_answers(fixture_corpus):
    multi = next(q for q in fixture_corpus if q.type == "multi")
    found = t.check_answer(multi, "zz")
    assert found.code == UNCLEAR_CHOICE
    assert f"has {len(multi.answer)} answers" in found.message


@pytest.mark.parametrize("text", ["b", "B)", "option b", "C"])
def test_clear_choices_pass_the_check(fixture_corpus, text):
    assert t.check_answer(fixture_corpus.get(CHOICE_ID), text) is None


# --- Turn over the coach ---------------------------------------------------------------------

@pytest.fixture
def turn(make_coach):
    coach = make_coach()
    coach.register(ADA, "ada")
    return t.Turn(coach, source="dm")


def test_start_resumes_the_open_question_or_starts_on_a_given_one(turn):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    assert turn.start(ADA, NOW) == t.Asked(turn.coach.question(OPEN_ID), resumed=True)
    started = turn.start(ADA, NOW, question_id=CHOICE_ID)
    assert started == t.Asked(turn.coach.question(CHOICE_ID))
    assert turn.coach.pending(ADA).id == CHOICE_ID


def test_a_filter_that_matches_nothing_lists_the_domains_and_topics(turn):
    reply = turn.start(ADA, NOW, topic="nonsense")
    assert isinstance(reply, t.NoQuestion)
    assert "No question matches “nonsense”" in reply.message
    assert "Domains: Data Engineering (tasks 1.x);" in reply.message
    assert "Topics: " in reply.message and "security" in reply.message


def test_an_answer_is_graded_and_recorded_with_the_front_ends_source(turn):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    reply = turn.take(ADA, "80 I would scope the role", NOW)
    assert isinstance(reply, t.Graded) and not reply.gave_up
    assert reply.feedback.grade.score == 80
    assert turn.coach.export(ADA)["attempts"][0]["source"] == "dm"


def test_an_unusable_answer_never_reaches_the_grader_and_keeps_the_question(turn):
    turn.coach.ask(ADA, CHOICE_ID, NOW)
    for text in ("", "a c", "x" * 5000):
        reply = turn.take(ADA, text, NOW)
        assert isinstance(reply, t.Unusable), text
    assert turn.coach.grader.calls == 0
    assert turn.coach.pending(ADA).id == CHOICE_ID


def test_the_graders_own_refusal_gets_the_turns_wording(turn, fixture_corpus):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    turn.coach.grader.grade = lambda q, text: Grade(0, WEAK, flag=EMPTY, message="its words")
    reply = turn.answer(ADA, "80 something", NOW)
    assert reply == t.Unusable(fixture_corpus.get(OPEN_ID), t.problem(EMPTY, reply.question))


def test_giving_up_shows_the_answer_records_a_miss_and_brings_it_back(turn):
    turn.coach.ask(ADA, CHOICE_ID, NOW)
    reply = turn.take(ADA, "I don't know", NOW)
    assert isinstance(reply, t.Graded) and reply.gave_up
    assert reply.feedback.question.id == CHOICE_ID and reply.feedback.grade.score == 0
    assert reply.feedback.next_review == NOW + timedelta(minutes=10)
    assert turn.coach.pending(ADA) is None
    attempts = turn.coach.export(ADA)["attempts"]
    assert [(a["question_id"], a["score"]) for a in attempts] == [(CHOICE_ID, 0)]
    later = NOW + timedelta(minutes=11)
    turn.take(ADA, "next", later)  # never the one just asked ...
    again = turn.take(ADA, "next", later + timedelta(minutes=1))  # ... but then it is due
    assert again.question.id == CHOICE_ID


def test_skip_leaves_the_open_question_and_records_nothing(turn):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    reply = turn.take(ADA, "skip", NOW)
    assert isinstance(reply, t.Asked) and reply.skipped.id == OPEN_ID
    assert reply.question.id != OPEN_ID
    assert turn.coach.export(ADA)["attempts"] == []


def test_hint_stats_board_help_and_quit_leave_the_question_open(turn):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    assert turn.take(ADA, "hint", NOW).hint.startswith("Think about security")
    assert isinstance(turn.take(ADA, "stats", NOW), t.ShowStats)
    assert isinstance(turn.take(ADA, "board", NOW), t.ShowBoard)
    assert turn.take(ADA, "help", NOW) == t.ShowHelp()
    assert turn.take(ADA, "quit", NOW) == t.Quit()
    assert turn.take(ADA, "hello", NOW) == t.Asked(turn.coach.question(OPEN_ID), resumed=True)
    assert turn.coach.pending(ADA).id == OPEN_ID


def test_ask_with_a_topic_moves_on_to_that_topic(turn):
    turn.coach.ask(ADA, OPEN_ID, NOW)
    reply = turn.take(ADA, "ask xgboost", NOW)
    assert reply.question.id == "fx-xgboost-tabular" and reply.skipped.id == OPEN_ID
