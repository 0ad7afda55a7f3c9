"""Fixtures for the Slack tests: the Web API stand-in, and the real app served over HTTP with
the real coach on a SQLite file in tmp_path and the session's real model."""

from __future__ import annotations

import pytest
from harness import PEOPLE, Clock, serve, slack_settings, wait_until
from standin import StandIn

from bot.slack.app import build_app
from bot.wiring import build_coach


@pytest.fixture
def standin():
    server = StandIn().start()
    for user, name in PEOPLE.items():
        server.add_user(user, name)
    yield server
    server.stop()


@pytest.fixture
def slack(tmp_path, standin, embedder):
    settings = slack_settings(tmp_path, standin)
    clock = Clock()
    coach = build_coach(settings, embedder=embedder)
    app, rt = build_app(settings, coach, clock=clock)
    with serve(app, rt, standin, settings, clock) as bot:
        # The model is loaded once per session; the grader over it is built by the warm-up.
        wait_until(lambda: rt.work.ready, timeout=60, what="the grader to be ready")
        yield bot
