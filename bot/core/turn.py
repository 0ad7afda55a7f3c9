"""One turn of the study loop for every front end: what a person typed -> what to show.

`parse` reads a message as an Intent (a command word, or an answer); `check_answer` says why
an answer cannot be graded (empty, too long, unclear choice), each with one wording; `Turn`
carries an intent out on the Coach and returns a Reply: plain data that the terminal and
Slack render in their own way. A new command word or answer rule is added here, once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.choice import parse_choice, unclear_choice_message
from bot.core.coach import (
    HOW_TO_GET_A_QUESTION,
    Board,
    Coach,
    Feedback,
    NoPendingQuestion,
    NoQuestionsLeft,
    Stats,
)
from bot.core.corpus import Question
from bot.core.grade import EMPTY, UNCLEAR_CHOICE
from bot.core.schedule import match_filter
from bot.core.scoring import MESSAGES

# Longer answers are refused (the question stays open) rather than cut: the model reads only
# the first ~256 tokens, and a grade of a truncated answer would mislead.
MAX_ANSWER_CHARS = 4000
TOO_LONG = "too-long"

# --- intents --------------------------------------------------------------------------------

ANSWER = "answer"  # the text answers the open question
HINT = "hint"
GIVE_UP = "give-up"  # show the answer; recorded as a miss, so review brings it back
NEXT = "next"  # a new question; an open one is skipped (nothing recorded)
REPEAT = "repeat"  # show the open question again
STATS = "stats"
BOARD = "board"
HELP = "help"
QUIT = "quit"


@dataclass(frozen=True)
class Command:
    intent: str
    words: tuple[str, ...]  # the first is the one shown in help
    what: str


# The command words, in help order. A command counts only when it is the whole message, so
# an answer that starts with "next" is still an answer.
COMMANDS = (
    Command(HINT, ("hint", "clue"), "a nudge for this question"),
    Command(GIVE_UP, ("give up", "i give up", "i don't know", "i do not know", "don't know",
                      "idk", "dunno", "no idea", "show answer", "show the answer",
                      "show me the answer", "reveal"),
            "see the answer (counts as a miss and comes back for review)"),
    Command(NEXT, ("skip", "next", "another", "more", "quiz", "question", "ask", "practice",
                   "practise"), "another question (nothing recorded)"),
    Command(STATS, ("stats", "progress"), "your progress"),
    Command(BOARD, ("board", "leaderboard"), "the leaderboard"),
    Command(HELP, ("help", "?", "commands"), "this list"),
    Command(QUIT, ("quit", "exit", "q", "stop", "bye"), "stop (end of input does too)"),
)
_WORDS = {word: command.intent for command in COMMANDS for word in command.words}
# "ask security", "quiz me on kms": these words may carry a topic.
TOPIC_WORDS = frozenset({"ask", "quiz", "next", "question", "another", "more", "practice",
                         "practise"})
GREETINGS = frozenset({"hi", "hello", "hey", "hiya", "yo", "start", "go", "begin"})
_FILLERS = frozenset({"me", "on", "about", "a", "an", "the", "some", "question", "questions"})
# Intents that need an open question; without one they ask for a new question instead.
_NEED_A_QUESTION = frozenset({HINT, GIVE_UP, REPEAT})


@dataclass(frozen=True)
class Intent:
    kind: str  # one of the intents above
    text: str = ""  # the answer (ANSWER)
    topic: str | None = None  # NEXT: "ask security" -> "security"


def help_text() -> str:
    """One line naming every command and what it does (front ends may lay it out their way)."""
    return "; ".join(f"{c.words[0]}: {c.what}" for c in COMMANDS)


def parse(text: str, has_pending: bool) -> Intent:
    """A message is a command word ("hint", "give up", "ask security") or, with a question
    open, the answer. Case, surrounding space and a trailing "!", "?" or "." do not matter."""
    said = _normalise(text)
    words = said.split()
    intent = _WORDS.get(said) if said else None
    if intent is None and words and words[0] in TOPIC_WORDS and 1 < len(words) <= 5:
        # "ask security" asks on a topic; with a question open only "ask/quiz <topic>" does,
        # so that "more data augmentation" stays an answer.
        if not has_pending or words[0] in ("ask", "quiz"):
            return Intent(NEXT, topic=_topic(text.split()[1:]))
    if intent is None and len(words) <= 2 and words and words[0] in GREETINGS:
        intent = REPEAT
    if intent is None:
        return Intent(ANSWER, text=text) if has_pending else Intent(NEXT)
    if intent in _NEED_A_QUESTION and not has_pending:
        return Intent(NEXT)
    return Intent(intent)


def _normalise(text: str) -> str:
    text = text.strip().lower().replace("’", "'")
    if text != "?":
        text = text.rstrip("!?. ")
    return " ".join(text.split())


def _topic(words: list[str]) -> str | None:
    while words and words[0].lower() in _FILLERS:
        words = words[1:]
    return " ".join(words).rstrip("!?.") or None


# --- answers that cannot be graded ----------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """Why an answer was not graded; the question stays open. code: EMPTY, TOO_LONG or
    UNCLEAR_CHOICE (bot.core.grade's flags where the grader has one)."""

    code: str
    message: str


def check_answer(question: Question, text: str) -> Problem | None:
    """Why `text` cannot be graded as an answer to `question`, or None when it can."""
    if not re.search(r"[^\W_]", text):
        return problem(EMPTY, question)
    if len(text) > MAX_ANSWER_CHARS:
        return Problem(TOO_LONG, f"That answer is {len(text):,} characters; please keep it "
                                 f"under {MAX_ANSWER_CHARS:,} (the key points matter, not the "
                                 "length). Your question is still open.")
    if question.is_choice and parse_choice(question, text) is None:
        return problem(UNCLEAR_CHOICE, question)
    return None


def problem(code: str, question: Question) -> Problem:
    """The wording of an ungradable answer (the grader's flags EMPTY and UNCLEAR_CHOICE)."""
    if code == UNCLEAR_CHOICE:
        return Problem(code, unclear_choice_message(question))
    return Problem(EMPTY, MESSAGES[EMPTY])


# --- replies: what to show ------------------------------------------------------------------

@dataclass(frozen=True)
class Asked:
    """A question to show. `skipped`: the open question left for it (nothing recorded);
    `resumed`: the question was already open (a new session carries on)."""

    question: Question
    skipped: Question | None = None
    resumed: bool = False


@dataclass(frozen=True)
class Graded:
    """A recorded attempt (an answer, or a give-up when `gave_up`): show the grade and the
    solution, then ask the next question."""

    feedback: Feedback
    gave_up: bool = False


@dataclass(frozen=True)
class Unusable:
    """The answer was not graded; say why. The question stays open."""

    question: Question
    problem: Problem


@dataclass(frozen=True)
class Hinted:
    question: Question
    hint: str


@dataclass(frozen=True)
class ShowStats:
    stats: Stats


@dataclass(frozen=True)
class ShowBoard:
    board: Board


@dataclass(frozen=True)
class ShowHelp:
    commands: tuple[Command, ...] = COMMANDS


@dataclass(frozen=True)
class NoQuestion:
    """Nothing (more) to ask with this filter; the message says why and what to try."""

    message: str


@dataclass(frozen=True)
class Quit:
    pass


Reply = Asked | Graded | Unusable | Hinted | ShowStats | ShowBoard | ShowHelp | NoQuestion | Quit


def outcome(feedback: Feedback) -> Graded | Unusable:
    """A graded answer as a reply: Graded, or Unusable in this module's wording when the
    grader saw a problem the checks did not (for front ends that call the Coach directly,
    as Slack does for the daily question)."""
    if feedback.recorded:
        return Graded(feedback)
    question = feedback.question
    return Unusable(question, problem(feedback.grade.flag or EMPTY, question))


class Turn:
    """Carries out intents for one front end (`source`: "cli", "dm") over a Coach."""

    def __init__(self, coach: Coach, source: str = "cli"):
        self.coach = coach
        self.source = source

    def take(self, person_id: str, text: str, now: datetime,
             topic: str | None = None) -> Reply:
        """Parse a message and carry it out: the whole turn, for a front end that grades
        while the person waits. `topic` filters new questions unless the message names one."""
        intent = parse(text, self.coach.pending(person_id) is not None)
        if intent.kind == ANSWER:
            return self.answer(person_id, intent.text, now)
        return self.act(person_id, intent, now, topic)

    def act(self, person_id: str, intent: Intent, now: datetime,
            topic: str | None = None,
            on_record: Callable[[Feedback], None] | None = None) -> Reply:
        """Carry out every intent but ANSWER (see `answer`). `on_record` runs inside the
        transaction of a give-up's attempt, as in `Coach.answer`."""
        kind = intent.kind
        pending = self.coach.pending(person_id)
        if kind in _NEED_A_QUESTION and pending is None:
            kind = NEXT
        if kind == HINT:
            return Hinted(pending, self.coach.hint(person_id))
        if kind == GIVE_UP:
            return Graded(self.coach.give_up(person_id, now, self.source, on_record),
                          gave_up=True)
        if kind == REPEAT:
            return Asked(pending, resumed=True)
        if kind == STATS:
            return ShowStats(self.coach.stats(person_id, now))
        if kind == BOARD:
            return ShowBoard(self.coach.leaderboard(now, "week", person_id))
        if kind == HELP:
            return ShowHelp()
        if kind == QUIT:
            return Quit()
        if kind == ANSWER:
            raise ValueError("answers go to Turn.answer")
        return self.next(person_id, now, intent.topic or topic)

    def answer(self, person_id: str, text: str, now: datetime,
               question_id: str | None = None,
               on_record: Callable[[Feedback], None] | None = None) -> Reply:
        """Check the answer, then grade and record it (Graded) or say why not (Unusable).
        A front end that grades later (Slack, while the model loads) calls `check_answer`
        first and this when it is ready; `on_record` runs inside the attempt's transaction
        (see `Coach.answer`). Raises NoPendingQuestion, UnknownQuestion."""
        question = (self.coach.question(question_id) if question_id is not None
                    else self.coach.pending(person_id))
        if question is None:
            raise NoPendingQuestion(HOW_TO_GET_A_QUESTION)
        found = check_answer(question, text)
        if found is not None:
            return Unusable(question, found)
        return outcome(self.coach.answer(person_id, text, now, self.source, question_id,
                                         on_record=on_record))

    def next(self, person_id: str, now: datetime, topic: str | None = None) -> Reply:
        """A new question (the open one, if any, is skipped: nothing recorded)."""
        skipped = self.coach.pending(person_id)
        try:
            if skipped is not None:
                return Asked(self.coach.skip(person_id, now, topic), skipped=skipped)
            return Asked(self.coach.next_question(person_id, now, topic))
        except NoQuestionsLeft as exc:
            return NoQuestion(str(exc))

    def start(self, person_id: str, now: datetime, topic: str | None = None,
              question_id: str | None = None) -> Reply:
        """The first question of a session: `question_id` when given, else the open question
        when it fits the filter (carry on where the last session stopped), else a new one.
        Raises UnknownQuestion for an unknown `question_id`."""
        if question_id is not None:
            return Asked(self.coach.ask(person_id, question_id, now))
        pending = self.coach.pending(person_id)
        if pending is not None and (not topic or match_filter(topic, [pending])):
            return Asked(pending, resumed=True)
        try:
            return Asked(self.coach.next_question(person_id, now, topic))
        except NoQuestionsLeft as exc:
            return NoQuestion(str(exc))
