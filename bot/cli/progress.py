"""`stats`, `board`, `forget` and `export`: progress and privacy from the terminal.

One module serves the four commands; `name` (given to configure) says which. The text
renderers here are shared with the terminal coach.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import textwrap
from datetime import UTC, datetime

from bot.config import Settings
from bot.core.coach import Board, CoachError, Stats
from bot.core.exam import EXAMS

BAR_WIDTH = 10


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "board":
        parser.add_argument("--period", choices=["week", "all", "both"], default="both",
                            help="this week's board, the all-time one, or both (default)")
        parser.add_argument("--name", help="also show this person's rank")
    else:
        parser.add_argument("--name", default=None, help="whose progress (default: your login)")
    if name == "export":
        parser.add_argument("--output", "-o", help="write the JSON to this file, not stdout")
    if name == "forget":
        parser.add_argument("--yes", "-y", action="store_true",
                            help="do not ask for confirmation at the terminal")
    if name == "stats":
        add_exam_option(parser)
    parser.add_argument("--db", help="SQLite file (default: DATABASE_PATH, else ./mlsprep.db)")


def add_exam_option(parser: argparse.ArgumentParser, remembered: bool = False) -> None:
    what = ("the exam to prepare for, remembered for this person from now on"
            if remembered else "the exam to show progress in, this run only")
    parser.add_argument("--exam", type=str.lower, choices=list(EXAMS),
                        help=f"{what} (default: the person's exam, else MLSPREP_EXAM)")


def confirmed(question: str) -> bool:
    """Ask yes/no when a person is at the terminal; anything but yes is no. Without a
    terminal (a script, a pipe) there is nobody to ask, and the command goes ahead."""
    if not sys.stdin.isatty():
        return True
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def person_id(name: str) -> str:
    return f"local:{name.strip().lower()}"


def default_name() -> str:
    try:
        return getpass.getuser() or "me"
    except (KeyError, OSError):
        return "me"


def run(args: argparse.Namespace) -> int:
    from bot.wiring import build_coach

    settings = Settings.from_env(database_path=args.db)
    coach = build_coach(settings)
    now = datetime.now(UTC)
    name = args.name or (None if args.command == "board" else default_name())
    try:
        if args.command == "stats":
            print(render_stats(coach.stats(person_id(name), now, getattr(args, "exam", None))))
        elif args.command == "board":
            me = person_id(name) if name else None
            periods = ["week", "all"] if args.period == "both" else [args.period]
            print("\n\n".join(render_board(coach.leaderboard(now, p, me)) for p in periods))
        elif args.command == "forget":
            if not args.yes and not confirmed(f"Delete everything stored about {name}?"):
                print(f"Nothing deleted. (`forget --name {name} --yes` deletes without "
                      "asking.)", file=sys.stderr)
                return 1
            gone = coach.forget(person_id(name))
            print(f"Forgot {name}: {gone} row(s) deleted.")
        elif args.command == "export":
            text = json.dumps(coach.export(person_id(name)), indent=2, ensure_ascii=False)
            if args.output:
                with open(args.output, "w", encoding="utf-8") as out:
                    out.write(text + "\n")
                print(f"Wrote everything stored about {name} to {args.output}.")
            else:
                print(text)
    except CoachError as exc:
        print(f"mlsprep: {exc}", file=sys.stderr)
        return 1
    finally:
        coach.store.close()
    return 0


# --- text renderers (shared with the terminal coach) -----------------------------------

def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def render_stats(stats: Stats) -> str:
    average = f"{stats.average_score:.0f}/100" if stats.average_score is not None else "-"
    lines = [
        f"{stats.person.display_name}: {stats.attempts} answer(s), average {average}",
        f"streak: {stats.current_streak} day(s) now, longest {stats.longest_streak} "
        f"(days in {stats.person.tz})",
        f"reviews due: {stats.reviews_due}",
        "",
        f"mastery by {stats.exam.upper()} domain (best scores over every question):",
    ]
    width = max(len(d.domain) for d in stats.domains)
    for d in stats.domains:
        lines.append(f"  {d.domain:<{width}}  {bar(d.mastery)} {d.mastery:>4.0%}  "
                     f"{d.attempted}/{d.total} tried · weight {d.weight:.0%}")
    lines.append("")
    lines += textwrap.wrap(f"practice coverage: {stats.readiness:.0%} of the blueprint, "
                           "weighted by domain (how much of the exam you have practised well; "
                           "not a pass prediction)", 88)
    return "\n".join(lines)


def render_board(board: Board) -> str:
    if board.period == "week":
        title = f"This week (since {board.since:%a %d %b %H:%M} {board.since.tzname()})"
    else:
        title = "All time"
    lines = [title]
    if not board.entries:
        lines.append("  nobody has points yet")
    for entry in board.entries:
        lines.append(f"  {entry.rank:>3}. {entry.display_name:<24} {entry.points:>6} pts")
    if board.me and board.me not in board.entries:
        lines.append("  ...")
        lines.append(f"  {board.me.rank:>3}. {board.me.display_name:<24} "
                     f"{board.me.points:>6} pts  (you)")
    lines.append("  points: each question's best score once, "
                 "+ a bonus for each daily question answered")
    return "\n".join(lines)
