"""manifest.yml and the Procfile: least-privilege scopes, each explained, and one endpoint."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.slack.app import EVENTS_PATH

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"

# Every Web API method the bot calls, and the scope that allows it (auth.test and
# views.publish need none).
METHOD_SCOPES = {"chat.postMessage": "chat:write", "chat.postEphemeral": "chat:write",
                 "chat.update": "chat:write", "conversations.open": "im:write",
                 "reactions.add": "reactions:write", "users.info": "users:read"}
EVENT_SCOPES = {"message.im": "im:history", "message.channels": "channels:history",
                "app_home_opened": None}


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_the_scopes_are_exactly_what_the_bot_uses():
    scopes = manifest()["oauth_config"]["scopes"]["bot"]
    needed = set(METHOD_SCOPES.values()) | {s for s in EVENT_SCOPES.values() if s} | {"commands"}
    assert sorted(scopes) == sorted(needed)
    assert "user" not in manifest()["oauth_config"]["scopes"]  # no user token at all


def test_every_scope_is_explained_in_a_comment():
    lines = MANIFEST.read_text().splitlines()
    for scope in manifest()["oauth_config"]["scopes"]["bot"]:
        line = next(x for x in lines if x.strip().startswith(f"- {scope} "))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, scope


def test_events_commands_and_interactivity_share_one_endpoint():
    data = manifest()
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == set(EVENT_SCOPES)
    urls = [data["settings"]["event_subscriptions"]["request_url"],
            data["settings"]["interactivity"]["request_url"],
            *[c["url"] for c in data["features"]["slash_commands"]]]
    assert all(url.endswith(EVENTS_PATH) for url in urls)
    command = data["features"]["slash_commands"][0]
    assert command["command"] == "/mlsprep" and command["should_escape"] is True
    assert data["features"]["app_home"]["home_tab_enabled"] is True


def test_the_procfile_runs_http_and_socket_mode():
    lines = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    assert lines == {"web": "python -m bot serve", "worker": "python -m bot serve --socket"}
