"""`backup PATH`: a checked copy of the database, safe to take while the bot is serving."""

from __future__ import annotations

import argparse
import sys

from bot.config import Settings


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", help="the file to write the copy to")
    parser.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    parser.add_argument("--db", help="SQLite file to copy (default: DATABASE_PATH, "
                                     "else ./mlsprep.db)")


def run(args: argparse.Namespace) -> int:
    from bot.store import BackupFailed, backup

    settings = Settings.from_env(database_path=args.db)
    try:
        counts = backup(settings.database_path, args.path, force=args.force)
    except BackupFailed as exc:
        print(f"mlsprep: backup of {settings.database_path} failed: {exc}", file=sys.stderr)
        return 1
    width = max(map(len, counts), default=5)
    print(f"Backed up {settings.database_path} to {args.path}: integrity_check ok, "
          "row counts match.")
    for table, rows in counts.items():
        print(f"  {table:<{width}}  {rows:>8}")
    return 0
