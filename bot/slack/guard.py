"""The gate in front of Bolt: size, timestamp, signature, encoding and shape, checked before
any of Slack's payload is trusted.

Bolt assumes that a correctly signed request is well formed: a non-numeric timestamp, a body
that is not UTF-8, JSON nested thousands deep or a block_actions payload with no actions raise
inside it, and the server answers 500, which Slack retries. `guard_wsgi` answers those with a
4xx before Bolt sees them: 413 for a body over 1 MB, 401 for a timestamp or signature that is
not Slack's, 400 for anything that does not decode or parse, or has not the shape the listeners
read. `shape_problem` is the same shape check for payloads that arrive another way (Socket Mode,
Bolt middleware), where the answer is to acknowledge and ignore.

Nothing from the request (body, headers, signature) is written to the log: only the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64  # Slack's payloads nest about ten deep
REPLAY_WINDOW_SECONDS = 300  # Slack's own rule for a fresh request
# Unix seconds have 10 digits until the year 2286; 12 leaves room without letting a number of
# any size through to the arithmetic.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")


class Rejected(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


_STATUS_LINES = {400: "400 Bad Request", 401: "401 Unauthorized",
                 413: "413 Content Too Large"}


# --- the HTTP gate -----------------------------------------------------------------------------

def guard_wsgi(app: Callable, signing_secret: str, path: str, *,
               clock: Callable[[], float] = time.time) -> Callable:
    """Wrap the WSGI app so that every POST to `path` passes the checks before it runs."""
    secret = signing_secret.encode()

    def guarded(environ, start_response) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != path or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        try:
            body = check_request(environ, secret, clock())
        except Rejected as refused:
            # 401s are routine on a public URL; malformed signed requests are worth a look.
            log.log(logging.INFO if refused.status == 401 else logging.WARNING,
                    "refused a request with %d: %s", refused.status, refused.reason)
            payload = json.dumps({"ok": False, "error": refused.reason}).encode()
            start_response(_STATUS_LINES[refused.status],
                           [("Content-Type", "application/json"),
                            ("Content-Length", str(len(payload)))])
            return [payload]
        # Bolt reads the body again, so it gets the bytes that were checked.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        return app(environ, start_response)

    return guarded


def check_request(environ: dict, secret: bytes, now: float) -> bytes:
    """The request's body once every check passed; Rejected says which one did not."""
    length = environ.get("CONTENT_LENGTH") or ""
    if length and not _CONTENT_LENGTH.fullmatch(length):
        raise Rejected(400, "bad Content-Length")
    if length and int(length) > MAX_BODY_BYTES:
        raise Rejected(413, "body over 1 MB")  # refused before a byte of it is read
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "").strip()
    check_timestamp(timestamp, now)
    body = read_body(environ, int(length) if length else None)
    check_signature(secret, timestamp, body, environ.get("HTTP_X_SLACK_SIGNATURE", ""))
    parse_body(body, environ.get("CONTENT_TYPE", ""))
    return body


def check_timestamp(timestamp: str, now: float) -> None:
    if not timestamp:
        raise Rejected(401, "no X-Slack-Request-Timestamp")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Rejected(401, "X-Slack-Request-Timestamp is not a Unix time")
    if abs(now - int(timestamp)) > REPLAY_WINDOW_SECONDS:
        raise Rejected(401, "X-Slack-Request-Timestamp is more than 5 minutes away")


def read_body(environ: dict, length: int | None) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length is None:
        # No length: only a chunked body has one (gunicorn de-chunks it); reading anything
        # else would wait for a body that is not coming.
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return b""
        body = stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise Rejected(413, "body over 1 MB")
        return body
    return stream.read(length)


def check_signature(secret: bytes, timestamp: str, body: bytes, signature: str) -> None:
    """Slack's v0 signature over the raw bytes.

    slack_sdk's SignatureVerifier decodes the body as UTF-8 first (and raises on bytes that
    are not), and compare_digest raises on a non-ASCII str: both are avoided by comparing
    bytes with bytes.
    """
    if not signature:
        raise Rejected(401, "no X-Slack-Signature")
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = b"v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest().encode("ascii")
    # WSGI hands header values over as latin-1 text: this gives back the bytes that were sent.
    if not hmac.compare_digest(expected, signature.encode("latin-1", "replace")):
        raise Rejected(401, "signature does not match")


# --- parsing, the way Bolt will parse ----------------------------------------------------------

def parse_body(body: bytes, content_type: str) -> dict:
    """The payload Bolt will see, or Rejected(400). Mirrors Bolt's rule for which bodies are
    JSON: a JSON content type, or a body starting with "{"; otherwise a form, whose `payload`
    field (interactivity) is JSON."""
    if not body:
        return {}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or text.startswith("{"):
        payload = parse_json(text)
    else:
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in form:
            payload = parse_json(form["payload"])
        else:
            problem = form_problem(form)
            if problem:
                raise Rejected(400, problem)
            return form
    problem = shape_problem(payload)
    if problem:
        raise Rejected(400, problem)
    return payload


def parse_json(text: str) -> dict:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
        raise Rejected(400, "body is not valid JSON") from None
    if depth(value) > MAX_DEPTH:
        raise Rejected(400, f"JSON nested deeper than {MAX_DEPTH}")
    if not isinstance(value, dict):
        raise Rejected(400, "JSON body is not an object")
    return value


def depth(value) -> int:
    """How deep arrays and objects nest (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children
                     if isinstance(child, dict | list))
    return deepest


# --- shapes ------------------------------------------------------------------------------------

# Fields Bolt and the listeners read as text. Slack sends each as a string (or leaves it out).
_TEXT_FIELDS = ("team_id", "user_id", "channel_id", "enterprise_id", "thread_ts",
                "function_execution_id", "bot_access_token", "user_team", "event_id")
# Fields Bolt reads as either an id string or an object with an "id".
_ID_OBJECTS = ("team", "user", "channel", "enterprise")
# Nested objects Bolt looks into for the ids above.
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread")
_OBJECTS = (*_NESTED, "view", "function_data", "container", "state")
_MESSAGE_TEXT = ("user", "thread_ts", "event_ts", "subtype", "channel_type", "bot_id", "team")


def shape_problem(payload) -> str | None:
    """Why this payload cannot be handled (a sentence), or None when it has the shape Bolt and
    the listeners read."""
    if not isinstance(payload, dict):
        return "payload is not an object"
    if not isinstance(payload.get("type"), str) and "command" not in payload:
        return "payload has no type"
    problem = _ids_problem(payload, "payload")
    if problem:
        return problem
    kind = payload.get("type")
    if kind == "url_verification" and not isinstance(payload.get("challenge"), str):
        return "url_verification without a challenge"
    if kind == "event_callback":
        return _event_problem(payload.get("event"))
    if kind == "block_actions":
        return _actions_problem(payload)
    if "command" in payload:
        return form_problem(payload)
    return None


def form_problem(form: dict) -> str | None:
    """A slash command needs its response_url: the reply goes there."""
    if "command" not in form:
        return None  # not a command (an ssl_check, or something Bolt answers 404)
    for key in ("command", "user_id"):
        if not isinstance(form.get(key), str) or not form[key]:
            return f"slash command without {key}"
    if not _is_url(form.get("response_url")):
        return "slash command without a response_url"
    return None


def _ids_problem(node: dict, where: str, nested: int = 0) -> str | None:
    for key in _TEXT_FIELDS:
        if node.get(key) is not None and not isinstance(node[key], str):
            return f"{where}.{key} is not a string"
    for key in _ID_OBJECTS:
        value = node.get(key)
        if value is None or isinstance(value, str):
            continue
        if not isinstance(value, dict):
            return f"{where}.{key} is neither an id nor an object"
        if value.get("id") is not None and not isinstance(value["id"], str):
            return f"{where}.{key}.id is not a string"
    for key in _OBJECTS:
        if key in node and not isinstance(node[key], dict):
            return f"{where}.{key} is not an object"
    if "response_url" in node and not _is_url(node["response_url"]):
        return f"{where}.response_url is not a URL"
    for key in ("authorizations", "response_urls"):
        value = node.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, dict) for v in value)):
            return f"{where}.{key} is not a list of objects"
    if nested < 3:
        inner = [(key, node[key]) for key in _NESTED if isinstance(node.get(key), dict)]
        if node.get("authorizations"):
            inner.append(("authorizations[0]", node["authorizations"][0]))
        for key, child in inner:
            problem = _ids_problem(child, f"{where}.{key}", nested + 1)
            if problem:
                return problem
    return None


def _event_problem(event) -> str | None:
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return "event_callback without an event type"
    if event["type"] == "message":
        for key in ("channel", "ts"):
            if not isinstance(event.get(key), str):
                return f"message event without a {key}"
        if "text" in event and not isinstance(event["text"], str):
            return "message event's text is not a string"
        for key in _MESSAGE_TEXT:
            if event.get(key) is not None and not isinstance(event[key], str):
                return f"message event's {key} is not a string"
    if event["type"] == "app_home_opened":
        if not isinstance(event.get("user"), str):
            return "app_home_opened without a user"
        if event.get("tab") is not None and not isinstance(event["tab"], str):
            return "app_home_opened's tab is not a string"
    return None


def _actions_problem(payload: dict) -> str | None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        return "block_actions without actions"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "block_actions with an action that has no action_id"
        if action.get("value") is not None and not isinstance(action["value"], str):
            return "block_actions with an action value that is not a string"
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return "block_actions without a user"
    if user.get("team_id") is not None and not isinstance(user["team_id"], str):
        return "block_actions' user.team_id is not a string"
    if payload.get("team") is not None and not isinstance(payload["team"], dict):
        return "block_actions' team is not an object"
    channel = payload.get("channel")
    if channel is not None and not (isinstance(channel, dict)
                                    and isinstance(channel.get("id"), str)):
        return "block_actions' channel has no id"
    container = payload.get("container") or {}
    if container.get("message_ts") is not None and not isinstance(container["message_ts"], str):
        return "block_actions' container.message_ts is not a string"
    values = (payload.get("state") or {}).get("values", {})
    if not isinstance(values, dict):
        return "block_actions' state.values is not an object"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(e, dict) for e in block.values()):
            return "block_actions' state has a block that is not an object"
        for element in block.values():
            options = element.get("selected_options")
            if options is not None and not (isinstance(options, list)
                                            and all(isinstance(o, dict) for o in options)):
                return "block_actions' selected_options is not a list of objects"
    return None


def _is_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))
