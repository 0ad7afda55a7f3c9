"""The work pool and its model gate, on their own."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from harness import wait_until

from bot.slack.work import Work


def test_jobs_wait_while_the_model_loads_then_all_run():
    ready = threading.Event()
    done: list[int] = []
    work = Work(workers=2, ready=ready.is_set, poll=0.01)
    try:
        assert work.when_ready(done.append, 1) is True  # had to wait
        assert work.when_ready(done.append, 2) is True
        work.submit(done.append, 0)  # ordinary work does not wait for the model
        wait_until(lambda: done == [0])
        assert work.waiting == 2 and not work.ready
        ready.set()
        assert work.idle(5)
        assert sorted(done) == [0, 1, 2] and work.waiting == 0 and work.ready
        assert work.when_ready(done.append, 3) is False  # ready now: runs at once
        assert work.idle(5) and done[-1] == 3
    finally:
        work.shutdown()


def test_a_failing_job_is_logged_and_the_pool_keeps_working(caplog):
    work = Work(workers=1)
    done = []
    try:
        work.submit(lambda: 1 / 0)
        work.submit(done.append, "after")
        assert work.idle(5)
    finally:
        work.shutdown()
    assert done == ["after"]
    assert "background job" in caplog.text and "ZeroDivisionError" in caplog.text


def test_the_after_hook_runs_on_the_worker_after_every_job_even_a_failing_one(store):
    from datetime import UTC, datetime

    from bot.slack.jobs import Jobs

    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for n in range(3):
        store.take_job({"event_id": f"Ev{n}", "kind": "dm", "person_id": f"p{n}",
                        "user_id": f"U{n}", "channel": f"DU{n}", "answer": str(n)}, now)
    handled, after = [], []

    def handle(job):
        handled.append(job["answer"])
        if job["answer"] == "1":
            raise ValueError("this job fails")

    jobs = Jobs(store, handle, lambda job, error: None, after=lambda: after.append(
        threading.current_thread().name), poll=0.05)
    jobs.start()
    try:
        wait_until(lambda: len(after) >= 3, timeout=20, what="three jobs")
    finally:
        jobs.stop(5)
    assert sorted(handled)[:3] == ["0", "1", "2"]
    assert all(name.startswith("mlsprep-job") for name in after)


def test_the_trimmer_can_be_called_on_any_platform():
    from bot.memory import trimmer

    trim = trimmer()
    assert trim() in (None, 0, 1)  # glibc returns 1 when it released memory, 0 when not


ROOT = Path(__file__).resolve().parents[2]
ARENAS_SCRIPT = """
import ctypes, ctypes.util, sys, threading
from bot.memory import limit_arenas
if sys.argv[1] != "default":
    assert limit_arenas(int(sys.argv[1]))
held, ready = [], threading.Barrier(6)
def allocate():
    held.append(bytearray(100_000))  # malloc'd in this thread's heap
    ready.wait()
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
out = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's heaps")
def test_the_server_keeps_glibc_to_one_heap_per_core(tmp_path):
    """Six threads allocating at once get six heaps of their own, unless limit_arenas (what
    bot.slack.app.create calls with the number of cores) caps them."""
    def heaps(limit: str) -> int:
        report = tmp_path / f"heaps-{limit}.xml"
        subprocess.run([sys.executable, "-c", ARENAS_SCRIPT, limit, str(report)],
                       check=True, cwd=ROOT, timeout=60)
        return report.read_text().count("<heap nr=")

    assert heaps("default") >= 6
    assert heaps("2") <= 2
