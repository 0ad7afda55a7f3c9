"""Listeners grouped by kind; `register(app, rt)` wires them all."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, home, messages
from bot.slack.runtime import Runtime


def register(app: App, rt: Runtime) -> None:
    commands.register(app, rt)
    actions.register(app, rt)
    home.register(app, rt)
    # Last: it ends with the catch-all that answers every other event with 200.
    messages.register(app, rt)
