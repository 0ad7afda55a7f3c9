"""The command line: one table of subcommands, each in a module of its own.

Each command module defines `configure(parser)` to add its arguments and `run(args) -> int`.
Modules are imported only when the command table is built, and none of them imports the
embedding model at import time, so `python -m bot --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from bot.config import ConfigError
from bot.core.corpus import CorpusError

# name -> (module, one-line help). `help` output and the parser are both built from this.
COMMANDS: dict[str, tuple[str, str]] = {
    "practice": ("bot.cli.practice", "practise in the terminal (the coach, no Slack needed)"),
    "stats": ("bot.cli.progress", "show a person's progress"),
    "board": ("bot.cli.progress", "show the leaderboard"),
    "forget": ("bot.cli.progress", "delete everything stored about a person"),
    "export": ("bot.cli.progress", "print everything stored about a person as JSON"),
    "backup": ("bot.cli.backup", "write a checked copy of the database (safe while serving)"),
    "corpus": ("bot.cli.corpus", "validate the question bank and show its coverage"),
    "eval": ("bot.cli.evaluate", "score a CSV of graded answers and compare with the grades"),
    "serve": ("bot.cli.serve", "run the Slack bot (HTTP, or Socket Mode with --socket)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlsprep", description="An interview coach for the AWS ML certification exams.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=summary, description=summary)
        module.configure(command, name)
        command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"mlsprep: {exc}", file=sys.stderr)
        return 2
    except CorpusError as exc:
        print(f"mlsprep: the question bank has problems:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()


def quiet_broken_pipe() -> int:
    """The reader went away (`mlsprep stats | head -1`): stop without a traceback. Output
    still buffered goes to /dev/null, or Python would complain again at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141  # what a shell reports for a process ended by SIGPIPE
