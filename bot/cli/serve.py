"""`serve [--socket]`: run the Slack bot.

HTTP (the default): gunicorn serves Bolt's WSGI adapter on $PORT, with Events API, slash
commands and interactivity at POST /slack/events and GET /healthz for monitoring. One gunicorn
worker process with a pool of threads: the model is loaded once, and the daily scheduler runs
in that one process (the database guard would also stop a second one from posting twice).
`--socket` runs Socket Mode over SLACK_APP_TOKEN instead, for a `worker:` process without a
public URL. Slack libraries are imported only when the command runs, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from bot.config import ConfigError, Settings

# Enough request threads that acks never queue behind each other: each ack only parses the
# payload and hands the work to the pool, so a thread is busy for milliseconds.
HTTP_THREADS = 16
WORKER_TIMEOUT_SECONDS = 120  # gthread heartbeat, well above any single request


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--socket", action="store_true",
                        help="run Socket Mode with SLACK_APP_TOKEN instead of HTTP")
    parser.add_argument("--port", type=int, help="HTTP port (default: PORT, else 3000)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_database(settings)
    # Bolt logs a refused request's body at INFO; what people write stays out of the logs
    # (the access log still shows every 401).
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    if args.socket:
        settings.require("slack_bot_token", "slack_app_token")
        return run_socket_mode(settings)
    settings.require("slack_bot_token", "slack_signing_secret")
    return run_http(settings, args.port or settings.port)


def check_database(settings: Settings) -> None:
    """Stop here, in the parent process, when the database cannot be used: inside gunicorn
    the same failure only says "Worker failed to boot"."""
    from bot.store import UnusableDatabase, check_usable

    try:
        done = check_usable(settings.database_path, create_dir=settings.create_db_dir)
    except UnusableDatabase as exc:
        raise ConfigError(f"DATABASE_PATH={settings.database_path} cannot be used: {exc}") \
            from None
    for step in done:
        logging.getLogger("mlsprep").info("DATABASE_PATH: %s", step)


def run_http(settings: Settings, port: int) -> int:
    from gunicorn.app.base import BaseApplication

    running = {}  # the worker's runtime, for the exit hook

    def worker_exit(server, worker):
        # Runs once gunicorn stopped taking requests (SIGTERM) and finished the ones in
        # flight: what is left is durable, and close() fits the graceful timeout.
        if "rt" in running and not running["rt"].close():
            # The model is still busy in a thread, and a normal exit would abort under it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)

    class Server(BaseApplication):
        def load_config(self):
            for key, value in {
                "bind": f"0.0.0.0:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": HTTP_THREADS,
                "timeout": WORKER_TIMEOUT_SECONDS,
                "graceful_timeout": 10,
                "accesslog": "-",
                # The request line and status only: no headers, so no signature ever lands in
                # a log.
                "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(L)ss',
                "proc_name": "mlsprep",
                "worker_exit": worker_exit,
            }.items():
                self.cfg.set(key, value)

        def load(self):
            # Runs in the worker process, so the model, the threads and the scheduler live
            # where the requests are served.
            from bot.slack.app import build_wsgi, create

            app, rt = create(settings)
            running["rt"] = rt
            rt.daily.start()
            return build_wsgi(app, rt)

    Server().run()
    return 0


def run_socket_mode(settings: Settings) -> int:
    from bot.slack.app import create, socket_mode_handler

    app, rt = create(settings, socket_mode=True)
    rt.daily.start()
    # SIGTERM (a platform stopping the worker) unwinds through `finally`, so the model's
    # background work is stopped before the process exits.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        socket_mode_handler(app, settings.slack_app_token).start()
    finally:
        rt.close()
    return 0
