"""Practice in the bot's DM, end to end: question, answer, feedback, buttons, App Home."""

from __future__ import annotations

from harness import credits_its_reference, texts
from standin import TEAM

from bot.core import turn
from bot.slack import blocks
from bot.slack.runtime import person_id

ADA = "U0ADA"
DM = "D" + ADA
PID = person_id(TEAM, ADA)


def posts(slack, channel: str = DM):
    return slack.standin.of("chat.postMessage", channel=channel)


def buttons(message_blocks):
    return [e for b in message_blocks if b["type"] == "actions" for e in b["elements"]]


def ask_until(slack, want, user: str = ADA, tries: int = 250):
    """Ask (then skip) until the open question is of the wanted kind; returns (question, post).

    Draws are random: the rarest kind (multi, 18 of 312 items) is missed by 40 draws about
    one time in twelve (it happened in CI), by 250 about once in 200,000."""
    slack.dm(user, "quiz")
    for _ in range(tries):
        slack.idle()
        question = slack.coach.pending(person_id(TEAM, user))
        if question is not None and want(question):
            return question, posts(slack, "D" + user)[-1]
        slack.dm(user, "skip")
    raise AssertionError("no question of the wanted kind came up")


def test_a_dm_gets_a_question_and_the_answer_gets_scored_feedback(slack):
    assert slack.dm(ADA, "hi").status == 200
    slack.standin.wait_for("chat.postMessage", channel=DM)
    question, _ = ask_until(
        slack, lambda q: q.type == "open" and credits_its_reference(slack.coach.grader, q))
    shown = posts(slack)[-1]
    assert question.prompt in texts(shown.args["blocks"])
    assert [b["action_id"] for b in buttons(shown.args["blocks"])] == [blocks.HINT, blocks.SKIP]
    # the person was registered with the name users.info gave
    assert slack.coach.person(PID).display_name == "Ada"

    count = len(posts(slack))
    slack.dm(ADA, question.reference_answer)
    feedback = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    text = texts(feedback.args["blocks"])
    assert feedback.args["text"].startswith("Score ")
    assert "▰" in text and "/100" in text
    assert "✓" in text  # the reference answer covers its own key points
    assert "Reference answer" in text
    assert [b["action_id"] for b in buttons(feedback.args["blocks"])] == [blocks.NEXT]
    assert slack.rows("attempts") == 1
    assert slack.coach.pending(PID) is None

    # Next asks a new question in the same DM
    slack.click(blocks.NEXT, "", ADA, DM, feedback.result["ts"])
    slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)
    assert slack.coach.pending(PID) is not None


def test_a_choice_question_is_answered_by_its_button(slack):
    question, shown = ask_until(slack, lambda q: q.type in ("mcq", "truefalse"))
    choice = [b for b in buttons(shown.args["blocks"])
              if b["action_id"].startswith(blocks.CHOICE_PREFIX)]
    assert len(choice) == len(question.options)
    right = next(b for b in choice if b["action_id"].endswith(question.answer[0]))
    message_ts = shown.result["ts"]
    count = len(posts(slack))

    response, _ = slack.click(right["action_id"], right["value"], ADA, DM, message_ts)
    assert response.status == 200
    feedback = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert "100/100" in texts(feedback.args["blocks"])
    assert question.answer_text() in texts(feedback.args["blocks"])
    # the question message loses its buttons and records the choice
    update = slack.standin.wait_for("chat.update", channel=DM)[0]
    assert buttons(update.args["blocks"]) == []
    assert f"You answered *{question.answer[0]}*" in texts(update.args["blocks"])
    assert slack.rows("attempts") == 1

    # clicking again (or an old message's button) changes nothing
    slack.click(right["action_id"], right["value"], ADA, DM, message_ts)
    stale = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)[-1]
    assert "no longer open" in stale.args["text"]
    slack.idle()
    assert slack.rows("attempts") == 1


def test_a_multi_answer_question_is_answered_by_ticking_and_submitting(slack):
    question, shown = ask_until(slack, lambda q: q.type == "multi")
    boxes = next(e for e in buttons(shown.args["blocks"]) if e["type"] == "checkboxes")
    block_id = next(b["block_id"] for b in shown.args["blocks"]
                    if boxes in b.get("elements", []))
    count = len(posts(slack))

    def state(letters):
        picked = [o for o in boxes["options"] if o["value"].endswith(tuple(letters))]
        return {block_id: {blocks.PICK: {"type": "checkboxes", "selected_options": picked}}}

    # ticking a box is acknowledged and changes nothing by itself
    assert slack.click(blocks.PICK, "", ADA, DM, shown.result["ts"],
                       state=state(question.answer[:1]))[0].status == 200
    slack.click(blocks.SUBMIT, question.id, ADA, DM, shown.result["ts"], state=state(()))
    nothing = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert "Tick every option" in nothing.args["text"]
    slack.click(blocks.SUBMIT, question.id, ADA, DM, shown.result["ts"],
                state=state(question.answer))
    feedback = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)[-1]
    assert "100/100" in texts(feedback.args["blocks"])
    update = slack.standin.wait_for("chat.update", channel=DM)[0]
    assert f"You answered *{', '.join(question.answer)}*" in texts(update.args["blocks"])
    assert slack.rows("attempts") == 1


def test_typing_the_letter_answers_a_choice_question(slack):
    question, _ = ask_until(slack, lambda q: q.type == "mcq")
    count = len(posts(slack))
    wrong = next(letter for letter in question.letters if letter not in question.answer)
    slack.dm(ADA, wrong.lower())
    feedback = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert "0/100" in texts(feedback.args["blocks"])
    assert slack.rows("attempts") == 1


def test_tampered_button_values_are_refused_and_change_nothing(slack):
    question, _ = ask_until(slack, lambda q: q.type == "mcq")
    slack.idle()
    count = len(posts(slack))
    letter = question.letters[0]
    forged = [
        (blocks.CHOICE_PREFIX + letter, f"{question.id}:{question.letters[1]}"),  # mismatch
        (blocks.CHOICE_PREFIX + letter, "../../../etc/passwd:A"),
        (blocks.CHOICE_PREFIX + "Z", f"{question.id}:Z"),  # no such option
        (blocks.CHOICE_PREFIX + letter, f"another-question:{letter}"),  # not the open one
        (blocks.HINT, "<script>"),
        (blocks.SKIP, "not-the-open-question"),
        (blocks.NEXT, "x" * 500),
        (blocks.SUBMIT, question.id),  # Submit on a single-answer item
    ]
    for action_id, value in forged:
        assert slack.click(action_id, value, ADA, DM, "1.1")[0].status == 200
    replies = slack.standin.wait_for("chat.postMessage", count=count + len(forged), channel=DM)
    for reply in replies[count:]:
        assert ("didn't carry anything I recognise" in reply.args["text"]
                or "no longer open" in reply.args["text"]), reply.args["text"]
    assert slack.rows("attempts") == 0
    assert slack.coach.pending(PID) == question  # the open question is untouched


def test_hint_and_skip_buttons(slack):
    question, shown = ask_until(slack, lambda q: q.type == "open")
    count = len(posts(slack))
    slack.click(blocks.HINT, question.id, ADA, DM, "1.1")
    hint = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert hint.args["text"].startswith("Hint:")
    assert slack.coach.pending(PID) == question
    slack.click(blocks.SKIP, question.id, ADA, DM, "1.1")
    slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)
    slack.idle()
    assert slack.coach.pending(PID) not in (None, question)
    assert slack.rows("attempts") == 0


def test_bad_input_gets_a_clear_message_and_loses_nothing(slack):
    question, _ = ask_until(slack, lambda q: q.type == "open")
    count = len(posts(slack))
    slack.dm(ADA, "x " * 3000)  # 6,000 characters
    too_long = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert "4,000" in too_long.args["text"] and "still open" in too_long.args["text"]
    slack.dm(ADA, "<@U0BOB> <!here>")  # nothing but markup
    empty = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)[-1]
    assert "couldn't find any text" in empty.args["text"]
    slack.idle()
    assert slack.rows("attempts") == 0
    assert slack.coach.pending(PID) == question
    # Slack markup around a real answer is stripped before grading
    slack.dm(ADA, f"*{question.reference_answer}* <https://docs.aws.amazon.com/x|docs>")
    feedback = slack.standin.wait_for("chat.postMessage", count=count + 3, channel=DM)[-1]
    assert feedback.args["text"].startswith("Score ")
    with_markup = slack.coach.export(PID)
    assert "<https" not in str(with_markup)


def test_an_unknown_topic_gets_a_helpful_reply(slack):
    slack.dm(ADA, "ask quantum basket weaving")
    reply = slack.standin.wait_for("chat.postMessage", channel=DM)[-1]
    assert "quantum basket weaving" in reply.args["text"]
    assert slack.coach.pending(PID) is None


def test_app_home_shows_progress_and_starts_practice(slack):
    slack.event({"type": "app_home_opened", "user": ADA, "channel": DM, "tab": "home"})
    view = slack.standin.wait_for("views.publish", user_id=ADA)[0].args["view"]
    text = texts(view["blocks"])
    assert view["type"] == "home"
    assert "Streak" in text and "reviews due" in text and "Readiness" in text
    assert "not a prediction of passing" in text
    for domain in ("Data Engineering", "Exploratory Data Analysis", "Modeling"):
        assert domain in text
    start = buttons(view["blocks"])[0]
    assert start["action_id"] == blocks.START
    # Start practice from the Home tab: no channel in the payload, so the bot opens the DM
    slack.click(blocks.START, "", ADA)
    slack.standin.wait_for("conversations.open", users=ADA)
    question = slack.standin.wait_for("chat.postMessage", channel=DM)[-1]
    assert slack.coach.pending(PID).prompt in texts(question.args["blocks"])


def test_help_in_the_dm_gets_the_list_of_commands(slack):
    # This reply used to fail in the work pool (a TypeError), so the person heard nothing.
    assert slack.dm(ADA, "help").status == 200
    reply = slack.standin.wait_for("chat.postMessage", channel=DM)[-1]
    assert reply.args["text"] == "mlsprep commands"
    assert "`/mlsprep score`" in texts(reply.args["blocks"])


def test_the_dm_checks_answers_with_the_turns_rules_and_wording(slack):
    # One home per rule: the limit and the unclear-choice wording are bot.core.turn's, the
    # same the terminal shows.
    question, _ = ask_until(slack, lambda q: q.type == "mcq")
    count = len(posts(slack))
    slack.dm(ADA, "a c")  # two letters for a single-answer question
    unclear = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert unclear.args["text"] == turn.check_answer(question, "a c").message
    assert "single answer among" in unclear.args["text"]
    assert [b["action_id"] for b in buttons(unclear.args["blocks"])] == [blocks.HINT,
                                                                         blocks.SKIP]
    long = "y" * (turn.MAX_ANSWER_CHARS + 1)
    slack.dm(ADA, long)
    too_long = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)[-1]
    assert too_long.args["text"] == turn.check_answer(question, long).message
    slack.dm(ADA, "   ")  # no markup, so no word about it: the turn's wording alone
    empty = slack.standin.wait_for("chat.postMessage", count=count + 3, channel=DM)[-1]
    assert empty.args["text"] == turn.check_answer(question, "").message
    slack.idle()
    assert slack.rows("attempts") == 0
    assert slack.coach.pending(PID) == question


def test_the_dm_knows_the_terminals_words_give_up_and_board(slack):
    question, _ = ask_until(slack, lambda q: q.type == "open")
    count = len(posts(slack))
    slack.dm(ADA, "I don't know")
    shown = slack.standin.wait_for("chat.postMessage", count=count + 1, channel=DM)[-1]
    assert "Given up" in texts(shown.args["blocks"])
    assert question.reference_answer in texts(shown.args["blocks"])
    assert [b["action_id"] for b in buttons(shown.args["blocks"])] == [blocks.NEXT]
    slack.idle()
    attempts = slack.coach.export(PID)["attempts"]
    assert [(a["question_id"], a["score"]) for a in attempts] == [(question.id, 0)]
    assert slack.coach.pending(PID) is None
    slack.dm(ADA, "leaderboard")
    board = slack.standin.wait_for("chat.postMessage", count=count + 2, channel=DM)[-1]
    assert board.args["text"] == "Leaderboard"
    assert "This week" in texts(board.args["blocks"])
