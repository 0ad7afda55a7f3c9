"""The work pool and its model gate, on their own."""

from __future__ import annotations

import threading

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
