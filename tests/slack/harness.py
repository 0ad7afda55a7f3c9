"""The harness for the Slack tests: serve the real app on loopback, drive it with signed
requests the way Slack does, and read what it did (Web API calls, database rows).

The app is served by a threaded WSGI server in the test process (the same WSGI callable
gunicorn serves in production), so a test can move the coach's clock; test_slack_serve.py
starts the real `python -m bot serve` command as well.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from standin import (
    TEAM,
    StandIn,
    action_body,
    command_body,
    event_body,
    signed_headers,
)

from bot.config import Settings
from bot.slack.app import build_wsgi

SECRET = "test-signing-secret"
ADMIN = "U0ADMIN"
DAILY_CHANNEL = "C0DAILY"
PEOPLE = {"U0ADA": "Ada", "U0BOB": "Bob", "U0CY": "Cy", ADMIN: "Admin"}
MONDAY_10AM = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class Clock:
    """The coach's clock, moved by tests (the request signatures use real time)."""

    def __init__(self, start: datetime = MONDAY_10AM):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass

    def get_stderr(self):
        # What the server would print (a traceback when the app raises) is kept for the test
        # to read, as gunicorn's error log would hold it in production.
        return self.server.error_log


class ErrorLog:
    """The served app's wsgi.errors: a stream that keeps what was written."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def clear(self) -> None:
        with self._lock:
            self._parts.clear()


@dataclass
class Response:
    status: int
    body: str
    elapsed: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class SlackBot:
    """Drives the running app the way Slack does: signed HTTP requests."""

    url: str
    standin: StandIn
    coach: object
    rt: object
    clock: Clock
    db_path: str
    error_log: ErrorLog = field(default_factory=ErrorLog)
    _ids: count = field(default_factory=lambda: count(1))

    # raw requests ------------------------------------------------------------------------------
    def post(self, body: str, content_type: str, *, secret: str = SECRET,
             timestamp: int | None = None, signed: bool = True,
             headers: dict | None = None) -> Response:
        all_headers = (signed_headers(secret, body, content_type, timestamp) if signed
                       else {"Content-Type": content_type})
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url + "/slack/events", data=body.encode(),
                                         headers=all_headers, method="POST")
        return _send(request)

    def post_raw(self, body: bytes, headers: dict) -> Response:
        """POST exactly these bytes and headers (for malformed requests)."""
        request = urllib.request.Request(self.url + "/slack/events", data=body, headers=headers,
                                         method="POST")
        return _send(request)

    def get(self, path: str) -> Response:
        return _send(urllib.request.Request(self.url + path))

    # what people do ----------------------------------------------------------------------------
    def event(self, event: dict, event_id: str | None = None,
              retry_num: int | None = None) -> Response:
        event_id = event_id or f"Ev{next(self._ids):06d}"
        headers = {"X-Slack-Retry-Num": str(retry_num),
                   "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return self.post(event_body(event, event_id), "application/json", headers=headers)

    def dm(self, user: str, text: str, event_id: str | None = None,
           retry_num: int | None = None) -> Response:
        ts = self.next_ts()
        return self.event({"type": "message", "channel_type": "im", "channel": "D" + user,
                           "user": user, "text": text, "ts": ts, "event_ts": ts,
                           "team": TEAM}, event_id, retry_num)

    def reply(self, user: str, channel: str, thread_ts: str, text: str) -> tuple[Response, str]:
        ts = self.next_ts()
        response = self.event({"type": "message", "channel_type": "channel", "channel": channel,
                               "user": user, "text": text, "ts": ts, "thread_ts": thread_ts,
                               "event_ts": ts, "team": TEAM})
        return response, ts

    def command(self, text: str, user: str, channel: str = "C0GENERAL") -> tuple[Response, str]:
        name = f"cmd{next(self._ids)}"
        body = command_body(text, user, channel, self.standin.response_url(name))
        return self.post(body, "application/x-www-form-urlencoded"), name

    def click(self, action_id: str, value: str, user: str, channel: str | None = None,
              message_ts: str | None = None, state: dict | None = None) -> tuple[Response, str]:
        name = f"act{next(self._ids)}"
        body = action_body(action_id, value, user, channel, message_ts,
                           self.standin.response_url(name), state=state)
        return self.post(body, "application/x-www-form-urlencoded"), name

    def next_ts(self) -> str:
        return f"{time.time():.6f}{next(self._ids) % 10}"

    # looking at the result ---------------------------------------------------------------------
    def idle(self, timeout: float = 30.0) -> None:
        assert self.rt.idle(timeout), "background work did not finish"

    def rows(self, table: str) -> int:
        with sqlite3.connect(self.db_path) as db:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def responses(self, name: str, timeout: float = 20.0) -> list[dict]:
        """What the app sent to the response_url of one command or click."""
        return [c.args for c in self.standin.wait_for("response_url", timeout=timeout,
                                                      _path=name)]


def wait_until(condition, timeout: float = 20.0, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}")
        time.sleep(0.02)


def _send(request: urllib.request.Request) -> Response:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return Response(reply.status, reply.read().decode(errors="replace"),
                            time.monotonic() - started)
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read().decode(errors="replace"),
                        time.monotonic() - started)


def good_answer(question) -> str:
    """An answer that deserves a high score: the reference, or the right letters."""
    if question.is_choice:
        return " and ".join(question.answer).lower()
    return question.reference_answer


def credits_its_reference(grader, question) -> bool:
    """The grader ticks a point of this question's own reference answer and flags nothing.
    Not every reference passes: 38 of the bank's 193 are read as contradicting one of their own
    points (a known miss, tests/test_scoring.py::test_the_bank_s_own_reference_answers_...);
    a flow test that answers with the reference needs one that does, whichever question the
    draw brings."""
    grade = grader.grade(question, question.reference_answer)
    return bool(grade.covered) and grade.flag is None


def weak_answer(question) -> str:
    """A gradable answer that deserves a low score: a wrong letter, or a vague guess."""
    if question.is_choice:
        return next(letter for letter in question.letters if letter not in question.answer)
    return "I am not sure, maybe use a bigger computer so that everything runs faster."


def texts(blocks: list[dict] | None) -> str:
    """Every piece of text in a list of blocks, for assertions on what a person would read."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks or [])
    return "\n".join(found)


def slack_settings(tmp_path, standin: StandIn, **extra) -> Settings:
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": standin.api_url, "DATABASE_PATH": str(tmp_path / "bot.db"),
           "MLSPREP_TZ": "UTC", "MLSPREP_ADMINS": ADMIN,
           "MLSPREP_DAILY_CHANNEL": DAILY_CHANNEL, "MLSPREP_DAILY_TIME": "09:00", **extra}
    return Settings.from_env(env)


@contextmanager
def serve(app, rt, standin: StandIn, settings: Settings, clock: Clock):
    """Serve the app's WSGI callable on a free loopback port; shut everything down after."""
    server = make_server("127.0.0.1", 0, build_wsgi(app, rt),
                         server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    server.error_log = ErrorLog()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield SlackBot(f"http://127.0.0.1:{server.server_port}", standin, rt.coach, rt, clock,
                       settings.database_path, server.error_log)
    finally:
        server.shutdown()
        server.server_close()
        rt.close()
