"""`practice`: the terminal coach. The same Coach as the Slack bot, driven from stdin/stdout.

Answers end with an empty line (choice questions take one line). `hint`, `skip`, `stats`,
`board` and `quit` work at the prompt. Piped input behaves exactly like typed input, and
end of input ends the session with exit status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.cli.progress import bar, default_name, person_id, render_board, render_stats
from bot.config import Settings
from bot.core.coach import Coach, CoachError, Feedback, NoQuestionsLeft
from bot.core.corpus import Question
from bot.core.exam import TASKS
from bot.core.schedule import match_filter

WIDTH = 88
QUIT_WAIT = 0.5  # seconds to let background model work finish at the end of a session
COMMANDS = {
    "hint": "a nudge for this question",
    "skip": "another question (nothing recorded)",
    "stats": "your progress",
    "board": "the leaderboard",
    "quit": "stop (end of input does too)",
}
ALIASES = {"exit": "quit", "q": "quit", "next": "skip", "help": "help", "?": "help"}
HELP = "At the prompt: " + "; ".join(f"{name}: {what}" for name, what in COMMANDS.items())


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--name", help="who is practising (default: your login name)")
    parser.add_argument("--domain", "--topic", dest="topic", metavar="D",
                        help="practise one domain, task or topic, e.g. security (typos forgiven)")
    parser.add_argument("--db", help="SQLite file (default: DATABASE_PATH, else ./mlsprep.db)")


def run(args: argparse.Namespace) -> int:
    from bot.wiring import build_coach

    settings = Settings.from_env(database_path=args.db)
    coach = build_coach(settings)
    name = (args.name or default_name()).strip()
    coach.register(person_id(name), name, settings.tz)
    try:
        status = Session(coach, person_id(name), topic=args.topic).run()
    except KeyboardInterrupt:
        print()
        status = 130
    if not coach.close(timeout=QUIT_WAIT):
        # The model is still loading: a normal exit would abort in torch's threads, and
        # waiting for the load would hang a quick `quit`. Everything is written already.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


class Session:
    """One practice session: ask, read, grade, show, repeat until quit or end of input."""

    def __init__(self, coach: Coach, person: str, topic: str | None = None,
                 stdin: TextIO | None = None, stdout: TextIO | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.coach = coach
        self.person = person
        self.topic = topic
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.clock = clock
        self.echo = not _isatty(self.stdin)
        self.told_loading = False
        self.scores: list[int] = []
        self.asked = 0

    # output ---------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def wrapped(self, text: str, indent: str = "", hang: str = "") -> None:
        """Print text wrapped to WIDTH; `hang` indents continuation lines further."""
        for paragraph in text.splitlines() or [""]:
            self.say(textwrap.fill(paragraph, WIDTH, initial_indent=indent,
                                   subsequent_indent=indent + hang) if paragraph else "")

    def readline(self, prompt: str) -> str | None:
        """One line without its newline, or None at end of input."""
        self.out.write(prompt)
        self.out.flush()
        line = self.stdin.readline()
        if not line:
            return None
        line = line.rstrip("\r\n")
        if self.echo:  # piped input is not shown by a terminal: echo it so the log reads well
            self.out.write(line + "\n")
        return line

    # the loop -------------------------------------------------------------------------
    def run(self) -> int:
        exam = self.coach.exam.upper()
        self.say(f"mlsprep · {exam} practice as {self.person.split(':', 1)[1]}"
                 + (f" · filter “{self.topic}”" if self.topic else ""))
        self.wrapped("Answer in as many lines as you like and finish with an empty line; "
                     "choice questions take one line.")
        self.wrapped(HELP)
        try:
            question = self._first_question()
        except NoQuestionsLeft as exc:
            self.say(str(exc))
            return 1
        self.coach.warm_up()  # the model loads while the learner reads the first question
        while question is not None:
            question = self._ask(question)
        self._goodbye()
        return 0

    def _first_question(self) -> Question:
        pending = self.coach.pending(self.person)
        if pending is not None and (not self.topic
                                    or pending in match_filter(self.topic, [pending])):
            return pending  # carry on where the last session stopped
        return self.coach.next_question(self.person, self.clock(), self.topic)

    def _next(self, skip: bool = False) -> Question | None:
        try:
            if skip:
                return self.coach.skip(self.person, self.clock(), self.topic)
            return self.coach.next_question(self.person, self.clock(), self.topic)
        except NoQuestionsLeft as exc:
            self.say(str(exc))
            return None

    def _ask(self, question: Question) -> Question | None:
        """Show a question and handle input until it is answered or left; the next question."""
        self.asked += 1
        self._show(question)
        while True:
            first = self.readline("> ")
            if first is None:
                return None
            command = ALIASES.get(first.strip().lower(), first.strip().lower())
            if command == "quit":
                return None
            if command == "skip":
                self.say("Skipped.")
                return self._next(skip=True)
            if command == "hint":
                self.wrapped(f"Hint: {self.coach.hint(self.person)}")
                continue
            if command == "stats":
                self.say(render_stats(self.coach.stats(self.person, self.clock())))
                self.say(f"\n(Back to the question: {_short(question.prompt)})")
                continue
            if command == "board":
                self.say(render_board(self.coach.leaderboard(self.clock(), "week",
                                                             self.person)))
                self.say(f"\n(Back to the question: {_short(question.prompt)})")
                continue
            if command == "help":
                self.wrapped(HELP)
                continue
            text = first if question.is_choice else self._rest_of_answer(first)
            if not question.is_choice and not text.strip():
                self.wrapped("That was an empty answer. Type your answer and finish it with "
                             "an empty line, or `skip` for another question.")
                continue
            if not question.is_choice and not self.coach.ready and not self.told_loading:
                self.say("(Loading the scoring model for the first answer; a few seconds.)")
                self.told_loading = True
            try:
                feedback = self.coach.answer(self.person, text, self.clock(), source="cli")
            except CoachError as exc:
                self.say(str(exc))
                return self._next()
            if not feedback.recorded:
                self.wrapped(feedback.grade.message or _unclear(question))
                continue
            self._show_feedback(feedback)
            return self._next()

    def _rest_of_answer(self, first: str) -> str:
        lines = [first]
        if not first.strip():
            return ""
        while True:
            line = self.readline("")
            if line is None or not line.strip():
                break
            lines.append(line)
        return "\n".join(lines)

    # rendering ------------------------------------------------------------------------
    def _show(self, question: Question) -> None:
        domain = question.exam_domain(self.coach.exam)
        task = TASKS.get(question.task, "")
        self.say()
        self.say(f"── Question {self.asked} · {domain} · {question.difficulty} "
                 f"{'─' * max(3, WIDTH - 24 - len(domain) - len(question.difficulty))}")
        if task:
            self.say(f"   task {question.task}: {task}")
        self.wrapped(question.prompt)
        for letter, option in zip(question.letters, question.options, strict=True):
            self.wrapped(f"{letter}) {option}", indent="  ", hang="   ")
        if question.type == "multi":
            self.say(f"(choose {len(question.answer)}: letters on one line, e.g. "
                     f"“{' '.join(question.letters[:len(question.answer)]).lower()}”)")
        elif question.is_choice:
            self.say("(one letter, or the option's text)")
        else:
            self.say("(your answer; finish with an empty line)")

    def _show_feedback(self, feedback: Feedback) -> None:
        grade, question = feedback.grade, feedback.question
        self.scores.append(grade.score)
        self.say()
        self.say(f"Score {grade.score:>3}/100  {bar(grade.score / 100)}  {grade.band}")
        if grade.message:
            self.wrapped(grade.message)
        if question.is_choice:
            chosen = ", ".join(grade.chosen) or "-"
            self.say(f"You chose {chosen}; the answer is {', '.join(question.answer)}.")
        for point in grade.covered:
            self.wrapped(f"✓ {point}", indent="  ", hang="  ")
        for point in grade.missed:
            self.wrapped(f"✗ {point}", indent="  ", hang="  ")
        if question.is_choice:
            self.say("Answer:")
            for letter in question.answer:
                self.wrapped(f"{letter}) {question.option(letter)}", indent="  ", hang="   ")
            self.wrapped(question.explanation, indent="  ")
        else:
            self.say("Reference answer:")
            self.wrapped(question.reference_answer, indent="  ")
        notes = []
        if feedback.best_before is not None:
            notes.append(f"your best before: {feedback.best_before}")
        if feedback.next_review is not None:
            notes.append(f"next review: {_when(feedback.next_review, self.clock())}")
        if notes:
            self.say("(" + "; ".join(notes) + ")")

    def _goodbye(self) -> None:
        if self.scores:
            average = sum(self.scores) / len(self.scores)
            self.say(f"\nSession over: {len(self.scores)} answered, average {average:.0f}/100.")
        else:
            self.say("\nSession over: nothing answered this time.")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unclear(question: Question) -> str:
    if question.is_choice:
        return (f"I couldn't tell which option you meant: answer with "
                f"{', '.join(question.letters)} or the option's text.")
    return "I couldn't grade that; try again in a sentence or two."


def _when(due: datetime, now: datetime) -> str:
    seconds = (due - now).total_seconds()
    if seconds < 3600:
        return f"in {max(1, round(seconds / 60))} min"
    if seconds < 36 * 3600:
        return f"in {round(seconds / 3600)} h"
    return f"in {round(seconds / 86400)} days"
