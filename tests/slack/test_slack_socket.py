"""`python -m bot serve --socket` (the Procfile's worker:) end to end: the process opens a
Socket Mode connection with SLACK_APP_TOKEN, acks the envelopes Slack pushes, and answers
through the Web API, exactly as over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import texts
from socketmode import SocketModeStandIn
from standin import APP_TOKEN, TEAM, TOKEN, event_body

ROOT = Path(__file__).resolve().parents[2]
ADA = "U0ADA"


def test_socket_mode_acks_envelopes_and_answers_through_the_web_api(tmp_path, standin):
    socket_mode = SocketModeStandIn().start()
    standin.socket_url = socket_mode.url
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "MLSPREP_", "DATABASE_", "PORT"))}
    env.update({"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
                "SLACK_API_URL": standin.api_url, "DATABASE_PATH": str(tmp_path / "b.db")})
    log_path = tmp_path / "socket.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--socket"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        socket_mode.wait_connected()
        assert standin.of("apps.connections.open")[0].token == APP_TOKEN

        event = json.loads(event_body({"type": "message", "channel_type": "im",
                                       "channel": "DU0ADA", "user": ADA, "text": "quiz",
                                       "ts": f"{time.time():.6f}"}, "EvSocket1"))
        socket_mode.send({"envelope_id": "env-1", "type": "events_api", "payload": event,
                          "accepts_response_payload": False, "retry_attempt": 0})
        socket_mode.wait_for_ack("env-1")
        question = standin.wait_for("chat.postMessage", channel="DU0ADA")[0]
        assert question.args["text"].startswith("Question:")

        command = {"token": "x", "team_id": TEAM, "channel_id": "C0GENERAL", "user_id": ADA,
                   "command": "/mlsprep", "text": "help", "trigger_id": "1.2.3",
                   "response_url": standin.response_url("socket-help")}
        socket_mode.send({"envelope_id": "env-2", "type": "slash_commands",
                          "payload": command, "accepts_response_payload": True})
        ack = socket_mode.wait_for_ack("env-2")
        assert "`/mlsprep score`" in texts(ack["payload"]["blocks"])

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        socket_mode.stop()
    log = log_path.read_text()
    assert TOKEN not in log and APP_TOKEN not in log
