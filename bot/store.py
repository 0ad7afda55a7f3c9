"""The SQLite store: schema, migrations and every SQL statement of the project.

One file (DATABASE_PATH). Each thread gets its own connection (sqlite3 connections are not
shared across threads); every connection runs in WAL mode with a busy timeout and foreign
keys on. Writes that touch more than one row run in one `BEGIN IMMEDIATE` transaction: the
write lock is taken up front, so two writers queue on the busy timeout instead of failing
when a read transaction tries to upgrade.

Rows are written and read with sqlite-utils' table methods (`insert`, `upsert`, `get`,
`rows_where`, `count_where`, `delete_where`): inside an open transaction they run in a savepoint
of it, outside one they commit on their own. SQL is written out where it says more: joins and
aggregates, and the conditional writes whose rowcount is the answer (a claim, a first delivery,
a job finished once).

Times are stored as UTC ISO-8601 text with microseconds, so they sort as they compare.
The store knows rows, not the domain: the coach turns rows into its dataclasses.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError, Table

BUSY_TIMEOUT_MS = 10_000
# A write that still meets a lock after the busy timeout tries again, with growing pauses,
# until this many seconds have passed; only then does it give up (and a queued job stays
# queued, to be tried again later).
LOCK_WAIT_SECONDS = 60.0
LOCK_PAUSE_MAX_SECONDS = 2.0

log = logging.getLogger(__name__)
SOURCES = ("cli", "dm", "daily")
# A review as the coach reads it back (ReviewState.from_dict), and the scheduler fields it
# hands in, stored as given (its two times go through `iso`).
REVIEW_COLUMNS = "question_id, state, step, stability, difficulty, due, last_review, reviews"
REVIEW_FIELDS = ("state", "step", "stability", "difficulty", "reviews")
# What a job brings from Slack (take_job); an optional one it leaves out is NULL.
JOB_FIELDS = ("event_id", "kind", "person_id", "user_id", "channel", "thread_ts", "ts",
              "question_id", "answer")
UNDELIVERED = "delivered_at IS NULL AND failed_at IS NULL"  # an outbox row still to send

# Each migration brings the schema from version i to i + 1 (PRAGMA user_version). Append
# new ones; never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE people (
        id TEXT PRIMARY KEY,               -- slack:<team>:<user> or local:<name>
        display_name TEXT NOT NULL,
        tz TEXT NOT NULL DEFAULT 'UTC',
        created_at TEXT NOT NULL
    );
    CREATE TABLE daily_posts (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        day TEXT NOT NULL,                 -- local date in the workspace time zone
        question_id TEXT NOT NULL,
        ts TEXT,                           -- Slack message ts, once posted
        claimed_at TEXT NOT NULL,
        UNIQUE (channel, day)              -- the one-post-per-channel-per-day guard
    );
    CREATE INDEX daily_posts_ts ON daily_posts (channel, ts);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY,
        person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        answer TEXT NOT NULL,
        score INTEGER NOT NULL CHECK (score BETWEEN 0 AND 100),
        band TEXT NOT NULL,
        covered TEXT NOT NULL DEFAULT '[]', -- JSON list of key points made
        missed TEXT NOT NULL DEFAULT '[]',
        source TEXT NOT NULL CHECK (source IN ('cli', 'dm', 'daily')),
        daily_id INTEGER REFERENCES daily_posts (id),
        created_at TEXT NOT NULL
    );
    CREATE INDEX attempts_person ON attempts (person_id, created_at);
    CREATE INDEX attempts_time ON attempts (created_at);
    CREATE INDEX attempts_daily ON attempts (daily_id);
    CREATE TABLE reviews (
        person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,
        state INTEGER NOT NULL,
        step INTEGER,
        stability REAL,
        difficulty REAL,
        due TEXT NOT NULL,
        last_review TEXT,
        reviews INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (person_id, question_id)
    );
    CREATE INDEX reviews_due ON reviews (person_id, due);
    CREATE TABLE pending (
        person_id TEXT PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
        question_id TEXT NOT NULL,         -- the question last asked
        asked_at TEXT NOT NULL,
        is_open INTEGER NOT NULL DEFAULT 1 -- 0 once answered: kept to never ask it twice running
    );
    CREATE TABLE events (
        event_id TEXT PRIMARY KEY,         -- processed Slack event ids (retries are dropped)
        seen_at TEXT NOT NULL
    );
    CREATE INDEX events_seen ON events (seen_at);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    -- The exam each person prepares for (mls-c01, mla-c01, mla-c02), or NULL to follow the
    -- workspace default (MLSPREP_EXAM).
    ALTER TABLE people ADD COLUMN exam TEXT;
    """,
    """
    -- Work accepted from Slack and not yet finished: written in the transaction that records
    -- the event id, before the ack, so an acknowledged answer survives any crash.
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        event_id TEXT UNIQUE,              -- NULL for clicks (Slack does not retry those)
        kind TEXT NOT NULL,                -- dm, thread, choice
        person_id TEXT NOT NULL,           -- slack:<team>:<user>, no foreign key: the person
        user_id TEXT NOT NULL,             -- may be registered only when the job runs
        channel TEXT NOT NULL,
        thread_ts TEXT,
        ts TEXT,                           -- the message (or clicked message) ts
        question_id TEXT,                  -- the question open when the answer arrived
        answer TEXT NOT NULL,
        created_at TEXT NOT NULL,          -- when the person answered (the coach's clock)
        tries INTEGER NOT NULL DEFAULT 0,
        waited INTEGER NOT NULL DEFAULT 0, -- 1 once told "the model is warming up"
        done_at TEXT,
        outcome TEXT                       -- done, failed
    );
    CREATE INDEX jobs_open ON jobs (done_at, id);
    CREATE INDEX jobs_created ON jobs (created_at);
    -- Replies to send, written in the transaction that produced them (an attempt, a finished
    -- job). A deliverer posts them and marks them delivered.
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        job_id INTEGER,
        person_id TEXT,
        method TEXT NOT NULL,              -- a Web API method: chat.postMessage, ...
        args TEXT NOT NULL,                -- its arguments, JSON
        queued_at REAL NOT NULL,           -- epoch seconds (real time: the give-up clock)
        next_at REAL NOT NULL,
        tries INTEGER NOT NULL DEFAULT 0,
        delivered_at REAL,
        failed_at REAL,
        error TEXT                         -- the last Web API error code, never message text
    );
    CREATE INDEX outbox_due ON outbox (delivered_at, failed_at, next_at);
    CREATE INDEX outbox_queued ON outbox (queued_at);
    """,
)


class UnusableDatabase(Exception):
    """DATABASE_PATH cannot hold the database; the message says why."""


def check_usable(path: str | Path, create_dir: bool = False) -> list[str]:
    """Check, before a server starts, that the database file can be opened and written.

    Raises UnusableDatabase with the reason. A missing directory is an error unless
    `create_dir`: it is often a volume that was not mounted, and creating it would start
    everyone from zero. Returns what was done (the directory created), for the log.
    """
    if str(path) == ":memory:":
        return []
    file = Path(path)
    done = []
    if file.is_dir():
        raise UnusableDatabase("it is a directory, not a file")
    folder = file.parent
    if not folder.exists():
        if not create_dir:
            raise UnusableDatabase(
                f"the directory {folder} does not exist (is the volume mounted? "
                "Set MLSPREP_CREATE_DB_DIR=1 to create it)")
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise UnusableDatabase(f"cannot create the directory {folder}: "
                                   f"{exc.strerror or exc}") from None
        done.append(f"created the directory {folder}")
    if not folder.is_dir():
        raise UnusableDatabase(f"{folder} is not a directory")
    # SQLite writes -wal and -shm files beside the database, so the directory must be
    # writable even when the file already exists.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UnusableDatabase(f"the directory {folder} is not writable by this user")
    if file.exists():
        if not file.is_file():
            raise UnusableDatabase("it is not a regular file")
        if not os.access(file, os.R_OK | os.W_OK):
            raise UnusableDatabase("the file is not readable and writable by this user")
    try:
        conn = sqlite3.connect(file, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("PRAGMA user_version").fetchone()  # reads the header
            conn.execute("PRAGMA journal_mode = WAL").fetchone()  # needs to write
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        reason = str(exc)
        if "not a database" in reason:
            raise UnusableDatabase(f"it is not an SQLite database ({reason})") from None
        raise UnusableDatabase(reason) from None
    return done


class BackupFailed(Exception):
    """The backup could not be written or did not check out; the message says why."""


def backup(source: str | Path, target: str | Path, force: bool = False) -> dict[str, int]:
    """Copy the database with SQLite's online backup API, safe while the server writes.

    The copy is written beside the target under a temporary name, checked (integrity_check,
    and the row count of every table equal to the source's at the moment of the copy) and only
    then renamed over the target, so a failed backup never replaces a good one. Returns the
    row count per table.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise BackupFailed(f"there is no database at {source}")
    if target.is_dir():
        raise BackupFailed(f"{target} is a directory; give the backup file's name")
    if target.exists() and not force:
        raise BackupFailed(f"{target} already exists (--force overwrites it)")
    if target.parent.exists() and not target.parent.is_dir():
        raise BackupFailed(f"{target.parent} is not a directory")
    if not target.parent.is_dir():
        raise BackupFailed(f"the directory {target.parent} does not exist")
    try:
        handle, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                           dir=target.parent)
        os.close(handle)
    except OSError as exc:
        raise BackupFailed(f"cannot write in {target.parent}: {exc.strerror or exc}") from None
    try:
        counts = _copy_and_check(source, Path(partial))
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return counts


def _copy_and_check(source: Path, partial: Path) -> dict[str, int]:
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    copy = sqlite3.connect(partial)
    try:
        try:
            # One read transaction for the counts and the copy: both see the same snapshot,
            # whatever the server writes meanwhile.
            src.execute("BEGIN")
            expected = _row_counts(src)
            src.backup(copy)
            src.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            raise BackupFailed(f"cannot read {source}: {exc}") from None
        except OSError as exc:
            raise BackupFailed(f"cannot write the copy: {exc.strerror or exc}") from None
        verdict = [row[0] for row in copy.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            raise BackupFailed("the copy failed integrity_check: " + "; ".join(verdict[:5]))
        copied = _row_counts(copy)
        if copied != expected:
            differ = [t for t in expected if expected[t] != copied.get(t)]
            raise BackupFailed(f"row counts differ in the copy: {', '.join(differ)}")
        return copied
    finally:
        copy.close()
        src.close()


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    tables = [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def iso(moment: datetime) -> str:
    """A stored timestamp: UTC, microseconds, so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Store:
    """The project's database. Built from a path, it is safe to share between threads (each
    gets a connection of its own, so ":memory:" is one database per thread: use a file wherever
    threads are involved)."""

    def __init__(self, database: str | Path | Database, *,
                 busy_timeout_ms: int = BUSY_TIMEOUT_MS, lock_wait: float = LOCK_WAIT_SECONDS):
        """`database` is a file path (the server's) or an open sqlite-utils `Database`
        (`Database(memory=True)` in tests). A Database is the store's one connection, for the
        thread that made it, and stays the caller's to close; it gets the same settings."""
        self.busy_timeout_ms = busy_timeout_ms
        self.lock_wait = lock_wait
        self._given = database if isinstance(database, Database) else None
        if self._given is not None:
            self.path = _filename(self._given)
            self._configure(self._given)
        else:
            self.path = str(database)
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.migrate()

    # connections and transactions ------------------------------------------------------
    @property
    def db(self) -> Database:
        """This thread's connection (the Database given, when there is one)."""
        if self._given is not None:
            return self._given
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000)
            db = Database(conn)
            self._configure(db)
            self._local.db = db
            with self._lock:
                self._connections.append(conn)
        return db

    def _configure(self, db: Database) -> None:
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        db.execute("PRAGMA foreign_keys = ON")
        # Deleted rows are overwritten with zeros rather than left in free space, so text a
        # person asked us to forget cannot be read back out of the file.
        db.execute("PRAGMA secure_delete = ON")
        if self.path != ":memory:":
            db.enable_wal()

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One transaction holding the write lock from the start; rolled back on error.

        Taking the lock waits the busy timeout; a lock held longer than that (a backup, a
        long write elsewhere) is waited out with growing pauses for up to `lock_wait` seconds
        instead of failing the write at once."""
        db = self.db
        self._begin(db)
        try:
            yield db
        except BaseException:
            db.rollback()
            raise
        db.execute("COMMIT")

    def _begin(self, db: Database) -> None:
        deadline = time.monotonic() + self.lock_wait
        pause = 0.05
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                left = deadline - time.monotonic()
                if not is_locked(exc) or left <= 0:
                    raise
                log.warning("database is locked: trying the write again in %.2fs",
                            min(pause, left))
                time.sleep(min(pause, left))
                pause = min(pause * 2, LOCK_PAUSE_MAX_SECONDS)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # made in another thread, already gone
                    pass
            self._connections.clear()
        self._local = threading.local()

    @property
    def version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Bring the schema up to date; safe when two processes start at once."""
        with self.write() as db:
            current = db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")
        return self.version

    # people ----------------------------------------------------------------------------
    def upsert_person(self, person_id: str, display_name: str, tz: str,
                      now: datetime | None = None) -> None:
        """Create or update a person; `created_at` is bookkeeping, so the store may stamp it."""
        # Not `upsert`: it would overwrite created_at, which an update keeps.
        self.db.execute(
            "INSERT INTO people (id, display_name, tz, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, "
            "tz = excluded.tz", [person_id, display_name, tz, _stamp(now)])

    def ensure_person(self, person_id: str, display_name: str, tz: str,
                      now: datetime | None = None) -> None:
        """Create the person if unknown; an existing row is left as it is."""
        self.db["people"].insert({"id": person_id, "display_name": display_name, "tz": tz,
                                  "created_at": _stamp(now)}, ignore=True)

    def person(self, person_id: str) -> dict | None:
        return _get(self.db["people"], person_id)

    def set_exam(self, person_id: str, exam: str | None) -> None:
        self.db.execute("UPDATE people SET exam = ? WHERE id = ?", [exam, person_id])

    def display_names(self) -> dict[str, str]:
        return {r["id"]: r["display_name"]
                for r in self.db["people"].rows_where(select="id, display_name")}

    # the pending question --------------------------------------------------------------
    def set_pending(self, person_id: str, question_id: str, now: datetime) -> None:
        self.db["pending"].upsert({"person_id": person_id, "question_id": question_id,
                                   "asked_at": iso(now), "is_open": 1}, pk="person_id")

    def pending(self, person_id: str) -> dict | None:
        """The last question asked ({question_id, asked_at, is_open}), open or not."""
        return _first(self.db["pending"].rows_where(
            "person_id = ?", [person_id], select="question_id, asked_at, is_open"))

    def close_pending(self, person_id: str) -> None:
        self.db.execute("UPDATE pending SET is_open = 0 WHERE person_id = ?", [person_id])

    # attempts and reviews --------------------------------------------------------------
    def record_attempt(self, person_id: str, question_id: str, answer: str, score: int,
                       band: str, covered: tuple[str, ...], missed: tuple[str, ...],
                       source: str, now: datetime,
                       review: Callable[[dict | None], dict] | None = None,
                       daily_id: int | None = None, close_pending: bool = False,
                       then: Callable[[int], None] | None = None) -> int:
        """Write the attempt, the new review state and the pending flag as one transaction.

        `review` maps the question's stored review row (or None) to the new one; it runs
        under the write lock so concurrent answers cannot overwrite each other's schedule.
        `then(attempt_id)` runs last inside the same transaction: what it writes through this
        store (the reply to send, the finished job) commits with the attempt or not at all."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        with self.write() as db:
            attempt_id = db["attempts"].insert({
                "person_id": person_id, "question_id": question_id, "answer": answer,
                "score": int(score), "band": band, "covered": json.dumps(list(covered)),
                "missed": json.dumps(list(missed)), "source": source, "daily_id": daily_id,
                "created_at": iso(now)}).last_rowid
            if review is not None:
                new = review(self.review_state(person_id, question_id))
                db["reviews"].upsert(
                    {"person_id": person_id, "question_id": question_id,
                     **{column: new[column] for column in REVIEW_FIELDS},
                     "due": iso(parse_time(new["due"])),
                     "last_review": (iso(parse_time(new["last_review"]))
                                     if new.get("last_review") else None)},
                    pk=("person_id", "question_id"))
            if close_pending:
                db.execute("UPDATE pending SET is_open = 0 WHERE person_id = ? "
                           "AND question_id = ?", [person_id, question_id])
            if then is not None:
                then(attempt_id)
            return attempt_id

    def review_states(self, person_id: str) -> list[dict]:
        return list(self.db["reviews"].rows_where(
            "person_id = ?", [person_id], select=REVIEW_COLUMNS, order_by="due, question_id"))

    def review_state(self, person_id: str, question_id: str) -> dict | None:
        return _first(self.db["reviews"].rows_where(
            "person_id = ? AND question_id = ?", [person_id, question_id],
            select=REVIEW_COLUMNS))

    def best_scores(self, person_id: str) -> dict[str, int]:
        return {r["question_id"]: r["best"] for r in self.db.query(
            "SELECT question_id, MAX(score) AS best FROM attempts WHERE person_id = ? "
            "GROUP BY question_id", [person_id])}

    def attempt_summary(self, person_id: str) -> tuple[int, float | None]:
        row = self.db.execute("SELECT COUNT(*), AVG(score) FROM attempts WHERE person_id = ?",
                              [person_id]).fetchone()
        return row[0], row[1]

    def attempt_times(self, person_id: str) -> list[str]:
        return [r["created_at"] for r in self.db["attempts"].rows_where(
            "person_id = ?", [person_id], select="created_at", order_by="created_at")]

    def scoring_rows(self, since: datetime | None = None,
                     until: datetime | None = None) -> list[dict]:
        """Attempts in [since, until) in the order they were made, for the leaderboard."""
        low = iso(since) if since else ""
        high = iso(until) if until else "9999"
        return list(self.db["attempts"].rows_where(
            "created_at >= ? AND created_at < ?", [low, high],
            select="person_id, question_id, score, daily_id, created_at",
            order_by="created_at, id"))

    # privacy ---------------------------------------------------------------------------
    def export_person(self, person_id: str) -> dict | None:
        person = self.person(person_id)
        if person is None:
            return None
        attempts = list(self.db.query(
            "SELECT a.id, a.question_id, a.answer, a.score, a.band, a.covered, a.missed, "
            "a.source, d.channel AS daily_channel, d.day AS daily_day, a.created_at "
            "FROM attempts a LEFT JOIN daily_posts d ON d.id = a.daily_id "
            "WHERE a.person_id = ? ORDER BY a.created_at, a.id", [person_id]))
        for attempt in attempts:
            attempt["covered"] = json.loads(attempt["covered"])
            attempt["missed"] = json.loads(attempt["missed"])
        return {"person": person, "attempts": attempts,
                "reviews": self.review_states(person_id),
                "pending": self.pending(person_id)}

    def delete_person(self, person_id: str) -> int:
        """Delete every row about the person in one transaction; how many rows went.

        Then copy the WAL into the database and truncate it: until a checkpoint, the old
        pages (with the person's answers) stay readable in the -wal file."""
        with self.write() as db:
            gone = 0  # counted from each DELETE's rowcount (delete_where does not return it)
            for table in ("attempts", "reviews", "pending", "jobs", "outbox"):
                gone += db.execute(f"DELETE FROM {table} WHERE person_id = ?",
                                   [person_id]).rowcount
            gone += db.execute("DELETE FROM people WHERE id = ?", [person_id]).rowcount
        self.checkpoint()
        return gone

    def checkpoint(self) -> bool:
        """A TRUNCATE checkpoint; False when a reader kept it from finishing (the next one
        will finish the job)."""
        if self.path == ":memory:":
            return True
        busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0

    # the daily channel question --------------------------------------------------------
    def claim_daily(self, channel: str, day: date, question_id: str,
                    now: datetime) -> int | None:
        """The new post's id, or None when (channel, day) was already claimed."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO daily_posts (channel, day, question_id, claimed_at) "
            "VALUES (?, ?, ?, ?)", [channel, day.isoformat(), question_id, iso(now)])
        return cursor.lastrowid if cursor.rowcount == 1 else None

    def set_daily_ts(self, channel: str, day: date, ts: str) -> bool:
        cursor = self.db.execute("UPDATE daily_posts SET ts = ? WHERE channel = ? AND day = ?",
                                 [ts, channel, day.isoformat()])
        return cursor.rowcount == 1

    def daily_by_ts(self, channel: str, ts: str) -> dict | None:
        return _first(self.db["daily_posts"].rows_where("channel = ? AND ts = ?", [channel, ts]))

    def daily_by_day(self, channel: str, day: date) -> dict | None:
        return _first(self.db["daily_posts"].rows_where(
            "channel = ? AND day = ?", [channel, day.isoformat()]))

    def previous_daily(self, channel: str, before: date) -> dict | None:
        return _first(self.db["daily_posts"].rows_where(
            "channel = ? AND day < ?", [channel, before.isoformat()], order_by="day DESC",
            limit=1))

    def recent_daily_questions(self, channel: str, limit: int) -> list[str]:
        return [r["question_id"] for r in self.db["daily_posts"].rows_where(
            "channel = ?", [channel], select="question_id", order_by="day DESC",
            limit=int(limit))]

    def daily_attempts(self, daily_id: int) -> list[dict]:
        return list(self.db.query(
            "SELECT a.person_id, p.display_name, a.score, a.created_at FROM attempts a "
            "JOIN people p ON p.id = a.person_id WHERE a.daily_id = ? "
            "ORDER BY a.created_at, a.id", [daily_id]))

    # durable jobs ----------------------------------------------------------------------
    def take_job(self, job: dict, now: datetime, forget_before: datetime | None = None) -> str:
        """Record a Slack event and its job in one transaction, before the ack.

        Returns "new"; "unfinished" when the event id was seen before and its job is still
        open (a retry: the caller makes sure it runs, nothing is added); "duplicate" when
        it was seen and its job is finished (or it never had one)."""
        with self.write() as db:
            event_id = job.get("event_id")
            if forget_before is not None:
                # Finished work is kept as long as event ids are (a retry is told apart by
                # it), then goes: the answer text lives on in the attempt, if anywhere.
                db["jobs"].delete_where("created_at < ? AND done_at IS NOT NULL",
                                        [iso(forget_before)])
                db["outbox"].delete_where(f"queued_at < ? AND NOT ({UNDELIVERED})",
                                          [time.time() - (now - forget_before).total_seconds()])
            if event_id:
                if forget_before is not None:
                    db["events"].delete_where("seen_at < ?", [iso(forget_before)])
                fresh = db.execute(
                    "INSERT OR IGNORE INTO events (event_id, seen_at) VALUES (?, ?)",
                    [event_id, iso(now)]).rowcount == 1
                if not fresh:
                    row = _first(db["jobs"].rows_where("event_id = ?", [event_id],
                                                       select="done_at"))
                    return ("unfinished" if row is not None and row["done_at"] is None
                            else "duplicate")
            db["jobs"].insert({**{field: job.get(field) for field in JOB_FIELDS},
                               "created_at": iso(now)})
            return "new"

    def open_jobs(self, limit: int = 500) -> list[dict]:
        """Unfinished jobs, oldest first."""
        return list(self.db["jobs"].rows_where("done_at IS NULL", order_by="id",
                                               limit=int(limit)))

    def count_open_jobs(self) -> int:
        return self.db["jobs"].count_where("done_at IS NULL")

    def job(self, job_id: int) -> dict | None:
        return _get(self.db["jobs"], job_id)

    def finish_job(self, job_id: int, replies: list[dict] = (), outcome: str = "done",
                   now: datetime | None = None) -> bool:
        """Mark a job finished and queue its replies, in one transaction (joining the caller's
        transaction when one is open). False when it was already finished: nothing is queued
        then, so a job run twice replies once."""
        db = self.db
        if db.conn.in_transaction:
            return self._finish_job(db, job_id, replies, outcome, now)
        with self.write() as db:
            return self._finish_job(db, job_id, replies, outcome, now)

    def _finish_job(self, db: Database, job_id: int, replies, outcome: str,
                    now: datetime | None) -> bool:
        done = db.execute("UPDATE jobs SET done_at = ?, outcome = ? WHERE id = ? "
                          "AND done_at IS NULL", [_stamp(now), outcome, job_id]).rowcount == 1
        if done:
            self._queue_for_job(db, job_id, replies)
        return done

    def _queue_for_job(self, db: Database, job_id: int, replies) -> None:
        """Queue a job's replies, addressed to the job's person, in the open transaction."""
        job = _get(db["jobs"], job_id)
        for reply in replies:
            self._queue(db, reply, job_id, job["person_id"] if job else None)

    def job_tried(self, job_id: int) -> int:
        """Count one more failed run of a job; how many there have been."""
        with self.write() as db:
            db.execute("UPDATE jobs SET tries = tries + 1 WHERE id = ?", [job_id])
            return db["jobs"].get(job_id)["tries"]

    def job_waiting(self, job_id: int, replies: list[dict] = (),
                    question_id: str | None = None) -> bool:
        """Mark a job as told to wait for the model, queueing `replies` the first time only;
        `question_id` fills in the question it answers when intake had none."""
        with self.write() as db:
            first = db.execute(
                "UPDATE jobs SET waited = 1, question_id = COALESCE(question_id, ?) "
                "WHERE id = ? AND waited = 0", [question_id, job_id]).rowcount == 1
            if first:
                self._queue_for_job(db, job_id, replies)
            return first

    # the outbox --------------------------------------------------------------------------
    def queue_reply(self, reply: dict, person_id: str | None = None) -> int:
        """Queue one reply ({"method", "args"}) on its own (or in the open transaction)."""
        db = self.db
        if db.conn.in_transaction:
            return self._queue(db, reply, None, person_id)
        with self.write() as db:
            return self._queue(db, reply, None, person_id)

    def _queue(self, db: Database, reply: dict, job_id: int | None,
               person_id: str | None) -> int:
        at = time.time()
        return db["outbox"].insert({
            "job_id": job_id, "person_id": person_id, "method": reply["method"],
            "args": json.dumps(reply["args"]), "queued_at": at, "next_at": at}).last_rowid

    def due_replies(self, at: float, limit: int = 100, reply_id: int | None = None
                    ) -> list[dict]:
        """Undelivered replies due by `at` (epoch seconds), oldest first; args decoded.
        With `reply_id`, only that one."""
        rows = list(self.db["outbox"].rows_where(
            f"{UNDELIVERED} AND next_at <= ? AND (? IS NULL OR id = ?)", [at, reply_id, reply_id],
            order_by="id", limit=int(limit)))
        for row in rows:
            row["args"] = json.loads(row["args"])
        return rows

    def next_reply_at(self) -> float | None:
        """When the next undelivered reply is due (epoch seconds), or None."""
        return self.db.execute(f"SELECT MIN(next_at) FROM outbox WHERE {UNDELIVERED}"
                               ).fetchone()[0]

    def count_undelivered(self) -> int:
        return self.db["outbox"].count_where(UNDELIVERED)

    def due_reply(self, reply_id: int, at: float) -> dict | None:
        """The reply as it stands now if it is still undelivered and due by `at`, else None."""
        return _first(self.due_replies(at, reply_id=reply_id))

    def reply_delivered(self, reply_id: int) -> None:
        with self.write() as db:
            db.execute("UPDATE outbox SET delivered_at = ?, tries = tries + 1 WHERE id = ?",
                       [time.time(), reply_id])

    def reply_retry(self, reply_id: int, next_at: float, error: str) -> None:
        with self.write() as db:
            db.execute("UPDATE outbox SET next_at = ?, tries = tries + 1, error = ? "
                       "WHERE id = ?", [next_at, error, reply_id])

    def reply_failed(self, reply_id: int, error: str) -> None:
        with self.write() as db:
            db.execute("UPDATE outbox SET failed_at = ?, tries = tries + 1, error = ? "
                       "WHERE id = ?", [time.time(), error, reply_id])

    # settings --------------------------------------------------------------------------
    def get_setting(self, key: str, default: str | None = None) -> str | None:
        row = _get(self.db["settings"], key)
        return row["value"] if row else default

    def set_setting(self, key: str, value: str) -> None:
        self.db["settings"].upsert({"key": key, "value": value}, pk="key")


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database is busy": worth waiting out."""
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc))


def _stamp(now: datetime | None) -> str:
    return iso(now if now is not None else datetime.now(UTC))


def _get(table: Table, pk: str | int) -> dict | None:
    """The row with this primary key, or None."""
    try:
        return table.get(pk)
    except NotFoundError:
        return None


def _first(rows: Iterable[dict]) -> dict | None:
    """The first row a lookup found, or None; reads them all, so no statement stays open."""
    found = list(rows)
    return found[0] if found else None


def _filename(db: Database) -> str:
    """The file behind a Database's main schema, or ":memory:"."""
    for _, name, file in db.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or ":memory:"
    return ":memory:"


def _statements(script: str) -> list[str]:
    """Split a migration into statements (none of ours has a ';' inside a literal)."""
    return [s.strip() for s in script.split(";") if s.strip()]
