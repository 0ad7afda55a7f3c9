"""The Slack adapter's pure parts: Block Kit builders (as dicts) and the parsing of what people
type and click."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.core import turn
from bot.core.coach import (
    Board,
    BoardEntry,
    DomainMastery,
    Feedback,
    Person,
    Stats,
)
from bot.core.corpus import Question
from bot.core.grade import EMPTY, PARTIAL, STRONG, UNCLEAR_CHOICE, Grade
from bot.slack import blocks
from bot.slack.bookkeeping import DailyPost, DailySummary
from bot.slack.listeners.commands import BY_NAME, SUBCOMMANDS, help_message, unknown_message
from bot.slack.listeners.messages import classify, unusable_text
from bot.slack.text import (
    BadArguments,
    TamperedValue,
    parse_choice_value,
    parse_daily_args,
    parse_question_value,
    parse_topic_value,
    plain_text,
    split_command,
    suggest,
)

OPEN = Question(id="kms-at-rest", type="open", domain="Machine Learning Implementation and "
                "Operations", task="4.3", mla_c01_task="4.3",
                mla_c02_task="4.3", topics=("security", "kms"), difficulty="medium",
                prompt="How do you encrypt SageMaker training data at rest?",
                source="notes:best-practice-encryption",
                reference_answer="Use KMS keys for S3 objects and the training volumes.",
                key_points=("KMS keys", "S3 server-side encryption", "volume encryption"))
MCQ = Question(id="spot-training", type="mcq", domain="Modeling", task="3.3",
               mla_c01_task="2.2", mla_c02_task="2.2", topics=("cost",),
               difficulty="easy",
               prompt="What cuts training cost for interruptible jobs?",
               source="notes:practice-01", options=("On-Demand", "Managed Spot Training",
                                                   "A bigger instance <x> & y"),
               answer=("B",), explanation="Spot capacity is up to 90% cheaper.")
MULTI = Question(id="two-of-three", type="multi", domain="Modeling", task="3.3",
                 mla_c01_task="2.2", mla_c02_task="2.2", topics=("cost",),
                 difficulty="hard",
                 prompt="Pick two.", source="notes:practice-02", options=("x", "y", "z"),
                 answer=("A", "C"), explanation="Because.")


def all_text(node) -> str:
    if isinstance(node, dict):
        return "\n".join(all_text(v) for k, v in node.items() if k != "action_id")
    if isinstance(node, list):
        return "\n".join(all_text(v) for v in node)
    return node if isinstance(node, str) else ""


def buttons(message_blocks: list[dict]) -> list[dict]:
    return [e for b in message_blocks if b["type"] == "actions" for e in b["elements"]]


# --- builders --------------------------------------------------------------------------------

@pytest.mark.parametrize("score, bar", [
    (0, "▱" * 10 + " 0/100"), (62, "▰" * 6 + "▱" * 4 + " 62/100"), (100, "▰" * 10 + " 100/100"),
    (140, "▰" * 10 + " 100/100"), (-5, "▱" * 10 + " 0/100")])
def test_score_bar_has_ten_cells_and_the_score(score, bar):
    assert blocks.score_bar(score) == bar


def test_an_open_question_has_hint_and_skip_and_no_option_buttons():
    built = blocks.question_blocks(OPEN, intro="Here you go")
    ids = [b["action_id"] for b in buttons(built)]
    assert ids == [blocks.HINT, blocks.SKIP]
    assert all(b["value"] == OPEN.id for b in buttons(built))
    assert OPEN.prompt in all_text(built)


def test_a_choice_question_gets_one_button_per_option_carrying_its_letter():
    built = blocks.question_blocks(MCQ)
    choice = [b for b in buttons(built) if b["action_id"].startswith(blocks.CHOICE_PREFIX)]
    assert [b["action_id"] for b in choice] == [blocks.CHOICE_PREFIX + x for x in "ABC"]
    assert [b["value"] for b in choice] == ["spot-training:A", "spot-training:B",
                                            "spot-training:C"]
    # option text is escaped for mrkdwn and appears once per option
    assert "A bigger instance &lt;x&gt; &amp; y" in all_text(built)


def test_a_multi_answer_question_gets_checkboxes_and_a_submit_button():
    built = blocks.question_blocks(MULTI)
    elements = buttons(built)
    assert not [b for b in elements if b["action_id"].startswith(blocks.CHOICE_PREFIX)]
    boxes = next(e for e in elements if e["type"] == "checkboxes")
    assert boxes["action_id"] == blocks.PICK
    assert [o["value"] for o in boxes["options"]] == ["two-of-three:A", "two-of-three:B",
                                                      "two-of-three:C"]
    assert [e["action_id"] for e in elements if e["type"] == "button"] == [
        blocks.SUBMIT, blocks.HINT, blocks.SKIP]
    assert "a and c" in all_text(built)  # typing the letters works too


def test_an_answered_choice_question_loses_its_buttons():
    built = blocks.question_blocks(MCQ, answered=("B",))
    assert buttons(built) == []
    assert "You answered *B*" in all_text(built)


def test_button_labels_and_sections_respect_slack_limits():
    long = Question(**{**MCQ.__dict__, "options": ("x" * 200, "y", "z"),
                       "prompt": "p" * 5000})
    built = blocks.question_blocks(long)
    assert all(len(b["text"]["text"]) <= blocks.BUTTON_LIMIT for b in buttons(built))
    assert all(len(b["text"]["text"]) <= blocks.SECTION_LIMIT
               for b in built if b["type"] == "section")


def feedback(grade: Grade, question: Question = OPEN, recorded: bool = True, **kw) -> Feedback:
    return Feedback(question=question, grade=grade, recorded=recorded, **kw)


def test_feedback_shows_bar_covered_missed_reference_and_next():
    fb = feedback(Grade(62, PARTIAL, covered=("KMS keys",), missed=("volume encryption",),
                        message="Good start."),
                  next_review=datetime(2026, 11, 30, tzinfo=UTC), best_before=40)
    built = blocks.feedback_blocks(fb)
    text = all_text(built)
    assert blocks.score_bar(62) in text
    assert "✓ KMS keys" in text and "✗ volume encryption" in text
    assert OPEN.reference_answer in text
    assert "was 40" in text
    assert [b["action_id"] for b in buttons(built)] == [blocks.NEXT]


def test_choice_feedback_shows_the_answer_and_explanation():
    built = blocks.feedback_blocks(feedback(Grade(100, STRONG, chosen=("B",)), MCQ))
    assert "B) Managed Spot Training. Spot capacity is up to 90% cheaper." in all_text(built)


@pytest.mark.parametrize("flag, expected", [(UNCLEAR_CHOICE, "Reply with a letter (A, B, C)"),
                                            (EMPTY, "Type your answer")])
def test_ungraded_feedback_says_why_and_keeps_the_question_open(flag, expected):
    built = blocks.feedback_blocks(feedback(Grade(0, "weak", flag=flag), MCQ, recorded=False))
    text = all_text(built)
    assert expected in text and "still open" in text
    assert blocks.score_bar(0) not in text
    assert [b["action_id"] for b in buttons(built)] == [blocks.HINT, blocks.SKIP]


def test_daily_feedback_is_marked_private_and_the_question_post_asks_for_thread_replies():
    post = DailyPost("C1", date(2026, 11, 23), OPEN, ts=None)
    assert "Answer in this thread" in all_text(blocks.daily_question_blocks(post))
    private = blocks.daily_feedback_blocks(feedback(Grade(80, STRONG)))
    assert "Only you can see this" in all_text(private)


def test_daily_summary_names_count_average_best_and_reference():
    post = DailyPost("C1", date(2026, 11, 23), OPEN, ts="1.2")
    summary = DailySummary(post, answered=3, average_score=61.7,
                           best=(("p1", "Ada", 90), ("p2", "Bob <b>", 60)))
    text = all_text(blocks.daily_summary_blocks(summary))
    assert "3 people answered" in text and "62" in text
    assert "Ada (90)" in text and "Bob &lt;b&gt; (60)" in text
    assert OPEN.reference_answer in text
    nobody = DailySummary(post, answered=0, average_score=None)
    assert "Nobody answered" in all_text(blocks.daily_summary_blocks(nobody))


def test_board_shows_both_periods_and_my_rank():
    week = Board("week", None, (BoardEntry(1, "a", "Ada", 30), BoardEntry(2, "b", "Bob", 20)),
                 me=BoardEntry(2, "b", "Bob", 20))
    everything = Board("all", None, (BoardEntry(1, "b", "Bob", 50),),
                       me=BoardEntry(1, "b", "Bob", 50))
    text = all_text(blocks.board_blocks(week, everything))
    assert "This week" in text and "All time" in text
    assert "Ada · 30" in text
    assert "#2 this week (20 points)" in text and "#1 all time (50 points)" in text
    empty = Board("week", None, ())
    assert "no points yet" in all_text(blocks.board_blocks(empty, empty))


STATS = Stats(person=Person("p", "Ada"), attempts=4, average_score=55.5,
              domains=(DomainMastery("Modeling", 0.36, 0.5, 3, 40),),
              current_streak=2, longest_streak=5, reviews_due=1, readiness=0.18, exam="mls-c01")


def test_home_view_has_streak_mastery_reviews_readiness_and_start_button():
    view = blocks.home_view(STATS)
    assert view["type"] == "home"
    text = all_text(view)
    assert "Streak *2* days" in text and "*1* reviews due" in text
    assert "Modeling" in text and "50%" in text
    assert "Readiness 18%" in text and "not a prediction of passing" in text
    assert [b["action_id"] for b in buttons(view["blocks"])] == [blocks.START]
    assert "still loading" in all_text(blocks.home_view(STATS, model_ready=False))


def test_help_is_generated_from_the_subcommand_table():
    text = all_text(help_message()["blocks"])
    for sub in SUBCOMMANDS:
        assert f"`/mlsprep {sub.usage}`" in text
        assert sub.summary in text
    assert set(BY_NAME) == {"score", "ask", "stats", "topics", "exam", "help", "daily",
                            "forget-me"}


@pytest.mark.parametrize("typed, near", [("scroe", "score"), ("stat", "stats"),
                                         ("topic", "topics"), ("forget", "forget-me")])
def test_an_unknown_subcommand_gets_the_nearest_one(typed, near):
    assert f"did you mean `{near}`?" in unknown_message(typed)["text"]


def test_a_subcommand_far_from_all_gets_no_guess():
    assert "did you mean" not in unknown_message("xyzzyqq")["text"]
    assert suggest("", ["score"]) is None


def test_forget_me_asks_for_confirmation_with_two_buttons():
    ids = [b["action_id"] for b in buttons(blocks.forget_confirm_blocks())]
    assert ids == [blocks.FORGET_YES, blocks.FORGET_NO]


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, plain", [
    ("<@U123> use *KMS* keys", "use KMS keys"),
    ("see <https://docs.aws.amazon.com/x|the docs> &amp; <https://a.b/c>", "see the docs & https://a.b/c"),
    ("in <#C123|ml-study> ```code```", "in #ml-study\ncode"),
    ("s3_bucket_name and _italic_ ~gone~", "s3_bucket_name and italic gone"),
    ("&lt;tag&gt;", "<tag>"),
    ("   \n  ", ""),
    (None, ""),
])
def test_plain_text_drops_slack_markup(raw, plain):
    assert plain_text(raw) == plain


def test_split_command():
    assert split_command(" Ask  feature engineering ") == ("ask", "feature engineering")
    assert split_command("") == ("", "")
    assert split_command(None) == ("", "")


@pytest.mark.parametrize("rest, parsed", [("now", "now"), ("NOW", "now"),
                                          ("<#C0DAILY|ml-study> 9:05", ("C0DAILY", "09:05")),
                                          ("<#C0DAILY> 23:59", ("C0DAILY", "23:59")),
                                          ("C0DAILY12 07:00", ("C0DAILY12", "07:00"))])
def test_daily_arguments(rest, parsed):
    assert parse_daily_args(rest) == parsed


@pytest.mark.parametrize("rest", ["", "#general", "<#C0DAILY> 25:00", "general 09:00",
                                  "<#C0DAILY> 9am"])
def test_bad_daily_arguments_say_what_is_expected(rest):
    with pytest.raises(BadArguments):
        parse_daily_args(rest)


@pytest.mark.parametrize("value, action_id", [("spot-training:B", "mlsprep_choice_B")])
def test_choice_values_round_trip(value, action_id):
    assert parse_choice_value(value, action_id) == ("spot-training", "B")


@pytest.mark.parametrize("value, action_id", [
    ("spot-training:B", "mlsprep_choice_C"),  # letter does not match the button
    ("spot-training:b", "mlsprep_choice_b"),
    ("spot-training", None), (":B", None), ("../../etc:B", None), ("", None), (None, None),
    ("x" * 200 + ":A", None), ("DROP TABLE:A", None),
])
def test_tampered_choice_values_are_refused(value, action_id):
    with pytest.raises(TamperedValue):
        parse_choice_value(value, action_id)


def test_question_and_topic_values():
    assert parse_question_value("kms-at-rest") == "kms-at-rest"
    for bad in ["", "KMS", "a b", "x" * 101, None]:
        with pytest.raises(TamperedValue):
            parse_question_value(bad)
    assert parse_topic_value("") is None
    assert parse_topic_value("feature engineering") == "feature engineering"
    with pytest.raises(TamperedValue):
        parse_topic_value("<script>")


BOT = "U0BOT"


@pytest.mark.parametrize("event, kind", [
    ({"channel_type": "im", "user": "U1", "text": "hi", "ts": "1"}, "dm"),
    ({"channel_type": "im", "user": "U1", "subtype": "file_share", "ts": "1"}, "dm"),
    ({"channel_type": "channel", "user": "U1", "ts": "2", "thread_ts": "1"}, "thread"),
    ({"channel_type": "group", "user": "U1", "ts": "2", "thread_ts": "1"}, "thread"),
    ({"channel_type": "channel", "user": "U1", "ts": "1"}, None),  # top-level chatter
    ({"channel_type": "channel", "user": "U1", "ts": "1", "thread_ts": "1"}, None),  # parent
    ({"channel_type": "im", "user": BOT, "ts": "1"}, None),  # our own message
    ({"channel_type": "im", "bot_id": "B9", "user": "U2", "ts": "1"}, None),  # any bot
    ({"channel_type": "im", "subtype": "message_changed", "ts": "1"}, None),
    ({"channel_type": "im", "subtype": "channel_join", "user": "U1", "ts": "1"}, None),
])
def test_which_messages_the_bot_handles(event, kind):
    assert classify({"type": "message", **event}, BOT) == kind


# --- what the turn decides, as Slack shows it ------------------------------------------------

def test_an_answer_of_nothing_but_markup_says_so_before_the_turns_wording():
    empty = turn.problem(EMPTY, OPEN)
    said = unusable_text(empty, "<@U0BOB> <!here>")
    assert said.startswith("I couldn't find any text in that message") and empty.message in said
    assert unusable_text(empty, "   ") == empty.message  # nothing typed: nothing to explain
    too_long = turn.check_answer(OPEN, "x" * (turn.MAX_ANSWER_CHARS + 1))
    assert unusable_text(too_long, "x" * (turn.MAX_ANSWER_CHARS + 1)) == too_long.message


def test_an_unclear_choice_is_shown_in_the_turns_words_with_slack_s_way_to_answer():
    for question, how in ((MCQ, "Reply with a letter (A, B, C)"), (MULTI, "Tick the options")):
        unclear = turn.problem(UNCLEAR_CHOICE, question)
        text = all_text(blocks.unusable_blocks(question, unclear))
        assert unclear.message in text and how in text and "still open" in text
    assert "a letter" not in all_text(blocks.unusable_blocks(MULTI, turn.problem(
        UNCLEAR_CHOICE, MULTI)))
    # the grader's own refusal gets the same words
    ungraded = feedback(Grade(0, "weak", flag=UNCLEAR_CHOICE, message="the grader's"), MCQ,
                        recorded=False)
    assert blocks.feedback_text(ungraded) == turn.problem(UNCLEAR_CHOICE, MCQ).message


def test_the_help_lists_the_words_a_dm_understands_from_the_turns_table():
    text = all_text(help_message()["blocks"])
    for command in turn.COMMANDS:
        if command.intent != turn.QUIT:
            assert f"`{command.words[0]}` {command.what}" in text
