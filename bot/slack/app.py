"""Build the Bolt app, wire the listeners to a coach, and expose it over WSGI.

`register(app, coach, settings)` is the one place listeners get their dependencies, so a test
hands in its own coach, clock and Web API client. `build_wsgi` is what gunicorn serves:
`POST /slack/events` (events, commands and interactivity) and `GET /healthz`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from bot.config import Settings, cores
from bot.core.coach import Coach
from bot.memory import limit_arenas, trimmer
from bot.slack import listeners
from bot.slack.daily import DailyScheduler, SettingsStore
from bot.slack.guard import guard_wsgi, shape_problem
from bot.slack.jobs import Jobs, default_job_workers
from bot.slack.outbox import Outbox
from bot.slack.runtime import Runtime, utc_now
from bot.slack.work import Work

log = logging.getLogger("mlsprep.slack")


class _NoTokenSkippedWarning(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" when handed a client: the client
    carries that same token, so the warning would only alarm whoever reads the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


log.addFilter(_NoTokenSkippedWarning())

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
WEB_API_TIMEOUT_SECONDS = 15
RATE_LIMIT_RETRIES = 3  # each waits the Retry-After Slack sends
CONNECTION_RETRIES = 2


def build_client(settings: Settings) -> WebClient:
    """The Web API client: SLACK_API_URL, and retries on HTTP 429 and dropped connections."""
    return WebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url,
        timeout=WEB_API_TIMEOUT_SECONDS,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
                        RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)])


def register(app: App, coach: Coach, settings: Settings, *,
             clock: Callable[[], datetime] = utc_now, work: Work | None = None,
             settings_store: SettingsStore | None = None) -> Runtime:
    """Wire every listener to this coach; returns the runtime (scheduler, pool) for the caller.

    Starts the model's warm-up in the background: requests are acked while it loads, and
    answers wait in the pool's queue until it is ready.
    """
    auth = app.client.auth_test()
    coach.warm_up()
    rt = Runtime(coach=coach, settings=settings, client=app.client,
                 work=work or Work(ready=lambda: coach.ready), clock=clock,
                 bot_user_id=auth.get("user_id", ""), team_id=auth.get("team_id", ""))
    # The store keeps workspace settings (the daily channel and time) in the database.
    rt.daily = DailyScheduler(rt, settings_store or coach.store)
    rt.outbox = Outbox(coach.store, delivery_client(app.client),
                       retry_base=settings.retry_base, retry_max=settings.retry_max,
                       deadline=settings.delivery_deadline)
    rt.jobs = Jobs(coach.store, lambda job: listeners.run_job(rt, job),
                   lambda job, error: listeners.give_up(rt, job, error),
                   ready=lambda: rt.work.ready,
                   workers=settings.job_workers or default_job_workers(),
                   after=trimmer(), batchable=rt.is_answer, prepare=rt.encode_answers,
                   using=rt.grading_with)
    app.use(ignore_malformed)
    listeners.register(app, rt)
    # Whatever a previous process left unfinished (jobs, replies) is resumed from here.
    rt.outbox.start()
    rt.jobs.start()
    return rt


def delivery_client(client: WebClient) -> WebClient:
    """The outbox's client: the same token and URL, but no retry handlers of its own, so the
    outbox alone decides when to try again (and a retry never blocks a delivery thread)."""
    return WebClient(token=client.token, base_url=client.base_url,
                     timeout=WEB_API_TIMEOUT_SECONDS, retry_handlers=[])


def ignore_malformed(body, next):  # noqa: A002 - Bolt passes middleware arguments by name
    """Acknowledge and drop a payload of a shape the listeners cannot read.

    Over HTTP the guard in front of Bolt has already answered these with 400; this catches
    them on the other ways in (Socket Mode), where the listener would otherwise raise.
    """
    problem = shape_problem(body)
    if problem:
        log.warning("ignored a malformed payload: %s", problem)
        return BoltResponse(status=200, body="")
    next()
    return None


def build_app(settings: Settings, coach: Coach, *, client: WebClient | None = None,
              clock: Callable[[], datetime] = utc_now, work: Work | None = None,
              settings_store: SettingsStore | None = None) -> tuple[App, Runtime]:
    settings.require("slack_bot_token", "slack_signing_secret")
    app = App(
        client=client or build_client(settings),
        signing_secret=settings.slack_signing_secret,
        name="mlsprep",
        logger=log,
        # Listeners run in the request thread and only hand work to the pool: the ack never
        # waits for a pool thread, however many answers are being graded.
        process_before_response=True,
    )
    return app, register(app, coach, settings, clock=clock, work=work,
                         settings_store=settings_store)


def build_wsgi(app: App, rt: Runtime) -> Callable:
    """The WSGI application: Bolt at /slack/events behind the guard, plus /healthz for
    monitoring."""
    slack = guard_wsgi(SlackRequestHandler(app, path=EVENTS_PATH),
                       rt.settings.slack_signing_secret, EVENTS_PATH)

    def wsgi(environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in (
                "GET", "HEAD"):
            body = json.dumps({"ok": True, "model_ready": rt.work.ready,
                               "answers_waiting": rt.jobs.waiting}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return slack(environ, start_response)

    return wsgi


def create(settings: Settings, *, socket_mode: bool = False) -> tuple[App, Runtime]:
    """Production wiring: the real coach (its model warming up in the background) and the app.

    The caller starts the daily scheduler, in exactly one place.
    """
    from bot.wiring import build_coach, default_embedder

    limit_arenas(cores())  # before the job threads and the models' runs allocate
    # The job threads grade side by side, each judge run on one core; the embedder's runs
    # spread a batch of waiting answers over every core while those threads wait for it.
    coach = build_coach(settings, default_embedder(settings, threads=cores()))
    if not socket_mode:
        return build_app(settings, coach)
    settings.require("slack_bot_token", "slack_app_token")
    app = App(client=build_client(settings), name="mlsprep", logger=log,
              signing_secret=settings.slack_signing_secret, process_before_response=True)
    return app, register(app, coach, settings)


def socket_mode_handler(app: App, app_token: str):
    """Bolt's Socket Mode handler, with the shape check before Bolt builds its request.

    Bolt reads ids out of the payload while it builds the request, before any middleware
    runs, so a payload of the wrong shape is acknowledged and dropped here (unacknowledged,
    Slack would deliver it again).
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.socket_mode.response import SocketModeResponse

    class GuardedHandler(SocketModeHandler):
        def handle(self, client, req) -> None:
            problem = shape_problem(req.payload)
            if problem:
                log.warning("ignored a malformed %s envelope: %s", req.type, problem)
                client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
                return
            super().handle(client, req)

    return GuardedHandler(app, app_token=app_token)
