"""`practice`: the terminal coach. The same Coach as the Slack bot, driven from stdin/stdout.

Answers end with an empty line (choice questions take one line). What a line means (a
command word or an answer) and whether an answer can be graded is decided by bot.core.turn;
this module reads lines and renders the turn's replies. Piped input behaves exactly like
typed input, and end of input ends the session with exit status 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from bot.cli import quiet_broken_pipe
from bot.cli.progress import (
    add_exam_option,
    bar,
    default_name,
    person_id,
    render_board,
    render_stats,
)
from bot.config import Settings, cores
from bot.core.coach import Coach, CoachError
from bot.core.corpus import Question, UnknownQuestion
from bot.core.exam import exam as exam_of
from bot.core.turn import (
    ANSWER,
    Asked,
    Graded,
    Hinted,
    NoQuestion,
    Reply,
    ShowBoard,
    ShowHelp,
    ShowStats,
    Turn,
    Unusable,
    check_answer,
    help_text,
    parse,
)

WIDTH = 88
QUIT_WAIT = 0.5  # seconds to let background model work finish at the end of a session
HELP = "At the prompt: " + help_text()


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--name", help="who is practising (default: your login name)")
    parser.add_argument("--domain", "--topic", dest="topic", metavar="D",
                        help="practise one domain, task or topic, e.g. security (typos forgiven)")
    parser.add_argument("--question", metavar="ID",
                        help="start with this question (its id in corpus/), e.g. for a script")
    add_exam_option(parser, remembered=True)
    parser.add_argument("--db", help="SQLite file (default: DATABASE_PATH, else ./mlsprep.db)")


def run(args: argparse.Namespace) -> int:
    from bot.wiring import build_coach

    quiet_model_load()
    settings = Settings.from_env(database_path=args.db)
    # One learner: the models may use every core for one answer (docs/scoring.md, "Latency").
    coach = build_coach(settings, threads=cores())
    name = (args.name or default_name()).strip()
    coach.register(person_id(name), name, settings.tz)
    if args.exam:
        coach.choose_exam(person_id(name), args.exam)
    try:
        status = Session(coach, person_id(name), topic=args.topic,
                         question_id=args.question).run()
    except KeyboardInterrupt:
        print()
        status = 130
    except BrokenPipeError:
        status = quiet_broken_pipe()
    if not coach.close(timeout=QUIT_WAIT):
        # The model is still loading: a normal exit would abort in torch's threads, and
        # waiting for the load would hang a quick `quit`. Everything is written already.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass
        os._exit(status)
    return status


def quiet_model_load() -> None:
    """Keep the model's "Loading weights" progress bar out of the session: it would land in
    the middle of a prompt, as the model loads in the background while the learner reads."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class Session:
    """One practice session: ask, read, answer through the turn, show, until quit or end of
    input. Everything about what the learner typed is decided by bot.core.turn; this class
    reads lines and renders replies."""

    def __init__(self, coach: Coach, person: str, topic: str | None = None,
                 stdin: TextIO | None = None, stdout: TextIO | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 question_id: str | None = None):
        self.coach = coach
        self.turn = Turn(coach, source="cli")
        self.person = person
        self.topic = topic
        self.question_id = question_id
        self.stdin = stdin or sys.stdin
        self.out = stdout or sys.stdout
        self.clock = clock
        self.echo = not _isatty(self.stdin)
        self.told_loading = False
        self.scores: list[int] = []
        self.given_up = 0

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
        exam = self.coach.exam_for(self.person).upper()
        self.say(f"mlsprep · {exam} practice as {self.person.split(':', 1)[1]}"
                 + (f" · filter “{self.topic}”" if self.topic else ""))
        self.wrapped("Answer in as many lines as you like and finish with an empty line; "
                     "choice questions take one line.")
        self.wrapped(HELP)
        try:
            reply = self.turn.start(self.person, self.clock(), self.topic, self.question_id)
        except UnknownQuestion:
            self.say(f"There is no question “{self.question_id}” in the bank.")
            return 1
        if isinstance(reply, NoQuestion):
            self.wrapped(reply.message)
            return 1
        self.coach.warm_up()  # the model loads while the learner reads the first question
        while isinstance(reply, Asked):
            reply = self._ask(reply)
        if isinstance(reply, NoQuestion):
            self.wrapped(reply.message)
        self._goodbye()
        return 0

    def _ask(self, asked: Asked) -> Reply | None:
        """Show a question and handle input until it is answered or left; the next reply."""
        if asked.skipped is not None:
            self.say("Skipped. Nothing recorded; `give up` would have shown the answer.")
        question = asked.question
        self._show(question)
        while True:
            first = self.readline("> ")
            if first is None:
                return None
            intent = parse(first, has_pending=True)
            try:
                if intent.kind == ANSWER:
                    text = first if question.is_choice else self._rest_of_answer(first)
                    if not question.is_choice and not check_answer(question, text) \
                            and not self.coach.ready and not self.told_loading:
                        self.say("(Loading the scoring model for the first answer; "
                                 "a few seconds.)")
                        self.told_loading = True
                    reply = self.turn.answer(self.person, text, self.clock())
                else:
                    reply = self.turn.act(self.person, intent, self.clock(), self.topic)
            except CoachError as exc:  # e.g. the question was answered in another session
                self.say(str(exc))
                return self.turn.next(self.person, self.clock(), self.topic)
            if isinstance(reply, Unusable):
                self.wrapped(reply.problem.message)
            elif isinstance(reply, Hinted):
                self.wrapped(f"Hint: {reply.hint}")
            elif isinstance(reply, ShowStats | ShowBoard):
                self.say(render_stats(reply.stats) if isinstance(reply, ShowStats)
                         else render_board(reply.board))
                self.say(f"\n(Back to the question: {_short(question.prompt)})")
            elif isinstance(reply, ShowHelp):
                self.wrapped(HELP)
            elif isinstance(reply, Graded):
                self._show_feedback(reply)
                return self.turn.next(self.person, self.clock(), self.topic)
            elif isinstance(reply, Asked) and reply.resumed:
                self._show(reply.question)
            else:  # a new question, nothing left to ask, or quit
                return reply

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
        mine = self.coach.exam_for(self.person)
        code = mine if question.in_exam(mine) else "mla-c02"
        domain = question.exam_domain(code) or ""
        task_id = question.exam_task(code)
        task = exam_of(code).tasks.get(task_id, "")
        self.say()
        # Numbered by questions dealt with: a skipped question leaves its number to the next.
        number = len(self.scores) + self.given_up + 1
        self.say(f"── Question {number} · {domain} · {question.difficulty} "
                 f"{'─' * max(3, WIDTH - 24 - len(domain) - len(question.difficulty))}")
        if task:
            self.say(f"   task {task_id}: {task}")
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

    def _show_feedback(self, graded: Graded) -> None:
        feedback = graded.feedback
        grade, question = feedback.grade, feedback.question
        if graded.gave_up:
            self.given_up += 1
            self.say()
            self.say("Given up: counted as a miss, so it comes back for review.")
        else:
            self.scores.append(grade.score)
            self.say()
            self.say(f"Score {grade.score:>3}/100  {bar(grade.score / 100)}  {grade.band}")
        if grade.message:
            self.wrapped(grade.message)
        if question.is_choice and not graded.gave_up:
            chosen = ", ".join(grade.chosen) or "-"
            self.say(f"You chose {chosen}; the answer is {', '.join(question.answer)}.")
        for point in grade.covered:
            self.wrapped(f"✓ {point}", indent="  ", hang="  ")
        for point in () if graded.gave_up else grade.contradicted:
            self.wrapped(f"⚠ {point} (you said the opposite)", indent="  ", hang="  ")
        for point in () if graded.gave_up else grade.missed:
            self.wrapped(f"✗ {point}", indent="  ", hang="  ")
        self.say("Answer:" if question.is_choice else "Reference answer:")
        self.wrapped(question.solution(), indent="  ")
        notes = []
        if feedback.best_before is not None:
            notes.append(f"your best before: {feedback.best_before}")
        if feedback.next_review is not None:
            notes.append(f"next review: {_when(feedback.next_review, self.clock())}")
        if notes:
            self.say("(" + "; ".join(notes) + ")")

    def _goodbye(self) -> None:
        given_up = f", {self.given_up} given up" if self.given_up else ""
        if self.scores:
            average = sum(self.scores) / len(self.scores)
            self.say(f"\nSession over: {len(self.scores)} answered{given_up}, "
                     f"average {average:.0f}/100.")
        else:
            self.say(f"\nSession over: nothing answered{given_up} this time.")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _short(text: str, limit: int = 70) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(due: datetime, now: datetime) -> str:
    seconds = (due - now).total_seconds()
    if seconds < 3600:
        return f"in {max(1, round(seconds / 60))} min"
    if seconds < 36 * 3600:
        return f"in {round(seconds / 3600)} h"
    return f"in {round(seconds / 86400)} days"
