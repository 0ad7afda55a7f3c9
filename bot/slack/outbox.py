"""The outbox: replies to people are rows first, posts second.

A handler writes the reply (a Web API method and its arguments) in the transaction that
produced it, the attempt for feedback. The deliverer posts due rows and marks each delivered
right after Slack accepted it. A reply Slack does not take is tried again: after Retry-After
on a 429, else after a pause that doubles each time (`retry_base` up to `retry_max`), until it
is delivered or `deadline` seconds have passed since it was queued; then it is marked failed
and logged by id, method and error code, never with its text.

Delivery is at least once, with a window of one: a process killed after Slack accepted a post
but before the row was marked delivered posts that reply again on its next start. Everything
else is delivered once (one deliverer per database, one row per reply).
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.store import Store, is_locked

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 4
# Web API errors that no retry can fix: the reply is marked failed at once.
PERMANENT = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text",
    "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "user_not_found",
    "user_not_in_channel", "invalid_auth", "not_authed", "account_inactive", "token_revoked",
    "missing_scope", "no_permission", "message_not_found", "cant_update_message",
    "edit_window_closed", "restricted_action", "unknown_method",
})
# Errors that mean the reply's effect is already there.
ALREADY = frozenset({"already_reacted"})


def reply(method: str, **args) -> dict:
    """One outbox row's content: a Web API method and its keyword arguments."""
    return {"method": method, "args": args}


class Outbox:
    def __init__(self, store: Store, client: WebClient, *, retry_base: float = 1.0,
                 retry_max: float = 60.0, deadline: float = 600.0,
                 workers: int = DEFAULT_WORKERS, poll: float = 0.5):
        self.store = store
        self.client = client  # without retry handlers: the outbox decides when to try again
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.deadline = deadline
        self._poll = poll
        self._pool = ThreadPoolExecutor(max_workers=workers,
                                        thread_name_prefix="mlsprep-deliver")
        self._lock = threading.Lock()
        self._sending: set[int] = set()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="mlsprep-outbox",
                                            daemon=True)
            self._thread.start()

    def nudge(self) -> None:
        self._wake.set()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is left to deliver (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._sending)
            if not busy and self.store.count_undelivered() == 0:
                return True
            self.nudge()
            time.sleep(0.02)
        return False

    def stop(self, timeout: float) -> bool:
        """Post what is due for up to `timeout` seconds, then stop; the rest stays queued."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            with self._lock:
                busy = bool(self._sending)
            if not busy and not self._due_now():
                break
            time.sleep(0.02)
        self._stopping.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            return not self._sending

    # internals ---------------------------------------------------------------------------
    def _due_now(self) -> bool:
        try:
            due = self.store.next_reply_at()
        except Exception:
            return False
        return due is not None and due <= time.time()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            pause = self._poll
            try:
                for row in self.store.due_replies(time.time()):
                    with self._lock:
                        if row["id"] in self._sending or self._stopping.is_set():
                            continue
                        self._sending.add(row["id"])
                    self._pool.submit(self._deliver, row)
                due = self.store.next_reply_at()
                if due is not None:
                    pause = max(0.01, min(pause, due - time.time()))
            except Exception as exc:
                level = logging.WARNING if is_locked(exc) else logging.ERROR
                log.log(level, "reading the outbox failed: %s", exc)
            self._wake.wait(pause)
            self._wake.clear()

    def _deliver(self, row: dict) -> None:
        try:
            self._try(row)
        except Exception:
            # The row stays undelivered (e.g. a lock while marking it): it is tried again.
            log.exception("delivering reply %d failed", row["id"])
        finally:
            with self._lock:
                self._sending.discard(row["id"])
            self._wake.set()

    def _try(self, row: dict) -> None:
        # The loop's read may predate another thread's try of this row a moment ago: that
        # try may have delivered it, or met a 429 and set it for later. Read it again, so a
        # Retry-After is honoured and the backoff counts every try.
        row = self.store.due_reply(row["id"], time.time())
        if row is None:
            return
        method = row["method"]
        send = getattr(self.client, method.replace(".", "_"))
        try:
            send(**row["args"])
        except SlackApiError as exc:
            error = str(exc.response.get("error") or f"http_{exc.response.status_code}")
            if error in ALREADY:
                self.store.reply_delivered(row["id"])
                return
            if error in PERMANENT:
                self._fail(row, error)
                return
            retry_after = None
            if exc.response.status_code == 429:
                retry_after = _retry_after(exc.response.headers)
            self._again(row, error, retry_after)
            return
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out
            # urllib wraps the socket's error in URLError: name the one underneath, so the
            # log and the row say "ConnectionRefusedError" rather than only "URLError".
            reason = getattr(exc, "reason", None)
            cause = reason if isinstance(reason, BaseException) else exc
            self._again(row, type(cause).__name__, None)
            return
        self.store.reply_delivered(row["id"])

    def _again(self, row: dict, error: str, retry_after: float | None) -> None:
        tries = row["tries"] + 1
        pause = min(self.retry_max, self.retry_base * 2 ** (tries - 1))
        pause *= random.uniform(0.8, 1.0)  # people answering together do not retry together
        if retry_after is not None:
            pause = max(pause, retry_after)
        next_at = time.time() + pause
        if next_at > row["queued_at"] + self.deadline:
            self._fail(row, error)
            return
        log.info("reply %d (%s): %s, try %d; again in %.2fs", row["id"], row["method"],
                 error, tries, pause)
        self.store.reply_retry(row["id"], next_at, error)

    def _fail(self, row: dict, error: str) -> None:
        # Ids, the method and the error code only: the text is what a person wrote about.
        log.error("reply %d (%s, job %s) given up after %d tries: %s", row["id"],
                  row["method"], row["job_id"], row["tries"] + 1, error)
        self.store.reply_failed(row["id"], error)


def _retry_after(headers) -> float:
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value if not isinstance(value, list) else value[0]))
            except (TypeError, ValueError):
                break
    return 1.0
