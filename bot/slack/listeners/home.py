"""App Home: the person's streak, mastery per domain, reviews due and readiness."""

from __future__ import annotations

from slack_bolt import App

from bot.slack import blocks
from bot.slack.runtime import Runtime


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)


def on_home_opened(rt: Runtime, event: dict, context) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    rt.work.submit(publish_home, rt, context.team_id, event["user"])


def publish_home(rt: Runtime, team: str, user: str) -> None:
    stats = rt.coach.stats(rt.person(team, user), rt.now())
    rt.client.views_publish(user_id=user, view=blocks.home_view(stats, model_ready=rt.work.ready))
