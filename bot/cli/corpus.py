"""`corpus check [PATH]`: validate the bank and print its coverage table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.config import Settings
from bot.core.corpus import default_corpus_dir, read_items
from bot.core.coverage import bank_summary, check_bank, coverage_table
from bot.core.exam import EXAMS


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("action", choices=["check"], help="what to do with the bank")
    parser.add_argument("path", nargs="?", help="a corpus folder or one YAML file "
                        "(default: MLSPREP_CORPUS, else corpus/)")
    parser.add_argument("--exam", choices=list(EXAMS),
                        help="check and print one blueprint only (default: all three)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = Path(args.path or settings.corpus_path or default_corpus_dir())
    if not path.exists():
        print(f"corpus check: no such file or folder: {path}", file=sys.stderr)
        return 1
    questions, problems = read_items(path)
    report = check_bank(questions, args.exam, whole_bank=path.is_dir())
    for code in [args.exam] if args.exam else list(EXAMS):
        print(coverage_table(questions, code))
        print()
    print(bank_summary(questions))
    for note in report.notes:
        print(f"note: {note}")
    errors = [str(p) for p in problems] + report.errors
    if errors:
        print(f"\n{len(errors)} error(s):", file=sys.stderr)
        for error in errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print("corpus OK")
    return 0
