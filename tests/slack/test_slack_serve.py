"""The done-when check: `python -m bot serve` as a real process (gunicorn, its own model load)
against the Web API stand-in handles signed events, commands and clicks, rejects unsigned
ones, posts the daily question once, never logs a secret, and stops cleanly."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from harness import ADMIN, SECRET, SlackBot, good_answer, texts, wait_until
from standin import TOKEN, signed_headers

from bot.core.corpus import load_corpus
from bot.slack import blocks

ROOT = Path(__file__).resolve().parents[2]
ADA = "U0ADA"
MODEL_LOAD_TIMEOUT = 180  # a cold process loading torch and the model on a busy CI machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pending_id(db_path: str, user: str) -> str | None:
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT question_id FROM pending WHERE person_id = ? AND is_open = 1",
                         [f"slack:T0TEAM:{user}"]).fetchone()
    return row[0] if row else None


def count(db_path: str, table: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def serve_env(db_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "MLSPREP_", "DATABASE_", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": "http://127.0.0.1:9/api/", "DATABASE_PATH": str(db_path),
                "PORT": str(free_port()), **extra})
    return env


@contextlib.contextmanager
def serving(db_path, standin, log_path: Path, **extra) -> Iterator[tuple]:
    """`python -m bot serve` as its own process until the block ends, then SIGTERM."""
    env = serve_env(db_path, SLACK_API_URL=standin.api_url, **extra)
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    bot = SlackBot(f"http://127.0.0.1:{env['PORT']}", standin, None, None, None, str(db_path))

    def up() -> bool:
        assert process.poll() is None, log_path.read_text()
        try:
            return bot.get("/healthz").status == 200
        except OSError:
            return False

    try:
        wait_until(up, timeout=60, what="the server to listen")
        yield bot, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


@pytest.fixture
def served(tmp_path, standin):
    log_path = tmp_path / "serve.log"
    with serving(tmp_path / "b.db", standin, log_path, MLSPREP_ADMINS=ADMIN,
                 MLSPREP_DAILY_CHANNEL="C0DAILY", MLSPREP_DAILY_TIME="00:00") as (bot, process):
        yield bot, process, log_path


def test_python_m_bot_serve_handles_signed_slack_traffic(served):
    bot, process, log_path = served
    health = bot.get("/healthz")
    assert health.status == 200 and "model_ready" in health.json()
    corpus = load_corpus()

    # unsigned: 401 and nothing written
    before = count(bot.db_path, "events")
    body = json.dumps({"type": "event_callback", "event_id": "EvX", "team_id": "T0TEAM",
                       "event": {"type": "message", "channel_type": "im", "user": ADA,
                                 "channel": "DU0ADA", "text": "quiz", "ts": "1.1"}})
    assert bot.post(body, "application/json", signed=False).status == 401
    assert count(bot.db_path, "events") == before

    # a DM gets a question, the answer gets feedback (once the process's model is loaded)
    assert bot.dm(ADA, "quiz").status == 200
    bot.standin.wait_for("chat.postMessage", channel="DU0ADA")
    question = corpus.get(pending_id(bot.db_path, ADA))
    response = bot.dm(ADA, good_answer(question))
    assert response.status == 200 and response.elapsed < 3  # acked, even while loading

    def scored() -> list:
        return [c for c in bot.standin.of("chat.postMessage", channel="DU0ADA")
                if c.args["text"].startswith("Score")]

    wait_until(lambda: scored(), timeout=MODEL_LOAD_TIMEOUT, what="the feedback")
    assert len(scored()) == 1
    assert bot.get("/healthz").json()["model_ready"] is True

    # the scheduler posted today's question at start-up (the time is 00:00), once
    daily = bot.standin.wait_for("chat.postMessage", channel="C0DAILY")[0]
    response, name = bot.command("daily now", ADMIN)
    assert response.status == 200
    assert "already up" in bot.responses(name)[0]["text"]

    # a thread reply gets private feedback and a reaction
    daily_question = corpus.get(
        sqlite3.connect(bot.db_path).execute("SELECT question_id FROM daily_posts").fetchone()[0])
    _, reply_ts = bot.reply(ADA, "C0DAILY", daily.result["ts"], good_answer(daily_question))
    private = bot.standin.wait_for("chat.postEphemeral", channel="C0DAILY")[0]
    assert private.args["user"] == ADA and "/100" in texts(private.args["blocks"])
    bot.standin.wait_for("reactions.add", timestamp=reply_ts)

    # /mlsprep score
    _, name = bot.command("score", ADA)
    assert "This week" in texts(bot.responses(name)[0]["blocks"])

    # a button click: Hint on a new question
    posted = len(bot.standin.of("chat.postMessage", channel="DU0ADA"))
    bot.dm(ADA, "quiz")
    bot.standin.wait_for("chat.postMessage", count=posted + 1, channel="DU0ADA")
    bot.click(blocks.HINT, pending_id(bot.db_path, ADA), ADA, "DU0ADA", "1.1")
    hint = bot.standin.wait_for("chat.postMessage", count=posted + 2, channel="DU0ADA")[-1]
    assert hint.args["text"].startswith("Hint:")

    assert len([c for c in bot.standin.of("chat.postMessage", channel="C0DAILY")
                if "thread_ts" not in c.args]) == 1

    # malformed requests through gunicorn: 4xx, and no traceback in its log
    assert bot.post(body, "application/json", headers={
        "X-Slack-Request-Timestamp": "soon"}).status == 401
    assert bot.post("[" * 5000 + "]" * 5000, "application/json").status == 400
    assert bot.post(json.dumps({"type": "block_actions", "actions": [], "user": {"id": ADA}}),
                    "application/json").status == 400
    # a chunked body (no Content-Length) is read, and refused past 1 MB
    assert chunked_post(bot, json.dumps({"type": "url_verification",
                                         "challenge": "c-9"})) == 200
    assert chunked_post(bot, json.dumps({"type": "url_verification",
                                         "challenge": "x" * (1024 * 1024)})) == 413

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log = log_path.read_text()
    assert TOKEN not in log and SECRET not in log
    assert "EvX" not in log  # a refused request's body is not logged either
    assert "terminate called" not in log
    assert "Traceback" not in log
    assert "Booting worker" in log


def chunked_post(bot: SlackBot, body: str) -> int:
    """POST a signed body with Transfer-Encoding: chunked, as some proxies forward it."""
    parts = urlsplit(bot.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = signed_headers(SECRET, body, "application/json")
        connection.request("POST", "/slack/events", body=iter([body.encode()]),
                           headers=headers, encode_chunked=True)
        return connection.getresponse().status
    finally:
        connection.close()


def test_a_missing_variable_stops_start_up_and_is_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MLSPREP_"))}
    env.update({"SLACK_BOT_TOKEN": TOKEN, "DATABASE_PATH": str(tmp_path / "b.db")})
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr
    socket_mode = subprocess.run([sys.executable, "-m", "bot", "serve", "--socket"], cwd=ROOT,
                                 env=env, capture_output=True, text=True, timeout=60)
    assert socket_mode.returncode == 2
    assert "SLACK_APP_TOKEN" in socket_mode.stderr


# --- an unusable DATABASE_PATH -------------------------------------------------------------

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def start_up(db_path, prefix=(), **extra) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "bot", "serve"], cwd=ROOT,
                          env=serve_env(db_path, **extra), capture_output=True, text=True,
                          timeout=60)


def assert_refused(result, db_path, reason: str) -> None:
    assert result.returncode == 2, result.stderr
    assert f"mlsprep: DATABASE_PATH={db_path} cannot be used: {reason}" in result.stderr
    assert "gunicorn" not in result.stderr.lower()  # it never got as far as booting
    assert SECRET not in result.stderr


def test_a_directory_as_database_path_stops_start_up(tmp_path):
    assert_refused(start_up(tmp_path), tmp_path, "it is a directory")


def test_a_file_that_is_not_a_database_stops_start_up(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database " * 10)
    assert_refused(start_up(path), path, "it is not an SQLite database")
    assert path.read_text().startswith("these are my notes")  # left as it was


def test_a_missing_directory_stops_start_up_and_is_not_created(tmp_path):
    path = tmp_path / "volume" / "mlsprep.db"
    assert_refused(start_up(path), path,
                   f"the directory {path.parent} does not exist (is the volume mounted? "
                   "Set MLSPREP_CREATE_DB_DIR=1 to create it)")
    assert not path.parent.exists()


@pytest.mark.skipif(shutil.which("setpriv") is None or os.geteuid() != 0,
                    reason="needs root and setpriv to run the server as another user")
def test_a_read_only_directory_stops_start_up(tmp_path):
    # The server runs as nobody, for whom root's directory is read-only (root could write).
    outer = Path(tempfile.mkdtemp(prefix="mlsprep-ro-"))
    try:
        outer.chmod(0o755)
        path = outer / "mlsprep.db"
        assert_refused(start_up(path, prefix=NOBODY), path,
                       f"the directory {outer} is not writable by this user")
        assert not path.exists()
    finally:
        shutil.rmtree(outer)


def test_the_missing_directory_is_created_when_the_operator_asks(tmp_path, standin):
    path = tmp_path / "volume" / "mlsprep.db"
    log_path = tmp_path / "serve.log"
    with serving(path, standin, log_path, MLSPREP_CREATE_DB_DIR="1"):
        pass  # up and answering /healthz
    assert path.exists()
    assert f"created the directory {path.parent}" in log_path.read_text()
