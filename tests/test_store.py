"""The SQLite store: schema, pragmas, transactions, guards and concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from bot.core.leaderboard import standings
from bot.store import MIGRATIONS, Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def attempt(store, person="local:ada", question="q1", score=50, now=NOW, **extra):
    return store.record_attempt(person, question, "an answer", score, "partial", ("a",), ("b",),
                                extra.pop("source", "cli"), now, **extra)


def test_a_fresh_file_gets_every_table_at_the_latest_version(store):
    assert set(store.db.table_names()) >= {"people", "attempts", "reviews", "pending",
                                           "daily_posts", "events", "settings"}
    assert store.version == len(MIGRATIONS)


def test_connections_use_wal_a_busy_timeout_and_foreign_keys(store):
    db = store.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    # Set on every connection: builds differ in their default (Debian's is on, others off).
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1


@pytest.mark.parametrize("where", ["memory", "file"])
def test_a_store_on_a_database_round_trips_attempts_progress_and_the_board(where, tmp_path):
    db = Database(memory=True) if where == "memory" else Database(tmp_path / "given.db")
    store = Store(db)
    assert store.db is db and store.version == len(MIGRATIONS)
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert db.journal_mode == ("memory" if where == "memory" else "wal")
    for person in ("local:ada", "local:bob"):
        store.upsert_person(person, person[6:].title(), "UTC", NOW)
    store.set_pending("local:ada", "q1", NOW)
    review = {"state": 2, "step": None, "stability": 2.3, "difficulty": 5.0,
              "due": (NOW + timedelta(days=2)).isoformat(), "last_review": NOW.isoformat(),
              "reviews": 1}
    attempt(store, score=80, review=lambda row: review, close_pending=True)
    attempt(store, score=40, now=NOW + timedelta(minutes=1))
    attempt(store, person="local:bob", question="q2", score=60)
    assert store.pending("local:ada") == {"question_id": "q1", "asked_at": NOW.isoformat(
        timespec="microseconds"), "is_open": 0}
    assert store.attempt_summary("local:ada") == (2, 60.0)
    assert store.best_scores("local:ada") == {"q1": 80}
    assert [r["question_id"] for r in store.review_states("local:ada")] == ["q1"]
    board = standings(store.scoring_rows(NOW, NOW + timedelta(days=1)))
    names = store.display_names()
    assert [(names[s.person_id], s.points) for s in board] == [("Ada", 80), ("Bob", 60)]
    assert db["attempts"].count == 3  # in the Database handed in
    assert store.delete_person("local:ada") == 2 + 1 + 1 + 1  # attempts, review, pending, person
    store.close()  # the Database stays the caller's: still open
    assert db["attempts"].count == 1


def test_reopening_an_existing_file_keeps_its_rows_and_does_not_migrate_again(tmp_path):
    path = tmp_path / "progress.db"
    first = Store(path)
    first.upsert_person("local:ada", "ada", "UTC", NOW)
    attempt(first)
    first.close()
    again = Store(path)
    assert again.version == len(MIGRATIONS)
    assert again.attempt_summary("local:ada") == (1, 50.0)
    again.close()


def test_an_attempt_for_an_unknown_person_is_refused_by_the_foreign_key(store):
    with pytest.raises(sqlite3.IntegrityError):
        attempt(store, person="local:nobody")


def test_a_failed_multi_row_write_leaves_nothing_behind(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)

    def broken_review(row):
        raise RuntimeError("the scheduler fell over")

    with pytest.raises(RuntimeError):
        attempt(store, review=broken_review)
    assert store.attempt_summary("local:ada") == (0, None)
    assert store.review_states("local:ada") == []


def test_an_attempt_its_review_and_the_pending_flag_are_written_together(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    store.set_pending("local:ada", "q1", NOW)
    review = {"state": 2, "step": None, "stability": 2.3, "difficulty": 5.0,
              "due": (NOW + timedelta(days=2)).isoformat(), "last_review": NOW.isoformat(),
              "reviews": 1}
    attempt(store, review=lambda row: review, close_pending=True)
    assert store.pending("local:ada")["is_open"] == 0
    [state] = store.review_states("local:ada")
    assert state["due"] == "2026-03-04T09:00:00.000000+00:00"
    assert store.best_scores("local:ada") == {"q1": 50}


def test_the_review_function_sees_the_stored_state(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    seen = []

    def bump(row):
        seen.append(row["reviews"] if row else None)
        return {"state": 2, "step": None, "stability": 1.0, "difficulty": 5.0,
                "due": NOW.isoformat(), "last_review": NOW.isoformat(),
                "reviews": (row["reviews"] if row else 0) + 1}

    attempt(store, review=bump)
    attempt(store, review=bump)
    assert seen == [None, 1]


def test_a_source_outside_the_three_is_refused(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    with pytest.raises(ValueError, match="source"):
        attempt(store, source="email")


def test_naive_times_are_refused(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        attempt(store, now=datetime(2026, 3, 2, 9, 0))


def test_only_one_daily_post_per_channel_and_day(store):
    day = date(2026, 3, 2)
    assert store.claim_daily("C1", day, "q1", NOW) is not None
    assert store.claim_daily("C1", day, "q2", NOW) is None
    assert store.claim_daily("C2", day, "q2", NOW) is not None
    assert store.claim_daily("C1", day + timedelta(days=1), "q3", NOW) is not None
    assert store.daily_by_day("C1", day)["question_id"] == "q1"


def test_two_stores_racing_for_the_daily_post_get_one_claim(tmp_path):
    stores = [Store(tmp_path / "shared.db") for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    results = []

    def claim(s):
        barrier.wait()
        results.append(s.claim_daily("C1", date(2026, 3, 2), "q1", NOW))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1
    for s in stores:
        s.close()


def test_an_event_id_is_taken_once(store):
    assert store.take_job(job("Ev1"), NOW) == "new"
    store.finish_job(store.open_jobs()[0]["id"], [])
    assert store.take_job(job("Ev1"), NOW + timedelta(seconds=5)) == "duplicate"
    assert store.take_job(job("Ev2"), NOW) == "new"


def test_old_event_ids_are_forgotten(store):
    store.take_job(job("Ev1"), NOW)
    later = NOW + timedelta(days=3)
    assert store.take_job(job("Ev2"), later, forget_before=later - timedelta(days=2)) == "new"
    assert store.db.execute("SELECT event_id FROM events").fetchall() == [("Ev2",)]


def test_settings_round_trip(store):
    assert store.get_setting("daily_channel") is None
    store.set_setting("daily_channel", "C1")
    store.set_setting("daily_channel", "C2")
    assert store.get_setting("daily_channel") == "C2"


def test_delete_person_removes_every_row_about_them_and_nobody_else(store):
    for person in ("local:ada", "local:bob"):
        store.upsert_person(person, person[6:], "UTC", NOW)
        store.set_pending(person, "q1", NOW)
        attempt(store, person=person, review=lambda row: {
            "state": 2, "step": None, "stability": 1.0, "difficulty": 5.0,
            "due": NOW.isoformat(), "last_review": NOW.isoformat(), "reviews": 1})
        attempt(store, person=person, question="q2")
    assert store.delete_person("local:ada") == 2 + 1 + 1 + 1  # attempts, review, pending, person
    for table in ("attempts", "reviews", "pending"):
        rows = store.db.execute(f"SELECT DISTINCT person_id FROM {table}").fetchall()
        assert rows == [("local:bob",)], table
    assert store.person("local:ada") is None


def test_forgotten_answers_leave_no_bytes_in_the_database_or_its_wal(tmp_path):
    path = tmp_path / "forget.db"
    store = Store(path)
    secret = "zebra-quokka-7731 my very own answer"
    for person in ("local:ada", "local:bob"):
        store.upsert_person(person, person[6:], "UTC", NOW)
    store.record_attempt("local:ada", "q1", secret, 40, "partial", (), (), "cli", NOW)
    attempt(store, person="local:bob")
    # A second thread's connection is open, as in the served app's pool.
    reader = threading.Thread(target=lambda: store.db["attempts"].count)
    reader.start()
    reader.join()
    wal = Path(str(path) + "-wal")

    def on_disk() -> bytes:
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    assert secret.encode() in on_disk()  # the check below can tell
    store.delete_person("local:ada")
    assert secret.encode() not in path.read_bytes()
    assert not wal.exists() or secret.encode() not in wal.read_bytes()
    assert store.db["attempts"].count == 1  # Bob's answer is still there
    store.close()


def test_many_threads_writing_attempts_at_once_lose_none(tmp_path):
    store = Store(tmp_path / "busy.db")
    people = [f"local:p{i}" for i in range(8)]
    for person in people:
        store.upsert_person(person, person, "UTC", NOW)
    per_thread = 40
    barrier = threading.Barrier(len(people))
    errors = []

    def write(person):
        try:
            barrier.wait()
            for n in range(per_thread):
                store.record_attempt(
                    person, f"q{n % 5}", "answer", n % 101, "weak", (), (), "dm",
                    NOW + timedelta(seconds=n), close_pending=True,
                    review=lambda row: {"state": 2, "step": None, "stability": 1.0,
                                        "difficulty": 5.0, "due": NOW.isoformat(),
                                        "last_review": NOW.isoformat(),
                                        "reviews": (row["reviews"] if row else 0) + 1})
        except Exception as exc:  # collected so the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.db["attempts"].count == len(people) * per_thread
    # Every review count is exact: no read-modify-write was lost between threads.
    for person in people:
        assert sum(r["reviews"] for r in store.review_states(person)) == per_thread
    store.close()


def test_a_new_migration_upgrades_an_existing_file_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    old = Store(path)
    old.upsert_person("local:ada", "ada", "UTC", NOW)
    old.close()
    monkeypatch.setattr("bot.store.MIGRATIONS",
                        MIGRATIONS + ("ALTER TABLE people ADD COLUMN locale TEXT",))
    upgraded = Store(path)
    assert upgraded.version == len(MIGRATIONS) + 1
    assert upgraded.person("local:ada") == {"id": "local:ada", "display_name": "ada",
                                            "tz": "UTC", "created_at": NOW.isoformat(
                                                timespec="microseconds"), "exam": None,
                                            "locale": None}
    upgraded.close()


# --- durable jobs and the outbox ---------------------------------------------------------------

def attempts_stored(store) -> int:
    return store.db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]

def job(event_id="Ev1", person="slack:T1:U1", **extra):
    return {"event_id": event_id, "kind": "dm", "person_id": person, "user_id": "U1",
            "channel": "DU1", "answer": "my answer", **extra}


def reply(text="Score 80/100"):
    return {"method": "chat.postMessage", "args": {"channel": "DU1", "text": text}}


def test_a_job_is_taken_once_and_a_retry_of_its_event_is_told_apart(store):
    assert store.take_job(job(question_id="q1"), NOW) == "new"
    [row] = store.open_jobs()
    assert (row["event_id"], row["question_id"], row["answer"]) == ("Ev1", "q1", "my answer")
    # Slack retries while the job is open: nothing is added, the caller runs the open one.
    assert store.take_job(job(), NOW) == "unfinished"
    assert store.finish_job(row["id"], [reply()]) is True
    assert store.take_job(job(), NOW) == "duplicate"
    assert store.count_open_jobs() == 0
    assert store.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 1


def test_a_job_that_cannot_be_written_leaves_its_event_id_unseen(store):
    # The event id and the job commit together: were the id kept alone, Slack's retry would be
    # dropped as a duplicate and the answer lost.
    with pytest.raises(sqlite3.IntegrityError):
        store.take_job({**job(), "answer": None}, NOW)
    assert store.db["events"].count == 0 and store.count_open_jobs() == 0
    assert store.take_job(job(), NOW) == "new"


def test_a_job_finishes_once_and_queues_its_replies_once(store):
    store.take_job(job(), NOW)
    job_id = store.open_jobs()[0]["id"]
    assert store.finish_job(job_id, [reply(), reply("second")]) is True
    assert store.finish_job(job_id, [reply()]) is False  # a second run adds nothing
    assert [r["args"]["text"] for r in store.due_replies(time.time())] == [
        "Score 80/100", "second"]


def test_an_attempt_and_what_its_hook_writes_commit_together_or_not_at_all(store):
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    store.take_job(job(person="local:ada"), NOW)
    job_id = store.open_jobs()[0]["id"]

    def broken(attempt_id):
        store.finish_job(job_id, [reply()])
        raise RuntimeError("the hook fell over after writing")

    with pytest.raises(RuntimeError):
        attempt(store, person="local:ada", then=broken)
    assert attempts_stored(store) == 0 and store.count_open_jobs() == 1
    assert store.count_undelivered() == 0
    attempt(store, person="local:ada", then=lambda _: store.finish_job(job_id, [reply()]))
    assert attempts_stored(store) == 1 and store.count_open_jobs() == 0
    assert store.count_undelivered() == 1


def test_outbox_rows_move_from_due_to_later_to_delivered_or_failed(store):
    first = store.queue_reply(reply())
    second = store.queue_reply(reply("other"))
    now = time.time()
    store.reply_retry(first, now + 60, "ratelimited")
    assert [r["id"] for r in store.due_replies(now + 1)] == [second]
    assert store.next_reply_at() <= now + 1
    store.reply_delivered(second)
    assert store.due_reply(second, now + 61) is None
    assert store.due_reply(first, now + 1) is None  # not due yet
    assert store.due_replies(now + 61)[0]["tries"] == 1
    store.reply_failed(first, "channel_not_found")
    assert store.count_undelivered() == 0 and store.next_reply_at() is None


def test_forgetting_a_person_removes_their_queued_answers_and_replies(store):
    store.upsert_person("slack:T1:U1", "ada", "UTC", NOW)
    store.take_job(job(), NOW)
    store.finish_job(store.open_jobs()[0]["id"], [reply()])
    store.take_job(job("Ev2"), NOW)
    store.delete_person("slack:T1:U1")
    for table in ("jobs", "outbox"):
        assert store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table


def test_a_write_meeting_a_lock_past_the_busy_timeout_waits_and_succeeds(tmp_path):
    store = Store(tmp_path / "locked.db", busy_timeout_ms=100, lock_wait=30)
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None,
                            check_same_thread=False)  # released from a timer thread
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(1.0, lambda: other.execute("ROLLBACK"))
    released.start()
    started = time.monotonic()
    try:
        attempt(store, person="local:ada")  # ten busy timeouts later, it is written
    finally:
        released.join()
        other.close()
    assert time.monotonic() - started >= 0.9
    assert attempts_stored(store) == 1
    store.close()


def test_a_write_gives_up_on_a_lock_only_after_lock_wait(tmp_path):
    store = Store(tmp_path / "stuck.db", busy_timeout_ms=50, lock_wait=0.5)
    store.upsert_person("local:ada", "ada", "UTC", NOW)
    other = sqlite3.connect(tmp_path / "stuck.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            attempt(store, person="local:ada")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert 0.4 <= time.monotonic() - started < 5
    store.close()


def test_finished_jobs_and_delivered_replies_are_pruned_with_old_event_ids(store):
    store.take_job(job("Ev1"), NOW)
    store.finish_job(store.open_jobs()[0]["id"], [reply()])
    store.reply_delivered(store.due_replies(time.time())[0]["id"])
    store.take_job(job("Ev2"), NOW)  # still open: kept however old
    later = NOW + timedelta(days=3)
    store.db.execute("UPDATE outbox SET queued_at = queued_at - 3 * 86400")
    assert store.take_job(job("Ev3"), later, forget_before=later - timedelta(days=2)) == "new"
    assert [r[0] for r in store.db.execute("SELECT event_id FROM jobs ORDER BY id")] == [
        "Ev2", "Ev3"]
    assert store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
