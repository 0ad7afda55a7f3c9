"""Placeholder until this command is built (see the open issues)."""

import argparse
import sys


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print(f"mlsprep: '{args.command}' is not built yet", file=sys.stderr)
    return 2
