"""Block Kit builders: pure functions from the coach's dataclasses to message and view dicts.

Every text that comes from people or the bank is escaped for mrkdwn and cut to Slack's limits
(3000 characters a section, 75 a button label, 150 a header), so no content can break a post.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.coach import Board, Feedback, Question, Stats
from bot.core.exam import DEFAULT_EXAM
from bot.core.grade import EMPTY, UNCLEAR_CHOICE
from bot.core.turn import COMMANDS, QUIT, TOO_LONG, Problem, problem
from bot.slack.bookkeeping import DailyPost, DailySummary
from bot.slack.text import choice_value

# action ids: the listeners in bot/slack/listeners/actions.py match these.
NEXT = "mlsprep_next"
HINT = "mlsprep_hint"
SKIP = "mlsprep_skip"
CHOICE_PREFIX = "mlsprep_choice_"  # + the option letter
PICK = "mlsprep_pick"  # the checkboxes of a multi-answer item
SUBMIT = "mlsprep_submit"  # ... and the button that answers with the ticked ones
START = "mlsprep_start"
FORGET_YES = "mlsprep_forget_yes"
FORGET_NO = "mlsprep_forget_no"

SECTION_LIMIT = 3000
BUTTON_LIMIT = 75
HEADER_LIMIT = 150
BAR_CELLS = 10
MEDALS = {1: ":first_place_medal:", 2: ":second_place_medal:", 3: ":third_place_medal:"}


# --- small parts ---------------------------------------------------------------------------

def esc(text: str) -> str:
    """Escape the three characters mrkdwn treats as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, HEADER_LIMIT),
                                        "emoji": True}}


def context(*texts: str) -> dict:
    return {"type": "context",
            "elements": [{"type": "mrkdwn", "text": cut(t, SECTION_LIMIT)} for t in texts]}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str = "", style: str | None = None) -> dict:
    element = {"type": "button", "action_id": action_id, "value": value,
               "text": {"type": "plain_text", "text": cut(text, BUTTON_LIMIT), "emoji": True}}
    if style:
        element["style"] = style
    return element


def actions(*elements: dict, block_id: str | None = None) -> dict:
    block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def score_bar(score: int) -> str:
    """`▰▰▰▰▰▰▱▱▱▱ 62/100`: ten cells, rounded to the nearest one."""
    score = max(0, min(100, int(score)))
    filled = round(score / 100 * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled) + f" {score}/100"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def _bullets(items: Iterable[str], mark: str) -> str:
    return "\n".join(f"{mark} {esc(item)}" for item in items)


# --- questions -----------------------------------------------------------------------------

def question_text(question: Question) -> str:
    """The notification/fallback text of a question message."""
    return cut(f"Question: {question.prompt}", 300)


def question_blocks(question: Question, *, intro: str = "", exam: str = DEFAULT_EXAM,
                    answered: Sequence[str] = ()) -> list[dict]:
    """A practice question. Choice items get one button per option until they are answered."""
    blocks: list[dict] = []
    if intro:
        blocks.append(context(esc(intro)))
    blocks.append(section(f"*{esc(question.prompt)}*"))
    if question.is_choice:
        lines = [f"*{letter})* {esc(option)}"
                 for letter, option in zip(question.letters, question.options, strict=True)]
        blocks.append(section("\n".join(lines)))
    labels = [question.placement(exam), question.difficulty]
    if question.type == "multi":
        labels.append("more than one option is correct")
    blocks.append(context(esc(" · ".join(labels))))
    if answered:
        blocks.append(context(f"You answered *{esc(', '.join(answered))}*."))
        return blocks
    question_buttons = [button("Hint", HINT, question.id), button("Skip", SKIP, question.id)]
    if question.type == "multi":
        blocks.append(actions(
            {"type": "checkboxes", "action_id": PICK,
             "options": [{"text": {"type": "mrkdwn",
                                   "text": cut(f"*{letter})* {esc(option)}", BUTTON_LIMIT)},
                          "value": choice_value(question.id, letter)}
                         for letter, option in zip(question.letters, question.options,
                                                   strict=True)]},
            block_id=f"choices:{question.id}"))
        question_buttons.insert(0, button("Submit", SUBMIT, question.id, style="primary"))
        how = "Tick every correct option and Submit, or type the letters, e.g. `a and c`."
    elif question.is_choice:
        blocks.append(actions(
            *(button(f"{letter}) {option}", CHOICE_PREFIX + letter,
                     choice_value(question.id, letter))
              for letter, option in zip(question.letters, question.options, strict=True)),
            block_id=f"choices:{question.id}"))
        how = "Click an option, or type its letter."
    else:
        how = "Reply with your answer in a message: the key ideas matter more than polish."
    blocks.append(actions(*question_buttons, block_id=f"question:{question.id}"))
    blocks.append(context(how))
    return blocks


def hint_blocks(question: Question, hint: str) -> list[dict]:
    return [section(f":bulb: *Hint:* {esc(hint)}"),
            context("Your question is still open: reply with your answer."),
            actions(button("Skip", SKIP, question.id))]


# --- feedback ------------------------------------------------------------------------------

def feedback_text(feedback: Feedback) -> str:
    if not feedback.recorded:
        return cut(ungraded_problem(feedback).message, 300)
    return f"Score {feedback.grade.score}/100 ({feedback.grade.band})"


def ungraded_problem(feedback: Feedback) -> Problem:
    """Why the grader did not grade an answer, in the turn's one wording (bot.core.turn)."""
    return problem(feedback.grade.flag or EMPTY, feedback.question)


def _grade_lines(feedback: Feedback) -> list[dict]:
    grade, question = feedback.grade, feedback.question
    blocks = [section(f"*{score_bar(grade.score)}* · {esc(grade.band)}")]
    if grade.message:
        blocks.append(section(esc(grade.message)))
    if grade.covered or grade.missed or grade.contradicted:
        blocks.append(section("\n".join(filter(None, [
            _bullets(grade.covered, "✓"),
            _bullets([f"{p} _(you said the opposite)_" for p in grade.contradicted], "⚠"),
            _bullets(grade.missed, "✗")]))))
    if feedback.best_before is not None and grade.score > feedback.best_before:
        blocks.append(context(f"Your best on this question so far was {feedback.best_before}."))
    label = "Answer" if question.is_choice else "Reference answer"
    blocks.append(section(f"*{label}:* {esc(question.solution())}"))
    return blocks


def feedback_blocks(feedback: Feedback) -> list[dict]:
    """DM feedback: the bar, covered ✓ / missed ✗, the reference answer, then what next."""
    if not feedback.recorded:
        return ungraded_blocks(feedback)
    blocks = _grade_lines(feedback)
    return blocks + _what_next(feedback)


def ungraded_blocks(feedback: Feedback) -> list[dict]:
    """An answer the grader could not grade: say why; the question stays open."""
    return unusable_blocks(feedback.question, ungraded_problem(feedback))


def unusable_blocks(question: Question, found: Problem, why: str | None = None) -> list[dict]:
    """An answer that was not graded (bot.core.turn's Problem): its wording, then how to
    answer in Slack, with Hint and Skip; the question stays open. `why`: the wording to show
    when the adapter adds to it."""
    if found.code == UNCLEAR_CHOICE:
        how = ("Tick the options and press Submit, or type their letters."
               if question.type == "multi" else
               f"Reply with a letter ({', '.join(question.letters)}) or the option's text.")
    elif found.code == EMPTY:
        how = "Type your answer as a message."
    elif found.code == TOO_LONG:
        how = "Send a shorter answer."
    else:
        how = "Try again in your own words."
    return [section(f":thinking_face: {esc(why or found.message)}"),
            context(f"{how} Your question is still open."),
            actions(button("Hint", HINT, question.id), button("Skip", SKIP, question.id))]


def gave_up_blocks(feedback: Feedback) -> list[dict]:
    """A give-up: the answer, and that it comes back for review; then what next."""
    question = feedback.question
    label = "Answer" if question.is_choice else "Reference answer"
    blocks = [section("Given up: counted as a miss, so it comes back for review."),
              section(f"*{label}:* {esc(question.solution())}")]
    if question.key_points and not question.is_choice:
        blocks.append(section(_bullets(question.key_points, "•")))
    return blocks + _what_next(feedback)


def _what_next(feedback: Feedback) -> list[dict]:
    """After a grade or a give-up: when the question comes back, and the Next button."""
    blocks = []
    if feedback.next_review is not None:
        blocks.append(context(f"I'll bring this one back around "
                              f"{feedback.next_review:%a %d %b}."))
    blocks.append(actions(button("Next question", NEXT, "", style="primary"),
                          block_id=f"feedback:{feedback.question.id}"))
    return blocks


def notice_blocks(text: str) -> list[dict]:
    return [section(text)]


# --- the daily question ----------------------------------------------------------------------

def daily_question_blocks(post: DailyPost, exam: str = DEFAULT_EXAM) -> list[dict]:
    question = post.question
    blocks = [header(f"Question of the day · {post.day:%a %d %b}"),
              section(f"*{esc(question.prompt)}*")]
    if question.is_choice:
        blocks.append(section("\n".join(
            f"*{letter})* {esc(option)}"
            for letter, option in zip(question.letters, question.options, strict=True))))
    blocks.append(context(esc(f"{question.placement(exam)} · {question.difficulty}")))
    blocks.append(context("Answer in this thread. Only you see your score; the summary comes "
                          "with tomorrow's question."))
    return blocks


def daily_feedback_blocks(feedback: Feedback) -> list[dict]:
    """Ephemeral feedback on a thread reply (never shown to the channel)."""
    if not feedback.recorded:
        return daily_unusable_blocks(ungraded_problem(feedback).message)
    return [context("Only you can see this.")] + _grade_lines(feedback)


def daily_unusable_blocks(why: str) -> list[dict]:
    """Why a thread reply was not graded (ephemeral, like the feedback)."""
    return [section(f":thinking_face: {esc(why)}"),
            context("Nothing was recorded: reply in the thread again.")]


def daily_summary_blocks(summary: DailySummary) -> list[dict]:
    post = summary.post
    if not summary.answered:
        head = "Nobody answered this one."
    else:
        people = "person" if summary.answered == 1 else "people"
        head = (f"*{summary.answered} {people} answered*, average score "
                f"*{round(summary.average_score or 0)}*/100.")
    blocks = [section(f":bar_chart: {head}")]
    if summary.best:
        best = ", ".join(f"{esc(name)} ({score})" for _, name, score in summary.best)
        blocks.append(section(f":trophy: Best: {best}"))
    label = "Answer" if post.question.is_choice else "Reference answer"
    blocks.append(section(f"*{label}:* {esc(post.question.solution())}"))
    return blocks


def daily_summary_text(summary: DailySummary) -> str:
    return f"Summary: {summary.answered} answered"


# --- /mlsprep ------------------------------------------------------------------------------

def help_blocks(rows: Sequence[tuple[str, str, bool]]) -> list[dict]:
    """`rows` are (usage, summary, admin_only), built from the subcommand table."""
    lines = [f"`/mlsprep {usage}` {esc(summary)}" + (" _(admins)_" if admin else "")
             for usage, summary, admin in rows]
    return [section("*mlsprep* · practice for the AWS ML certification exams\n"
                    + "\n".join(lines)),
            context("Or message me directly: " + dm_words())]


def dm_words() -> str:
    """The words a DM understands, from bot.core.turn's table (quit has no use in a DM)."""
    said = ["`ask <topic>` a question on a topic"]
    said += [f"`{c.words[0]}` {c.what}" for c in COMMANDS if c.intent not in (QUIT,)]
    return "; ".join(said) + "."


def _board_lines(board: Board) -> str:
    if not board.entries:
        return "_No points yet._"
    return "\n".join(f"{MEDALS.get(e.rank, f'{e.rank}.')} {esc(e.display_name)} · {e.points}"
                     for e in board.entries)


def board_blocks(week: Board, all_time: Board) -> list[dict]:
    blocks = [section("*This week*\n" + _board_lines(week)),
              section("*All time*\n" + _board_lines(all_time))]
    mine = []
    for name, board in (("this week", week), ("all time", all_time)):
        if board.me is not None:
            mine.append(f"#{board.me.rank} {name} ({board.me.points} points)")
    blocks.append(context("You: " + ", ".join(mine) if mine
                          else "You have no points yet: `/mlsprep ask` to start."))
    return blocks


def stats_blocks(stats: Stats) -> list[dict]:
    average = "–" if stats.average_score is None else f"{round(stats.average_score)}"
    blocks = [section(f"*{stats.attempts}* answers · average *{average}* · streak "
                      f"*{stats.current_streak}* days (best {stats.longest_streak}) · "
                      f"*{stats.reviews_due}* reviews due")]
    blocks.append(section(_mastery_lines(stats)))
    blocks.append(context(f"Readiness {percent(stats.readiness)}: practice coverage weighted by "
                          f"the {esc(stats.exam.upper())} blueprint, not a pass prediction."))
    return blocks


def _mastery_lines(stats: Stats) -> str:
    lines = []
    for d in stats.domains:
        filled = round(d.mastery * BAR_CELLS)
        lines.append(f"{'▰' * filled}{'▱' * (BAR_CELLS - filled)} {percent(d.mastery)} "
                     f"*{esc(d.domain)}* ({d.attempted}/{d.total} tried, "
                     f"{round(d.weight * 100)}% of the exam)")
    return "\n".join(lines) or "_No domains._"


def topics_blocks(topics: Sequence[str]) -> list[dict]:
    shown = ", ".join(f"`{esc(t)}`" for t in topics)
    return [section(f"*Topics* ({len(topics)}): {shown}"),
            context("`/mlsprep ask <topic>` or DM me `ask <topic>`.")]


def forget_confirm_blocks() -> list[dict]:
    return [section(":warning: This deletes your answers, scores, streak and review schedule. "
                    "It cannot be undone."),
            actions(button("Delete my data", FORGET_YES, "forget", style="danger"),
                    button("Cancel", FORGET_NO, "cancel"))]


# --- App Home --------------------------------------------------------------------------------

def home_view(stats: Stats, *, model_ready: bool = True) -> dict:
    blocks = [header("Your AWS ML exam practice"),
              section(f":fire: Streak *{stats.current_streak}* days (best "
                      f"{stats.longest_streak}) · *{stats.reviews_due}* reviews due · "
                      f"*{stats.attempts}* answers"),
              actions(button("Start practice", START, "", style="primary")),
              divider(),
              section("*Mastery per domain*\n" + _mastery_lines(stats)),
              section(f"*Readiness {percent(stats.readiness)}*"),
              context("Readiness is practice coverage: your mastery in each domain weighted by "
                      f"the {esc(stats.exam.upper())} blueprint. It is not a prediction of "
                      "passing.")]
    if not model_ready:
        blocks.append(context(":hourglass_flowing_sand: The scoring model is still loading; "
                              "answers sent now are scored in a moment."))
    return {"type": "home", "blocks": blocks}
