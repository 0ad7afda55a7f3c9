"""Load-test the real Slack server: `python -m bot serve` against a Web API stand-in.

For each embedder backend (MLSPREP_EMBEDDER=onnx, the default, and torch, the path before
it), this starts the server in its own process group with a fresh database, lets the model
load, warms it with a few answers, then has N people answer M open questions each, all at
once, in their DMs, with requests signed the way Slack signs them. It reports:

- ack latency (HTTP request to 200) of the answers, p50 and p99;
- answer to feedback (the answer's POST to the feedback's chat.postMessage), p50 and p95;
- asking for a question ("quiz" to the question's post), p50 and p95;
- answers per second over the measured run;
- the server's RSS (VmRSS summed over its process group: gunicorn's master and worker) at
  start (the first /healthz), after warm-up, its peak during the run and at the end;
- what each part of a process costs in RSS (imports, model, session), measured apart.

    PYTHONPATH=. python scripts/bench_serve.py [--people 50] [--answers 20] \
        [--runs onnx:onnx,torch:torch] [--json out.json]

Each person asks for a question ("quiz"), asks again while it is a choice question (those
cost no model time), answers it with the reference answer or a vague one (alternately),
waits for the feedback, and asks for the next one after `--think` seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "slack"))

from standin import TEAM, TOKEN, StandIn, event_body, signed_headers  # noqa: E402

from bot.core.corpus import load_corpus  # noqa: E402

SECRET = "bench-signing-secret"
WAIT_SECONDS = 300  # for one question or one feedback, on a loaded machine


# --- the recording Web API ---------------------------------------------------------------------

class RecordingStandIn(StandIn):
    """The test suite's stand-in, plus a per-channel log of posted texts that waiting threads
    are woken by (polling the whole call list from 50 threads would eat the server's CPU)."""

    def __init__(self):
        super().__init__()
        self.posted: dict[str, list[tuple[str, float]]] = {}
        self.changed = threading.Condition()

    def _answer(self, method, args, token):
        status, headers, body = super()._answer(method, args, token)
        if method == "chat.postMessage" and body.get("ok"):
            with self.changed:
                self.posted.setdefault(str(args.get("channel")), []).append(
                    (str(args.get("text") or ""), time.monotonic()))
                self.changed.notify_all()
        return status, headers, body

    def wait_posts(self, channel: str, count: int, timeout: float = WAIT_SECONDS):
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.posted.get(channel, ())) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{channel}: waited {timeout}s for post {count}")
                self.changed.wait(left)
            return list(self.posted[channel])


# --- the server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_rss_mb(pgid: int) -> tuple[float, float]:
    """(sum of VmRSS over the process group, the largest single process), in MB."""
    sizes = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:  # the fields after "(comm)": state, ppid, pgrp
                continue
            for line in Path(f"/proc/{entry}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            continue  # a process that just ended
    return (round(sum(sizes), 1), round(max(sizes, default=0.0), 1))


def worker_threads(pgid: int) -> int:
    """Threads of the busiest process in the group (gunicorn's worker)."""
    best = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[2]) == pgid:
                    best = max(best, len(os.listdir(f"/proc/{entry}/task")))
            except (OSError, ValueError):
                continue
    return best


class Server:
    def __init__(self, name: str, backend: str, source: Path, standin: StandIn, workdir: Path,
                 extra_env: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = str(workdir / f"bench-{name}.db")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLACK_", "MLSPREP_", "DATABASE_", "PORT"))}
        env.update({"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
                    "SLACK_API_URL": standin.api_url, "DATABASE_PATH": self.db_path,
                    "PORT": str(self.port), "MLSPREP_EMBEDDER": backend,
                    "PYTHONPATH": str(source), **extra_env})
        self.log_path = workdir / f"serve-{name}.log"
        with open(self.log_path, "w") as log:
            # Its own process group, so its RSS is the group's and a stop reaches every child.
            self.process = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=source,
                                            env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self.pgid = self.process.pid

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=5) as reply:
                return json.loads(reply.read())
        except OSError:
            return None

    def wait(self, condition, what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            health = self.health()
            if health is not None and condition(health):
                return
            time.sleep(0.1)
        raise TimeoutError(f"waited {timeout}s for {what}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.pgid, signal.SIGKILL)
                self.process.wait()

    def post_dm(self, user: str, text: str, event_id: str) -> tuple[int, float]:
        ts = f"{time.time():.6f}"
        body = event_body({"type": "message", "channel_type": "im", "channel": "D" + user,
                           "user": user, "text": text, "ts": ts, "event_ts": ts,
                           "team": TEAM}, event_id)
        request = urllib.request.Request(self.url + "/slack/events", data=body.encode(),
                                         headers=signed_headers(SECRET, body,
                                                                "application/json"),
                                         method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                reply.read()
                status = reply.status
        except urllib.error.HTTPError as error:
            status = error.code
        return status, time.monotonic() - started

    def pending(self, user: str) -> str | None:
        with sqlite3.connect(self.db_path, timeout=30) as db:
            row = db.execute("SELECT question_id FROM pending WHERE person_id = ? "
                             "AND is_open = 1", [f"slack:{TEAM}:{user}"]).fetchone()
        return row[0] if row else None


# --- people ------------------------------------------------------------------------------------

class Person:
    def __init__(self, server: Server, standin: RecordingStandIn, user: str, corpus,
                 seed: int, think: float):
        self.server, self.standin, self.user = server, standin, user
        self.channel = "D" + user
        self.corpus = corpus
        self.rng = random.Random(seed)
        self.think = think
        self.acks: list[float] = []  # every request's ack
        self.answer_acks: list[float] = []
        self.feedback: list[float] = []
        self.questions: list[float] = []  # "quiz" sent -> the question posted
        self.errors: list[str] = []
        self._n = 0

    def say(self, text: str) -> int:
        """Post a DM; returns how many bot posts to wait for before it counts as handled."""
        self._n += 1
        before = len(self.standin.posted.get(self.channel, ()))
        status, elapsed = self.server.post_dm(self.user, text, f"Ev{self.user}{self._n:04d}")
        self.acks.append(elapsed)
        if status != 200:
            self.errors.append(f"HTTP {status} for {text[:20]!r}")
        return before

    def open_question(self):
        for _ in range(12):  # choice questions cost no model time: ask again
            sent = time.monotonic()
            before = self.say("quiz")
            posts = self.standin.wait_posts(self.channel, before + 1)
            self.questions.append(posts[before][1] - sent)
            question = self.corpus.get(self.server.pending(self.user) or "")
            if question is not None and not question.is_choice:
                return question
        raise RuntimeError(f"{self.user}: no open question in 12 tries")

    def answer(self, number: int) -> None:
        question = self.open_question()
        text = (question.reference_answer if number % 2 == 0 else
                "I am not sure, maybe use a bigger instance so that everything runs faster.")
        before = len(self.standin.posted.get(self.channel, ()))
        sent = time.monotonic()
        status, elapsed = self.server.post_dm(self.user, text, f"Ev{self.user}A{number:04d}")
        self.acks.append(elapsed)
        self.answer_acks.append(elapsed)
        if status != 200:
            self.errors.append(f"HTTP {status} for an answer")
            return
        posts = self.standin.wait_posts(self.channel, before + 1)
        reply, at = posts[before]
        if not reply.startswith("Score"):
            self.errors.append(f"not feedback: {reply[:40]!r}")
        self.feedback.append(at - sent)

    def run(self, answers: int) -> None:
        try:
            for number in range(answers):
                self.answer(number)
                if self.think:
                    time.sleep(self.rng.uniform(0, self.think))
        except Exception as exc:  # noqa: BLE001 - reported with the results
            self.errors.append(repr(exc))


def drive(server, standin, corpus, users, answers, think, seed) -> list[Person]:
    people = [Person(server, standin, user, corpus, seed + i, think)
              for i, user in enumerate(users)]
    threads = [threading.Thread(target=p.run, args=(answers,), daemon=True) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return people


def settle(cache_path: str, quiet: float = 5.0, timeout: float = 300.0) -> float:
    """Seconds until the embedding cache has not grown for `quiet` seconds."""
    started = time.monotonic()
    last, since = -1, time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with sqlite3.connect(cache_path, timeout=30) as db:
                rows = db.execute("SELECT count(*) FROM vectors").fetchone()[0]
        except sqlite3.Error:
            rows = -1
        if rows != last:
            last, since = rows, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(0.5)
    return round(time.monotonic() - started - quiet, 1)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def bench(name: str, backend: str, source: Path, args, corpus, workdir: Path) -> dict:
    standin = RecordingStandIn().start()
    users = [f"U0P{i:03d}" for i in range(args.people)]
    warm_users = [f"U0W{i:03d}" for i in range(3)]
    for user in users + warm_users:
        standin.add_user(user, user)
    extra = dict(kv.split("=", 1) for kv in args.env)
    server = Server(name, backend, source, standin, workdir, extra)
    result: dict = {"run": name, "backend": backend, "source": str(source)}
    try:
        began = time.monotonic()
        server.wait(lambda h: True, "the server to listen")
        result["rss_start_mb"] = group_rss_mb(server.pgid)
        server.wait(lambda h: h.get("model_ready"), "the model")
        result["model_ready_s"] = round(time.monotonic() - began, 1)
        drive(server, standin, corpus, warm_users, 2, 0, args.seed + 1000)
        if args.settle:
            # The bank's reference vectors are encoded in the background after start-up; a
            # run that starts meanwhile measures that too. Wait until the cache stops growing.
            result["bank_encoded_s"] = settle(server.db_path + ".embcache")
        time.sleep(2)
        result["rss_warm_mb"] = group_rss_mb(server.pgid)

        peak = [0.0]
        done = threading.Event()

        def sample():
            while not done.wait(0.5):
                peak[0] = max(peak[0], group_rss_mb(server.pgid)[0])

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        people = drive(server, standin, corpus, users, args.answers, args.think, args.seed)
        wall = time.monotonic() - started
        done.set()
        sampler.join()
        time.sleep(2)
        result["rss_end_mb"] = group_rss_mb(server.pgid)
        result["rss_peak_mb"] = round(max(peak[0], result["rss_end_mb"][0]), 1)
        result["worker_threads"] = worker_threads(server.pgid)
        answer_acks = [a for p in people for a in p.answer_acks]
        acks = [a for p in people for a in p.acks]
        feedback = [f for p in people for f in p.feedback]
        questions = [q for p in people for q in p.questions]
        errors = [e for p in people for e in p.errors]
        result.update({
            "people": args.people, "answers_each": args.answers, "think_s": args.think,
            "answers_scored": len(feedback), "requests": len(acks),
            "errors": errors[:10], "error_count": len(errors),
            "ack_answer_p50_ms": round(1000 * percentile(answer_acks, 50), 1),
            "ack_answer_p99_ms": round(1000 * percentile(answer_acks, 99), 1),
            "ack_all_p99_ms": round(1000 * percentile(acks, 99), 1),
            "feedback_p50_s": round(percentile(feedback, 50), 2),
            "feedback_p95_s": round(percentile(feedback, 95), 2),
            "feedback_mean_s": round(statistics.fmean(feedback), 2) if feedback else None,
            # Asking for a question waits in the same queue as the answers being graded
            # (a person's jobs run in order, oldest first): with no thinking time, the
            # time a person spends waiting is split between this and the feedback.
            "question_p50_s": round(percentile(questions, 50), 2),
            "question_p95_s": round(percentile(questions, 95), 2),
            "questions_asked": len(questions),
            "answers_per_s": round(len(feedback) / wall, 2),
            "wall_s": round(wall, 1),
        })
    finally:
        server.stop()
        standin.stop()
    result["log_tracebacks"] = server.log_path.read_text().count("Traceback")
    return result


# --- what each part costs ----------------------------------------------------------------------

PARTS = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["ROOT"])
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
steps = [("python + numpy", (__import__("numpy"), rss())[1])]
backend = sys.argv[1]
t = time.perf_counter()
if backend == "torch":
    import sentence_transformers  # noqa
    steps.append(("import sentence_transformers (torch, transformers)", rss()))
    from bot.embeddings import Embedder
    e = Embedder(); e.load()
    steps.append(("model loaded", rss()))
else:
    import onnxruntime, tokenizers  # noqa
    steps.append(("import onnxruntime + tokenizers", rss()))
    from bot.embeddings import OnnxEmbedder
    e = OnnxEmbedder(); e.load()
    steps.append(("session + tokenizer loaded", rss()))
loaded = time.perf_counter() - t
e.encode(["warm"])
single = []
for i in range(30):
    t = time.perf_counter(); e.encode([f"encrypt the bucket with a key number {i}"])
    single.append(time.perf_counter() - t)
steps.append(("after 31 single encodes", rss()))
from bot.core.corpus import load_corpus
refs = [q.reference_answer for q in load_corpus() if not q.is_choice][:64]
t = time.perf_counter(); e.encode(refs); batch = time.perf_counter() - t
steps.append(("after one 64-reference batch", rss()))
single.sort()
print(json.dumps({"steps": steps, "load_s": round(loaded, 1),
                  "single_p50_ms": round(1000 * single[len(single) // 2], 1),
                  "batch64_s": round(batch, 2)}))
"""


def parts(backend: str) -> dict:
    env = {**os.environ, "ROOT": str(ROOT), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", PARTS, backend], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if done.returncode:
        return {"error": done.stderr[-1000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--answers", type=int, default=20, help="open answers per person")
    parser.add_argument("--runs", default="onnx:onnx,torch:torch",
                        help="comma-separated NAME:BACKEND[:SOURCE], SOURCE being a checkout "
                             "to serve from (default this one), e.g. an export of the commit "
                             "before a change: before:torch:/tmp/before")
    parser.add_argument("--think", type=float, default=0.0,
                        help="each person pauses up to this many seconds between questions")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=VALUE passed to the server (e.g. a pool size)")
    parser.add_argument("--settle", action="store_true",
                        help="start the run once the bank's vectors are encoded")
    parser.add_argument("--no-parts", action="store_true",
                        help="skip the per-part RSS measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    corpus = load_corpus()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_before": os.getloadavg(), "cpus": os.cpu_count(),
              "command": " ".join(sys.argv), "runs": [], "parts": {}}
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        for spec in args.runs.split(","):
            name, backend, *source = spec.split(":")
            print(f"--- {name}", flush=True)
            run = bench(name, backend, Path(source[0]) if source else ROOT, args, corpus,
                        Path(tmp))
            print(json.dumps(run, indent=1), flush=True)
            report["runs"].append(run)
    if not args.no_parts:
        for backend in sorted({spec.split(":")[1] for spec in args.runs.split(",")}):
            report["parts"][backend] = parts(backend)
            print(backend, json.dumps(report["parts"][backend]), flush=True)
    report["load_after"] = os.getloadavg()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
