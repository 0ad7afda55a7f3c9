"""`python -m bot backup PATH`: a checked copy, and a clear refusal when it cannot make one."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store import Store, backup

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run_backup(*args: str, db: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "MLSPREP_"))}
    env["DATABASE_PATH"] = str(db)
    return subprocess.run([sys.executable, "-m", "bot", "backup", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "live.db"
    store = Store(path)
    for n in range(3):
        store.upsert_person(f"local:p{n}", f"p{n}", "UTC", NOW)
        store.record_attempt(f"local:p{n}", "q1", f"answer {n}", 50, "partial", (), (), "cli",
                             NOW)
    store.set_setting("daily_channel", "C1")
    store.close()
    return path


def test_backup_writes_a_copy_with_the_same_rows_and_prints_the_counts(tmp_path, source):
    target = tmp_path / "copy.db"
    result = run_backup(str(target), db=source)
    assert result.returncode == 0, result.stderr
    assert "integrity_check ok" in result.stdout
    assert [line.split() for line in result.stdout.splitlines()
            if line.split()[:1] == ["attempts"]] == [["attempts", "3"]]
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT answer FROM attempts ORDER BY id").fetchall() == [
            ("answer 0",), ("answer 1",), ("answer 2",)]
        assert copy.execute("SELECT value FROM settings").fetchall() == [("C1",)]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_backup_is_consistent_while_another_connection_writes(tmp_path, source):
    # A writer holds an open transaction with rows not yet committed: they are not copied.
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')")
    try:
        counts = backup(source, tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert counts["settings"] == 1 and counts["attempts"] == 3 and counts["people"] == 3


def test_an_existing_file_is_kept_unless_forced(tmp_path, source):
    target = tmp_path / "copy.db"
    target.write_text("yesterday's backup")
    refused = run_backup(str(target), db=source)
    assert refused.returncode == 1
    assert f"{target} already exists (--force overwrites it)" in refused.stderr
    assert target.read_text() == "yesterday's backup"
    forced = run_backup(str(target), "--force", db=source)
    assert forced.returncode == 0, forced.stderr
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT count(*) FROM people").fetchone() == (3,)


@pytest.mark.parametrize("where, reason", [
    ("missing/copy.db", "the directory {tmp}/missing does not exist"),
    ("afile/copy.db", "{tmp}/afile is not a directory"),
    (".", "is a directory; give the backup file's name"),
])
def test_an_unusable_target_is_refused_with_the_reason(tmp_path, source, where, reason):
    (tmp_path / "afile").write_text("a file, not a directory")
    result = run_backup(str(tmp_path / where), db=source)
    assert result.returncode == 1
    assert f"mlsprep: backup of {source} failed:" in result.stderr
    assert reason.format(tmp=tmp_path) in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_source_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "nothing.db"
    result = run_backup(str(tmp_path / "copy.db"), db=missing)
    assert result.returncode == 1
    assert f"there is no database at {missing}" in result.stderr
    assert not missing.exists() and not (tmp_path / "copy.db").exists()


def test_a_source_that_is_not_a_database_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 20)
    result = run_backup(str(tmp_path / "copy.db"), db=junk)
    assert result.returncode == 1
    assert "file is not a database" in result.stderr
    assert not (tmp_path / "copy.db").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["junk.db"]


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root and setpriv to run the command as another user")
def test_a_directory_the_user_cannot_write_is_refused(source):
    # Run as nobody, for whom a root-owned directory is read-only (root could write anyway).
    outer = Path(tempfile.mkdtemp(prefix="mlsprep-backup-"))
    try:
        outer.chmod(0o755)
        shared = outer / "data"
        shared.mkdir(mode=0o777)
        shared.chmod(0o777)
        live = shared / "live.db"
        shutil.copy(source, live)
        live.chmod(0o666)
        locked = outer / "locked"
        locked.mkdir(mode=0o555)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable,
             "-m", "bot", "backup", str(locked / "copy.db"), "--db", str(live)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"cannot write in {locked}: Permission denied" in result.stderr
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(outer)
